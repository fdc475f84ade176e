"""The fast evaluator: the reference path's predictions with each image encoded once and little padding.

What HF `Blip2ForConditionalGeneration.generate` does per question, this does per image or per batch (see
bench/README.md for what is and is not done, and why):

- requests are grouped by `Request.image_key`; a window of consecutive images is preprocessed once per image in
  worker threads (`harness.eval.prefetch`), ahead of the accelerator;
- ViT + Q-Former + projection run once per image (`encode_images`), and the query embeddings are scattered into each
  question's `<image>` positions exactly as HF does (`masked_scatter` in row order);
- a window's questions (plus fewer than a batch carried over from the previous window) are sorted by prompt
  length, so a batch pads only to its own longest prompt and windows do not end in small batches; outputs are
  returned (and reported to `on_batch`) by request index, so the order callers see is unchanged;
- OPT: the query positions are prefilled once per image and the prompt once per question, not once per beam
  (`harness.eval.prefill`); T5's encoder already runs once per question in HF;
- `model.language_model.generate` runs with the same `GenerationConfig` and `FiniteScores` check as the reference,
  so beam search, length normalisation and stopping are HF's own;
- a batch that runs out of CUDA memory is retried in halves (`harness.eval.oom`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from omegaconf import DictConfig

from harness.errors import HarnessError
from harness.eval.batch_plan import group_by_image, length_sorted, windows
from harness.eval.evaluator import Request, generate_new_text, generation_config, progress_bar
from harness.eval.oom import HalvingBatcher
from harness.eval.prefetch import ImagePrefetcher
from harness.eval.prefill import prefilled_cache
from harness.eval.prompt_tokens import pad_rows, tokenize_prompts
from harness.models.loader import DTYPES, LoadedModel

# A window holds this many LM batches' worth of questions: enough to sort by length, small enough to log often.
WINDOW_BATCHES = 4


@torch.inference_mode()
def encode_images(loaded: LoadedModel, pixel_values: torch.Tensor) -> torch.Tensor:
    """Projected query embeddings `[n, num_query_tokens, d_lm]`: the computation of HF's `generate`, per image."""
    pixels = pixel_values.to(loaded.device, DTYPES[loaded.dtypes["vision"]], non_blocking=True)
    return loaded.model.get_image_features(pixels, return_dict=True).pooler_output


def image_inputs(
    loaded: LoadedModel, input_ids: torch.Tensor, features: torch.Tensor, image_rows: torch.Tensor
) -> torch.Tensor:
    """Text embeddings with row b's `<image>` positions replaced by `features[image_rows[b]]`, as HF scatters."""
    embeds = loaded.model.get_input_embeddings()(input_ids)
    special = (input_ids == loaded.image_token_index).unsqueeze(-1)
    source = features[image_rows].to(embeds.device, embeds.dtype)
    return embeds.masked_scatter(special, source)


@torch.inference_mode()
def generate_rows(
    loaded: LoadedModel,
    rows: Sequence[Sequence[int]],
    features: torch.Tensor,
    image_rows: torch.Tensor,
    gen_config: Any,
    share_prefix: bool = True,
    normaliser: str = "hf5",
) -> list[str]:
    """Answers for prompt token rows (unpadded text ids); row b shows image `features[image_rows[b]]`;
    `normaliser` is the protocol's beam length normaliser (`harness.eval.length_norm`)."""
    input_ids, mask = (t.to(loaded.device) for t in pad_rows(loaded, rows))
    image_rows = image_rows.to(features.device)
    embeds = image_inputs(loaded, input_ids, features, image_rows)
    lm = loaded.model.language_model
    inputs: dict[str, Any] = {"inputs_embeds": embeds, "attention_mask": mask}
    if not lm.config.is_encoder_decoder:
        inputs["input_ids"] = input_ids
        if share_prefix:
            inputs["past_key_values"] = prefilled_cache(
                lm, embeds, mask, image_rows, loaded.num_query_tokens, int(gen_config.num_beams)
            )
    return generate_new_text(loaded, lm, inputs, input_ids, gen_config, normaliser)


