"""The one generation loop: batching must not change outputs, for either LM family, greedy or beam."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf
from PIL import Image

from harness.config import compose
from harness.errors import HarnessError
from harness.eval.evaluator import Request, encode_batch, generate_batch, generation_config, run_generation
from harness.models.loader import load_model
from harness.text import render_prompt

QUESTIONS = [
    "What color is the car?",
    "Is there a dog?",
    "How many people are standing near the old red building on the left side of the street?",
    "Why?",
    "What is the man holding in his right hand while he walks?",
]


@pytest.fixture(scope="module", params=["tiny-opt", "tiny-t5"])
def setup(request):
    cfg = compose([f"model={request.param}", "runtime.device=cpu"])
    loaded = load_model(cfg.model, cfg.protocol.image, cfg.protocol.precision, "cpu")
    images = [Image.new("RGB" if i % 2 else "L", (40 + 7 * i, 30 + 5 * i), 37 * i) for i in range(len(QUESTIONS))]
    prompts = [render_prompt(cfg.protocol.prompt.template, q, "blip_question") for q in QUESTIONS]
    return cfg, loaded, images, prompts


@pytest.mark.parametrize("num_beams", [1, 5])
def test_batched_equals_one_at_a_time(setup, num_beams):
    cfg, loaded, images, prompts = setup
    decoding = OmegaConf.merge(cfg.protocol.decoding, {"num_beams": num_beams})
    batched = generate_batch(loaded, images, prompts, decoding)
    single = [generate_batch(loaded, [im], [p], decoding)[0] for im, p in zip(images, prompts, strict=True)]
    assert batched == single
    assert len(set(batched)) > 1, "random tiny model should not answer everything identically"


def test_batch_size_does_not_change_outputs(setup):
    cfg, loaded, images, prompts = setup
    requests = [Request(lambda im=im: im, p) for im, p in zip(images, prompts, strict=True)]
    by_2 = run_generation(loaded, requests, cfg.protocol.decoding, batch_size=2, progress=False)
    by_5 = run_generation(loaded, requests, cfg.protocol.decoding, batch_size=5, progress=False)
    assert by_2 == by_5 and len(by_2) == len(prompts)


def test_padding_side_and_image_tokens(setup):
    cfg, loaded, images, prompts = setup
    batch = encode_batch(loaded, images, prompts, None)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert bool(((ids == loaded.image_token_index).sum(1) == loaded.num_query_tokens).all())
    first_text = loaded.num_query_tokens  # the processor puts the image tokens before any padding
    if loaded.family == "opt":  # [image tokens][pads][</s> prompt]
        assert bool((mask[:, -1] == 1).all()) and not bool((mask[:, first_text] == 1).all())
    else:  # [image tokens][prompt </s>][pads]
        assert bool((mask[:, first_text] == 1).all()) and not bool((mask[:, -1] == 1).all())


def test_image_token_count_is_asserted(setup):
    cfg, loaded, images, prompts = setup
    saved = loaded.processor.num_query_tokens
    loaded.processor.num_query_tokens = saved - 1
    try:
        with pytest.raises(HarnessError, match="num_query_tokens"):
            encode_batch(loaded, images[:2], prompts[:2], None)
    finally:
        loaded.processor.num_query_tokens = saved


def test_generation_config_comes_from_protocol(setup):
    cfg, loaded, _, _ = setup
    gc = generation_config(loaded, cfg.protocol.decoding)
    d = cfg.protocol.decoding
    assert (gc.num_beams, gc.max_new_tokens, gc.length_penalty, gc.do_sample) == (
        d.num_beams,
        d.max_new_tokens,
        d.length_penalty,
        False,
    )
    assert gc.eos_token_id == loaded.model.generation_config.eos_token_id
    if loaded.family == "opt":
        newline = loaded.processor.tokenizer.convert_tokens_to_ids("Ċ")
        assert gc.eos_token_id == newline, "OPT stops at the newline token, not </s>"


def test_prompt_truncation_keeps_image_tokens(setup):
    cfg, loaded, images, prompts = setup
    batch = encode_batch(loaded, images, prompts, max_prompt_tokens=4)
    assert batch["input_ids"].shape[1] <= loaded.num_query_tokens + 4
    assert bool(((batch["input_ids"] == loaded.image_token_index).sum(1) == loaded.num_query_tokens).all())


def test_nan_scores_fail_with_a_precision_hint(setup):
    cfg, loaded, images, prompts = setup
    lm = loaded.model.language_model
    head = lm.get_output_embeddings()
    saved = head.weight.data.clone()
    head.weight.data[0, 0] = float("nan")
    try:
        with pytest.raises(HarnessError, match="NaN/inf in generation scores.*bfloat16"):
            generate_batch(loaded, images[:2], prompts[:2], cfg.protocol.decoding)
    finally:
        head.weight.data.copy_(saved)


def test_opt_eos_must_be_the_newline(setup):
    cfg, loaded, _, _ = setup
    if loaded.family != "opt":
        pytest.skip("OPT only")
    gen = loaded.model.generation_config
    saved = gen.eos_token_id
    gen.eos_token_id = loaded.processor.tokenizer.eos_token_id
    try:
        with pytest.raises(HarnessError, match="not the newline token"):
            generation_config(loaded, cfg.protocol.decoding)
    finally:
        gen.eos_token_id = saved
