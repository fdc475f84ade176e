"""What every benchmark module provides: load samples, build prompts, write official predictions, score.

Tasks never see a model or a device: they hand the evaluator (image, prompt) requests and get strings back.
"""

from __future__ import annotations

import hashlib
import io
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from omegaconf import DictConfig
from PIL import Image, UnidentifiedImageError

from harness.errors import HarnessError
from harness.text import postprocess, render_prompt


@dataclass(frozen=True)
class Sample:
    sample_id: int | str  # VQA: question_id; captions: image_id
    image_id: int | str
    image_path: str | None = None
    image_bytes: bytes | None = None
    question: str | None = None


def open_image(sample: Sample) -> Image.Image:
    """Decode the sample's image fully now, so a corrupt file fails here with its name, not inside a batch."""
    where = sample.image_path or f"<bytes of image {sample.image_id}>"
    try:
        if sample.image_bytes is not None:
            img = Image.open(io.BytesIO(sample.image_bytes))
        elif sample.image_path is not None:
            img = Image.open(sample.image_path)
        else:
            raise HarnessError(f"sample {sample.sample_id}: no image path or bytes")
        img.load()
    except FileNotFoundError:
        raise HarnessError(f"{where}: image file not found (image_id {sample.image_id})") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise HarnessError(f"{where}: corrupt or unreadable image (image_id {sample.image_id}): {err}") from None
    return img


def inside(root: Path, relative: str, what: str) -> Path:
    """Resolve a path from an annotation file and refuse one that escapes the data root (`../`, absolute)."""
    root = root.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise HarnessError(f"{what}: path {relative!r} resolves outside the data root {root}")
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def require_keys(obj: Any, keys: tuple[str, ...], where: str) -> None:
    """Schema check with an error naming the file and the missing field."""
    if not isinstance(obj, dict):
        raise HarnessError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise HarnessError(f"{where}: missing field(s) {', '.join(missing)}")


class Task(ABC):
    """One benchmark. Subclasses set `name`, `kind` and implement loading, official output and scoring."""

    name: ClassVar[str]
    kind: ClassVar[str]

    def __init__(self, task_cfg: DictConfig, protocol_cfg: DictConfig) -> None:
        self.cfg = task_cfg
        self.protocol = protocol_cfg
        self.root = Path(task_cfg.data_root).expanduser().resolve()
        self.dataset_info: dict[str, Any] = {}

    def path(self, role: str) -> Path:
        if role not in self.cfg.files:
            raise HarnessError(f"task {self.name}: no file configured for role {role!r}")
        return inside(self.root, self.cfg.files[role], f"task.files.{role}")

    def require_official_source(self, why: str = "") -> None:
        """Refuse `task.source` other than `official` for a task that has no usable mirror (`why` says so)."""
        if self.cfg.source != "official":
            reason = f" ({why})" if why else ""
            raise HarnessError(
                f"{self.name}: task.source={self.cfg.source!r} is not implemented; use task.source=official{reason}"
            )

    def limited(self, items: list[Any]) -> list[Any]:
        """The first `protocol.limit` items, or all of them without a limit."""
        return items if self.protocol.limit is None else items[: self.protocol.limit]

    @abstractmethod
    def load(self) -> list[Sample]:
        """Samples of the protocol's split, in file order, cut to `protocol.limit` if set."""

    def prompt(self, sample: Sample) -> str:
        p = self.protocol.prompt
        return render_prompt(p.template, sample.question, p.question_transform)

    def postprocess(self, text: str) -> str:
        pp = self.protocol.postprocess
        return postprocess(text, pp.strip, pp.lemmatize)

    @abstractmethod
    def drop(self, sample_ids: set) -> None:
        """Remove samples (skipped for a bad image) from what `score` scores against."""

    @abstractmethod
    def official_predictions(self, samples: list[Sample], outputs: list[str]) -> list[dict[str, Any]]:
        """Predictions in the benchmark's official results format."""

    @abstractmethod
    def score(self, predictions: list[dict[str, Any]]) -> dict[str, Any]:
        """`metrics.json` content: task, scorer, n, metrics (paper scale), ci95, raw."""

    def write_extra(self, run_dir: Path) -> list[str]:
        """Files beyond the standard run folder (the VQAv2 test-dev EvalAI submission); called after `score`.
        Returns the names written."""
        return []
