"""Time `python -m harness.score` end to end on full-size synthetic sets (not a timed test).

VQA: 214,354 questions x 10 answers over 40,504 images (VQAv2 val2014 counts), answer types in roughly VQAv2's
proportions, unanimous and mixed annotators, case / punctuation / article / number-word / comma-number
variants, and a long tail of rare answers so the per-string memo is not flattered. Captions: 31,783 images
(Flickr30K) x 5 references. Each command runs in a fresh process, so the figures include interpreter start,
JSON reading, validation, scoring, bootstrap CIs and writing the metrics file. Both wall seconds and CPU
seconds (the process plus its JVMs and forked worker) are recorded, with the 1-minute load average before each
run: on a shared machine the wall time says as much about the neighbours as about the code. After the caption
runs, each caption scorer runs alone (bench/caption_breakdown.py): their CPU total is the floor that the
whole command's CPU time is compared with.

    .venv/bin/python bench/score_bench.py [--repeats 3] [--skip-caption] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N_QUESTIONS, N_VQA_IMAGES = 214_354, 40_504
N_CAPTION_IMAGES, REFS_PER_IMAGE = 31_783, 5

WORDS = (
    "man woman person people child boy girl dog cat horse cow sheep bird elephant giraffe zebra bear "
    "train bus car truck bicycle motorcycle airplane boat kite frisbee skateboard surfboard umbrella "
    "pizza cake sandwich banana apple orange broccoli table chair couch bed toilet tv laptop phone "
    "clock vase book street road field beach snow water grass tree building kitchen bathroom room "
    "window door sign fence plate bowl cup bottle shirt hat red blue green yellow white black brown "
    "gray pink purple orange wooden metal plastic tennis baseball soccer"
).split()
VERBS = "sitting standing walking riding holding eating playing flying lying looking wearing carrying".split()
PREPS = "on in near next to under behind in front of beside with at".split()
NUMBER_ANSWERS = [
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "10",
    "12",
    "20",
    "100",
    "1,000",
    "2:30",
    "1.5",
]
NUMBER_WORDS = {"1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "0": "none"}


def _variant(answer: str, rng: random.Random) -> str:
    """How real annotators and models write the same answer differently."""
    r = rng.random()
    if r < 0.2:
        return answer.capitalize()
    if r < 0.35:
        return answer + rng.choice([".", "!", " ", "?"])
    if r < 0.5:
        return rng.choice(["the ", "a ", "an "]) + answer
    if r < 0.6:
        return NUMBER_WORDS.get(answer, answer.replace(" ", "-"))
    if r < 0.7:
        return answer.replace(" ", ", ") if " " in answer else f"{answer}s"
    return answer


def _other_answer(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.55:
        return rng.choice(WORDS)
    if r < 0.85:
        return f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
    if r < 0.95:
        return f"{rng.choice(VERBS)} {rng.choice(PREPS)} {rng.choice(WORDS)}"
    return f"{rng.choice(WORDS)} {rng.randrange(10_000)}"  # long tail of rare strings


def _question_answers(answer_type: str, rng: random.Random) -> tuple[list[str], str]:
    """Ten annotator answers and the model's prediction."""
    if answer_type == "yes/no":
        truth, alt = rng.sample(["yes", "no"], 2)
    elif answer_type == "number":
        truth, alt = rng.sample(NUMBER_ANSWERS, 2)
    else:
        truth, alt = _other_answer(rng), _other_answer(rng)
    if rng.random() < 0.45:
        answers = [truth] * 10
    else:
        answers = [
            truth if u < 0.6 else _variant(truth, rng) if u < 0.8 else alt if u < 0.93 else _other_answer(rng)
            for u in (rng.random() for _ in range(10))
        ]
    u = rng.random()
    prediction = (
        truth if u < 0.5 else _variant(truth, rng) if u < 0.75 else alt if u < 0.9 else _other_answer(rng)
    )
    return answers, prediction


def make_vqa(folder: Path, seed: int = 0) -> dict[str, Path]:
    """VQAv2-val-sized questions, annotations and predictions files in the official formats."""
    rng = random.Random(seed)
    images = [100_000 + 13 * i for i in range(N_VQA_IMAGES)]
    questions, annotations, predictions = [], [], []
    for i in range(N_QUESTIONS):
        image_id = images[i % N_VQA_IMAGES]
        qid = image_id * 1000 + i // N_VQA_IMAGES
        answer_type = rng.choices(["yes/no", "number", "other"], weights=[38, 12, 50])[0]
        qtype = {"yes/no": "is the", "number": "how many"}.get(
            answer_type, rng.choice(["what", "what color is the"])
        )
        answers, prediction = _question_answers(answer_type, rng)
        questions.append(
            {"image_id": image_id, "question": f"{qtype} {rng.choice(WORDS)}?", "question_id": qid}
        )
        annotations.append(
            {
                "question_id": qid,
                "image_id": image_id,
                "question_type": qtype,
                "answer_type": answer_type,
                "multiple_choice_answer": answers[0],
                "answers": [
                    {"answer": a, "answer_confidence": "yes", "answer_id": j + 1}
                    for j, a in enumerate(answers)
                ],
            }
        )
        predictions.append({"question_id": qid, "answer": prediction})
    meta = {"info": {}, "license": {}, "data_type": "mscoco", "data_subtype": "val2014"}
    paths = {name: folder / f"vqa_{name}.json" for name in ("questions", "annotations", "predictions")}
    paths["questions"].write_text(json.dumps({**meta, "task_type": "Open-Ended", "questions": questions}))
    paths["annotations"].write_text(json.dumps({**meta, "annotations": annotations}))
    paths["predictions"].write_text(json.dumps(predictions))
    return paths


