"""Beam length normalisers (protocols.md §8): the finished score is sum_logprobs / L with L as the rule says."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from transformers import GenerationConfig, OPTConfig, OPTForCausalLM

from harness.config import compose
from harness.errors import HarnessError
from harness.eval.evaluator import run_generation
from harness.eval.fast_evaluator import run_fast_generation
from harness.eval.generation import requests_for
from harness.eval.length_norm import beam_length_normaliser, text_lengths
from harness.models.loader import load_model
from tasks import get_task
from tests.conftest import FIXTURE_DATA

PROMPT = [[2, 11, 12, 13]]  # 4 ids, like '</s>a photo of'
P = len(PROMPT[0])


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    cfg = OPTConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, ffn_dim=64, num_attention_heads=4,
                    max_position_embeddings=64, word_embed_proj_dim=32, bos_token_id=2, eos_token_id=2,
                    pad_token_id=1, init_std=0.3)  # fmt: skip  (peaked: beams that end early exist)
    return OPTForCausalLM(cfg).eval()


def _beam(lm, normaliser: str, eos: int, max_new: int = 6):
    gen = GenerationConfig(num_beams=5, do_sample=False, max_new_tokens=max_new, length_penalty=1.0,
                           eos_token_id=eos, pad_token_id=1, early_stopping=False, output_scores=True,
                           return_dict_in_generate=True)  # fmt: skip
    ids = torch.tensor(PROMPT)
    with torch.no_grad(), beam_length_normaliser(lm, normaliser, torch.tensor([P]), eos):
        out = lm.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=gen)
    new = out.sequences[0, P:].tolist()
    while new and new[-1] == 1:  # pad after an early EOS
        new.pop()
    return new, float(out.sequences_scores[0])


def _sum_logprobs(lm, new: list[int]) -> float:
    ids = torch.tensor([PROMPT[0] + new])
    with torch.no_grad():
        logp = torch.log_softmax(lm(input_ids=ids).logits[0].float(), dim=-1)
    return float(sum(logp[P - 1 + k, tok] for k, tok in enumerate(new)))


@pytest.mark.parametrize("normaliser", ["hf5", "prompt_inclusive"])
def test_finished_score_divides_by_the_rules_length(lm, normaliser):
    for eos in range(3, 39):  # the first EOS id whose best hypothesis ends with it after a few words
        new, score = _beam(lm, normaliser, eos)
        if len(new) >= 3 and new[-1] == eos:
            break
    else:
        pytest.fail("no EOS-ended best hypothesis with words before it")
    n = len(new) - 1  # words before the EOS
    length = n + 1 if normaliser == "hf5" else P + n
    assert score == pytest.approx(_sum_logprobs(lm, new) / length, rel=1e-5)

    cut, cut_score = _beam(lm, normaliser, eos=39)  # an id it never picks: every hypothesis is cut at the maximum
    assert len(cut) == 6 and 39 not in cut
    cut_length = 6 if normaliser == "hf5" else P + 6
    assert cut_score == pytest.approx(_sum_logprobs(lm, cut) / cut_length, rel=1e-5)


def test_hooks_are_removed_and_bad_names_refused(lm):
    with beam_length_normaliser(lm, "prompt_inclusive", torch.tensor([P]), 2):
        assert "_update_finished_beams" in vars(lm)
    assert "_update_finished_beams" not in vars(lm) and "_check_early_stop_heuristic" not in vars(lm)
    with pytest.raises(HarnessError, match="choose one of hf5, prompt_inclusive"):
        with beam_length_normaliser(lm, "vllm", torch.tensor([P]), 2):
            pass


def test_text_lengths_count_prompt_ids_only():
    ids = torch.tensor([[7, 7, 1, 2, 5], [7, 7, 2, 5, 6]])  # 7 = image placeholder, 1 = pad (mask 0)
    mask = torch.tensor([[1, 1, 0, 1, 1], [1, 1, 1, 1, 1]])
    assert text_lengths(ids, mask, 7).tolist() == [2, 3]


@pytest.fixture(scope="module")
def caption_setup():
    cfg = compose(["model=tiny-opt", "task=flickr30k", "runtime.device=cpu", f"task.data_root={FIXTURE_DATA}"])
    loaded = load_model(cfg.model, cfg.protocol.image, cfg.protocol.precision, "cpu")
    task = get_task(cfg.task, cfg.protocol)
    samples = task.load()
    return cfg, loaded, requests_for(task, samples, range(len(samples)))


def test_fast_and_reference_paths_apply_the_same_normaliser(caption_setup):
    cfg, loaded, requests = caption_setup
    assert cfg.protocol.decoding.length_normaliser == "prompt_inclusive"  # the paper-era OPT caption rule
    paper = run_generation(loaded, requests, cfg.protocol.decoding, batch_size=4, progress=False)
    assert run_fast_generation(loaded, requests, cfg.protocol.decoding, batch_size=4, progress=False) == paper
    hf5 = OmegaConf.merge(cfg.protocol.decoding, {"length_normaliser": "hf5"})
    assert run_generation(loaded, requests, hf5, batch_size=4, progress=False) != paper  # the rule matters here


def test_t5_refuses_the_decoder_only_rule():
    cfg = compose(["model=tiny-t5", "task=flickr30k", "runtime.device=cpu", f"task.data_root={FIXTURE_DATA}",
                   "protocol.decoding.length_normaliser=prompt_inclusive"])  # fmt: skip
    loaded = load_model(cfg.model, cfg.protocol.image, cfg.protocol.precision, "cpu")
    task = get_task(cfg.task, cfg.protocol)
    requests = requests_for(task, task.load(), range(2))
    with pytest.raises(HarnessError, match="is an OPT rule; t5 uses hf5"):
        run_generation(loaded, requests, cfg.protocol.decoding, batch_size=2, progress=False)
