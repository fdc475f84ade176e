"""Does `length_normaliser: prompt_inclusive` replay paper-era beam search? Compare with transformers 4.26.1 itself.

The BLIP-2 paper-era LAVIS code pinned transformers>=4.25,<4.27. This check runs the same random OPT LM (seeded,
peaked weights) with the same prompts and settings in two environments and compares the best beam and its score:

    python3 -m venv /tmp/v426 && /tmp/v426/bin/pip install torch==2.13.0 transformers==4.26.1 "numpy<2"
    .venv/bin/python bench/beam_normaliser_check.py weights /tmp/beamcheck      # saves the weights
    /tmp/v426/bin/python bench/beam_normaliser_check.py old /tmp/beamcheck      # transformers 4.26.1 beams
    .venv/bin/python bench/beam_normaliser_check.py compare /tmp/beamcheck      # 5.x: hf5, prompt_inclusive

Cases: 1,000 random prompts of 1-6 ids (BOS first), EOS id, max new tokens (5-30), min new tokens (0 or 4; 4.26
gets min_length = prompt + 4, protocols.md §7) and length penalty (-1, 0, 1, 2); 5.x runs them one per call and
in left-padded batches of 4 with different prompt lengths (as BLIP-2 OPT pads). Writes bench/results/.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = dict(vocab_size=40, hidden_size=32, num_hidden_layers=2, ffn_dim=64, num_attention_heads=4,
              max_position_embeddings=96, word_embed_proj_dim=32, bos_token_id=2, eos_token_id=2, pad_token_id=1,
              init_std=0.3)  # fmt: skip
PAD, GROUP = 1, 4


def cases(n: int = 1000, seed: int = 0) -> list[dict]:
    """Settings are shared within each group of 4 (a batch shares one GenerationConfig)."""
    rng = random.Random(seed)
    out: list[dict] = []
    for i in range(n):
        prompt = [2] + [rng.randint(3, 39) for _ in range(rng.randint(0, 5))]
        shared = out[i - i % GROUP] if i % GROUP else dict(
            eos=rng.randint(3, 39), max_new=rng.choice([5, 10, 20, 30]), lp=rng.choice([1.0, 1.0, 0.0, -1.0, 2.0]),
            min_new=rng.choice([0, 0, 4]))  # fmt: skip
        out.append(dict(prompt=prompt, **{k: shared[k] for k in ("eos", "max_new", "lp", "min_new")}))
    return out


def _model(folder: Path):
    from transformers import OPTConfig, OPTForCausalLM

    lm = OPTForCausalLM(OPTConfig(**CONFIG)).eval()
    lm.load_state_dict(torch.load(folder / "weights.pt"))
    return lm


def _kwargs(c: dict) -> dict:
    return dict(num_beams=5, do_sample=False, max_new_tokens=c["max_new"], length_penalty=c["lp"],
                eos_token_id=c["eos"], pad_token_id=PAD, early_stopping=False, output_scores=True,
                return_dict_in_generate=True)  # fmt: skip


def _best(out, row: int, start: int) -> dict:
    seq = out.sequences[row, start:].tolist()
    while seq and seq[-1] == PAD:
        seq.pop()
    return {"seq": seq, "score": float(out.sequences_scores[row])}


def run_old(folder: Path) -> None:
    lm, results = _model(folder), []
    for c in cases():
        ids = torch.tensor([c["prompt"]])
        minimum = {"min_length": len(c["prompt"]) + c["min_new"]} if c["min_new"] else {}
        with torch.no_grad():
            out = lm.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **_kwargs(c), **minimum)
        results.append(_best(out, 0, len(c["prompt"])))
    (folder / "old.json").write_text(json.dumps(results))


def run_new(folder: Path, normaliser: str, batched: bool) -> list[dict]:
    from transformers import GenerationConfig

    sys.path.insert(0, str(ROOT))
    from harness.eval.length_norm import beam_length_normaliser

    lm, results, all_cases = _model(folder), [], cases()
    for start in range(0, len(all_cases), GROUP if batched else 1):
        group = all_cases[start : start + (GROUP if batched else 1)]
        width = max(len(c["prompt"]) for c in group)
        ids = torch.tensor([[PAD] * (width - len(c["prompt"])) + c["prompt"] for c in group])
        mask = (ids != PAD).long()
        gen = GenerationConfig(**_kwargs(group[0]), min_new_tokens=group[0]["min_new"] or None)
        with torch.no_grad(), beam_length_normaliser(lm, normaliser, mask.sum(1), group[0]["eos"]):
            out = lm.generate(input_ids=ids, attention_mask=mask, generation_config=gen)
        results += [_best(out, k, width) for k in range(len(group))]
    return results


def compare(folder: Path) -> None:
    import transformers

    old = json.loads((folder / "old.json").read_text())
    report: dict = {"date": dt.date.today().isoformat(), "reference": "transformers 4.26.1 beam search",
                    "candidate": f"transformers {transformers.__version__} + harness.eval.length_norm",
                    "cases": len(old), "runs": {}}  # fmt: skip
    for name, normaliser, batched in (("hf5", "hf5", False), ("prompt_inclusive", "prompt_inclusive", False),
                                      ("prompt_inclusive, batches of 4", "prompt_inclusive", True)):  # fmt: skip
        new = run_new(folder, normaliser, batched)
        same = [a["seq"] == b["seq"] for a, b in zip(old, new, strict=True)]
        close = [s and abs(a["score"] - b["score"]) <= 1e-5 * max(1.0, abs(a["score"])) for s, a, b in
                 zip(same, old, new, strict=True)]  # fmt: skip
        report["runs"][name] = {"same_best_beam": sum(same), "same_beam_and_score_rel_1e-5": sum(close)}
        print(f"{name}: same best beam {sum(same)}/{len(old)}, and score {sum(close)}/{len(old)}")
    out = ROOT / "bench" / "results" / f"beam_normaliser_check_{report['date']}.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"-> {out}")


def main() -> None:
    mode, folder = sys.argv[1], Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    if mode == "weights":
        from transformers import OPTConfig, OPTForCausalLM

        torch.manual_seed(0)
        torch.save(OPTForCausalLM(OPTConfig(**CONFIG)).state_dict(), folder / "weights.pt")
    elif mode == "old":
        run_old(folder)
    elif mode == "compare":
        compare(folder)
    else:
        raise SystemExit(f"unknown mode {mode!r}: weights | old | compare")


if __name__ == "__main__":
    main()
