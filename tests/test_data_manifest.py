"""Data you can trust: manifest labels, the run's data fingerprint, and `make data` / `make data-check` against
local stand-ins for the internet (an HTTP server on 127.0.0.1, file folders, a local "Hub" folder)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from data_sources import FIXTURE_COUNTS, serve, write_fixture_manifests, zip_fixture_archives

from harness.config import available, compose
from harness.data import manifest
from harness.data.data_fingerprint import data_facts
from harness.data.download import download, sha256_of
from harness.data.manifest import classify, load_manifest
from harness.errors import HarnessError, cli_main
from harness.io import read_json
from harness.prepare import main as prepare
from tasks import get_task

QUESTIONS = "vqav2/v2_OpenEnded_mscoco_val2014_questions.json"
ANNOTATIONS = "vqav2/v2_mscoco_val2014_annotations.json"
KARPATHY = "flickr30k/karpathy/dataset_flickr30k.json"


def facts(root: Path, task: str = "vqav2", *overrides: str) -> dict:
    cfg = compose([f"task={task}", f"task.data_root={root}", *overrides])
    loaded = get_task(cfg.task, cfg.protocol)
    samples = loaded.load()
    return data_facts(cfg.task, cfg.protocol.split, loaded.dataset_info, [s.sample_id for s in samples])


def copy_fixture(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


@pytest.fixture
def fixture_manifests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Manifests in which the committed fixture data is the full split (downloads on a closed local port)."""
    conf = tmp_path / "conf"
    write_fixture_manifests(conf, "http://127.0.0.1:9")
    monkeypatch.setattr(manifest, "CONF_DIR", conf)
    return conf


# -- labels ---------------------------------------------------------------------------------------------------

VAL = {"questions": 214354, "images": 40504, "answers": 2143540, "answers_per_question": [10]}


@pytest.mark.parametrize("counts,label", [
    (VAL, "full"),
    ({**VAL, "questions": 25994, "images": 5000, "answers": 259940}, "subset"),
    ({**VAL, "questions": 443757, "images": 82783, "answers": 4437570}, "wrong_split"),  # train2014
    ({**VAL, "answers": 2143539, "answers_per_question": [9, 10]}, "wrong_split"),
    ({"questions": 107394, "images": 36807, "answers": 0, "answers_per_question": [0]}, "wrong_split"),  # test-dev
    ({}, "unverified"),
])
def test_counts_are_labelled_against_the_committed_manifest(counts, label):
    verdict = classify(load_manifest("vqav2"), "val2014", counts)
    assert verdict.label == label
    assert (verdict.label == "full") == (verdict.reasons == [])


def test_other_labels():
    vqa = load_manifest("vqav2")
    assert classify(vqa, "train2014", VAL).label == "wrong_split"  # a split the manifest does not list
    assert classify(None, "val2014", VAL).label == "unverified"
    pinned = {**vqa, "files": {"questions": {"sha256": "a" * 64}}}
    assert classify(pinned, "val2014", VAL, {"questions": "a" * 64}).label == "full"
    altered = classify(pinned, "val2014", VAL, {"questions": "b" * 64})
    assert altered.label == "altered" and "questions" in altered.reasons[0]
    flickr = load_manifest("flickr30k")
    assert classify(flickr, "test", {"images": 1014, "captions_per_image": [5]}).label == "wrong_split"  # val's


@pytest.mark.parametrize("task", available("task"))
def test_every_task_has_a_manifest_naming_only_its_file_roles(task):
    doc = load_manifest(task)
    assert doc is not None and doc["task"] == task
    roles = set(compose([f"task={task}"]).task.files)
    assert set(doc["files"]) <= roles
    assert all(spec["sha256"] is None and spec["note"] for spec in doc["files"].values())  # none pinned yet


def test_committed_manifests_state_the_documented_counts_and_pin_nothing_invented():
    vqa, flickr = load_manifest("vqav2"), load_manifest("flickr30k")
    assert vqa["splits"]["val2014"] == VAL
    assert flickr["splits"]["test"] == {"images": 1000, "captions": 5000, "captions_per_image": [5]}
    for doc in (vqa, flickr):
        cfg = compose([f"task={doc['task']}"])
        assert all(spec["sha256"] is None and spec["note"] for spec in doc["files"].values())
        roles = {r["role"] for item in doc["official"] for r in item["extract"]}
        roles.add(doc.get("user_images", {}).get("role"))
        assert set(cfg.task.files) <= roles  # every file the loader reads has a source


