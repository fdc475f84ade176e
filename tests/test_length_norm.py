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
from harness.eval.length_norm import beam_length_normaliser, decoder_prefix_lengths
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
    prefix = torch.tensor([P if normaliser == "hf426" else 1])  # hf433: LAVIS HEAD passes embeddings only
    with torch.no_grad(), beam_length_normaliser(lm, normaliser, prefix, eos):
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


@pytest.mark.parametrize("normaliser", ["hf5", "hf426", "hf433"])
def test_finished_score_divides_by_the_rules_length(lm, normaliser):
    for eos in range(3, 39):  # the first EOS id whose best hypothesis ends with it after a few words
        new, score = _beam(lm, normaliser, eos)
        if len(new) >= 2 and new[-1] == eos:
            break
    else:
        pytest.fail("no EOS-ended best hypothesis with words before it")
    n = len(new) - 1  # words before the EOS
    length = {"hf5": n + 1, "hf426": P + n, "hf433": 1 + n}[normaliser]
    assert score == pytest.approx(_sum_logprobs(lm, new) / length, rel=1e-5)

    cut, cut_score = _beam(lm, normaliser, eos=39)  # an id it never picks: every hypothesis is cut at the maximum
    assert len(cut) == 6 and 39 not in cut
    cut_length = {"hf5": 6, "hf426": P + 6, "hf433": 7}[normaliser]
    assert cut_score == pytest.approx(_sum_logprobs(lm, cut) / cut_length, rel=1e-5)


def test_t5_beams_cut_at_the_maximum_count_the_decoder_start_under_426():
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    t5 = T5ForConditionalGeneration(T5Config(vocab_size=40, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                                             decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
                                             initializer_factor=4.0)).eval()  # fmt: skip
    ids = torch.tensor([[5, 9, 12, 3]])
    for normaliser, length in (("hf5", 6), ("hf426", 7)):
        gen = GenerationConfig(num_beams=5, do_sample=False, max_new_tokens=6, length_penalty=1.0, eos_token_id=39,
                               pad_token_id=0, early_stopping=False, output_scores=True, return_dict_in_generate=True)
        with torch.no_grad(), beam_length_normaliser(t5, normaliser, torch.ones(1, dtype=torch.long), 39):
            out = t5.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=gen)
        decoder = out.sequences[:, :7]
        assert 39 not in decoder[0, 1:].tolist()
        with torch.no_grad():
            logits = t5(input_ids=ids, attention_mask=torch.ones_like(ids), decoder_input_ids=decoder[:, :-1]).logits
        logp = torch.log_softmax(logits[0].float(), dim=-1)
        total = float(sum(logp[k, tok] for k, tok in enumerate(decoder[0, 1:].tolist())))
        assert float(out.sequences_scores[0]) == pytest.approx(total / length, rel=1e-3), normaliser  # 6 vs 7: 17%


def test_unknown_normaliser_fails_at_composition():
    with pytest.raises(HarnessError, match="length_normaliser='vllm': choose one of hf5, hf426, hf433"):
        compose(["model=tiny-opt", "protocol.decoding.length_normaliser=vllm"])


def test_hooks_are_removed_and_bad_names_refused(lm):
    with beam_length_normaliser(lm, "hf426", torch.tensor([P]), 2):
        assert "_update_finished_beams" in vars(lm)
    assert "_update_finished_beams" not in vars(lm) and "_check_early_stop_heuristic" not in vars(lm)
    with pytest.raises(HarnessError, match="choose one of hf5, hf426, hf433"):
        with beam_length_normaliser(lm, "vllm", torch.tensor([P]), 2):
            pass


def test_decoder_prefix_counts_prompt_ids_for_opt_and_the_start_token_for_t5(lm):
    ids = torch.tensor([[7, 7, 1, 2, 5], [7, 7, 2, 5, 6]])  # 7 = image placeholder, 1 = pad (mask 0)
    mask = torch.tensor([[1, 1, 0, 1, 1], [1, 1, 1, 1, 1]])
    assert decoder_prefix_lengths(lm, "hf426", ids, mask, 7).tolist() == [2, 3]
    assert decoder_prefix_lengths(lm, "hf433", ids, mask, 7).tolist() == [1, 1]  # LAVIS HEAD: inputs_embeds only
    t5 = type("T5Like", (), {"config": type("Cfg", (), {"is_encoder_decoder": True})()})()
    assert decoder_prefix_lengths(t5, "hf426", ids, mask, 7).tolist() == [1, 1]


@pytest.fixture(scope="module")
def caption_setup():
    cfg = compose(["model=tiny-opt", "task=flickr30k", "runtime.device=cpu", f"task.data_root={FIXTURE_DATA}"])
    loaded = load_model(cfg.model, cfg.protocol.image, cfg.protocol.precision, "cpu")
    task = get_task(cfg.task, cfg.protocol)
    samples = task.load()
    return cfg, loaded, requests_for(task, samples, range(len(samples)))


def test_fast_and_reference_paths_apply_the_same_normaliser(caption_setup):
    cfg, loaded, requests = caption_setup
    assert cfg.protocol.decoding.length_normaliser == "hf426"  # the paper-era rule
    paper = run_generation(loaded, requests, cfg.protocol.decoding, batch_size=4, progress=False)
    assert run_fast_generation(loaded, requests, cfg.protocol.decoding, batch_size=4, progress=False) == paper
    hf5 = OmegaConf.merge(cfg.protocol.decoding, {"length_normaliser": "hf5"})
    assert run_generation(loaded, requests, hf5, batch_size=4, progress=False) != paper  # the rule matters here


def test_t5_paper_protocols_use_the_426_rule_on_both_paths():
    cfg = compose(["model=tiny-t5", "task=flickr30k", "runtime.device=cpu", f"task.data_root={FIXTURE_DATA}"])
    assert cfg.protocol.decoding.length_normaliser == "hf426"
    loaded = load_model(cfg.model, cfg.protocol.image, cfg.protocol.precision, "cpu")
    task = get_task(cfg.task, cfg.protocol)
    requests = requests_for(task, task.load(), range(6))
    paper = run_generation(loaded, requests, cfg.protocol.decoding, batch_size=3, progress=False)
    assert run_fast_generation(loaded, requests, cfg.protocol.decoding, batch_size=3, progress=False) == paper
