"""The resolved protocol: every setting that can change a score, in one place.

The YAML protocol leaves a few axes to the checkpoint (image size, EOS id, precision); `resolve_protocol` fills them
in from what was actually loaded, so the record shows what ran, not what was intended. The fingerprint hashes every
section except `runtime` (batch size and device must not change a score; the evaluator tests that they don't).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from omegaconf import DictConfig, OmegaConf

SECTIONS = ("model", "data", "prompt", "decoding", "image", "precision", "postprocess", "scoring")
NOT_FINGERPRINTED = ("runtime",)


def resolve_protocol(cfg: DictConfig, loaded: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the resolved protocol from the run config and facts read off the loaded model/processor.

    `loaded` carries what only the checkpoint knows: `revision` (the Hub commit actually loaded),
    `weights_sha256` (local and tiny weights), `num_query_tokens`, `eos_token_id`, `image_size`,
    `image_mean`, `image_std`, `image_processor` and `dtypes` (per component, as loaded).
    """
    loaded = loaded or {}
    p = OmegaConf.to_container(cfg.protocol, resolve=True)
    m = cfg.model
    model_dtypes = OmegaConf.to_container(m.dtype, resolve=True)
    dtypes = loaded.get("dtypes") or {
        k: p["precision"][k] or model_dtypes[k] for k in ("vision", "qformer", "lm")
    }
    dec = dict(p["decoding"])
    dec["eos_token_id"] = loaded.get("eos_token_id", dec.pop("eos"))
    dec.pop("eos", None)
    dec["padding_side"] = padding_side(m.family)
    return {
        "name": p["name"],
        "variant": p["variant"],
        "model": {
            "name": m.name,
            "checkpoint": m.checkpoint,
            "revision": loaded.get("revision", m.revision),
            "weights_sha256": loaded.get("weights_sha256"),
            "family": m.family,
            "num_query_tokens": loaded.get("num_query_tokens"),
        },
        "data": {
            "task": cfg.task.name,
            "split": p["split"],
            "limit": p["limit"],
            "source": cfg.task.source,
        },
        "prompt": dict(p["prompt"]),
        "decoding": dec,
        "image": {
            "size": loaded.get("image_size", p["image"]["size"]),
            "resample": p["image"]["resample"],
            "backend": p["image"]["backend"],
            "processor": loaded.get("image_processor"),
            "mean": loaded.get("image_mean"),
            "std": loaded.get("image_std"),
        },
        "precision": dtypes,
        "postprocess": dict(p["postprocess"]),
        "scoring": {"scorer": p["scorer"]},
        "runtime": {
            "batch_size": cfg.runtime.batch_size,
            "device": loaded.get("device", cfg.runtime.device),
            "evaluator": cfg.get("evaluator", "reference"),
        },
    }


def padding_side(family: str) -> str:
    """OPT must be left-padded (positions from the mask), T5 right-padded (relative bias counts the gap)."""
    return {"opt": "left", "t5": "right"}[family]


def protocol_fingerprint(resolved: dict[str, Any]) -> str:
    """A stable short hash over every score-changing field (sorted JSON; runtime excluded)."""
    core = {k: v for k, v in resolved.items() if k not in NOT_FINGERPRINTED}
    blob = json.dumps(core, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def flatten(resolved: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"decoding": {"num_beams": 5}}` -> `{"decoding.num_beams": 5}`, for field-by-field diffs."""
    out: dict[str, Any] = {}
    for key, value in resolved.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Field-by-field differences between two resolved protocols: `{field: (a_value, b_value)}`."""
    fa, fb = flatten(a), flatten(b)
    return {k: (fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)}
