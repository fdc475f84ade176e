"""Flickr30K captioning on the Karpathy 1K test split; image_id = the numeric filename stem (as LAVIS)."""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError
from tasks.base import Sample, file_sha256, inside, require_keys
from tasks.captioning import CaptionTask

HEADLINE = ("Bleu_4", "METEOR", "ROUGE_L", "CIDEr")


def image_id_of(filename: str, where: str) -> int:
    stem = Path(filename).stem
    if not stem.isdigit():
        raise HarnessError(f"{where}: filename {filename!r} has no numeric stem (Flickr30K image ids are stems)")
    return int(stem)


class Flickr30kTask(CaptionTask):
    name = "flickr30k"

    def load(self) -> list[Sample]:
        if self.cfg.source not in ("official", "hf"):
            raise HarnessError(f"task.source={self.cfg.source!r}: choose official or hf")
        kpath, entries = self.karpathy_entries("Flickr30K", ("filename", "split", "sentences"))
        n_total = len(entries)
        per_image = [len(e["sentences"]) for e in entries]
        counts = {"images": n_total, "captions": sum(per_image), "captions_per_image": sorted(set(per_image))}
        entries = self.limited(entries)
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
        from harness.data.datasets_hf import load_rows

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
