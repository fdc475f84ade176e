"""Caption metrics: pycocoevalcap called directly, line-break trap, coverage, sacrebleu check, bootstrap.

Only one test starts METEOR's JVM (slow: it loads a 62 MB paraphrase table); the others stub METEOR out, and
the pure-Python ones (BLEU, ROUGE-L, CIDEr on stored PTB-tokenized text) need no Java at all.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess

import numpy as np
import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from harness.errors import HarnessError, cli_main
from harness.score import main as score_main
from harness.scoring import caption as caption_mod
from harness.scoring.bootstrap import bleu_from_stats, bootstrap_ci, caption_cis
from harness.scoring.caption import LINE_BREAKS, sanitize_caption, score_captions
from harness.scoring.sacrebleu_check import sacrebleu_crosscheck, sacrebleu_on_ptb_tokens

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="java not on PATH")

NOUNS = "dog cat man woman child horse car bus bird boat kite table pizza ball bike tree".split()
VERBS = "sits runs stands rides eats holds plays jumps walks lies".split()
PLACES = "on the grass|in the water|near a tree|on a street|at the beach|in a kitchen|under a table".split(
    "|"
)


def _caption(rng: random.Random) -> str:
    words = (
        f"{rng.choice(['a', 'the', 'two', 'A'])} {rng.choice(NOUNS)} {rng.choice(VERBS)} {rng.choice(PLACES)}"
    )
    if rng.random() < 0.3:
        words += f", with a {rng.choice(NOUNS)}"
    return words + rng.choice([".", "", " .", "!"])


def corpus(n_images: int = 40, seed: int = 0, str_ids: bool = False):
    """COCO-format references (5-7 per image) and one prediction per image."""
    rng = random.Random(seed)
    images, annotations, predictions = [], [], []
    for i in range(n_images):
        img = f"img{i}" if str_ids else 500 + i
        images.append({"id": img})
        refs = [_caption(rng) for _ in range(rng.choice([5, 5, 6, 7]))]
        annotations += [
            {"image_id": img, "id": len(annotations) + j, "caption": c} for j, c in enumerate(refs)
        ]
        predictions.append(
            {"image_id": img, "caption": rng.choice(refs) if rng.random() < 0.3 else _caption(rng)}
        )
    return {"images": images, "annotations": annotations}, predictions


def tokenized_corpus(n_images: int = 200, seed: int = 1):
    """Stored PTB-style text (lower-case, punctuation removed): what the tokenizer hands the scorers."""
    rng = random.Random(seed)
    gts, res = {}, {}
    for i in range(n_images):
        refs = [
            _caption(rng).lower().replace(",", "").rstrip(".!").strip() for _ in range(rng.choice([5, 6, 7]))
        ]
        gts[i] = [" ".join(r.split()) for r in refs]
        res[i] = [" ".join(_caption(rng).lower().replace(",", "").rstrip(".!").split())]
    return gts, res


@pytest.fixture
def no_meteor(monkeypatch):
    """Replace METEOR's JVM by zeros: everything else still runs through pycocoevalcap."""
    monkeypatch.setattr(caption_mod, "_start_meteor", lambda: None)
    monkeypatch.setattr(caption_mod, "_stop_meteor", lambda job: None)
    monkeypatch.setattr(caption_mod, "_meteor", lambda job, gts, res: (0.0, [0.0] * len(gts)))


# ----------------------------------------------------------------------------------------------------
# Full path, Java included (one METEOR start)
# ----------------------------------------------------------------------------------------------------
@needs_java
def test_score_captions_end_to_end_with_meteor():
    references, predictions = corpus(30)
    result = score_captions(references, predictions, spice=False, n_resamples=200)
    for key in ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"):
        assert 0 < result[key] < (10 if key == "CIDEr" else 1), key
        assert len(result["per_image"][key]) == 30
    assert "SPICE" not in result and result["n_images"] == 30
    assert result["per_image"]["CIDEr"].keys() == {str(i["id"]) for i in references["images"]}
    assert np.mean(list(result["per_image"]["ROUGE_L"].values())) == pytest.approx(
        result["ROUGE_L"], abs=1e-12
    )
    for key in ("Bleu_4", "METEOR", "ROUGE_L", "CIDEr"):
        lo, hi = result["ci95"][key]
        assert lo <= result[key] <= hi, key
    assert 0 < result["sacrebleu"]["score"] <= 100
    assert result["sacrebleu"]["signature"].startswith("nrefs:var|case:mixed|eff:no|tok:13a|smooth:exp")
    assert result["tools"]["pycocoevalcap"] == "1.2"


