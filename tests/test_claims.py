"""Claims registry: validation errors are one line naming file and claim; key numbers present; CSV columns."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml

from harness import claims as registry
from harness.config import CONF_DIR, compose
from harness.errors import HarnessError, cli_main

GOOD = {
    "id": "X.1", "paper": "arXiv:2301.12597v3", "source_kind": "paper", "table": "2",
    "row": "BLIP-2 ViT-g OPT2.7B", "column": "VQAv2 val", "cell": "53.5",
    "checkpoint": "Salesforce/blip2-opt-2.7b", "task": "vqav2", "split": "val2014", "metric": "vqa_acc",
    "value": 53.5, "protocol": "vqav2-paper-opt", "strength": "2T",
}


def write_registry(folder: Path, entries: list[dict], name: str = "r.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump({"claims": entries}, sort_keys=False), encoding="utf-8")
    return path


def load_error(folder: Path) -> str:
    with pytest.raises(HarnessError) as err:
        registry.load_registry(folder)
    return str(err.value)


def by_id() -> dict[str, registry.Claim]:
    return {c.id: c for c in registry.load_registry()}


def test_registry_loads_with_unique_ids():
    claims = registry.load_registry()
    assert len(claims) == len({c.id for c in claims}) >= 120


@pytest.mark.parametrize("claim_id,value,task,split,metric,checkpoint", [
    ("T2.g-opt2.7b.vqav2-val", 53.5, "vqav2", "val2014", "vqa_acc", "Salesforce/blip2-opt-2.7b"),
    ("T2.g-t5xxl.vqav2-dev", 65.0, "vqav2_testdev", "test-dev2015", "vqa_acc",
     "Salesforce/blip2-flan-t5-xxl"),
    ("T3.opt2.7b.coco.B4", 43.7, "coco_caption", "test", "Bleu_4", "Salesforce/blip2-opt-2.7b-coco"),
    ("T3.opt2.7b.coco.C", 145.8, "coco_caption", "test", "CIDEr", "Salesforce/blip2-opt-2.7b-coco"),
    ("IB1.blip2-t5xl.f30k", 76.1, "flickr30k", "test", "CIDEr", "Salesforce/blip2-flan-t5-xl"),
    ("IB1.blip2-t5xxl.f30k", 73.7, "flickr30k", "test", "CIDEr", "Salesforce/blip2-flan-t5-xxl"),
])
def test_key_numbers_present(claim_id, value, task, split, metric, checkpoint):
    claim = by_id()[claim_id]
    assert (claim.value, claim.task, claim.split, claim.metric, claim.checkpoint) == (
        value, task, split, metric, checkpoint)


def test_paper_claims_cite_arxiv_with_version():
    claims = by_id()
    assert claims["T2.g-opt2.7b.vqav2-val"].paper == "arXiv:2301.12597v3"
    assert claims["T2.g-opt2.7b.vqav2-val"].page == 6
    assert claims["IB1.blip2-t5xl.f30k"].paper == "arXiv:2305.06500v2"
    assert claims["IB1.blip2-t5xl.f30k"].protocol_evidence == "weak"


def test_lavis_number_is_a_separate_reference_implementation_claim():
    claims = by_id()
    lavis, paper = claims["L.opt2.7b.vqav2"], claims["T2.g-opt2.7b.vqav2-val"]
    assert lavis.value == 51.88 and lavis.source_kind == "reference_implementation"
    assert lavis.protocol == "vqav2-lavis-opt" != paper.protocol
    assert lavis.source_ref and "8491f1d3" in lavis.source_ref


def test_copy_pasted_lavis_comment_is_kept_but_unusable():
    claim = by_id()["L.t5xl-coco.caption.CIDEr"]
    assert not claim.usable and "copy" in (claim.warning or "")
    assert registry.not_runnable_because(claim).startswith("marked unusable")


def test_no_blip2_opt_flickr30k_caption_claim():
    flickr = [c for c in registry.load_registry() if c.task == "flickr30k"]
    assert flickr and not [c for c in flickr if "opt" in (c.checkpoint or "")]


def test_runnable_is_derived_from_the_configs():
    """Runnable = usable, a public checkpoint with a model config, a task config, a protocol config."""
    def on_disk(group: str, name: str | None) -> bool:
        return bool(name) and (CONF_DIR / group / f"{name}.yaml").is_file()

    for claim in registry.load_registry():
        model = registry.model_config_for(claim.checkpoint)
        expected = (claim.usable and claim.checkpoint is not None and on_disk("model", model)
                    and on_disk("task", claim.task) and on_disk("protocol", claim.protocol))
        assert registry.is_runnable(claim) == expected, claim.id


def test_the_runnable_claims_of_the_issue():
    runnable = {c.id for c in registry.load_registry() if registry.is_runnable(c)}
    assert {"T2.g-opt2.7b.vqav2-val", "T2.g-opt6.7b.vqav2-val", "T2.g-t5xl.vqav2-val", "T2.g-t5xxl.vqav2-val",
            "L.opt2.7b.vqav2", "L.t5xl.vqav2", "IB1.blip2-t5xl.f30k", "IB1.blip2-t5xxl.f30k"} <= runnable
    assert not {"T2.L-opt2.7b.vqav2-val", "T4.opt6.7b.dev", "IB1.blip2-v7b.f30k"} & runnable  # no checkpoint
    for claim in (c for c in registry.load_registry() if c.id in runnable):
        protocol = yaml.safe_load((CONF_DIR / "protocol" / f"{claim.protocol}.yaml").read_text("utf-8"))
        model_file = CONF_DIR / "model" / f"{registry.model_config_for(claim.checkpoint)}.yaml"
        model = yaml.safe_load(model_file.read_text("utf-8"))
        assert (protocol["task"], protocol["split"]) == (claim.task, claim.split), claim.id
        assert protocol["family"] == model["family"] and model["checkpoint"] == claim.checkpoint


def test_instructblip_protocol_carries_its_weak_evidence():
    cfg = compose(["model=blip2-flan-t5-xl", "task=flickr30k", "protocol=flickr30k-instructblip-t5"])
    assert "PARTLY KNOWN" in cfg.protocol.source and "protocols.md §4" in cfg.protocol.source


def test_csv_columns_and_rows(capsys):
    assert cli_main(registry.main, ["--csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    header = rows[0]
    for column in registry.CSV_COLUMNS[:6] + ("checkpoint", "task", "split", "metric", "value"):
        assert column in header
    assert len(rows) - 1 == len(registry.load_registry())
    row = dict(zip(header, next(r for r in rows if r[0] == "T2.g-opt2.7b.vqav2-val"), strict=True))
    assert (row["value"], row["runnable"], row["model_config"]) == ("53.5", "true", "blip2-opt-2.7b")


def test_matrix_lists_runnable_triples(capsys):
    assert cli_main(registry.main, ["--matrix"]) == 0
    include = yaml.safe_load(capsys.readouterr().out)["include"]
    assert {"task": "vqav2", "model": "blip2-opt-2.7b", "protocol": "vqav2-paper-opt",
            "claims": "T2.g-opt2.7b.vqav2-val"} in include
    assert all(e["model"] and not e["model"].startswith("tiny") for e in include)


@pytest.mark.parametrize("change,message", [
    ({"task": "vqa"}, "unknown task 'vqa'"),
    ({"metric": "accuracy"}, "unknown metric 'accuracy'"),
    ({"split": "val"}, "unknown split 'val'"),
    ({"strength": "3T"}, "unknown strength '3T'"),
    ({"value": 53.6}, "does not appear in the printed cell"),
    ({"colour": "red"}, "unknown field(s) colour"),
])
def test_invalid_claim_is_one_line_naming_file_and_id(tmp_path, change, message):
    path = write_registry(tmp_path, [{**GOOD, **change}])
    error = load_error(tmp_path)
    assert message in error and str(path) in error and "claim X.1" in error and "\n" not in error


def test_missing_field(tmp_path):
    entry = dict(GOOD)
    del entry["metric"]
    write_registry(tmp_path, [entry])
    assert "claim X.1: missing field 'metric'" in load_error(tmp_path)


def test_duplicate_id_within_and_across_files(tmp_path):
    write_registry(tmp_path / "one", [GOOD, GOOD])
    assert "claim X.1: duplicate id" in load_error(tmp_path / "one")
    write_registry(tmp_path / "two", [GOOD], "a.yaml")
    write_registry(tmp_path / "two", [GOOD], "b.yaml")
    error = load_error(tmp_path / "two")
    assert "b.yaml: claim X.1: duplicate id" in error and "a.yaml" in error


def test_malformed_yaml_names_the_line(tmp_path):
    (tmp_path / "r.yaml").write_text("claims:\n  - id: [unclosed\n", encoding="utf-8")
    assert "r.yaml: malformed YAML at line" in load_error(tmp_path)


def test_cli_error_is_one_line(tmp_path, capsys):
    write_registry(tmp_path, [{**GOOD, "task": "nope"}])
    assert cli_main(registry.main, ["--csv", "--claims-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_unknown_claim_id():
    with pytest.raises(HarnessError, match="unknown claim 'T9.nope'"):
        registry.get_claim("T9.nope")
