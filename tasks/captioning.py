"""What the caption benchmarks share: one caption per image, official COCO-format references, pycocoevalcap.

Predictions are `[{"image_id", "caption"}]`; `metrics.json` puts pycocoevalcap's 0-1 scores x100 (the paper's
scale) under `metrics` and the raw scorer output under `raw`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.io import read_json
from tasks.base import Sample, Task, require_keys


def scaled(raw: dict[str, Any], suffix: str = "") -> tuple[dict[str, float], dict[str, list[float]]]:
    """(metrics x100 rounded to 2 decimals, CIs x100) from a pycocoevalcap result; keys get `suffix`."""
    metrics = {f"{k}{suffix}": round(100 * v, 2) for k, v in raw.items() if isinstance(v, float) and k[0].isupper()}
    ci95 = {f"{k}{suffix}": [round(100 * lo, 2), round(100 * hi, 2)] for k, (lo, hi) in raw.get("ci95", {}).items()}
    return metrics, ci95


class CaptionTask(Task):
    kind = "caption"
    references: dict[str, list[dict[str, Any]]]

    def karpathy_entries(self, dataset: str, keys: tuple[str, ...]) -> tuple[Path, list[dict[str, Any]]]:
        """Entries of the protocol's split from a Karpathy split file (COCO and Flickr30K share the format)."""
        kpath = self.path("karpathy")
        if not kpath.exists():
            raise HarnessError(
                f"{kpath}: Karpathy {dataset} split file not found; run `make data TASK={self.name}` or set DATA_ROOT "
                f"(expected layout: <data_root>/{self.cfg.files.karpathy})"
            )
        doc = read_json(kpath)
        require_keys(doc, ("images",), str(kpath))
        entries = []
        for i, img in enumerate(doc["images"]):
            require_keys(img, keys, f"{kpath} images[{i}]")
            if img["split"] == self.protocol.split:
                entries.append(img)
        if not entries:
            raise HarnessError(f"{kpath}: no image has split {self.protocol.split!r}")
        return kpath, entries

    def drop(self, sample_ids: set) -> None:
        self.references = {
            "images": [i for i in self.references["images"] if i["id"] not in sample_ids],
            "annotations": [a for a in self.references["annotations"] if a["image_id"] not in sample_ids],
        }

    def official_predictions(self, samples: list[Sample], outputs: list[str]) -> list[dict[str, Any]]:
        return [{"image_id": s.image_id, "caption": self.postprocess(o)} for s, o in zip(samples, outputs, strict=True)]

    def score(self, predictions: list[dict[str, Any]]) -> dict[str, Any]:
        from harness.scoring.caption import score_captions

        raw = score_captions(self.references, predictions)
        return self.metrics_doc(predictions, raw, *scaled(raw))

    def metrics_doc(
        self, predictions: list[dict[str, Any]], raw: dict[str, Any], metrics: dict, ci95: dict, **extra_raw: Any
    ) -> dict[str, Any]:
        """`metrics.json` content; pycocoevalcap's per-image scores stay out (they are only for CIs/subsets)."""
        return {
            "task": self.name,
            "scorer": self.protocol.scorer,
            "n": len(predictions),
            "metrics": metrics,
            "ci95": ci95,
            "raw": {**{k: v for k, v in raw.items() if k != "per_image"}, **extra_raw},
        }
