"""Committed data manifests (`conf/manifest/<task>.yaml`) and the data-axis label of what a run or a data root holds.

A number is only comparable with the paper's if it was measured on the paper's split, all of it. The manifest
states what that split contains (counts per split, checksums where known); `classify` compares what a loader
observed with it and returns one label, so a truncated file, a minival or a test file renamed as val can never pass
as the real split:

- `full`: every count equals the manifest's (and every pinned checksum matches);
- `subset`: no count above the manifest's, at least one below (a proxy on the data axis);
- `wrong_split`: the split is not in the manifest, a count exceeds it, a per-item count differs (e.g. not 10
  answers per question) or the counts are another listed split's (a mismatch);
- `altered`: counts equal, a pinned checksum differs (a mismatch: same shape, other content);
- `unverified`: no manifest for this task, or no count both stated and observed (never treated as exact).

Manifests live under conf/ so the wheel ships them with the Hydra configs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.config import CONF_DIR
from harness.errors import HarnessError

LABELS = ("full", "subset", "wrong_split", "altered", "unverified")
MISMATCH = ("wrong_split", "altered")


@dataclass(frozen=True)
class Verdict:
    """A data-axis label and the reasons behind it, one line each."""

    label: str
    reasons: list[str] = field(default_factory=list)


def manifest_path(task: str) -> Path:
    return CONF_DIR / "manifest" / f"{task}.yaml"


def load_manifest(task: str) -> dict[str, Any] | None:
    """The committed manifest of `task`, or None if it has none."""
    path = manifest_path(task)
    if not path.is_file():
        return None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise HarnessError(f"{path}: malformed YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("splits"), dict):
        raise HarnessError(f"{path}: a manifest needs a `splits` mapping")
    return doc


def require_manifest(task: str) -> dict[str, Any]:
    doc = load_manifest(task)
    if doc is None:
        raise HarnessError(f"task {task} has no data manifest ({manifest_path(task)}); nothing to fetch or verify")
    return doc


def _compare(split: str, want: dict[str, Any], got: dict[str, Any]) -> tuple[bool, bool, list[str]]:
    """(any count above, any count below, reasons) for the counts the manifest states."""
    above = below = False
    reasons = []
    for key, expected in want.items():
        if expected is None or key not in got:
            continue
        observed = got[key]
        if isinstance(expected, list):
            if sorted(observed) != sorted(expected):
                above = True
                reasons.append(f"{key} {observed} (manifest {split}: {expected})")
        elif observed > expected:
            above = True
            reasons.append(f"{observed:,} {key}, more than {split} has ({expected:,})")
        elif observed < expected:
            below = True
            reasons.append(f"{observed:,} of {expected:,} {key}")
    return above, below, reasons


def _other_split(manifest: dict[str, Any], split: str, counts: dict[str, Any]) -> str | None:
    """The name of another listed split whose stated counts the observed ones equal exactly."""
    for name, want in manifest["splits"].items():
        stated = {k: v for k, v in (want or {}).items() if v is not None and not isinstance(v, list)}
        if name != split and stated and all(counts.get(k) == v for k, v in stated.items()):
            return name
    return None


def classify(
    manifest: dict[str, Any] | None,
    split: str,
    counts: dict[str, Any] | None,
    hashes: dict[str, str] | None = None,
) -> Verdict:
    """Label observed `counts` of `split` (and file `hashes` by role) against a task manifest."""
    if manifest is None:
        return Verdict("unverified", ["no data manifest for this task"])
    if not counts:
        return Verdict("unverified", ["the loader reported no counts"])
    want = manifest["splits"].get(split)
    if want is None:
        return Verdict("wrong_split", [f"split {split!r} is not in the manifest ({', '.join(manifest['splits'])})"])
    if not any(v is not None and k in counts for k, v in want.items()):
        return Verdict("unverified", [f"the manifest states no count for split {split!r} that the loader reports"])
    other = _other_split(manifest, split, counts)
    if other:
        return Verdict("wrong_split", [f"counts are those of split {other!r}, not {split!r}"])
    above, below, reasons = _compare(split, want, counts)
    if above:
        return Verdict("wrong_split", reasons)
    if below:
        return Verdict("subset", reasons)
    altered = [
        f"{role} sha256 {hashes[role][:12]}… != pinned {spec['sha256'][:12]}…"
        for role, spec in (manifest.get("files") or {}).items()
        if (spec or {}).get("sha256") and hashes and role in hashes and hashes[role] != spec["sha256"]
    ]
    return Verdict("altered", altered) if altered else Verdict("full")


def unpinned_roles(manifest: dict[str, Any]) -> list[str]:
    """File roles whose checksum is not recorded yet (the tools print the observed one for a maintainer to pin)."""
    return [role for role, spec in (manifest.get("files") or {}).items() if not (spec or {}).get("sha256")]
