"""Zero-shot VQAv2 test-dev (BLIP-2 Tables 1-2): answer test-dev2015, write the EvalAI submission, score later.

Answers exist only on the EvalAI server (VQA challenge 830), and even its test-dev phase rejects a file that does
not answer every test2015 question (datasets.md §1.4). So the run answers the 107,394 test-dev questions (images
under `test2015/`) and writes `submission.json` with all 447,793 test2015 ids, `""` for the ones outside test-dev;
`metrics.json` says `needs_external_scoring` until `python -m harness.attach_scores` adds the server's numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.io import read_json, write_json
from tasks.base import Sample, Task, file_sha256, inside, require_keys

TEST2015_QUESTIONS = 447_793
TESTDEV_QUESTIONS = 107_394
SUBMISSION = "submission.json"
FIXTURE_CONTRIBUTOR = "harness.fixtures"  # synthetic files say so; only they may have other counts


def read_questions(path: Path, subtype: str) -> dict[str, Any]:
    if not path.exists():
        raise HarnessError(
            f"{path}: VQAv2 {subtype} questions file not found; set DATA_ROOT (from "
            "v2_Questions_Test_mscoco.zip, which holds test-dev2015 and test2015)"
        )
    doc = read_json(path)
    require_keys(doc, ("questions", "data_subtype"), str(path))
    if doc["data_subtype"] != subtype:
        raise HarnessError(f"{path}: data_subtype is {doc['data_subtype']!r}, expected {subtype!r} (wrong file)")
    for i, q in enumerate(doc["questions"]):
        require_keys(q, ("image_id", "question", "question_id"), f"{path} questions[{i}]")
    return doc


def is_synthetic(doc: dict[str, Any]) -> bool:
    info = doc.get("info")
    return isinstance(info, dict) and info.get("contributor") == FIXTURE_CONTRIBUTOR


def check_superset(testdev: list[dict], test: list[dict], where: str) -> None:
    """Every test-dev question must be a test2015 question (same id, same image): EvalAI scores by id."""
    image_of = {q["question_id"]: q["image_id"] for q in test}
    bad = [q["question_id"] for q in testdev if image_of.get(q["question_id"], object()) != q["image_id"]]
    if bad:
        raise HarnessError(
            f"{where}: {len(bad)} test-dev question(s) not in the test2015 file (or on another image), "
            f"e.g. {bad[:5]}; the submission would be rejected"
        )


def build_submission(test_ids: list[int], answers: dict[int, str], expected_total: int | None) -> list[dict]:
    """All test2015 ids in file order, answered where `answers` has them, `""` elsewhere."""
    unknown = set(answers) - set(test_ids)
    if unknown:
        raise HarnessError(
            f"submission: {len(unknown)} answered id(s) are not test2015 ids, e.g. {sorted(unknown)[:5]}"
        )
    if len(set(test_ids)) != len(test_ids):
        raise HarnessError("submission: the test2015 questions file repeats question ids")
    if expected_total is not None and len(test_ids) != expected_total:
        raise HarnessError(f"submission: {len(test_ids)} test2015 ids, EvalAI needs exactly {expected_total}")
    return [{"question_id": qid, "answer": answers.get(qid, "")} for qid in test_ids]


class VQAv2TestDevTask(Task):
    name = "vqav2_testdev"
    kind = "vqa"

    def load(self) -> list[Sample]:
        self.require_official_source()
        dpath, tpath = self.path("questions"), self.path("test_questions")
        dev = read_questions(dpath, self.protocol.split)
        test = read_questions(tpath, "test2015")
        check_superset(dev["questions"], test["questions"], str(dpath))
        synthetic = is_synthetic(dev) or is_synthetic(test)
        if not synthetic and (len(test["questions"]), len(dev["questions"])) != (TEST2015_QUESTIONS, TESTDEV_QUESTIONS):
            raise HarnessError(
                f"{tpath}: {len(test['questions'])} test2015 / {len(dev['questions'])} test-dev "
                f"questions; the official files hold {TEST2015_QUESTIONS} / {TESTDEV_QUESTIONS}"
            )
        self.expected_total = None if synthetic else TEST2015_QUESTIONS
        self.test_ids = [q["question_id"] for q in test["questions"]]
        questions = dev["questions"]
        n_total = len(questions)
        questions = self.limited(questions)
        images = self.path("images")
        samples = [
            Sample(
                q["question_id"],
                q["image_id"],
                question=q["question"],
                image_path=str(inside(images, f"COCO_test2015_{q['image_id']:012d}.jpg", str(dpath))),
            )
            for q in questions
        ]
        self.dataset_info.update(
            source="official",
            files={str(p.relative_to(self.root)): file_sha256(p) for p in (dpath, tpath)},
            split=self.protocol.split,
            n_total=n_total,
            n_samples=len(samples),
            n_images=len({s.image_id for s in samples}),
            n_test2015=len(self.test_ids),
            synthetic=synthetic,
        )
        return samples

    def drop(self, sample_ids: set) -> None:
        """Dropped questions simply stay unanswered (`""`) in the submission."""

    def official_predictions(self, samples: list[Sample], outputs: list[str]) -> list[dict[str, Any]]:
        return [
            {"question_id": s.sample_id, "answer": self.postprocess(o)} for s, o in zip(samples, outputs, strict=True)
        ]

    def score(self, predictions: list[dict[str, Any]]) -> dict[str, Any]:
        answers = {p["question_id"]: p["answer"] for p in predictions}
        self.submission = build_submission(self.test_ids, answers, self.expected_total)
        return {
            "task": self.name,
            "scorer": self.protocol.scorer,
            "n": len(predictions),
            "needs_external_scoring": True,
            "metrics": {},
            "ci95": {},
            "raw": {
                "submission": SUBMISSION,
                "n_submission_ids": len(self.submission),
                "n_answered": len(answers),
                "n_blank": len(self.submission) - len(answers),
                "count_checked": self.expected_total,
                "how_to_score": "upload submission.json to EvalAI (VQA challenge 830, phase test-dev), then "
                "python -m harness.attach_scores RUN_DIR --evalai RESULT.json",
            },
        }

    def write_extra(self, run_dir: Path) -> list[str]:
        write_json(run_dir / SUBMISSION, self.submission, indent=None)
        return [SUBMISSION]
