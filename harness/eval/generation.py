"""The one entry point `harness.run` calls to generate: picks the evaluator and, under torchrun, shards the work.

`evaluator=reference` is plain HF `generate` (`harness.eval.evaluator`), `evaluator=fast` the default fast path
(`harness.eval.fast_evaluator`); both give the same predictions (tests). Launched by `harness.dist_run` on N processes,
rank 0 runs the pipeline and tells the other ranks which samples are pending; every rank generates its shard
(`harness.eval.shard`, by image) and rank 0 merges the outputs. Rank 0 logs its own batches as they finish and the other
ranks' outputs when they arrive, so a crash loses at most the other ranks' unfinished shards.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from omegaconf import DictConfig

from harness.errors import HarnessError
from harness.eval.evaluator import Request, run_generation
from harness.eval.fast_evaluator import run_fast_generation
from harness.eval.shard import merge, shard_by_image
from tasks.base import Sample, Task, open_image

OnBatch = Callable[[Sequence[int], list[str | None]], None]
OnBadImage = Callable[[int, HarnessError], None]


def requests_for(task: Task, samples: Sequence[Sample], indices: Sequence[int]) -> list[Request]:
    """One request per sample index; `image_key` is the image id, so questions on one image share its encoding."""
    return [
        Request(partial(open_image, samples[i]), task.prompt(samples[i]), image_key=samples[i].image_id)
        for i in indices
    ]


def evaluate(
    cfg: DictConfig,
    loaded: Any,
    requests: Sequence[Request],
    on_batch: OnBatch | None = None,
    on_bad_image: OnBadImage | None = None,
    progress: bool | None = None,
) -> list[str | None]:
    """Run the configured evaluator over `requests` on this process."""
    common: dict[str, Any] = {
        "max_prompt_tokens": cfg.protocol.prompt.max_prompt_tokens,
        "progress": cfg.runtime.progress if progress is None else progress,
        "on_batch": on_batch,
        "on_bad_image": on_bad_image,
    }
    if cfg.evaluator == "reference":
        return run_generation(loaded, requests, cfg.protocol.decoding, cfg.runtime.batch_size, **common)
    return run_fast_generation(
        loaded, requests, cfg.protocol.decoding, cfg.runtime.batch_size, num_workers=cfg.runtime.num_workers, **common
    )


def world() -> tuple[int, int]:
    """(rank, world size) of the torch.distributed group, (0, 1) when not launched by torchrun."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def generate(
    cfg: DictConfig,
    task: Task,
    samples: Sequence[Sample],
    loaded: Any,
    pending: Sequence[int],
    on_batch: OnBatch | None = None,
    on_bad_image: OnBadImage | None = None,
) -> list[str | None]:
    """Outputs for the `pending` sample indices (in that order), on one process or sharded over the group."""
    rank, size = world()
    if size == 1:
        return evaluate(cfg, loaded, requests_for(task, samples, pending), on_batch, on_bad_image)
    if rank != 0:
        raise HarnessError("harness.eval.generation.generate runs on rank 0; other ranks call generate_shard")
    return generate_shard(cfg, task, samples, loaded, list(pending), on_batch, on_bad_image)


def generate_shard(
    cfg: DictConfig,
    task: Task,
    samples: Sequence[Sample],
    loaded: Any,
    pending: list[int] | None,
    on_batch: OnBatch | None = None,
    on_bad_image: OnBadImage | None = None,
) -> list[str | None]:
    """Every rank: receive the pending list from rank 0, generate this rank's images, send the outputs to rank 0.

    Rank 0 returns all outputs (in `pending` order); other ranks return their own. An error on any rank is
    raised on rank 0 with the rank named, after every rank has reported (no rank is left waiting).
    """
    import torch.distributed as dist

    rank, size = world()
    box = [pending]
    dist.broadcast_object_list(box, src=0)
    pending = box[0]
    requests = requests_for(task, samples, pending)
    mine = shard_by_image([r.image_key for r in requests], size)[rank]

    def local_batch(local: Sequence[int], texts: list[str | None]) -> None:
        if on_batch is not None:
            on_batch([mine[j] for j in local], texts)

    def local_bad(local: int, err: HarnessError) -> None:
        if on_bad_image is not None:
            on_bad_image(mine[local], err)
        else:
            print(f"rank {rank}: skipping {samples[pending[mine[local]]].sample_id}: {err}", file=sys.stderr)

    skip = cfg.on_bad_image == "skip"
    try:
        texts = evaluate(
            cfg, loaded, [requests[i] for i in mine], local_batch if rank == 0 else None,
            local_bad if skip else None, progress=cfg.runtime.progress and rank == 0,
        )
        report: Any = list(zip(mine, texts, strict=True))
    except HarnessError as err:
        report = f"rank {rank}: {err}"
    gathered: list[Any] = [None] * size if rank == 0 else []
    dist.gather_object(report, gathered if rank == 0 else None, dst=0)
    if rank != 0:
        return [t for _, t in report] if isinstance(report, list) else []
    errors = [g for g in gathered if isinstance(g, str)]
    if errors:
        raise HarnessError("; ".join(errors))
    print(f"generated on {size} ranks: {', '.join(str(len(part)) for part in gathered)} requests each")
    others = [pair for r, part in enumerate(gathered) if r != 0 for pair in part]
    if on_batch is not None and others:
        on_batch([i for i, _ in others], [t for _, t in others])
    return merge(gathered, len(requests))
