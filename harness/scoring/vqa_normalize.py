"""Answer normalisation of the official VQA evaluation, rule for rule (metrics.md §1.3–1.4).

Re-implements `processPunctuation` / `processDigitArticle` of the VQA evaluation code
(GT-Vision-Lab/VQA `vqaEval.py`, and the regex variant of Cloud-CV/VQA-Challenge @ 35c7703).
That code is Copyright (c) 2014, Aishwarya Agrawal, All rights reserved, distributed under the
BSD 2-Clause License: redistributions must retain this notice; it is provided "as is", without warranty.

Quirks are kept on purpose because they change scores: `none` maps to `0`; keys with capitals in the
contraction table never match (input is lower-cased first); at most 32 periods are removed (the official
call passes `re.UNICODE`, 32, into `re.sub`'s count slot). Python 3 semantics, as LAVIS runs it: `\\d`
matches any Unicode decimal digit.
"""

from __future__ import annotations

import re

PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",",
               "?", "!")  # fmt: skip
NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
ARTICLES = frozenset({"a", "an", "the"})

# The official table: 120 entries, identical at 458a8b2, a013f00, Cloud-CV 35c7703 and in LAVIS.
CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's",
    "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll",
    "let's": "let's", "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've", "mightve": "might've", "mustnt": "mustn't", "mustve": "must've",
    "neednt": "needn't", "notve": "not've", "oclock": "o'clock", "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", "shant": "shan't",
    "shed've": "she'd've", "she'dve": "she'd've", "she's": "she's", "shouldve": "should've",
    "shouldnt": "shouldn't", "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd", "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's", "thered": "there'd",
    "thered've": "there'd've", "there'dve": "there'd've", "therere": "there're", "theres": "there's",
    "theyd": "they'd", "theyd've": "they'd've", "they'dve": "they'd've", "theyll": "they'll",
    "theyre": "they're", "theyve": "they've", "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've",
    "we'dve": "we'd've", "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd", "wheres": "where's",
    "whereve": "where've", "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've", "wholl": "who'll",
    "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're", "whys": "why's",
    "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd",
    "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've",
}  # fmt: skip

PERIOD_CAP = 32
# Official pattern "(?!<=\d)(\.)(?!\d)": the "(?!<=\d)" is a look-ahead that can never match at a ".", so
# the rule is "every period not followed by a digit".
_PERIOD = re.compile(r"\.(?!\d)")
_DIGIT_COMMA_DIGIT = re.compile(r"(\d)(,)(\d)")

# Cloud-CV 2017 server: the same 21 marks, handled by position instead of by the "p + space" test.
_P = "[" + re.escape("".join(PUNCTUATION)) + "]"
_SP = "[ " + re.escape("".join(PUNCTUATION)) + "]"
_EVALAI_STEPS = (
    (re.compile(rf"\A({_SP}+)(?=[a-zA-Z0-9 ])"), ""),
    (re.compile(rf"(?<=[a-zA-Z0-9 ])({_SP}+)\Z"), ""),
    (re.compile(r"(?<=\d)(,)+(?=\d)"), ""),
    (re.compile(rf"(?<={_SP})({_P})|({_P})(?={_SP})"), " "),
    (re.compile(r"([ ]+)"), " "),
    (re.compile(rf"(?<=[a-zA-Z])({_P})(?=[a-zA-Z])"), " "),
    (re.compile(rf"(?<=[a-zA-Z])({_P})(?=[a-zA-Z])"), ""),
)


def clean_whitespace(text: str) -> str:
    """`\\n`/`\\t` to spaces, then strip: the only processing every version applies to predictions first."""
    return text.replace("\n", " ").replace("\t", " ").strip()


def process_punctuation(text: str) -> str:
    """GT-Vision-Lab `processPunctuation`: a mark is deleted when it touches a space anywhere in the text,
    or when the text has digit-comma-digit anywhere; otherwise it becomes a space. Then the period rule."""
    delete_all = _DIGIT_COMMA_DIGIT.search(text) is not None
    out = text
    for p in PUNCTUATION:
        if p in out:
            out = out.replace(p, "" if delete_all or p + " " in text or " " + p in text else " ")
    return _PERIOD.sub("", out, count=PERIOD_CAP)


def process_punctuation_evalai(text: str) -> str:
    """Cloud-CV 2017 server `processPunctuation`: regex steps (e.g. `2,000 x-rays` -> `2000 x rays`)."""
    out = text
    for pattern, repl in _EVALAI_STEPS:
        out = pattern.sub(repl, out)
    return _PERIOD.sub("", out, count=PERIOD_CAP)


def process_digit_article(text: str) -> str:
    """Lower-case, split on whitespace, number words to digits, drop articles, fix contractions, re-join."""
    words = []
    for word in text.lower().split():
        word = NUMBER_WORDS.get(word, word)
        if word not in ARTICLES:
            words.append(CONTRACTIONS.get(word, word))
    return " ".join(words)


def punctuation_fn(scorer: str):
    """The `processPunctuation` a scorer uses: the regex one for `evalai-2017`, GT-Vision-Lab's otherwise."""
    return process_punctuation_evalai if scorer == "evalai-2017" else process_punctuation


def normalize_answer(text: str, scorer: str = "lavis") -> str:
    """Full normalisation of an answer: whitespace clean-up, punctuation, digits/articles/contractions.

    `lavis` and `evalai-2017` apply this to every prediction; `vqa-2021` applies it (to both sides) only when
    the ten GT answers are not all identical.
    """
    return process_digit_article(punctuation_fn(scorer)(clean_whitespace(text)))
