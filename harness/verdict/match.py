"""Protocol match: is a run's resolved protocol the claim's, field by field?

The claim's expected protocol is what this harness would resolve for the claim's model config, task and
protocol, given the facts only a checkpoint knows, taken from the run (revision, weights hash, query tokens,
image statistics; image size and EOS only where the claim's protocol leaves them to the checkpoint). Precision
and device are NOT taken from the run, so they are compared. A different checkpoint is a model-axis mismatch
whatever its facts say.

Every differing field falls on one axis. `proxy` axes are the ones a user may legitimately vary (sample size,
data source, the runtime: batch size, hardware, evaluator; precision where the source allows it); anything
else is a `mismatch`, and a mismatch is never judged as a reproduction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from omegaconf import DictConfig

from harness.claims import model_config_for, not_runnable_because
from harness.config import compose
from harness.errors import HarnessError
from harness.protocol import flatten, resolve_protocol
from harness.verdict.claim_schema import Claim

# Names, not settings: two identical protocols may be named differently.
LABELS = ("name", "variant", "model.name")
REFERENCE_DEVICE = "cuda"  # the paper's and LAVIS's evaluations ran on NVIDIA GPUs
PROXY_FIELDS = {
    "data.limit": "sample size",
    "data.skipped_sample_ids": "sample size",  # on_bad_image=skip dropped samples
    "data.source": "data source",
    "runtime.batch_size": "batch size",
    "runtime.device": "hardware",
    "runtime.evaluator": "evaluator",
}
NOT_FACTS = ("checkpoint", "dtypes", "device")  # recorded with the facts, but compared, not copied
SECTION_AXIS = {"model": "model", "prompt": "prompt", "decoding": "decoding", "image": "image",
                "precision": "precision", "postprocess": "postprocess", "scoring": "metric version"}
# (family, component) -> dtypes the source rules out: the paper (§3.4) runs FlanT5 in bf16; fp16 overflows.
FORBIDDEN_PRECISION = {("t5", "lm"): ("float16",)}
# Set by harness.run from the data it read (harness/data/data_fingerprint.py), not by resolve_protocol: a claim expects
# `data.manifest_match` "full" (other labels: axis, kind below); `data.fingerprint` only identifies the data.
DATA_FACTS = ("data.fingerprint", "data.manifest_match")
MANIFEST_LABELS = {"subset": ("data subset", "proxy"), "unverified": ("data unverified", "proxy"),
                   "wrong_split": ("split", "mismatch"), "altered": ("data", "mismatch")}
# Fields of the run's config.yaml that the loader turns into checkpoint facts: compared as configured.
CONFIGURED = {"image.size": "image", "decoding.eos": "decoding"}


@dataclass(frozen=True)
class Difference:
    field: str
    axis: str
    kind: str  # proxy | mismatch
    run: Any
    claim: Any
    why: str = ""


@dataclass
class Match:
    status: str  # exact | proxy | mismatch
    differences: list[Difference] = field(default_factory=list)
    expected: dict[str, Any] = field(default_factory=dict)
    expected_fingerprint: str = ""
    run_fingerprint: str = ""
    notes: list[str] = field(default_factory=list)

    def axes(self, kind: str | None = None) -> list[str]:
        return sorted({d.axis for d in self.differences if kind is None or d.kind == kind})

    def to_dict(self) -> list[dict[str, Any]]:
        return [asdict(d) for d in self.differences]


def claim_fingerprint(resolved: dict[str, Any]) -> str:
    """A stable hash over the fields a mismatch is judged on (labels, runtime and proxy fields left out)."""
    core = {k: v for k, v in flatten(resolved).items()
            if k not in LABELS and k not in PROXY_FIELDS and k not in DATA_FACTS
            and not k.startswith(("runtime.", "precision."))}
    blob = json.dumps(core, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@lru_cache(maxsize=32)
def _claim_config(model: str, task: str, protocol: str) -> DictConfig:
    return compose([f"model={model}", f"task={task}", f"protocol={protocol}"])


def claim_config(claim: Claim) -> DictConfig:
    why = not_runnable_because(claim)
    if why:
        raise HarnessError(f"claim {claim.id} cannot be matched: {why}")
    return _claim_config(str(model_config_for(claim.checkpoint)), claim.task, str(claim.protocol))


def checkpoint_facts(run: dict[str, Any], cfg: DictConfig,
                     recorded: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run's checkpoint-only facts, as `resolve_protocol`'s `loaded` (never dtypes or device).

    `recorded` is the loader's fact dict as provenance.json keeps it (`model`), so facts added later flow
    through; the values the resolved protocol holds take precedence.
    """
    model, image, decoding = run.get("model", {}), run.get("image", {}), run.get("decoding", {})
    facts = {k: v for k, v in (recorded or {}).items() if k not in NOT_FACTS}
    facts |= {
        "revision": model.get("revision"),
        "weights_sha256": model.get("weights_sha256"),
        "num_query_tokens": model.get("num_query_tokens"),
        "image_mean": image.get("mean"),
        "image_std": image.get("std"),
        "image_processor": image.get("processor"),
    }
    facts.pop("image_size", None)
    facts.pop("eos_token_id", None)
    if cfg.protocol.image.size is None:
        facts["image_size"] = image.get("size")
    if cfg.protocol.decoding.eos == "checkpoint":
        facts["eos_token_id"] = decoding.get("eos_token_id")
    return facts


