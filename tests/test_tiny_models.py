"""Tiny offline BLIP-2 models: round trip, determinism, image tokens, padding sides, cache.

The evaluator's correctness checks (batched == one at a time, padding side per family, prompt slicing) run on these
models, so the properties they rely on are pinned here, through the same `from_pretrained` path as real checkpoints.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: nothing here may touch the Hub

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoProcessor, Blip2ForConditionalGeneration

from harness.errors import HarnessError
from harness.models import tiny

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = (
    "what color is the dog?",
    "how many people are there?",
    "is this a cat?",
    "what is the man holding in his left hand near the table?",
)
PROMPT = {"tiny-opt": "Question: {} Answer:", "tiny-t5": "Question: {} Short answer:"}
CORRECT_SIDE = {"tiny-opt": "left", "tiny-t5": "right"}
WRONG_SIDE = {"tiny-opt": "right", "tiny-t5": "left"}


def _images(n: int = 4) -> list[Image.Image]:
    """Random non-square images of different sizes, one grayscale (exercises resize and RGB conversion)."""
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (40 + 7 * i, 50, 3), dtype=np.uint8)) for i in range(n)]
    images[-1] = images[-1].convert("L")
    return images


def _prompts(name: str) -> list[str]:
    return [PROMPT[name].format(q) for q in QUESTIONS]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models are all overhead: one intra-op thread generates ~10x faster than two on a 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=tiny.TINY_MODELS)
def family(request, tmp_path_factory) -> dict:
    """One family: the in-memory build, its saved folder, and the model and processor reloaded from that folder."""
    name = request.param
    model, processor = tiny.create_tiny_model(name)
    path = tiny.build_tiny_model(name, tmp_path_factory.mktemp(name))
    return {
        "name": name,
        "model": model,
        "processor": processor,
        "path": path,
        "reloaded": Blip2ForConditionalGeneration.from_pretrained(path),
        "reprocessor": AutoProcessor.from_pretrained(path, backend="pil"),
    }


def _generate(model, processor, name: str, images, prompts, side: str, beams: int, scores: bool = False):
    """Answers as token lists (prompt or decoder start removed, cut after EOS), plus first-step logits if asked."""
    batch = processor(images=images, text=prompts, return_tensors="pt", padding=True, padding_side=side)
    with torch.no_grad():
        out = model.generate(
            **batch,
            num_beams=beams,
            do_sample=False,
            max_new_tokens=10,
            output_scores=scores,
            return_dict_in_generate=True,
        )
    config = model.config.text_config
    if name == "tiny-opt":
        new = out.sequences[:, batch["input_ids"].shape[1] :]
    else:
        assert bool((out.sequences[:, 0] == config.decoder_start_token_id).all())
        new = out.sequences[:, 1:]
    answers = []
    for row in new.tolist():
        if config.eos_token_id in row:
            row = row[: row.index(config.eos_token_id) + 1]
        answers.append(row)
    return answers, (out.scores[0] if scores else None)


def test_reload_gives_identical_weights_and_outputs(family):
    before = family["model"].state_dict()
    after = family["reloaded"].state_dict()
    assert before.keys() == after.keys()
    for key, tensor in before.items():
        assert after[key].dtype == torch.float32, key
        assert torch.equal(tensor, after[key]), key
    lm = family["reloaded"].language_model
    tied = lm.lm_head.weight.data_ptr() == lm.get_input_embeddings().weight.data_ptr()
    assert tied is (family["name"] == "tiny-opt")  # Flan-T5 ships a separate lm_head; OPT ties it

    name, images, prompts = family["name"], _images(), _prompts(family["name"])
    side = CORRECT_SIDE[name]
    batch0 = family["processor"](images=images, text=prompts, return_tensors="pt", padding=True, padding_side=side)
    batch1 = family["reprocessor"](images=images, text=prompts, return_tensors="pt", padding=True, padding_side=side)
    assert batch0.keys() == batch1.keys()
    assert all(torch.equal(batch0[k], batch1[k]) for k in batch0)
    for beams in (1, 5):
        expected = _generate(family["model"], family["processor"], name, images, prompts, side, beams)[0]
        got = _generate(family["reloaded"], family["reprocessor"], name, images, prompts, side, beams)[0]
        assert got == expected


def test_saved_layout_matches_real_checkpoints(family):
    path, model, processor = family["path"], family["reloaded"], family["reprocessor"]
    files = {p.name for p in path.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "processor_config.json"} <= files
    assert {"tokenizer.json", "tokenizer_config.json", tiny.MANIFEST} <= files
    assert sum(p.stat().st_size for p in path.iterdir()) < 5_000_000
    assert type(processor.image_processor).__name__ == "BlipImageProcessorPil"
    assert processor.image_processor.size == {"height": 32, "width": 32}
    assert processor.num_query_tokens == model.config.num_query_tokens == tiny.NUM_QUERY_TOKENS
    tokenizer, config = processor.tokenizer, model.config
    assert tokenizer.convert_tokens_to_ids(tiny.IMAGE_TOKEN) == config.image_token_index
    assert config.text_config.vocab_size >= len(tokenizer)
    assert tokenizer.padding_side == CORRECT_SIDE[family["name"]]
    generation = model.language_model.generation_config  # what Blip2's generate() actually uses
    if family["name"] == "tiny-opt":
        assert (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (1, 2, 2)
        newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
        assert newline == [generation.eos_token_id] and generation.eos_token_id != tokenizer.eos_token_id
        assert tokenizer("a")["input_ids"][0] == tokenizer.bos_token_id
    else:
        assert (tokenizer.pad_token_id, tokenizer.eos_token_id) == (0, 1)
        assert (generation.decoder_start_token_id, generation.eos_token_id) == (0, 1)
        assert config.text_config.dense_act_fn == "gelu" and config.text_config.is_gated_act
    assert model.generation_config.eos_token_id == generation.eos_token_id


def test_builds_are_identical_across_processes(tmp_path):
    """A fresh interpreter writes byte-identical files (weights, tokenizer, configs) for the same seed."""
    code = (
        "import sys; from harness.models.tiny import TINY_MODELS, build_tiny_model\n"
        "for name in TINY_MODELS: build_tiny_model(name, f'{sys.argv[1]}/{name}')"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "child")], check=True, env=env, cwd=REPO)

    def digests(folder: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}

    for name in tiny.TINY_MODELS:
        here = tiny.build_tiny_model(name, tmp_path / "here" / name)
        assert digests(tmp_path / "child" / name) == digests(here)


def test_seed_changes_weights():
    a = tiny.create_tiny_model("tiny-opt", seed=0)[0].state_dict()
    b = tiny.create_tiny_model("tiny-opt", seed=1)[0].state_dict()
    assert not torch.equal(a["language_projection.weight"], b["language_projection.weight"])


def test_processor_expands_image_tokens(family):
    """Every row starts with exactly num_query_tokens `<image>` ids, then the padded text in the family's layout."""
    processor, config = family["reprocessor"], family["reloaded"].config
    n = config.num_query_tokens
    side = CORRECT_SIDE[family["name"]]
    batch = processor(
        images=_images(), text=_prompts(family["name"]), return_tensors="pt", padding=True, padding_side=side
    )
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert (ids == config.image_token_index).sum(1).tolist() == [n] * len(QUESTIONS)
    assert bool((ids[:, :n] == config.image_token_index).all()) and bool((mask[:, :n] == 1).all())
    tokenizer = processor.tokenizer
    for row, row_mask in zip(ids.tolist(), mask.tolist(), strict=True):
        text = [t for t, m in zip(row[n:], row_mask[n:], strict=True) if m]
        pads = len(row) - n - len(text)
        if family["name"] == "tiny-opt":  # [image][pads][</s> prompt]
            assert row[n : n + pads] == [tokenizer.pad_token_id] * pads
            assert text[0] == tokenizer.bos_token_id
        else:  # [image][prompt </s>][pads]
            assert row[len(row) - pads :] == [tokenizer.pad_token_id] * pads
            assert text[-1] == tokenizer.eos_token_id


