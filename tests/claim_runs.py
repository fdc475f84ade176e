"""Synthetic run folders for the judge/leaderboard tests.

Each has a real resolved protocol (compose + resolve_protocol) with the facts a loader would report, and
metrics written by the test. No model runs; the numbers are test inputs, not results.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from harness.config import compose
from harness.io import write_json
from harness.protocol import protocol_fingerprint, resolve_protocol

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def facts(cfg: Any, **extra: Any) -> dict[str, Any]:
    """What `load_model` reports for the composed model (dtypes left to resolve_protocol unless given)."""
    tiny = bool(cfg.model.tiny)
    out = {
        "revision": None,
        "weights_sha256": "0f" * 32 if tiny else None,
        "num_query_tokens": 8 if tiny else 32,
        "eos_token_id": 50118 if cfg.model.family == "opt" else 1,
        "image_size": 32 if tiny else 224,
        "image_mean": CLIP_MEAN,
        "image_std": CLIP_STD,
        "image_processor": "BlipImageProcessorPil",
        "device": "cpu" if tiny else "cuda",
    }
    out.update(extra)
    return out


def vqa_metrics(acc: float, n: int = 214_354, ci: tuple[float, float] | None = None) -> dict[str, Any]:
    ci = ci or (acc - 0.2, acc + 0.2)
    return {"task": "vqav2", "scorer": "lavis", "n": n,
            "metrics": {"vqa_acc": acc, "vqa_acc[number]": 40.0, "vqa_acc[other]": 50.0,
                        "vqa_acc[yes/no]": 80.0},
            "ci95": {"vqa_acc": list(ci)}, "raw": {}}


def caption_metrics(cider: float, n: int = 1_000) -> dict[str, Any]:
    return {"task": "flickr30k", "scorer": "pycocoevalcap", "n": n,
            "metrics": {"Bleu_4": 20.0, "CIDEr": cider}, "ci95": {"CIDEr": [cider - 3.0, cider + 3.0]},
            "raw": {}}


@lru_cache(maxsize=64)
def _compose(overrides: tuple[str, ...]) -> Any:
    return compose(list(overrides))


def make_run(results: Path, overrides: list[str], metrics: dict[str, Any], run_id: str = "run-1",
             started_at: str = "2026-01-01T00:00:00+00:00", config: bool = True, **loaded: Any) -> Path:
    """Write config.yaml, provenance.json and metrics.json as the pipeline would; returns the run folder."""
    cfg = _compose(tuple(overrides))
    loaded_facts = facts(cfg, **loaded)
    resolved = resolve_protocol(cfg, loaded_facts)
    run_dir = results / "runs" / cfg.task.name / cfg.model.name / run_id
    run_dir.mkdir(parents=True)
    if config:
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True), encoding="utf-8")
    write_json(run_dir / "provenance.json", {
        "run_id": run_id, "started_at": started_at, "status": "complete", "n_samples": metrics["n"],
        "model": {"checkpoint": cfg.model.checkpoint, **loaded_facts},
        "dataset": {"source": "synthetic"}, "protocol": resolved,
        "protocol_fingerprint": protocol_fingerprint(resolved),
    })
    write_json(run_dir / "metrics.json", metrics)
    return run_dir
