"""`python -m harness.tables --table 2|3 [--models a,b] [--data-root DIR]`: reproduce one paper table.

The table's rows, columns and printed values come from the claims registry (source_kind paper, that table).
Every selected model (default: the table's rows that have a public checkpoint and a model config) runs every
column task the harness implements, through the same compose + run as `make reproduce`, one after another (a
plain loop, not Hydra multirun: each run needs its own protocol name, which depends on the model's family).
A finished run with the same resolved model/task/protocol config is reused unless `--fresh`; a run that fails
with a user error is recorded in its cells and the loop goes on. Then each cell is judged against its claim
and the table is written side by side (paper, measured, CI, verdict) to results/tables/table<N>.{csv,md}.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from harness import config
from harness.claims import load_registry, model_config_for
from harness.errors import HarnessError, cli_main
from harness.io import read_json
from harness.verdict.claim_schema import Claim

COMPARED = ("model", "task", "protocol")  # config sections that decide whether a finished run can be reused


@dataclass
class TableSpec:
    table: str
    claims: list[Claim]
    rows: list[str]
    columns: list[str]
    column_task: dict[str, str]

    def tasks(self) -> list[str]:
        """Column tasks the harness can run, in column order."""
        implemented = set(config.available("task"))
        return list(dict.fromkeys(t for t in self.column_task.values() if t in implemented))

    def models(self) -> list[str]:
        """Model configs of the table's rows, in row order (rows without a public checkpoint have none)."""
        found = (model_config_for(c.checkpoint) for c in self.claims if c.task in self.tasks())
        return list(dict.fromkeys(m for m in found if m))


@dataclass
class RunRecord:
    model: str
    task: str
    run_dir: Path | None = None
    reused: bool = False
    error: str | None = None
    protocol: str | None = None
    checkpoint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def table_spec(table: str) -> TableSpec:
    claims = [c for c in load_registry() if c.source_kind == "paper" and c.table == str(table)]
    if not claims:
        known = sorted({c.table for c in load_registry() if c.source_kind == "paper"})
        raise HarnessError(f"no paper claims for table {table!r} in the registry; tables: {', '.join(known)}")
    column_task: dict[str, str] = {}
    for c in claims:
        if column_task.setdefault(c.column, c.task) != c.task:
            raise HarnessError(
                f"{c.file}: claim {c.id}: column {c.column!r} mixes tasks {column_task[c.column]}, {c.task}"
            )
    rows = list(dict.fromkeys(c.row for c in claims))
    return TableSpec(str(table), claims, rows, list(column_task), column_task)


def _sections(cfg: Any) -> dict[str, Any]:
    return {k: OmegaConf.to_container(cfg[k], resolve=True) for k in COMPARED}


def find_finished(cfg: Any) -> Path | None:
    """The newest complete run under results/runs/<task>/<model>/ whose config matches `cfg` on COMPARED."""
    model_dir = Path(cfg.results_dir) / "runs" / cfg.task.name / cfg.model.name
    want = _sections(cfg)
    for run_dir in sorted(model_dir.glob("*"), reverse=True):
        if not (run_dir / "metrics.json").is_file() or not (run_dir / "config.yaml").is_file():
            continue
        try:
            prov = read_json(run_dir / "provenance.json")
            old = OmegaConf.load(run_dir / "config.yaml")
        except (HarnessError, OSError, ValueError):
            continue
        if prov.get("status") == "complete" and all(k in old for k in COMPARED) and _sections(old) == want:
            return run_dir
    return None


def run_all(spec: TableSpec, models: list[str], overrides: list[str], fresh: bool = False) -> list[RunRecord]:
    """Every model x column task, reusing finished runs; a HarnessError is recorded, not raised."""
    from harness.run import run  # after HF_HUB_OFFLINE is settled (transformers reads it at import)

    records = []
    for model in models:
        for task in spec.tasks():
            rec = RunRecord(model, task)
            try:
                cfg = config.compose([f"model={model}", f"task={task}", *overrides])
                rec.protocol, rec.checkpoint = cfg.protocol.name, cfg.model.checkpoint
                found = None if fresh else find_finished(cfg)
                rec.run_dir, rec.reused = (found, True) if found else (run(cfg), False)
            except HarnessError as err:
                rec.error = str(err)
                print(f"error: {model} / {task}: {err}", file=sys.stderr)
            records.append(rec)
            state = "error" if rec.error else "reused" if rec.reused else "ran"
            print(f"table {spec.table}: {model} / {task}: {state} {rec.run_dir or ''}".rstrip())
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.tables", description=__doc__.splitlines()[0])
    parser.add_argument("--table", required=True, help="paper table number (2 or 3)")
    parser.add_argument("--models", default="", help="comma-separated conf/model names (default: the table's rows)")
    parser.add_argument("--protocol", default="paper", help="paper (default) | lavis, expanded per model family")
    parser.add_argument("--data-root", default="data", help="task.data_root for every run")
    parser.add_argument("--results-dir", default="results", help="runs, leaderboards and tables go here")
    parser.add_argument("--limit", type=int, default=None, help="first N samples per task (a sample-size proxy)")
    parser.add_argument("--fresh", action="store_true", help="re-run even when a finished run matches")
    parser.add_argument("--render-only", action="store_true", help="judge and render the runs already there")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run (key=value)")
    args = parser.parse_args(argv)
    spec = table_spec(args.table)
    models = [m.strip() for m in args.models.split(",") if m.strip()] or spec.models()
    unknown = [m for m in models if m not in config.available("model")]
    if unknown:
        raise HarnessError(
            f"--models: unknown model(s) {', '.join(unknown)}; choices: {', '.join(config.available('model'))}"
        )
    if all(m.startswith("tiny-") for m in models):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tiny models are built offline; never probe the Hub
    overrides = [
        f"protocol={args.protocol}",
        f"task.data_root={args.data_root}",
        f"results_dir={args.results_dir}",
        *([f"protocol.limit={args.limit}"] if args.limit else []),
        *args.overrides,
    ]
    if args.render_only:
        records = [RunRecord(m, t) for m in models for t in spec.tasks()]
        for rec in records:
            cfg = config.compose([f"model={rec.model}", f"task={rec.task}", *overrides])
            rec.protocol, rec.checkpoint = cfg.protocol.name, cfg.model.checkpoint
            rec.run_dir = find_finished(cfg)
            rec.error = None if rec.run_dir else "no finished run with this config (run without --render-only)"
    else:
        records = run_all(spec, models, overrides, args.fresh)
    from harness.report.table_render import write_table

    csv_path, md_path, markdown = write_table(spec, records, Path(args.results_dir))
    print(markdown)
    print(f"wrote {csv_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main))
