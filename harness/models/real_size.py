"""Real-size BLIP-2 architectures (OPT-2.7B, FlanT5-XL) with random weights, for GPU benchmarks without downloads.

Throughput depends on shapes, not weights, so the benchmark builds the exact architectures of
`Salesforce/blip2-opt-2.7b` and `Salesforce/blip2-flan-t5-xl` from hand-written configs (performance.md §1; the
Hub configs): EVA ViT-g/14 with 39 blocks at 224 px, a 12-layer Q-Former with 32 queries and cross-attention every
2nd layer, and the real LM. `Blip2Config()` alone would give an OPT-125m-shaped LM, so the text config is explicit.
Building on the meta device is instant and allocates nothing (the CPU tests count parameters that way; claims.md
gives 3,744.8M for ViT-g OPT2.7B and 3,942.4M for ViT-g FlanT5XL with its untied head).
"""

from __future__ import annotations

from typing import Any

import torch

from harness.errors import HarnessError

REAL_SIZE = ("blip2-opt-2.7b", "blip2-flan-t5-xl")

VISION: dict[str, Any] = {
    "hidden_size": 1408,
    "intermediate_size": 6144,
    "num_hidden_layers": 39,
    "num_attention_heads": 16,
    "image_size": 224,
    "patch_size": 14,
    "layer_norm_eps": 1e-6,
    "qkv_bias": True,
    "hidden_act": "gelu",
}
QFORMER: dict[str, Any] = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "cross_attention_frequency": 2,
    "encoder_hidden_size": 1408,
    "vocab_size": 30522,
    "max_position_embeddings": 512,
}
OPT_2_7B: dict[str, Any] = {
    "vocab_size": 50304,  # 50,272 + `<image>` (50265), padded to a multiple of 64 as the Hub checkpoint is
    "hidden_size": 2560,
    "word_embed_proj_dim": 2560,
    "ffn_dim": 10240,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "max_position_embeddings": 2048,
    "do_layer_norm_before": True,
    "activation_function": "relu",
    "bos_token_id": 2,
    "pad_token_id": 1,
    "eos_token_id": 50118,  # "\n": where blip2-opt's generation config stops (protocols.md §12)
}
FLAN_T5_XL: dict[str, Any] = {
    "vocab_size": 32128,
    "d_model": 2048,
    "d_kv": 64,
    "d_ff": 5120,
    "num_layers": 24,
    "num_decoder_layers": 24,
    "num_heads": 32,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "feed_forward_proj": "gated-gelu",
    "dense_act_fn": "gelu",
    "tie_word_embeddings": False,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
}
IMAGE_TOKEN_INDEX = {"blip2-opt-2.7b": 50265, "blip2-flan-t5-xl": 32100}


def real_size_config(name: str) -> Any:
    """`Blip2Config` of the named checkpoint's architecture (no download)."""
    from transformers import Blip2Config, OPTConfig, T5Config

    if name not in REAL_SIZE:
        raise HarnessError(f"unknown real-size model {name!r}; choose one of {', '.join(REAL_SIZE)}")
    text = OPTConfig(**OPT_2_7B) if name == "blip2-opt-2.7b" else T5Config(**FLAN_T5_XL)
    return Blip2Config(
        vision_config=VISION,
        qformer_config=QFORMER,
        text_config=text.to_dict(),
        num_query_tokens=32,
        image_token_index=IMAGE_TOKEN_INDEX[name],
    )


def build(name: str, device: str | torch.device = "meta") -> Any:
    """The model with uninitialised float32 weights on `device` (meta: shapes only); T5's head untied as on the Hub.

    `no_init_weights` skips HF's initialisers (minutes on CPU for 3.7B parameters); call `random_init_` on a real
    device. Buffers (position ids) are built normally.
    """
    from transformers import Blip2ForConditionalGeneration
    from transformers.initialization import no_init_weights

    config = real_size_config(name)
    with no_init_weights(), torch.device(device):
        model = Blip2ForConditionalGeneration(config)
    model.tie_weights()  # skipped with init_weights: OPT's head, T5's encoder/decoder embeddings share one matrix
    lm = model.language_model
    head, embed = lm.get_output_embeddings(), lm.get_input_embeddings()
    if name == "blip2-flan-t5-xl" and head.weight is embed.weight:  # a fresh T5Config ties them (protocols.md §12)
        head.weight = torch.nn.Parameter(torch.empty_like(embed.weight))
        config.text_config.tie_word_embeddings = False
        lm.config.tie_word_embeddings = False
    return model.eval()


@torch.no_grad()
def random_init_(model: Any, seed: int = 0, std: float = 0.02) -> Any:
    """Seeded random weights: matrices and embeddings N(0, std), biases 0, norm scales 1 (finite in fp16/bf16)."""
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    for name, param in model.named_parameters():
        if name.endswith("bias"):
            param.zero_()
        elif param.ndim == 1:
            param.fill_(1.0)
        else:
            param.normal_(0.0, std, generator=gen)
    return model


def parameter_count(model: Any) -> int:
    """Distinct parameters (a tied weight counts once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
