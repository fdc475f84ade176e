"""COCO captioning on the Karpathy test split (BLIP-2 Table 3 COCO columns: 5,000 val2014 images, 25,010 refs).

Source: Karpathy's `dataset_coco.json` (`split == "test"`); image_id = `cocoid` (the COCO id, as LAVIS's
`coco_karpathy_test_gt.json`); references = the `raw` sentences (5-7 per image); images
`<images>/<filepath>/<filename>` (e.g. `val2014/COCO_val2014_000000391895.jpg`).
"""

from __future__ import annotations

from tasks.base import Sample, file_sha256, inside, require_keys
from tasks.captioning import CaptionTask

ENTRY_KEYS = ("filepath", "filename", "cocoid", "split", "sentences")


class CocoCaptionTask(CaptionTask):
    name = "coco_caption"

    def load(self) -> list[Sample]:
        self.require_official_source("lmms-lab/COCO-Caption is all of val2014, not the Karpathy test split")
        kpath, entries = self.karpathy_entries("COCO", ENTRY_KEYS)
        n_total = len(entries)
        entries = self.limited(entries)
        images = self.path("images")
        samples, annotations = [], []
        for i, e in enumerate(entries):
            iid = e["cocoid"]
            where = f"{kpath} images[{i}]"
            samples.append(Sample(iid, iid, image_path=str(inside(images, f"{e['filepath']}/{e['filename']}", where))))
            for j, sent in enumerate(e["sentences"]):
                require_keys(sent, ("raw",), f"{where}.sentences[{j}]")
                annotations.append({"image_id": iid, "id": len(annotations), "caption": sent["raw"]})
        self.references = {"images": [{"id": s.image_id} for s in samples], "annotations": annotations}
        self.dataset_info.update(
            source="official",
            files={str(kpath.relative_to(self.root)): file_sha256(kpath)},
            split=self.protocol.split,
            n_total=n_total,
            n_samples=len(samples),
            n_references=len(annotations),
        )
        return samples
