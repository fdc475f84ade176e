"""Judge: protocol match (exact / proxy / mismatch) and verdict rules on synthetic run folders."""

from __future__ import annotations

import json

import pytest
from claim_runs import caption_metrics, make_run, vqa_metrics

from harness import judge
from harness.errors import cli_main
from harness.io import read_json, write_json
from harness.judge import judge_run
from harness.verdict.tolerance import tolerance_for

OPT = ["model=blip2-opt-2.7b", "task=vqav2"]
T5 = ["model=blip2-flan-t5-xl", "task=vqav2"]
T5_DTYPES = {"vision": "float16", "qformer": "float32", "lm": "bfloat16"}


def verdict_for(tmp_path, overrides, metrics, claim_id=None, **loaded):
    return judge_run(make_run(tmp_path, overrides, metrics, **loaded), claim_id)


def test_exact_protocol_within_tolerance_is_reproduced(tmp_path):
    v = verdict_for(tmp_path, OPT, vqa_metrics(53.8))
    assert (v["status"], v["protocol_match"]) == ("reproduced", "exact")
    assert v["claim_id"] == "T2.g-opt2.7b.vqav2-val"
    assert v["differing_axes"] == [] and v["confidence"] == "high" and v["subset"] is False
    assert (v["reported"], v["measured"], v["delta"]) == (53.5, 53.8, 0.3)
    assert v["tolerance"]["rule"] == "full_split" and v["tolerance"]["reproduced"] == 0.5
    assert v["ci95"] == pytest.approx([53.6, 54.0])
    assert v["expected_fingerprint"] == v["run_claim_fingerprint"]


@pytest.mark.parametrize("measured,status", [(52.5, "partial"), (55.4, "partial"), (50.0, "not_reproduced")])
def test_full_split_bands(tmp_path, measured, status):
    assert verdict_for(tmp_path, OPT, vqa_metrics(measured))["status"] == status


def test_tiny_model_is_refused_on_the_model_axis(tmp_path):
    v = verdict_for(tmp_path, ["model=tiny-opt", "task=vqav2"], vqa_metrics(0.4, n=20, ci=(0.0, 2.0)))
    assert (v["status"], v["protocol_match"]) == ("refused", "mismatch")
    assert v["claim_id"] == "T2.g-opt2.7b.vqav2-val"
    assert "model" in v["mismatch_axes"] and "model" in v["reason"]
    assert v["delta"] is None and v["confidence"] is None


@pytest.mark.parametrize("override,axis,field", [
    ("protocol.prompt.template='Question: {question} Short answer:'", "prompt", "prompt.template"),
    ("protocol.decoding.length_penalty=0.0", "decoding", "decoding.length_penalty"),
    ("protocol.decoding.num_beams=1", "decoding", "decoding.num_beams"),
    ("protocol.split=test-dev2015", "split", "data.split"),
    ("protocol.scorer=vqa-2021", "metric version", "scoring.scorer"),
    ("protocol.postprocess.lemmatize=true", "postprocess", "postprocess.lemmatize"),
])
def test_changed_protocol_is_refused_naming_the_axis(tmp_path, override, axis, field):
    v = verdict_for(tmp_path, [*OPT, override], vqa_metrics(53.5))
    assert v["status"] == "refused" and v["protocol_match"] == "mismatch"
    assert v["mismatch_axes"] == [axis] and axis in v["reason"]
    assert [d["field"] for d in v["differences"]] == [field]
    assert v["expected_fingerprint"] != v["run_claim_fingerprint"]


def test_configured_image_size_override_is_a_mismatch(tmp_path):
    """The loader reports an overridden size as a fact; config.yaml shows it was configured."""
    v = verdict_for(tmp_path, [*OPT, "protocol.image.size=364"], vqa_metrics(53.5), image_size=364)
    assert v["status"] == "refused" and v["mismatch_axes"] == ["image"]
    assert v["differences"][0]["field"] == "protocol.image.size (configured)"


@pytest.mark.parametrize("ci,status", [((52.9, 54.1), "reproduced"), ((53.0, 53.46), "reproduced"),
                                       ((54.0, 56.0), "not_reproduced")])
