"""Real-size BLIP-2 (OPT-2.7B, FlanT5-XL) with random weights on one GPU: fast path vs HF-generate baseline.

Needs CUDA; without it, it stops with one line. No download: the architectures are built by hand
(`harness.models.real_size`), weights are seeded random (`no_init_weights`, then N(0, 0.02) on the GPU), precision
per component as conf/model/*.yaml (OPT: vision fp16, Q-Former fp32, LM fp16; FlanT5: LM bf16). Decoding is the
paper protocol (beam 5, max 10 new tokens) with `min_new_tokens = max_new_tokens`: random weights rarely emit EOS,
and this makes every question run the protocol's maximum length (a worst case, as the floors' 9-step rows).

The workload is VQAv2-shaped (5.29 questions per image, ~12-token prompts; bench/synthetic.py) and a timed slice:
questions/s on the slice, projected to all 214,354 VQAv2 val questions (labelled `extrapolated`). Image decoding is
not in the loop (bench/evaluator_bench.py measures it per CPU core). The compute floor is performance.md §2's
arithmetic for one H100 at 790 TFLOP/s (9 decode steps); `agreement` is the share of slice questions whose
answer tokens equal the baseline's (in fp16/bf16 near-tie beams may flip: performance.md §4).

    .venv/bin/python -m bench.gpu_bench [--models blip2-opt-2.7b blip2-flan-t5-xl] [--questions 5290]
        [--baseline-questions 1058] [--batch-size 256] [--baseline-batch-size 64] [--out bench/results/gpu_<date>.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from bench.synthetic import VQAV2_VAL_QUESTIONS, synthetic_loaded, workload
from harness import provenance
from harness.config import compose
from harness.errors import HarnessError, cli_main
from harness.eval.evaluator import run_generation
from harness.eval.fast_evaluator import run_fast_generation
from harness.models.loader import _cast_components, resolve_dtypes
from harness.models.real_size import REAL_SIZE, build, random_init_

ROOT = Path(__file__).resolve().parents[1]

# performance.md §2, one H100 (790 TFLOP/s dense bf16), VQAv2 val, 9 decode steps (every row to 10 tokens).
FLOORS_S = {
    "blip2-opt-2.7b": {"compute_s": 152, "practical_s": 240, "hf_style_compute_s": 510,
                       "source": "performance.md §2: image shared + prefill once, 9 steps; practical = 85% GEMM/HBM"},
    "blip2-flan-t5-xl": {"compute_s": 99, "practical_s": None, "hf_style_compute_s": 235,
                         "source": "performance.md §2 'Other backbones': prefill once / shared KV, 9-10 steps"},
}


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(fn: Any) -> tuple[Any, float]:
    _sync()
    start = time.perf_counter()
    out = fn()
    _sync()
    return out, time.perf_counter() - start


def decoding_for(name: str) -> Any:
    """The paper protocol's decoding, forced to its maximum length."""
    cfg = compose([f"model={name}", "protocol=paper"])
    decoding = OmegaConf.merge(cfg.protocol.decoding, {"min_new_tokens": cfg.protocol.decoding.max_new_tokens})
    return cfg, decoding