def test_random_model_is_not_degenerate(family):
    """Answers depend on both the image and the prompt; else image-plumbing bugs would go unnoticed."""
    model, processor, name = family["reloaded"], family["reprocessor"], family["name"]
    side = CORRECT_SIDE[name]
    per_image = _generate(model, processor, name, _images(), [_prompts(name)[0]] * 4, side, 1)[0]
    per_prompt = _generate(model, processor, name, [_images()[0]] * 4, _prompts(name), side, 1)[0]
    assert len({tuple(a) for a in per_image}) > 1
    assert len({tuple(a) for a in per_prompt}) > 1


def _batched_and_single(model, processor, name: str, beams: int) -> tuple[list, list]:
    images, prompts, side = _images(), _prompts(name), CORRECT_SIDE[name]
    batched = _generate(model, processor, name, images, prompts, side, beams)[0]
    single = [
        _generate(model, processor, name, [image], [prompt], side, beams)[0][0]
        for image, prompt in zip(images, prompts, strict=True)
    ]
    return batched, single


@pytest.mark.parametrize("beams", [1, 5])
def test_batched_equals_one_at_a_time(family, beams):
    """With the right padding side (OPT left, T5 right), batching changes no token, greedy or beam search."""
    batched, single = _batched_and_single(family["reloaded"], family["reprocessor"], family["name"], beams)
    assert batched == single


