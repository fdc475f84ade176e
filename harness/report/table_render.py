"""A paper table side by side with what was measured: one line per (row, column) cell, as CSV and Markdown.

Paper rows keep the registry's labels; a selected model that stands for no paper row (a tiny test model, a
checkpoint outside the table) gets its own row, judged against the column's claim for its protocol, which
the judge then refuses on the model axis. Cells of rows that were not run say why (no public checkpoint,
model not selected). A test-dev run waiting for EvalAI's scores is `pending`, never a number.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from harness.claims import is_runnable, model_config_for, not_runnable_because
from harness.errors import HarnessError
from harness.io import atomic_write_text
from harness.judge import judge, load_run
from harness.report.csvsafe import safe_cell
from harness.verdict.claim_schema import Claim

COLUMNS = (
    "table",
    "row",
    "column",
    "model",
    "claim_id",
    "metric",
    "paper",
    "measured",
    "ci95_lo",
    "ci95_hi",
    "delta",
    "verdict",
    "protocol_match",
    "confidence",
    "run_dir",
    "reason",
)
LEGEND = (
    "verdicts: reproduced / partial / not_reproduced (judged against the claim); refused (protocol "
    "mismatch, e.g. a tiny model, or not judgeable); pending (submission written, EvalAI score not yet "
    "attached); not_run; error"
)


def _cell(claim: Claim, row: str, model: str | None, rec: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "table": claim.table,
        "row": row,
        "column": claim.column,
        "model": model,
        "claim_id": claim.id,
        "metric": claim.metric,
        "paper": claim.value,
    }
    if rec is None:
        why = not_runnable_because(claim)
        return {**line, "verdict": "not_run", "reason": f"not runnable: {why}" if why else "model not selected"}
    if rec.error or rec.run_dir is None:
        return {**line, "verdict": "error", "reason": rec.error or "no run"}
    try:
        run = load_run(rec.run_dir)
        verdict = judge(claim, run)
    except HarnessError as err:
        return {**line, "verdict": "error", "reason": str(err), "run_dir": str(rec.run_dir)}
    status, reason = verdict["status"], verdict["reason"]
    if run["metrics"].get("needs_external_scoring") and reason.startswith("metric "):
        status, reason = (
            "pending",
            f"needs EvalAI scoring: python -m harness.attach_scores {rec.run_dir} --evalai RESULT.json",
        )
    measured, ci = verdict.get("measured"), verdict.get("ci95")
    if measured is None:  # refused before measuring: still show what the run measured (under its own protocol)
        measured = run["metrics"].get("metrics", {}).get(claim.metric)
        ci = run["metrics"].get("ci95", {}).get(claim.metric)
    ci = ci or [None, None]
    return {
        **line,
        "measured": measured,
        "ci95_lo": ci[0],
        "ci95_hi": ci[1],
        "delta": verdict.get("delta"),
        "verdict": status,
        "protocol_match": verdict.get("protocol_match"),
        "confidence": verdict.get("confidence"),
        "run_dir": str(rec.run_dir),
        "reason": reason,
    }


def cells(spec: Any, records: list[Any]) -> list[dict[str, Any]]:
    """Paper rows in registry order (claims in column order), then one row per extra model."""
    by_key = {(r.model, r.task): r for r in records}
    order = {c: i for i, c in enumerate(spec.columns)}
    lines = []
    paper_models = set()
    for row in spec.rows:
        for claim in sorted((c for c in spec.claims if c.row == row), key=lambda c: order[c.column]):
            model = model_config_for(claim.checkpoint)
            paper_models.add(model)
            lines.append(_cell(claim, row, model, by_key.get((model, claim.task))))
    for model in dict.fromkeys(r.model for r in records if r.model not in paper_models):
        for column in spec.columns:
            rec = by_key.get((model, spec.column_task[column]))
            if rec is None:
                continue
            pool = [c for c in spec.claims if c.column == column and c.protocol == rec.protocol]
            if not pool:
                lines.append(
                    {
                        "table": spec.table,
                        "row": model,
                        "column": column,
                        "model": model,
                        "verdict": "no_claim",
                        "reason": f"no claim in this column under protocol {rec.protocol}",
                    }
                )
                continue
            claim = min(pool, key=lambda c: (c.checkpoint != rec.checkpoint, not is_runnable(c), c.index))
            lines.append(_cell(claim, model, model, rec))
    return lines


def render_csv(lines: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([safe_cell(line.get(c)) for c in COLUMNS] for line in lines)
    return out.getvalue()


def _md(value: Any) -> str:
    if value is None:
        return ""
    text = f"{value:.2f}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(spec: Any, lines: list[dict[str, Any]]) -> str:
    out = [
        f"# BLIP-2 (arXiv 2301.12597v3) Table {spec.table}: paper vs measured",
        "",
        f"Paper values from the claims registry; {LEGEND}. Details per cell: table{spec.table}.csv.",
        "",
        "| Row | Column | Paper | Measured | 95% CI | Verdict | Claim | Why |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for line in lines:
        ci = f"[{line['ci95_lo']:.2f}, {line['ci95_hi']:.2f}]" if line.get("ci95_lo") is not None else ""
        cells_ = (
            line["row"],
            line["column"],
            line.get("paper"),
            line.get("measured"),
            ci,
            line["verdict"],
            line.get("claim_id"),
            line.get("reason"),
        )
        out.append("| " + " | ".join(_md(c) for c in cells_) + " |")
    return "\n".join(out) + "\n"


def write_table(spec: Any, records: list[Any], results_dir: Path) -> tuple[Path, Path, str]:
    lines = cells(spec, records)
    out_dir = Path(results_dir) / "tables"
    csv_path, md_path = out_dir / f"table{spec.table}.csv", out_dir / f"table{spec.table}.md"
    markdown = render_markdown(spec, lines)
    atomic_write_text(csv_path, render_csv(lines))
    atomic_write_text(md_path, markdown)
    return csv_path, md_path, markdown