def bench_loaded(loaded: Any, decoding: Any, args: argparse.Namespace, vocab: int) -> dict[str, Any]:
    """Fast and baseline throughput on one loaded model (device-agnostic: the CPU test runs it on a tiny model)."""
    avoid = {loaded.image_token_index}
    fast_requests = workload(args.questions, loaded.family, vocab, avoid)
    base_requests = fast_requests[: args.baseline_questions]
    warm = fast_requests[: min(64, len(fast_requests))]
    run_fast_generation(loaded, warm, decoding, args.batch_size, progress=False)
    run_generation(loaded, warm[:16], decoding, args.baseline_batch_size, progress=False)
    fast, fast_s = _timed(lambda: run_fast_generation(loaded, fast_requests, decoding, args.batch_size,
                                                      progress=False))
    base, base_s = _timed(lambda: run_generation(loaded, base_requests, decoding, args.baseline_batch_size,
                                                 progress=False))
    fast_qps, base_qps = len(fast) / fast_s, len(base) / base_s
    agree = sum(a == b for a, b in zip(fast, base, strict=False)) / len(base)
    return {
        "questions_per_s": round(fast_qps, 2),
        "wall_s": round(fast_s, 3),
        "n_questions": len(fast),
        "n_images": len({r.image_key for r in fast_requests}),
        "batch_size": args.batch_size,
        "projected_full_val_s": round(VQAV2_VAL_QUESTIONS / fast_qps, 1),
        "baseline": {
            "what": "harness.eval.evaluator.run_generation: HF Blip2ForConditionalGeneration.generate per batch",
            "questions_per_s": round(base_qps, 2),
            "wall_s": round(base_s, 3),
            "n_questions": len(base),
            "batch_size": args.baseline_batch_size,
            "projected_full_val_s": round(VQAV2_VAL_QUESTIONS / base_qps, 1),
        },
        "speedup": round(fast_qps / base_qps, 2),
        "agreement": round(agree, 4),
        "extrapolated": True,
        "extrapolation": f"timed slice of {len(fast)} (fast) / {len(base)} (baseline) questions, "
        f"scaled to {VQAV2_VAL_QUESTIONS} at the measured rate",
    }


def bench_model(name: str, args: argparse.Namespace) -> dict[str, Any]:
    cfg, decoding = decoding_for(name)
    dtypes = resolve_dtypes(cfg.model, cfg.protocol.precision)
    device = torch.device("cuda")
    build_start = time.perf_counter()
    model = random_init_(build(name, device), seed=0)
    _cast_components(model, dtypes)
    model.eval()
    loaded = synthetic_loaded(model, cfg.model.family, dtypes, device)
    result = {"model": name, "dtypes": dtypes, "build_s": round(time.perf_counter() - build_start, 1),
              "attn_implementation": {k: getattr(model.config, k)._attn_implementation
                                      for k in ("vision_config", "qformer_config", "text_config")},
              "decoding": OmegaConf.to_container(decoding)}
    result.update(bench_loaded(loaded, decoding, args, int(model.config.text_config.vocab_size) - 64))
    floor = FLOORS_S[name]
    result["floor"] = floor
    result["ratio_to_floor"] = round(result["projected_full_val_s"] / floor["compute_s"], 2)
    result["baseline"]["ratio_to_floor"] = round(result["baseline"]["projected_full_val_s"] / floor["compute_s"], 2)
    result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    del model, loaded
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(REAL_SIZE), choices=REAL_SIZE)
    p.add_argument("--questions", type=int, default=5290, help="fast-path slice (default 5290 = 1000 images)")
    p.add_argument("--baseline-questions", type=int, default=1058, help="baseline slice (default 1058)")
    p.add_argument("--batch-size", type=int, default=256, help="fast path: questions per LM batch (halves on OOM)")
    p.add_argument("--baseline-batch-size", type=int, default=64, help="baseline batch (LAVIS batch_size_eval)")
    p.add_argument("--out", type=Path, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not torch.cuda.is_available():
        raise HarnessError("bench/gpu_bench.py needs a CUDA GPU and none is visible (CPU figures: "
                           "bench/evaluator_bench.py)")
    date = dt.datetime.now(dt.UTC)
    record = {
        "bench": "gpu_evaluator",
        "date": date.isoformat(timespec="seconds"),
        **provenance.git_state(),
        "versions": provenance.package_versions(),
        "device": provenance.device_info("cuda"),
        "workload": "VQAv2-shaped synthetic (bench/synthetic.py), random weights, every answer 10 tokens",
        "results": [bench_model(name, args) for name in args.models],
    }
    out = args.out or ROOT / "bench" / "results" / f"gpu_{date:%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    for r in record["results"]:
        print(f"{r['model']}: fast {r['questions_per_s']} q/s (full val ~{r['projected_full_val_s']} s, "
              f"{r['ratio_to_floor']}x floor), HF generate {r['baseline']['questions_per_s']} q/s "
              f"(~{r['baseline']['projected_full_val_s']} s), speedup {r['speedup']}x, agreement {r['agreement']}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main))
