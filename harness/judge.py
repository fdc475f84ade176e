"""`python -m harness.judge RUN_DIR [--claim ID]`: does this run reproduce the number the source printed?

The verdict is one of `reproduced`, `partial`, `not_reproduced` (judged), `refused` (the run's protocol is not
the claim's on an axis that matters, or the claim cannot be judged from this run) and `no_claim`. A mismatch
is always refused: a number measured under another protocol is never published as a reproduction. The verdict
is printed as JSON and written to RUN_DIR/verdict.json; the pipeline calls `judge_run` at the end of every
run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.claims import candidates, get_claim, load_registry, not_runnable_because
from harness.errors import HarnessError, cli_main
from harness.io import read_json, write_json
from harness.verdict.claim_schema import Claim
from harness.verdict.match import Match, match_protocol
from harness.verdict.tolerance import confidence, full_split_status, subset_status, tolerance_for

NO_CLAIM_HINTS = {
    "flickr30k": "the BLIP-2 paper prints no Flickr30K caption number and none exists for BLIP-2 OPT; "
                 "the only claims are InstructBLIP's FlanT5 baselines, judged under "
                 "protocol=flickr30k-instructblip-t5",
}


def load_run(run_dir: str | Path) -> dict[str, Any]:
    """The run folder's records; a folder that is not a finished run is a one-line error."""
    path = Path(run_dir)
    if not path.is_dir():
        raise HarnessError(f"{path}: not a run folder (no such directory)")
    for name in ("metrics.json", "provenance.json"):
        if not (path / name).is_file():
            raise HarnessError(f"{path}: not a run folder ({name} missing; has the run finished?)")
    provenance = read_json(path / "provenance.json")
    protocol = provenance.get("protocol") if isinstance(provenance, dict) else None
    if not isinstance(protocol, dict):
        raise HarnessError(f"{path / 'provenance.json'}: no resolved `protocol` section")
    metrics = read_json(path / "metrics.json")
    if not isinstance(metrics, dict):
        raise HarnessError(f"{path / 'metrics.json'}: expected a JSON object")
    config = None
    if (path / "config.yaml").is_file():
        try:
            config = OmegaConf.to_container(OmegaConf.load(path / "config.yaml"), resolve=False)
        except (OmegaConfBaseException, ValueError) as err:
            raise HarnessError(f"{path / 'config.yaml'}: unreadable ({str(err).splitlines()[0]})") from None
    return {"dir": path, "metrics": metrics, "provenance": provenance,
            "protocol": protocol, "config": config}


def choose_claim(run: dict[str, Any]) -> Claim | None:
    protocol = run["protocol"]
    found = candidates(protocol.get("data", {}).get("task"), protocol.get("name"),
                       protocol.get("model", {}).get("checkpoint"), run["metrics"].get("metrics") or {})
    return found[0] if found else None


def _run_info(run: dict[str, Any]) -> dict[str, Any]:
    protocol, provenance = run["protocol"], run["provenance"]
    return {
        "run_id": provenance.get("run_id") or run["dir"].name,
        "task": protocol.get("data", {}).get("task"),
        "model": protocol.get("model", {}).get("name"),
        "checkpoint": protocol.get("model", {}).get("checkpoint"),
        "protocol": protocol.get("name"),
        "protocol_fingerprint": provenance.get("protocol_fingerprint"),
        "started_at": provenance.get("started_at"),
    }


def _claim_info(claim: Claim) -> dict[str, Any]:
    keys = ("paper", "source_kind", "table", "row", "column", "page", "cell", "checkpoint", "task", "split",
            "protocol", "strength", "protocol_evidence", "source_ref", "note")
    return {k: getattr(claim, k) for k in keys}


def _verdict(status: str, reason: str, run: dict[str, Any], claim: Claim | None = None,
             match: Match | None = None, **fields: Any) -> dict[str, Any]:
    verdict: dict[str, Any] = {
        "status": status,
        "reason": reason,
        "claim_id": claim.id if claim else None,
        "protocol_match": match.status if match else None,
        "differing_axes": match.axes() if match else [],
        "mismatch_axes": match.axes("mismatch") if match else [],
        "proxy_axes": match.axes("proxy") if match else [],
        "metric": claim.metric if claim else None,
        "reported": claim.value if claim else None,
        "measured": None, "ci95": None, "delta": None, "tolerance": None, "confidence": None,
        "n": run["metrics"].get("n"), "full_split_n": claim.full_split_n if claim else None, "subset": None,
    }
    verdict.update(fields)
    verdict["claim"] = _claim_info(claim) if claim else None
    verdict["run"] = _run_info(run)
    verdict["differences"] = match.to_dict() if match else []
    verdict["expected_fingerprint"] = match.expected_fingerprint if match else None
    verdict["run_claim_fingerprint"] = match.run_fingerprint if match else None
    verdict["notes"] = match.notes if match else []
    return verdict


