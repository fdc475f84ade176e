"""Prompt token rows laid out exactly as `Blip2Processor` lays them out, without touching any image.

The fast evaluator preprocesses images once per image, but the processor only inserts the `<image>` tokens when it is
given images. So the text side is rebuilt here: tokenize (same tokenizer, same truncation: the processor gives the
tokenizer `max_length - num_query_tokens`), pad on the family's side, then prepend `num_query_tokens` image tokens
with mask 1. Layouts: OPT `[<image>*q][pads][</s> prompt]`, T5 `[<image>*q][prompt </s>][pads]` (protocols.md §12).
The tests compare these tensors with `encode_batch`'s, token for token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from harness.protocol import padding_side


def tokenize_prompts(loaded: Any, prompts: Sequence[str], max_prompt_tokens: int | None) -> list[list[int]]:
    """Unpadded text ids per prompt (special tokens included), truncated as the processor truncates."""
    kwargs: dict[str, Any] = {"padding": False, "return_token_type_ids": False, "return_attention_mask": False}
    if max_prompt_tokens is not None:
        kwargs.update(truncation=True, max_length=int(max_prompt_tokens))
    if not prompts:
        return []
    return [list(ids) for ids in loaded.processor.tokenizer(list(prompts), **kwargs)["input_ids"]]


def pad_rows(loaded: Any, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """`(input_ids, attention_mask)` with image tokens in front and text padded to the longest row."""
    tokenizer = loaded.processor.tokenizer
    pad_id = tokenizer.pad_token_id
    image = [loaded.image_token_index] * loaded.num_query_tokens
    width = max(len(r) for r in rows)
    left = padding_side(loaded.family) == "left"
    ids, mask = [], []
    for row in rows:
        gap = width - len(row)
        if left:
            ids.append(image + [pad_id] * gap + list(row))
            mask.append([1] * len(image) + [0] * gap + [1] * len(row))
        else:
            ids.append(image + list(row) + [pad_id] * gap)
            mask.append([1] * (len(image) + len(row)) + [0] * gap)
    return torch.tensor(ids, dtype=torch.long), torch.tensor(mask, dtype=torch.long)
