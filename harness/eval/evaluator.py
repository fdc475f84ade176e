"""One batched generation loop for both LM families.

Everything that differs between OPT and T5 is data, not code: the padding side (OPT left, T5 right; the wrong side
changes outputs silently), and where the answer starts in the output (OPT echoes the prompt, T5 starts with the
decoder start token). Decoding settings come only from the resolved protocol: the checkpoint's generation config
contributes its special-token ids and nothing else, so no default can leak into a score.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig
from PIL import Image

from harness.errors import HarnessError
from harness.eval.length_norm import beam_length_normaliser, decoder_prefix_lengths
from harness.models.loader import DTYPES, LoadedModel
from harness.protocol import padding_side


@dataclass(frozen=True)
class Request:
    """One generation: an image (loaded lazily, so a batch holds only its own images) and a prompt.

    Requests with the same `image_key` show the same image: the fast path loads and encodes it once for all of them.
    `None` (the default) means "shares its image with no other request".
    """

    load_image: Callable[[], Image.Image]
    prompt: str
    image_key: Hashable | None = None


def generation_config(loaded: LoadedModel, decoding: DictConfig) -> Any:
    """A fresh GenerationConfig: special ids from the checkpoint, every decoding choice from the protocol."""
    from transformers import GenerationConfig

    ckpt = loaded.model.generation_config
    text_cfg = loaded.model.config.text_config
    eos = ckpt.eos_token_id if decoding.eos == "checkpoint" else int(decoding.eos)
    if loaded.family == "opt" and decoding.eos == "checkpoint":
        newline = loaded.processor.tokenizer.convert_tokens_to_ids("Ċ")  # byte-level BPE spelling of "\n"
        if eos != newline:
            raise HarnessError(
                f"the checkpoint's EOS id {eos} is not the newline token {newline}: BLIP-2 OPT stops at '\\n' "
                "(50118 in the real checkpoints), not </s>; set protocol.decoding.eos to the newline id"
            )
    return GenerationConfig(
        bos_token_id=ckpt.bos_token_id if ckpt.bos_token_id is not None else getattr(text_cfg, "bos_token_id", None),
        eos_token_id=eos,
        pad_token_id=ckpt.pad_token_id if ckpt.pad_token_id is not None else text_cfg.pad_token_id,
        decoder_start_token_id=getattr(text_cfg, "decoder_start_token_id", None),
        num_beams=int(decoding.num_beams),
        do_sample=bool(decoding.do_sample),
        max_new_tokens=int(decoding.max_new_tokens),
        min_new_tokens=int(decoding.min_new_tokens) or None,
        length_penalty=float(decoding.length_penalty),
        repetition_penalty=float(decoding.repetition_penalty),
        early_stopping=False,
        num_return_sequences=1,
    )


def encode_batch(
    loaded: LoadedModel, images: list[Image.Image], prompts: list[str], max_prompt_tokens: int | None
) -> dict[str, torch.Tensor]:
    """Processor call with the family's padding side; asserts every row carries exactly num_query_tokens images."""
    kwargs: dict[str, Any] = {
        "padding": True,
        "padding_side": padding_side(loaded.family),
        "return_tensors": "pt",
    }
    if max_prompt_tokens is not None:
        kwargs.update(truncation=True, max_length=int(max_prompt_tokens) + loaded.num_query_tokens)
    batch = loaded.processor(images=images, text=prompts, **kwargs)
    n_img = (batch["input_ids"] == loaded.image_token_index).sum(1)
    if not bool((n_img == loaded.num_query_tokens).all()):
        raise HarnessError(
            f"image-token count per row {n_img.tolist()} != num_query_tokens {loaded.num_query_tokens}: "
            "the processor and model disagree, the image would be ignored"
        )
    batch["pixel_values"] = batch["pixel_values"].to(DTYPES[loaded.dtypes["vision"]])
    return {k: v.to(loaded.device) for k, v in batch.items()}


class FiniteScores:
    """Logits processor that notes NaN/+inf scores without a device sync per step (checked once per batch).

    -inf is legitimate (min_new_tokens masks EOS that way); NaN or +inf means the numbers overflowed, e.g. FlanT5
    run in float16.
    """

    def __init__(self) -> None:
        self.bad: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        top = scores.amax()  # one reduction: NaN propagates through amax, and +inf is the max if present
        step_bad = torch.isnan(top) | torch.isposinf(top)
        self.bad = step_bad if self.bad is None else self.bad | step_bad
        return scores

    def check(self, dtypes: dict[str, str]) -> None:
        if self.bad is not None and bool(self.bad):
            raise HarnessError(
                f"NaN/inf in generation scores (precision {dtypes}); the LM overflowed: run FlanT5 in bfloat16 "
                "(precision.lm=bfloat16) or use float32"
            )


