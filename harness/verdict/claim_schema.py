"""What a claim is, and the vocabulary it may use (tasks, splits, metrics, source strengths).

A claim is a number some source printed, plus everything needed to test it. The vocabulary is closed on
purpose: a claim whose `metric` is not a key the scorers write to `metrics.json` could never be judged, and a
typo in a task or split would silently never match a run. Validation errors are one line naming the file and
the claim id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError

# task -> {split as the claim uses it: number of scored items in the full split (None: count at prepare time)}
TASK_SPLITS: dict[str, dict[str | None, int | None]] = {
    "vqav2": {"val2014": 214_354},
    "vqav2_testdev": {"test-dev2015": 107_394},
    "vqav2_teststd": {"test-std2015": None},
    "okvqa": {"val2014": 5_046},
    "gqa": {"testdev_balanced": None},
    "coco_caption": {"test": 5_000},
    "nocaps": {"val": 4_500},
    "flickr30k": {"test": 1_000},
    "flickr30k_retrieval": {"test": 1_000},
    "coco_retrieval": {"test": 5_000},
    "none": {None: None},
}
KIND_OF_TASK = {
    "vqav2": "vqa", "vqav2_testdev": "vqa", "vqav2_teststd": "vqa", "okvqa": "vqa", "gqa": "gqa",
    "coco_caption": "caption", "nocaps": "caption", "flickr30k": "caption",
    "flickr30k_retrieval": "retrieval", "coco_retrieval": "retrieval", "none": "params",
}
_CAPTION = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE")
_DOMAINS = ("in-domain", "near-domain", "out-domain")
METRICS_OF_KIND: dict[str, tuple[str, ...]] = {
    "vqa": ("vqa_acc", "vqa_acc[yes/no]", "vqa_acc[number]", "vqa_acc[other]"),
    "gqa": ("exact_match",),
    "caption": _CAPTION + tuple(f"{m}[{d}]" for m in ("CIDEr", "SPICE") for d in _DOMAINS),
    "retrieval": tuple(f"{side}_r{k}" for side in ("txt", "img") for k in (1, 5, 10)),
    "params": ("params_trainable_M", "params_total_B"),
}
HEADLINE_METRIC = {"vqa": "vqa_acc", "gqa": "exact_match", "caption": "CIDEr", "retrieval": "txt_r1"}
SOURCE_KINDS = ("paper", "secondary", "reference_implementation")  # preference order when choosing a claim
STRENGTHS = ("2T", "2T(p)", "1T", "D", "R")
EVIDENCE = ("documented", "weak")

REQUIRED = ("id", "paper", "source_kind", "table", "row", "column", "cell", "checkpoint", "task", "split",
            "metric", "value", "protocol", "strength")
OPTIONAL = ("page", "note", "source_ref", "protocol_evidence", "usable", "warning")
# Fields that say where a number comes from; a value (and its printed cell) may only change together with one
# of them (claim_lock.py): re-reading the PDF should leave a trace (page, strength, note).
SOURCE_FIELDS = ("paper", "source_kind", "table", "row", "column", "page", "strength", "note", "source_ref")
SPEC_FIELDS = ("checkpoint", "task", "split", "metric", "protocol", "protocol_evidence", "usable", "warning")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    source_kind: str
    table: str
    row: str
    column: str
    cell: str
    checkpoint: str | None
    task: str
    split: str | None
    metric: str
    value: float
    protocol: str | None
    strength: str
    page: int | None = None
    note: str | None = None
    source_ref: str | None = None
    protocol_evidence: str = "documented"
    usable: bool = True
    warning: str | None = None
    file: str = ""
    index: int = 0

    @property
    def kind(self) -> str:
        return KIND_OF_TASK[self.task]

    @property
    def full_split_n(self) -> int | None:
        return TASK_SPLITS[self.task][self.split]

    @property
    def print_half_unit(self) -> float:
        """Half a unit of the last printed digit: a printed 53.5 stands for any value in [53.45, 53.55)."""
        for text in _NUMBER.findall(self.cell):
            if abs(float(text) - self.value) < 1e-9:
                decimals = len(text.split(".")[1]) if "." in text else 0
                return 0.5 * 10.0 ** (-decimals)
        return 0.0

    def fields(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in REQUIRED + OPTIONAL}


def _fail(file: str, cid: str, message: str) -> HarnessError:
    return HarnessError(f"{file}: claim {cid}: {message}")


def _check_vocab(raw: dict[str, Any], file: str, cid: str) -> None:
    task, split, metric = raw["task"], raw["split"], raw["metric"]
    if task not in TASK_SPLITS:
        raise _fail(file, cid, f"unknown task '{task}' (known: {', '.join(TASK_SPLITS)})")
    if split not in TASK_SPLITS[task]:
        known = ", ".join(str(s) for s in TASK_SPLITS[task])
        raise _fail(file, cid, f"unknown split '{split}' for task {task} (known: {known})")
    allowed = METRICS_OF_KIND[KIND_OF_TASK[task]]
    if metric not in allowed:
        raise _fail(file, cid, f"unknown metric '{metric}' for task {task} (known: {', '.join(allowed)})")
    for key, choices in (("source_kind", SOURCE_KINDS), ("strength", STRENGTHS)):
        if raw[key] not in choices:
            raise _fail(file, cid, f"unknown {key} '{raw[key]}' (known: {', '.join(choices)})")
    evidence = raw.get("protocol_evidence", "documented")
    if evidence not in EVIDENCE:
        raise _fail(file, cid, f"unknown protocol_evidence '{evidence}' (known: {', '.join(EVIDENCE)})")


def _check_value(raw: dict[str, Any], file: str, cid: str) -> float:
    value = raw["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(file, cid, f"value must be a number, got {value!r}")
    printed = [float(x) for x in _NUMBER.findall(str(raw["cell"]))]
    if not any(abs(x - value) < 1e-9 for x in printed):
        raise _fail(file, cid, f"value {value} does not appear in the printed cell '{raw['cell']}'")
    return float(value)


def validate_claim(raw: Any, file: str, index: int) -> Claim:
    """Check one raw YAML entry and build the `Claim`; every problem is one line naming the file and claim."""
    if not isinstance(raw, dict):
        raise HarnessError(f"{file}: claim #{index + 1}: expected a mapping, got {type(raw).__name__}")
    cid = str(raw.get("id") or f"#{index + 1} (no id)")
    for key in REQUIRED:
        if key not in raw:
            raise _fail(file, cid, f"missing field '{key}'")
    unknown = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise _fail(file, cid, f"unknown field(s) {', '.join(unknown)}")
    for key in ("id", "paper", "table", "row", "column", "cell"):
        if not isinstance(raw[key], str | int) or not str(raw[key]).strip():
            raise _fail(file, cid, f"field '{key}' must be a non-empty string")
    _check_vocab(raw, file, cid)
    value = _check_value(raw, file, cid)
    if raw.get("usable", True) is False and not raw.get("warning"):
        raise _fail(file, cid, "usable: false needs a `warning` saying why")
    if raw["checkpoint"] is not None and raw["task"] != "none" and not raw["protocol"]:
        raise _fail(file, cid, "a claim with a checkpoint must name its protocol")
    kwargs = {k: raw[k] for k in REQUIRED + OPTIONAL if k in raw}
    kwargs.update(id=str(raw["id"]), table=str(raw["table"]), cell=str(raw["cell"]), value=value)
    return Claim(**kwargs, file=file, index=index)
