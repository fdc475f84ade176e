"""NoCaps val (BLIP-2 Table 3 NoCaps columns: the COCO-fine-tuned models, zero-shot transfer, 4,500 images).

Source: the official `nocaps_val_4500_captions.json` (COCO format; `images[].domain` is in-domain / near-domain
/ out-domain; 10 references per image); image_id = `images[].id`; images `<images>/<file_name>`. Metrics: the
full set (`CIDEr`, `SPICE`, ...) and each domain scored as its own corpus (`CIDEr[in-domain]`, ...; see
`harness.scoring.caption_subsets`). Domain counts are read from the file, never assumed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from harness.errors import HarnessError
from harness.io import read_json
from tasks.base import Sample, file_sha256, inside, require_keys
from tasks.captioning import CaptionTask, scaled

DOMAINS = ("in-domain", "near-domain", "out-domain")


class NoCapsTask(CaptionTask):
    name = "nocaps"

    def load(self) -> list[Sample]:
        self.require_official_source("lmms-lab/NoCaps has no `domain` column")
        apath = self.path("annotations")
        if not apath.exists():
            raise HarnessError(
                f"{apath}: NoCaps annotation file not found; set DATA_ROOT "
                f"(expected layout: <data_root>/{self.cfg.files.annotations})"
            )
        if not apath.name.startswith(f"nocaps_{self.protocol.split}_"):
            raise HarnessError(
                f"{apath}: protocol {self.protocol.name} needs the NoCaps {self.protocol.split!r} file "
                f"(nocaps_{self.protocol.split}_*.json)"
            )
        doc = read_json(apath)
        require_keys(doc, ("images", "annotations"), str(apath))
        for i, img in enumerate(doc["images"]):
            require_keys(img, ("id", "file_name", "domain"), f"{apath} images[{i}]")
            if img["domain"] not in DOMAINS:
                raise HarnessError(f"{apath} images[{i}]: domain {img['domain']!r} is not one of {', '.join(DOMAINS)}")
        entries = doc["images"]
        n_total = len(entries)
        entries = self.limited(entries)
        images = self.path("images")
        samples = [
            Sample(e["id"], e["id"], image_path=str(inside(images, e["file_name"], f"{apath} images[{i}]")))
            for i, e in enumerate(entries)
        ]
        keep = {e["id"] for e in entries}
        annotations = []
        for i, ann in enumerate(doc["annotations"]):
            require_keys(ann, ("image_id", "caption"), f"{apath} annotations[{i}]")
            if ann["image_id"] in keep:
                annotations.append({"image_id": ann["image_id"], "id": len(annotations), "caption": ann["caption"]})
        self.domain_of = {e["id"]: e["domain"] for e in entries}
        self.references = {"images": [{"id": s.image_id} for s in samples], "annotations": annotations}
        self.dataset_info.update(
            source="official",
            files={str(apath.relative_to(self.root)): file_sha256(apath)},
            split=self.protocol.split,
            n_total=n_total,
            n_samples=len(samples),
            n_references=len(annotations),
            domains_in_file=dict(sorted(Counter(e["domain"] for e in doc["images"]).items())),
            domains=dict(sorted(Counter(self.domain_of.values()).items())),
        )
        return samples

    def score(self, predictions: list[dict[str, Any]]) -> dict[str, Any]:
        from harness.scoring.caption import score_captions
        from harness.scoring.caption_subsets import score_caption_subsets

        raw = score_captions(self.references, predictions)
        metrics, ci95 = scaled(raw)
        kept = [i["id"] for i in self.references["images"]]
        subsets = {d: [i for i in kept if self.domain_of[i] == d] for d in DOMAINS}
        subsets = {d: ids for d, ids in subsets.items() if ids}
        spice = raw["per_image"].get("SPICE")
        per_domain = score_caption_subsets(self.references, predictions, subsets, spice)
        for domain, result in per_domain.items():
            m, c = scaled(result, f"[{domain}]")
            metrics.update(m)
            ci95.update(c)
        doc = self.metrics_doc(predictions, raw, metrics, ci95, per_domain=per_domain)
        doc["n_per_domain"] = {d: len(ids) for d, ids in subsets.items()}
        return doc
