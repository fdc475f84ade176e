"""Golden tiny-model predictions per task × protocol: any change in generation shows up in CI.

The committed files were produced by this test with UPDATE_GOLDEN=1. If a change is intended (a protocol, a prompt,
the tiny-model recipe), regenerate with `UPDATE_GOLDEN=1 make test ARGS=tests/test_golden_outputs.py` and say why
in the commit message; otherwise a diff here means generation changed behaviour.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.config import available, compose
from harness.errors import cli_main
from harness.eval.evaluator import run_generation
from harness.eval.generation import requests_for
from harness.fixtures import main as fixtures_main
from harness.models.loader import load_model
from harness.text import lemmatizer_available
from tasks import get_task

GOLDEN = Path(__file__).parent / "golden"
CASES = [
    (task, f"tiny-{fam}", f"{task}-{variant}-{fam}")
    for task in available("task")
    for variant in ("paper", "lavis")
    for fam in ("opt", "t5")
]


def predict(task_name: str, model: str, protocol: str, data_root: Path) -> list[dict]:
    cfg = compose([f"model={model}", f"task={task_name}", f"protocol={protocol}", f"task.data_root={data_root}"])
    task = get_task(cfg.task, cfg.protocol)
    samples = task.load()
    loaded = load_model(cfg.model, cfg.protocol.image, cfg.protocol.precision, "cpu")
    requests = requests_for(task, samples, range(len(samples)))
    outputs = run_generation(
        loaded, requests, cfg.protocol.decoding, 8, cfg.protocol.prompt.max_prompt_tokens, progress=False
    )
    return task.official_predictions(samples, outputs)


# Tasks with data in fixtures/data; the others get a small data root generated per session (same bytes each time).
COMMITTED = ("vqav2", "flickr30k")
GENERATED = {
    "okvqa": ["--questions", "8", "--images", "4"],
    "gqa": ["--questions", "8", "--images", "4"],
    "vqav2_testdev": ["--questions", "8", "--images", "4", "--extra", "4"],
    "coco_caption": ["--images", "4"],
    "nocaps": ["--images", "6"],
}


@pytest.fixture(scope="session")
def generated_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("golden-data")
    for task, args in GENERATED.items():
        assert cli_main(fixtures_main, [task, *args, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("task_name,model,protocol", CASES)
def test_golden_predictions(task_name, model, protocol, fixture_data, generated_data):
    if compose([f"model={model}", f"task={task_name}", f"protocol={protocol}"]).protocol.postprocess.lemmatize:
        if not lemmatizer_available():
            pytest.skip("lemmatizing protocol: spaCy + en_core_web_sm not installed")
    got = predict(task_name, model, protocol, fixture_data if task_name in COMMITTED else generated_data)
    path = GOLDEN / f"{protocol}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps({"model": model, "predictions": got}, indent=1, ensure_ascii=False) + "\n")
    expected = json.loads(path.read_text())
    assert expected["model"] == model
    changed = [(e, g) for e, g in zip(expected["predictions"], got, strict=True) if e != g]
    assert not changed, f"{len(changed)} prediction(s) changed for {protocol}, first: {changed[0]}"


def test_protocols_take_effect():
    """The paper's and LAVIS's OPT VQA protocols differ in prompt and length penalty: outputs must differ too."""
    paper = json.loads((GOLDEN / "vqav2-paper-opt.json").read_text())["predictions"]
    lavis = json.loads((GOLDEN / "vqav2-lavis-opt.json").read_text())["predictions"]
    assert [p["question_id"] for p in paper] == [p["question_id"] for p in lavis]
    assert sum(a["answer"] != b["answer"] for a, b in zip(paper, lavis, strict=True)) > len(paper) // 2
