"""Flickr30K captioning on the Karpathy 1K test split; image_id = the numeric filename stem (as LAVIS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.io import read_json
from tasks.base import Sample, Task, file_sha256, inside, require_keys

HEADLINE = ("Bleu_4", "METEOR", "ROUGE_L", "CIDEr")


def image_id_of(filename: str, where: str) -> int:
    stem = Path(filename).stem
    if not stem.isdigit():
        raise HarnessError(f"{where}: filename {filename!r} has no numeric stem (Flickr30K image ids are stems)")
    return int(stem)


class Flickr30kTask(Task):
    name = "flickr30k"
    kind = "caption"

    def load(self) -> list[Sample]:
        if self.cfg.source not in ("official", "hf"):
            raise HarnessError(f"task.source={self.cfg.source!r}: choose official or hf")
        kpath = self.path("karpathy")
        if not kpath.exists():
            raise HarnessError(
                f"{kpath}: Karpathy Flickr30K split file not found; run `make data TASK=flickr30k` or set DATA_ROOT "
                f"(expected layout: <data_root>/{self.cfg.files.karpathy})"
            )
        doc = read_json(kpath)
        require_keys(doc, ("images",), str(kpath))
        entries = []
        for i, img in enumerate(doc["images"]):
            require_keys(img, ("filename", "split", "sentences"), f"{kpath} images[{i}]")
            if img["split"] == self.protocol.split:
                entries.append(img)
        if not entries:
            raise HarnessError(f"{kpath}: no image has split {self.protocol.split!r}")
        n_total = len(entries)
        per_image = [len(e["sentences"]) for e in entries]
        counts = {"images": n_total, "captions": sum(per_image), "captions_per_image": sorted(set(per_image))}
        if self.protocol.limit is not None:
            entries = entries[: self.protocol.limit]
        images = self.path("images")
        by_name = self._hf_images({e["filename"] for e in entries}) if self.cfg.source == "hf" else {}
        samples, annotations = [], []
        for i, e in enumerate(entries):
            iid = image_id_of(e["filename"], f"{kpath} images[{i}]")
            if self.cfg.source == "hf":
                samples.append(Sample(iid, iid, image_bytes=by_name[e["filename"]]))
            else:
                samples.append(Sample(iid, iid, image_path=str(inside(images, e["filename"], str(kpath)))))
            for j, sent in enumerate(e["sentences"]):
                require_keys(sent, ("raw",), f"{kpath} images[{i}].sentences[{j}]")
                annotations.append({"image_id": iid, "id": len(annotations), "caption": sent["raw"]})
        self.references = {"images": [{"id": s.image_id} for s in samples], "annotations": annotations}
        self.dataset_info.update(
            source=self.cfg.source,
            files={str(kpath.relative_to(self.root)): file_sha256(kpath)},
            split=self.protocol.split,
            n_total=n_total,
            n_samples=len(samples),
            n_references=len(annotations),
            counts=counts,
        )
        return samples

    def _hf_images(self, names: set[str]) -> dict[str, bytes]:
        """The lmms-lab mirror holds all 31,783 images with no split column: keep the Karpathy test names."""
        from harness.datasets_hf import load_rows

        rows, info = load_rows(self.cfg.hf.repo, self.cfg.hf.split, self.cfg.hf.revision, None)
        found = {}
        for row in rows:
            if row.get("filename") in names:
                image = row["image"]
                found[row["filename"]] = image["bytes"] if isinstance(image, dict) else image
        missing = sorted(names - set(found))
        if missing:
            raise HarnessError(f"{info['id']}: {len(missing)} Karpathy test image(s) missing, e.g. {missing[:5]}")
        self.dataset_info["hf"] = info
        return found

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
        metrics = {k: round(100 * v, 2) for k, v in raw.items() if isinstance(v, float) and k[0].isupper()}
        ci95 = {k: [round(100 * lo, 2), round(100 * hi, 2)] for k, (lo, hi) in raw.get("ci95", {}).items()}
        return {
            "task": self.name,
            "scorer": self.protocol.scorer,
            "n": len(predictions),
            "metrics": metrics,
            "ci95": ci95,
            "raw": {k: v for k, v in raw.items() if k != "per_image"},
        }
