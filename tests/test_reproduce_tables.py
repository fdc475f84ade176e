"""End to end on tiny models and fixture data: each new task through compose + run, then `reproduce-table`.

One data root and one results folder for the module: the table runs reuse the task runs made before them (same
resolved config), which keeps the caption runs, with their Java METEOR calls (seconds each), to two.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness.config import compose
from harness.errors import cli_main
from harness.fixtures import main as fixtures_main
from harness.run import run
from harness.tables import main as tables_main
from harness.text import lemmatizer_available

pytestmark = pytest.mark.slow
QUIET = ["judge=false", "leaderboard=false", "runtime.progress=false"]
SMALL = {
    "vqav2": ["--questions", "8", "--images", "4"],
    "vqav2_testdev": ["--questions", "6", "--images", "3", "--extra", "5"],
    "okvqa": ["--questions", "6", "--images", "3"],
    "gqa": ["--questions", "7", "--images", "3"],
    "coco_caption": ["--images", "4"],
    "nocaps": ["--images", "6"],
}
HAS_LEMMATIZER = lemmatizer_available()


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("tables")
    for task, args in SMALL.items():
        assert cli_main(fixtures_main, [task, *args, "--out", str(base / "data")]) == 0
    return base / "data", base / "results"


def reproduce(dirs: tuple[Path, Path], task: str, model: str, *extra: str) -> tuple[Path, dict]:
    data, results = dirs
    run_dir = run(
        compose([f"task={task}", f"model={model}", f"task.data_root={data}", f"results_dir={results}", *QUIET, *extra])
    )
    return run_dir, json.loads((run_dir / "metrics.json").read_text())


def test_okvqa(dirs: tuple[Path, Path]) -> None:
    extra = [] if HAS_LEMMATIZER else ["protocol.postprocess.lemmatize=false"]  # without spaCy: a mismatch run
    _, metrics = reproduce(dirs, "okvqa", "tiny-opt", *extra)
    assert metrics["task"] == "okvqa" and metrics["n"] == 6 and "vqa_acc" in metrics["metrics"]
    assert (metrics["raw"]["lemmatizer"] is not None) == HAS_LEMMATIZER


def test_gqa(dirs: tuple[Path, Path]) -> None:
    _, metrics = reproduce(dirs, "gqa", "tiny-t5")
    assert metrics["scorer"] == "exact-match-pred" and metrics["raw"]["gt_normalised"] is False
    assert set(metrics["metrics"]) == {"exact_match"} and metrics["n"] == 7


def test_vqav2_testdev_writes_the_evalai_submission(dirs: tuple[Path, Path]) -> None:
    run_dir, metrics = reproduce(dirs, "vqav2_testdev", "tiny-opt")
    assert metrics["needs_external_scoring"] is True and metrics["metrics"] == {}
    data = dirs[0]
    test = json.loads((data / "vqav2/v2_OpenEnded_mscoco_test2015_questions.json").read_text())["questions"]
    submission = json.loads((run_dir / "submission.json").read_text())
    predictions = json.loads((run_dir / "predictions.json").read_text())
    assert [s["question_id"] for s in submission] == [q["question_id"] for q in test]
    answered = {p["question_id"]: p["answer"] for p in predictions}
    assert len(answered) == 6 and all(s["answer"] == answered.get(s["question_id"], "") for s in submission)


def test_coco_caption(dirs: tuple[Path, Path]) -> None:
    _, metrics = reproduce(dirs, "coco_caption", "tiny-t5")
    assert metrics["n"] == 4 and {"Bleu_4", "METEOR", "CIDEr"} <= set(metrics["metrics"])


def test_nocaps_scores_each_domain_on_its_own(dirs: tuple[Path, Path]) -> None:
    _, metrics = reproduce(dirs, "nocaps", "tiny-t5")
    assert metrics["n_per_domain"] == {"in-domain": 2, "near-domain": 2, "out-domain": 2}
    for domain in ("in-domain", "near-domain", "out-domain"):
        assert f"CIDEr[{domain}]" in metrics["metrics"] and f"CIDEr[{domain}]" in metrics["ci95"]
    assert "METEOR" in metrics["metrics"] and "METEOR[in-domain]" not in metrics["metrics"]


def table(dirs: tuple[Path, Path], number: str, models: str) -> list[dict[str, str]]:
    data, results = dirs
    argv = ["--table", number, "--models", models, "--data-root", str(data), "--results-dir", str(results), *QUIET]
    assert cli_main(tables_main, argv) == 0
    assert (results / "tables" / f"table{number}.md").read_text().count("| refused |") >= 1
    with (results / "tables" / f"table{number}.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_table_2_on_tiny_models(dirs: tuple[Path, Path]) -> None:
    lines = table(dirs, "2", "tiny-opt,tiny-t5")
    tiny = [line for line in lines if line["model"].startswith("tiny-")]
    assert {(line["model"], line["column"]) for line in tiny} == {
        (m, c) for m in ("tiny-opt", "tiny-t5") for c in ("VQAv2 val", "VQAv2 test-dev", "OK-VQA test", "GQA test-dev")
    }
    for line in tiny:
        okvqa_without_spacy = line["column"] == "OK-VQA test" and not HAS_LEMMATIZER
        assert line["verdict"] == ("error" if okvqa_without_spacy else "refused"), line
        if line["verdict"] == "refused":
            assert line["reason"].startswith("protocol mismatch on:") and "model" in line["reason"]
            assert line["claim_id"].startswith("T2.g-")
    paper = [line for line in lines if not line["model"].startswith("tiny-")]
    assert {line["verdict"] for line in paper} == {"not_run"} and len(paper) == 36


def test_table_3_reuses_the_caption_runs(dirs: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    lines = table(dirs, "3", "tiny-t5")
    assert capsys.readouterr().out.count(": reused ") == 2
    tiny = [line for line in lines if line["model"] == "tiny-t5"]
    assert len(tiny) == 10 and {line["verdict"] for line in tiny} == {"refused"}
    assert {line["claim_id"].split(".")[1] for line in tiny} == {"t5xl"}
