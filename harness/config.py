"""Structured configs and composition.

Hydra composes `conf/` (model × task × protocol); the result is merged into these dataclasses so a misspelt key or a
wrong type fails at composition, before anything loads. Protocols are named `<task>-<variant>-<family>`; the user may
say `protocol=paper` or `protocol=lavis` and the family comes from the chosen model. That choice lives here because
Hydra's defaults list cannot read a field of another group's config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.errors import HarnessError

CONF_DIR = Path(os.environ.get("HARNESS_CONF_DIR", Path(__file__).resolve().parent / "conf"))
VARIANTS = ("paper", "lavis")
EVALUATORS = ("fast", "reference")
LENGTH_NORMALISERS = ("hf5", "hf426", "hf433")  # beam scoring rules: harness/eval/length_norm.py


@dataclass
class DtypeConfig:
    """Precision per component; `null` in a protocol means "the model config's"."""

    vision: str | None = None
    qformer: str | None = None
    lm: str | None = None


@dataclass
class ModelConfig:
    name: str = "???"
    checkpoint: str = "???"  # HF id, local path, or a tiny model name (tiny-opt / tiny-t5)
    revision: str | None = None
    family: str = "???"  # opt | t5
    tiny: bool = False
    seed: int = 0  # tiny models only: weight seed
    dtype: DtypeConfig = field(default_factory=DtypeConfig)
    trust_remote_code: bool = False
    allow_pickle: bool = False


@dataclass
class HfSourceConfig:
    """A Hub dataset mirror; used when `source: hf`."""

    repo: str | None = None
    split: str | None = None
    revision: str | None = None


@dataclass
class TaskConfig:
    name: str = "???"
    kind: str = "???"  # vqa | caption
    source: str = "official"  # official | hf
    data_root: str = "data"
    files: dict[str, str] = field(default_factory=dict)  # role -> path relative to data_root
    hf: HfSourceConfig = field(default_factory=HfSourceConfig)


@dataclass
class PromptConfig:
    template: str = "{question}"
    question_transform: str = "none"  # none | blip_question
    max_prompt_tokens: int | None = None  # LAVIS OPT truncates text at 32 tokens


@dataclass
class DecodingConfig:
    num_beams: int = 5
    do_sample: bool = False
    max_new_tokens: int = 10
    min_new_tokens: int = 0
    length_penalty: float = 1.0
    repetition_penalty: float = 1.0
    eos: str = "checkpoint"  # checkpoint: the checkpoint's generation config (OPT: "\n" = 50118)
    length_normaliser: str = "hf5"  # hf5 | hf426 (paper era) | hf433 (LAVIS HEAD): eval/length_norm.py


@dataclass
class ImageConfig:
    size: int | None = None  # None: from the checkpoint's preprocessor config
    resample: str = "bicubic"
    backend: str = "pil"


@dataclass
class PostprocessConfig:
    strip: bool = True
    lemmatize: bool = False


@dataclass
class ProtocolConfig:
    name: str = "???"
    variant: str = "???"  # paper | lavis
    task: str = "???"
    family: str = "???"
    source: str = ""  # where the protocol comes from (paper section, LAVIS config + commit)
    split: str = "???"
    limit: int | None = None
    prompt: PromptConfig = field(default_factory=PromptConfig)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    precision: DtypeConfig = field(default_factory=DtypeConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    scorer: str = "???"  # lavis | vqa-2021 | evalai-2017 | pycocoevalcap


@dataclass
class RuntimeConfig:
    """Settings that must not change a score (excluded from the protocol fingerprint)."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N
    batch_size: int = 16
    num_workers: int = 0
    progress: bool = True


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    results_dir: str = "results"
    run_id: str | None = None
    judge: bool = True
    leaderboard: bool = True
    on_bad_image: str = "error"  # error | skip (skipped ids recorded; the run becomes a proxy on the data axis)
    evaluator: str = "fast"  # fast | reference (plain HF generate); same predictions, so not fingerprinted


def available(group: str) -> list[str]:
    """Names of the configs in a group (for error messages and tests)."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _split_overrides(overrides: list[str]) -> tuple[list[str], str | None]:
    rest, protocol = [], None
    for item in overrides:
        key = item.split("=", 1)[0].lstrip("+~")
        if key == "protocol" and "=" in item:
            protocol = item.split("=", 1)[1]
        else:
            rest.append(item)
    return rest, protocol


def _check_choice(group: str, overrides: list[str], default: str) -> str:
    choice = default
    for item in overrides:
        if item.split("=", 1)[0].lstrip("+") == group and "=" in item:
            choice = item.split("=", 1)[1]
    if choice not in available(group):
        raise HarnessError(f"unknown {group} '{choice}'; choices: {', '.join(available(group))}")
    return choice


def _hydra_compose(overrides: list[str]) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            return hydra_compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as err:
        first = str(err).strip().splitlines()[0]
        raise HarnessError(f"config composition failed: {first}") from None


def protocol_name(task: str, family: str, choice: str | None) -> str:
    """`paper`/`lavis` (or nothing: the paper's) expand to `<task>-<variant>-<family>`; full names pass through."""
    choice = choice or "paper"
    return f"{task}-{choice}-{family}" if choice in VARIANTS else choice


def compose(overrides: list[str] | None = None) -> DictConfig:
    """Compose and validate a run config from Hydra overrides (`model=… task=… protocol=… key=value`)."""
    overrides = list(overrides or [])
    rest, protocol_choice = _split_overrides(overrides)
    _check_choice("model", rest, "tiny-opt")
    _check_choice("task", rest, "vqav2")
    base = _hydra_compose([o for o in rest if not o.lstrip("+~").startswith("protocol.")])
    name = protocol_name(base.task.name, base.model.family, protocol_choice)
    if name not in available("protocol"):
        raise HarnessError(
            f"unknown protocol '{name}' for task {base.task.name} / family {base.model.family}; "
            f"choices: {', '.join(p for p in available('protocol') if p.startswith(base.task.name + '-'))}"
        )
    cfg = _hydra_compose(rest + [f"+protocol={name}"])
    return validate(cfg)


def validate(cfg: DictConfig | dict[str, Any]) -> DictConfig:
    """Merge into the dataclass schema (typos and wrong types fail) and check cross-group consistency."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(RunConfig), cfg)
        OmegaConf.to_container(merged, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as err:
        first = str(err).strip().splitlines()[0]
        raise HarnessError(f"invalid config: {first} (key {getattr(err, 'full_key', '?')})") from None
    p, m, t = merged.protocol, merged.model, merged.task
    if p.task != t.name:
        raise HarnessError(f"protocol {p.name} is for task {p.task}, not {t.name}")
    if p.family != m.family:
        raise HarnessError(f"protocol {p.name} is for the {p.family} family; model {m.name} is {m.family}")
    if merged.on_bad_image not in ("error", "skip"):
        raise HarnessError(f"on_bad_image={merged.on_bad_image!r}: choose error or skip")
    if merged.evaluator not in EVALUATORS:
        raise HarnessError(f"evaluator={merged.evaluator!r}: choose one of {', '.join(EVALUATORS)}")
    if p.decoding.length_normaliser not in LENGTH_NORMALISERS:
        raise HarnessError(f"protocol.decoding.length_normaliser={p.decoding.length_normaliser!r}: "
                           f"choose one of {', '.join(LENGTH_NORMALISERS)}")  # fmt: skip
    if p.limit is not None and p.limit < 1:
        raise HarnessError(f"protocol.limit must be a positive integer or null, got {p.limit}")
    return merged
