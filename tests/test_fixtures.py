"""Synthetic data: official layout and shapes, byte-identical reruns, committed copy = fresh regeneration."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from harness.errors import cli_main
from harness.fixtures import main

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "fixtures" / "data"
QUESTIONS = "vqav2/v2_OpenEnded_mscoco_val2014_questions.json"
ANNOTATIONS = "vqav2/v2_mscoco_val2014_annotations.json"
KARPATHY = "flickr30k/karpathy/dataset_flickr30k.json"
REGENERATE = [["vqav2", "--questions", "36", "--images", "12"], ["flickr30k", "--images", "12"]]


def generate(out: Path, *extra: str) -> Path:
    for args in REGENERATE:
        assert cli_main(main, [*args, "--out", str(out), *extra]) == 0
    return out


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def load(root: Path, rel: str) -> dict:
    return json.loads((root / rel).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("fixtures") / "data")


def test_layout_is_exactly_the_data_root(data: Path) -> None:
    qs = load(data, QUESTIONS)["questions"]
    karpathy = load(data, KARPATHY)["images"]
    expected = {QUESTIONS, ANNOTATIONS, KARPATHY}
    expected |= {f"coco/images/val2014/COCO_val2014_{q['image_id']:012d}.jpg" for q in qs}
    expected |= {f"flickr30k/images/{e['filename']}" for e in karpathy}
    assert set(tree(data)) == expected


def test_vqav2_matches_official_format(data: Path) -> None:
    qfile, afile = load(data, QUESTIONS), load(data, ANNOTATIONS)
    assert set(qfile) == {"info", "task_type", "data_type", "data_subtype", "license", "questions"}
    assert set(afile) == {"info", "data_type", "data_subtype", "license", "annotations"}
    assert (qfile["task_type"], qfile["data_type"], qfile["data_subtype"]) == (
        "Open-Ended",
        "mscoco",
        "val2014",
    )
    qs, anns = qfile["questions"], afile["annotations"]
    assert len(qs) == len(anns) == 36
    assert all(set(q) == {"image_id", "question", "question_id"} for q in qs)
    per_image = Counter(q["image_id"] for q in qs)
    assert len(per_image) == 12 and set(per_image.values()) == {3}
    seen: Counter[int] = Counter()
    for q, a in zip(qs, anns, strict=True):
        assert q["question_id"] == q["image_id"] * 1000 + seen[q["image_id"]]
        seen[q["image_id"]] += 1
        assert (a["question_id"], a["image_id"]) == (q["question_id"], q["image_id"])
        assert q["question"].endswith("?") and q["question"].lower().startswith(a["question_type"])
        assert [x["answer_id"] for x in a["answers"]] == list(range(1, 11))
        assert {x["answer_confidence"] for x in a["answers"]} <= {"yes", "maybe", "no"}
        counts = Counter(x["answer"] for x in a["answers"])
        assert counts[a["multiple_choice_answer"]] == max(counts.values())
    assert {a["answer_type"] for a in anns} == {"yes/no", "number", "other"}
    distinct = [len({x["answer"] for x in a["answers"]}) for a in anns]
    assert 1 in distinct and max(distinct) > 1  # unanimous and mixed answer sets
    answers = {x["answer"] for a in anns for x in a["answers"]}
    assert {"t-shirt", "two", "2", "a dog", "dont know", "yes."} <= answers  # VQA normalisation cases


def test_flickr30k_matches_karpathy_format(data: Path) -> None:
    karpathy = load(data, KARPATHY)
    assert set(karpathy) == {"dataset", "images"} and karpathy["dataset"] == "flickr30k"
    entries = karpathy["images"]
    splits = Counter(e["split"] for e in entries)
    assert splits["test"] == 12 and splits["train"] >= 2 and splits["val"] >= 1
    assert entries[0]["split"] != "test"  # "first N entries" is not the test split either
    assert [e["imgid"] for e in entries] == list(range(len(entries)))
    raws = []
    for e in entries:
        assert set(e) == {"filename", "imgid", "split", "sentids", "sentences"}
        assert e["filename"].removesuffix(".jpg").isdigit()
        assert e["sentids"] == [s["sentid"] for s in e["sentences"]] and len(e["sentids"]) == 5
        for s in e["sentences"]:
            assert set(s) == {"tokens", "raw", "imgid", "sentid"} and s["imgid"] == e["imgid"]
            assert s["tokens"] and all(t == t.lower() and t.isalnum() for t in s["tokens"])
            raws.append(s["raw"])
    assert any("," in r for r in raws) and any(r.endswith(".") for r in raws)
    assert len({e["filename"] for e in entries}) == len(entries)


def test_images_are_small_varied_jpegs(data: Path) -> None:
    images = [Image.open(p) for p in sorted(data.rglob("*.jpg"))]
    assert {im.format for im in images} == {"JPEG"}
    assert {im.mode for im in images} == {"RGB", "L"}
    assert len({im.size for im in images}) > 2 and max(max(im.size) for im in images) <= 96
    assert len({p.read_bytes() for p in data.rglob("*.jpg")}) == len(images)


def test_committed_fixtures_equal_a_fresh_regeneration(data: Path) -> None:
    committed, fresh = tree(COMMITTED), tree(data)
    differ = sorted(k for k in committed.keys() | fresh.keys() if committed.get(k) != fresh.get(k))
    assert not differ, f"fixtures/data differs from a regeneration ({differ[:3]}...): see fixtures/README.md"
    assert sum(len(b) for b in committed.values()) < 300_000


def test_reruns_are_byte_identical_and_seed_matters(data: Path, tmp_path: Path) -> None:
    assert tree(generate(tmp_path / "again")) == tree(data)
    other = tree(generate(tmp_path / "seed1", "--seed", "1"))
    assert other.keys() != tree(data).keys()


def test_cli_runs_as_module(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "harness.fixtures", "vqav2", "--out", str(tmp_path), "--questions", "5"]
    done = subprocess.run([*cmd, "--images", "2"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    qids = [q["question_id"] for q in load(tmp_path, QUESTIONS)["questions"]]
    assert sorted(q % 1000 for q in qids) == [0, 0, 1, 1, 2]
    bad = subprocess.run(cmd + ["--images", "6"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stdout == ""
    assert (
        len(bad.stderr.strip().splitlines()) == 1 and "--images (6) must be <= --questions (5)" in bad.stderr
    )


@pytest.mark.parametrize(
    "args",
    [
        ["vqav2", "--questions", "0"],
        ["vqav2", "--questions", "3", "--images", "0"],
        ["vqav2", "--questions", "5", "--images", "6"],
        ["vqav2", "--questions", "2001", "--images", "2"],
        ["vqav2", "--questions", "many"],
        ["flickr30k", "--images", "0"],
        ["flickr30k", "--questions", "3"],
        ["coco"],
        [],
    ],
)
def test_bad_args_exit_2_with_one_line(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = ["--out", str(tmp_path / "out")] if args and args[0] != "coco" else []
    assert cli_main(main, [*args, *out]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_refuses_to_overwrite_and_leaves_no_staging(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    real = tmp_path / "coco" / "images" / "val2014" / "COCO_val2014_000000000042.jpg"
    real.parent.mkdir(parents=True)
    real.write_bytes(b"real image")
    assert cli_main(main, ["vqav2", "--out", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert real.read_bytes() == b"real image" and not (tmp_path / "vqav2").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coco"]


def test_largest_questions_per_image(tmp_path: Path) -> None:
    assert cli_main(main, ["vqav2", "--out", str(tmp_path), "--questions", "2000", "--images", "2"]) == 0
    qids = [q["question_id"] for q in load(tmp_path, QUESTIONS)["questions"]]
    assert len(set(qids)) == 2000 and max(q % 1000 for q in qids) == 999