def test_limit_is_a_proxy_judged_by_the_ci(tmp_path, ci, status):
    v = verdict_for(tmp_path, [*OPT, "protocol.limit=5000"], vqa_metrics(55.0, n=5000, ci=ci))
    assert v["protocol_match"] == "proxy" and v["proxy_axes"] == ["sample size"]
    assert (v["status"], v["subset"], v["tolerance"]["rule"]) == (status, True, "subset_ci")
    assert v["confidence"] == "medium"  # 2T lowered once for the subset


def test_small_subset_without_limit_uses_the_ci_rule_with_low_confidence(tmp_path):
    v = verdict_for(tmp_path, OPT, vqa_metrics(50.0, n=200, ci=(45.0, 55.0)))
    assert (v["status"], v["subset"], v["confidence"]) == ("reproduced", True, "low")


@pytest.mark.parametrize("override,loaded,axis", [
    ("runtime.batch_size=64", {}, "batch size"),
    ("runtime.device=cpu", {"device": "cpu"}, "hardware"),
    ("task.source=hf", {}, "data source"),
    ("evaluator=reference", {}, "evaluator"),
])
def test_runtime_axes_are_proxies(tmp_path, override, loaded, axis):
    v = verdict_for(tmp_path, [*OPT, override], vqa_metrics(53.5), **loaded)
    assert (v["status"], v["protocol_match"], v["proxy_axes"]) == ("reproduced", "proxy", [axis])
    assert v["confidence"] == "high"
    assert v["expected_fingerprint"] == v["run_claim_fingerprint"]


def test_skipped_bad_images_make_a_sample_size_proxy(tmp_path):
    run_dir = make_run(tmp_path, OPT, vqa_metrics(53.5, n=214_350, ci=(53.3, 53.7)))
    prov = read_json(run_dir / "provenance.json")
    prov["protocol"]["data"]["skipped_sample_ids"] = [1, 2, 3, 4]
    write_json(run_dir / "provenance.json", prov)
    v = judge_run(run_dir)
    assert (v["status"], v["proxy_axes"], v["subset"]) == ("reproduced", ["sample size"], True)


def test_cuda_index_is_the_same_hardware(tmp_path):
    assert verdict_for(tmp_path, OPT, vqa_metrics(53.5), device="cuda:1")["protocol_match"] == "exact"


def test_t5_in_float16_is_refused(tmp_path):
    v = verdict_for(tmp_path, T5, vqa_metrics(63.1), dtypes={**T5_DTYPES, "lm": "float16"})
    assert (v["status"], v["mismatch_axes"]) == ("refused", ["precision"])
    assert v["claim_id"] == "T2.g-t5xl.vqav2-val"
    assert "bf16" in v["differences"][0]["why"]


def test_other_precisions_are_proxies_that_lower_confidence(tmp_path):
    t5 = verdict_for(tmp_path / "a", T5, vqa_metrics(63.1), dtypes={**T5_DTYPES, "lm": "float32"})
    opt = verdict_for(tmp_path / "b", OPT, vqa_metrics(53.5), dtypes={**T5_DTYPES, "lm": "bfloat16"})
    for v in (t5, opt):
        assert (v["status"], v["proxy_axes"], v["confidence"]) == ("reproduced", ["precision"], "medium")


def test_opt_flickr30k_has_no_claim(tmp_path):
    v = verdict_for(tmp_path, ["model=blip2-opt-2.7b", "task=flickr30k"], caption_metrics(70.0))
    assert v["status"] == "no_claim" and v["claim_id"] is None
    assert "no Flickr30K caption number" in v["reason"]


def test_t5_flickr30k_under_the_paper_caption_protocol_has_no_claim(tmp_path):
    v = verdict_for(tmp_path, ["model=blip2-flan-t5-xl", "task=flickr30k"], caption_metrics(70.0))
    assert v["status"] == "no_claim"


@pytest.mark.parametrize("model,claim_id", [("blip2-flan-t5-xl", "IB1.blip2-t5xl.f30k"),
                                            ("blip2-flan-t5-xxl", "IB1.blip2-t5xxl.f30k")])