# ----------------------------------------------------------------------------------------------------
# Same numbers as pycocoevalcap's own scorers
# ----------------------------------------------------------------------------------------------------
@needs_java
def test_matches_pycocoevalcap_scorers_called_the_coco_way(no_meteor):
    references, predictions = corpus(40, seed=2)
    result = score_captions(references, predictions, spice=False, n_resamples=0)
    refs = {i["id"]: [] for i in references["images"]}
    for a in references["annotations"]:
        refs[a["image_id"]].append({"caption": a["caption"]})
    hyps = {p["image_id"]: [{"caption": p["caption"]}] for p in predictions}
    tok = caption_mod.PTBTokenizer()
    gts, res = tok.tokenize(refs), tok.tokenize(hyps)
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    assert [result[f"Bleu_{n}"] for n in range(1, 5)] == bleu
    assert result["ROUGE_L"] == Rouge().compute_score(gts, res)[0]
    assert result["CIDEr"] == Cider().compute_score(gts, res)[0]


def test_bleu_path_and_stats_equal_pycocoevalcap_bleu():
    gts, res = tokenized_corpus()
    scores, per_image, stats = caption_mod.bleu_scores(gts, res)
    ref_scores, ref_per_image = Bleu(4).compute_score(gts, res, verbose=0)
    assert scores == ref_scores and per_image == ref_per_image
    assert bleu_from_stats(stats.sum(axis=0)) == scores[3]


def test_sacrebleu_exact_equivalence_with_coco_bleu4():
    gts, res = tokenized_corpus()
    bleu4 = caption_mod.bleu_scores(gts, res)[0][3]
    assert sacrebleu_on_ptb_tokens(gts, res) == pytest.approx(100 * bleu4, abs=1e-9)


def test_sacrebleu_default_crosscheck_is_a_different_quantity():
    out = sacrebleu_crosscheck(["A dog runs."], [["a dog runs .", "A dog runs."]])
    assert out["score"] == pytest.approx(100.0)
    assert "tok:13a" in out["signature"] and "nrefs:var" not in out["signature"]


# ----------------------------------------------------------------------------------------------------
# The line-break trap
# ----------------------------------------------------------------------------------------------------
@needs_java
def test_line_breaks_inside_captions_do_not_shift_others(no_meteor):
    references, predictions = corpus(12, seed=3)
    spaced_refs, spaced_preds = json.loads(json.dumps(references)), json.loads(json.dumps(predictions))
    for i, char in enumerate(["\r", "\u2028", "\v", "\f", "\u2029", "\n"]):
        ref, pred = references["annotations"][3 * i + 1], predictions[2 * i]
        ref["caption"] = ref["caption"].replace(" ", char, 1)
        pred["caption"] = pred["caption"].replace(" ", char, 1)
        spaced_refs["annotations"][3 * i + 1]["caption"] = ref["caption"].replace(char, " ")
        spaced_preds[2 * i]["caption"] = pred["caption"].replace(char, " ")
    with_break = score_captions(references, predictions, spice=False, n_resamples=0)
    with_space = score_captions(spaced_refs, spaced_preds, spice=False, n_resamples=0)
    for key in ("Bleu_1", "Bleu_4", "ROUGE_L", "CIDEr", "per_image"):
        assert with_break[key] == with_space[key], key


@needs_java
def test_tokenizer_line_count_guard(monkeypatch, no_meteor):
    references, predictions = corpus(6, seed=4)
    predictions[1]["caption"] = "a dog\rruns"
    monkeypatch.setattr(caption_mod, "sanitize_caption", lambda text: text)  # what pycocoevalcap alone does
    with pytest.raises(HarnessError, match="PTB tokenizer output is misaligned with the predictions"):
        score_captions(references, predictions, spice=False, n_resamples=0)


def test_sanitize_caption():
    assert set(LINE_BREAKS) == {"\r", "\n", "\v", "\f", "\u2028", "\u2029"}
    assert sanitize_caption("a\rb\nc\vd\fe\u2028f\u2029g\u0085h\u00a0i") == "a b c d e f g\u0085h\u00a0i"


# ----------------------------------------------------------------------------------------------------
# Coverage and input errors (no Java needed: they fail before any scorer starts)
# ----------------------------------------------------------------------------------------------------
def _error(references, predictions) -> str:
    with pytest.raises(HarnessError) as err:
        score_captions(references, predictions, spice=False)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_missing_duplicated_unknown_predictions():
    references, predictions = corpus(10)
    msg = _error(references, predictions[3:])
    assert "3 image_id(s) of references have no prediction (e.g. 500, 501, 502)" in msg
    msg = _error(references, predictions + predictions[:2])
    assert "2 image_id(s) predicted more than once (e.g. 500, 501)" in msg
    msg = _error(references, predictions + [{"image_id": 9999, "caption": "x"}])
    assert "1 image_id(s) not in references (e.g. 9999)" in msg