def generate_new_text(
    loaded: LoadedModel,
    generator: Any,
    inputs: dict[str, Any],
    input_ids: torch.Tensor,
    gen_config: Any,
    normaliser: str,
) -> list[str]:
    """`generator.generate(**inputs)` (the BLIP-2 model, or its LM on the fast path) under the protocol's beam
    length normaliser and the NaN/inf check; returns the decoded new text (not stripped). `input_ids`: the
    prompt rows with their image positions (the fast path feeds T5 embeddings only). Both evaluators go through
    here, so a decoding rule cannot apply to one and not the other."""
    from transformers import LogitsProcessorList

    lm = loaded.model.language_model
    finite = FiniteScores()
    prompt_lengths = decoder_prefix_lengths(lm, normaliser, input_ids, inputs["attention_mask"],
                                            loaded.image_token_index)  # fmt: skip
    with beam_length_normaliser(lm, normaliser, prompt_lengths, gen_config.eos_token_id):
        out = generator.generate(**inputs, generation_config=gen_config, logits_processor=LogitsProcessorList([finite]))
    finite.check(loaded.dtypes)
    if not lm.config.is_encoder_decoder:  # a decoder-only LM echoes its input ids before the answer
        out = out[:, input_ids.shape[1] :]
    return loaded.processor.batch_decode(out, skip_special_tokens=True)


@torch.inference_mode()
def generate_batch(
    loaded: LoadedModel,
    images: list[Image.Image],
    prompts: list[str],
    decoding: DictConfig,
    max_prompt_tokens: int | None = None,
) -> list[str]:
    """Generate one answer per (image, prompt); returns the decoded new text (not stripped)."""
    batch = encode_batch(loaded, images, prompts, max_prompt_tokens)
    gen_config = generation_config(loaded, decoding)
    return generate_new_text(loaded, loaded.model, batch, batch["input_ids"], gen_config, decoding.length_normaliser)


def progress_bar(total: int, enabled: bool) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]generate"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} samples/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )


def _load_images(
    requests: Sequence[Request], offset: int, on_bad_image: Callable[[int, HarnessError], None] | None
) -> list[Image.Image | None]:
    """Load a batch's images; a bad one raises, unless `on_bad_image` takes it (the sample is then skipped)."""
    images: list[Image.Image | None] = []
    for j, r in enumerate(requests):
        try:
            images.append(r.load_image())
        except HarnessError as err:
            if on_bad_image is None:
                raise
            on_bad_image(offset + j, err)
            images.append(None)
    return images


def run_generation(
    loaded: LoadedModel,
    requests: Sequence[Request],
    decoding: DictConfig,
    batch_size: int,
    max_prompt_tokens: int | None = None,
    progress: bool = True,
    on_batch: Callable[[Sequence[int], list[str | None]], None] | None = None,
    on_bad_image: Callable[[int, HarnessError], None] | None = None,
) -> list[str | None]:
    """Generate for all requests in order, in batches; `on_batch(indices, outputs)` sees each batch as it finishes.

    A request whose image fails to load gets `None` when `on_bad_image` is given (it is told index and error).
    """
    if batch_size < 1:
        raise HarnessError(f"runtime.batch_size must be >= 1, got {batch_size}")
    outputs: list[str | None] = []
    start = time.perf_counter()
    with progress_bar(len(requests), progress) as bar:
        task = bar.add_task("generate", total=len(requests), rate="-")
        for lo in range(0, len(requests), batch_size):
            chunk = requests[lo : lo + batch_size]
            images = _load_images(chunk, lo, on_bad_image)
            good = [j for j, im in enumerate(images) if im is not None]
            texts: list[str | None] = [None] * len(chunk)
            if good:
                made = generate_batch(
                    loaded, [images[j] for j in good], [chunk[j].prompt for j in good], decoding, max_prompt_tokens
                )
                for j, text in zip(good, made, strict=True):
                    texts[j] = text
            outputs.extend(texts)
            if on_batch is not None:
                on_batch(range(lo, lo + len(chunk)), texts)
            rate = len(outputs) / max(time.perf_counter() - start, 1e-9)
            bar.update(task, advance=len(chunk), rate=f"{rate:.1f}")
    return outputs
