"""One GPU per job when several sweep jobs share a machine (Hydra's joblib launcher knows nothing of GPUs).

A job holds an exclusive lock file `gpu<i>.lock` for as long as it runs; the next job takes the lowest free
index, or waits for one. Locks are `filelock` locks, released by the OS if a job dies, so a crashed job never
strands a GPU. With zero or one visible GPU there is nothing to share and no lock is taken.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

POLL_S = 2.0


def cuda_device_count() -> int:
    """Visible CUDA devices (0 without torch's CUDA build)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@contextlib.contextmanager
def lease_gpu(
    lock_dir: Path, count: Callable[[], int] = cuda_device_count, poll_s: float = POLL_S
) -> Iterator[str | None]:
    """Yield `"cuda:<i>"` for a GPU no other job holds (waiting if all are busy), or None with <= 1 GPU."""
    n = count()
    if n <= 1:
        yield None
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    while True:
        for index in range(n):
            lock = FileLock(str(lock_dir / f"gpu{index}.lock"))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            try:
                yield f"cuda:{index}"
            finally:
                lock.release()
            return
        time.sleep(poll_s)
