"""GQA accuracy as LAVIS computes it for BLIP-2: exact match after the VQA answer normalisation (metrics.md §1.6).

Two versions differ in whether the ground truth is normalised too:
- `exact-match-pred` (LAVIS `b3457997`, 2023-02-09, the paper era): only the prediction goes through
  `processPunctuation` + `processDigitArticle` (the GT answer is compared as written);
- `exact-match-both` (LAVIS `b38a7ac3`, 2023-05-25, and HEAD): the GT answer is normalised the same way.
GQA has one answer per question, so the score is the plain share of exact matches (x100), with a seeded
bootstrap CI over questions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.errors import HarnessError
from harness.scoring.bootstrap import bootstrap_mean_ci
from harness.scoring.coverage import check_coverage
from harness.scoring.vqa_normalize import process_digit_article, process_punctuation

SCORERS = {"exact-match-pred": False, "exact-match-both": True}  # name -> GT normalised?


def gqa_normalize(text: str) -> str:
    """LAVIS `GQATask._report_metrics`: `processPunctuation` then `processDigitArticle`, no whitespace clean-up."""
    return process_digit_article(process_punctuation(text))


def score_gqa(
    answers: Mapping[str, str],
    predictions: Sequence[dict[str, Any]],
    scorer: str,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """`answers`: question id -> GT answer (file order); predictions `[{"question_id", "answer"}]` covering them."""
    if scorer not in SCORERS:
        raise HarnessError(f"unknown GQA scorer {scorer!r}; choose one of {', '.join(SCORERS)}")
    given = {}
    for i, pred in enumerate(predictions):
        if not isinstance(pred, dict) or "question_id" not in pred or not isinstance(pred.get("answer"), str):
            raise HarnessError(f"predictions: #{i} needs 'question_id' and a string 'answer'")
        given[pred["question_id"]] = pred["answer"]
    ids = list(answers)
    check_coverage(
        ids,
        [p["question_id"] for p in predictions],
        field="question_id",
        expected_name="GQA questions",
        given_name="predictions",
    )
    normalise_gt = SCORERS[scorer]
    hits = []
    for qid in ids:
        gt = gqa_normalize(answers[qid]) if normalise_gt else answers[qid]
        hits.append(1.0 if gqa_normalize(given[qid]) == gt else 0.0)
    result: dict[str, Any] = {
        "scorer": scorer,
        "gt_normalised": normalise_gt,
        "n": len(hits),
        "exact_match": 100 * sum(hits) / len(hits),
        "per_question": {str(q): h for q, h in zip(ids, hits, strict=True)},
    }
    if n_resamples > 0:
        lo, hi = bootstrap_mean_ci([100 * h for h in hits], n_resamples=n_resamples, seed=seed)
        result["ci95"] = [lo, hi]
    return result
