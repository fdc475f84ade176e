"""Check a data root against the committed manifest, with the loader that runs use.

Counting through `tasks/<task>.py` means the check sees exactly what a run would read (the same files, split
filter and schema checks); on top, every image a sample points at must exist. A Hub copy is counted from its
parquet columns instead (loading it through `datasets` would decode every image).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import compose
from harness.data.data_fingerprint import manifest_verdict
from harness.data.manifest import Verdict, classify, require_manifest, unpinned_roles
from harness.errors import HarnessError
from tasks import get_task
from tasks.base import file_sha256


@dataclass
class Report:
    """What a data root holds for one task, and how it compares with the manifest."""

    task: str
    source: str
    split: str
    counts: dict[str, Any]
    verdict: Verdict
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # relpath -> {role, sha256, bytes}
    images: dict[str, Any] = field(default_factory=dict)  # {folder, referenced, missing, examples}
    unpinned: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict.label == "full" and not self.images.get("missing")

    def summary(self) -> str:
        why = f" ({'; '.join(self.verdict.reasons)})" if self.verdict.reasons else ""
        missing = self.images.get("missing", 0)
        pics = f"; {missing:,} of {self.images['referenced']:,} images missing" if missing else ""
        return f"{self.task} [{self.source}] split {self.split}: {self.verdict.label}{why}{pics}"


def task_config(task: str, root: Path) -> Any:
    """The run config of `task` on `root` under its paper protocol (the split the claims use)."""
    return compose([f"task={task}", f"task.data_root={root}"])


def _files(cfg: Any, root: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for role, rel in cfg.task.files.items():
        path = root / rel
        if path.is_file():
            out[rel] = {"role": role, "sha256": file_sha256(path), "bytes": path.stat().st_size}
    return out


def _image_check(paths: set[str], folder: str) -> dict[str, Any]:
    missing = sorted(p for p in paths if not Path(p).is_file())
    return {"folder": folder, "referenced": len(paths), "missing": len(missing), "examples": missing[:5]}


def _load(cfg: Any) -> tuple[list[Any], dict[str, Any]]:
    task = get_task(cfg.task, cfg.protocol)
    return task.load(), task.dataset_info


def check_official(task: str, root: Path) -> Report:
    cfg = task_config(task, root)
    samples, info = _load(cfg)
    images = _image_check({s.image_path for s in samples if s.image_path}, cfg.task.files.get("images", ""))
    return Report(task, "official", cfg.protocol.split, info.get("counts") or {},
                  manifest_verdict(cfg.task, cfg.protocol.split, info), _files(cfg, root), images,
                  unpinned_roles(require_manifest(task)))


def _parquet_files(folder: Path, hf_split: str | None) -> list[Path]:
    files = sorted(p for p in folder.rglob("*.parquet") if hf_split is None or p.name.startswith(f"{hf_split}-"))
    if not files:
        raise HarnessError(f"{folder}: no parquet file for split {hf_split!r} (expected data/{hf_split}-*.parquet)")
    return files


def _vqa_counts(files: list[Path]) -> dict[str, Any]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(files, columns=["question_id", "image_id", "answers"])
    per_question = pc.list_value_length(table["answers"]).fill_null(0)
    return {
        "questions": table.num_rows,
        "images": pc.count_distinct(table["image_id"]).as_py(),
        "answers": pc.sum(per_question).as_py() or 0,
        "answers_per_question": sorted(pc.unique(per_question).to_pylist()),
    }


def check_hf(task: str, root: Path, folder: Path) -> Report:
    """VQA mirrors: count parquet rows. Caption mirrors: the Karpathy file counts; the parquet must hold its images."""
    import pyarrow.parquet as pq

    manifest = require_manifest(task)
    cfg = task_config(task, root)
    split = cfg.protocol.split
    if cfg.task.kind == "vqa":
        hf_split = next((k for k, v in (manifest.get("hf") or {}).get("splits", {}).items() if v == split), split)
        counts = _vqa_counts(_parquet_files(folder, hf_split))
        return Report(task, "hf", split, counts, classify(manifest, split, counts), images={"embedded": True})
    samples, info = _load(cfg)
    names = set(pq.read_table(_parquet_files(folder, None), columns=["filename"])["filename"].to_pylist())
    wanted = {Path(s.image_path).name for s in samples if s.image_path}
    missing = sorted(wanted - names)
    images = {"folder": str(folder), "referenced": len(wanted), "missing": len(missing), "examples": missing[:5]}
    return Report(task, "hf", split, info.get("counts") or {}, manifest_verdict(cfg.task, split, info),
                  _files(cfg, root), images, unpinned_roles(manifest))


def referenced_images(task: str, root: Path) -> set[str]:
    """Absolute paths of every image the task's split points at."""
    samples, _ = _load(task_config(task, root))
    return {s.image_path for s in samples if s.image_path}
