"""CPU benchmark of the generation paths: fast vs reference on tiny models, and image preprocessing per core.

1. Generation: a VQAv2-scale synthetic fixture (214,354 questions over 40,504 images, `python -m harness.fixtures`)
   is generated once; a TIMED SLICE of its first `--questions` questions (file order, so grouped by image as in the
   real file) runs through both paths, for tiny-opt and tiny-t5, with the paper protocol (beam 5), in one process.
   Tiny models are ~100k-parameter stand-ins: the figures show the evaluator's own overheads and the work it avoids
   (vision encodes, padding, per-beam prefill), not BLIP-2 speed. There is no compute floor for CPU.
2. Preprocessing: real-size JPEGs (640x480, COCO-like), decoded and run through the pinned PIL image processor at
   224 px, in one thread and in `os.cpu_count()` prefetch threads: images/s per core, and the cores a GPU would
   need at performance.md's floor rates (arithmetic on the measured rate, labelled as such).

    .venv/bin/python -m bench.evaluator_bench [--questions 1058] [--batch-size 32] [--out bench/results/...json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from harness import provenance
from harness.config import compose
from harness.eval.batch_plan import padded_tokens
from harness.eval.evaluator import run_generation
from harness.eval.fast_evaluator import run_fast_generation
from harness.eval.generation import requests_for
from harness.eval.prefetch import ImagePrefetcher, preprocess
from harness.eval.prompt_tokens import tokenize_prompts
from harness.models.loader import load_model
from tasks import get_task

ROOT = Path(__file__).resolve().parents[1]
VQAV2_VAL = (214_354, 40_504)
FLOOR_QPS = (894, 1455)  # performance.md §2 practical floor, OPT-2.7B on one H100, 9 and 3 decode steps


def fixture(root: Path) -> float:
    """Write the VQAv2-scale fixture into `root` unless it is there; returns the seconds it took (0 if reused)."""
    if (root / "vqav2").is_dir():
        return 0.0
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "harness.fixtures", "vqav2", "--out", str(root),
           "--questions", str(VQAV2_VAL[0]), "--images", str(VQAV2_VAL[1])]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def padding_stats(loaded: Any, requests: list, batches: dict[str, list[list[int]]], limit: int | None) -> dict:
    """LM text tokens fed (prompt + padding; image tokens excluded) by each path's actual batches."""
    lengths = [len(r) for r in tokenize_prompts(loaded, [q.prompt for q in requests], limit)]
    return {"prompt_tokens": sum(lengths)} | {
        f"{path}_padded_tokens": padded_tokens(done, lengths) for path, done in batches.items()
    }


def bench_model(name: str, data: Path, n: int, batch_size: int, rounds: int) -> dict[str, Any]:
    cfg = compose([f"model={name}", "protocol=paper", f"task.data_root={data}", f"protocol.limit={n}",
                   "runtime.device=cpu"])
    task = get_task(cfg.task, cfg.protocol)
    samples = task.load()
    loaded = load_model(cfg.model, cfg.protocol.image, cfg.protocol.precision, "cpu")
    requests = requests_for(task, samples, range(len(samples)))
    decoding, limit = cfg.protocol.decoding, cfg.protocol.prompt.max_prompt_tokens
    paths = {"reference": run_generation, "fast": run_fast_generation}
    for fn in paths.values():
        fn(loaded, requests[:batch_size], decoding, batch_size, limit, progress=False)  # warm-up
    times: dict[str, list[float]] = {path: [] for path in paths}
    cpu: dict[str, list[float]] = {path: [] for path in paths}
    outputs: dict[str, list] = {}
    batches: dict[str, list[list[int]]] = {}
    for r in range(rounds):  # interleaved, order alternating: a shared CPU's load drifts
        for path in ("reference", "fast") if r % 2 == 0 else ("fast", "reference"):
            batches[path] = []
            start, start_cpu = time.perf_counter(), time.process_time()
            outputs[path] = paths[path](loaded, requests, decoding, batch_size, limit, progress=False,
                                        on_batch=lambda done, _, log=batches[path]: log.append(list(done)))
            times[path].append(time.perf_counter() - start)
            cpu[path].append(time.process_time() - start_cpu)
    n_q = len(requests)

    def rates(path: str) -> dict[str, Any]:
        return {"questions_per_s": round(n_q / min(times[path]), 2),
                "questions_per_s_median": round(n_q / statistics.median(times[path]), 2),
                "questions_per_cpu_s": round(n_q / min(cpu[path]), 2),
                "wall_s": [round(t, 3) for t in times[path]],
                "cpu_s": [round(t, 3) for t in cpu[path]]}

    return {
        "model": name,
        "protocol": cfg.protocol.name,
        "num_beams": int(decoding.num_beams),
        "n_questions": n_q,
        "n_images": len({r.image_key for r in requests}),
        "batch_size": batch_size,
        **rates("fast"),
        "baseline": {"what": "evaluator=reference (HF generate)", **rates("reference")},
        "speedup": round(min(times["reference"]) / min(times["fast"]), 2),
        "speedup_cpu_time": round(min(cpu["reference"]) / min(cpu["fast"]), 2),
        "agreement": sum(a == b for a, b in zip(outputs["fast"], outputs["reference"], strict=True)) / n_q,
        "vision_encodes": {"reference": n_q, "fast": len({r.image_key for r in requests})},
        "lm_batches": {path: len(done) for path, done in batches.items()},
        "tokens": padding_stats(loaded, requests, batches, limit),
    }


