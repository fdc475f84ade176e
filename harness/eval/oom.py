"""Batches that shrink on CUDA out-of-memory instead of killing a long run.

The largest batch that fits depends on the GPU, the model and the longest prompt, so it is found at run time: a
batch that raises `torch.OutOfMemoryError` is retried in halves, and the smaller size is kept for the rest of the
run (trying the large size again would fail again). Batches already finished are never redone. Outputs do not
depend on the batch size (the evaluator tests assert it), so shrinking changes speed only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import torch

from harness.errors import HarnessError

T = TypeVar("T")


class HalvingBatcher:
    """Runs `fn` over items in batches of at most `size`; an OOM halves `size` and retries that batch."""

    def __init__(self, size: int, what: str = "batch") -> None:
        if size < 1:
            raise HarnessError(f"runtime.batch_size must be >= 1, got {size}")
        self.size = size
        self.what = what
        self.halvings = 0

    def map(self, items: Sequence[int], fn: Callable[[list[int]], list[T]]) -> Iterator[tuple[list[int], list[T]]]:
        """Yield `(batch, fn(batch))` in item order; every item is in exactly one yielded batch."""
        pos = 0
        while pos < len(items):
            batch = list(items[pos : pos + self.size])
            try:
                out = fn(batch)
            except torch.OutOfMemoryError:
                out = None
            if out is None:
                self._shrink(len(batch))
                continue
            yield batch, out
            pos += len(batch)

    def _shrink(self, failed: int) -> None:
        """Halve below the batch that failed; called outside the `except` so the failed batch's tensors are freed."""
        if failed <= 1:
            raise HarnessError(
                f"CUDA out of memory on a {self.what} of 1: the model does not fit this GPU at this precision"
            )
        self.size = max(1, failed // 2)
        self.halvings += 1
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
