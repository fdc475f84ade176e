"""Never lose generated work: append outputs per batch, resume an unfinished run with the same key.

Outputs go to `predictions.partial.jsonl` as each batch finishes (flushed and fsync'd), one line per sample with
its index and id. Re-running the same command finds the unfinished run folder by its resume key (protocol
fingerprint + data fingerprint), skips the samples already done, and ends with exactly the predictions an
uninterrupted run gives: batching does not change outputs (tested), so order and content are the same.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

PARTIAL = "predictions.partial.jsonl"


def resume_key(protocol_fp: str, dataset_info: dict[str, Any]) -> str:
    blob = json.dumps({"protocol": protocol_fp, "data": dataset_info}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def find_unfinished(model_dir: Path, key: str) -> Path | None:
    """The newest run folder under `results/runs/<task>/<model>/` with this key that did not complete."""
    if not model_dir.is_dir():
        return None
    for run_dir in sorted(model_dir.iterdir(), reverse=True):
        prov = run_dir / "provenance.json"
        try:
            record = json.loads(prov.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if record.get("resume_key") == key and record.get("status") != "complete":
            return run_dir
    return None


class PartialPredictions:
    """Append-only log of raw outputs; a line cut short by a crash (only the last can be) is dropped."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / PARTIAL

    def load(self, sample_ids: list[Any]) -> dict[int, str]:
        if not self.path.exists():
            return {}
        done: dict[int, str] = {}
        lines = self.path.read_text(encoding="utf-8").split("\n")
        for lineno, line in enumerate(lines, 1):
            if not line:
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                if lineno == len(lines):
                    break
                raise HarnessError(
                    f"{self.path}: malformed line {lineno} (not the last); move the file away"
                ) from None
            i = item["index"]
            if i >= len(sample_ids) or sample_ids[i] != item["sample_id"]:
                raise HarnessError(
                    f"{self.path}: line {lineno} is sample {item['sample_id']} at index {i}, which does not match "
                    "the data now loaded; the data changed since the interrupted run"
                )
            done[i] = item["output"]
        self._truncate_partial_tail()
        return done

    def _truncate_partial_tail(self) -> None:
        """Cut an incomplete last line so later appends start on a fresh line."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with self.path.open("r+b") as fh:
                fh.truncate(keep)

    def append(self, items: list[tuple[int, Any, str]]) -> None:
        text = "".join(
            json.dumps({"index": i, "sample_id": sid, "output": out}, ensure_ascii=False) + "\n"
            for i, sid, out in items
        )
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
