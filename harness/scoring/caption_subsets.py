"""Caption metrics on subsets of one evaluated set, each subset scored on its own (NoCaps in/near/out-domain).

"Per-domain" means the subset is the whole corpus: CIDEr's idf comes from the subset's references and BLEU is
the subset's corpus BLEU, as if the subset had been evaluated alone (protocols.md §3: how the paper aggregated is
not stated). Captions are PTB-tokenized once for all subsets. ROUGE-L and SPICE are means of per-image scores, so
a subset's value is the mean over its images. METEOR is left out: its corpus score needs one Java run per
subset (~8 s each) and no paper column reports it per domain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from harness.errors import HarnessError
from harness.scoring.bootstrap import caption_cis
from harness.scoring.caption import BLEU_KEYS, bleu_scores, caption_inputs, tokenize_captions


def score_caption_subsets(
    references: dict,
    predictions: list[dict],
    subsets: Mapping[str, Sequence[Any]],
    spice_per_image: Mapping[str, float] | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """`{subset: {Bleu_1..4, ROUGE_L, CIDEr[, SPICE], n_images, ci95}}` on pycocoevalcap's 0-1 scale.

    `spice_per_image` ({str(image_id): score}, from the full-set `score_captions`) adds SPICE per subset.
    """
    refs, hyps = caption_inputs(references, predictions)
    for name, ids in subsets.items():
        unknown = [i for i in ids if i not in refs]
        if unknown or not ids:
            raise HarnessError(f"caption subset {name!r}: empty or has image ids not in the references ({unknown[:5]})")
    gts = tokenize_captions(refs, "references")
    res = tokenize_captions(hyps, "predictions")
    out: dict[str, dict[str, Any]] = {}
    for name, ids in subsets.items():
        g, r = {i: gts[i] for i in ids}, {i: res[i] for i in ids}
        bleu, _, stats = bleu_scores(g, r)
        rouge, rouge_per = Rouge().compute_score(g, r)
        cider, cider_per = Cider().compute_score(g, r)
        metrics: dict[str, Any] = dict(zip(BLEU_KEYS, map(float, bleu), strict=True))
        metrics.update(ROUGE_L=float(rouge), CIDEr=float(cider))
        per_image = {"ROUGE_L": np.asarray(rouge_per), "CIDEr": np.asarray(cider_per)}
        if spice_per_image is not None:
            spice = np.asarray([spice_per_image[str(i)] for i in ids], dtype=np.float64)
            metrics["SPICE"] = float(spice.mean())
            per_image["SPICE"] = spice
        metrics["n_images"] = len(ids)
        if n_resamples > 0:
            metrics["ci95"] = caption_cis(stats, per_image, n_resamples=n_resamples, seed=seed)
        out[name] = metrics
    return out