def run_fast_generation(
    loaded: LoadedModel,
    requests: Sequence[Request],
    decoding: DictConfig,
    batch_size: int,
    max_prompt_tokens: int | None = None,
    progress: bool = True,
    on_batch: Callable[[Sequence[int], list[str | None]], None] | None = None,
    on_bad_image: Callable[[int, HarnessError], None] | None = None,
    num_workers: int = 0,
    share_prefix: bool = True,
) -> list[str | None]:
    """Drop-in for `evaluator.run_generation`: same outputs in the same order; `on_batch` gets request indices
    (not necessarily contiguous) with their outputs, as each LM batch finishes."""
    lm_batches = HalvingBatcher(batch_size, "LM batch")
    vision_batches = HalvingBatcher(batch_size, "vision batch")
    gen_config = generation_config(loaded, decoding)
    plan = windows(group_by_image([r.image_key for r in requests]), batch_size * WINDOW_BATCHES)
    loaders = [[requests[group[0]].load_image for group in window] for window in plan]
    outputs: list[str | None] = [None] * len(requests)
    done, start = 0, time.perf_counter()
    pin = loaded.device.type == "cuda"
    pool = _QuestionPool(loaded, requests, gen_config, max_prompt_tokens, share_prefix, decoding.length_normaliser)
    with (
        ImagePrefetcher(loaded.processor.image_processor, loaders, num_workers, pin_memory=pin) as images,
        progress_bar(len(requests), progress) as bar,
    ):
        task = bar.add_task("generate", total=len(requests), rate="-")
        for w, (window, pixels) in enumerate(zip(plan, images, strict=True)):
            bad = [i for g, err in pixels.errors.items() for i in window[g]]
            for g, err in pixels.errors.items():
                if on_bad_image is None:
                    raise err
                for i in window[g]:
                    on_bad_image(i, err)
            if bad and on_batch is not None:
                on_batch(bad, [None] * len(bad))
            bar.update(task, advance=len(bad))
            if pixels.pixel_values is not None:
                image_row = {i: pixels.row[g] for g, group in enumerate(window) if g in pixels.row for i in group}
                pool.add(image_row, _encode_window(loaded, pixels.pixel_values, vision_batches))
            ready = pool.ready(lm_batches.size, final=w == len(plan) - 1)
            for batch, texts in lm_batches.map(ready, pool):
                pool.drop(batch)
                for i, text in zip(batch, texts, strict=True):
                    outputs[i] = text
                if on_batch is not None:
                    on_batch(batch, list(texts))
                done += len(batch)
                bar.update(task, advance=len(batch), rate=f"{done / max(time.perf_counter() - start, 1e-9):.1f}")
    return outputs


class _QuestionPool:
    """Questions whose image is encoded, waiting for an LM batch.

    Each window's questions join the pool sorted by prompt length; only whole batches leave it, and the rest (fewer
    than a batch, with their images' features) wait for the next window, so no window ends in a small batch.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        requests: Sequence[Request],
        gen_config: Any,
        max_prompt_tokens: int | None,
        share_prefix: bool,
        normaliser: str,
    ) -> None:
        self.loaded, self.requests, self.gen_config = loaded, requests, gen_config
        self.max_prompt_tokens, self.share_prefix, self.normaliser = max_prompt_tokens, share_prefix, normaliser
        self.features = torch.empty(0)
        self.row: dict[int, int] = {}
        self.tokens: dict[int, list[int]] = {}

    def add(self, image_row: dict[int, int], features: torch.Tensor) -> None:
        """Questions `image_row` (request index -> row of `features`) join; waiting ones keep their features."""
        offset = 0
        if self.row:
            keep = sorted(set(self.row.values()))
            moved = {old: new for new, old in enumerate(keep)}
            self.row = {i: moved[r] for i, r in self.row.items()}
            features = torch.cat([self.features[keep], features])
            offset = len(keep)
        self.features = features
        self.row.update({i: r + offset for i, r in image_row.items()})
        new = sorted(image_row)
        rows = tokenize_prompts(self.loaded, [self.requests[i].prompt for i in new], self.max_prompt_tokens)
        self.tokens.update(zip(new, rows, strict=True))

    def ready(self, batch_size: int, final: bool) -> list[int]:
        """Waiting questions sorted by prompt length, cut to whole batches unless this is the last window."""
        order = length_sorted(sorted(self.row), {i: len(t) for i, t in self.tokens.items()})
        return order if final else order[: len(order) - len(order) % batch_size]

    def drop(self, batch: list[int]) -> None:
        for i in batch:
            del self.row[i], self.tokens[i]

    def __call__(self, batch: list[int]) -> list[str]:
        rows = torch.tensor([self.row[i] for i in batch])
        tokens = [self.tokens[i] for i in batch]
        return generate_rows(
            self.loaded, tokens, self.features, rows, self.gen_config, self.share_prefix, self.normaliser
        )


def _encode_window(loaded: LoadedModel, pixels: torch.Tensor, batcher: HalvingBatcher) -> torch.Tensor:
    """Query embeddings for a window's images, in vision batches that halve on OOM."""
    parts = [
        out
        for _, out in batcher.map(range(len(pixels)), lambda b: [encode_images(loaded, pixels[b[0] : b[-1] + 1])])
    ]
    return torch.cat([p[0] for p in parts])
