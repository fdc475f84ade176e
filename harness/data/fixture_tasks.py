"""Synthetic data for OK-VQA, GQA, COCO Karpathy captions, NoCaps val and VQAv2 test-dev, in the official formats.

The `python -m harness.fixtures` sub-commands beyond vqav2/flickr30k live here (datasets.md §1, §2, §7). Same
rules as harness.fixtures: same arguments, same bytes; files a command owns must be absent (folders: absent or
empty) and are staged then moved into place. Image folders that several datasets share with the real layout
(`coco/images/val2014` for OK-VQA and COCO captions) are only added to: an existing image is never replaced.
Every file marks itself synthetic (`info.contributor: harness.fixtures`), which is how the test-dev task
knows it may skip the official 447,793-question count.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.fixtures import LICENSE, SUBJECTS, _caption, jpeg_bytes
from harness.io import write_json

CONTRIBUTOR = "harness.fixtures"
OKVQA_QUESTIONS = "okvqa/OpenEnded_mscoco_val2014_questions.json"
OKVQA_ANNOTATIONS = "okvqa/mscoco_val2014_annotations.json"
COCO_VAL = "coco/images/val2014"
GQA_QUESTIONS = "gqa/testdev_balanced_questions.json"
COCO_KARPATHY = "coco/karpathy/dataset_coco.json"
NOCAPS_FILE = "nocaps/nocaps_val_4500_captions.json"
NOCAPS_IMAGES = "nocaps/images/val"
TESTDEV_QUESTIONS = "vqav2/v2_OpenEnded_mscoco_test-dev2015_questions.json"
TEST_QUESTIONS = "vqav2/v2_OpenEnded_mscoco_test2015_questions.json"
TEST_IMAGES = "coco/images/test2015"

# OK-VQA: (knowledge category, question, 10 stemmed answers as (answer, raw_answer, count)); lemmatizer cases.
OKVQA_BANK = (
    ("eight", "What sport can you use this for?", (("ski", "skiing", 6), ("snowboard", "snowboarding", 4))),
    ("one", "What kind of animals are these?", (("dog", "dogs", 8), ("puppy", "puppies", 2))),
    ("five", "What is this vehicle used for?", (("transport", "transportation", 5), ("travel", "traveling", 5))),
    ("two", "What are these people doing?", (("surf", "surfing", 10),)),
    ("four", "What fruit is shown?", (("banana", "bananas", 7), ("plantain", "plantains", 3))),
    ("other", "Which country is this dish from?", (("italy", "italy", 6), ("france", "france", 4))),
)
# GQA: (structural type, question template, answer); "t-shirt" separates GT-normalised from prediction-only.
GQA_BANK = (
    ("verify", "Is the {x} on the left?", "yes"),
    ("verify", "Is there a {x} in this picture?", "no"),
    ("query", "What color is the {x}?", "white"),
    ("query", "What is the man wearing?", "t-shirt"),
    ("choose", "Is the {x} red or blue?", "red"),
    ("logical", "Are there both {x}s and cars?", "no"),
    ("compare", "Which is bigger, the {x} or the car?", "the car"),
)
DOMAINS = ("in-domain", "near-domain", "out-domain")


def info(what: str, seed: int) -> dict[str, Any]:
    return {
        "description": f"Synthetic {what} fixture from harness.fixtures (seed {seed}); not real data.",
        "version": "1.0",
        "year": 2023,
        "contributor": CONTRIBUTOR,
        "url": "",
    }


def _publish_file(stage: Path, out: Path, rel: str) -> None:
    target = out / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir():
        target.rmdir()  # checked empty before staging
    os.replace(stage / rel, target)


def write_tree(out: Path, json_files: dict[str, Any], images: dict[str, bytes], owned: tuple[str, ...]) -> None:
    """Stage JSON files and images, then move them in: `owned` paths must be absent (or empty folders); images
    outside the owned folders are added only where no file of that name exists."""
    for rel in owned:
        target = out / rel
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise HarnessError(f"{target} exists and is not empty; fixtures never overwrite data (remove it first)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".fixtures-", dir=out))
    except OSError as err:
        raise HarnessError(f"cannot write to --out {out}: {err.strerror}") from None
    try:
        for rel, doc in json_files.items():
            write_json(stage / rel, doc, indent=None)
        for rel, data in images.items():
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            (stage / rel).write_bytes(data)
        inside_owned = [r for r in (*json_files, *images) if any(r == o or r.startswith(o + "/") for o in owned)]
        for rel in owned:
            if (stage / rel).exists():
                _publish_file(stage, out, rel)
        for rel in images:
            if rel not in inside_owned and not (out / rel).exists():
                _publish_file(stage, out, rel)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _coco_ids(rng: random.Random, n: int) -> list[int]:
    return rng.sample(range(600_000, 999_999), n)  # above the vqav2 fixture's ids, below 10**6


def write_okvqa(out: Path, n_questions: int, n_images: int, seed: int) -> None:
    rng = random.Random(f"okvqa:{seed}")
    image_ids = _coco_ids(rng, n_images)
    questions, annotations = [], []
    for i in range(n_questions):
        image_id = image_ids[i % n_images]
        qtype, text, votes = OKVQA_BANK[i % len(OKVQA_BANK)]
        qid = image_id * 10 + i // n_images
        questions.append({"image_id": image_id, "question": text, "question_id": qid})
        answers = [(a, raw) for a, raw, count in votes for _ in range(count)]
        rng.shuffle(answers)
        annotations.append(
            {
                "image_id": image_id,
                "answer_type": "other",
                "question_type": qtype,
                "question_id": qid,
                "answers": [
                    {"answer_id": k + 1, "raw_answer": raw, "answer_confidence": "yes", "answer": a}
                    for k, (a, raw) in enumerate(answers)
                ],
                "confidence": 3,
            }
        )
    head = {
        "info": info("OK-VQA v1.1-format", seed),
        "license": LICENSE,
        "data_subtype": "val2014",
        "data_type": "mscoco",
    }
    files = {
        OKVQA_QUESTIONS: {**head, "task_type": "Open-Ended", "questions": questions},
        OKVQA_ANNOTATIONS: {**head, "annotations": annotations},
    }
    imgs = {
        f"{COCO_VAL}/COCO_val2014_{iid:012d}.jpg": jpeg_bytes(f"okvqa:{seed}:{iid}", k)
        for k, iid in enumerate(image_ids)
    }
    write_tree(out, files, imgs, ("okvqa",))


def write_gqa(out: Path, n_questions: int, n_images: int, seed: int) -> None:
    rng = random.Random(f"gqa:{seed}")
    image_ids = [f"n{x}" for x in rng.sample(range(100_000, 999_999), n_images)]
    doc = {}
    for i in range(n_questions):
        structural, template, answer = GQA_BANK[i % len(GQA_BANK)]
        qid = str(20_968_000 + i)
        text = template.format(x=rng.choice(("bus", "table", "horse", "kite")))
        doc[qid] = {
            "semantic": [],
            "entailed": [],
            "equivalent": [qid],
            "question": text,
            "imageId": image_ids[i % n_images],
            "isBalanced": True,
            "groups": {"global": None, "local": None},
            "answer": answer,
            "semanticStr": "",
            "annotations": {"answer": {}, "question": {}, "fullAnswer": {}},
            "types": {"detailed": structural, "semantic": "attr", "structural": structural},
            "fullAnswer": f"The answer is {answer}.",
        }
    imgs = {f"gqa/images/{iid}.jpg": jpeg_bytes(f"gqa:{seed}:{iid}", k) for k, iid in enumerate(image_ids)}
    write_tree(out, {GQA_QUESTIONS: doc}, imgs, ("gqa",))


def write_coco_caption(out: Path, n_images: int, seed: int) -> None:
    rng = random.Random(f"coco_caption:{seed}")
    splits = ["train", *["test"] * (n_images - n_images // 2), "restval", "val", *["test"] * (n_images // 2)]
    ids = _coco_ids(rng, len(splits))
    entries, imgs = [], {}
    for imgid, (split, cocoid) in enumerate(zip(splits, ids, strict=True)):
        scene = (rng.randrange(len(SUBJECTS)), rng.randrange(6), rng.randrange(4))
        folder = "train2014" if split == "train" else "val2014"
        name = f"COCO_{folder}_{cocoid:012d}.jpg"
        raws = [_caption(rng, *scene) for _ in range(5 + imgid % 3)]  # 5-7 references, as the real test split
        sentids = list(range(imgid * 7, imgid * 7 + len(raws)))
        entries.append(
            {
                "filepath": folder,
                "sentids": sentids,
                "filename": name,
                "imgid": imgid,
                "split": split,
                "sentences": [
                    {"tokens": re.findall(r"[a-z0-9]+", r.lower()), "raw": r, "imgid": imgid, "sentid": s}
                    for r, s in zip(raws, sentids, strict=True)
                ],
                "cocoid": cocoid,
            }
        )
        if split == "test":
            imgs[f"coco/images/{folder}/{name}"] = jpeg_bytes(f"coco_caption:{seed}:{cocoid}", imgid)
    write_tree(out, {COCO_KARPATHY: {"images": entries, "dataset": "coco"}}, imgs, ("coco/karpathy",))


def write_nocaps(out: Path, n_images: int, seed: int) -> None:
    rng = random.Random(f"nocaps:{seed}")
    images, annotations, imgs = [], [], {}
    for i in range(n_images):
        oid = f"{rng.getrandbits(64):016x}"
        images.append(
            {
                "id": i,
                "open_images_id": oid,
                "height": 48,
                "width": 64,
                "coco_url": f"https://example.invalid/{oid}.jpg",
                "file_name": f"{oid}.jpg",
                "license": 0,
                "date_captured": "2018-11-06 11:04:33",
                "domain": DOMAINS[i % 3],
            }
        )
        scene = (rng.randrange(len(SUBJECTS)), rng.randrange(6), rng.randrange(4))
        for _ in range(10):
            annotations.append({"image_id": i, "id": len(annotations), "caption": _caption(rng, *scene)})
        imgs[f"{NOCAPS_IMAGES}/{oid}.jpg"] = jpeg_bytes(f"nocaps:{seed}:{oid}", i)
    doc = {"licenses": [], "info": info("NoCaps val-format", seed), "images": images, "annotations": annotations}
    write_tree(out, {NOCAPS_FILE: doc}, imgs, ("nocaps",))


def write_vqav2_testdev(out: Path, n_questions: int, n_extra: int, n_images: int, seed: int) -> None:
    rng = random.Random(f"vqav2_testdev:{seed}")
    image_ids = rng.sample(range(1, 600_000), n_images + n_extra)
    dev = [
        {
            "image_id": image_ids[i % n_images],
            "question": "What color is the bus?",
            "question_id": image_ids[i % n_images] * 1000 + i // n_images,
        }
        for i in range(n_questions)
    ]
    extra = [
        {"image_id": iid, "question": "How many people are there?", "question_id": iid * 1000}
        for iid in image_ids[n_images:]
    ]
    test = sorted(dev + extra, key=lambda q: q["question_id"])
    head = {
        "info": info("VQA v2 test2015-format", seed),
        "task_type": "Open-Ended",
        "data_type": "mscoco",
        "license": LICENSE,
    }
    files = {
        TESTDEV_QUESTIONS: {**head, "data_subtype": "test-dev2015", "questions": dev},
        TEST_QUESTIONS: {**head, "data_subtype": "test2015", "questions": test},
    }
    imgs = {
        f"{TEST_IMAGES}/COCO_test2015_{iid:012d}.jpg": jpeg_bytes(f"test2015:{seed}:{iid}", k)
        for k, iid in enumerate(image_ids[:n_images])
    }
    write_tree(out, files, imgs, (TESTDEV_QUESTIONS, TEST_QUESTIONS, TEST_IMAGES))


def add_parsers(sub: Any) -> None:
    """The sub-commands of this module, on `python -m harness.fixtures`'s sub-parser group."""
    specs = {
        "okvqa": ("OK-VQA val2014 questions + annotations (+ COCO val2014 images)", {"questions": 24, "images": 8}),
        "gqa": ("GQA testdev_balanced questions + images", {"questions": 28, "images": 8}),
        "coco_caption": ("Karpathy-format COCO JSON (test split + others) + val2014 images", {"images": 9}),
        "nocaps": ("NoCaps val-format JSON (all three domains) + images", {"images": 9}),
        "vqav2_testdev": (
            "VQAv2 test-dev2015 + superset test2015 questions + test2015 images",
            {"questions": 24, "images": 8, "extra": 24},
        ),
    }
    for name, (help_text, defaults) in specs.items():
        p = sub.add_parser(name, help=help_text)
        for arg, default in defaults.items():
            what = "test2015-only questions (not in test-dev)" if arg == "extra" else arg
            p.add_argument(f"--{arg}", type=int, default=default, metavar="N", help=f"{what} (default {default})")
        p.add_argument("--out", type=Path, required=True, metavar="DIR", help="data root to write into")
        p.add_argument("--seed", type=int, default=0, metavar="S", help="seed for ids, text and pixels (default 0)")


def run(args: Any) -> str:
    """Write the dataset named by `args.dataset`; return the one-line summary."""
    counts = {k: getattr(args, k) for k in ("questions", "images", "extra") if hasattr(args, k)}
    for name, value in counts.items():
        least = 0 if name == "extra" else 1
        if value < least:
            raise HarnessError(f"--{name} must be >= {least} (got {value})")
    if "questions" in counts and counts["images"] > counts["questions"]:
        raise HarnessError(f"--images ({counts['images']}) must be <= --questions ({counts['questions']})")
    if args.dataset == "okvqa":
        write_okvqa(args.out, args.questions, args.images, args.seed)
    elif args.dataset == "gqa":
        write_gqa(args.out, args.questions, args.images, args.seed)
    elif args.dataset == "coco_caption":
        write_coco_caption(args.out, args.images, args.seed)
    elif args.dataset == "nocaps":
        write_nocaps(args.out, args.images, args.seed)
    else:
        write_vqav2_testdev(args.out, args.questions, args.extra, args.images, args.seed)
    shown = ", ".join(f"{v} {k}" for k, v in counts.items())
    return f"wrote {args.dataset}: {shown} into {args.out}"
