"""Do `length_normaliser: hf426 / hf433` replay old beam search? Compare with transformers 4.26.1 and 4.33.3.

The BLIP-2 paper-era LAVIS code pinned transformers>=4.25,<4.27; LAVIS HEAD runs 4.33. This check runs the same
random OPT LM and T5 (seeded, peaked weights) with the same prompts and settings in each environment and compares
the best beam and its score. OPT as each LAVIS era called it: 4.26 with the prompt ids as the decoder's
`input_ids` (paper era), 4.33 with `inputs_embeds` only (HEAD); T5: the prompt is the encoder's input.

    python3 -m venv /tmp/v426 && /tmp/v426/bin/pip install torch==2.13.0 transformers==4.26.1 "numpy<2"
    python3 -m venv /tmp/v433 && /tmp/v433/bin/pip install torch==2.13.0 transformers==4.33.3 "numpy<2"
    .venv/bin/python bench/beam_normaliser_check.py weights /tmp/beamcheck      # saves the weights
    /tmp/v426/bin/python bench/beam_normaliser_check.py old /tmp/beamcheck      # transformers 4.26.1 beams
    /tmp/v433/bin/python bench/beam_normaliser_check.py old /tmp/beamcheck      # transformers 4.33.3 beams
    .venv/bin/python bench/beam_normaliser_check.py compare /tmp/beamcheck      # 5.x: hf5, hf426, hf433

Cases: 1,000 random prompts of 1-6 ids, EOS id, max new tokens (5-30), min new tokens (0 or 4; 4.26 gets
min_length = decoder prefix + 4, protocols.md §7) and length penalty (-1, 0, 1, 2); 5.x runs them one per call
and in batches of 4 with different prompt lengths, padded on the family's side. Writes bench/results/.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
OPT = dict(vocab_size=40, hidden_size=32, num_hidden_layers=2, ffn_dim=64, num_attention_heads=4,
           max_position_embeddings=96, word_embed_proj_dim=32, bos_token_id=2, eos_token_id=2, pad_token_id=1,
           init_std=0.3)  # fmt: skip
T5 = dict(vocab_size=40, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, decoder_start_token_id=0,
          pad_token_id=0, eos_token_id=1, initializer_factor=4.0)  # fmt: skip
FAMILIES = ("opt", "t5")
PAD = {"opt": 1, "t5": 0}
GROUP = 4


def cases(n: int = 1000, seed: int = 0) -> list[dict]:
    """Settings are shared within each group of 4 (a batch shares one GenerationConfig)."""
    rng = random.Random(seed)
    out: list[dict] = []
    for i in range(n):
        prompt = [2] + [rng.randint(3, 39) for _ in range(rng.randint(0, 5))]  # OPT: BOS first
        shared = out[i - i % GROUP] if i % GROUP else dict(
            eos=rng.randint(3, 39), max_new=rng.choice([5, 10, 20, 30]), lp=rng.choice([1.0, 1.0, 0.0, -1.0, 2.0]),
            min_new=rng.choice([0, 0, 4]))  # fmt: skip
        out.append(dict(prompt=prompt, **{k: shared[k] for k in ("eos", "max_new", "lp", "min_new")}))
    return out


def _build(family: str):
    from transformers import OPTConfig, OPTForCausalLM, T5Config, T5ForConditionalGeneration

    if family == "opt":
        return OPTForCausalLM(OPTConfig(**OPT)).eval()
    return T5ForConditionalGeneration(T5Config(**T5)).eval()


def _model(folder: Path, family: str):
    lm = _build(family)
    lm.load_state_dict(torch.load(folder / f"weights_{family}.pt"))
    return lm


def _kwargs(c: dict, family: str) -> dict:
    return dict(num_beams=5, do_sample=False, max_new_tokens=c["max_new"], length_penalty=c["lp"],
                eos_token_id=c["eos"], pad_token_id=PAD[family], early_stopping=False, output_scores=True,
                return_dict_in_generate=True)  # fmt: skip


def _prefix(c: dict, family: str) -> int:
    """What sits in the decoder's input_ids before the first new token: the prompt (OPT) or the start token."""
    return len(c["prompt"]) if family == "opt" else 1


def _best(out, row: int, start: int, family: str) -> dict:
    seq = out.sequences[row, start:].tolist()
    while seq and seq[-1] == PAD[family]:
        seq.pop()
    return {"seq": seq, "score": float(out.sequences_scores[row])}