def test_instructblip_baseline_is_judged_with_low_confidence(tmp_path, model, claim_id):
    overrides = [f"model={model}", "task=flickr30k", "protocol=flickr30k-instructblip-t5"]
    v = verdict_for(tmp_path, overrides, caption_metrics(75.0))
    assert (v["claim_id"], v["protocol_match"], v["confidence"]) == (claim_id, "exact", "low")
    assert v["status"] in ("reproduced", "partial")


def test_lavis_protocol_run_is_judged_against_the_lavis_claim(tmp_path):
    v = verdict_for(tmp_path, [*OPT, "protocol=lavis"], vqa_metrics(51.9))
    assert (v["claim_id"], v["status"], v["confidence"]) == ("L.opt2.7b.vqav2", "reproduced", "medium")
    assert v["claim"]["source_kind"] == "reference_implementation"


def test_explicit_claim_with_another_protocol_is_refused(tmp_path):
    v = verdict_for(tmp_path, OPT, vqa_metrics(51.9), claim_id="L.opt2.7b.vqav2")
    assert v["status"] == "refused" and {"prompt", "decoding"} <= set(v["mismatch_axes"])


@pytest.mark.parametrize("claim_id,why", [("L.t5xl-coco.caption.CIDEr", "marked unusable"),
                                          ("T2.L-opt2.7b.vqav2-val", "no public checkpoint")])
def test_unjudgeable_claims_are_refused(tmp_path, claim_id, why):
    v = verdict_for(tmp_path, OPT, vqa_metrics(53.5), claim_id=claim_id)
    assert v["status"] == "refused" and why in v["reason"]


def test_testdev_run_awaits_external_scoring_and_prefers_table_2(tmp_path):
    metrics = {"task": "vqav2_testdev", "scorer": "evalai-2017", "n": 107_394, "needs_external_scoring": True,
               "metrics": {}, "ci95": {}, "raw": {"how_to_score": "upload submission.json to EvalAI"}}
    v = verdict_for(tmp_path, ["model=blip2-flan-t5-xxl", "task=vqav2_testdev"], metrics)
    assert (v["claim_id"], v["status"]) == ("T2.g-t5xxl.vqav2-dev", "refused")  # 2T before Table 1's 2T(p)
    assert "awaiting external scoring (upload submission.json to EvalAI)" in v["reason"]


def test_missing_metric_is_refused(tmp_path):
    metrics = vqa_metrics(53.5)
    del metrics["metrics"]["vqa_acc"]
    assert "not in metrics.json" in verdict_for(tmp_path, OPT, metrics)["reason"]


def test_cli_prints_and_writes_the_verdict(tmp_path, capsys):
    run_dir = make_run(tmp_path, OPT, vqa_metrics(53.5))
    assert cli_main(judge.main, [str(run_dir)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((run_dir / "verdict.json").read_text(encoding="utf-8"))
    assert printed["status"] == "reproduced"


def test_cli_no_write_leaves_the_stored_verdict(tmp_path, capsys):
    run_dir = make_run(tmp_path, OPT, vqa_metrics(53.5))
    assert cli_main(judge.main, [str(run_dir), "--claim", "L.opt2.7b.vqav2", "--no-write"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "refused"
    assert not (run_dir / "verdict.json").exists()


@pytest.mark.parametrize("args", [["{tmp}/missing"], ["{tmp}"], ["{run}", "--claim", "T9.nope"]])
def test_cli_bad_input_is_exit_2_one_line(tmp_path, capsys, args):
    run_dir = make_run(tmp_path / "r", OPT, vqa_metrics(53.5))
    argv = [a.format(tmp=tmp_path, run=run_dir) for a in args]
    assert cli_main(judge.main, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


@pytest.mark.parametrize("task,metric,band", [
    ("vqav2", "vqa_acc", 0.5), ("vqav2", "vqa_acc[number]", 1.0), ("okvqa", "vqa_acc", 1.0),
    ("coco_caption", "CIDEr", 1.5), ("flickr30k", "CIDEr", 2.0), ("nocaps", "CIDEr[in-domain]", 2.0),
    ("coco_retrieval", "img_r5", 0.3),
])
def test_tolerance_table(task, metric, band):
    assert tolerance_for(task, metric).reproduced == band < tolerance_for(task, metric).partial