# -- fingerprint and label of what a run read --------------------------------------------------------------------

def test_fixture_data_is_a_subset_with_a_stable_fingerprint(fixture_data):
    a, b = facts(fixture_data), facts(fixture_data)
    assert a["manifest_match"] == "subset" and "36 of 214,354 questions" in a["manifest_reasons"]
    assert a["fingerprint"] == b["fingerprint"] and len(a["fingerprint"]) == 16
    assert facts(fixture_data, "flickr30k")["manifest_match"] == "subset"
    limited = facts(fixture_data, "vqav2", "protocol.limit=5")
    assert limited["fingerprint"] != a["fingerprint"]  # other ids read
    assert limited["manifest_match"] == "subset"


def test_fingerprint_follows_file_content_not_location(fixture_data, tmp_path):
    moved = copy_fixture(fixture_data, tmp_path / "moved")
    assert facts(moved)["fingerprint"] == facts(fixture_data)["fingerprint"]
    doc = json.loads((moved / ANNOTATIONS).read_text())
    doc["annotations"][0]["answers"][0]["answer"] = "edited"
    (moved / ANNOTATIONS).write_text(json.dumps(doc))
    assert facts(moved)["fingerprint"] != facts(fixture_data)["fingerprint"]


def test_fixture_counts_are_full_under_a_fixture_manifest(fixture_data, fixture_manifests):
    assert facts(fixture_data)["manifest_match"] == "full"
    assert facts(fixture_data, "flickr30k")["manifest_match"] == "full"