def judge(claim: Claim, run: dict[str, Any]) -> dict[str, Any]:
    """Protocol match first (a mismatch is refused), then the subset-CI or full-split tolerance rule."""
    why = not_runnable_because(claim)
    if why:
        return _verdict("refused", f"claim {claim.id} cannot be judged: {why}", run, claim)
    recorded = run["provenance"].get("model")
    recorded = recorded if isinstance(recorded, dict) else None
    match = match_protocol(claim, run["protocol"], run["config"], recorded)
    measured = (run["metrics"].get("metrics") or {}).get(claim.metric)
    if match.status == "mismatch":
        axes = ", ".join(match.axes("mismatch"))
        shown = {"measured": measured, "ci95": (run["metrics"].get("ci95") or {}).get(claim.metric)}
        return _verdict("refused", f"protocol mismatch on: {axes} (measured shown, not compared)", run, claim, match,
                        **shown)
    if not isinstance(measured, int | float):
        reason = f"metric {claim.metric} not in metrics.json"
        if run["metrics"].get("needs_external_scoring"):
            how = (run["metrics"].get("raw") or {}).get("how_to_score", "attach the server's scores")
            reason = f"awaiting external scoring ({how}); judge again afterwards"
        return _verdict("refused", reason, run, claim, match)
    n, full = run["metrics"].get("n"), claim.full_split_n
    data = run["protocol"].get("data", {})
    subset = (data.get("limit") is not None or bool(data.get("skipped_sample_ids"))
              or (None not in (n, full) and n < full))
    ci = (run["metrics"].get("ci95") or {}).get(claim.metric)
    tol = tolerance_for(claim.task, claim.metric)
    half = claim.print_half_unit
    rule = {"rule": "subset_ci" if subset else "full_split", "reproduced": tol.reproduced,
            "partial": tol.partial, "print_half_unit": half, "basis": tol.basis}
    fields = {"measured": measured, "ci95": ci, "delta": round(measured - claim.value, 4), "tolerance": rule,
              "subset": subset}
    if subset and not ci:
        reason = f"subset run without a 95% CI for {claim.metric}"
        return _verdict("refused", reason, run, claim, match, **fields)
    if subset:
        status = subset_status(claim.value, (ci[0], ci[1]), half)
        where = "inside" if status == "reproduced" else "outside"
        reason = f"subset of {n}: reported {claim.value} {where} the 95% CI"
    else:
        status = full_split_status(measured - claim.value, tol)
        size = abs(fields["delta"])
        reason = f"full split: |delta| {size} vs tolerance {tol.reproduced} (partial {tol.partial})"
    level = confidence(claim.strength, claim.protocol_evidence, match.axes("proxy"), n, subset)
    return _verdict(status, reason, run, claim, match, confidence=level, **fields)


def judge_run(run_dir: str | Path, claim_id: str | None = None, write: bool = True) -> dict[str, Any]:
    """Judge a run folder against `claim_id` (default: the best claim for its task and protocol).

    Writes RUN_DIR/verdict.json unless `write=False` (the leaderboard and the regression tests only read).
    """
    run = load_run(run_dir)
    claim = get_claim(claim_id, load_registry()) if claim_id else choose_claim(run)
    if claim is None:
        task, protocol = _run_info(run)["task"], _run_info(run)["protocol"]
        reason = f"no claim for task {task} under protocol {protocol}"
        hint = NO_CLAIM_HINTS.get(str(task))
        verdict = _verdict("no_claim", f"{reason}; {hint}" if hint else reason, run)
    else:
        verdict = judge(claim, run)
    if write:
        write_json(Path(run_dir) / "verdict.json", verdict)
    return verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.judge", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", metavar="RUN_DIR", help="results/runs/<task>/<model>/<run-id>")
    parser.add_argument("--claim", default=None, help="claim id (default: the best claim for the run)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave verdict.json as it is")
    args = parser.parse_args(argv)
    verdict = judge_run(args.run_dir, args.claim, write=not args.no_write)
    print(json.dumps(verdict, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main))
