"""The fast evaluator: the reference path's predictions with each image encoded once and little padding.

What HF `Blip2ForConditionalGeneration.generate` does per question, this does per image or per batch (see
bench/README.md for what is and is not done, and why):

- requests are grouped by `Request.image_key`; a window of consecutive images is preprocessed once per image in
  worker threads (`harness.prefetch`), ahead of the accelerator;
- ViT + Q-Former + projection run once per image (`encode_images`), and the query embeddings are scattered into each
  question's `<image>` positions exactly as HF does (`masked_scatter` in row order);
- a window's questions are sorted by prompt length, so a batch pads only to its own longest prompt; outputs are
  returned (and reported to `on_batch`) by request index, so the order callers see is unchanged;
- OPT: the query positions are prefilled once per image and the prompt once per question, not once per beam
  (`harness.prefill`); T5's encoder already runs once per question in HF;
- `model.language_model.generate` runs with the same `GenerationConfig` and `FiniteScores` check as the reference,
  so beam search, length normalisation and stopping are HF's own;
- a batch that runs out of CUDA memory is retried in halves (`harness.oom`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from omegaconf import DictConfig

from harness.batch_plan import group_by_image, length_sorted, windows
from harness.errors import HarnessError
from harness.evaluator import FiniteScores, Request, generation_config, progress_bar
from harness.models.loader import DTYPES, LoadedModel
from harness.oom import HalvingBatcher
from harness.prefetch import ImagePrefetcher
from harness.prefill import prefilled_cache
from harness.prompt_tokens import pad_rows, tokenize_prompts

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
) -> list[str]:
    """Answers for prompt token rows (unpadded text ids); row b shows image `features[image_rows[b]]`."""
    from transformers import LogitsProcessorList

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
    finite = FiniteScores()
    out = lm.generate(**inputs, generation_config=gen_config, logits_processor=LogitsProcessorList([finite]))
    finite.check(loaded.dtypes)
    if not lm.config.is_encoder_decoder:
        out = out[:, input_ids.shape[1] :]
    return loaded.processor.batch_decode(out, skip_special_tokens=True)


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
    with (
        ImagePrefetcher(loaded.processor.image_processor, loaders, num_workers, pin_memory=pin) as images,
        progress_bar(len(requests), progress) as bar,
    ):
        task = bar.add_task("generate", total=len(requests), rate="-")
        for window, pixels in zip(plan, images, strict=True):
            bad = [i for g, err in pixels.errors.items() for i in window[g]]
            for g, err in pixels.errors.items():
                if on_bad_image is None:
                    raise err
                for i in window[g]:
                    on_bad_image(i, err)
            if bad and on_batch is not None:
                on_batch(bad, [None] * len(bad))
            features = _encode_window(loaded, pixels.pixel_values, vision_batches)
            image_row = {i: pixels.row[g] for g, group in enumerate(window) if g in pixels.row for i in group}
            run = _WindowBatches(loaded, requests, image_row, features, gen_config, max_prompt_tokens, share_prefix)
            for batch, texts in lm_batches.map(run.order, run):
                for i, text in zip(batch, texts, strict=True):
                    outputs[i] = text
                if on_batch is not None:
                    on_batch(batch, list(texts))
                done += len(batch)
                bar.update(task, advance=len(batch), rate=f"{done / max(time.perf_counter() - start, 1e-9):.1f}")
            done += len(bad)
            bar.update(task, advance=len(bad))
    return outputs


class _WindowBatches:
    """Generates any batch of one window's questions; `order` is the window's questions sorted by prompt length."""

    def __init__(
        self,
        loaded: LoadedModel,
        requests: Sequence[Request],
        image_row: dict[int, int],
        features: torch.Tensor,
        gen_config: Any,
        max_prompt_tokens: int | None,
        share_prefix: bool,
    ) -> None:
        self.loaded, self.image_row, self.features = loaded, image_row, features
        self.gen_config, self.share_prefix = gen_config, share_prefix
        questions = sorted(image_row)
        rows = tokenize_prompts(loaded, [requests[i].prompt for i in questions], max_prompt_tokens)
        self.tokens = dict(zip(questions, rows, strict=True))
        self.order = length_sorted(questions, {i: len(t) for i, t in self.tokens.items()})

    def __call__(self, batch: list[int]) -> list[str]:
        rows = torch.tensor([self.image_row[i] for i in batch])
        tokens = [self.tokens[i] for i in batch]
        return generate_rows(self.loaded, tokens, self.features, rows, self.gen_config, self.share_prefix)


def _encode_window(loaded: LoadedModel, pixels: torch.Tensor | None, batcher: HalvingBatcher) -> torch.Tensor:
    """Query embeddings for a window's images, in vision batches that halve on OOM."""
    if pixels is None:
        return torch.empty(0)
    parts = [
        out
        for _, out in batcher.map(range(len(pixels)), lambda b: [encode_images(loaded, pixels[b[0] : b[-1] + 1])])
    ]
    return torch.cat([p[0] for p in parts])