def test_id_type_mismatch():
    references, predictions = corpus(4)
    msg = _error(references, [{**p, "image_id": str(p["image_id"])} for p in predictions])
    assert "types differ (references: int, predictions: str)" in msg


def test_reference_problems():
    references, predictions = corpus(4)
    references["annotations"] = [a for a in references["annotations"] if a["image_id"] != 502]
    assert "1 image(s) have no reference caption (e.g. 502)" in _error(references, predictions)
    references, predictions = corpus(4)
    references["annotations"].append({"image_id": 777, "id": 1, "caption": "x"})
    assert "1 annotation(s) for image ids not in 'images' (e.g. 777)" in _error(references, predictions)
    references, predictions = corpus(4)
    references["annotations"][0]["caption"] = None
    assert "annotation #0 (image_id 500): 'caption' must be a string" in _error(references, predictions)
    assert "missing list field 'images'" in _error({"annotations": []}, predictions)
    references, predictions = corpus(4)
    del predictions[1]["caption"]
    assert "prediction #1 has no field 'caption'" in _error(references, predictions)
    references, predictions = corpus(4)
    references["images"].append({"id": 500})
    assert "1 duplicated images[].id(s) (e.g. 500)" in _error(references, predictions)


def test_string_ids_are_fine():
    references, predictions = corpus(5, str_ids=True)
    refs = caption_mod.read_references(references, "r")
    assert (
        list(caption_mod.read_predictions(predictions, list(refs), "p", "r"))
        == list(refs)
        == [f"img{i}" for i in range(5)]
    )


def test_java_missing_gives_install_hint(monkeypatch):
    monkeypatch.setattr(caption_mod.shutil, "which", lambda name: None)
    references, predictions = corpus(3)
    msg = _error(references, predictions)
    assert "Java" in msg and "apt-get install default-jre-headless" in msg


def test_spice_only_when_jars_present(monkeypatch, capsys):
    monkeypatch.setattr(caption_mod, "spice_available", lambda: False)
    assert caption_mod._use_spice(None) is False
    assert "SPICE skipped" in capsys.readouterr().err
    assert caption_mod._use_spice(False) is False
    with pytest.raises(HarnessError, match="SPICE requested but CoreNLP 3.6.0 jars"):
        caption_mod._use_spice(True)
    monkeypatch.setattr(caption_mod, "spice_available", lambda: True)
    assert caption_mod._use_spice(None) is True


class _FakeSpice:
    """Stands in for pycocoevalcap's Spice (its CoreNLP jars are absent here) with its return shape: per-image
    results in sorted-image-id order, not in the order of `gts`."""

    java_options: list = []

    def compute_score(self, gts, res):
        self.java_options.append(os.environ.get("JDK_JAVA_OPTIONS"))
        ordered = sorted(gts)
        per = [{"All": {"f": 0.01 * int(img[3:])}} for img in ordered]
        return float(np.mean([p["All"]["f"] for p in per])), per


@needs_java
def test_spice_scores_are_mapped_back_to_their_images(monkeypatch, no_meteor):
    import pycocoevalcap.spice.spice as spice_module

    monkeypatch.setattr(caption_mod, "spice_available", lambda: True)
    monkeypatch.setattr(spice_module, "Spice", _FakeSpice)
    monkeypatch.delenv("JDK_JAVA_OPTIONS", raising=False)
    references, predictions = corpus(12, str_ids=True)  # img0, img1, ..., img11: sorted order differs
    result = score_captions(references, predictions, spice=None, n_resamples=200)
    assert result["SPICE"] == pytest.approx(np.mean([0.01 * i for i in range(12)]))
    assert result["per_image"]["SPICE"] == {f"img{i}": pytest.approx(0.01 * i) for i in range(12)}
    spice = np.array([0.01 * i for i in range(12)])  # the CI resamples the same images as the other metrics
    same = bootstrap_ci(12, lambda idx: float(spice[idx].mean()), n_resamples=200, seed=0)
    assert result["ci95"]["SPICE"] == pytest.approx(list(same), abs=1e-12)
    assert result["ci95"]["SPICE"][0] < result["SPICE"] < result["ci95"]["SPICE"][1]
    assert _FakeSpice.java_options[-1] == caption_mod.SPICE_JAVA_OPTIONS  # SPICE's JVM may open java.lang ...
    assert "JDK_JAVA_OPTIONS" not in os.environ  # ... and nothing else's


