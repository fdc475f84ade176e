"""Load a BLIP-2 checkpoint (Hub id, local folder, or tiny offline model) with precision per component.

One loading path for real and tiny models: tiny models are built and saved to disk first, then loaded through the
same `from_pretrained` calls. The image processor is pinned to the PIL backend so results do not depend on whether
torchvision happens to be installed (PIL equals LAVIS's preprocessing exactly; protocols.md §10).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from harness import hub
from harness.errors import HarnessError

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class LoadedModel:
    """A ready model + processor and the facts only the checkpoint knows (recorded in the resolved protocol)."""

    model: Any
    processor: Any
    family: str
    device: torch.device
    dtypes: dict[str, str]
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def image_token_index(self) -> int:
        return int(self.model.config.image_token_index)

    @property
    def num_query_tokens(self) -> int:
        return int(self.model.config.num_query_tokens)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise HarnessError(f"runtime.device={name} but no CUDA device is available; use runtime.device=cpu")
    return torch.device(name)


def resolve_dtypes(model_cfg: DictConfig, precision: DictConfig) -> dict[str, str]:
    """The protocol's precision where it sets one, the model config's otherwise."""
    out = {}
    for part in ("vision", "qformer", "lm"):
        name = precision[part] or model_cfg.dtype[part]
        if name not in DTYPES:
            raise HarnessError(f"precision.{part}={name!r}: choose one of {', '.join(DTYPES)}")
        out[part] = name
    if model_cfg.family == "t5" and out["lm"] == "float16":
        raise HarnessError(
            "FlanT5 must not run in float16 (it overflows; pre-trained in bf16): set precision.lm=bfloat16"
        )
    return out


def checkpoint_path(model_cfg: DictConfig) -> tuple[str, bool]:
    """(what to pass to from_pretrained, local_files_only)."""
    if model_cfg.tiny:
        from harness.models.tiny import tiny_model_path

        return str(tiny_model_path(model_cfg.checkpoint, seed=model_cfg.seed)), True
    return model_cfg.checkpoint, hub.require_model(model_cfg.checkpoint, model_cfg.revision)


def _check_weights_format(path: str, allow_pickle: bool) -> None:
    folder = Path(path)
    if not folder.is_dir() or allow_pickle:
        return
    if not list(folder.glob("*.safetensors")) and list(folder.glob("*.bin")):
        raise HarnessError(
            f"{folder}: only pickle weights (*.bin) found; they can run code when loaded. "
            "Convert to safetensors, or set model.allow_pickle=true if you trust the source"
        )


def _cast_components(model: Any, dtypes: dict[str, str]) -> None:
    """Vision and projection in the vision dtype (HF casts Q-Former output back to it), Q-Former and queries in
    theirs, LM in its own."""
    model.vision_model.to(DTYPES[dtypes["vision"]])
    model.language_projection.to(DTYPES[dtypes["vision"]])
    model.qformer.to(DTYPES[dtypes["qformer"]])
    model.query_tokens.data = model.query_tokens.data.to(DTYPES[dtypes["qformer"]])
    model.language_model.to(DTYPES[dtypes["lm"]])


def weights_hash(path: str) -> str | None:
    """sha256 over the safetensors files of a local folder (identifies local or tiny weights without a revision)."""
    folder = Path(path)
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for f in sorted(folder.glob("*.safetensors")):
        digest.update(f.name.encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


RESAMPLE = {"bicubic": 3, "bilinear": 2, "nearest": 0, "lanczos": 1}


def _pin_image_settings(image_proc: Any, image: DictConfig) -> None:
    """Apply the protocol's image axes; `size: null` keeps the checkpoint's (224 pre-trained, 364 COCO)."""
    if image.backend != "pil":
        raise HarnessError(
            f"image.backend={image.backend!r}: only 'pil' is supported (it equals LAVIS exactly)"
        )
    if image.resample not in RESAMPLE:
        raise HarnessError(f"image.resample={image.resample!r}: choose one of {', '.join(RESAMPLE)}")
    image_proc.resample = RESAMPLE[image.resample]
    if image.size is not None:
        image_proc.size = {"height": int(image.size), "width": int(image.size)}


def load_model(
    model_cfg: DictConfig, image: DictConfig, precision: DictConfig, device: str = "auto"
) -> LoadedModel:
    """Load model + processor, cast per component, and read the protocol facts off the checkpoint."""
    from transformers import AutoProcessor, Blip2ForConditionalGeneration
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    dev = pick_device(device)
    dtypes = resolve_dtypes(model_cfg, precision)
    path, local_only = checkpoint_path(model_cfg)
    _check_weights_format(path, model_cfg.allow_pickle)
    common = {
        "revision": model_cfg.revision,
        "local_files_only": local_only,
        "trust_remote_code": bool(model_cfg.trust_remote_code),
    }
    try:
        processor = AutoProcessor.from_pretrained(path, backend="pil", **common)
        model = Blip2ForConditionalGeneration.from_pretrained(
            path, dtype=torch.float32, use_safetensors=not model_cfg.allow_pickle, **common
        )
    except OSError as err:
        raise HarnessError(f"cannot load model {model_cfg.checkpoint}: {str(err).splitlines()[0]}") from None
    _cast_components(model, dtypes)
    model.to(dev).eval()
    image_proc = processor.image_processor
    if type(image_proc).__name__ != "BlipImageProcessorPil":
        raise HarnessError(f"expected the PIL image processor, got {type(image_proc).__name__}")
    if getattr(processor, "num_query_tokens", None) != model.config.num_query_tokens:
        raise HarnessError(
            f"{model_cfg.checkpoint}: processor num_query_tokens={getattr(processor, 'num_query_tokens', None)} "
            f"!= model {model.config.num_query_tokens}; the image would be silently ignored or truncated"
        )
    _pin_image_settings(image_proc, image)
    size = image_proc.size
    facts = {
        "revision": model_cfg.revision or getattr(model.config, "_commit_hash", None),
        "weights_sha256": weights_hash(path),
        "num_query_tokens": int(model.config.num_query_tokens),
        "eos_token_id": model.generation_config.eos_token_id,
        "image_size": int(size.get("height", size.get("shortest_edge", 0))),
        "image_mean": [float(x) for x in image_proc.image_mean],
        "image_std": [float(x) for x in image_proc.image_std],
        "image_processor": type(image_proc).__name__,
        "image_resample": int(image_proc.resample),
        "dtypes": dtypes,
        "device": dev.type,
    }
    return LoadedModel(model, processor, model_cfg.family, dev, dtypes, facts)
