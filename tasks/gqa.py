"""Zero-shot GQA (BLIP-2 Table 2 "GQA test-dev" = test-dev balanced, as LAVIS `gqa/balanced_testdev.yaml`).

Official file `testdev_balanced_questions.json`: a dict keyed by question-id string, each entry with `imageId`,
`question`, `answer` (one GT answer) among other fields; images `<imageId>.jpg`. The metric is exact match after
the VQA answer normalisation (`harness.scoring.gqa`); the scorer name says whether the GT is normalised too.
"""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError
from harness.io import read_json
from tasks.base import Sample, Task, file_sha256, inside, require_keys

QUESTION_KEYS = ("imageId", "question", "answer")


class GQATask(Task):
    name = "gqa"
    kind = "vqa"

    def load(self) -> list[Sample]:
        self.require_official_source()
        qpath = self.path("questions")
        if not qpath.exists():
            raise HarnessError(
                f"{qpath}: GQA questions file not found; set DATA_ROOT (expected layout: "
                f"<data_root>/{self.cfg.files.questions}, images <data_root>/{self.cfg.files.images}/<imageId>.jpg)"
            )
        split = self.protocol.split
        if not qpath.name.startswith(f"{split}_questions"):
            raise HarnessError(
                f"{qpath}: protocol {self.protocol.name} needs split {split!r} "
                f"({split}_questions.json); this file is another split"
            )
        doc = read_json(qpath)
        if not isinstance(doc, dict) or not doc:
            raise HarnessError(f"{qpath}: expected a non-empty JSON object keyed by question id")
        for qid, entry in doc.items():
            require_keys(entry, QUESTION_KEYS, f"{qpath} [{qid!r}]")
        items = list(doc.items())
        n_total = len(items)
        items = self.limited(items)
        images = self.path("images")
        samples = [
            Sample(
                qid,
                e["imageId"],
                image_path=str(inside(images, f"{e['imageId']}.jpg", str(qpath))),
                question=e["question"],
            )
            for qid, e in items
        ]
        self.answers = {qid: e["answer"] for qid, e in items}
        self.dataset_info.update(
            source="official",
            files={str(qpath.relative_to(self.root)): file_sha256(qpath)},
            split=split,
            n_total=n_total,
            n_samples=len(samples),
            n_images=len({s.image_id for s in samples}),
        )
        return samples

    def drop(self, sample_ids: set) -> None:
        self.answers = {q: a for q, a in self.answers.items() if q not in sample_ids}

    def official_predictions(self, samples: list[Sample], outputs: list[str]) -> list[dict[str, Any]]:
        return [
            {"question_id": s.sample_id, "answer": self.postprocess(o)} for s, o in zip(samples, outputs, strict=True)
        ]

    def score(self, predictions: list[dict[str, Any]]) -> dict[str, Any]:
        from harness.scoring.gqa import score_gqa

        result = score_gqa(self.answers, predictions, self.protocol.scorer)
        lo, hi = result.pop("ci95")
        return {
            "task": self.name,
            "scorer": result["scorer"],
            "n": result["n"],
            "metrics": {"exact_match": round(result["exact_match"], 2)},
            "ci95": {"exact_match": [round(lo, 2), round(hi, 2)]},
            "raw": result,
        }
