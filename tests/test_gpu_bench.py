"""What of the GPU benchmark can run on a CPU: real-size architectures on the meta device, the one-line refusal
without CUDA, and the benchmark loop itself on a tiny model (where fast and baseline must agree exactly)."""

from __future__ import annotations

import argparse

import pytest
import torch

from bench import gpu_bench
from bench.synthetic import synthetic_loaded
from harness.errors import cli_main
from harness.models.real_size import build, parameter_count
from harness.models.tiny import create_tiny_model

# claims.md, Table 2 parameter columns: HF counts of the same architectures.
EXPECTED_MILLIONS = {"blip2-opt-2.7b": 3744.8, "blip2-flan-t5-xl": 3942.4}


@pytest.mark.parametrize("name", sorted(EXPECTED_MILLIONS))
def test_real_size_architectures_on_meta(name):
    model = build(name, "meta")
    assert parameter_count(model) / 1e6 == pytest.approx(EXPECTED_MILLIONS[name], abs=0.1)
    trainable = [model.qformer, model.language_projection]
    assert sum(p.numel() for m in trainable for p in m.parameters()) / 1e6 == pytest.approx(107.1, abs=0.5)
    vision = model.config.vision_config
    assert (vision.num_hidden_layers, vision.hidden_size, vision.image_size, model.config.num_query_tokens) == (
        39, 1408, 224, 32,
    )
    assert model.config.text_config._attn_implementation == "sdpa"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_refuses_without_cuda_in_one_line(capsys):
    assert cli_main(gpu_bench.main, []) == 2
    err = capsys.readouterr().err.strip()
    assert "needs a CUDA GPU" in err and "\n" not in err


@pytest.mark.parametrize("name", ["tiny-opt", "tiny-t5"])
def test_bench_loop_on_a_tiny_model_agrees_exactly(name):
    model, _ = create_tiny_model(name)
    cfg, decoding = gpu_bench.decoding_for(name)
    assert decoding.min_new_tokens == decoding.max_new_tokens == 10
    dtypes = {"vision": "float32", "qformer": "float32", "lm": "float32"}
    loaded = synthetic_loaded(model.eval(), cfg.model.family, dtypes, torch.device("cpu"))
    args = argparse.Namespace(questions=30, baseline_questions=30, batch_size=8, baseline_batch_size=4)
    result = gpu_bench.bench_loaded(loaded, decoding, args, int(model.config.text_config.vocab_size) - 64)
    assert result["agreement"] == 1.0
    assert result["n_images"] == 6 and result["questions_per_s"] > 0 and result["extrapolated"]
