"""Config composition: every model × task × protocol composes or is refused for the right reason."""

from __future__ import annotations

import itertools

import pytest

from harness.config import available, compose, protocol_name
from harness.errors import HarnessError
from harness.protocol import diff, protocol_fingerprint, resolve_protocol

MODELS = available("model")
TASKS = available("task")
PROTOCOLS = available("protocol")


def family_of(model: str) -> str:
    return "t5" if "t5" in model else "opt"


def test_groups_are_complete():
    assert {
        "blip2-opt-2.7b",
        "blip2-opt-6.7b",
        "blip2-flan-t5-xl",
        "blip2-flan-t5-xxl",
        "tiny-opt",
        "tiny-t5",
    } <= set(MODELS)
    assert {"vqav2", "flickr30k"} <= set(TASKS)
    for task, variant, fam in itertools.product(TASKS, ("paper", "lavis"), ("opt", "t5")):
        assert f"{task}-{variant}-{fam}" in PROTOCOLS


def combinations() -> list[tuple[str, str, str]]:
    """Every model x task with each of the task's protocols (both families), plus one other task's protocol per
    task (refused): the full model x task x protocol product grew to ~1,900 compositions (~0.3 s each)."""
    out = [(m, t, p) for m, t, p in itertools.product(MODELS, TASKS, PROTOCOLS) if p.startswith(t + "-")]
    for i, task in enumerate(TASKS):
        other = TASKS[(i + 1) % len(TASKS)]
        out.append(("tiny-opt", task, f"{other}-paper-opt"))
    return out


@pytest.mark.parametrize("model,task,protocol", combinations())
def test_every_combination(model, task, protocol):
    overrides = [f"model={model}", f"task={task}", f"protocol={protocol}"]
    if protocol.startswith(task + "-") and protocol.endswith("-" + family_of(model)):
        cfg = compose(overrides)
        assert cfg.protocol.name == protocol and cfg.model.name == model and cfg.task.name == task
    else:
        with pytest.raises(HarnessError, match="protocol"):
            compose(overrides)


@pytest.mark.parametrize("model,task", list(itertools.product(MODELS, TASKS)))
def test_default_protocol_is_the_papers(model, task):
    cfg = compose([f"model={model}", f"task={task}"])
    assert cfg.protocol.name == f"{task}-paper-{family_of(model)}"
    assert cfg.protocol.variant == "paper"


def test_short_variant_names():
    assert protocol_name("vqav2", "opt", "lavis") == "vqav2-lavis-opt"
    assert protocol_name("vqav2", "t5", None) == "vqav2-paper-t5"
    assert protocol_name("vqav2", "t5", "vqav2-lavis-t5") == "vqav2-lavis-t5"


def test_paper_vs_lavis_opt_vqa_differences():
    paper = compose(["model=blip2-opt-2.7b", "protocol=paper"]).protocol
    lavis = compose(["model=blip2-opt-2.7b", "protocol=lavis"]).protocol
    assert paper.prompt.template == "Question: {question} Answer:"
    assert lavis.prompt.template == "Question: {question} Short answer:"
    assert paper.decoding.length_penalty == -1.0 and lavis.decoding.length_penalty == 0.0
    assert paper.decoding.num_beams == lavis.decoding.num_beams == 5
    assert paper.decoding.max_new_tokens == 10 and paper.scorer == "lavis"
    t5 = compose(["model=blip2-flan-t5-xl", "protocol=paper"]).protocol
    assert t5.prompt.template == "Question: {question} Short answer:" and t5.decoding.length_penalty == -1.0


@pytest.mark.parametrize(
    "overrides,match",
    [
        (["model=blip2-opt-27b"], "unknown model 'blip2-opt-27b'; choices: .*blip2-opt-2.7b"),
        (["task=vqa"], "unknown task 'vqa'"),
        (["protocol=papr"], "unknown protocol 'papr'"),
        (["protocol.decoding.num_beam=3"], "num_beam"),
        (["runtime.batch_size=many"], "batch_size"),
        (["protocol.limit=0"], "limit"),
    ],
)
def test_bad_overrides_fail_at_composition(overrides, match):
    with pytest.raises(HarnessError, match=match):
        compose(overrides)


def test_fingerprint_ignores_runtime_but_not_protocol():
    base = resolve_protocol(compose(["model=tiny-opt"]))
    batch = resolve_protocol(compose(["model=tiny-opt", "runtime.batch_size=3", "runtime.device=cpu"]))
    beams = resolve_protocol(compose(["model=tiny-opt", "protocol.decoding.num_beams=3"]))
    assert protocol_fingerprint(base) == protocol_fingerprint(batch)
    assert protocol_fingerprint(base) != protocol_fingerprint(beams)
    assert diff(base, beams) == {"decoding.num_beams": (5, 3)}
    assert base["decoding"]["padding_side"] == "left"
    assert resolve_protocol(compose(["model=tiny-t5"]))["decoding"]["padding_side"] == "right"
