"""Tiny offline BLIP-2 models (OPT or T5 language model) for tests and dry runs.

No machine that runs the tests can download weights or tokenizers, yet the evaluator must be exercised through the
code path real checkpoints take. So these models are built in code (configs, a hand-made tokenizer, random weights
from a seed), written with `save_pretrained` in the layout of the `Salesforce/blip2-*` checkpoints, and loaded back
with `Blip2ForConditionalGeneration.from_pretrained` / `Blip2Processor.from_pretrained` like any local path. Builds
are deterministic (same seed, same files, also across processes) and cached on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

TINY_MODELS = ("tiny-opt", "tiny-t5")
NUM_QUERY_TOKENS = 8
IMAGE_SIZE = 32
IMAGE_TOKEN = "<image>"
MANIFEST = "tiny_model.json"
# Bump when the build recipe changes in a way the hashed spec in `arch_hash` does not capture.
RECIPE_VERSION = 1

# Common English words, so prompts tokenize into few pieces and answers decode to words, not bytes.
WORDS = (
    "question answer short a an the of in on at to is are was be it this that there what which who where "
    "when why how many much color colour man woman men women person people boy girl child dog cat horse bird "
    "cow sheep car bus train truck bike plane boat street road table chair bed room kitchen food pizza cake "
    "plate cup water sky tree grass field snow beach photo picture image red blue green yellow white black "
    "brown orange pink gray grey yes no one two three four five six some with and or holding sitting standing "
    "playing wearing riding eating looking doing does do can you see he she they his her their large small "
    "big little top front side left right up down near next"
).split()
PUNCTUATION = ".,?!:;'\"-()/&%$#@*+=<>[]_"
# facebook/opt-*'s first ids; `</s>` is BOS and the tokenizer's EOS, but generation stops at "\n" (see below).
OPT_SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")

VISION_CONFIG: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "image_size": IMAGE_SIZE,
    "patch_size": 8,
    # The class default (1e-10) makes the ViT output constant; 0.02 still leaves answers image-independent.
    "initializer_range": 0.2,
}
QFORMER_CONFIG: dict[str, Any] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "cross_attention_frequency": 1,
    "vocab_size": 64,
    "max_position_embeddings": 64,
    "initializer_range": 0.2,
}
# Blip2Config's own range (the language projection), so query outputs are not drowned by the prompt embeddings.
PROJECTION_INIT_STD = 0.3
OPT_CONFIG: dict[str, Any] = {
    "hidden_size": 32,
    "word_embed_proj_dim": 32,
    "ffn_dim": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 128,
    "do_layer_norm_before": True,
    # With 0.02 the residual stream is just the input embedding: every answer repeats the prompt's last token.
    "init_std": 0.3,
}
T5_CONFIG: dict[str, Any] = {
    "d_model": 32,
    "d_kv": 8,
    "d_ff": 64,
    "num_layers": 2,
    "num_decoder_layers": 2,
    "num_heads": 4,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    # As Flan-T5 on the Hub: gated FFN with exact-erf GELU, separate lm_head (no d_model**-0.5 output scaling).
    "feed_forward_proj": "gated-gelu",
    "dense_act_fn": "gelu",
    "tie_word_embeddings": False,
}
# OPT ties lm_head to the embedding, so a row's norm sets how often its token wins: byte symbols are shrunk so
# answers are mostly (pieces of) words; the "\n" row (the EOS) is enlarged instead, so some answers stop early.
OPT_BYTE_ROW_SCALE = 0.25
OPT_NEWLINE_ROW_SCALE = 2.0


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table (the alphabet of byte-level BPE)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    table = {b: chr(b) for b in printable}
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + len(table) - len(printable))
    return dict(sorted(table.items()))


def _opt_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """OPT's special-token layout, then all 256 byte symbols (any text encodes), then whole-word merges.

    Each word is merged left to right (`Ġw`, `Ġwh`, `Ġwha`, ...). Space-prefixed words come first so their
    merges outrank those of bare words and a known word always becomes one token.
    """
    vocab = {token: i for i, token in enumerate(OPT_SPECIAL_TOKENS)}
    for char in _bytes_to_unicode().values():
        vocab[char] = len(vocab)
    capitals = ("Question", "Answer", "Short")
    words = [f"Ġ{w}" for w in (*WORDS, *capitals)] + [*capitals, *WORDS]
    merges: list[tuple[str, str]] = []
    for word in words:
        for end in range(2, len(word) + 1):
            if word[:end] not in vocab:
                vocab[word[:end]] = len(vocab)
                merges.append((word[: end - 1], word[end - 1]))
    return vocab, merges


def _t5_vocab() -> list[tuple[str, float]]:
    """T5's layout (`<pad>` 0, `</s>` 1, `<unk>` 2) and hand-set Unigram scores: words beat characters.

    Scores are distinct and fixed in code, so segmentation never depends on ties or on a trainer's randomness.
    """
    chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + PUNCTUATION
    words = [*WORDS, *(w.capitalize() for w in WORDS)]
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(f"▁{w}", -4.0 - 1e-3 * i) for i, w in enumerate(words)]
    pieces += [(w, -6.0 - 1e-3 * i) for i, w in enumerate(words)]
    pieces += [(c, -9.0 - 1e-3 * i) for i, c in enumerate(chars)]
    unique: dict[str, float] = {}
    for piece, score in pieces:
        unique.setdefault(piece, score)
    return list(unique.items())


def _build_tokenizer(family: str) -> Any:
    """A tokenizer in the real checkpoint's layout, with `<image>` added (its id goes into the model config)."""
    from transformers import AddedToken, GPT2Tokenizer, T5Tokenizer

    if family == "opt":
        vocab, merges = _opt_vocab_and_merges()
        tokenizer = GPT2Tokenizer(
            vocab=vocab,
            merges=merges,
            bos_token="</s>",
            eos_token="</s>",
            unk_token="<unk>",
            pad_token="<pad>",
            add_bos_token=True,
            padding_side="left",
        )
    else:
        tokenizer = T5Tokenizer(vocab=_t5_vocab(), extra_ids=0, padding_side="right")
    tokenizer.add_tokens([AddedToken(IMAGE_TOKEN, normalized=False, special=True)], special_tokens=True)
    return tokenizer


