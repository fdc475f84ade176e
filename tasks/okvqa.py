"""Zero-shot OK-VQA (BLIP-2 Table 2 "OK-VQA test" = OK-VQA val2014, 5,046 questions over COCO val2014 images).

The files are in the VQA format, so loading and the official accuracy are VQAv2's. What differs is the answer
post-processing: LAVIS's only OK-VQA config (`okvqa_zeroshot_flant5xl_eval.yaml`) sets `apply_lemmatizer`, and
OK-VQA v1.1 ground-truth answers are themselves stemmed, so the protocols lemmatize predictions with spaCy.
"""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError
from tasks.base import Sample
from tasks.vqav2 import VQAv2Task


class OKVQATask(VQAv2Task):
    name = "okvqa"
    kind = "vqa"

    def score(self, predictions: list[dict[str, Any]]) -> dict[str, Any]:
        out = super().score(predictions)
        out["raw"]["lemmatizer"] = None
        if self.protocol.postprocess.lemmatize:
            from harness.text import lemmatizer_info

            out["raw"]["lemmatizer"] = lemmatizer_info()
        return out

    def _load_hf(self) -> tuple[list[dict], list[dict], list[Sample]]:
        raise HarnessError(
            "okvqa: task.source=hf is not implemented (lmms-lab/OK-VQA has string question ids and plain-string "
            "answers without answer_id); use the official files: task.source=official"
        )
