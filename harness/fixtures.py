"""Synthetic VQAv2 and Flickr30K data in the official file formats, so loaders and scorers run offline.

`python -m harness.fixtures {vqav2,flickr30k} --out DIR` writes a data root laid out like the real one
(datasets.md §5); okvqa, gqa, coco_caption, nocaps and vqav2_testdev come from harness/data/fixture_tasks.py.
Same arguments, same bytes: all randomness comes from `--seed`, JSON keys keep a fixed order and nothing
records a time. Each image is its own tiny JPEG (coloured shapes drawn from a per-id
seed, fixed quality); at well under a millisecond each, all 40,504 val2014 ids take seconds, so no shared
palette of reused bytes is needed. The folders a command owns must be absent or empty: data is built in a
staging folder inside DIR and moved into place, so real data is never overwritten and a failed run leaves
nothing half-written.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

from PIL import Image, ImageDraw

from harness.errors import HarnessError, cli_main
from harness.io import write_json

VQA_QUESTIONS = "vqav2/v2_OpenEnded_mscoco_val2014_questions.json"
VQA_ANNOTATIONS = "vqav2/v2_mscoco_val2014_annotations.json"
COCO_IMAGES = "coco/images/val2014"
FLICKR_KARPATHY = "flickr30k/karpathy/dataset_flickr30k.json"
FLICKR_IMAGES = "flickr30k/images"
FLICKR_EXTRA_SPLITS = ("train", "val", "restval", "train")  # always present, so a missing split filter shows

SIZES = ((64, 48), (48, 64), (32, 32), (80, 60), (50, 30))
LICENSE = {"url": "http://creativecommons.org/licenses/by/4.0/", "name": "Creative Commons Attribution 4.0"}
THINGS = ("bus", "train", "umbrella", "kite", "car", "bench", "pizza")
BEINGS = (
    ("dog", "dogs"),
    ("cat", "cats"),
    ("man", "men"),
    ("woman", "women"),
    ("horse", "horses"),
    ("boy", "boys"),
)

# (question_type, answer_type, template, answer sets); a set is ((answer, count), ...) summing to 10. The sets
# mix unanimous and split votes and spell answers the ways VQA normalisation must reconcile.
VQA_BANK: tuple[tuple[str, str, str, tuple[tuple[tuple[str, int], ...], ...]], ...] = (
    ("is the", "yes/no", "Is the {being} on the left?", ((("yes", 10),), (("yes", 7), ("no", 3)))),
    ("is this", "yes/no", "Is this a {thing}?", ((("no", 10),), (("yes", 8), ("yes.", 1), ("no", 1)))),
    ("are there", "yes/no", "Are there any {beings} in the picture?", ((("no", 6), ("yes", 4)),)),
    ("does the", "yes/no", "Does the {being} look happy?", ((("yes", 5), ("no", 3), ("dont know", 2)),)),
    (
        "how many",
        "number",
        "How many {beings} are there?",
        ((("2", 10),), (("2", 5), ("two", 3), ("3", 2)), (("1", 6), ("one", 2), ("0", 2))),
    ),
    (
        "how many people are",
        "number",
        "How many people are in the photo?",
        ((("3", 4), ("three", 3), ("4", 3)),),
    ),
    (
        "what color is the",
        "other",
        "What color is the {thing}?",
        (
            (("white", 10),),
            (("red", 6), ("dark red", 2), ("maroon", 2)),
            (("blue", 5), ("blue and white", 5)),
        ),
    ),
    (
        "what is the man",
        "other",
        "What is the man wearing?",
        ((("t-shirt", 4), ("t shirt", 3), ("tshirt", 2), ("shirt", 1)),),
    ),
    (
        "what animal is",
        "other",
        "What animal is this?",
        ((("dog", 5), ("a dog", 3), ("puppy", 2)), (("cat", 10),)),
    ),
    (
        "what is the",
        "other",
        "What is the {being} holding?",
        ((("umbrella", 4), ("an umbrella", 3), ("nothing", 3)),),
    ),
    ("where is the", "other", "Where is the {thing}?", ((("on the street", 4), ("street", 4), ("road", 2)),)),
    (
        "what sport is",
        "other",
        "What sport is being played?",
        ((("tennis", 10),), (("baseball", 7), ("softball", 3))),
    ),
    (
        "why",
        "other",
        "Why is the {being} here?",
        ((("dont know", 3), ("don't know", 2), ("waiting", 3), ("resting", 2)),),
    ),
)

SUBJECTS = (  # (phrasings of one subject, plural?)
    (("A man", "A guy", "An older man", "A person", "A man in a blue shirt"), False),
    (("Two young guys", "Two men", "Two friends", "A pair of young men", "Two guys"), True),
    (("A little girl", "A young girl", "A child", "A small girl in a pink dress", "A girl"), False),
    (("A group of people", "Several people", "A crowd of people", "Many people", "People"), True),
    (("A brown dog", "A dog", "A large dog", "A wet dog", "The dog"), False),
    (("A woman", "A lady", "A woman in a red jacket", "A young woman", "A smiling woman"), False),
)
ACTIONS = ("walking", "standing", "sitting", "running", "playing", "waiting")
PLACES = (
    ("on a busy street", "on the street", "down a city street", "on a sidewalk"),
    ("in the park", "in a grassy park", "on the grass", "outside in a park"),
    ("on the beach", "near the water", "by the ocean", "on the sand"),
    ("in front of a building", "outside a store", "near a brick building", "by a shop window"),
)
TAILS = ("", "", "", " together", ", looking at the camera", " on a sunny day", ", while others watch")


def jpeg_bytes(key: str, index: int) -> bytes:
    """A tiny deterministic JPEG; size and mode cycle with `index`, so small sets include grayscale."""
    rng = random.Random(key)
    w, h = SIZES[index % len(SIZES)]
    colour = [tuple(rng.randrange(256) for _ in range(3)) for _ in range(3)]
    im = Image.new("RGB", (w, h), colour[0])
    draw = ImageDraw.Draw(im)
    x0, y0 = rng.randrange(w // 2), rng.randrange(h // 2)
    draw.rectangle((x0, y0, x0 + rng.randrange(4, w // 2), y0 + rng.randrange(4, h // 2)), fill=colour[1])
    x1, y1 = rng.randrange(w // 2), rng.randrange(h // 2)
    draw.ellipse((x1, y1, x1 + rng.randrange(4, w // 2), y1 + rng.randrange(4, h // 2)), fill=colour[2])
    if index % 4 == 3:
        im = im.convert("L")  # real COCO/Flickr have grayscale JPEGs; loaders must convert to RGB
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _answer_sets(rng: random.Random) -> list[tuple[int, list[dict], str]]:
    """(bank index, answers, multiple_choice_answer) for every answer set, in a seeded order.

    Questions cycle through this list, so any N >= its length (21) covers every set; each answers list is
    built once and shared by reference, which keeps 2.1M answers small in memory.
    """
    confidences = ("yes",) * 7 + ("maybe",) * 2 + ("no",)
    out = []
    for b, (_qtype, _atype, _template, sets) in enumerate(VQA_BANK):
        for votes in sets:
            words = [word for word, count in votes for _ in range(count)]
            rng.shuffle(words)
            answers = [
                {"answer": w, "answer_confidence": rng.choice(confidences), "answer_id": i + 1}
                for i, w in enumerate(words)
            ]
            out.append((b, answers, Counter(words).most_common(1)[0][0]))
    rng.shuffle(out)
    return out


def build_vqav2(n_questions: int, n_images: int, seed: int) -> tuple[dict, dict, list[int]]:
    """Questions file, annotations file and image ids (file order); question i goes to image i mod M."""
    rng = random.Random(f"vqav2:{seed}")
    image_ids = rng.sample(range(1, max(600_000, 2 * n_images)), n_images)
    answer_sets = _answer_sets(rng)
    texts: dict[tuple[int, str, str], str] = {}  # one string per distinct text: keeps 214k questions small
    questions, annotations = [], []
    for img_index, image_id in enumerate(image_ids):
        for k in range((n_questions - img_index + n_images - 1) // n_images):
            b, answers, mc = answer_sets[len(questions) % len(answer_sets)]
            qtype, atype, template, _ = VQA_BANK[b]
            thing, (being, beings) = rng.choice(THINGS), rng.choice(BEINGS)
            key = (b, thing, being)
            text = texts.setdefault(key, template.format(thing=thing, being=being, beings=beings))
            qid = image_id * 1000 + k
            questions.append({"image_id": image_id, "question": text, "question_id": qid})
            annotations.append(
                {
                    "question_id": qid,
                    "image_id": image_id,
                    "question_type": qtype,
                    "answer_type": atype,
                    "multiple_choice_answer": mc,
                    "answers": answers,
                }
            )
    info = {
        "description": f"Synthetic VQA v2-format fixture from harness.fixtures (seed {seed}); not real data.",
        "version": "2.0",
        "year": 2017,
        "contributor": "harness.fixtures",
        "url": "",
    }
    head = {
        "info": info,
        "task_type": "Open-Ended",
        "data_type": "mscoco",
        "data_subtype": "val2014",
        "license": LICENSE,
    }
    qfile = {**head, "questions": questions}
    afile = {k: v for k, v in head.items() if k != "task_type"} | {"annotations": annotations}
    return qfile, afile, image_ids


def _caption(rng: random.Random, subject: int, action: int, place: int) -> str:
    phrasings, plural = SUBJECTS[subject]
    verb = f"{'are' if plural else 'is'} {ACTIONS[action]}"
    end = "." if rng.random() < 0.8 else ""
    return f"{rng.choice(phrasings)} {verb} {rng.choice(PLACES[place])}{rng.choice(TAILS)}{end}"


def build_flickr30k(n_images: int, seed: int) -> dict:
    """Karpathy-format JSON: M test images with 5 captions each, and train/val/restval entries among them."""
    rng = random.Random(f"flickr30k:{seed}")
    half = n_images // 2
    splits = [
        FLICKR_EXTRA_SPLITS[0],
        *["test"] * half,
        *FLICKR_EXTRA_SPLITS[1:3],
        *["test"] * (n_images - half),
        *FLICKR_EXTRA_SPLITS[3:],
    ]
    stems = rng.sample(range(10_000, 10_000_000_000), len(splits))
    images = []
    for imgid, (split, stem) in enumerate(zip(splits, stems, strict=True)):
        scene = (rng.randrange(len(SUBJECTS)), rng.randrange(len(ACTIONS)), rng.randrange(len(PLACES)))
        sentids = [imgid * 5 + j for j in range(5)]
        sentences = []
        for sentid in sentids:
            raw = _caption(rng, *scene)
            sentences.append(
                {
                    "tokens": re.findall(r"[a-z0-9]+", raw.lower()),
                    "raw": raw,
                    "imgid": imgid,
                    "sentid": sentid,
                }
            )
        images.append(
            {
                "filename": f"{stem}.jpg",
                "imgid": imgid,
                "split": split,
                "sentids": sentids,
                "sentences": sentences,
            }
        )
    return {"dataset": "flickr30k", "images": images}


def _stage(out: Path, owned: tuple[str, ...]) -> Path:
    """Refuse owned folders that hold anything, then make a staging folder inside `out` (same file system)."""
    for rel in owned:
        target = out / rel
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise HarnessError(
                f"{target} exists and is not empty; fixtures never overwrite data (remove it first)"
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".fixtures-", dir=out))
    except OSError as err:
        raise HarnessError(f"cannot write to --out {out}: {err.strerror}") from None


def _publish(stage: Path, out: Path, owned: tuple[str, ...]) -> None:
    for rel in owned:
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            target.rmdir()  # checked empty in _stage
        os.replace(stage / rel, target)


def write_vqav2(out: Path, n_questions: int, n_images: int, seed: int) -> None:
    qfile, afile, image_ids = build_vqav2(n_questions, n_images, seed)
    owned = ("vqav2", COCO_IMAGES)
    stage = _stage(out, owned)
    try:
        write_json(stage / VQA_QUESTIONS, qfile, indent=None)
        write_json(stage / VQA_ANNOTATIONS, afile, indent=None)
        del qfile, afile
        (stage / COCO_IMAGES).mkdir(parents=True)
        for index, image_id in enumerate(image_ids):
            path = stage / COCO_IMAGES / f"COCO_val2014_{image_id:012d}.jpg"
            path.write_bytes(jpeg_bytes(f"coco:{seed}:{image_id}", index))
        _publish(stage, out, owned)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def write_flickr30k(out: Path, n_images: int, seed: int) -> None:
    data = build_flickr30k(n_images, seed)
    owned = ("flickr30k",)
    stage = _stage(out, owned)
    try:
        write_json(stage / FLICKR_KARPATHY, data, indent=None)
        (stage / FLICKR_IMAGES).mkdir(parents=True)
        for index, entry in enumerate(data["images"]):
            name = entry["filename"]
            (stage / FLICKR_IMAGES / name).write_bytes(jpeg_bytes(f"flickr:{seed}:{name}", index))
        _publish(stage, out, owned)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line through cli_main (exit 2), not usage + message
        raise HarnessError(f"{self.prog}: {message} (see --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m harness.fixtures", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="dataset", required=True, parser_class=_Parser)
    vqa = sub.add_parser("vqav2", help="VQAv2 val2014 questions + annotations + COCO images")
    vqa.add_argument("--questions", type=int, default=36, metavar="N", help="questions (default 36)")
    vqa.add_argument(
        "--images", type=int, default=None, metavar="M", help="images, M <= N (default min(12, N))"
    )
    flickr = sub.add_parser("flickr30k", help="Karpathy-format Flickr30K test split + images")
    flickr.add_argument("--images", type=int, default=12, metavar="M", help="test images (default 12)")
    for p in (vqa, flickr):
        p.add_argument("--out", type=Path, required=True, metavar="DIR", help="data root to write into")
        p.add_argument(
            "--seed", type=int, default=0, metavar="S", help="seed for ids, text and pixels (default 0)"
        )
    from harness.data.fixture_tasks import add_parsers  # imported here: fixture_tasks builds on this module

    add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.dataset == "vqav2":
        n = args.questions
        m = min(12, n) if args.images is None else args.images
        if n < 1 or m < 1:
            raise HarnessError(f"--questions and --images must be >= 1 (got {n} and {m})")
        if m > n:
            raise HarnessError(f"--images ({m}) must be <= --questions ({n}): every image needs a question")
        if n > 1000 * m:
            raise HarnessError(
                f"--questions ({n}) must be <= 1000 x --images ({m}) (question_id = image_id*1000 + k)"
            )
        write_vqav2(args.out, n, m, args.seed)
        print(f"wrote vqav2: {n} questions over {m} images into {args.out}")
    elif args.dataset != "flickr30k":
        from harness.data.fixture_tasks import run

        print(run(args))
    else:
        if args.images < 1:
            raise HarnessError(f"--images must be >= 1 (got {args.images})")
        write_flickr30k(args.out, args.images, args.seed)
        extra = len(FLICKR_EXTRA_SPLITS)
        print(f"wrote flickr30k: {args.images} test images (+{extra} non-test entries) into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main))
