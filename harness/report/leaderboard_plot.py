"""`results/leaderboard/<task>.png`: measured (with its 95% CI) next to the printed claim, one column per run.

Rendered headless (Agg) into bytes with fixed size, DPI and no version metadata, so a rebuild from the same
runs produces the same file and the writer can skip rewriting it.
"""

from __future__ import annotations

import io
from typing import Any

JUDGED = ("reproduced", "partial", "not_reproduced")  # a refused run is not comparable: no paper bar for it
STATUS_COLOURS = {"reproduced": "tab:green", "partial": "tab:orange", "not_reproduced": "tab:red",
                  "refused": "tab:gray", "no_claim": "tab:blue"}


def _num(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def render_png(task: str, rows: list[dict[str, Any]]) -> bytes:
    """One point per run (measured ± CI, coloured by verdict); a bar at the printed value if judged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows) + 2.0), 4.5), dpi=100)
    metrics = sorted({str(r["metric"]) for r in rows if r.get("metric")})
    for x, row in enumerate(rows):
        measured, lo, hi = _num(row.get("measured")), _num(row.get("ci95_lo")), _num(row.get("ci95_hi"))
        reported = _num(row.get("reported"))
        colour = STATUS_COLOURS.get(str(row.get("verdict")), "tab:purple")
        if measured is not None:
            err = [[measured - lo], [hi - measured]] if lo is not None and hi is not None else None
            ax.errorbar([x], [measured], yerr=err, fmt="o", color=colour, capsize=4,
                        label=f"measured ({row.get('verdict') or 'unjudged'})")
        if reported is not None and row.get("verdict") in JUDGED:
            ax.scatter([x], [reported], marker="_", s=600, color="black", label="reported (claim)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    if unique:
        ax.legend(unique.values(), unique.keys(), fontsize=8, loc="best")
    else:
        ax.text(0.5, 0.5, "no runs yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r['model']}\n{r['protocol']}\n{str(r['run_id'])[-8:]}" for r in rows], fontsize=7)
    ax.set_ylabel(", ".join(metrics) or "metric")
    ax.set_title(f"{task}: paper vs measured (95% CI)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
