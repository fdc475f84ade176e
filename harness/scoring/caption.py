"""COCO caption metrics through pycocoevalcap 1.2 itself (metrics.md §2), with the traps guarded.

The scorers are called directly (PTBTokenizer, BLEU-1..4, METEOR 1.5, ROUGE-L, CIDEr-D; SPICE only when the
CoreNLP 3.6.0 jars are already in pycocoevalcap's `spice/lib`), never through `COCOEvalCap`, which always
builds `Spice()` and so downloads ~385 MB. Guards:
- characters the Java tokenizer splits lines on (`\\r \\v \\f U+2028 U+2029`, and `\\n`) become spaces, and a
  sentinel caption checks that no caption shifted against its references anyway;
- every reference image needs exactly one prediction (CIDEr's idf depends on the image set);
- Java must be on PATH.
Speed on 2 cores (bench/SCORING.md): METEOR's JVM is the long pole, so it starts first (loading its
paraphrase table overlaps the tokenizer) and is fed as soon as the tokens exist; while this process waits on
it, a forked worker runs sacrebleu (raw captions, from the start), CIDEr and BLEU; ROUGE-L runs here once
METEOR is done. Each scorer is pycocoevalcap's own, on the same inputs: the results are those of a sequential
run. Scores stay on pycocoevalcap's 0-1 scale.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from pycocoevalcap.bleu.bleu_scorer import BleuScorer
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from harness.errors import HarnessError
from harness.scoring.background import Background
from harness.scoring.bootstrap import caption_cis
from harness.scoring.caption_refs import read_predictions, read_references
from harness.scoring.sacrebleu_check import sacrebleu_crosscheck

LINE_BREAKS = ("\r", "\n", "\v", "\f", "\u2028", "\u2029")
BLEU_KEYS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4")
CI_METRICS = ("METEOR", "ROUGE_L", "CIDEr")
SPICE_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")
_SENTINEL_KEY = ("harness", "alignment-sentinel")  # never an image id: those are int or str
_SENTINEL = "zqxalignmentsentinelzqx"
SPICE_JAVA_OPTIONS = "--add-opens java.base/java.lang=ALL-UNNAMED"
JAVA_HINT = "install a Java runtime, e.g. `apt-get install default-jre-headless`"


def sanitize_caption(text: str) -> str:
    """Replace each character the PTB tokenizer treats as a line break by a space: one caption, one line."""
    for ch in LINE_BREAKS:
        if ch in text:
            text = text.replace(ch, " ")
    return text


def caption_inputs(
    references: dict, predictions: list[dict], names: Mapping[str, str] | None = None
) -> tuple[dict[Any, list[str]], dict[Any, list[str]]]:
    """Checked inputs in pycocoevalcap's shape, reference order: `{img: [reference, ...]}` and `{img: [prediction]}`,
    every caption on one line (`sanitize_caption`). `names` labels the sources in errors (`references`,
    `predictions`)."""
    label = {"references": "references", "predictions": "predictions", **(names or {})}
    refs = read_references(references, label["references"])
    hyps = read_predictions(predictions, list(refs), label["predictions"], label["references"])
    return (
        {img: [sanitize_caption(c) for c in caps] for img, caps in refs.items()},
        {img: [sanitize_caption(hyps[img])] for img in refs},
    )


def spice_lib_dir() -> Path:
    """pycocoevalcap's `spice/lib`, where SPICE expects the CoreNLP 3.6.0 jars."""
    import pycocoevalcap

    return Path(next(iter(pycocoevalcap.__path__))) / "spice" / "lib"  # a namespace package: no __file__


def spice_available() -> bool:
    """True when both CoreNLP 3.6.0 jars are present, i.e. `Spice()` will not try to download them."""
    return all((spice_lib_dir() / jar).is_file() for jar in SPICE_JARS)