def _caption(rng: random.Random) -> str:
    text = (
        f"{rng.choice(['a', 'the', 'two', 'A', 'An old'])} {rng.choice(WORDS)} {rng.choice(VERBS)} "
        f"{rng.choice(PREPS)} {rng.choice(['a', 'the'])} {rng.choice(WORDS)}"
    )
    if rng.random() < 0.3:
        text += f", {rng.choice(PREPS)} {rng.choice(WORDS)}"
    return text + rng.choice([".", "", " .", "!"])


def make_captions(folder: Path, seed: int = 0) -> dict[str, Path]:
    """A Flickr30K-sized COCO-format reference file (5 refs per image) and one prediction per image."""
    rng = random.Random(seed)
    images, annotations, predictions = [], [], []
    for i in range(N_CAPTION_IMAGES):
        image_id = 1_000_000 + i
        images.append({"id": image_id})
        refs = [_caption(rng) for _ in range(REFS_PER_IMAGE)]
        annotations += [{"image_id": image_id, "id": i * 10 + j, "caption": c} for j, c in enumerate(refs)]
        predictions.append(
            {"image_id": image_id, "caption": rng.choice(refs) if rng.random() < 0.3 else _caption(rng)}
        )
    paths = {"references": folder / "cap_references.json", "predictions": folder / "cap_predictions.json"}
    paths["references"].write_text(json.dumps({"images": images, "annotations": annotations}))
    paths["predictions"].write_text(json.dumps(predictions))
    return paths


def _run(cmd: list[str]) -> dict[str, float]:
    """Wall seconds, and CPU seconds of the process and everything it waited for (JVMs, forked worker)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "load_avg_1min_before": round(load, 2)}


def _caption_breakdown(folder: Path) -> dict:
    """Each caption scorer alone (bench/caption_breakdown.py), in a fresh process after the timed runs."""
    cmd = [sys.executable, "-m", "bench.caption_breakdown", str(folder / "cap_references.json"),
           str(folder / "cap_predictions.json")]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _machine() -> dict:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(ln.split()[1])
        for ln in Path("/proc/meminfo").read_text().splitlines()
        if ln.startswith("MemTotal")
    )
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gib": round(mem_kb / 2**20, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "java": java,
    }


def _jobs(folder: Path, with_captions: bool) -> list[tuple[str, list[str]]]:
    vqa = make_vqa(folder)
    files = ["--questions", vqa["questions"], "--annotations", vqa["annotations"]]
    jobs = [
        (f"vqav2 {s}", ["vqav2", *files, "--predictions", vqa["predictions"], "--scorer", s])
        for s in ("lavis", "vqa-2021", "evalai-2017")
    ]
    if with_captions:
        cap = make_captions(folder)
        files = ["--references", cap["references"], "--predictions", cap["predictions"]]
        jobs.append(("caption (no SPICE)", ["caption", *files, "--no-spice"]))
    return [(name, [str(a) for a in args]) for name, args in jobs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-caption", action="store_true")
    default_out = ROOT / f"bench/results/score_{dt.date.today():%Y-%m-%d}.json"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, job in _jobs(folder, not args.skip_caption):
            cmd = [sys.executable, "-m", "harness.score", *job, "--out", str(folder / "metrics.json")]
            trials = [_run(cmd) for _ in range(args.repeats)]
            shown = " ".join(Path(c).name if "/" in c else c for c in cmd[1:])
            walls = [t["wall_s"] for t in trials]
            cpus = [t["cpu_s"] for t in trials]
            runs.append(
                {"name": name, "command": f"python {shown}", "trials": trials,
                 "median_wall_s": statistics.median(walls), "median_cpu_s": statistics.median(cpus)}
            )  # fmt: skip
            print(f"{name}: {trials}", flush=True)
        if not args.skip_caption:
            breakdown = _caption_breakdown(folder)
            print(f"caption scorers alone: {breakdown['total']}", flush=True)
    record = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "what": "whole `python -m harness.score` process, fresh interpreter per run, 1000 bootstrap draws",
        "data": {
            "vqa_questions": N_QUESTIONS,
            "vqa_answers_per_question": 10,
            "caption_images": N_CAPTION_IMAGES,
            "refs_per_image": REFS_PER_IMAGE,
            "seed": 0,
        },
        "machine": _machine(),
        "versions": {p: metadata.version(p) for p in ("numpy", "pycocoevalcap", "sacrebleu")},
        "reproduce": ".venv/bin/python bench/score_bench.py",
        "runs": runs,
    }
    if not args.skip_caption:
        record["caption_scorers_alone"] = breakdown
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
