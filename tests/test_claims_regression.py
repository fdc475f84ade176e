"""CI regression on reported scores.

1. The claims lock: no claim's value (or printed cell) changed without its source fields changing, and the
   lock is in sync with the registry (`python -m harness.claims --update-lock` after a reviewed change).
2. Every committed run record under results/runs/ that has a verdict: re-judged today, its verdict must not be
   worse, its protocol must still match the claim's (no drift in conf/ or the claim), and its provenance
   fingerprint must still hash its recorded protocol. With no committed records the parametrized test collects
   as skipped.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from claim_runs import make_run, vqa_metrics

from harness.claims import load_file, registry_files
from harness.errors import HarnessError
from harness.io import read_json, write_json
from harness.judge import judge_run
from harness.protocol import protocol_fingerprint
from harness.verdict import claim_lock

REPO = Path(__file__).resolve().parents[1]
RANK = {"reproduced": 3, "partial": 2, "not_reproduced": 1, "refused": 0, "no_claim": 0}


def committed_run_dirs() -> list[Path]:
    """Run folders with a verdict.json that git tracks (gitignored tiny-model runs never count)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "results/runs"], cwd=REPO, capture_output=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    files = [f for f in out.stdout.decode().split("\0") if f.endswith("/verdict.json")]
    return sorted(REPO / Path(f).parent for f in files)


def regressions(run_dir: Path) -> list[str]:
    """What got worse since the committed verdict was written (empty: nothing)."""
    stored = read_json(run_dir / "verdict.json")
    if stored.get("status") == "no_claim":
        return []
    fresh = judge_run(run_dir, stored.get("claim_id"), write=False)
    problems = []
    if RANK[fresh["status"]] < RANK[stored["status"]]:
        problems.append(f"verdict regressed: {stored['status']} -> {fresh['status']} ({fresh['reason']})")
    if stored.get("protocol_match") in ("exact", "proxy") and fresh["protocol_match"] == "mismatch":
        problems.append(f"protocol drifted from the claim's on: {', '.join(fresh['mismatch_axes'])}")
    if stored.get("expected_fingerprint") != fresh["expected_fingerprint"]:
        problems.append("the claim's expected protocol changed since the run was judged (conf/ or claims/)")
    if fresh["reported"] != stored.get("reported"):
        problems.append(f"claim value changed: {stored.get('reported')} -> {fresh['reported']}")
    prov = read_json(run_dir / "provenance.json")
    if protocol_fingerprint(prov["protocol"]) != prov.get("protocol_fingerprint"):
        problems.append("provenance.json protocol no longer matches its fingerprint (record edited?)")
    return problems


def test_claims_lock_is_in_sync():
    assert claim_lock.check(registry_files()) == []


def test_every_claim_is_locked():
    locked = read_json(claim_lock.lock_path(registry_files()[0]))["claims"]
    assert set(locked) == {c.id for c in load_file(registry_files()[0])}


def _copy_registry(tmp_path: Path) -> Path:
    source = registry_files()[0]
    shutil.copy(source, tmp_path / source.name)
    shutil.copy(claim_lock.lock_path(source), tmp_path / claim_lock.lock_path(source).name)
    return tmp_path / source.name


def _edit(path: Path, claim_id: str, **changes: object) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    next(c for c in doc["claims"] if c["id"] == claim_id).update(changes)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path.write_text(yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True), encoding="utf-8")


def test_silent_value_edit_is_caught_and_cannot_be_locked(tmp_path):
    path = _copy_registry(tmp_path)
    _edit(path, "T2.g-opt2.7b.vqav2-val", value=53.6, cell="53.6")
    (problem,) = claim_lock.check([path])
    assert "T2.g-opt2.7b.vqav2-val" in problem and claim_lock.VALUE_WITHOUT_SOURCE in problem
    with pytest.raises(HarnessError, match="refusing to lock"):
        claim_lock.update([path])


def test_value_edit_with_its_source_can_be_locked(tmp_path):
    path = _copy_registry(tmp_path)
    _edit(path, "T2.g-opt2.7b.vqav2-val", value=53.6, cell="53.6", note="re-read from the v3 PDF, p. 6")
    assert "value and source changed" in claim_lock.check([path])[0]
    claim_lock.update([path])
    assert claim_lock.check([path]) == []


@pytest.mark.parametrize("run_dir", committed_run_dirs(), ids=lambda p: str(p.relative_to(REPO)))
def test_committed_run_record_has_not_regressed(run_dir):
    assert regressions(run_dir) == []


def test_regression_check_catches_drift_on_a_synthetic_record(tmp_path):
    run_dir = make_run(tmp_path, ["model=blip2-opt-2.7b", "task=vqav2"], vqa_metrics(53.6))
    judge_run(run_dir)
    assert regressions(run_dir) == []
    stored = read_json(run_dir / "verdict.json")
    write_json(run_dir / "verdict.json", {**stored, "expected_fingerprint": "0" * 16})
    assert any("expected protocol changed" in p for p in regressions(run_dir))
    prov = read_json(run_dir / "provenance.json")
    prov["protocol"]["decoding"]["length_penalty"] = 0.0
    write_json(run_dir / "provenance.json", prov)
    found = regressions(run_dir)
    assert any("protocol drifted" in p for p in found) and any("verdict regressed" in p for p in found)
