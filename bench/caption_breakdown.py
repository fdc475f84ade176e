"""CPU seconds of each caption scorer run alone, one after another, on the bench's caption files.

The whole-command wall time can only be as low as this CPU total divided by the cores the schedule keeps busy
(2 here), so the breakdown says where the floor is and whose code sets it: every row is pycocoevalcap's or
sacrebleu's own scorer, called the way `harness.scoring.caption` calls it, with the cyclic GC paused as in
`python -m harness.score`. JVM rows count the Java child processes (reaped before they are read).

    .venv/bin/python -m bench.caption_breakdown REFERENCES.json PREDICTIONS.json   # prints JSON
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pycocoevalcap.rouge.rouge import Rouge

from harness.io import read_json
from harness.scoring import caption
from harness.scoring.caption import caption_inputs
from harness.scoring.sacrebleu_check import sacrebleu_crosscheck


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(rows: dict[str, dict[str, float]], name: str, fn: Callable[[], Any]) -> Any:
    cpu, wall = _cpu(), time.perf_counter()
    out = fn()
    rows[name] = {"cpu_s": round(_cpu() - cpu, 2), "wall_s": round(time.perf_counter() - wall, 2)}
    return out


def _meteor(gts: dict, res: dict) -> None:
    job = caption._start_meteor()
    try:
        caption._meteor(job, gts, res)
    finally:
        caption._stop_meteor(job)


def breakdown(references: Path, predictions: Path) -> dict[str, dict[str, float]]:
    """`{scorer: {cpu_s, wall_s}}` for each step of caption scoring, run alone in sequence."""
    gc.disable()
    rows: dict[str, dict[str, float]] = {}
    ref_lists, hyp_lists = caption_inputs(read_json(references), read_json(predictions),
                                          {"references": str(references), "predictions": str(predictions)})  # fmt: skip
    raw_hyps = [caps[0] for caps in hyp_lists.values()]
    _timed(rows, "sacrebleu (raw captions)", lambda: sacrebleu_crosscheck(raw_hyps, list(ref_lists.values())))
    gts = _timed(rows, "PTB tokenizer, references (JVM)", lambda: caption.tokenize_captions(ref_lists, "references"))
    res = _timed(rows, "PTB tokenizer, predictions (JVM)", lambda: caption.tokenize_captions(hyp_lists, "predictions"))
    _timed(rows, "CIDEr-D", lambda: caption._cider(gts, res))
    _timed(rows, "BLEU-1..4", lambda: caption.bleu_scores(gts, res))
    _timed(rows, "ROUGE-L", lambda: Rouge().compute_score(gts, res))
    _timed(rows, "METEOR 1.5 (JVM, incl. paraphrase table load)", lambda: _meteor(gts, res))
    rows["total"] = {k: round(sum(r[k] for r in rows.values()), 2) for k in ("cpu_s", "wall_s")}
    return rows


if __name__ == "__main__":
    print(json.dumps(breakdown(Path(sys.argv[1]), Path(sys.argv[2]))))
