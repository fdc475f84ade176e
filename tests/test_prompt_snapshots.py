"""The exact LM input (text, token ids, padding) and decoding settings of every protocol equal the committed
snapshots. A failure prints the diff; if the change is intended, `make prompts-update` and say why in the commit."""

from __future__ import annotations

import json
import shutil

import pytest

from harness import config
from harness.config import available
from harness.prompt_snapshot import render_all
from harness.prompts import SNAPSHOTS, read_dir, render_revision, unified

PROTOCOLS = sorted(set(available("protocol")) | set(read_dir(SNAPSHOTS)))


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_all()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_lm_input_matches_the_snapshot(protocol, rendered):
    committed = read_dir(SNAPSHOTS)
    assert protocol in rendered, f"{protocol}.json: snapshot of a protocol that no longer exists: make prompts-update"
    assert protocol in committed, f"no snapshot for protocol {protocol}: make prompts-update"
    diff = unified({protocol: committed[protocol]}, {protocol: rendered[protocol]}, "committed", "now")
    assert not diff, f"LM input or decoding changed for {protocol}:\n{diff[:6000]}\nintended? make prompts-update"


def test_snapshots_cover_the_paths_that_matter(rendered):
    opt, t5 = json.loads(rendered["vqav2-paper-opt"]), json.loads(rendered["vqav2-paper-t5"])
    assert opt["data"] == "fixtures/data" and len(opt["samples"]) == 4
    assert opt["samples"][0]["text"].startswith("Question: ") and opt["samples"][0]["tokens"][0] == "</s>"
    assert t5["samples"][0]["tokens"][-1] == "</s>"
    left = opt["batch"]["attention_mask"]
    assert any(row[8] == 0 for row in left) and all(row[-1] == 1 for row in left)  # OPT pads after the image tokens
    right = t5["batch"]["attention_mask"]
    assert any(row[-1] == 0 for row in right)
    assert opt["decoding"]["length_penalty"] == -1.0 and opt["decoding"]["num_beams"] == 5


def test_a_changed_template_or_decoding_setting_shows_in_the_diff(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    shutil.copytree(config.CONF_DIR, conf)
    path = conf / "protocol" / "vqav2-paper-opt.yaml"
    text = path.read_text().replace('"Question: {question} Answer:"', '"Question: {question} Short answer:"')
    path.write_text(text.replace("num_beams: 5", "num_beams: 3"))
    monkeypatch.setattr(config, "CONF_DIR", conf)
    changed = render_all(["vqav2-paper-opt"])
    diff = unified(read_dir(SNAPSHOTS), changed, "committed", "now")
    assert '+   "text": "Question: why is the horse here? Short answer:",' in diff
    assert '-  "num_beams": 5,' in diff and '+  "num_beams": 3,' in diff


def test_a_git_revision_renders_with_todays_renderer():
    """`make prompts` machinery: HEAD is exported with git archive and rendered in a subprocess."""
    at_head = render_revision("HEAD", ["vqav2-paper-opt"])
    assert list(at_head) == ["vqav2-paper-opt"]
    assert json.loads(at_head["vqav2-paper-opt"])["protocol"] == "vqav2-paper-opt"
