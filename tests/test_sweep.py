"""Hydra multirun grids (`python -m harness.sweep -m …`): each job is exactly a `harness.run`, under the joblib and
submitit launchers; a failed grid point is reported and the others still run; one GPU leased per local job."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from harness.config import CONF_DIR
from harness.gpu_lease import lease_gpu
from harness.sweep import JOB_RECORD, job_overrides
from tests.conftest import FIXTURE_DATA, REPO

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
COMMON = [f"task.data_root={FIXTURE_DATA}", "runtime.progress=false", "runtime.device=cpu", "leaderboard=false"]


def test_job_overrides_are_harness_run_overrides():
    sweep = ["model=tiny-t5", "task=okvqa", "variant=lavis", "+protocol.limit=7", "gpu_locks=/x", "judge=false"]
    assert job_overrides(sweep, None) == ["model=tiny-t5", "task=okvqa", "protocol=lavis", "protocol.limit=7",
                                          "judge=false"]  # fmt: skip
    assert job_overrides(sweep, "cuda:1")[-1] == "runtime.device=cuda:1"
    assert job_overrides([*sweep, "runtime.device=cpu"], "cuda:1")[-1] == "runtime.device=cpu"  # user's choice


def test_gpu_lease_gives_each_job_its_own_gpu_and_waits_when_all_are_taken(tmp_path):
    with lease_gpu(tmp_path, count=lambda: 1) as one:
        assert one is None  # nothing to share
    got: list[str] = []
    with lease_gpu(tmp_path, count=lambda: 2) as first, lease_gpu(tmp_path, count=lambda: 2) as second:
        assert {first, second} == {"cuda:0", "cuda:1"}

        def third() -> None:
            with lease_gpu(tmp_path, count=lambda: 2, poll_s=0.05) as device:
                got.append(device)

        waiter = threading.Thread(target=third)
        waiter.start()
        time.sleep(0.3)
        assert got == []  # both GPUs held: it waits
    waiter.join(timeout=10)
    assert got == ["cuda:0"]


@pytest.mark.parametrize("launcher", ["local", "slurm"])
def test_shipped_launcher_configs_compose_against_the_plugins_schemas(launcher):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = compose("sweep", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    conf = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    if launcher == "local":
        assert conf["_target_"].endswith("JoblibLauncher") and conf["n_jobs"] == 1
    else:
        assert conf["_target_"].endswith("SlurmLauncher")
        assert conf["gpus_per_node"] == 1 and conf["max_num_timeout"] == 3
    assert cfg.hydra.job.chdir is False and cfg.variant == "paper"


def _sweep(results: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "harness.sweep", "-m", f"results_dir={results}", *COMMON, *args]
    return subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True)


def _records(results: Path) -> dict[tuple[str, str], dict]:
    """{(model, task): job record}."""
    records = [json.loads(p.read_text()) for p in sorted(results.glob(f"sweeps/*/*/{JOB_RECORD}"))]
    points = [dict(o.split("=", 1) for o in r["overrides"]) for r in records]
    return {(p["model"], p["task"]): r for p, r in zip(points, records, strict=True)}


@pytest.mark.slow
def test_joblib_grid_gives_the_same_predictions_as_harness_run(tmp_path):
    done = _sweep(tmp_path / "sweep", "model=tiny-opt,tiny-t5", "task=vqav2", "+protocol.limit=6",
                  "hydra/launcher=local", "hydra.launcher.n_jobs=2")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    records = _records(tmp_path / "sweep")
    assert sorted(records) == [("tiny-opt", "vqav2"), ("tiny-t5", "vqav2")]
    for (model, _), record in records.items():
        assert f"sweep: model={model} task=vqav2 -> {record['run_dir']}" in done.stdout
    direct = tmp_path / "direct"
    subprocess.run([sys.executable, "-m", "harness.run", "model=tiny-opt", "task=vqav2", "protocol.limit=6",
                    f"results_dir={direct}", *COMMON], cwd=REPO, env=ENV, check=True, capture_output=True)  # fmt: skip
    (direct_run,) = (direct / "runs" / "vqav2" / "tiny-opt").iterdir()
    swept = Path(records["tiny-opt", "vqav2"]["run_dir"])
    assert (swept / "predictions.json").read_bytes() == (direct_run / "predictions.json").read_bytes()
    assert json.loads((swept / "metrics.json").read_text()) == json.loads((direct_run / "metrics.json").read_text())


@pytest.mark.slow
def test_submitit_grid_reports_a_failed_point_and_finishes_the_others(tmp_path):
    data = tmp_path / "data"  # VQAv2 fixtures only: the GQA grid point must fail on its missing data
    for part in ("coco", "vqav2"):
        shutil.copytree(FIXTURE_DATA / part, data / part)
    done = _sweep(tmp_path, "model=tiny-opt", "task=vqav2,gqa", "+protocol.limit=2", "judge=false",
                  f"task.data_root={data}", "hydra/launcher=submitit_local")  # fmt: skip
    assert done.returncode == 1
    records = _records(tmp_path)
    assert (Path(records["tiny-opt", "vqav2"]["run_dir"]) / "metrics.json").is_file()
    assert "gqa/testdev_balanced_questions.json" in records["tiny-opt", "gqa"]["error"]
    assert "sweep: model=tiny-opt task=gqa -> FAILED:" in done.stdout