def java_version() -> str:
    """`java -version`'s first line; `HarnessError` with an install hint when Java is missing."""
    java = shutil.which("java")
    if java is None:
        raise HarnessError(f"caption metrics need Java on PATH (PTB tokenizer, METEOR): {JAVA_HINT}")
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as err:
        raise HarnessError(f"`java -version` failed ({err}); {JAVA_HINT}") from None
    lines = (out.stderr or out.stdout).strip().splitlines()
    return lines[0] if lines else "unknown"


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[Any]:
    """Send fd 2 (the JVM's progress lines) to a temp file; yield it so a failure can quote it."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield tmp
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def tokenize_captions(captions: Mapping[Any, list[str]], what: str) -> dict[Any, list[str]]:
    """PTB-tokenize `{img: [caption, ...]}`, with a sentinel caption last: if any caption was split into two
    lines (or lines were lost), the sentinel no longer comes back as itself and we fail instead of scoring
    shifted captions."""
    wrapped: dict[Any, list[dict]] = {img: [{"caption": c} for c in caps] for img, caps in captions.items()}
    wrapped[_SENTINEL_KEY] = [{"caption": _SENTINEL}]
    with _quiet_stderr() as log:
        try:
            out = PTBTokenizer().tokenize(wrapped)
        except OSError as err:
            raise HarnessError(f"PTB tokenizer could not run on the {what} ({err}); {JAVA_HINT}") from None
        log.seek(0)
        java_said = " ".join(log.read().decode("utf-8", "replace").strip().splitlines()[-1:]) or "nothing"
    sentinel = out.pop(_SENTINEL_KEY, None)
    bad = [img for img, caps in captions.items() if len(out.get(img, ())) != len(caps)]
    if sentinel != [_SENTINEL] or bad:
        first = f" (first short image: {bad[0]!r})" if bad else ""
        raise HarnessError(
            f"PTB tokenizer output is misaligned with the {what}: a caption holds a line break it splits on, "
            f"or lines were lost{first}; Java said: {java_said}"
        )
    return out


def bleu_scores(gts: dict, res: dict) -> tuple[list[float], list[list[float]], np.ndarray]:
    """pycocoevalcap BLEU exactly as `Bleu(4).compute_score` runs it, keeping per-image counts for the CI."""
    scorer = BleuScorer(n=4)
    for img in gts:
        scorer += (res[img][0], gts[img])
    scores, per_image = scorer.compute_score(option="closest", verbose=0)
    rows = []
    for comps in scorer.ctest:
        reflen = scorer._single_reflen(comps["reflen"], "closest", comps["testlen"])
        rows.append([comps["testlen"], reflen, *comps["guess"], *comps["correct"]])
    return list(scores), per_image, np.array(rows, dtype=np.float64)


def _cider(gts: dict, res: dict) -> tuple[float, np.ndarray]:
    """pycocoevalcap CIDEr(-D); a module-level function so the background worker can run it."""
    return Cider().compute_score(gts, res)


def _start_meteor() -> Meteor:
    """Start METEOR's JVM now: loading its paraphrase table takes ~10 s of CPU, which then overlaps with the
    tokenizer and the Python scorers instead of adding to them."""
    return Meteor()


def _meteor(meteor: Meteor, gts: dict, res: dict) -> tuple[float, list[float]]:
    try:
        return meteor.compute_score(gts, res)
    except ValueError:
        raise HarnessError("METEOR's Java process gave no score (it needs ~2 GB of memory, -Xmx2G)") from None


def _stop_meteor(meteor: Meteor) -> None:
    with meteor.lock:
        meteor.meteor_p.stdin.close()
        meteor.meteor_p.kill()
        meteor.meteor_p.wait()


@contextlib.contextmanager
def _java_opens_lang() -> Iterator[None]:
    """SPICE's parse cache (FST serializer) reflects into `java.lang.String`, which Java >= 9 refuses
    (InaccessibleObjectException, reported with Java 17); `--add-opens` in JDK_JAVA_OPTIONS allows it, and
    Java 8 ignores that variable. Scores do not depend on it: only the cache does."""
    saved = os.environ.get("JDK_JAVA_OPTIONS")
    os.environ["JDK_JAVA_OPTIONS"] = " ".join(filter(None, [saved, SPICE_JAVA_OPTIONS]))
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("JDK_JAVA_OPTIONS", None)
        else:
            os.environ["JDK_JAVA_OPTIONS"] = saved


def _spice(gts: dict, res: dict) -> tuple[float, dict[Any, float]]:
    from pycocoevalcap.spice.spice import Spice

    try:
        with _java_opens_lang():
            score, scores = Spice().compute_score(gts, res)
    except subprocess.CalledProcessError as err:
        raise HarnessError(
            f"SPICE failed (exit {err.returncode}; its Java output is above); it needs ~8 GB of memory (-Xmx8G) "
            "and a writable pycocoevalcap/spice folder (tmp/, cache/)"
        ) from None
    ordered = sorted(gts)  # Spice scores come back in sorted-id order, not in gts order
    return float(score), {img: float(s["All"]["f"]) for img, s in zip(ordered, scores, strict=True)}


def _use_spice(spice: bool | None) -> bool:
    if spice is False:
        return False
    if spice_available():
        return True
    missing = f"CoreNLP 3.6.0 jars ({', '.join(SPICE_JARS)}) not in {spice_lib_dir()}"
    if spice:
        raise HarnessError(f"SPICE requested but {missing}; provision them from Maven Central first")
    print(f"notice: SPICE skipped: {missing}", file=sys.stderr)
    return False


def score_captions(
    references: dict,
    predictions: list[dict],
    spice: bool | None = None,
    *,
    names: Mapping[str, str] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """Score one caption per reference image with pycocoevalcap; `spice=None` means "if its jars are present".

    Returns Bleu_1..4, METEOR, ROUGE_L, CIDEr (and SPICE) on the 0-1 scale, `per_image` {metric: {str(id):
    score}}, `sacrebleu` (default-settings corpus BLEU on the raw captions, 0-100, a Java-free cross-check
    only), `n_images`, `tools` (versions) and, when `n_resamples` > 0, `ci95` {Bleu_4, METEOR, ROUGE_L,
    CIDEr[, SPICE]: [lo, hi]} (see `harness.scoring.bootstrap` for which are approximations). `names` labels the
    sources in error messages (keys `references`, `predictions`).
    """
    ref_lists, hyp_lists = caption_inputs(references, predictions, names)
    use_spice = _use_spice(spice)
    java = java_version()
    with Background() as worker:
        meteor_job = _start_meteor()
        try:
            raw_hyps = [caps[0] for caps in hyp_lists.values()]
            sacre_job = worker.submit(sacrebleu_crosscheck, raw_hyps, list(ref_lists.values()))
            gts = tokenize_captions(ref_lists, "references")
            res = tokenize_captions(hyp_lists, "predictions")
            cider_job = worker.submit(_cider, gts, res)
            bleu_job = worker.submit(bleu_scores, gts, res)
            meteor, meteor_per = _meteor(meteor_job, gts, res)
        finally:
            _stop_meteor(meteor_job)
        rouge, rouge_per = Rouge().compute_score(gts, res)
        sacre = sacre_job.result()
        cider, cider_per = cider_job.result()
        bleu, bleu_per, bleu_stats = bleu_job.result()
    metrics: dict[str, float] = dict(zip(BLEU_KEYS, map(float, bleu), strict=True))
    metrics.update(METEOR=float(meteor), ROUGE_L=float(rouge), CIDEr=float(cider))
    columns = {**dict(zip(BLEU_KEYS, bleu_per, strict=True)), "METEOR": meteor_per,
               "ROUGE_L": rouge_per, "CIDEr": cider_per}  # fmt: skip
    keys = [str(img) for img in gts]
    per_image = {m: dict(zip(keys, map(float, col), strict=True)) for m, col in columns.items()}
    if use_spice:
        metrics["SPICE"], spice_per = _spice(gts, res)
        per_image["SPICE"] = {str(img): spice_per[img] for img in gts}

    result: dict[str, Any] = {**metrics, "n_images": len(gts), "per_image": per_image, "sacrebleu": sacre}
    if n_resamples > 0:
        per_image_arrays = {m: np.asarray(columns[m], dtype=np.float64) for m in CI_METRICS}
        if use_spice:  # pycocoevalcap's SPICE is the mean of the per-image F-scores: its CI is exact
            per_image_arrays["SPICE"] = np.asarray([per_image["SPICE"][k] for k in keys], dtype=np.float64)
        result["ci95"] = caption_cis(bleu_stats, per_image_arrays, n_resamples=n_resamples, seed=seed,
                                     corpus_scores={"METEOR": metrics["METEOR"]})  # fmt: skip
    result["tools"] = {
        "pycocoevalcap": metadata.version("pycocoevalcap"),
        "sacrebleu": metadata.version("sacrebleu"),
        "java": java,
        "tokenizer": "stanford-corenlp-3.4.1 PTBTokenizer -preserveLines -lowerCase",
    }
    return result
