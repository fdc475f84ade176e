"""Never lose a result: a run killed with SIGKILL mid-way resumes to exactly the uninterrupted predictions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.resume import PARTIAL, PartialPredictions

REPO = Path(__file__).resolve().parents[1]


def run_cmd(data: Path, results: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "harness.run",
        "model=tiny-opt",
        "task=vqav2",
        f"task.data_root={data}",
        f"results_dir={results}",
        "judge=false",
        "leaderboard=false",
        "runtime.progress=false",
        "runtime.batch_size=1",
        *extra,
    ]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    subprocess.run(
        [sys.executable, "-m", "harness.fixtures", "vqav2", "--out", str(out), "--questions", "120", "--images", "12"],
        check=True,
        cwd=REPO,
    )
    return out


def predictions(results: Path) -> tuple[Path, list]:
    (run_dir,) = (results / "runs" / "vqav2" / "tiny-opt").iterdir()
    return run_dir, json.loads((run_dir / "predictions.json").read_text())


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(data, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    whole = tmp_path / "whole"
    subprocess.run(run_cmd(data, whole), check=True, cwd=REPO, env=env, capture_output=True)
    whole_dir, expected = predictions(whole)
    twice = tmp_path / "twice"
    subprocess.run(run_cmd(data, twice), check=True, cwd=REPO, env=env, capture_output=True)
    twice_dir, _ = predictions(twice)
    assert (whole_dir / "predictions.json").read_bytes() == (twice_dir / "predictions.json").read_bytes(), (
        "the same command twice must give byte-identical predictions on CPU"
    )

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        run_cmd(data, killed), cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    partial_lines = 0
    while time.monotonic() < deadline and proc.poll() is None:
        partials = list(killed.glob(f"runs/vqav2/tiny-opt/*/{PARTIAL}"))
        if partials:
            partial_lines = partials[0].read_text().count("\n")
            if partial_lines >= 10:
                break
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed; make the workload larger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (run_dir,) = (killed / "runs" / "vqav2" / "tiny-opt").iterdir()
    assert not (run_dir / "predictions.json").exists()

    out = subprocess.run(run_cmd(data, killed), check=True, cwd=REPO, env=env, capture_output=True, text=True)
    assert "resuming:" in out.stdout
    resumed_dir, got = predictions(killed)
    assert resumed_dir == run_dir, "the unfinished run folder is reused, not a new one"
    assert got == expected
    assert len({p["question_id"] for p in got}) == len(got) == 120
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert prov["resumed"] is True and prov["status"] == "complete" and prov["n_resumed"] >= 10
    assert not (run_dir / PARTIAL).exists()

    again = subprocess.run(run_cmd(data, killed), check=True, cwd=REPO, env=env, capture_output=True, text=True)
    runs = sorted((killed / "runs" / "vqav2" / "tiny-opt").iterdir())
    assert len(runs) == 2, f"a finished run is never overwritten: {again.stdout}"


def test_partial_log_drops_a_cut_last_line(tmp_path):
    log = PartialPredictions(tmp_path)
    log.append([(0, 10, "a"), (1, 11, "b")])
    with log.path.open("a") as fh:
        fh.write('{"index": 2, "sample_id": 12, "outp')
    assert log.load([10, 11, 12]) == {0: "a", 1: "b"}
    log.append([(2, 12, "c")])
    assert log.load([10, 11, 12]) == {0: "a", 1: "b", 2: "c"}


def test_partial_log_refuses_changed_data(tmp_path):
    from harness.errors import HarnessError

    log = PartialPredictions(tmp_path)
    log.append([(0, 10, "a")])
    with pytest.raises(HarnessError, match="data changed"):
        log.load([99])
