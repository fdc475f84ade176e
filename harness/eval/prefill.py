"""Decoder-only (OPT) prefill without HF's waste: image queries once per image, prompt once per question.

HF `generate` repeats every row `num_beams` times before the prefill, so each prompt is prefilled 5 times, and each
image's 32 query positions once per question (performance.md §3). Here the cache for all positions but the last is
built first:

1. the query positions of each distinct image in the batch (in OPT's layout they come first, at positions 0..q-1,
   before any padding, and causal attention lets them see only each other: the same keys/values for every question
   of that image);
2. those rows gathered per question, and the rest of each prompt but its last token run on top;
3. the cache repeated `num_beams` times, the expansion HF would have done on the inputs.

`generate(inputs_embeds=<full>, past_key_values=cache)` then feeds only the last position (`_prefill` slices
`inputs_embeds` past the cache length) and runs HF's own beam search: scores, length normaliser and stopping are
untouched. Beams of a question start identical, as HF's do (its first step masks beams 1.. with -1e9).

Exact in real arithmetic; in floating point the split prefill sums in a different order (as batch composition
already does), so the tests assert equal predictions against the reference path on the tiny models.
"""

from __future__ import annotations

from typing import Any

import torch


@torch.inference_mode()
def prefilled_cache(
    lm: Any, embeds: torch.Tensor, mask: torch.Tensor, image_rows: torch.Tensor, num_query: int, num_beams: int
) -> Any:
    """Cache for positions `0 .. L-2` of every row, repeated `num_beams` times; `image_rows[b]` = row b's image."""
    from transformers import DynamicCache

    decoder = lm.base_model
    _, per_row = torch.unique(image_rows, return_inverse=True)
    first_row: dict[int, int] = {}
    for b, u in enumerate(per_row.tolist()):
        first_row.setdefault(u, b)
    first = torch.tensor([first_row[u] for u in range(len(first_row))], device=embeds.device)
    cache = DynamicCache(config=lm.config)
    queries = embeds[first, :num_query]  # one row per image: its questions' query embeddings are identical
    decoder(inputs_embeds=queries, attention_mask=mask[first, :num_query], past_key_values=cache, use_cache=True)
    cache.batch_select_indices(per_row)
    last = embeds.shape[1] - 1
    if last > num_query:
        decoder(
            inputs_embeds=embeds[:, num_query:last],
            attention_mask=mask[:, :last],
            past_key_values=cache,
            use_cache=True,
        )
    if num_beams > 1:
        cache.batch_repeat_interleave(num_beams)
    return cache
