"""Data-parallel runs: 2 CPU processes on gloo (torchrun) give byte-identical predictions to one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURE_DATA, REPO


def _args(results: Path, model: str) -> list[str]:
    return [
        f"model={model}",
        "task=vqav2",
        f"task.data_root={FIXTURE_DATA}",
        f"results_dir={results}",
        "judge=false",
        "leaderboard=false",
        "runtime.progress=false",
        "runtime.device=cpu",
        "runtime.batch_size=4",
    ]


def _predictions(results: Path, model: str) -> bytes:
    (run_dir,) = (results / "runs" / "vqav2" / model).iterdir()
    return (run_dir / "predictions.json").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny-opt"])
def test_two_ranks_equal_one_process(tmp_path, model):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, "-m", "harness.run", *_args(one, model)], check=True, cwd=REPO, env=env,
                   capture_output=True)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    done = subprocess.run([*torchrun, "-m", "harness.dist_run", *_args(two, model)], cwd=REPO, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "generated on 2 ranks: 18, 18 requests each" in done.stdout
    assert _predictions(two, model) == _predictions(one, model)
    assert len(json.loads(_predictions(two, model))) == 36
