"""The fast evaluator gives exactly the reference path's predictions (tiny models, fp32, CPU), and its parts hold up."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from harness.config import compose
from harness.errors import HarnessError
from harness.eval import fast_evaluator
from harness.eval.evaluator import Request, encode_batch, run_generation
from harness.eval.fast_evaluator import run_fast_generation
from harness.eval.generation import requests_for
from harness.eval.prefetch import ImagePrefetcher, preprocess
from harness.eval.prompt_tokens import pad_rows, tokenize_prompts
from harness.models.loader import load_model
from harness.protocol import protocol_fingerprint, resolve_protocol
from harness.text import render_prompt
from tasks import get_task
from tests.conftest import FIXTURE_DATA

QUESTIONS = [
    "What color is the car?",
    "Is there a dog?",
    "How many people are standing near the old red building on the left side of the street?",
    "Why?",
    "What is the man holding in his right hand while he walks?",
    "Where?",
    "Which animal is sitting on the small table next to the big window in the kitchen?",
]


@pytest.fixture(scope="module", params=["tiny-opt", "tiny-t5"])
def setup(request):
    cfg = compose([f"model={request.param}", "runtime.device=cpu", f"task.data_root={FIXTURE_DATA}"])
    loaded = load_model(cfg.model, cfg.protocol.image, cfg.protocol.precision, "cpu")
    task = get_task(cfg.task, cfg.protocol)
    samples = task.load()
    return cfg, loaded, requests_for(task, samples, range(len(samples)))


def _decoding(cfg, num_beams: int):
    return OmegaConf.merge(cfg.protocol.decoding, {"num_beams": num_beams})


def _mixed_requests(cfg) -> list[Request]:
    """Prompts of very different lengths, several per image, images interleaved (not grouped) in request order."""
    images = [Image.new("RGB" if k % 2 else "L", (40 + 9 * k, 30 + 4 * k), 50 * k + 20) for k in range(3)]
    return [
        Request(lambda k=i % 3: images[k], render_prompt(cfg.protocol.prompt.template, q, "blip_question"), i % 3)
        for i, q in enumerate(QUESTIONS)
    ]


@pytest.mark.parametrize("num_beams", [1, 5])
def test_fast_equals_reference_on_fixture_data(setup, num_beams):
    cfg, loaded, requests = setup
    decoding = _decoding(cfg, num_beams)
    reference = run_generation(loaded, requests, decoding, batch_size=8, progress=False)
    fast = run_fast_generation(loaded, requests, decoding, batch_size=8, progress=False)
    assert fast == reference
    assert len(set(reference)) > 3, "the tiny model should not answer everything alike"


@pytest.mark.parametrize("num_beams", [1, 5])
def test_fast_equals_reference_on_mixed_prompt_lengths(setup, num_beams):
    cfg, loaded, _ = setup
    requests = _mixed_requests(cfg)
    decoding = _decoding(cfg, num_beams)
    reference = run_generation(loaded, requests, decoding, batch_size=7, progress=False)
    for batch_size, workers in ((2, 0), (7, 2)):
        fast = run_fast_generation(loaded, requests, decoding, batch_size, progress=False, num_workers=workers)
        assert fast == reference, (batch_size, workers)
    truncated = run_generation(loaded, requests, decoding, 3, max_prompt_tokens=6, progress=False)
    assert run_fast_generation(loaded, requests, decoding, 3, max_prompt_tokens=6, progress=False) == truncated


def test_without_prefix_sharing_is_also_exact(setup):
    cfg, loaded, requests = setup
    decoding = cfg.protocol.decoding
    reference = run_generation(loaded, requests[:12], decoding, batch_size=4, progress=False)
    plain = run_fast_generation(loaded, requests[:12], decoding, batch_size=4, progress=False, share_prefix=False)
    assert plain == reference


def test_prompt_rows_equal_the_processor(setup):
    cfg, loaded, _ = setup
    prompts = [render_prompt(cfg.protocol.prompt.template, q, "blip_question") for q in QUESTIONS]
    images = [Image.new("RGB", (33, 47), 9 * i) for i in range(len(prompts))]
    for limit in (None, 5):
        batch = encode_batch(loaded, images, prompts, limit)
        ids, mask = pad_rows(loaded, tokenize_prompts(loaded, prompts, limit))
        assert torch.equal(ids, batch["input_ids"]) and torch.equal(mask, batch["attention_mask"])
        pixels = torch.cat([preprocess(lambda im=im: im, loaded.processor.image_processor) for im in images])
        assert torch.equal(pixels, batch["pixel_values"])


def test_each_image_is_encoded_once(setup, monkeypatch):
    cfg, loaded, requests = setup
    seen: list[int] = []
    real = fast_evaluator.encode_images
    monkeypatch.setattr(fast_evaluator, "encode_images", lambda lo, px: seen.append(len(px)) or real(lo, px))
    run_fast_generation(loaded, requests, _decoding(cfg, 1), batch_size=8, progress=False)
    assert sum(seen) == len({r.image_key for r in requests}) < len(requests)


def test_fake_oom_halves_the_batch_and_loses_nothing(setup, monkeypatch):
    cfg, loaded, requests = setup
    requests = requests[:10]
    decoding = cfg.protocol.decoding
    reference = run_generation(loaded, requests, decoding, batch_size=8, progress=False)
    sizes: list[int] = []
    real = fast_evaluator.generate_rows

    def tight(loaded, rows, *args, **kwargs):
        sizes.append(len(rows))
        if len(rows) > 3:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return real(loaded, rows, *args, **kwargs)

    monkeypatch.setattr(fast_evaluator, "generate_rows", tight)
    reported: list[int] = []
    fast = run_fast_generation(
        loaded, requests, decoding, batch_size=8, progress=False, on_batch=lambda idx, _: reported.extend(idx)
    )
    assert fast == reference
    assert sorted(reported) == list(range(len(requests))), "every request reported exactly once"
    assert sizes[:3] == [8, 4, 2] and max(sizes[3:]) <= 2, sizes


def test_bad_image_skips_all_its_questions(setup):
    cfg, loaded, requests = setup
    broken_key = requests[0].image_key

    def broken():
        raise HarnessError("corrupt image (injected)")

    patched = [Request(broken, r.prompt, r.image_key) if r.image_key == broken_key else r for r in requests[:12]]
    skipped: list[int] = []
    outputs = run_fast_generation(
        loaded, patched, cfg.protocol.decoding, 4, progress=False, on_bad_image=lambda i, e: skipped.append(i)
    )
    expected = run_generation(loaded, patched, cfg.protocol.decoding, 4, progress=False, on_bad_image=lambda i, e: 0)
    assert outputs == expected
    assert skipped == [i for i, r in enumerate(patched) if r.image_key == broken_key]
    with pytest.raises(HarnessError, match="injected"):
        run_fast_generation(loaded, patched, cfg.protocol.decoding, 4, progress=False)


def test_prefetcher_keeps_window_order_and_reports_errors():
    class Processor:
        def __call__(self, images, return_tensors):
            return {"pixel_values": torch.full((1, 1), float(images[0].size[0]))}

    def bad():
        raise HarnessError("bad")

    windows = [[partial(Image.new, "L", (w, 1)) for w in ws] for ws in ([1, 2], [3], [4, 5, 6])]
    windows[1].append(bad)
    for workers in (0, 3):
        with ImagePrefetcher(Processor(), windows, num_workers=workers) as images:
            got = list(images)
        assert [w.pixel_values.flatten().tolist() for w in got] == [[1, 2], [3], [4, 5, 6]]
        assert list(got[1].errors) == [1] and got[1].row == {0: 0}


def test_evaluator_is_validated_and_recorded_but_not_fingerprinted():
    with pytest.raises(HarnessError, match="evaluator='quick'"):
        compose(["evaluator=quick"])
    fast = resolve_protocol(compose(["runtime.device=cpu"]))
    reference = resolve_protocol(compose(["runtime.device=cpu", "evaluator=reference"]))
    assert (fast["runtime"]["evaluator"], reference["runtime"]["evaluator"]) == ("fast", "reference")
    assert protocol_fingerprint(fast) == protocol_fingerprint(reference)
