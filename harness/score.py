"""`python -m harness.score {vqav2,caption} ...`: score official-format predictions, write metrics JSON.

    python -m harness.score vqav2 --questions Q.json --annotations A.json --predictions P.json \\
        --scorer {lavis,vqa-2021,evalai-2017} --out M.json
    python -m harness.score caption --references R.json --predictions P.json --out M.json

The metrics JSON carries the scorer name and seeded bootstrap CIs under "ci95"; a one-line summary goes to
stdout. Every input problem is one `error: ...` line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, cli_main
from harness.io import read_json, write_json
from harness.scoring.vqa import SCORERS

CAPTION_SCORER = "pycocoevalcap-1.2"


def _list_field(path: Path, field: str) -> list:
    data = read_json(path)
    if not isinstance(data, dict) or field not in data:
        raise HarnessError(f"{path}: missing field {field!r} (expected the official file format)")
    if not isinstance(data[field], list):
        raise HarnessError(f"{path}: field {field!r} must be a list")
    return data[field]


def _vqav2(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from harness.scoring.vqa import score_vqa

    names = {
        "questions": str(args.questions),
        "annotations": str(args.annotations),
        "predictions": str(args.predictions),
    }
    result = score_vqa(
        _list_field(args.questions, "questions"),
        _list_field(args.annotations, "annotations"),
        read_json(args.predictions),
        args.scorer,
        names=names,
        n_resamples=args.bootstrap,
        seed=args.seed,
    )
    ci = result.get("ci95", {}).get("overall")
    ci_text = f" (95% CI {ci[0]:.2f}-{ci[1]:.2f})" if ci else ""
    types = " ".join(f"{t}={v:.2f}" for t, v in result["perAnswerType"].items())
    summary = f"vqav2 [{args.scorer}] n={result['n']} overall={result['overall']:.2f}{ci_text} {types}"
    return {"task": "vqav2", **result, "inputs": names}, summary


def _caption(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from harness.scoring.caption import score_captions

    names = {"references": str(args.references), "predictions": str(args.predictions)}
    references = read_json(args.references)
    predictions = read_json(args.predictions)
    result = score_captions(
        references, predictions, args.spice, names=names, n_resamples=args.bootstrap, seed=args.seed
    )
    shown = [m for m in ("Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE") if m in result]
    scores = " ".join(f"{m}={100 * result[m]:.2f}" for m in shown)
    sacre = result["sacrebleu"]
    sacre_text = f"sacrebleu={sacre['score']:.2f} [{sacre['signature']}]"
    summary = f"caption n={result['n_images']} {scores} (x100) {sacre_text}"
    return {"task": "caption", "scorer": CAPTION_SCORER, **result, "inputs": names}, summary


def build_parser() -> argparse.ArgumentParser:
    """The two sub-commands and their exact flags."""
    parser = argparse.ArgumentParser(prog="python -m harness.score", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="task", required=True)
    vqa = sub.add_parser("vqav2", help="official VQA accuracy")
    vqa.add_argument("--questions", type=Path, required=True, help="official questions JSON")
    vqa.add_argument("--annotations", type=Path, required=True, help="official annotations JSON")
    vqa.add_argument("--predictions", type=Path, required=True, help='[{"question_id", "answer"}] JSON')
    vqa.add_argument("--scorer", choices=SCORERS, default="lavis", help="official version (default: lavis)")
    cap = sub.add_parser("caption", help="COCO caption metrics (pycocoevalcap)")
    cap.add_argument("--references", type=Path, required=True, help="COCO caption ground-truth JSON")
    cap.add_argument("--predictions", type=Path, required=True, help='[{"image_id", "caption"}] JSON')
    spice_help = "force SPICE on/off (default: on only if its CoreNLP jars are present)"
    cap.add_argument("--spice", action=argparse.BooleanOptionalAction, default=None, help=spice_help)
    for p in (vqa, cap):
        p.add_argument("--out", type=Path, required=True, help="metrics JSON to write")
        p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for ci95 (0: none)")
        p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse, score, write `--out`, print the summary."""
    args = build_parser().parse_args(argv)
    if args.bootstrap < 0:
        raise HarnessError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    # Reading VQAv2 val builds ~2 million dicts and no reference cycles; the cyclic GC would re-scan them
    # again and again while they are created (JSON parsing takes more than twice as long with it on).
    gc.disable()
    try:
        metrics, summary = _vqav2(args) if args.task == "vqav2" else _caption(args)
        write_json(args.out, metrics)
    finally:
        gc.enable()
    print(f"{summary} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main))
