"""`results/leaderboard/<task>.csv` and `.png`, rebuilt from every finished run folder.

`python -m harness.leaderboard [--results-dir results] [--task T ...]`; the pipeline calls `rebuild` after
each run. A rebuild reads all runs of a task (so it is idempotent: same runs, same bytes), holds a file lock
while it writes (two runs finishing together queue instead of interleaving), and replaces each file atomically
(temp + rename), so a reader never sees half a leaderboard. Text cells are escaped against spreadsheet formula
injection (csvsafe.py).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from harness.errors import HarnessError, cli_main
from harness.io import atomic_write_bytes, atomic_write_text, read_json
from harness.report.csvsafe import safe_cell
from harness.verdict.claim_schema import HEADLINE_METRIC, KIND_OF_TASK

HEAD = ("run_id", "date", "model", "checkpoint", "protocol", "split", "limit", "n")
TAIL = ("claim_id", "metric", "reported", "measured", "delta", "ci95_lo", "ci95_hi", "rule", "tolerance",
        "protocol_match", "verdict", "confidence", "differing_axes", "protocol_fingerprint")
LOCK_TIMEOUT_S = 300


def run_dirs(results_dir: Path, task: str) -> list[Path]:
    return sorted(p for p in (results_dir / "runs" / task).glob("*/*") if p.is_dir())


def _verdict(run_dir: Path) -> dict[str, Any]:
    """The stored verdict, or (for runs never judged) one computed in memory and never written."""
    if (run_dir / "verdict.json").is_file():
        return read_json(run_dir / "verdict.json")
    from harness.judge import judge_run

    try:
        return judge_run(run_dir, write=False)
    except HarnessError as err:
        print(f"warning: {run_dir}: not judged: {err}", file=sys.stderr)
        return {}


def run_row(run_dir: Path, task: str) -> dict[str, Any] | None:
    """One leaderboard row, or None for a folder that is not a finished run (a broken one also warns)."""
    if not (run_dir / "metrics.json").is_file() or not (run_dir / "provenance.json").is_file():
        return None
    try:
        metrics, prov = read_json(run_dir / "metrics.json"), read_json(run_dir / "provenance.json")
        if not isinstance(metrics, dict) or not isinstance(prov, dict):
            raise HarnessError("metrics.json and provenance.json must be JSON objects")
        if prov.get("status", "complete") != "complete":
            return None
        verdict = _verdict(run_dir)
    except HarnessError as err:
        print(f"warning: skipping {run_dir}: {err}", file=sys.stderr)
        return None
    protocol = prov.get("protocol") or {}
    values = metrics.get("metrics") or {}
    metric = verdict.get("metric") or HEADLINE_METRIC.get(KIND_OF_TASK.get(task, ""), "")
    ci = verdict.get("ci95") or (metrics.get("ci95") or {}).get(metric) or [None, None]
    tolerance = verdict.get("tolerance") or {}
    return {
        "run_id": prov.get("run_id") or run_dir.name,
        "date": prov.get("started_at"),
        "model": protocol.get("model", {}).get("name") or run_dir.parent.name,
        "checkpoint": protocol.get("model", {}).get("checkpoint"),
        "protocol": protocol.get("name"),
        "split": protocol.get("data", {}).get("split"),
        "limit": protocol.get("data", {}).get("limit"),
        "n": metrics.get("n"),
        "metrics": values,
        "claim_id": verdict.get("claim_id"),
        "metric": metric,
        "reported": verdict.get("reported"),
        "measured": verdict["measured"] if verdict.get("measured") is not None else values.get(metric),
        "delta": verdict.get("delta"),
        "ci95_lo": ci[0],
        "ci95_hi": ci[1],
        "rule": tolerance.get("rule"),
        "tolerance": tolerance.get("reproduced") if tolerance.get("rule") == "full_split" else None,
        "protocol_match": verdict.get("protocol_match"),
        "verdict": verdict.get("status"),
        "confidence": verdict.get("confidence"),
        "differing_axes": " ".join(verdict.get("differing_axes") or []),
        "protocol_fingerprint": prov.get("protocol_fingerprint"),
    }


def task_rows(results_dir: Path, task: str) -> list[dict[str, Any]]:
    rows = [row for d in run_dirs(results_dir, task) if (row := run_row(d, task)) is not None]
    return sorted(rows, key=lambda r: (str(r["date"] or ""), str(r["run_id"])))


def render_csv(rows: list[dict[str, Any]]) -> str:
    """Columns: run identity, every metric any run reported (sorted), then the claim and its verdict."""
    metric_names = sorted({name for row in rows for name in row["metrics"]})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([safe_cell(c) for c in (*HEAD, *metric_names, *TAIL)])
    for row in rows:
        cells = [row[c] for c in HEAD] + [row["metrics"].get(m) for m in metric_names]
        cells += [row[c] for c in TAIL]
        writer.writerow([safe_cell(c) for c in cells])
    return out.getvalue()


def _write_bytes_if_changed(path: Path, data: bytes) -> None:
    if not (path.is_file() and path.read_bytes() == data):
        atomic_write_bytes(path, data)


def _write_text_if_changed(path: Path, text: str) -> None:
    if not (path.is_file() and path.read_text(encoding="utf-8") == text):
        atomic_write_text(path, text)


def rebuild(results_dir: Path, tasks: list[str] | None = None) -> list[Path]:
    """Rebuild the leaderboards of `tasks` (default: every task with a runs folder); returns the files."""
    from harness.report.leaderboard_plot import render_png

    results_dir = Path(results_dir)
    runs = results_dir / "runs"
    if tasks is None:
        tasks = sorted(p.name for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    out_dir = results_dir / "leaderboard"
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        with FileLock(str(out_dir / ".leaderboard.lock"), timeout=LOCK_TIMEOUT_S):
            for task in tasks:
                rows = task_rows(results_dir, task)
                _write_text_if_changed(out_dir / f"{task}.csv", render_csv(rows))
                _write_bytes_if_changed(out_dir / f"{task}.png", render_png(task, rows))
                written += [out_dir / f"{task}.csv", out_dir / f"{task}.png"]
    except Timeout:
        message = f"{out_dir}: leaderboard locked by another process for {LOCK_TIMEOUT_S} s"
        raise HarnessError(message) from None
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.leaderboard",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results", help="folder holding runs/ (default: results)")
    parser.add_argument("--task", action="append", dest="tasks", help="only this task (repeatable)")
    args = parser.parse_args(argv)
    for path in rebuild(Path(args.results_dir), args.tasks):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main))
