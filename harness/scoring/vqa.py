"""VQA accuracy exactly as the official VQA evaluation computes it, in three versions (metrics.md §1).

- `lavis` (default): GT-Vision-Lab/VQA @ 458a8b2, the pre-2021 code LAVIS ported and scored BLIP-2 with.
  The prediction is always normalised; GT answers get only `processPunctuation`, only when the ten are
  not all identical, and are never stripped.
- `vqa-2021`: GT-Vision-Lab/VQA @ a013f00 (HEAD). Both sides lose `\\n`, `\\t` and outer spaces; both are
  fully normalised only when the (cleaned) GT answers are not all identical.
- `evalai-2017`: Cloud-CV/VQA-Challenge @ 35c7703, the 2017 server: pre-2021 logic with the regex
  `processPunctuation`, and the overall re-weighted from rounded chunk means (see `vqa_aggregate`).

Re-implements the VQA evaluation code, Copyright (c) 2014, Aishwarya Agrawal, All rights reserved, BSD
2-Clause License (redistributions must retain this notice; provided "as is", without warranty).

Exactness: GT answers are compared by index (leave-one-out drops answer i, not every equal string), inputs
are never mutated, sums run left to right like Python <= 3.11 `sum`, and rounding is `round(100 * S / N, 2)`
in the official operation order. Normalisation is memoised per unique string, which is what lets VQAv2 val
score in about a second instead of tens of seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from harness.errors import HarnessError
from harness.scoring.bootstrap import bootstrap_mean_ci
from harness.scoring.coverage import check_coverage, check_unique, examples
from harness.scoring.vqa_aggregate import aggregate
from harness.scoring.vqa_normalize import (
    clean_whitespace,
    normalize_answer,
    process_digit_article,
    process_punctuation,
    punctuation_fn,
)

SCORERS = ("lavis", "vqa-2021", "evalai-2017")
ANNOTATION_FIELDS = ("question_id", "question_type", "answer_type", "answers")
_FIELDS = frozenset(ANNOTATION_FIELDS)
_ID_TYPES = itemgetter("question_id", "answer_type", "question_type")
_ID_ANSWER = itemgetter("question_id", "answer")
_QID = itemgetter("question_id")
_DEFAULT_NAMES = {"questions": "questions", "annotations": "annotations", "predictions": "predictions"}

__all__ = ["SCORERS", "normalize_answer", "per_question_accuracies", "score_vqa"]


class _BadAnswer(Exception):
    """A GT answer or prediction that is not a string, or a question without answers."""


class _Memo(dict):
    """`memo[s]` computes `fn(s)` once per unique string."""

    def __init__(self, fn: Callable[[str], Any]):
        super().__init__()
        self.fn = fn

    def __missing__(self, key: Any) -> Any:
        if not isinstance(key, str):
            raise _BadAnswer(key)
        value = self[key] = self.fn(key)
        return value


def leave_one_out(matches: Sequence[bool]) -> float:
    """Official accuracy for one question from which GT answers (by index) equal the prediction.

    Each answer i in turn is left out; `min(1, matches among the others / 3)`; averaged with a left-to-right
    sum, so k = 2 can give 0.5999999999999999 or 0.6000000000000001 exactly as the official code does.
    """
    k = sum(matches)
    total = 0
    for hit in matches:
        total += min(1, float(k - hit) / 3)
    return float(total) / len(matches)


class _LeaveOneOut:
    """Cached `leave_one_out`: by (n, k) where positions cannot change the float (k != 2, 3), else by mask."""

    def __init__(self) -> None:
        self.by_count: dict[tuple[int, int], float] = {}
        self.by_mask: dict[tuple[bool, ...], float] = {}

    def __call__(self, gts: list[str], pred: str) -> float:
        k = gts.count(pred)
        if k == 2 or k == 3:
            mask = tuple([g == pred for g in gts])
            value = self.by_mask.get(mask)
            if value is None:
                value = self.by_mask[mask] = leave_one_out(mask)
            return value
        key = (len(gts), k)
        value = self.by_count.get(key)
        if value is None:
            value = self.by_count[key] = leave_one_out([True] * k + [False] * (len(gts) - k))
        return value


def check_scorer(scorer: str) -> None:
    """Fail with the list of valid names on an unknown scorer."""
    if scorer not in SCORERS:
        raise HarnessError(f"unknown VQA scorer {scorer!r}; choose one of {', '.join(SCORERS)}")


def _normaliser(scorer: str) -> Callable[[list[str], str], tuple[list[str], str]]:
    """Per-question normalisation of one version: (GT answer strings, raw prediction) -> compared forms."""
    if scorer == "vqa-2021":
        clean = _Memo(clean_whitespace).__getitem__
        full = _Memo(lambda s: process_digit_article(process_punctuation(s))).__getitem__

        def head(raw: list[str], prediction: str) -> tuple[list[str], str]:
            gts = list(map(clean, raw))
            pred = clean(prediction)
            if gts.count(gts[0]) != len(gts):
                return list(map(full, gts)), full(pred)
            return gts, pred

        return head

    punct = _Memo(punctuation_fn(scorer)).__getitem__
    pred_norm = _Memo(lambda s: normalize_answer(s, scorer)).__getitem__

    def pre2021(raw: list[str], prediction: str) -> tuple[list[str], str]:
        if raw.count(raw[0]) != len(raw):
            return list(map(punct, raw)), pred_norm(prediction)
        if not isinstance(raw[0], str):
            raise _BadAnswer(raw[0])
        return raw, pred_norm(prediction)

    return pre2021


def _annotation_error(ann: Any, index: int, where: str) -> HarnessError:
    """Name the first broken field of one annotation."""
    if not isinstance(ann, dict):
        return HarnessError(f"{where}: annotation #{index} is not an object")
    label = f"annotation #{index} (question_id {ann.get('question_id')!r})"
    for field in ANNOTATION_FIELDS:
        if field not in ann:
            return HarnessError(f"{where}: {label} has no field {field!r}")
    answers = ann["answers"]
    if not isinstance(answers, list) or not answers:
        return HarnessError(f"{where}: {label}: 'answers' must be a non-empty list")
    for j, a in enumerate(answers):
        if not isinstance(a, dict) or not isinstance(a.get("answer"), str):
            return HarnessError(f"{where}: {label}: answers[{j}] needs a string field 'answer'")
    qid = ann["question_id"]
    if isinstance(qid, bool) or not isinstance(qid, int | str):
        return HarnessError(f"{where}: {label}: 'question_id' must be an integer or string")
    return HarnessError(f"{where}: {label} is malformed")


def _annotation_columns(annotations: Sequence[dict], where: str) -> tuple[list, list, list]:
    """(question ids, answer types, question types) in annotation order; ids unique."""
    if not isinstance(annotations, list) or not annotations:
        raise HarnessError(f"{where}: 'annotations' must be a non-empty list")
    try:
        rows = list(map(_ID_TYPES, annotations))
        bad = next((i for i, r in enumerate(rows) if type(r[0]) not in (int, str)), None)
    except (KeyError, TypeError):
        bad = next(i for i, a in enumerate(annotations) if not isinstance(a, dict) or not a.keys() >= _FIELDS)
    if bad is not None:
        raise _annotation_error(annotations[bad], bad, where)
    ids, ans_types, q_types = (list(col) for col in zip(*rows, strict=True))
    check_unique(ids, where=where, field="question_id")
    return ids, ans_types, q_types


def _prediction_map(predictions: Sequence[dict], where: str) -> tuple[list[Any], dict[Any, str]]:
    if not isinstance(predictions, list):
        raise HarnessError(f"{where}: must be a JSON array of {{'question_id', 'answer'}} objects")
    try:
        pairs = list(map(_ID_ANSWER, predictions))
    except (KeyError, TypeError):
        for i, pred in enumerate(predictions):
            for field in ("question_id", "answer"):
                if not isinstance(pred, dict) or field not in pred:
                    raise HarnessError(f"{where}: prediction #{i} has no field {field!r}") from None
        raise
    bad = next((i for i, (_, answer) in enumerate(pairs) if not isinstance(answer, str)), None)
    if bad is not None:
        qid = pairs[bad][0]
        raise HarnessError(f"{where}: prediction #{bad} (question_id {qid!r}): 'answer' must be a string")
    return [qid for qid, _ in pairs], dict(pairs)


def _check_questions(questions: Sequence[dict], ann_ids: list[Any], where: str) -> None:
    if not isinstance(questions, list):
        raise HarnessError(f"{where}: 'questions' must be a list")
    try:
        known = set(map(_QID, questions))
    except (KeyError, TypeError):
        raise HarnessError(f"{where}: every question needs a field 'question_id'") from None
    if not known.issuperset(ann_ids):
        absent = [q for q in ann_ids if q not in known]
        raise HarnessError(
            f"{where}: {len(absent)} annotated question_id(s) not in the questions ({examples(absent)})"
        )


def _accuracies(
    annotations: Sequence[dict], ann_ids: list[Any], answers: Mapping[Any, str], scorer: str, where: str
) -> list[float]:
    normalise = _normaliser(scorer)
    accuracy = _LeaveOneOut()
    get_answer = itemgetter("answer")
    accs = []
    for i, ann in enumerate(annotations):
        try:
            gts, pred = normalise(list(map(get_answer, ann["answers"])), answers[ann_ids[i]])
        except (KeyError, TypeError, IndexError, AttributeError, _BadAnswer):
            raise _annotation_error(ann, i, where) from None
        accs.append(accuracy(gts, pred))
    return accs


def _covered_answers(ann_ids: list[Any], predictions: Sequence[dict], label: dict[str, str]) -> dict:
    pred_ids, answers = _prediction_map(predictions, label["predictions"])
    expected, given = label["annotations"], label["predictions"]
    check_coverage(ann_ids, pred_ids, field="question_id", expected_name=expected, given_name=given)
    return answers


def _names(names: Mapping[str, str] | None) -> dict[str, str]:
    return {**_DEFAULT_NAMES, **(names or {})}


def per_question_accuracies(
    annotations: Sequence[dict],
    predictions: Sequence[dict],
    scorer: str = "lavis",
    *,
    names: Mapping[str, str] | None = None,
) -> list[float]:
    """Unrounded official accuracy (0..1) of each annotated question, in annotation order (for bootstrapping).

    `names` labels the sources in error messages (keys `annotations`, `predictions`; e.g. file paths).
    """
    check_scorer(scorer)
    label = _names(names)
    ann_ids, _, _ = _annotation_columns(annotations, label["annotations"])
    answers = _covered_answers(ann_ids, predictions, label)
    return _accuracies(annotations, ann_ids, answers, scorer, label["annotations"])


def score_vqa(
    questions: list[dict],
    annotations: list[dict],
    predictions: list[dict],
    scorer: str = "lavis",
    *,
    names: Mapping[str, str] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """Score exactly the questions in `annotations` (a subset scores a sample) with one official version.

    Returns `scorer`, `n`, `overall` (rounded like the official script), `overall_unrounded`, `perAnswerType`,
    `perQuestionType`, `perQuestion` ({str(qid): rounded %}) and, when `n_resamples` > 0, `ci95.overall`: a
    seeded percentile bootstrap over questions (of the plain mean, for every scorer). `names` labels the
    sources in error messages (keys `questions`, `annotations`, `predictions`; e.g. file paths).
    """
    check_scorer(scorer)
    label = _names(names)
    ann_ids, ans_types, q_types = _annotation_columns(annotations, label["annotations"])
    _check_questions(questions, ann_ids, label["questions"])
    answers = _covered_answers(ann_ids, predictions, label)
    accs = _accuracies(annotations, ann_ids, answers, scorer, label["annotations"])
    result = {"scorer": scorer, "n": len(accs), **aggregate(ann_ids, ans_types, q_types, accs, scorer)}
    if n_resamples > 0:
        lo, hi = bootstrap_mean_ci([100 * a for a in accs], n_resamples=n_resamples, seed=seed)
        result["ci95"] = {"overall": [lo, hi]}
    return result