def run_old(folder: Path) -> None:
    import transformers

    era = "433" if transformers.__version__.startswith("4.33") else "426"
    for family in FAMILIES:
        lm, results = _model(folder, family), []
        for c in cases():
            ids = torch.tensor([c["prompt"]])
            inputs: dict = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
            prefix = _prefix(c, family)
            if era == "433" and family == "opt":  # LAVIS HEAD: embeddings only; input_ids start as [[bos]]
                inputs = {"inputs_embeds": lm.get_input_embeddings()(ids), "attention_mask": torch.ones_like(ids)}
                prefix = 1
            minimum = {"min_length": prefix + c["min_new"]} if c["min_new"] else {}
            with torch.no_grad():
                out = lm.generate(**inputs, **_kwargs(c, family), **minimum)
            results.append(_best(out, 0, prefix, family))
        (folder / f"old{era}_{family}.json").write_text(json.dumps(results))


def run_new(folder: Path, family: str, normaliser: str, batched: bool) -> list[dict]:
    from transformers import GenerationConfig

    sys.path.insert(0, str(ROOT))
    from harness.eval.length_norm import beam_length_normaliser

    lm, results, all_cases, pad = _model(folder, family), [], cases(), PAD[family]
    for start in range(0, len(all_cases), GROUP if batched else 1):
        group = all_cases[start : start + (GROUP if batched else 1)]
        width = max(len(c["prompt"]) for c in group)
        fill = [[pad] * (width - len(c["prompt"])) for c in group]
        rows = [f + c["prompt"] if family == "opt" else c["prompt"] + f for f, c in zip(fill, group, strict=True)]
        ids = torch.tensor(rows)
        mask = (ids != pad).long() if family == "opt" else torch.tensor([[1] * len(c["prompt"]) + [0] * len(f)
                                                                          for f, c in zip(fill, group, strict=True)])
        prefix = mask.sum(1) if family == "opt" and normaliser == "hf426" else torch.ones(len(group), dtype=torch.long)
        gen = GenerationConfig(**_kwargs(group[0], family), min_new_tokens=group[0]["min_new"] or None)
        with torch.no_grad(), beam_length_normaliser(lm, normaliser, prefix, group[0]["eos"]):
            out = lm.generate(input_ids=ids, attention_mask=mask, generation_config=gen)
        start_col = width if family == "opt" else 1
        results += [_best(out, k, start_col, family) for k in range(len(group))]
    return results


def compare(folder: Path) -> None:
    import transformers

    report: dict = {"date": dt.date.today().isoformat(), "reference": "transformers 4.26.1 / 4.33.3 beam search",
                    "candidate": f"transformers {transformers.__version__} + harness.eval.length_norm",
                    "cases": len(cases()), "runs": {}}  # fmt: skip
    for era, family in ((era, family) for era in ("426", "433") for family in FAMILIES):
        if not (folder / f"old{era}_{family}.json").exists():
            continue
        old = json.loads((folder / f"old{era}_{family}.json").read_text())
        runs = [("hf5", "hf5", False), (f"hf{era}", f"hf{era}", False)]
        if family == "opt":  # per-row prompt lengths in one batch; T5's P is 1 on every row
            runs.append((f"hf{era}, batches of 4", f"hf{era}", True))
        for name, normaliser, batched in runs:
            new = run_new(folder, family, normaliser, batched)
            same = [a["seq"] == b["seq"] for a, b in zip(old, new, strict=True)]
            row = {"same_best_beam": sum(same)}
            for tol in (1e-5, 1e-3):
                close = (s and abs(a["score"] - b["score"]) <= tol * max(1.0, abs(a["score"]))
                         for s, a, b in zip(same, old, new, strict=True))  # fmt: skip
                row[f"and_score_rel_{tol:g}"] = sum(close)
            report["runs"][f"vs 4.{era[1:]} {family} {name}"] = row
            print(f"vs 4.{era[1:]} {family} {name}: {row} of {len(old)}")
    out = ROOT / "bench" / "results" / f"beam_normaliser_check_{report['date']}.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"-> {out}")


def main() -> None:
    mode, folder = sys.argv[1], Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    if mode == "weights":
        for family in FAMILIES:
            torch.manual_seed(0)
            torch.save(_build(family).state_dict(), folder / f"weights_{family}.pt")
    elif mode == "old":
        run_old(folder)
    elif mode == "compare":
        compare(folder)
    else:
        raise SystemExit(f"unknown mode {mode!r}: weights | old | compare")


if __name__ == "__main__":
    main()
