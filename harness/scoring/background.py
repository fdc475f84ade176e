"""One forked worker process for CPU-heavy pure-Python scorers, so two cores are both busy.

Caption scoring waits most of its time on METEOR's JVM; the pure-Python scorers (sacrebleu, CIDEr, BLEU) run
in the worker meanwhile, in the order submitted. The worker is forked on entry, before any Java process is
started, so it holds none of their pipes. Where a process pool cannot be created (no fork, no semaphores) the
work simply runs inline: same results, only slower.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType
from typing import Any


class Background:
    """`with Background() as bg: fut = bg.submit(fn, *args); ...; fut.result()`."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Background:
        try:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
            self._pool.submit(int).result()  # fork the worker now, not later
        except (OSError, ValueError, NotImplementedError):
            self._pool = None
        return self

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run `fn(*args)` in the worker (or inline without one); `.result()` re-raises its exception."""
        if self._pool is not None:
            return self._pool.submit(fn, *args)
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as err:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(err)
        return future

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