def test_truncated_and_wrong_split_fixtures_are_caught(fixture_data, fixture_manifests, tmp_path):
    root = copy_fixture(fixture_data, tmp_path / "data")
    for name, key in ((QUESTIONS, "questions"), (ANNOTATIONS, "annotations")):
        doc = json.loads((root / name).read_text())
        doc[key] = doc[key][:30]
        (root / name).write_text(json.dumps(doc))
    short = facts(root)
    assert short["manifest_match"] == "subset" and "30 of 36 questions" in short["manifest_reasons"]
    kar = json.loads((root / KARPATHY).read_text())
    for entry in kar["images"]:
        entry["split"] = "test"  # train/val/restval entries relabelled: more "test" images than the split has
    (root / KARPATHY).write_text(json.dumps(kar))
    assert facts(root, "flickr30k")["manifest_match"] == "wrong_split"
    text = (root / QUESTIONS).read_text()
    (root / QUESTIONS).write_text(text[: len(text) // 2])  # a download cut off mid-file
    with pytest.raises(HarnessError, match="malformed JSON"):
        facts(root)


# -- make data / make data-check --------------------------------------------------------------------------------

@pytest.fixture
def mirror(fixture_data, tmp_path, monkeypatch):
    """A local server holding the official archives (built from the fixture data) and matching manifests."""
    zip_fixture_archives(fixture_data, tmp_path / "srv")
    with serve(tmp_path / "srv") as (server, url):
        conf = tmp_path / "conf"
        write_fixture_manifests(conf, url)
        monkeypatch.setattr(manifest, "CONF_DIR", conf)
        yield server, url


def test_make_data_fetches_verifies_records_and_resumes(mirror, tmp_path, capsys):
    server, _ = mirror
    root = tmp_path / "root"
    assert cli_main(prepare, ["fetch", "--task", "vqav2", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "ok: vqav2 [official] split val2014: full" in out
    assert out.count("not pinned") == 5  # 3 archives + 2 annotation files: observed sha256 printed for pinning
    record = read_json(root / "MANIFEST.json")["tasks"]["vqav2"]
    assert record["manifest_match"] == "full" and record["counts"] == FIXTURE_COUNTS["vqav2"]["val2014"]
    assert record["files"][QUESTIONS]["sha256"] == sha256_of(root / QUESTIONS)
    assert set(record["downloads"]) == {"v2_Questions_Val_mscoco.zip", "v2_Annotations_Val_mscoco.zip", "val2014.zip"}
    assert len(list((root / "coco/images/val2014").iterdir())) == 12
    fetched = len(server.requests)
    (root / "coco/images/val2014" / sorted((root / "coco/images/val2014").iterdir())[0].name).unlink()
    assert cli_main(prepare, ["fetch", "--task", "vqav2", "--data-root", str(root)]) == 0
    assert len(server.requests) == fetched  # archives kept: the lost image re-extracted, nothing downloaded
    assert cli_main(prepare, ["check", "--task", "vqav2", "--data-root", str(root)]) == 0


def test_download_resumes_with_range_after_a_dropped_connection(mirror, tmp_path):
    server, url = mirror
    dest = tmp_path / "dl" / "val2014.zip"
    whole = (tmp_path / "srv" / "val2014.zip").read_bytes()
    server.cut_after = len(whole) // 3
    assert download(f"{url}/val2014.zip", dest) == sha256_of(tmp_path / "srv" / "val2014.zip")
    assert dest.read_bytes() == whole
    assert server.requests[-1][1] == f"bytes={len(whole) // 3}-"  # the retry asked only for the rest
    part = tmp_path / "dl" / "caption_datasets.zip.part"  # left by an earlier, interrupted run
    part.write_bytes((tmp_path / "srv" / "caption_datasets.zip").read_bytes()[:100])
    download(f"{url}/caption_datasets.zip", part.with_suffix(""))
    assert server.requests[-1][1] == "bytes=100-" and not part.exists()


def test_pinned_checksum_mismatch_keeps_nothing(mirror, tmp_path):
    _, url = mirror
    with pytest.raises(HarnessError, match="sha256 .* != pinned"):
        download(f"{url}/val2014.zip", tmp_path / "val2014.zip", "0" * 64)
    assert not (tmp_path / "val2014.zip").exists()


def test_offline_is_one_fast_line_naming_what_and_where(fixture_manifests, tmp_path, capsys):
    start = time.perf_counter()
    assert cli_main(prepare, ["fetch", "--task", "vqav2", "--data-root", str(tmp_path)]) == 2
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: cannot reach 127.0.0.1")
    assert "val2014.zip (http://127.0.0.1:9/val2014.zip)" in err and str(tmp_path / ".downloads") in err


def test_data_check_on_fixture_data_reports_the_subset(fixture_data, capsys):
    assert cli_main(prepare, ["check", "--task", "vqav2", "--data-root", str(fixture_data)]) == 2
    io = capsys.readouterr()
    assert "split val2014: subset (36 of 214,354 questions" in io.err
    assert f"sha256 {sha256_of(fixture_data / QUESTIONS)}  {QUESTIONS}" in io.out


def test_data_check_catches_a_changed_file_and_a_missing_image(mirror, tmp_path, capsys):
    root = tmp_path / "root"
    assert cli_main(prepare, ["fetch", "--task", "vqav2", "--data-root", str(root)]) == 0
    next((root / "coco/images/val2014").iterdir()).unlink()
    assert cli_main(prepare, ["check", "--task", "vqav2", "--data-root", str(root)]) == 2
    assert "1 of 12 images missing" in capsys.readouterr().err
    doc = json.loads((root / ANNOTATIONS).read_text())
    doc["info"]["description"] = "edited"
    (root / ANNOTATIONS).write_text(json.dumps(doc))
    assert cli_main(prepare, ["check", "--task", "vqav2", "--data-root", str(root)]) == 2
    assert "changed since `make data`" in capsys.readouterr().err


def test_flickr_images_come_from_a_user_folder(mirror, fixture_data, tmp_path, capsys):
    root = tmp_path / "root"
    assert cli_main(prepare, ["fetch", "--task", "flickr30k", "--data-root", str(root)]) == 2
    assert "FLICKR_IMAGES=dir" in capsys.readouterr().err
    user = tmp_path / "flickr30k-images"
    shutil.copytree(fixture_data / "flickr30k/images", user / "nested")
    args = ["fetch", "--task", "flickr30k", "--data-root", str(root), "--flickr-images", str(user)]
    assert cli_main(prepare, args) == 0
    assert "ok: flickr30k [official] split test: full" in capsys.readouterr().out


def hub_folder(fixture_data: Path, out: Path) -> Path:
    """A local folder laid out like lmms-lab/VQAv2 (parquet, embedded images), from the fixture files."""
    import datasets

    qs = json.loads((fixture_data / QUESTIONS).read_text())["questions"]
    anns = {a["question_id"]: a for a in json.loads((fixture_data / ANNOTATIONS).read_text())["annotations"]}
    images = fixture_data / "coco/images/val2014"
    rows = [{**q, "answers": anns[q["question_id"]]["answers"], "answer_type": anns[q["question_id"]]["answer_type"],
             "question_type": anns[q["question_id"]]["question_type"],
             "image": (images / f"COCO_val2014_{q['image_id']:012d}.jpg").read_bytes()} for q in qs]
    (out / "data").mkdir(parents=True)
    datasets.Dataset.from_list(rows).to_parquet(str(out / "data" / "validation-00000-of-00001.parquet"))
    return out


def test_hf_source_from_a_local_folder_is_copied_pinned_and_counted(mirror, fixture_data, tmp_path, capsys):
    hub = hub_folder(fixture_data, tmp_path / "VQAv2")
    root = tmp_path / "root"
    args = ["fetch", "--task", "vqav2", "--data-root", str(root), "--source", "hf", "--hf-repo", str(hub)]
    assert cli_main(prepare, args) == 0
    assert "ok: vqav2 [hf] split val2014: full" in capsys.readouterr().out
    local = root / "hf" / "VQAv2"
    assert read_json(local / "HF_SOURCE.json")["repo"] == str(hub.resolve())
    run = facts(root, "vqav2", "task.source=hf", f"task.hf.repo={local}")
    assert run["manifest_match"] == "full" and run["local_manifest"]["source"] == "hf"


# -- what the judge makes of the label (harness/verdict/match.py reads data.manifest_match) --------------------------

@pytest.mark.parametrize("label,match,axes", [
    ("full", "exact", []),
    ("subset", "proxy", ["data subset"]),
    ("unverified", "proxy", ["data unverified"]),
    ("wrong_split", "mismatch", ["split"]),
    ("altered", "mismatch", ["data"]),
])
def test_the_judge_reads_the_data_label(tmp_path, label, match, axes):
    from claim_runs import make_run, vqa_metrics

    from harness.io import write_json
    from harness.judge import judge_run

    run_dir = make_run(tmp_path, ["model=blip2-opt-2.7b", "task=vqav2"], vqa_metrics(53.6))
    provenance = read_json(run_dir / "provenance.json")
    provenance["protocol"]["data"].update(fingerprint="0123456789abcdef", manifest_match=label)
    write_json(run_dir / "provenance.json", provenance)
    verdict = judge_run(run_dir, write=False)
    assert verdict["protocol_match"] == match and verdict["differing_axes"] == axes
    assert verdict["expected_fingerprint"] == verdict["run_claim_fingerprint"]


def test_flickr_hf_mirror_still_takes_the_karpathy_split_from_the_official_zip(mirror, fixture_data, tmp_path, capsys):
    import datasets

    server, _ = mirror
    tests = [e["filename"] for e in json.loads((fixture_data / KARPATHY).read_text())["images"] if e["split"] == "test"]
    hub = tmp_path / "flickr30k"
    (hub / "data").mkdir(parents=True)
    rows = [{"filename": name, "image": (fixture_data / "flickr30k/images" / name).read_bytes()} for name in tests[1:]]
    datasets.Dataset.from_list(rows).to_parquet(str(hub / "data" / "test-00000-of-00001.parquet"))
    root = tmp_path / "root"
    args = ["fetch", "--task", "flickr30k", "--data-root", str(root), "--source", "hf", "--hf-repo", str(hub)]
    assert cli_main(prepare, args) == 2
    assert "full; 1 of 12 images missing" in capsys.readouterr().err
    assert [path for path, _ in server.requests] == ["/caption_datasets.zip"]  # no image archive for the mirror