def real_size_jpegs(n: int, seed: int = 0) -> list[bytes]:
    """640x480 JPEGs with COCO-like entropy (smooth colour fields + fine noise), quality 90."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        coarse = rng.integers(0, 256, (15, 20, 3), dtype=np.uint8)
        base = np.asarray(Image.fromarray(coarse).resize((640, 480), Image.Resampling.BICUBIC), dtype=np.int16)
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def best_of(rounds: int, fn: Any) -> float:
    """Shortest of `rounds` timings (the machine is shared; the minimum is the least disturbed)."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_preprocessing(n: int) -> dict[str, Any]:
    from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, PILImageResampling
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    proc = BlipImageProcessorPil(size={"height": 224, "width": 224}, resample=PILImageResampling.BICUBIC,
                                 image_mean=list(OPENAI_CLIP_MEAN), image_std=list(OPENAI_CLIP_STD),
                                 do_convert_rgb=True)
    jpegs = real_size_jpegs(n)

    def loader(data: bytes) -> Any:
        def load() -> Image.Image:
            image = Image.open(io.BytesIO(data))
            image.load()
            return image
        return load

    loads = [loader(j) for j in jpegs]
    cores = os.cpu_count() or 1

    def threaded(workers: int) -> None:
        with ImagePrefetcher(proc, [loads[i : i + 16] for i in range(0, n, 16)], num_workers=workers) as pending:
            for _ in pending:
                pass

    for load in loads[:4]:
        preprocess(load, proc)  # warm-up
    decode_s = best_of(3, lambda: [load() for load in loads])
    one_s = best_of(3, lambda: [preprocess(load, proc) for load in loads])
    pool_s = best_of(3, lambda: threaded(cores))
    per_core = n / one_s
    return {
        "n_images": n,
        "jpeg": {"size": [640, 480], "quality": 90, "mean_kib": round(sum(map(len, jpegs)) / n / 1024, 1)},
        "processor": "BlipImageProcessorPil, 224 px, bicubic, CLIP mean/std",
        "decode_images_per_s_one_thread": round(n / decode_s, 1),
        "images_per_s_per_core": round(per_core, 1),
        "threads": cores,
        "images_per_s_all_threads": round(n / pool_s, 1),
        "cores_needed_at_gpu_floor": {
            "derived": "arithmetic: performance.md practical-floor questions/s / 5.29 questions per image / "
            "measured images/s per core",
            "questions_per_s": list(FLOOR_QPS),
            "cores": [round(q / (VQAV2_VAL[0] / VQAV2_VAL[1]) / per_core, 1) for q in FLOOR_QPS],
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--questions", type=int, default=1058, help="timed slice: the first N questions (default 1058)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3, help="interleaved timed rounds per path (best and median)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: CPU time is then the work done)")
    p.add_argument("--images", type=int, default=128, help="JPEGs for the preprocessing bench")
    p.add_argument("--data", type=Path, default=None, help="fixture dir to (re)use (default: a temporary one)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    date = dt.datetime.now(dt.UTC)
    load_start = os.getloadavg()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="evaluator-bench-") as tmp:
        data = args.data or Path(tmp)
        fixture_s = fixture(data)
        start = time.perf_counter()
        models = [bench_model(m, data, args.questions, args.batch_size, args.rounds) for m in ("tiny-opt", "tiny-t5")]
        generation_s = time.perf_counter() - start
    record = {
        "bench": "evaluator_cpu",
        "date": date.isoformat(timespec="seconds"),
        **provenance.git_state(),
        "versions": provenance.package_versions(),
        "device": provenance.device_info("cpu") | {
            "torch_threads": args.threads,
            "cpu_count": os.cpu_count(),
            "load_avg_at_start": load_start,
            "load_avg_at_end": os.getloadavg(),
            "note": "shared machine: other processes' load makes wall times noisy; best of interleaved rounds "
            "and CPU time (process_time) are both recorded",
        },
        "workload": {"fixture": f"harness.fixtures vqav2, {VQAV2_VAL[0]} questions over {VQAV2_VAL[1]} images",
                     "fixture_s": round(fixture_s, 1), "timed_slice": f"first {args.questions} questions",
                     "generation_s_both_models_both_paths": round(generation_s, 1)},
        "floor": None,
        "floor_note": "no floor is defined for CPU: performance.md's floors are for BLIP-2 on one H100",
        "results": models,
        "preprocessing": bench_preprocessing(args.images),
    }
    out = args.out or ROOT / "bench" / "results" / f"evaluator_cpu_{date:%Y-%m-%d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    for r in models:
        print(f"{r['model']} ({r['n_questions']} q, beam {r['num_beams']}): fast {r['questions_per_s']} q/s "
              f"({r['questions_per_cpu_s']} per CPU-s), reference {r['baseline']['questions_per_s']} q/s "
              f"({r['baseline']['questions_per_cpu_s']} per CPU-s), x{r['speedup']} wall, "
              f"x{r['speedup_cpu_time']} CPU time, agreement {r['agreement']}")
    pre = record["preprocessing"]
    print(f"preprocessing 640x480 -> 224: {pre['images_per_s_per_core']} images/s/core, "
          f"{pre['images_per_s_all_threads']} with {pre['threads']} threads")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