def _build_config(family: str, tokenizer: Any) -> Any:
    """Blip2Config with an explicit text config (the default is OPT-125m-shaped) and the tokenizer's ids."""
    from transformers import Blip2Config, OPTConfig, T5Config

    vocab_size = -(-len(tokenizer) // 64) * 64  # padded above len(tokenizer), as the real checkpoints are
    if family == "opt":
        text_config = OPTConfig(
            vocab_size=vocab_size,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            # As blip2-opt-*: generation stops at "\n" (50118 there), not at the tokenizer's `</s>`.
            eos_token_id=tokenizer.convert_tokens_to_ids(_bytes_to_unicode()[ord("\n")]),
            **OPT_CONFIG,
        )
    else:
        text_config = T5Config(
            vocab_size=vocab_size,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
            **T5_CONFIG,
        )
    return Blip2Config(
        vision_config=VISION_CONFIG,
        qformer_config=QFORMER_CONFIG,
        text_config=text_config,
        num_query_tokens=NUM_QUERY_TOKENS,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        initializer_range=PROJECTION_INIT_STD,
    )


def _build_model(config: Any, family: str, seed: int) -> Any:
    """Random fp32 weights from `seed`, with the fixes a random BLIP-2 needs to be a useful test model.

    transformers' own init runs first; then the query tokens, which Blip2 zero-inits (all queries would be equal),
    are drawn; for T5 the lm_head is untied and drawn separately, as Flan-T5 ships it; for OPT embedding rows are
    rescaled (see `OPT_BYTE_ROW_SCALE`). All draws come from a forked RNG: the caller's RNG state is untouched.
    """
    import torch
    from transformers import Blip2ForConditionalGeneration

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        model = Blip2ForConditionalGeneration(config)
        model.query_tokens.normal_(0.0, config.qformer_config.initializer_range)
        lm = model.language_model
        if family == "opt":
            embedding = lm.get_input_embeddings().weight
            first_byte = len(OPT_SPECIAL_TOKENS)
            embedding[first_byte : first_byte + 256] *= OPT_BYTE_ROW_SCALE
            embedding[config.text_config.eos_token_id] *= OPT_NEWLINE_ROW_SCALE / OPT_BYTE_ROW_SCALE
        else:
            lm.lm_head.weight = torch.nn.Parameter(torch.randn_like(lm.lm_head.weight))
            # Else save_pretrained would drop lm_head.weight as a duplicate of the shared embedding.
            model.all_tied_weights_keys.pop("language_model.lm_head.weight", None)
            lm.all_tied_weights_keys.pop("lm_head.weight", None)
    return model.eval()


def _build_processor(tokenizer: Any) -> Any:
    """Blip2Processor with the real checkpoints' image settings (bicubic, CLIP mean/std, RGB), at 32 px."""
    from transformers import Blip2Processor
    from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, PILImageResampling
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    image_processor = BlipImageProcessorPil(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        resample=PILImageResampling.BICUBIC,
        image_mean=list(OPENAI_CLIP_MEAN),
        image_std=list(OPENAI_CLIP_STD),
        do_convert_rgb=True,
    )
    return Blip2Processor(image_processor, tokenizer, num_query_tokens=NUM_QUERY_TOKENS)


def _family(name: str) -> str:
    if name not in TINY_MODELS:
        raise HarnessError(f"unknown tiny model {name!r}; choose one of {', '.join(TINY_MODELS)}")
    return name.removeprefix("tiny-")


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise HarnessError(f"tiny model seed must be a non-negative integer, got {seed!r}")


def arch_hash(name: str) -> str:
    """Fingerprint of all that shapes the built files, so a changed recipe or library gets a fresh cache entry."""
    import torch
    import transformers

    spec = {
        "recipe": RECIPE_VERSION,
        "name": name,
        "vision": VISION_CONFIG,
        "qformer": QFORMER_CONFIG,
        "text": OPT_CONFIG if _family(name) == "opt" else T5_CONFIG,
        "num_query_tokens": NUM_QUERY_TOKENS,
        "projection_init_std": PROJECTION_INIT_STD,
        "opt_row_scales": [OPT_BYTE_ROW_SCALE, OPT_NEWLINE_ROW_SCALE],
        "words": WORDS,
        "punctuation": PUNCTUATION,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def create_tiny_model(name: str, seed: int = 0) -> tuple[Any, Any]:
    """Build `name` in memory: `(Blip2ForConditionalGeneration, Blip2Processor)`; tests compare it with a reload."""
    from transformers import GenerationConfig

    family = _family(name)
    _check_seed(seed)
    tokenizer = _build_tokenizer(family)
    config = _build_config(family, tokenizer)
    model = _build_model(config, family, seed)
    text = config.text_config
    model.generation_config = GenerationConfig(
        bos_token_id=getattr(text, "bos_token_id", None),
        eos_token_id=text.eos_token_id,
        pad_token_id=text.pad_token_id,
        decoder_start_token_id=getattr(text, "decoder_start_token_id", None),
    )
    return model, _build_processor(tokenizer)


def build_tiny_model(name: str, out_dir: Path, seed: int = 0) -> Path:
    """Build `name` with weights from `seed`; save model, processor and generation config into `out_dir`.

    `tiny_model.json` (a manifest of the ids the evaluator needs) is written last: it marks a complete build.
    """
    from transformers.utils import logging as hf_logging

    model, processor = create_tiny_model(name, seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    progress_bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out_dir)
    finally:
        if progress_bar:
            hf_logging.enable_progress_bar()
    processor.save_pretrained(out_dir)
    generation = model.generation_config
    manifest = {
        "name": name,
        "family": _family(name),
        "seed": seed,
        "arch_hash": arch_hash(name),
        "num_query_tokens": model.config.num_query_tokens,
        "image_token_index": model.config.image_token_index,
        "bos_token_id": generation.bos_token_id,
        "eos_token_id": generation.eos_token_id,
        "pad_token_id": generation.pad_token_id,
        "decoder_start_token_id": generation.decoder_start_token_id,
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return out_dir


def tiny_model_path(name: str, seed: int = 0, cache_dir: Path | None = None) -> Path:
    """Path of tiny model `name`, built on first use.

    Cached in `<root>/models/<name>-s<seed>-<arch-hash>`; root is `cache_dir`, else `$HARNESS_CACHE_DIR`, else
    `~/.cache/blip2-harness`. Concurrent callers (parallel test processes) serialise on a file lock, and the model
    is built in a temporary sibling folder and renamed into place, so no one ever sees a half-written model.
    """
    from filelock import FileLock

    _check_seed(seed)
    root = Path(cache_dir or os.environ.get("HARNESS_CACHE_DIR") or Path.home() / ".cache" / "blip2-harness")
    models = root.expanduser() / "models"
    final = models / f"{name}-s{seed}-{arch_hash(name)}"
    if (final / MANIFEST).is_file():
        return final
    try:
        models.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{final}.lock"):
            if (final / MANIFEST).is_file():
                return final
            if final.exists():  # no manifest: debris (our builds appear whole, by rename), not a model
                shutil.rmtree(final)
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=models))
            try:
                build_tiny_model(name, tmp, seed)
                tmp.chmod(0o755)  # mkdtemp makes it owner-only; the cache may be shared
                tmp.rename(final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except OSError as err:
        raise HarnessError(f"cannot build tiny model in {models}: {err}; set HARNESS_CACHE_DIR") from err
    return final
