"""Zero-shot VQAv2 (BLIP-2 Table 2): official question/annotation JSON + COCO images, or the lmms-lab Hub mirror."""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError
from harness.io import read_json
from tasks.base import Sample, Task, file_sha256, inside, require_keys

QUESTION_KEYS = ("image_id", "question", "question_id")
ANNOTATION_KEYS = ("question_id", "image_id", "answer_type", "question_type", "answers")


def split_counts(questions: list[dict], annotations: list[dict]) -> dict[str, Any]:
    """What the data manifest checks, over the whole split before any limit (conf/manifest/<task>.yaml)."""
    per_question = [len(a["answers"] or []) for a in annotations]
    return {
        "questions": len(questions),
        "images": len({q["image_id"] for q in questions}),
        "answers": sum(per_question),
        "answers_per_question": sorted(set(per_question)),
    }


class VQAv2Task(Task):
    name = "vqav2"
    kind = "vqa"

    def load(self) -> list[Sample]:
        if self.cfg.source == "hf":
            questions, annotations, samples = self._load_hf()
        elif self.cfg.source == "official":
            questions, annotations, samples = self._load_official()
        else:
            raise HarnessError(f"task.source={self.cfg.source!r}: choose official or hf")
        self.dataset_info["counts"] = split_counts(questions, annotations)
        if self.protocol.limit is not None:
            samples = self.limited(samples)
            keep = {s.sample_id for s in samples}
            questions = [q for q in questions if q["question_id"] in keep]
            annotations = [a for a in annotations if a["question_id"] in keep]
        self.questions, self.annotations = questions, annotations
        self.dataset_info["n_samples"] = len(samples)
        self.dataset_info["n_images"] = len({s.image_id for s in samples})
        return samples

    def _load_official(self) -> tuple[list[dict], list[dict], list[Sample]]:
        qpath, apath = self.path("questions"), self.path("annotations")
        if not qpath.exists():
            raise HarnessError(
                f"{qpath}: {self.name} questions file not found; run `make data TASK={self.name}` or set DATA_ROOT "
                f"(expected layout: <data_root>/{self.cfg.files.questions})"
            )
        qdoc, adoc = read_json(qpath), read_json(apath)
        require_keys(qdoc, ("questions", "data_subtype"), str(qpath))
        require_keys(adoc, ("annotations",), str(apath))
        subtype = qdoc["data_subtype"]
        if subtype != self.protocol.split:
            raise HarnessError(
                f"{qpath}: data_subtype is {subtype!r} but protocol {self.protocol.name} needs split "
                f"{self.protocol.split!r} (wrong split file)"
            )
        for i, q in enumerate(qdoc["questions"]):
            require_keys(q, QUESTION_KEYS, f"{qpath} questions[{i}]")
        by_qid = {}
        for i, a in enumerate(adoc["annotations"]):
            require_keys(a, ANNOTATION_KEYS, f"{apath} annotations[{i}]")
            by_qid[a["question_id"]] = a
        missing = [q["question_id"] for q in qdoc["questions"] if q["question_id"] not in by_qid]
        if missing:
            raise HarnessError(
                f"{apath}: no annotation for {len(missing)} question(s) of {qpath.name}, e.g. {missing[:5]}"
            )
        images = self.path("images")
        samples = [
            Sample(
                sample_id=q["question_id"],
                image_id=q["image_id"],
                image_path=str(inside(images, f"COCO_{subtype}_{q['image_id']:012d}.jpg", str(qpath))),
                question=q["question"],
            )
            for q in qdoc["questions"]
        ]
        annotations = [by_qid[q["question_id"]] for q in qdoc["questions"]]
        self.dataset_info.update(
            source="official",
            files={
                str(qpath.relative_to(self.root)): file_sha256(qpath),
                str(apath.relative_to(self.root)): file_sha256(apath),
            },
            split=subtype,
            n_total=len(qdoc["questions"]),
        )
        return qdoc["questions"], annotations, samples

    def _load_hf(self) -> tuple[list[dict], list[dict], list[Sample]]:
        from harness.data.datasets_hf import load_rows

        rows, info = load_rows(self.cfg.hf.repo, self.cfg.hf.split, self.cfg.hf.revision, self.protocol.limit)
        questions, annotations, samples = [], [], []
        for i, row in enumerate(rows):
            require_keys(row, ("question_id", "question", "image_id", "answers", "image"), f"{info['id']} row {i}")
            qid = int(row["question_id"])
            questions.append({"question_id": qid, "image_id": row["image_id"], "question": row["question"]})
            annotations.append(
                {
                    "question_id": qid,
                    "image_id": row["image_id"],
                    "answer_type": row.get("answer_type"),
                    "question_type": row.get("question_type"),
                    "answers": row["answers"],
                }
            )
            image = row["image"]
            samples.append(
                Sample(
                    qid,
                    row["image_id"],
                    image_bytes=image["bytes"] if isinstance(image, dict) else image,
                    question=row["question"],
                )
            )
        self.dataset_info.update(source="hf", **info)
        return questions, annotations, samples

    def drop(self, sample_ids: set) -> None:
        self.questions = [q for q in self.questions if q["question_id"] not in sample_ids]
        self.annotations = [a for a in self.annotations if a["question_id"] not in sample_ids]

    def official_predictions(self, samples: list[Sample], outputs: list[str]) -> list[dict[str, Any]]:
        return [
            {"question_id": s.sample_id, "answer": self.postprocess(o)} for s, o in zip(samples, outputs, strict=True)
        ]

    def score(self, predictions: list[dict[str, Any]]) -> dict[str, Any]:
        from harness.scoring.vqa import score_vqa

        scorer = self.protocol.scorer
        result = score_vqa(self.questions, self.annotations, predictions, scorer=scorer)
        metrics = {"vqa_acc": result["overall"]}
        metrics.update({f"vqa_acc[{t}]": v for t, v in sorted(result["perAnswerType"].items())})
        lo, hi = result.pop("ci95")["overall"]
        return {
            "task": self.name,
            "scorer": scorer,
            "n": result["n"],
            "metrics": metrics,
            "ci95": {"vqa_acc": [round(lo, 2), round(hi, 2)]},
            "raw": result,
        }
