"""Leaderboard: one row per finished run, idempotent bytes, formula escaping, PNG, safe under concurrent
rebuilds."""

from __future__ import annotations

import csv
import io
import multiprocessing
from pathlib import Path

import pytest
from claim_runs import caption_metrics, make_run, vqa_metrics

from harness.io import read_json, write_json
from harness.judge import judge_run
from harness.leaderboard import rebuild
from harness.report.csvsafe import safe_cell

OPT = ["model=blip2-opt-2.7b", "task=vqav2"]


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


@pytest.fixture
def results(tmp_path) -> Path:
    judge_run(make_run(tmp_path, OPT, vqa_metrics(53.7), run_id="a", started_at="2026-01-02T00:00:00+00:00"))
    judge_run(make_run(tmp_path, ["model=tiny-opt", "task=vqav2"], vqa_metrics(1.0, n=20, ci=(0.0, 5.0)),
                       run_id="b", started_at="2026-01-01T00:00:00+00:00"))
    make_run(tmp_path, ["model=blip2-opt-2.7b", "task=flickr30k"], caption_metrics(70.0), run_id="c")
    return tmp_path


def test_rebuild_writes_one_row_per_run(results):
    paths = rebuild(results)
    assert sorted(p.name for p in paths) == ["flickr30k.csv", "flickr30k.png", "vqav2.csv", "vqav2.png"]
    rows = read_csv(results / "leaderboard" / "vqav2.csv")
    for column in ("model", "protocol", "split", "n", "vqa_acc", "reported", "delta", "ci95_lo", "ci95_hi",
                   "verdict", "run_id", "date"):
        assert column in rows[0]
    assert [r["run_id"] for r in rows] == ["b", "a"]  # by date
    real, tiny = rows[1], rows[0]
    assert (real["verdict"], real["reported"], real["measured"]) == ("reproduced", "53.5", "53.7")
    assert real["delta"] == "0.2"
    assert (tiny["verdict"], tiny["protocol_match"], tiny["delta"]) == ("refused", "mismatch", "")


def test_unjudged_run_is_judged_in_memory_without_writing(results):
    rebuild(results, ["flickr30k"])
    (row,) = read_csv(results / "leaderboard" / "flickr30k.csv")
    assert (row["verdict"], row["CIDEr"]) == ("no_claim", "70")
    assert not list((results / "runs" / "flickr30k").rglob("verdict.json"))


def test_unfinished_runs_are_skipped(results):
    runs = results / "runs" / "vqav2" / "blip2-opt-2.7b"
    (runs / "generating").mkdir()
    write_json(runs / "generating" / "provenance.json", {"status": "generating", "protocol": {}})
    scoring = make_run(results, OPT, vqa_metrics(53.5), run_id="scoring")
    write_json(scoring / "provenance.json", {**read_json(scoring / "provenance.json"), "status": "scoring"})
    rebuild(results, ["vqav2"])
    assert len(read_csv(results / "leaderboard" / "vqav2.csv")) == 2


def test_rebuild_is_idempotent_byte_for_byte(results):
    rebuild(results)
    first = {p.name: p.read_bytes() for p in (results / "leaderboard").glob("*.*")}
    rebuild(results)
    assert {p.name: p.read_bytes() for p in (results / "leaderboard").glob("*.*")} == first
    assert first["vqav2.png"].startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("text", ["=1+2", "+1", "-1+1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_escaped(text):
    assert safe_cell(text) == "'" + text


def test_safe_cells_keep_numbers_and_plain_text():
    assert [safe_cell(v) for v in (None, True, 3, -0.3, 53.50001, "a=b", "BLIP-2")] == [
        "", "true", "3", "-0.3", "53.5", "a=b", "BLIP-2"]


def test_run_named_like_a_formula_is_escaped_in_the_csv(tmp_path):
    make_run(tmp_path, OPT, vqa_metrics(53.5), run_id="=1+2")
    make_run(tmp_path, OPT, vqa_metrics(53.5), run_id="@SUM(A1)")
    rebuild(tmp_path, ["vqav2"])
    text = (tmp_path / "leaderboard" / "vqav2.csv").read_text(encoding="utf-8")
    ids = sorted(r["run_id"] for r in read_csv(tmp_path / "leaderboard" / "vqav2.csv"))
    assert ids == ["'=1+2", "'@SUM(A1)"] and "\n=1+2" not in text


def test_requested_task_without_runs_gets_an_empty_board(tmp_path):
    rebuild(tmp_path, ["vqav2"])
    header = (tmp_path / "leaderboard" / "vqav2.csv").read_text(encoding="utf-8")
    assert header.startswith("run_id,date,model")
    assert (tmp_path / "leaderboard" / "vqav2.png").is_file()


def _rebuild_repeatedly(results: Path) -> None:
    for _ in range(3):
        rebuild(results, ["vqav2"])


def test_concurrent_rebuilds_leave_a_valid_csv(results):
    rebuild(results, ["vqav2"])  # imports done once; forked writers then race on the lock, not on imports
    (results / "leaderboard" / "vqav2.csv").unlink()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_rebuild_repeatedly, args=(results,)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0, 0]
    rows = read_csv(results / "leaderboard" / "vqav2.csv")
    assert [r["run_id"] for r in rows] == ["b", "a"]
    assert not [p for p in (results / "leaderboard").iterdir() if p.name.endswith(".tmp")]
