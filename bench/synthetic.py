"""A VQAv2-shaped synthetic workload for models without a tokenizer or images on disk (random-weight benchmarks).

Real-size random-weight models have no downloaded tokenizer, so a prompt here is its token ids written as text
("2 8410 77 ..."), and an image is an index into a pool of random pixel tensors. `SyntheticProcessor` answers the
calls both evaluator paths make (`processor(images=, text=)`, `.tokenizer(...)`, `.image_processor(...)`,
`.batch_decode`) with the same layout `Blip2Processor` produces (`harness.eval.prompt_tokens.pad_rows`), so the
reference loop (`run_generation`) and the fast loop (`run_fast_generation`) run unchanged. JPEG decoding is left
out on purpose: bench/evaluator_bench.py measures it on the CPU, separately.
"""

from __future__ import annotations

import random
from typing import Any

import torch

from harness.eval.evaluator import Request
from harness.eval.prompt_tokens import pad_rows
from harness.models.loader import LoadedModel

# VQAv2 val: 214,354 questions over 40,504 images = 5.29 per image; this cycle averages 37/7 = 5.29.
QUESTIONS_PER_IMAGE = (5, 5, 6, 5, 5, 6, 5)
VQAV2_VAL_QUESTIONS = 214_354
PROMPT_TOKENS = (9, 16)  # "Question: {q} Answer:" with BOS: ~12 tokens (performance.md §2), uniform in this range


class IdTokenizer:
    """Parses "id id id" prompts; truncates like a tokenizer with `truncation=True, max_length=`."""

    def __init__(self, pad_token_id: int, newline_id: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.newline_id = newline_id

    def convert_tokens_to_ids(self, token: str) -> int:
        """Only the OPT EOS check asks (for "\u010a" = "\n"); ids are the model's own, so the newline is its EOS."""
        if token != "\u010a" or self.newline_id is None:
            raise KeyError(f"the synthetic id tokenizer has no token {token!r}")
        return self.newline_id

    def __call__(self, texts: list[str], truncation: bool = False, max_length: int | None = None, **_: Any) -> dict:
        rows = [[int(t) for t in text.split()] for text in texts]
        if truncation and max_length is not None:
            rows = [r[:max_length] for r in rows]
        return {"input_ids": rows}


class PixelPool:
    """`image_processor(images=[k])` -> pool tensor `k mod size`, `[1, 3, S, S]` (ViT cost ignores the pixels)."""

    def __init__(self, size: int, image_size: int, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.pixels = torch.randn(size, 3, image_size, image_size, generator=gen)

    def __call__(self, images: list[int], return_tensors: str = "pt", **_: Any) -> dict:
        return {"pixel_values": torch.cat([self.pixels[k % len(self.pixels)][None] for k in images])}


class SyntheticProcessor:
    """Stands in for `Blip2Processor`; `bind` it to its `LoadedModel` (the layout needs the model's ids)."""

    def __init__(self, pad_token_id: int, pool: PixelPool) -> None:
        self.tokenizer = IdTokenizer(pad_token_id)
        self.image_processor = pool
        self.loaded: LoadedModel | None = None

    def bind(self, loaded: LoadedModel) -> None:
        self.loaded = loaded

    def __call__(self, images: list[int], text: list[str], max_length: int | None = None, **kw: Any) -> dict:
        if self.loaded is None:
            raise RuntimeError("bind() the processor to its LoadedModel first")
        limit = None if max_length is None else max_length - self.loaded.num_query_tokens
        rows = self.tokenizer(text, truncation=limit is not None, max_length=limit)["input_ids"]
        ids, mask = pad_rows(self.loaded, rows)
        return {"input_ids": ids, "attention_mask": mask, **self.image_processor(images)}

    def batch_decode(self, out: torch.Tensor, skip_special_tokens: bool = True) -> list[str]:
        return [" ".join(map(str, row.tolist())) for row in out]


def synthetic_loaded(model: Any, family: str, dtypes: dict[str, str], device: torch.device, pool: int = 64) -> Any:
    """A `LoadedModel` around `model` with a `SyntheticProcessor` at the model's image size."""
    text = model.config.text_config
    size = int(model.config.vision_config.image_size)
    processor = SyntheticProcessor(int(text.pad_token_id), PixelPool(pool, size))
    processor.tokenizer.newline_id = model.generation_config.eos_token_id
    loaded = LoadedModel(model, processor, family, device, dtypes)
    processor.bind(loaded)
    return loaded


def workload(n_questions: int, family: str, vocab: int, avoid: set[int], seed: int = 0) -> list[Request]:
    """`n_questions` requests over ceil(n / 5.29) images, grouped by image as VQAv2's file is."""
    rng = random.Random(seed)
    bos, eos = (2, None) if family == "opt" else (None, 1)
    requests: list[Request] = []
    image = 0
    while len(requests) < n_questions:
        for _ in range(QUESTIONS_PER_IMAGE[image % len(QUESTIONS_PER_IMAGE)]):
            body: list[int] = []
            length = rng.randint(*PROMPT_TOKENS) - 1
            while len(body) < length:
                token = rng.randrange(3, vocab)
                if token not in avoid:
                    body.append(token)
            ids = [bos, *body] if bos is not None else [*body, eos]
            requests.append(Request(lambda k=image: k, " ".join(map(str, ids)), image_key=image))
        image += 1
    return requests[:n_questions]
