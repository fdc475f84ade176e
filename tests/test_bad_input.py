"""Bad input: one clear line naming the culprit, exit code 2, no traceback, nothing already written lost."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from harness.errors import cli_main
from harness.run import main as run_main


@pytest.fixture
def data(tmp_path, fixture_data) -> Path:
    root = tmp_path / "data"
    shutil.copytree(fixture_data, root)
    return root


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli_main(run_main, ["runtime.progress=false", "judge=false", "leaderboard=false", *args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def vqa_args(data: Path, results: Path, *extra: str) -> list[str]:
    return ["model=tiny-opt", "task=vqav2", f"task.data_root={data}", f"results_dir={results}", *extra]


def first_image(data: Path) -> Path:
    return sorted((data / "coco/images/val2014").glob("*.jpg"))[0]


def test_missing_image_names_the_file_and_keeps_what_was_written(capsys, data, tmp_path):
    victim = first_image(data)
    victim.unlink()
    code, _, err = run(capsys, *vqa_args(data, tmp_path / "r"))
    line = one_line_error(err)
    assert code == 2 and victim.name in line and "not found" in line
    (run_dir,) = (tmp_path / "r/runs/vqav2/tiny-opt").iterdir()
    assert (run_dir / "config.yaml").exists() and (run_dir / "provenance.json").exists()


def test_corrupt_image_is_an_error_or_skipped_on_request(capsys, data, tmp_path):
    victim = first_image(data)
    victim.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code, _, err = run(capsys, *vqa_args(data, tmp_path / "a"))
    assert code == 2 and victim.name in one_line_error(err) and "corrupt" in err

    code, out, _ = run(capsys, *vqa_args(data, tmp_path / "b", "on_bad_image=skip"))
    assert code == 0 and "skipped 3 sample(s)" in out
    (run_dir,) = (tmp_path / "b/runs/vqav2/tiny-opt").iterdir()
    prov = json.loads((run_dir / "provenance.json").read_text())
    image_id = int(victim.stem.split("_")[-1])
    assert prov["skipped"]["image_ids"] == [image_id] * 3
    assert prov["protocol"]["data"]["skipped_sample_ids"] == prov["skipped"]["sample_ids"]
    preds = json.loads((run_dir / "predictions.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(preds) == metrics["n"] == 33
    assert not {p["question_id"] for p in preds} & set(prov["skipped"]["sample_ids"])


def test_truncated_json_names_file_and_position(capsys, data, tmp_path):
    qfile = data / "vqav2/v2_OpenEnded_mscoco_val2014_questions.json"
    qfile.write_text(qfile.read_text()[:500])
    code, _, err = run(capsys, *vqa_args(data, tmp_path / "r"))
    line = one_line_error(err)
    assert code == 2 and qfile.name in line and "line 1 column" in line


def test_schema_error_names_file_and_field(capsys, data, tmp_path):
    afile = data / "vqav2/v2_mscoco_val2014_annotations.json"
    doc = json.loads(afile.read_text())
    del doc["annotations"][4]["answers"]
    afile.write_text(json.dumps(doc))
    code, _, err = run(capsys, *vqa_args(data, tmp_path / "r"))
    line = one_line_error(err)
    assert code == 2 and afile.name in line and "annotations[4]" in line and "answers" in line


def test_wrong_split_file_is_refused(capsys, data, tmp_path):
    qfile = data / "vqav2/v2_OpenEnded_mscoco_val2014_questions.json"
    doc = json.loads(qfile.read_text())
    doc["data_subtype"] = "train2014"
    qfile.write_text(json.dumps(doc))
    code, _, err = run(capsys, *vqa_args(data, tmp_path / "r"))
    assert code == 2 and "wrong split" in one_line_error(err)


def test_image_path_outside_data_root_is_refused(capsys, data, tmp_path):
    kfile = data / "flickr30k/karpathy/dataset_flickr30k.json"
    doc = json.loads(kfile.read_text())
    test_entry = next(e for e in doc["images"] if e["split"] == "test")
    test_entry["filename"] = "../../../../etc/1000.jpg"
    kfile.write_text(json.dumps(doc))
    code, _, err = run(capsys, "model=tiny-t5", "task=flickr30k", f"task.data_root={data}", f"results_dir={tmp_path}")
    assert code == 2 and "outside the data root" in one_line_error(err)


def test_hub_unreachable_is_fast_and_names_the_model(capsys, data, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    code, _, err = run(capsys, "model=blip2-opt-2.7b", f"task.data_root={data}", f"results_dir={tmp_path}")
    assert time.perf_counter() - start < 20
    line = one_line_error(err)
    assert code == 2 and "Salesforce/blip2-opt-2.7b" in line and "HF_HUB_OFFLINE" in line


def test_hub_dataset_unreachable_names_the_dataset(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = run(capsys, "model=tiny-opt", "task.source=hf", f"results_dir={tmp_path}")
    line = one_line_error(err)
    assert code == 2 and "lmms-lab/VQAv2" in line and "task.source=official" in line


def test_pickle_weights_are_refused_unless_allowed(capsys, tmp_path, data):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    code, _, err = run(
        capsys,
        "model=blip2-opt-2.7b",
        f"model.checkpoint={folder}",
        f"task.data_root={data}",
        f"results_dir={tmp_path}",
    )
    assert code == 2 and "pickle" in one_line_error(err) and "allow_pickle" in err


@pytest.mark.parametrize("opt_in", [False, True])
def test_remote_code_only_on_explicit_opt_in(monkeypatch, opt_in):
    """`trust_remote_code` reaches from_pretrained only when the model config sets it."""
    from transformers import AutoProcessor, Blip2ForConditionalGeneration

    from harness.config import compose
    from harness.models.loader import load_model

    seen: list[bool] = []
    for cls in (AutoProcessor, Blip2ForConditionalGeneration):
        original = cls.from_pretrained.__func__

        def spy(klass, *args, _original=original, **kwargs):
            seen.append(kwargs["trust_remote_code"])
            return _original(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    cfg = compose(["model=tiny-opt", f"model.trust_remote_code={str(opt_in).lower()}"])
    load_model(cfg.model, cfg.protocol.image, cfg.protocol.precision, "cpu")
    assert seen == [opt_in, opt_in]


def test_scoring_failure_keeps_generated_work(capsys, data, tmp_path, monkeypatch):
    """A scorer failure (say, Java missing) after generation: the rerun scores without generating again."""
    from harness.errors import HarnessError
    from tasks.vqav2 import VQAv2Task

    def broken(self, predictions):
        raise HarnessError("java not found (simulated)")

    with monkeypatch.context() as patch:
        patch.setattr(VQAv2Task, "score", broken)
        code, _, err = run(capsys, *vqa_args(data, tmp_path / "r"))
    assert code == 2 and "simulated" in one_line_error(err)
    (run_dir,) = (tmp_path / "r/runs/vqav2/tiny-opt").iterdir()
    assert (run_dir / "predictions.json").exists()
    code, out, _ = run(capsys, *vqa_args(data, tmp_path / "r"))
    assert code == 0 and "resuming: 36 of 36 samples already generated" in out
    assert [p.name for p in (tmp_path / "r/runs/vqav2/tiny-opt").iterdir()] == [run_dir.name]
    assert (run_dir / "metrics.json").exists()