@needs_java
def test_spice_java_options_are_accepted_by_this_java(monkeypatch):
    monkeypatch.setenv("JDK_JAVA_OPTIONS", "-Xss2m")
    with caption_mod._java_opens_lang():
        assert os.environ["JDK_JAVA_OPTIONS"] == f"-Xss2m {caption_mod.SPICE_JAVA_OPTIONS}"
        assert subprocess.run(["java", "-version"], capture_output=True).returncode == 0
    assert os.environ["JDK_JAVA_OPTIONS"] == "-Xss2m"


# ----------------------------------------------------------------------------------------------------
# Bootstrap (caption side)
# ----------------------------------------------------------------------------------------------------
def test_caption_cis_deterministic_and_contain_point_estimates():
    gts, res = tokenized_corpus(150)
    scores, _, stats = caption_mod.bleu_scores(gts, res)
    rouge, rouge_per = Rouge().compute_score(gts, res)
    cider, cider_per = Cider().compute_score(gts, res)
    per_image = {"ROUGE_L": rouge_per, "CIDEr": cider_per}
    cis = caption_cis(stats, per_image, n_resamples=300, seed=5)
    assert cis == caption_cis(stats, per_image, n_resamples=300, seed=5)
    assert cis != caption_cis(stats, per_image, n_resamples=300, seed=6)
    for name, point in (("Bleu_4", scores[3]), ("ROUGE_L", rouge), ("CIDEr", cider)):
        assert cis[name][0] <= point <= cis[name][1], name
    same = bootstrap_ci(len(cider_per), lambda idx: float(cider_per[idx].mean()), n_resamples=300, seed=5)
    assert list(same) == pytest.approx(cis["CIDEr"], abs=1e-12)  # same draws for every metric


def test_caption_ci_of_a_corpus_aggregate_is_centred_on_the_reported_score():
    """METEOR's corpus score is not the mean of its sentence scores: the CI must still bracket the reported
    value, with the relative spread of the sentence-score mean."""
    gts, res = tokenized_corpus(150)
    _, _, stats = caption_mod.bleu_scores(gts, res)
    sentence = np.random.default_rng(0).uniform(0.2, 0.6, size=150)  # mean ~0.4
    corpus_score = 0.25
    plain = caption_cis(stats, {"METEOR": sentence}, n_resamples=300, seed=5)["METEOR"]
    scaled = caption_cis(stats, {"METEOR": sentence}, n_resamples=300, seed=5,
                         corpus_scores={"METEOR": corpus_score})["METEOR"]  # fmt: skip
    assert not plain[0] <= corpus_score <= plain[1]
    assert scaled[0] <= corpus_score <= scaled[1]
    assert scaled == pytest.approx([v * corpus_score / sentence.mean() for v in plain], rel=1e-12)


# ----------------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------------
@needs_java
def test_cli_caption(tmp_path, no_meteor, capsys):
    references, predictions = corpus(8)
    (tmp_path / "r.json").write_text(json.dumps(references))
    (tmp_path / "p.json").write_text(json.dumps(predictions))
    out = tmp_path / "m.json"
    args = [
        "caption",
        "--references",
        str(tmp_path / "r.json"),
        "--predictions",
        str(tmp_path / "p.json"),
        "--out",
        str(out),
        "--no-spice",
        "--bootstrap",
        "50",
    ]
    assert cli_main(score_main, args) == 0
    metrics = json.loads(out.read_text())
    assert (
        metrics["task"] == "caption" and metrics["scorer"] == "pycocoevalcap-1.2" and metrics["n_images"] == 8
    )
    assert set(metrics["ci95"]) == {"Bleu_4", "METEOR", "ROUGE_L", "CIDEr"}
    assert "caption n=8 Bleu_4=" in capsys.readouterr().out


def test_cli_caption_bad_reference_file(tmp_path, capsys):
    (tmp_path / "r.json").write_text('{"images": [}')
    (tmp_path / "p.json").write_text("[]")
    args = [
        "caption",
        "--references",
        str(tmp_path / "r.json"),
        "--predictions",
        str(tmp_path / "p.json"),
        "--out",
        str(tmp_path / "m.json"),
    ]
    assert cli_main(score_main, args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "r.json" in err and "line 1" in err and "\n" not in err


def test_quiet_stderr_hides_jvm_chatter_then_restores_fd2(capfd):
    with caption_mod._quiet_stderr():
        os.write(2, b"PTBTokenizer tokenized 3 tokens\n")
    os.write(2, b"visible again\n")
    log_err = capfd.readouterr().err
    assert "PTBTokenizer" not in log_err and "visible again" in log_err
