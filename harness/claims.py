"""The claims registry: load `claims/*.yaml`, validate, look claims up, say which are runnable.

`python -m harness.claims --csv` lists every claim; `--matrix` prints the runnable (task, model, protocol)
triples as a GitHub Actions matrix; `--update-lock` / `--check-lock` maintain `claims/<name>.lock.json` (see
claim_lock.py). A claim is runnable when its task is implemented (conf/task), a public checkpoint has a model
config (conf/model, matched by HF id) and its protocol has a config (conf/protocol); the rest are records,
cited but not reproduced.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import yaml

from harness import config
from harness.errors import HarnessError, cli_main
from harness.report.csvsafe import safe_cell
from harness.verdict.claim_schema import HEADLINE_METRIC, SOURCE_KINDS, STRENGTHS, Claim, validate_claim

CLAIMS_DIR = Path(os.environ.get("HARNESS_CLAIMS_DIR", Path(__file__).resolve().parent / "claims_data"))
CSV_COLUMNS = ("claim_id", "paper", "source_kind", "table", "row", "column", "page", "cell", "checkpoint",
               "model_config", "task", "split", "metric", "value", "protocol", "strength",
               "protocol_evidence", "usable", "runnable", "not_runnable_because")
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def registry_files(directory: str | Path | None = None) -> list[Path]:
    return sorted(Path(directory or CLAIMS_DIR).glob("*.yaml"))


def load_file(path: Path) -> list[Claim]:
    """Parse and validate one registry file (ids unique within it)."""
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER)
    except FileNotFoundError:
        raise HarnessError(f"{path}: file not found") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise HarnessError(f"{path}: malformed YAML{where}: {getattr(err, 'problem', err)}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("claims"), list):
        raise HarnessError(f"{path}: expected a top-level `claims:` list")
    return [validate_claim(raw, str(path), i) for i, raw in enumerate(doc["claims"])]


@lru_cache(maxsize=8)
def _load_cached(files: tuple[tuple[str, int], ...]) -> tuple[Claim, ...]:
    claims: list[Claim] = []
    seen: dict[str, Claim] = {}
    for name, _mtime in files:
        for claim in load_file(Path(name)):
            if claim.id in seen:
                first = seen[claim.id]
                raise HarnessError(f"{claim.file}: claim {claim.id}: duplicate id (first in {first.file})")
            seen[claim.id] = claim
            claims.append(claim)
    return tuple(claims)


def load_registry(directory: str | Path | None = None) -> list[Claim]:
    """All claims of all registry files, validated, ids unique across files (cached until a file changes)."""
    files = registry_files(directory)
    if not files:
        raise HarnessError(f"{directory or CLAIMS_DIR}: no claims registry (*.yaml) found")
    return list(_load_cached(tuple((str(p), p.stat().st_mtime_ns) for p in files)))


def get_claim(claim_id: str, claims: Iterable[Claim] | None = None) -> Claim:
    claims = list(claims) if claims is not None else load_registry()
    for claim in claims:
        if claim.id == claim_id:
            return claim
    raise HarnessError(f"unknown claim '{claim_id}'; list them with `python -m harness.claims --csv`")


@lru_cache(maxsize=1)
def _model_configs() -> dict[str, str]:
    """HF checkpoint id -> conf/model name (real checkpoints only: a tiny model never stands for a row)."""
    out: dict[str, str] = {}
    for name in config.available("model"):
        data = yaml.safe_load((config.CONF_DIR / "model" / f"{name}.yaml").read_text(encoding="utf-8")) or {}
        if not data.get("tiny") and data.get("checkpoint"):
            out.setdefault(str(data["checkpoint"]), name)
    return out


def model_config_for(checkpoint: str | None) -> str | None:
    return _model_configs().get(checkpoint) if checkpoint else None


def not_runnable_because(claim: Claim) -> str | None:
    """None when the claim can be reproduced here; otherwise the first missing piece, in words."""
    if not claim.usable:
        return f"marked unusable: {claim.warning}"
    if claim.checkpoint is None:
        return "no public checkpoint"
    if claim.task not in config.available("task"):
        return f"task {claim.task} not implemented (no conf/task/{claim.task}.yaml)"
    if model_config_for(claim.checkpoint) is None:
        return f"no conf/model config for checkpoint {claim.checkpoint}"
    if not claim.protocol or claim.protocol not in config.available("protocol"):
        return f"no protocol config conf/protocol/{claim.protocol}.yaml"
    return None


def is_runnable(claim: Claim) -> bool:
    return not_runnable_because(claim) is None


def candidates(task: str, protocol: str, checkpoint: str | None, metrics: Iterable[str] = (),
               claims: Iterable[Claim] | None = None) -> list[Claim]:
    """Usable claims for a run's task and protocol, best first.

    Order: same checkpoint as the run; the paper before secondary sources before the reference implementation;
    runnable before records; stronger transcription (Table 2's 2T before Table 1's repeat, 2T(p)); a metric
    the run measured; the task's headline metric; registry order.
    """
    measured = set(metrics)
    pool = [c for c in (claims if claims is not None else load_registry())
            if c.usable and c.task == task and c.protocol == protocol]
    return sorted(pool, key=lambda c: (
        c.checkpoint != checkpoint,
        SOURCE_KINDS.index(c.source_kind),
        not is_runnable(c),
        STRENGTHS.index(c.strength),
        bool(measured) and c.metric not in measured,
        c.metric != HEADLINE_METRIC.get(c.kind),
        c.index,
    ))


def csv_rows(claims: Iterable[Claim]) -> list[list[str]]:
    rows = []
    for c in claims:
        why = not_runnable_because(c)
        values = [c.id, c.paper, c.source_kind, c.table, c.row, c.column, c.page, c.cell, c.checkpoint,
                  model_config_for(c.checkpoint), c.task, c.split, c.metric, repr(c.value), c.protocol,
                  c.strength, c.protocol_evidence, c.usable, why is None, why]
        rows.append([safe_cell(v) for v in values])
    return rows


def matrix(claims: Iterable[Claim]) -> dict[str, list[dict[str, str]]]:
    """GitHub Actions `strategy.matrix`: the runnable (task, model, protocol) triples and their claims."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for c in claims:
        if is_runnable(c):
            key = (c.task, str(model_config_for(c.checkpoint)), str(c.protocol))
            groups.setdefault(key, []).append(c.id)
    return {"include": [{"task": t, "model": m, "protocol": p, "claims": " ".join(ids)}
                        for (t, m, p), ids in sorted(groups.items())]}


def main(argv: list[str] | None = None) -> int:
    from harness.verdict import claim_lock

    parser = argparse.ArgumentParser(prog="python -m harness.claims", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--csv", action="store_true", help="print every claim as CSV")
    group.add_argument("--matrix", action="store_true", help="runnable claims as a GitHub Actions matrix")
    group.add_argument("--check-lock", action="store_true", help="fail if a claim changed without the lock")
    group.add_argument("--update-lock", action="store_true", help="rewrite the lock after a reviewed change")
    parser.add_argument("--claims-dir", default=None, help=f"registry folder (default {CLAIMS_DIR})")
    args = parser.parse_args(argv)
    claims = load_registry(args.claims_dir)
    if args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(csv_rows(claims))
    elif args.matrix:
        print(json.dumps(matrix(claims)))
    elif args.check_lock:
        problems = claim_lock.check(registry_files(args.claims_dir))
        if problems:
            raise HarnessError(f"{len(problems)} claim(s) differ from the lock; first: {problems[0]}")
        print(f"lock ok: {len(claims)} claims")
    else:
        for path in claim_lock.update(registry_files(args.claims_dir)):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main))
