"""Protocol text transforms: question preprocessing before the prompt, answer post-processing after decoding.

Both are named protocol axes (`prompt.question_transform`, `postprocess.*`) because each one moves VQA accuracy.
"""

from __future__ import annotations

import re

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


def postprocess(text: str, strip: bool, lemmatize: bool) -> str:
    """Answer post-processing. The OK-VQA lemmatizer (spaCy) is not available here, so asking for it fails loudly
    rather than silently scoring un-lemmatized answers."""
    if lemmatize:
        raise HarnessError(
            "postprocess.lemmatize=true needs spaCy's en_core_web_sm, which this harness does not ship yet"
        )
    return text.strip() if strip else text