@pytest.mark.parametrize("beams", [1, 5])
@pytest.mark.parametrize(("name", "seed"), [("tiny-opt", 4), ("tiny-t5", 1)])
def test_batched_equals_one_at_a_time_when_some_answers_stop(name, seed, beams):
    """Seeds whose answers partly end at EOS: finished rows are padded while others go on, in batch and in beam."""
    model, processor = tiny.create_tiny_model(name, seed)
    batched, single = _batched_and_single(model, processor, name, beams)
    eos = model.config.text_config.eos_token_id
    assert 0 < sum(answer[-1] == eos for answer in batched) < len(batched)
    assert batched == single


def test_wrong_padding_side_silently_changes_results(family):
    """The silent failure the evaluator guards against: OPT right-padded or T5 left-padded gives other logits
    (and here other answers) with no error or warning, because BLIP-2 feeds the LM `inputs_embeds`."""
    model, processor, name = family["reloaded"], family["reprocessor"], family["name"]
    images, prompts = _images(), _prompts(name)
    good, good_logits = _generate(model, processor, name, images, prompts, CORRECT_SIDE[name], 1, scores=True)
    bad, bad_logits = _generate(model, processor, name, images, prompts, WRONG_SIDE[name], 1, scores=True)
    assert (good_logits - bad_logits).abs().max() > 1e-3
    assert good != bad


def test_cache_builds_once_and_reuses(tmp_path, monkeypatch):
    path = tiny.tiny_model_path("tiny-t5", cache_dir=tmp_path)
    assert path.parent == tmp_path / "models" and path.name.startswith("tiny-t5-s0-")
    stamps = {p.name: p.stat().st_mtime_ns for p in path.iterdir()}

    def no_rebuild(*args, **kwargs):
        raise AssertionError("cached model was rebuilt")

    monkeypatch.setattr(tiny, "build_tiny_model", no_rebuild)
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    assert tiny.tiny_model_path("tiny-t5") == path
    assert {p.name: p.stat().st_mtime_ns for p in path.iterdir()} == stamps
    assert [p.name for p in (tmp_path / "models").iterdir() if p.is_dir()] == [path.name]  # no temp folders left


def test_concurrent_first_use_builds_once(tmp_path, monkeypatch):
    builds = []
    real_build = tiny.build_tiny_model

    def counting_build(*args, **kwargs):
        builds.append(args)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(tiny, "build_tiny_model", counting_build)
    paths: list[Path] = []
    threads = [
        threading.Thread(target=lambda: paths.append(tiny.tiny_model_path("tiny-opt", seed=3, cache_dir=tmp_path)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert len(paths) == 3 and len(set(paths)) == 1 and (paths[0] / tiny.MANIFEST).is_file()


@pytest.mark.parametrize(("name", "seed"), [("tiny-llama", 0), ("tiny-opt", -1), ("tiny-t5", "0")])
def test_bad_name_or_seed_is_a_user_error(name, seed, tmp_path):
    with pytest.raises(HarnessError):
        tiny.tiny_model_path(name, seed=seed, cache_dir=tmp_path)
