"""The scoring benchmark's data builder and its per-scorer CPU breakdown run, on a small corpus (not timed)."""

from __future__ import annotations

import json
import shutil

import pytest

from bench import caption_breakdown, score_bench
from harness.scoring import caption as caption_mod


@pytest.mark.skipif(shutil.which("java") is None, reason="java not on PATH")
def test_caption_breakdown_times_every_scorer(tmp_path, monkeypatch):
    monkeypatch.setattr(score_bench, "N_CAPTION_IMAGES", 25)
    paths = score_bench.make_captions(tmp_path)
    refs = json.loads(paths["references"].read_text())
    assert len(refs["images"]) == 25 and len(refs["annotations"]) == 25 * score_bench.REFS_PER_IMAGE
    seen = {}
    monkeypatch.setattr(caption_mod, "_start_meteor", lambda: "jvm")
    monkeypatch.setattr(caption_mod, "_stop_meteor", lambda job: None)
    monkeypatch.setattr(caption_mod, "_meteor", lambda job, gts, res: seen.setdefault("meteor", (job, len(gts))))
    rows = caption_breakdown.breakdown(paths["references"], paths["predictions"])
    assert seen["meteor"] == ("jvm", 25)  # METEOR got the 25 tokenized images, through the harness's own calls
    steps = [name for name in rows if name != "total"]
    assert len(steps) == 7 and any(s.startswith("METEOR") for s in steps) and "CIDEr-D" in steps
    for key in ("cpu_s", "wall_s"):
        assert all(rows[s][key] >= 0 for s in steps)
        assert rows["total"][key] == pytest.approx(sum(rows[s][key] for s in steps), abs=0.05)
    assert rows["PTB tokenizer, references (JVM)"]["cpu_s"] > 0  # the JVM child's CPU is counted
