"""Beam-search length normalisers (protocols.md §8): which length L a finished hypothesis's log-prob sum is divided by.

- `hf5`: transformers 5.x itself: L = generated tokens, EOS included (n + 1 for n words and an EOS; n when cut at
  the maximum); early-stop test on the best running beam over the generated length.
- `hf426`: transformers 4.26, which the BLIP-2 paper-era LAVIS code pinned (`>=4.25,<4.27`): L = the hypothesis's
  decoder-side ids (`BeamHypotheses.add`: `hyp.shape[-1]`), i.e. P + n where P is what sat in the decoder's
  `input_ids` before the first new token and n the generated ids without a final EOS (a hypothesis cut at the
  maximum keeps its last token). Paper-era OPT passed the prompt ids (`</s>a photo of`: P = 4, so 4 + n where 5.x
  divides by n + 1); T5 has the decoder start only (P = 1: the same as 5.x for EOS-ended beams, one more for cut
  ones). The early-stop test is 4.26's too: the step's best candidate (EOS ones included) over (P + tokens before
  this step) ** length_penalty.
- `hf433`: transformers 4.33 as LAVIS HEAD calls it (`inputs_embeds` only, so the decoder's `input_ids` hold one
  BOS or decoder start: P = 1 for both families): L = 1 + n (cut beams: 1 + all tokens); its early-stop test counts
  this step's token too (P + tokens so far).

transformers 5.x has no hook for L, so `hf426`/`hf433` wrap the two beam-search helpers that use it
(`_update_finished_beams`, `_check_early_stop_heuristic`) on the LM instance for one `generate` call, handing them
a `decoder_prompt_len` shifted per row (and per candidate for the EOS rule). Nothing else of HF's beam search
changes. Checked outside the suite against transformers 4.26.1 itself (docs/ARCHITECTURE.md, "Beam length
normaliser").
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from harness.config import LENGTH_NORMALISERS
from harness.errors import HarnessError

_EARLY_STOP_EXTRA = {"hf426": 0, "hf433": 1}  # 4.26 `is_done` length: P + tokens before the step; 4.33: one more
_HOOKS = {"_update_finished_beams": "decoder_prompt_len", "_check_early_stop_heuristic": "decoder_prompt_len"}


def _check_hooks(lm: Any) -> None:
    for method, param in _HOOKS.items():
        fn = getattr(type(lm), method, None)
        if fn is None or param not in inspect.signature(fn).parameters:
            raise HarnessError(
                f"length_normaliser=hf426/hf433 need transformers' beam helper {method}({param}=...), "
                f"absent from {type(lm).__name__} in this transformers version (pinned: 5.23.0)"
            )


def decoder_prefix_lengths(
    lm: Any, name: str, input_ids: torch.Tensor, attention_mask: torch.Tensor, image_token_index: int
) -> torch.Tensor:
    """P per row: under `hf426` for a decoder-only LM the prompt's token ids (BOS included) without image
    placeholders or padding; otherwise (encoder-decoder LM, or `hf433`) the one start/BOS token."""
    if lm.config.is_encoder_decoder or name != "hf426":
        return torch.ones(input_ids.shape[0], dtype=torch.long)
    return ((input_ids != image_token_index) & attention_mask.bool()).sum(dim=1)


@contextlib.contextmanager
def beam_length_normaliser(
    lm: Any, name: str, prompt_lengths: torch.Tensor, eos_ids: int | Sequence[int]
) -> Iterator[None]:
    """Apply normaliser `name` to the beam searches of `lm.generate` inside the block; `prompt_lengths[i]` = P of row
    i (`decoder_prefix_lengths`)."""
    if name not in LENGTH_NORMALISERS:  # composed configs are checked earlier (harness.config.validate)
        raise HarnessError(f"decoding.length_normaliser={name!r}: choose one of {', '.join(LENGTH_NORMALISERS)}")
    if name == "hf5":
        yield
        return
    _check_hooks(lm)
    cls = type(lm)
    prompt = prompt_lengths.to(torch.long).view(-1, 1)
    eos = torch.tensor([eos_ids] if isinstance(eos_ids, int) else list(eos_ids), dtype=torch.long)

    extra = _EARLY_STOP_EXTRA[name]
    best_candidate: list[torch.Tensor] = []  # this step's best candidate sum (4.x `next_scores.max()`)

    def update_finished_beams(**kwargs: Any) -> Any:
        # HF divides by cur_len + 1 - decoder_prompt_len; the candidates' new token sits at column cur_len.
        new_tokens = kwargs["topk_running_sequences"][:, :, kwargs["cur_len"]]
        kept_last = (~torch.isin(new_tokens, eos.to(new_tokens.device))).long()
        kwargs["decoder_prompt_len"] = kwargs["decoder_prompt_len"] + 1 - prompt.to(new_tokens.device) - kept_last
        best_candidate[:] = [kwargs["topk_log_probs"].amax(dim=1, keepdim=True)]
        return cls._update_finished_beams(lm, **kwargs)

    def check_early_stop_heuristic(**kwargs: Any) -> Any:
        # 4.x `is_done`: best candidate (EOS ones included) / (P + tokens before this step [+ 1 in 4.33]) ** lp.
        # Here cur_len already counts this step's token, hence the + 1.
        device = kwargs["running_beam_scores"].device
        kwargs["decoder_prompt_len"] = kwargs["decoder_prompt_len"] - prompt.to(device) + 1 - extra
        kwargs["running_beam_scores"] = best_candidate[0]
        return cls._check_early_stop_heuristic(**kwargs)

    lm._update_finished_beams = update_finished_beams
    lm._check_early_stop_heuristic = check_early_stop_heuristic
    try:
        yield
    finally:
        del lm._update_finished_beams
        del lm._check_early_stop_heuristic
