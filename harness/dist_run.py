"""`torchrun --nproc_per_node=N -m harness.dist_run [hydra overrides]`: one reproduction on N GPUs (or CPU processes).

Rank 0 runs `harness.run` unchanged (it alone writes the run folder, scores and judges); inside its generation step
it hands every other rank the pending samples and merges their outputs (`harness.eval.generation.generate_shard`). The
other ranks only load the data and the model and generate their shard. The process group is gloo: it carries only
sample indices and answer strings, and it works on CPU, which is how the tests run it (2 processes).
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta

from omegaconf import DictConfig

from harness.config import compose
from harness.errors import cli_main


def _device_override(argv: list[str]) -> list[str]:
    """Each rank on its own GPU (`LOCAL_RANK`), unless the user chose the CPU."""
    import torch

    chosen = [a.split("=", 1)[1] for a in argv if a.startswith("runtime.device=")]
    if (chosen and chosen[-1] == "cpu") or not torch.cuda.is_available():
        return argv
    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    return [*argv, f"runtime.device=cuda:{local}"]


def worker(cfg: DictConfig) -> None:
    """A rank other than 0: same data, same model, its own shard."""
    from harness.eval.generation import generate_shard
    from harness.models.loader import load_model
    from tasks import get_task

    task = get_task(cfg.task, cfg.protocol)
    samples = task.load()
    loaded = load_model(cfg.model, cfg.protocol.image, cfg.protocol.precision, cfg.runtime.device)
    generate_shard(cfg, task, samples, loaded, None)


def main(argv: list[str] | None = None) -> int:
    import torch.distributed as dist

    from harness.run import run

    argv = _device_override(sys.argv[1:] if argv is None else argv)
    dist.init_process_group("gloo", timeout=timedelta(hours=2))
    try:
        cfg = compose(argv)
        if dist.get_rank() == 0:
            run(cfg)
        else:
            worker(cfg)
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main))
