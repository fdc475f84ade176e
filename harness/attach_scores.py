"""`python -m harness.attach_scores RUN_DIR --evalai RESULT.json`: put EvalAI's test-dev scores into a run.

A `vqav2_testdev` run ends with `submission.json` and a `metrics.json` that `needs_external_scoring`. After the
file is uploaded to EvalAI (VQA challenge 830, phase test-dev), the server's result file, e.g.
`[{"test-dev": {"yes/no": 87.5, "number": 55.1, "other": 62.3, "overall": 72.1}}, {"test-standard": {...}}]`,
is attached here: overall and per-answer-type accuracies become `vqa_acc`, `vqa_acc[yes/no]`, ... and
`external_scoring` records where the numbers came from (result file hash, the submission's hash, time, note).
The run is then judged again. The test-standard entry of a test-dev submission is meaningless and ignored.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, cli_main
from harness.io import read_json, write_json
from tasks.base import file_sha256

ANSWER_TYPES = ("yes/no", "number", "other")
SERVER = "EvalAI VQA challenge 830"


def phase_scores(result: Any, phase: str, where: str) -> dict[str, float]:
    """The `{overall, yes/no, number, other}` block of `phase` from an EvalAI result (list or dict of phases)."""
    blocks = result if isinstance(result, list) else [result]
    for block in blocks:
        if isinstance(block, dict) and phase in block:
            scores = block[phase]
            if not isinstance(scores, dict):
                raise HarnessError(f"{where}: {phase!r} must map to an object of scores")
            missing = [k for k in ("overall", *ANSWER_TYPES) if not isinstance(scores.get(k), int | float)]
            if missing:
                raise HarnessError(f"{where}: {phase!r} has no numeric {', '.join(missing)}")
            return {k: float(scores[k]) for k in ("overall", *ANSWER_TYPES)}
    raise HarnessError(
        f"{where}: no {phase!r} entry (expected EvalAI's result format, "
        f'[{{"{phase}": {{"overall": ..., "yes/no": ..., "number": ..., "other": ...}}}}])'
    )


def attach(
    run_dir: Path, result_path: Path, phase: str = "test-dev", note: str | None = None, force: bool = False
) -> dict[str, Any]:
    """Write the server's scores into RUN_DIR/metrics.json and return the new metrics."""
    metrics_path = run_dir / "metrics.json"
    metrics = read_json(metrics_path)
    if not isinstance(metrics, dict) or "needs_external_scoring" not in metrics:
        raise HarnessError(f"{metrics_path}: not a run that needs external scoring (field needs_external_scoring)")
    if metrics.get("external_scoring") and not force:
        raise HarnessError(
            f"{metrics_path}: scores already attached from "
            f"{metrics['external_scoring']['result_file']}; pass --force to replace them"
        )
    submission = run_dir / metrics.get("raw", {}).get("submission", "submission.json")
    if not submission.is_file():
        raise HarnessError(f"{submission}: the run's submission file is missing")
    scores = phase_scores(read_json(result_path), phase, str(result_path))
    metrics["metrics"] = {"vqa_acc": scores["overall"], **{f"vqa_acc[{t}]": scores[t] for t in ANSWER_TYPES}}
    metrics["ci95"] = {}
    metrics["needs_external_scoring"] = False
    metrics["external_scoring"] = {
        "source": f"{SERVER}, phase {phase}",
        "result_file": str(result_path.resolve()),
        "result_sha256": file_sha256(result_path),
        "submission_sha256": file_sha256(submission),
        "attached_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "note": note,
    }
    write_json(metrics_path, metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.attach_scores", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="results/runs/vqav2_testdev/<model>/<run-id>")
    parser.add_argument("--evalai", type=Path, required=True, metavar="RESULT.json", help="EvalAI result file")
    parser.add_argument("--phase", default="test-dev", help="result entry to read (default test-dev)")
    parser.add_argument("--note", default=None, help="free text kept with the scores (e.g. the EvalAI submission id)")
    parser.add_argument("--force", action="store_true", help="replace scores attached before")
    parser.add_argument("--no-judge", action="store_true", help="do not re-judge the run")
    args = parser.parse_args(argv)
    metrics = attach(args.run_dir, args.evalai, args.phase, args.note, args.force)
    print(json.dumps(metrics["metrics"]))
    if not args.no_judge:
        from harness.judge import judge_run

        verdict = judge_run(args.run_dir)
        print(f"verdict: {verdict['status']} ({verdict['reason']})")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main))