def expected_protocol(claim: Claim, run: dict[str, Any],
                      recorded: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg = claim_config(claim)
    expected = resolve_protocol(cfg, checkpoint_facts(run, cfg, recorded))
    expected["runtime"]["device"] = REFERENCE_DEVICE
    return expected


def _device_class(device: Any) -> Any:
    return device.split(":")[0] if isinstance(device, str) else device


def classify(name: str, run_value: Any, claim_value: Any, family: str) -> Difference:
    section, _, component = name.partition(".")
    if name == "data.manifest_match":
        axis, kind = MANIFEST_LABELS.get(run_value, ("data", "mismatch"))
        return Difference(name, axis, kind, run_value, claim_value)
    if name in PROXY_FIELDS or section == "runtime":
        return Difference(name, PROXY_FIELDS.get(name, component), "proxy", run_value, claim_value)
    if section == "precision":
        if run_value in FORBIDDEN_PRECISION.get((family, component), ()):
            why = f"{family} {component} must not run in {run_value} (paper §3.4: FlanT5 in bf16)"
            return Difference(name, "precision", "mismatch", run_value, claim_value, why)
        return Difference(name, "precision", "proxy", run_value, claim_value, "evaluation precision unstated")
    if name in ("data.task", "data.split"):
        return Difference(name, "split", "mismatch", run_value, claim_value)
    return Difference(name, SECTION_AXIS.get(section, section), "mismatch", run_value, claim_value)


def _configured_differences(run_config: dict[str, Any] | None, cfg: DictConfig) -> list[Difference]:
    """Overrides of checkpoint-filled settings (image size, EOS) that the resolved facts would hide."""
    if run_config is None:
        return []
    run_protocol = flatten(run_config.get("protocol") or {})
    claim_protocol = {"image.size": cfg.protocol.image.size, "decoding.eos": cfg.protocol.decoding.eos}
    differences = []
    for name, axis in CONFIGURED.items():
        ran, wanted = run_protocol.get(name), claim_protocol[name]
        if ran != wanted:
            differences.append(Difference(f"protocol.{name} (configured)", axis, "mismatch", ran, wanted))
    return differences


def match_protocol(claim: Claim, run: dict[str, Any], run_config: dict[str, Any] | None = None,
                   recorded: dict[str, Any] | None = None) -> Match:
    """Compare a run's resolved protocol (and its config.yaml, if any) with the claim's, field by field.

    `recorded`: the loader's facts from provenance.json (`model`), when the run kept them.
    """
    expected = expected_protocol(claim, run, recorded)
    family = str(run.get("model", {}).get("family"))
    run_flat, exp_flat = flatten(run), flatten(expected)
    differences = []
    for name in sorted(set(run_flat) | set(exp_flat)):
        if name in LABELS or name == "data.fingerprint":
            continue
        run_value, claim_value = run_flat.get(name), exp_flat.get(name)
        if name == "data.manifest_match":
            claim_value = "full"
        if name == "runtime.device":
            run_value = _device_class(run_value)
        if run_value != claim_value:
            differences.append(classify(name, run_value, claim_value, family))
    differences += _configured_differences(run_config, claim_config(claim))
    notes = [] if run_config is not None else ["no config.yaml: configured image size and EOS taken on trust"]
    kinds = {d.kind for d in differences}
    status = "mismatch" if "mismatch" in kinds else "proxy" if kinds else "exact"
    return Match(status, differences, expected, claim_fingerprint(expected), claim_fingerprint(run), notes)
