"""`python -m harness.run [hydra overrides]`: one reproduction, top-down.

config -> task loads samples -> model generates -> task scores -> claim judges -> writers record.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from harness import provenance
from harness.config import compose
from harness.data.data_fingerprint import data_facts, protocol_data
from harness.errors import HarnessError, cli_main
from harness.eval.generation import generate
from harness.models.loader import load_model
from harness.protocol import protocol_fingerprint, resolve_protocol
from harness.resume import PartialPredictions, find_unfinished, resume_key
from harness.runfolder import RunFolder, new_run_id
from tasks import get_task
from tasks.base import Sample, Task


def run(cfg: DictConfig) -> Path:
    """Run one model × task × protocol and return the run folder."""
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    task = get_task(cfg.task, cfg.protocol)
    samples = task.load()
    ids = [s.sample_id for s in samples]
    task.dataset_info.update(data_facts(cfg.task, cfg.protocol.split, task.dataset_info, ids))
    t_data = time.perf_counter()
    loaded = load_model(cfg.model, cfg.protocol.image, cfg.protocol.precision, cfg.runtime.device)
    t_model = time.perf_counter()
    resolved = resolve_protocol(cfg, loaded.facts)
    resolved["data"].update(protocol_data(task.dataset_info))
    fingerprint = protocol_fingerprint(resolved)
    key = resume_key(fingerprint, task.dataset_info)
    model_dir = Path(cfg.results_dir) / "runs" / cfg.task.name / cfg.model.name
    unfinished = None if cfg.run_id else find_unfinished(model_dir, key)
    run_id = cfg.run_id or (unfinished.name if unfinished else new_run_id(fingerprint))
    folder = RunFolder(cfg.results_dir, cfg.task.name, cfg.model.name, run_id)
    if (folder.path / "metrics.json").exists():
        raise HarnessError(f"{folder.path}: run {run_id} is complete; a finished run is never overwritten")
    folder.write_config(cfg)
    record: dict[str, Any] = {
        "run_id": folder.run_id,
        "resume_key": key,
        "resumed": unfinished is not None,
        "started_at": started.isoformat(timespec="seconds"),
        **provenance.git_state(),
        "packages": provenance.package_versions(),
        "model": {"checkpoint": cfg.model.checkpoint, **loaded.facts},
        "dataset": task.dataset_info,
        "n_samples": len(samples),
        "device": provenance.device_info(loaded.device.type),
        "dtypes": loaded.dtypes,
        "determinism": provenance.determinism(),
        "protocol": resolved,
        "protocol_fingerprint": fingerprint,
        "status": "generating",
    }
    folder.write_provenance(record)

    outputs = _generate(cfg, task, samples, loaded, PartialPredictions(folder.path))
    record["n_resumed"] = len(samples) - len(outputs.pending)
    t_gen = time.perf_counter()
    kept = [(s, o) for s, o in zip(samples, outputs.all, strict=True) if o is not None]
    if len(kept) < len(samples):
        skipped = [s for s, o in zip(samples, outputs.all, strict=True) if o is None]
        task.drop({s.sample_id for s in skipped})
        record["skipped"] = {"sample_ids": [s.sample_id for s in skipped], "image_ids": [s.image_id for s in skipped]}
        resolved["data"]["skipped_sample_ids"] = record["skipped"]["sample_ids"]
        record["protocol_fingerprint"] = protocol_fingerprint(resolved)
        print(f"skipped {len(skipped)} sample(s) with bad images (on_bad_image=skip): the run is a data-axis proxy")
    predictions = task.official_predictions([s for s, _ in kept], [o for _, o in kept])
    folder.write_predictions(predictions)
    record["status"] = "scoring"
    folder.write_provenance(record)

    metrics = task.score(predictions)
    record["extra_outputs"] = task.write_extra(folder.path)
    folder.write_metrics(metrics)
    t_score = time.perf_counter()
    record["status"] = "complete"
    record["wall_s"] = {
        "data": round(t_data - t0, 3),
        "model_load": round(t_model - t_data, 3),
        "generate": round(t_gen - t_model, 3),
        "score": round(t_score - t_gen, 3),
        "total": round(t_score - t0, 3),
    }
    record["throughput_samples_per_s"] = round(len(samples) / max(t_gen - t_model, 1e-9), 3)
    folder.write_provenance(record)
    outputs.log.remove()  # only now: a scoring failure is resumed without generating again
    _judge_and_publish(cfg, folder.path)
    _summary(cfg, folder.path, metrics)
    return folder.path


@dataclass
class _Outputs:
    all: list[str | None]
    pending: list[int]
    log: PartialPredictions


def _generate(cfg: DictConfig, task: Task, samples: list[Sample], loaded: Any, log: PartialPredictions) -> _Outputs:
    """Generate what the partial log does not already hold, appending each batch to it as it finishes."""
    ids = [s.sample_id for s in samples]
    done = log.load(ids)
    pending = [i for i in range(len(samples)) if i not in done]
    if done:
        print(f"resuming: {len(done)} of {len(samples)} samples already generated")

    def bad_image(local: int, err: Exception) -> None:
        print(f"skipping sample {ids[pending[local]]}: {err}", file=sys.stderr)

    def record_batch(local: Sequence[int], texts: list[str | None]) -> None:
        batch = [pending[j] for j in local]
        log.append([(i, ids[i], t) for i, t in zip(batch, texts, strict=True)])
        done.update(zip(batch, texts, strict=True))

    generate(
        cfg,
        task,
        samples,
        loaded,
        pending,
        on_batch=record_batch,
        on_bad_image=bad_image if cfg.on_bad_image == "skip" else None,
    )
    return _Outputs([done[i] for i in range(len(samples))], pending, log)


def _judge_and_publish(cfg: DictConfig, run_dir: Path) -> None:
    if cfg.judge:
        from harness.judge import judge_run

        judge_run(run_dir)
    if cfg.leaderboard:
        from harness.leaderboard import rebuild

        rebuild(Path(cfg.results_dir), [cfg.task.name])


def _summary(cfg: DictConfig, run_dir: Path, metrics: dict[str, Any]) -> None:
    from harness.io import read_json

    shown = ", ".join(f"{k} {v}" for k, v in metrics["metrics"].items() if "[" not in k)
    line = f"{cfg.task.name} · {cfg.model.name} · {cfg.protocol.name} · n={metrics['n']}: {shown}"
    verdict_path = run_dir / "verdict.json"
    if verdict_path.exists():
        verdict = read_json(verdict_path)
        line += f" · verdict {verdict.get('status')}: {verdict.get('reason')}"
    print(line)
    print(f"run folder: {run_dir}")


def main(argv: list[str] | None = None) -> int:
    cfg = compose(sys.argv[1:] if argv is None else argv)
    run(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main))
