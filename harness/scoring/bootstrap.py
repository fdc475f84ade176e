"""Seeded percentile-bootstrap 95% CIs: how far a score could move by sampling alone.

Items (questions, images) are resampled with replacement; the CI is the (alpha/2, 1 - alpha/2) quantile of the
statistic over the resamples (numpy's default linear interpolation). Same seed, same inputs -> same CI.

Corpus caption metrics are recomputed per resample from per-image statistics:
- BLEU: exact. Per-image n-gram counts (test length, closest-ref length, guesses, clipped matches) are
  summed over the resample and fed to pycocoevalcap's corpus formula, epsilons included.
- ROUGE-L, SPICE: exact; the corpus score is the mean of per-image scores.
- CIDEr(-D): approximation. Mean of per-image scores with the idf of the full evaluated set held fixed; a
  real resample would change the document frequencies (and N) the idf is computed from.
- METEOR: approximation. The reported METEOR aggregates statistics over the corpus (fragmentation penalty
  etc.), so it is not the mean of sentence scores (on random captions 0.25 vs 0.38). The resampled means of
  the sentence scores are rescaled by corpus score / full-set mean (a ratio estimator): the CI keeps the
  relative spread of the sentence-score mean and is centred on the reported value, not on a different number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

BLEU_TINY = 1e-15
BLEU_SMALL = 1e-9
MAX_DISTINCT_FOR_MULTINOMIAL = 4096
# Columns of a per-image BLEU statistics row.
BLEU_COLUMNS = ("testlen", "reflen", "guess_1", "guess_2", "guess_3", "guess_4",
                "correct_1", "correct_2", "correct_3", "correct_4")  # fmt: skip


def _percentiles(stats: np.ndarray, alpha: float) -> tuple[float, float]:
    lo, hi = np.quantile(np.asarray(stats, dtype=np.float64), [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _check(n_items: int, n_resamples: int, alpha: float) -> None:
    if n_items < 1 or n_resamples < 1 or not 0 < alpha < 1:
        raise ValueError(f"bootstrap needs n_items >= 1, n_resamples >= 1, 0 < alpha < 1 "
                         f"(got {n_items}, {n_resamples}, {alpha})")  # fmt: skip


def bootstrap_cis(
    n_items: int,
    statistics: Mapping[str, Callable[[np.ndarray], float]],
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, tuple[float, float]]:
    """CIs of several statistics over the same resamples: each gets the resampled item indices (int array)."""
    _check(n_items, n_resamples, alpha)
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {name: [] for name in statistics}
    for _ in range(n_resamples):
        idx = rng.integers(0, n_items, size=n_items)
        for name, fn in statistics.items():
            values[name].append(float(fn(idx)))
    return {name: _percentiles(np.array(v), alpha) for name, v in values.items()}


def bootstrap_ci(
    n_items: int,
    statistic: Callable[[np.ndarray], float],
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """CI of a corpus statistic: `statistic(indices)` recomputes it on one resample of item indices."""
    return bootstrap_cis(n_items, {"s": statistic}, n_resamples, seed, alpha)["s"]


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray, n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """CI of a mean (e.g. per-question VQA accuracies), fast.

    With few distinct values (VQA has five: 0, .3, .6, .9, 1) it draws how often each value is picked
    (multinomial), which is the same bootstrap distribution as resampling items at O(distinct) cost;
    otherwise it resamples indices in batches.
    """
    arr = np.asarray(values, dtype=np.float64)
    n = arr.size
    _check(n, n_resamples, alpha)
    rng = np.random.default_rng(seed)
    distinct, counts = np.unique(arr, return_counts=True)
    if distinct.size <= MAX_DISTINCT_FOR_MULTINOMIAL:
        draws = rng.multinomial(n, counts / n, size=n_resamples)
        return _percentiles(draws @ distinct / n, alpha)
    batch = max(1, 4_000_000 // n)
    means = []
    for start in range(0, n_resamples, batch):
        rows = min(batch, n_resamples - start)
        means.append(arr[rng.integers(0, n, size=(rows, n))].mean(axis=1))
    return _percentiles(np.concatenate(means), alpha)


def bleu_from_stats(totals: np.ndarray, n: int = 4) -> float:
    """pycocoevalcap's corpus BLEU-n from summed statistics (columns `BLEU_COLUMNS`), epsilons included."""
    testlen, reflen = float(totals[0]), float(totals[1])
    bleu = 1.0
    for k in range(n):
        bleu *= float(totals[6 + k] + BLEU_TINY) / (totals[2 + k] + BLEU_SMALL)
    score = bleu ** (1.0 / n)
    ratio = (testlen + BLEU_TINY) / (reflen + BLEU_SMALL)
    if ratio < 1:
        score *= math.exp(1 - 1 / ratio)
    return float(score)


def caption_cis(
    bleu_stats: np.ndarray,
    per_image: Mapping[str, np.ndarray],
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    corpus_scores: Mapping[str, float] | None = None,
) -> dict[str, list[float]]:
    """`{"Bleu_4": [lo, hi], <metric>: [lo, hi], ...}` over the same image resamples.

    `bleu_stats`: one row per image (`BLEU_COLUMNS`); `per_image`: metric -> per-image scores, same image
    order (their mean is the corpus score: exactly for ROUGE-L, approximately for CIDEr). A metric named in
    `corpus_scores` (METEOR) whose corpus score is not that mean gets its resampled means scaled by
    corpus score / full-set mean. Draws the same index resamples as `bootstrap_cis` with the same seed, but
    sums every column at once from the pick counts (one matrix-vector product per resample instead of a
    gather per metric).
    """
    stats = np.asarray(bleu_stats, dtype=np.float64)
    n = stats.shape[0]
    names = list(per_image)
    table = np.column_stack([stats, *(np.asarray(per_image[m], dtype=np.float64) for m in names)])
    _check(n, n_resamples, alpha)
    rng = np.random.default_rng(seed)
    bleu, means = [], []
    for _ in range(n_resamples):
        totals = np.bincount(rng.integers(0, n, size=n), minlength=n) @ table
        bleu.append(bleu_from_stats(totals[: len(BLEU_COLUMNS)]))
        means.append(totals[len(BLEU_COLUMNS) :] / n)
    cis = {"Bleu_4": list(_percentiles(np.array(bleu), alpha))}
    columns = np.array(means).reshape(n_resamples, len(names))
    for j, name in enumerate(names):
        resampled = columns[:, j]
        full_mean = float(np.mean(per_image[name]))
        if corpus_scores and name in corpus_scores and full_mean != 0:
            resampled = resampled * (corpus_scores[name] / full_mean)
        cis[name] = list(_percentiles(resampled, alpha))
    return cis
