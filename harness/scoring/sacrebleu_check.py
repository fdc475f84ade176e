"""sacrebleu: a Java-free cross-check of COCO BLEU, never the number for a COCO BLEU-4 claim (metrics.md §4).

Two uses: default settings on the raw captions (13a, case-sensitive, exp smoothing: a different quantity,
reported with its signature), and the exact-equivalence trick: on pycocoevalcap's PTB-tokenized lower-cased
strings with `tokenize="none"` and `smooth_method="none"`, sacrebleu equals 100 x Bleu_4 to ~1e-9, which
tests our BLEU path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sacrebleu.metrics import BLEU


def _ref_streams(references: Sequence[Sequence[str]]) -> list[list[str | None]]:
    """Transpose per-image reference lists into sacrebleu streams, padding with None (which sacrebleu drops;
    an empty string would count as a zero-length reference)."""
    width = max(len(refs) for refs in references)
    return [[refs[j] if j < len(refs) else None for refs in references] for j in range(width)]


def sacrebleu_crosscheck(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Corpus BLEU with sacrebleu's default settings: `{"score": 0-100, "signature": str}`."""
    bleu = BLEU(force=True)  # only silences the "looks tokenized" warning; no number or signature changes
    score = bleu.corpus_score(list(hypotheses), _ref_streams(references)).score
    return {"score": float(score), "signature": str(bleu.get_signature())}


def sacrebleu_on_ptb_tokens(gts: Mapping[Any, Sequence[str]], res: Mapping[Any, Sequence[str]]) -> float:
    """sacrebleu on pycocoevalcap's tokenized `gts`/`res` dicts, set up to equal 100 x Bleu_4."""
    keys = list(gts)
    bleu = BLEU(tokenize="none", smooth_method="none", force=True)
    return float(bleu.corpus_score([res[k][0] for k in keys], _ref_streams([gts[k] for k in keys])).score)
