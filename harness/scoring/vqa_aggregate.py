"""Aggregation and rounding of per-question VQA accuracies as each official version does it (metrics.md §1.5).

GT-Vision-Lab (`lavis`, `vqa-2021`), `setAccuracy`: `round(100 * float(sum(accs)) / len(accs), 2)` over
questions, per answer type and per question type, types taken from the annotations, in first-appearance
order.

Cloud-CV/VQA-Challenge @ 35c7703 (`evalai-2017`, `main.py`): per answer type, the question ids
`list(set(split) & set(type_ids))` are cut into `np.array_split(ids, 1000)` chunks; each chunk's overall is
rounded to 2 decimals, re-weighted by its size, summed with `np.sum` and divided by the type's size (not
rounded); the overall re-weights the answer-type values. Per question type it averages the *rounded*
per-question scores. The server code is Copyright (c) 2014, Aishwarya Agrawal, BSD 2-Clause License (this is
a re-implementation). Deviations, all below the 2nd decimal: the set order is CPython 3's (the server ran
Python 2; for non-int ids we keep annotation order so runs are reproducible); empty chunks (fewer than 1000
questions of a type) are skipped where the server would divide by zero; answer types are combined in the
order yes/no, number, other, then any other type; the values we report under
`overall`/`perAnswerType`/`perQuestionType` are rounded to 2 decimals for display, `overall_unrounded` keeps
the server's float.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

EVALAI_CHUNKS = 1000
EVALAI_TYPE_ORDER = ("yes/no", "number", "other")


def naive_sum(values: Iterable[float]) -> float:
    """Left-to-right float sum, as Python <= 3.11 `sum` (3.12 compensates, which can move the last bit)."""
    total = 0.0
    for v in values:
        total += v
    return total


def official_percent(accs: Sequence[float], ndigits: int = 2) -> float:
    """`round(100 * float(sum(accs)) / len(accs), n)`: the official operation order."""
    return round(100 * naive_sum(accs) / len(accs), ndigits)


def _group_sums(keys: Sequence[Any], values: Sequence[float]) -> dict[Any, tuple[float, int]]:
    """Per key: (left-to-right sum of its values in input order, count); keys in first-appearance order."""
    sums: dict[Any, float] = {}
    counts: dict[Any, int] = {}
    for k, v in zip(keys, values, strict=True):
        sums[k] = sums.get(k, 0.0) + v
        counts[k] = counts.get(k, 0) + 1
    return {k: (sums[k], counts[k]) for k in sums}


def _group_ids(keys: Sequence[Any], ids: Sequence[Any]) -> dict[Any, list[Any]]:
    groups: dict[Any, list[Any]] = {}
    for k, i in zip(keys, ids, strict=True):
        groups.setdefault(k, []).append(i)
    return groups


def rounded_percents(accs: Sequence[float]) -> list[float]:
    """`round(100 * acc, 2)` per question (`setEvalQA`), computed once per distinct value."""
    table = {a: round(100 * a, 2) for a in set(accs)}
    return list(map(table.__getitem__, accs))


def _gtvl(ans_types: Sequence[Any], q_types: Sequence[Any], accs: Sequence[float]) -> dict:
    total = naive_sum(accs)

    def percents(keys: Sequence[Any]) -> dict[Any, float]:
        return {k: round(100 * s / n, 2) for k, (s, n) in _group_sums(keys, accs).items()}

    return {
        "overall": round(100 * total / len(accs), 2),
        "overall_unrounded": 100 * total / len(accs),
        "perAnswerType": percents(ans_types),
        "perQuestionType": percents(q_types),
    }


def _server_order(all_ids: list[Any], type_ids: list[Any]) -> list[Any]:
    if all(type(q) is int for q in type_ids):
        return list(set(all_ids) & set(type_ids))
    return list(type_ids)


def _chunk_bounds(length: int, sections: int) -> list[tuple[int, int]]:
    """Non-empty `np.array_split(range(length), sections)` slices (the first `length % sections` longer)."""
    size, extra = divmod(length, sections)
    bounds, start = [], 0
    for i in range(sections):
        stop = start + size + (1 if i < extra else 0)
        if stop > start:
            bounds.append((start, stop))
        start = stop
    return bounds


def _evalai(
    ann_ids: list[Any], ans_types: list[Any], q_types: list[Any], accs: Sequence[float], rounded: list[float]
) -> dict:
    acc_by_id = dict(zip(ann_ids, accs, strict=True))
    ids_by_type = _group_ids(ans_types, ann_ids)
    order = [t for t in EVALAI_TYPE_ORDER if t in ids_by_type]
    order += [t for t in ids_by_type if t not in EVALAI_TYPE_ORDER]
    per_type, weighted, length = {}, 0.0, 0
    for t in order:
        ids = _server_order(ann_ids, ids_by_type[t])
        chunk_accs = list(map(acc_by_id.__getitem__, ids))
        chunk_values = [
            float(official_percent(chunk_accs[lo:hi]) * float(hi - lo))
            for lo, hi in _chunk_bounds(len(ids), EVALAI_CHUNKS)
        ]
        per_type[t] = float(np.sum(chunk_values) / float(len(ids)))
        weighted += float(per_type[t] * len(ids))
        length += len(ids)
    overall = float(weighted) / float(length)
    rounded_by_id = dict(zip(ann_ids, rounded, strict=True))
    per_qtype = {}
    for t, ids in _group_ids(q_types, ann_ids).items():
        ordered = _server_order(ann_ids, ids)
        per_qtype[t] = round(naive_sum(map(rounded_by_id.__getitem__, ordered)) / float(len(ordered)), 2)
    return {
        "overall": round(overall, 2),
        "overall_unrounded": overall,
        "perAnswerType": {t: round(per_type[t], 2) for t in ids_by_type},
        "perQuestionType": per_qtype,
    }


def aggregate(
    ann_ids: list[Any], ans_types: list[Any], q_types: list[Any], accs: Sequence[float], scorer: str
) -> dict:
    """Overall, per-type and per-question percentages for one scorer, from unrounded accuracies."""
    rounded = rounded_percents(accs)
    if scorer == "evalai-2017":
        out = _evalai(ann_ids, ans_types, q_types, accs, rounded)
    else:
        out = _gtvl(ans_types, q_types, accs)
    out["perQuestion"] = dict(zip(map(str, ann_ids), rounded, strict=True))
    return out
