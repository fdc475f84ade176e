"""OK-VQA, GQA, COCO Karpathy, NoCaps, VQAv2 test-dev: fixtures, loaders, scorers, submission, attached scores."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from harness.attach_scores import attach, phase_scores
from harness.errors import HarnessError, cli_main
from harness.fixtures import main as fixtures_main
from harness.scoring.gqa import score_gqa
from harness.text import lemmatizer_available, postprocess
from tasks.vqav2_testdev import build_submission

HAS_SPACY = lemmatizer_available()


def gen(out: Path, *args: str) -> None:
    assert cli_main(fixtures_main, [*args, "--out", str(out)]) == 0


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("more") / "data"
    for args in (["vqav2"], ["vqav2_testdev"], ["okvqa"], ["gqa"], ["coco_caption"], ["nocaps"]):
        gen(out, *args)
    return out


def load(root: Path, rel: str) -> dict:
    return json.loads((root / rel).read_text(encoding="utf-8"))


def test_fixture_formats(root: Path) -> None:
    ok_q, ok_a = (
        load(root, "okvqa/OpenEnded_mscoco_val2014_questions.json"),
        load(root, "okvqa/mscoco_val2014_annotations.json"),
    )
    assert ok_q["data_subtype"] == "val2014" and len(ok_q["questions"]) == len(ok_a["annotations"]) == 24
    assert all(
        len(a["answers"]) == 10 and {"raw_answer", "answer_id"} <= set(a["answers"][0]) for a in ok_a["annotations"]
    )
    gqa = load(root, "gqa/testdev_balanced_questions.json")
    assert all({"imageId", "question", "answer", "fullAnswer"} <= set(e) for e in gqa.values())
    coco = load(root, "coco/karpathy/dataset_coco.json")["images"]
    assert {e["split"] for e in coco} == {"train", "restval", "val", "test"} and coco[0]["split"] != "test"
    assert {len(e["sentences"]) for e in coco if e["split"] == "test"} >= {5, 6, 7}
    nocaps = load(root, "nocaps/nocaps_val_4500_captions.json")
    assert set(Counter(i["domain"] for i in nocaps["images"])) == {"in-domain", "near-domain", "out-domain"}
    assert Counter(a["image_id"] for a in nocaps["annotations"]).most_common()[-1][1] == 10
    dev = load(root, "vqav2/v2_OpenEnded_mscoco_test-dev2015_questions.json")
    test = load(root, "vqav2/v2_OpenEnded_mscoco_test2015_questions.json")
    assert (dev["data_subtype"], test["data_subtype"]) == ("test-dev2015", "test2015")
    assert {q["question_id"] for q in dev["questions"]} < {q["question_id"] for q in test["questions"]}
    for q in dev["questions"]:
        assert (root / f"coco/images/test2015/COCO_test2015_{q['image_id']:012d}.jpg").is_file()


def test_fixtures_are_byte_identical_and_never_overwrite(root: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    for args in (["vqav2"], ["vqav2_testdev"], ["okvqa"], ["gqa"], ["coco_caption"], ["nocaps"]):
        gen(again, *args)
    assert tree(again) == tree(root)
    assert cli_main(fixtures_main, ["okvqa", "--out", str(again)]) == 2  # okvqa/ exists: refused
    real = next((again / "coco/images/val2014").iterdir())
    real.write_bytes(b"real image")
    (again / "okvqa").rename(tmp_path / "moved")
    gen(again, "okvqa")  # shared image folder: added to, an existing file is never replaced
    assert real.read_bytes() == b"real image"


def test_gqa_scorer_versions_differ_only_on_gt_normalisation() -> None:
    answers = {"1": "t-shirt", "2": "yes", "3": "the car"}
    preds = [
        {"question_id": "1", "answer": "t-shirt"},
        {"question_id": "2", "answer": "Yes."},
        {"question_id": "3", "answer": "car"},
    ]
    pred_only = score_gqa(answers, preds, "exact-match-pred")
    both = score_gqa(answers, preds, "exact-match-both")
    assert pred_only["per_question"] == {"1": 0.0, "2": 1.0, "3": 0.0} and not pred_only["gt_normalised"]
    assert both["exact_match"] == 100.0 and both["gt_normalised"]
    with pytest.raises(HarnessError, match="no prediction"):
        score_gqa(answers, preds[:2], "exact-match-pred")
    with pytest.raises(HarnessError, match="unknown GQA scorer"):
        score_gqa(answers, preds, "vqa")


@pytest.mark.skipif(not HAS_SPACY, reason="spaCy + en_core_web_sm not installed (see harness/text.py)")
def test_lemmatizer_is_lavis_nouns_and_verbs_only() -> None:
    assert postprocess(" the cats are playing ", True, True) == "the cat are play"
    assert postprocess("dogs", True, False) == "dogs"


def test_lemmatizer_without_spacy_model_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.text as text

    text._spacy_pipeline.cache_clear()
    monkeypatch.setattr(text, "LEMMATIZER_MODELS", ("no_such_spacy_pipeline",))
    try:
        with pytest.raises(HarnessError, match="lemmatize=false: a mismatch"):
            postprocess("dogs", True, True)
    finally:
        text._spacy_pipeline.cache_clear()


def test_submission_covers_every_test_id() -> None:
    sub = build_submission([5, 3, 9], {3: "two"}, None)
    assert sub == [
        {"question_id": 5, "answer": ""},
        {"question_id": 3, "answer": "two"},
        {"question_id": 9, "answer": ""},
    ]
    with pytest.raises(HarnessError, match="not test2015 ids"):
        build_submission([5], {7: "x"}, None)
    with pytest.raises(HarnessError, match="needs exactly 447793"):
        build_submission([5, 3], {}, 447_793)


def _testdev_task(root: Path):
    from harness.config import compose
    from tasks import get_task

    cfg = compose(["task=vqav2_testdev", f"task.data_root={root}"])
    return get_task(cfg.task, cfg.protocol)


DEV = "vqav2/v2_OpenEnded_mscoco_test-dev2015_questions.json"
TEST = "vqav2/v2_OpenEnded_mscoco_test2015_questions.json"


def test_testdev_files_must_be_official_sized_or_synthetic(root: Path, tmp_path: Path) -> None:
    data = tmp_path / "d"
    for rel in (DEV, TEST):
        doc = load(root, rel)
        doc["info"]["contributor"] = "VQA team"  # no longer marked synthetic: the official counts apply
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_text(json.dumps(doc))
    with pytest.raises(HarnessError, match="447793 / 107394"):
        _testdev_task(data).load()


def test_testdev_must_be_a_subset_of_test2015(root: Path, tmp_path: Path) -> None:
    data = tmp_path / "d"
    (data / "vqav2").mkdir(parents=True)
    (data / DEV).write_bytes((root / DEV).read_bytes())
    test = load(root, TEST)
    first_dev = load(root, DEV)["questions"][0]["question_id"]
    test["questions"] = [q for q in test["questions"] if q["question_id"] != first_dev]
    (data / TEST).write_text(json.dumps(test))
    with pytest.raises(HarnessError, match="1 test-dev question.* not in the test2015 file"):
        _testdev_task(data).load()


def test_attach_scores_records_provenance(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "submission.json").write_text("[]")
    (run / "metrics.json").write_text(
        json.dumps(
            {
                "task": "vqav2_testdev",
                "n": 3,
                "needs_external_scoring": True,
                "metrics": {},
                "ci95": {},
                "raw": {"submission": "submission.json"},
            }
        )
    )
    result = tmp_path / "evalai.json"
    result.write_text(
        json.dumps(
            [
                {"test-dev": {"yes/no": 80.1, "number": 40.2, "other": 50.3, "overall": 60.4}},
                {"test-standard": {"yes/no": 0, "number": 0, "other": 0, "overall": 0}},
            ]
        )
    )
    metrics = attach(run, result, note="submission 123")
    assert metrics["metrics"] == {
        "vqa_acc": 60.4,
        "vqa_acc[yes/no]": 80.1,
        "vqa_acc[number]": 40.2,
        "vqa_acc[other]": 50.3,
    }
    assert metrics["external_scoring"]["note"] == "submission 123" and not metrics["needs_external_scoring"]
    assert json.loads((run / "metrics.json").read_text()) == metrics
    with pytest.raises(HarnessError, match="already attached"):
        attach(run, result)
    with pytest.raises(HarnessError, match="no 'test-dev' entry"):
        phase_scores([{"test-standard": {}}], "test-dev", "r.json")
    with pytest.raises(HarnessError, match="no numeric overall"):
        phase_scores({"test-dev": {"yes/no": 1, "number": 2, "other": 3}}, "test-dev", "r.json")
