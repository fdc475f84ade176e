"""`<data_root>/MANIFEST.json`: what `make data` fetched and verified, per task (datasets.md §5).

It records, for each task, where every file came from, its sha256 and size, the counts checked and the label
they earned, so a data root can be audited (and re-checked with `make data-check`) long after it was prepared.
One data root serves several tasks: entries are merged under a file lock, each task's replaced whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from filelock import FileLock

from harness.data.datacheck import Report
from harness.data.manifest import manifest_path
from harness.io import read_json, write_json

NAME = "MANIFEST.json"
FORMAT = 1


def read(root: Path) -> dict[str, Any]:
    path = root / NAME
    return read_json(path) if path.is_file() else {"format": FORMAT, "tasks": {}}


def entry(report: Report, downloads: dict[str, Any], hf: dict[str, Any] | None) -> dict[str, Any]:
    committed = manifest_path(report.task)
    return {
        "prepared_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": report.source,
        "manifest": {"file": f"conf/manifest/{committed.name}",
                     "sha256": hashlib.sha256(committed.read_bytes()).hexdigest()},
        "split": report.split,
        "counts": report.counts,
        "manifest_match": report.verdict.label,
        "reasons": report.verdict.reasons,
        "files": report.files,
        "images": report.images,
        "downloads": downloads,
        "hf": hf,
        "unpinned_checksums": report.unpinned,
    }


def record(root: Path, task: str, data: dict[str, Any]) -> Path:
    """Replace `task`'s entry in MANIFEST.json (atomic write, other tasks kept)."""
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{NAME}.lock")):
        doc = read(root)
        doc.setdefault("tasks", {})[task] = data
        write_json(root / NAME, doc)
    return root / NAME


def changed_files(root: Path, task: str, report: Report) -> list[str]:
    """Files whose sha256 differs from what MANIFEST.json recorded when the root was prepared."""
    before = (read(root).get("tasks", {}).get(task) or {}).get("files", {})
    return [rel for rel, now in report.files.items() if rel in before and before[rel]["sha256"] != now["sha256"]]
