"""The run folder `results/runs/<task>/<model>/<run-id>/`: config, predictions, metrics, provenance, verdict.

Every file is written atomically, and `predictions.json` is written before scoring starts, so a scoring failure
(say, Java missing) loses no generation work: `python -m harness.score` can score the file later.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from harness.io import atomic_write_text, write_json


def new_run_id(fingerprint: str) -> str:
    return f"{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}-{fingerprint[:8]}"


class RunFolder:
    def __init__(self, results_dir: str | Path, task: str, model: str, run_id: str) -> None:
        self.run_id = run_id
        self.path = Path(results_dir) / "runs" / task / model / run_id
        self.path.mkdir(parents=True, exist_ok=True)

    def write_config(self, cfg: DictConfig) -> None:
        atomic_write_text(self.path / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    def write_predictions(self, predictions: list[dict[str, Any]]) -> None:
        write_json(self.path / "predictions.json", predictions, indent=None)

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self.path / "metrics.json", metrics)

    def write_provenance(self, provenance: dict[str, Any]) -> None:
        write_json(self.path / "provenance.json", provenance)
