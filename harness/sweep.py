"""`python -m harness.sweep -m model=A,B task=X,Y [variant=paper,lavis] [hydra/launcher=local|slurm] [k=v …]`.

A grid of reproductions as one Hydra multirun (conf/sweep.yaml). Every job is exactly `python -m harness.run` with
the job's overrides (`variant=` becomes `protocol=`, `+protocol.x=` becomes `protocol.x=`): the same composition
and validation (`harness.config.compose`), run folder, resume, verdict and leaderboard refresh (file-locked, so
concurrent jobs are safe). Launchers live in conf/hydra/launcher: `local` (joblib processes, a GPU leased per
job) and `slurm` (submitit, one GPU per array task); without `hydra/launcher=…` the jobs run one after the other.

Each job leaves `sweep_job.json` (its overrides and run folder, or its one-line error) in its Hydra output folder;
`SweepSummary` prints the grid at the end, and the process exits non-zero if any job failed: one bad grid point
never stops the others.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hydra
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from harness.config import CONF_DIR, compose  # CONF_DIR absolute: Hydra reads a relative config_path as a module
from harness.errors import HarnessError
from harness.gpu_lease import lease_gpu
from harness.io import read_json, write_json

JOB_RECORD = "sweep_job.json"
GRID_KEYS = ("model", "task", "protocol")
_failed_jobs: list[dict[str, Any]] = []


def job_overrides(sweep_overrides: list[str], device: str | None) -> list[str]:
    """`harness.run` overrides of one grid point from the job's sweep overrides; a leased GPU unless the user
    chose a device."""
    overrides = []
    for item in sweep_overrides:
        key = item.split("=", 1)[0]
        if key == "variant":
            overrides.append("protocol=" + item.split("=", 1)[1])
        elif key.startswith("+protocol."):
            overrides.append(item[1:])
        elif key != "gpu_locks":
            overrides.append(item)
    if device and not any(o.startswith("runtime.device=") for o in overrides):
        overrides.append(f"runtime.device={device}")
    return overrides


@contextlib.contextmanager
def _run_hydra() -> Iterator[None]:
    """`compose` initialises Hydra on conf/ for itself; inside a launcher job Hydra is already initialised for the
    sweep, so step it aside for the duration and put it back for the launcher."""
    global_hydra = GlobalHydra.instance()
    outer = global_hydra.hydra if global_hydra.is_initialized() else None
    global_hydra.clear()
    try:
        yield
    finally:
        GlobalHydra.instance().clear()
        if outer is not None:
            GlobalHydra.instance().initialize(outer)


def run_job(cfg: DictConfig) -> dict[str, Any]:
    """One grid point: `{"overrides", "run_dir"}` or, for a bad config/data/model, `{"overrides", "error"}`."""
    from harness.run import run  # torch and transformers: imported by the job, not by the launcher

    with lease_gpu(Path(cfg.gpu_locks)) as device:
        overrides = job_overrides(list(HydraConfig.get().overrides.task), device)
        print(f"job: harness.run {' '.join(overrides)}", flush=True)
        try:
            with _run_hydra():
                return {"overrides": overrides, "run_dir": str(run(compose(overrides)))}
        except HarnessError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            return {"overrides": overrides, "error": str(err)}


class SweepSummary(Callback):
    """At the end of a multirun (on the submitting machine): one line per job, and remember the failures."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        paths = Path(config.hydra.sweep.dir).glob(f"*/{JOB_RECORD}")
        by_job = sorted(paths, key=lambda p: (len(p.parent.name), p.parent.name))  # job numbers: 2 before 10
        records = [read_json(p) for p in by_job]
        for record in records:
            where = record.get("run_dir") or f"FAILED: {record.get('error')}"
            point = [o for o in record["overrides"] if o.split("=", 1)[0] in GRID_KEYS]
            print(f"sweep: {' '.join(point)} -> {where}")
        _failed_jobs.extend(r for r in records if "error" in r)


@hydra.main(config_path=str(CONF_DIR), config_name="sweep", version_base=None)
def _main(cfg: DictConfig) -> dict[str, Any]:
    record = run_job(cfg)
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    write_json(out_dir / JOB_RECORD, record)
    if "error" in record and HydraConfig.get().mode.name == "RUN":  # a multirun counts them in SweepSummary
        _failed_jobs.append(record)
    return record


def main() -> int:
    """Run the sweep (or one job without -m); 1 if any job failed."""
    _main()
    return 1 if _failed_jobs else 0


if __name__ == "__main__":
    from harness.sweep import main as canonical_main  # the module SweepSummary (a Hydra _target_) records into

    sys.exit(canonical_main())
