"""The claims lock: a committed hash per claim, so a printed number cannot drift silently.

`claims/<name>.lock.json` keeps, per claim id, the value and printed cell, a hash of its source fields (where
it is printed and how well it was transcribed) and a hash of its spec (checkpoint, task, split, metric,
protocol). A value or cell that changes while the source fields stay the same is a silent edit of a paper's
number: `check` reports it and `update` refuses to lock it. Any other change is legitimate once reviewed:
`python -m harness.claims --update-lock`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.io import read_json, write_json
from harness.verdict.claim_schema import SOURCE_FIELDS, SPEC_FIELDS, Claim

VALUE_WITHOUT_SOURCE = "value changed without its source changing"


def lock_path(registry: Path) -> Path:
    return registry.with_name(registry.stem + ".lock.json")


def _digest(claim: Claim, names: tuple[str, ...]) -> str:
    blob = json.dumps({k: getattr(claim, k) for k in names}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def entry(claim: Claim) -> dict[str, Any]:
    return {"value": claim.value, "cell": claim.cell, "source": _digest(claim, SOURCE_FIELDS),
            "spec": _digest(claim, SPEC_FIELDS)}


def compare(claims: list[Claim], locked: dict[str, dict[str, Any]]) -> list[str]:
    """Differences between the registry and its lock, one line each (empty: in sync)."""
    problems = []
    current = {c.id: entry(c) for c in claims}
    for cid, now in current.items():
        then = locked.get(cid)
        if then is None:
            problems.append(f"{cid}: new claim, not in the lock")
            continue
        if (now["value"], now["cell"]) != (then.get("value"), then.get("cell")):
            same_source = now["source"] == then.get("source")
            what = VALUE_WITHOUT_SOURCE if same_source else "value and source changed"
            problems.append(f"{cid}: {what} ({then.get('value')} -> {now['value']}, cell '{now['cell']}')")
        elif now["source"] != then.get("source"):
            problems.append(f"{cid}: source fields changed")
        if now["spec"] != then.get("spec"):
            problems.append(f"{cid}: checkpoint/task/split/metric/protocol changed")
    gone = sorted(set(locked) - set(current))
    problems += [f"{cid}: in the lock but no longer in the registry" for cid in gone]
    return problems


def _read_lock(registry: Path) -> dict[str, dict[str, Any]]:
    path = lock_path(registry)
    return read_json(path).get("claims", {}) if path.exists() else {}


def check(registries: list[Path]) -> list[str]:
    from harness.claims import load_file

    problems = []
    for registry in registries:
        problems += [f"{registry.name}: {p}" for p in compare(load_file(registry), _read_lock(registry))]
    return problems


def update(registries: list[Path]) -> list[Path]:
    """Rewrite the locks; refuses while any value changed without its source changing."""
    from harness.claims import load_file

    written = []
    for registry in registries:
        claims = load_file(registry)
        silent = [p for p in compare(claims, _read_lock(registry)) if VALUE_WITHOUT_SOURCE in p]
        if silent:
            raise HarnessError(f"{registry}: refusing to lock: {silent[0]}; re-read the source and record it "
                               "(page, strength or note) along with the value")
        path = lock_path(registry)
        write_json(path, {"registry": registry.name, "claims": {c.id: entry(c) for c in claims}})
        written.append(path)
    return written
