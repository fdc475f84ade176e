"""Image decoding and preprocessing ahead of the accelerator, one image at a time, in worker threads.

JPEG decode and bicubic resize take a few ms per COCO image; done inline they leave the GPU idle between batches.
`ImagePrefetcher` preprocesses the next windows' images while the current window generates (`runtime.num_workers`
threads; 0 = inline, in the caller's thread). Threads, not processes: PIL's decoder and resampler release the GIL,
and requests carry closures (lambdas in tests) that need not pickle. Each image is loaded once however many
questions it has. The processor handles images one by one anyway, so per-image preprocessing gives the same
`pixel_values` as the batched processor call (tested).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from harness.errors import HarnessError

Loader = Callable[[], Image.Image]


@dataclass
class WindowImages:
    """One window's preprocessed images: `pixel_values[row[g]]` is group g's image; failed groups are in `errors`."""

    pixel_values: torch.Tensor | None
    row: dict[int, int] = field(default_factory=dict)
    errors: dict[int, HarnessError] = field(default_factory=dict)


def preprocess(load: Loader, image_processor: Any) -> torch.Tensor:
    """Decode and preprocess one image: `[1, C, H, W]` float32, as the processor would inside a batch."""
    image = load()
    return image_processor(images=[image], return_tensors="pt")["pixel_values"]


def _attempt(load: Loader, image_processor: Any) -> torch.Tensor | HarnessError:
    try:
        return preprocess(load, image_processor)
    except HarnessError as err:
        return err


class ImagePrefetcher:
    """Iterates windows' `WindowImages` in order, keeping up to `lookahead` windows in flight."""

    def __init__(
        self,
        image_processor: Any,
        windows: Sequence[Sequence[Loader]],
        num_workers: int = 0,
        lookahead: int = 2,
        pin_memory: bool = False,
    ) -> None:
        if num_workers < 0:
            raise HarnessError(f"runtime.num_workers must be >= 0, got {num_workers}")
        self.image_processor = image_processor
        self.windows = windows
        self.lookahead = max(1, lookahead)
        self.pin_memory = pin_memory
        self.pool = ThreadPoolExecutor(num_workers, thread_name_prefix="images") if num_workers else None

    def __enter__(self) -> ImagePrefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def __iter__(self) -> Iterator[WindowImages]:
        if self.pool is None:
            for loaders in self.windows:
                yield self._collate([_attempt(load, self.image_processor) for load in loaders])
            return
        pool = self.pool
        pending: deque[list[Future]] = deque()
        upcoming = iter(self.windows)

        def submit_next() -> None:
            loaders = next(upcoming, None)
            if loaders is not None:
                pending.append([pool.submit(_attempt, load, self.image_processor) for load in loaders])

        for _ in range(self.lookahead):
            submit_next()
        while pending:
            items = [f.result() for f in pending.popleft()]
            submit_next()
            yield self._collate(items)

    def _collate(self, items: list[torch.Tensor | HarnessError]) -> WindowImages:
        out = WindowImages(None)
        good = []
        for g, item in enumerate(items):
            if isinstance(item, HarnessError):
                out.errors[g] = item
            else:
                out.row[g] = len(good)
                good.append(item)
        if good:
            pixels = torch.cat(good)
            out.pixel_values = pixels.pin_memory() if self.pin_memory else pixels
        return out
