"""VQA accuracy: every normalisation rule, each version's differences, exactness vs a slow literal reference.

The reference below follows the official code's structure line by line (GT-Vision-Lab/VQA vqaEval.py @ 458a8b2
and @ a013f00, Cloud-CV/VQA-Challenge @ 35c7703 incl. its `main.py` chunked aggregation): deep-copied GT
mutated in place, dict-inequality leave-one-out, `setdefault` number map, positional-style 32-period cap. The
harness's memoised implementation must agree with it exactly (float equality), not approximately.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
import subprocess
import sys

import numpy as np
import pytest

from harness.errors import HarnessError, cli_main
from harness.score import main as score_main
from harness.scoring.bootstrap import bootstrap_ci, bootstrap_mean_ci
from harness.scoring.vqa import SCORERS, leave_one_out, normalize_answer, per_question_accuracies, score_vqa
from harness.scoring.vqa_normalize import (
    CONTRACTIONS,
    PUNCTUATION,
    process_digit_article,
    process_punctuation,
    process_punctuation_evalai,
)

# ----------------------------------------------------------------------------------------------------
# Slow literal reference
# ----------------------------------------------------------------------------------------------------
REF_PUNCT = [
    ";",
    r"/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
]
REF_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")
REF_COMMA = re.compile(r"(\d)(\,)(\d)")
_C = r"[ \\;/\"`\[\](){}<>@=+_\-,?!]"
_P = r"[\\;/\"`\[\](){}<>@=+_\-,?!]"
REF_EVALAI = [
    (re.compile(rf"\A({_C}+)(?=[a-zA-Z0-9 ])"), ""),
    (re.compile(rf"(?<=[a-zA-Z0-9 ])({_C}+)\Z"), ""),
    (re.compile(r"(?<=\d)(\,)+(?=\d)"), ""),
    (re.compile(rf"(?<={_C})({_P})|({_P})(?={_C})"), " "),
    (re.compile(r"([ ]+)"), " "),
    (re.compile(rf"(?<=[a-zA-Z])({_P})(?=[a-zA-Z])"), " "),
    (re.compile(rf"(?<=[a-zA-Z])({_P})(?=[a-zA-Z])"), ""),
]
REF_MANUAL_MAP = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}


def ref_punct(text: str) -> str:
    out = text
    for p in REF_PUNCT:
        if (p + " " in text or " " + p in text) or (re.search(REF_COMMA, text) is not None):
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return REF_PERIOD.sub(
        "", out, count=re.UNICODE
    )  # the official call puts re.UNICODE (32) in the count slot


def ref_punct_evalai(text: str) -> str:
    out = text
    for pattern, repl in REF_EVALAI:
        out = pattern.sub(repl, out)
    return REF_PERIOD.sub("", out, count=re.UNICODE)


def ref_digit_article(text: str) -> str:
    out = []
    for word in text.lower().split():
        word = REF_MANUAL_MAP.setdefault(word, word)
        if word not in ["a", "an", "the"]:
            out.append(word)
    for i, word in enumerate(out):
        if word in CONTRACTIONS:
            out[i] = CONTRACTIONS[word]
    return " ".join(out)


def py2_sum(values):
    total = 0
    for v in values:
        total = total + v
    return total


def ref_clean(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def ref_evaluate(annotations, predictions, version):
    """Official per-question loop + setAccuracy; returns (accs by qid, accuracy dict, evalQA, accQA)."""
    punct = ref_punct_evalai if version == "evalai-2017" else ref_punct
    qids = [a["question_id"] for a in annotations]
    gts = {a["question_id"]: a for a in copy.deepcopy(annotations)}
    res = {p["question_id"]: p for p in predictions}
    acc_qa, acc_qt, acc_at, eval_qa, accs = [], {}, {}, {}, {}
    for qid in qids:
        if version == "vqa-2021":
            for ans in gts[qid]["answers"]:
                ans["answer"] = ref_clean(ans["answer"])
            res_ans = ref_clean(res[qid]["answer"])
            if len({a["answer"] for a in gts[qid]["answers"]}) > 1:
                for ans in gts[qid]["answers"]:
                    ans["answer"] = ref_digit_article(punct(ans["answer"]))
                res_ans = ref_digit_article(punct(res_ans))
        else:
            res_ans = ref_digit_article(punct(ref_clean(res[qid]["answer"])))
            if len({a["answer"] for a in gts[qid]["answers"]}) > 1:
                for ans in gts[qid]["answers"]:
                    ans["answer"] = punct(ans["answer"])
        gt_acc = []
        for datum in gts[qid]["answers"]:
            others = [item for item in gts[qid]["answers"] if item != datum]
            matching = [item for item in others if item["answer"] == res_ans]
            gt_acc.append(min(1, float(len(matching)) / 3))
        avg = float(py2_sum(gt_acc)) / len(gt_acc)
        accs[qid] = avg
        acc_qa.append(avg)
        acc_qt.setdefault(gts[qid]["question_type"], []).append(avg)
        acc_at.setdefault(gts[qid]["answer_type"], []).append(avg)
        eval_qa[qid] = round(100 * avg, 2)
    accuracy = {
        "overall": round(100 * float(py2_sum(acc_qa)) / len(acc_qa), 2),
        "perQuestionType": {t: round(100 * float(py2_sum(v)) / len(v), 2) for t, v in acc_qt.items()},
        "perAnswerType": {t: round(100 * float(py2_sum(v)) / len(v), 2) for t, v in acc_at.items()},
    }
    return accs, accuracy, eval_qa, acc_qa


def ref_evalai_server(annotations, predictions):
    """Cloud-CV main.py eval_split for one split holding every annotated question."""
    all_qids = [a["question_id"] for a in annotations]
    type_qids = {
        t: list(set(all_qids) & {a["question_id"] for a in annotations if a["answer_type"] == t})
        for t in ("yes/no", "number", "other")
    }
    ann_by_id = {a["question_id"]: a for a in annotations}
    pred_by_id = {p["question_id"]: p for p in predictions}
    acc, length = 0.0, 0
    per_type = {}
    for key, val in type_qids.items():
        if not val:
            continue
        acc_list = []
        for chunk in np.array_split(val, 1000):
            if len(chunk):
                chunk_anns = [ann_by_id[q] for q in chunk.tolist()]
                chunk_preds = [pred_by_id[q] for q in chunk.tolist()]
                _, accuracy, _, _ = ref_evaluate(chunk_anns, chunk_preds, "evalai-2017")
                acc_list.append(float(accuracy["overall"] * float(len(chunk))))
        per_type[key] = float(np.sum(acc_list) / float(len(val)))
        acc += float(per_type[key] * len(val))
        length += len(val)
    return float(acc) / float(length), per_type


# ----------------------------------------------------------------------------------------------------
# Random official-format data
# ----------------------------------------------------------------------------------------------------
BASE = (
    "yes|no|2|two|none|0|1,000|1000|x-ray|x ray|t-shirt - red|the beatles|beatles|dont|don't|a||"
    "u.s.a.|usa|st.louis|1.5|1.5.|red,white|red white|2,000 x-rays|(red)|red!|whats|what's|"
    "oclock|im|Im|its|don’t|t-shirt|a dog|An apple|TEN|5.a|....|black & white|10:30|#1|50%|"
    "e-mail|a.5"
).split("|")
MARKS = list(PUNCTUATION) + [".", "'", ":", " ", "  ", "\t", "\n", "’", "–"]


def perturb(text: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.35:
        return text
    if r < 0.5:
        return text.upper() if rng.random() < 0.3 else text.capitalize()
    if r < 0.75:
        i = rng.randrange(len(text) + 1)
        return text[:i] + rng.choice(MARKS) + text[i:]
    if r < 0.85:
        return rng.choice([" ", "\t", "\n", "the ", "a "]) + text + rng.choice(["", " ", ".", "\n", "?"])
    return rng.choice(BASE)


def random_set(n_questions: int, seed: int):
    rng = random.Random(seed)
    questions, annotations, predictions = [], [], []
    for i in range(n_questions):
        qid = 1000 * (i + 1) + rng.randrange(3)
        n_answers = 10 if rng.random() < 0.9 else rng.choice([1, 3, 5])
        truth = rng.choice(BASE)
        if rng.random() < 0.4:
            answers = [truth] * n_answers
        else:
            answers = [
                perturb(truth, rng) if rng.random() < 0.7 else rng.choice(BASE) for _ in range(n_answers)
            ]
        questions.append({"question_id": qid, "image_id": qid // 1000, "question": "q?"})
        annotations.append(
            {
                "question_id": qid,
                "image_id": qid // 1000,
                "question_type": rng.choice(["what", "is the", "how many", "what color is the"]),
                "answer_type": rng.choice(["yes/no", "number", "other"]),
                "multiple_choice_answer": truth,
                "answers": [
                    {"answer": a, "answer_confidence": "yes", "answer_id": j + 1}
                    for j, a in enumerate(answers)
                ],
            }
        )
        predictions.append({"question_id": qid, "answer": perturb(rng.choice([truth, *answers]), rng)})
    return questions, annotations, predictions


def one_question(answers, prediction, qid=1, answer_ids=True):
    gt = [{"answer": a, **({"answer_id": j + 1} if answer_ids else {})} for j, a in enumerate(answers)]
    ann = {"question_id": qid, "image_id": 1, "question_type": "what", "answer_type": "other", "answers": gt}
    return [{"question_id": qid}], [ann], [{"question_id": qid, "answer": prediction}]


def acc_of(answers, prediction, scorer="lavis", **kw):
    _, anns, preds = one_question(answers, prediction, **kw)
    return per_question_accuracies(anns, preds, scorer)[0]


# ----------------------------------------------------------------------------------------------------
# Exactness against the literal reference
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scorer", SCORERS)
@pytest.mark.parametrize("seed", range(4))
def test_matches_literal_reference_on_random_data(scorer, seed):
    questions, annotations, predictions = random_set(400, seed)
    ref_accs, ref_accuracy, ref_eval_qa, ref_acc_qa = ref_evaluate(annotations, predictions, scorer)
    accs = per_question_accuracies(annotations, predictions, scorer)
    assert accs == [ref_accs[a["question_id"]] for a in annotations]  # exact float equality
    result = score_vqa(questions, annotations, predictions, scorer, n_resamples=0)
    assert result["perQuestion"] == {str(q): v for q, v in ref_eval_qa.items()}
    assert result["n"] == len(annotations)
    if scorer != "evalai-2017":
        assert result["overall"] == ref_accuracy["overall"]
        assert result["overall_unrounded"] == 100 * float(py2_sum(ref_acc_qa)) / len(ref_acc_qa)
        assert result["perAnswerType"] == ref_accuracy["perAnswerType"]
        assert result["perQuestionType"] == ref_accuracy["perQuestionType"]


def test_evalai_chunked_aggregation_matches_server_reference():
    questions, annotations, predictions = random_set(3300, seed=7)
    overall, per_type = ref_evalai_server(annotations, predictions)
    result = score_vqa(questions, annotations, predictions, "evalai-2017", n_resamples=0)
    assert result["overall_unrounded"] == overall
    assert result["overall"] == round(overall, 2)
    assert set(result["perAnswerType"]) == set(per_type)
    assert result["perAnswerType"] == {t: round(per_type[t], 2) for t in result["perAnswerType"]}
    plain = 100 * float(np.mean(per_question_accuracies(annotations, predictions, "evalai-2017")))
    assert 0 < abs(result["overall_unrounded"] - plain) < 0.01  # chunk rounding moves it, but only a little


def test_normalisers_match_reference_on_random_strings():
    rng = random.Random(3)
    alphabet = "ab1 2,.-x;()!?'\"`/\\_:@<>{}[]=+#t’\t"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        assert process_punctuation(text) == ref_punct(text), repr(text)
        assert process_punctuation_evalai(text) == ref_punct_evalai(text), repr(text)
        assert process_digit_article(text) == ref_digit_article(text), repr(text)


# ----------------------------------------------------------------------------------------------------
# processPunctuation (metrics.md §1.3)
# ----------------------------------------------------------------------------------------------------
def test_punctuation_list_is_the_official_21():
    assert len(PUNCTUATION) == 21 and PUNCTUATION[17] == "`"
    assert tuple(REF_PUNCT) == PUNCTUATION


@pytest.mark.parametrize("p", PUNCTUATION)
def test_each_listed_mark_becomes_space_or_is_deleted(p):
    assert process_punctuation(f"a{p}b") == "a b"
    assert process_punctuation(f"a {p} b") == "a  b"  # touches a space: deleted, spaces stay
    assert process_punctuation(f"a{p}b {p}c") == "ab c"  # one spaced occurrence deletes them all


@pytest.mark.parametrize("c", ["'", ":", "#", "$", "%", "&", "*", "~", "^", "|", "’", "“", "–", "—", "。"])
def test_unlisted_marks_are_kept(c):
    assert process_punctuation(f"a{c}b") == f"a{c}b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("t-shirt", "t shirt"),
        ("t - shirt", "t  shirt"),
        ("t-shirt - red", "tshirt  red"),
        ("1,000", "1000"),
        ("x-ray, 1,000", "xray 1000"),
        ("red,white", "red white"),
        ("2,000 x-rays", "2000 xrays"),
    ],
)
def test_punctuation_examples_and_digit_comma_rule(text, expected):
    assert process_punctuation(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5", "1.5"),
        ("1.5.", "1.5"),
        ("5.a", "5a"),
        ("a.5", "a.5"),
        (".5", ".5"),
        ("u.s.a.", "usa"),
        ("st.louis", "stlouis"),
        ("yes.", "yes"),
    ],
)
def test_period_rule_deletes_periods_not_followed_by_a_digit(text, expected):
    assert process_punctuation(text) == expected


def test_period_rule_is_capped_at_32():
    assert process_punctuation("." * 40) == "." * 8
    assert process_punctuation("a." * 33) == "a" * 33 + "."
    assert process_punctuation_evalai("x" + "." * 40) == "x" + "." * 8


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2,000 x-rays", "2000 x rays"),
        ("t-shirt - red", "t shirt red"),
        ("x-ray, 1,000", "x ray 1000"),
        ("!!yes", "yes"),
        ("yes!!", "yes"),
        ("t-shirt", "t shirt"),
    ],
)
def test_evalai_regex_punctuation(text, expected):
    assert process_punctuation_evalai(text) == expected == ref_punct_evalai(text)


# ----------------------------------------------------------------------------------------------------
# processDigitArticle (metrics.md §1.4)
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("word", "digit"),
    [
        ("none", "0"),
        ("zero", "0"),
        ("one", "1"),
        ("two", "2"),
        ("three", "3"),
        ("four", "4"),
        ("five", "5"),
        ("six", "6"),
        ("seven", "7"),
        ("eight", "8"),
        ("nine", "9"),
        ("ten", "10"),
        ("One", "1"),
        ("TEN", "10"),
    ],
)
def test_number_words(word, digit):
    assert process_digit_article(word) == digit


@pytest.mark.parametrize("word", ["eleven", "twenty", "first", "second", "nothing", "1st"])
def test_nothing_above_ten_and_no_ordinals(word):
    assert process_digit_article(word) == word


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the beatles", "beatles"),
        ("a", ""),
        ("an apple", "apple"),
        ("A Dog", "dog"),
        ("the a an", ""),
        ("  a   red  car ", "red car"),
        ("theatre", "theatre"),
    ],
)
def test_articles_dropped_and_words_rejoined(text, expected):
    assert process_digit_article(text) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("dont", "don't"),
        ("cant", "can't"),
        ("oclock", "o'clock"),
        ("whats", "what's"),
        ("yall", "y'all"),
        ("twas", "'twas"),
        ("couldn'tve", "couldn't've"),
        ("couldnt've", "couldn't've"),
        ("let's", "let's"),
        ("she's", "she's"),
        ("somebody'd", "somebodyd"),
        ("Dont", "don't"),
        # quirks: capitalised keys never match, `its` is absent, curly apostrophes match nothing
        ("im", "im"),
        ("Im", "im"),
        ("ive", "ive"),
        ("id've", "id've"),
        ("its", "its"),
        ("don’t", "don’t"),
    ],
)
def test_contractions_including_quirks(word, expected):
    assert process_digit_article(word) == expected


def test_contraction_table_size():
    assert len(CONTRACTIONS) == 120
    assert sum(1 for k in CONTRACTIONS if "'" not in k) == 75
    assert [k for k, v in CONTRACTIONS.items() if k == v] == ["let's", "she's"]
    assert [k for k in CONTRACTIONS if k != k.lower()] == ["Id've", "I'dve", "Im", "Ive"]


def test_normalize_answer_full_pipeline():
    assert normalize_answer("Yes.") == "yes"
    assert normalize_answer("\tThe Beatles\n") == "beatles"
    assert normalize_answer("Two dogs!") == "2 dogs"
    assert normalize_answer("t-shirt - red") == "tshirt red"
    assert normalize_answer("t-shirt - red", "evalai-2017") == "t shirt red"


# ----------------------------------------------------------------------------------------------------
# Versions differ where metrics.md says they do
# ----------------------------------------------------------------------------------------------------
def test_unanimous_gt_is_not_normalised_in_vqa_2021():
    for pred in ("Yes", "yes.", "yes!"):
        assert acc_of(["yes"] * 10, pred, "lavis") == 1.0
        assert acc_of(["yes"] * 10, pred, "vqa-2021") == 0.0
    assert acc_of(["2"] * 10, "two", "lavis") == 1.0
    assert acc_of(["2"] * 10, "two", "vqa-2021") == 0.0
    assert acc_of(["the beatles"] * 10, "beatles", "vqa-2021") == 0.0
    assert acc_of(["yes"] * 10, " yes\n", "vqa-2021") == 1.0  # only \n, \t and outer spaces are forgiven
    assert acc_of(["red car"] * 10, "red  car", "vqa-2021") == 0.0


def test_pre2021_gt_gets_punctuation_only_and_no_strip():
    answers = ["Yes"] * 4 + ["no"] * 6  # mixed: lavis leaves GT case alone, HEAD lower-cases it
    assert acc_of(answers, "yes", "lavis") == 0.0
    assert acc_of(answers, "yes", "vqa-2021") == 1.0
    assert acc_of(["yes "] * 10, "yes", "lavis") == 0.0  # unanimous GT never stripped before 2021
    assert acc_of(["yes "] * 10, "yes", "vqa-2021") == 1.0


def test_evalai_2017_differs_from_lavis_on_regex_punctuation():
    answers = ["t shirt red"] * 4 + ["blue"] * 6
    assert acc_of(answers, "t-shirt - red", "lavis") == 0.0
    assert acc_of(answers, "t-shirt - red", "evalai-2017") == 1.0


def test_three_versions_give_three_different_overalls_on_random_data():
    questions, annotations, predictions = random_set(400, 11)
    results = [score_vqa(questions, annotations, predictions, s, n_resamples=0) for s in SCORERS]
    assert len({r["overall_unrounded"] for r in results}) == 3


# ----------------------------------------------------------------------------------------------------
# Leave-one-out and the answer_id subtlety
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("k", "expected"), [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (7, 1.0), (10, 1.0)]
)
def test_leave_one_out_table(k, expected):
    answers = ["red"] * k + ["blue"] * (10 - k)
    assert acc_of(answers, "red") == pytest.approx(expected, abs=1e-9)
    assert acc_of(answers[::-1], "red") == pytest.approx(expected, abs=1e-9)


def test_leave_one_out_float_depends_on_positions_like_the_official_sum():
    values = set()
    for pos in itertools.combinations(range(10), 2):
        mask = [i in pos for i in range(10)]
        expected = float(py2_sum([min(1, float(2 - m) / 3) for m in mask])) / 10
        assert leave_one_out(mask) == expected
        answers = ["red" if m else "blue" for m in mask]
        assert acc_of(answers, "red") == expected
        values.add(expected)
    assert len(values) > 1 and all(abs(v - 0.6) < 1e-9 for v in values)


@pytest.mark.parametrize("answer_ids", [True, False])
def test_answers_are_compared_by_index_not_by_value(answer_ids):
    # A port removing "the current answer" by value would drop all three reds at once and give 0.7.
    assert acc_of(["red"] * 3 + ["blue"] * 7, "red", answer_ids=answer_ids) == pytest.approx(0.9)
    assert acc_of(["red"] * 2 + ["blue"] * 8, "red", answer_ids=answer_ids) == pytest.approx(0.6)


# ----------------------------------------------------------------------------------------------------
# Inputs are never mutated; scoring twice gives the same result
# ----------------------------------------------------------------------------------------------------
def test_inputs_not_mutated_and_repeatable():
    questions, annotations, predictions = random_set(300, 5)
    snapshot = copy.deepcopy((questions, annotations, predictions))
    for scorer in SCORERS:
        first = score_vqa(questions, annotations, predictions, scorer)
        second = score_vqa(questions, annotations, predictions, scorer)
        assert first == second
    assert (questions, annotations, predictions) == snapshot


def test_scores_exactly_the_annotated_subset():
    questions, annotations, predictions = random_set(200, 6)
    sub = annotations[:50]
    sub_ids = {a["question_id"] for a in sub}
    result = score_vqa(questions, sub, [p for p in predictions if p["question_id"] in sub_ids], n_resamples=0)
    assert result["n"] == 50 and set(result["perQuestion"]) == {str(q) for q in sub_ids}


# ----------------------------------------------------------------------------------------------------
# Coverage and input errors
# ----------------------------------------------------------------------------------------------------
def test_missing_predictions_fail_with_count_and_examples():
    questions, annotations, predictions = random_set(30, 1)
    with pytest.raises(HarnessError) as err:
        score_vqa(questions, annotations, predictions[7:])
    msg = str(err.value)
    assert "7 question_id(s)" in msg and "no prediction" in msg and "..." in msg
    assert repr(predictions[0]["question_id"]) in msg and "\n" not in msg


def test_duplicated_and_unknown_predictions_fail():
    questions, annotations, predictions = random_set(30, 1)
    with pytest.raises(HarnessError, match=r"1 question_id\(s\) predicted more than once"):
        score_vqa(questions, annotations, predictions + [predictions[3]])
    with pytest.raises(HarnessError, match=r"2 question_id\(s\) not in annotations \(e\.g\. 5, 6\)"):
        score_vqa(
            questions,
            annotations,
            predictions + [{"question_id": 5, "answer": "x"}, {"question_id": 6, "answer": "y"}],
        )


def test_id_type_mismatch_is_named():
    questions, annotations, predictions = random_set(10, 1)
    as_str = [{**p, "question_id": str(p["question_id"])} for p in predictions]
    with pytest.raises(HarnessError, match=r"types differ \(annotations: int, predictions: str\)"):
        score_vqa(questions, annotations, as_str)


def test_malformed_inputs_name_field_and_id():
    questions, annotations, predictions = one_question(["a"] * 10, "a", qid=42)
    bad = copy.deepcopy(annotations)
    del bad[0]["answer_type"]
    with pytest.raises(HarnessError, match=r"question_id 42.*'answer_type'"):
        score_vqa(questions, bad, predictions)
    bad = copy.deepcopy(annotations)
    bad[0]["answers"][3]["answer"] = 7
    with pytest.raises(HarnessError, match=r"question_id 42.*answers\[3\]"):
        score_vqa(questions, bad, predictions)
    with pytest.raises(HarnessError, match=r"prediction #0 \(question_id 42\): 'answer' must be a string"):
        score_vqa(questions, annotations, [{"question_id": 42, "answer": None}])
    with pytest.raises(HarnessError, match=r"prediction #0 has no field 'answer'"):
        score_vqa(questions, annotations, [{"question_id": 42}])
    with pytest.raises(HarnessError, match=r"1 annotated question_id\(s\) not in the questions"):
        score_vqa([{"question_id": 1}], annotations, predictions)
    with pytest.raises(HarnessError, match="unknown VQA scorer 'official'"):
        score_vqa(questions, annotations, predictions, "official")
    with pytest.raises(HarnessError, match="non-empty list"):
        score_vqa(questions, [], predictions)
    with pytest.raises(HarnessError, match=r"1 duplicated question_id"):
        score_vqa(questions, annotations * 2, predictions)


# ----------------------------------------------------------------------------------------------------
# Bootstrap (VQA side)
# ----------------------------------------------------------------------------------------------------
def test_bootstrap_mean_ci_is_deterministic_and_contains_the_mean():
    questions, annotations, predictions = random_set(500, 2)
    accs = [100 * a for a in per_question_accuracies(annotations, predictions)]
    ci = bootstrap_mean_ci(accs, seed=3)
    assert ci == bootstrap_mean_ci(accs, seed=3)
    assert ci != bootstrap_mean_ci(accs, seed=4)
    assert ci[0] <= float(np.mean(accs)) <= ci[1]
    generic = bootstrap_ci(len(accs), lambda idx: float(np.mean(np.asarray(accs)[idx])), seed=3)
    assert generic == pytest.approx(ci, abs=1.5)  # same distribution, different draws
    result = score_vqa(questions, annotations, predictions, seed=3)
    assert result["ci95"]["overall"] == list(ci)


def test_bootstrap_mean_ci_index_path_for_continuous_values():
    values = np.random.default_rng(0).normal(size=6000)
    ci = bootstrap_mean_ci(values, n_resamples=300, seed=1)
    assert ci == bootstrap_mean_ci(values, n_resamples=300, seed=1)
    assert ci[0] < values.mean() < ci[1]
    assert ci[1] - ci[0] == pytest.approx(2 * 1.96 * values.std() / np.sqrt(values.size), rel=0.2)


# ----------------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------------
def _write_set(tmp_path, n=40):
    questions, annotations, predictions = random_set(n, 9)
    paths = {k: tmp_path / f"{k}.json" for k in ("questions", "annotations", "predictions")}
    paths["questions"].write_text(json.dumps({"questions": questions}))
    paths["annotations"].write_text(json.dumps({"annotations": annotations}))
    paths["predictions"].write_text(json.dumps(predictions))
    return paths, (questions, annotations, predictions)


def _vqa_args(paths, out, scorer="lavis"):
    return [
        "vqav2",
        "--questions",
        str(paths["questions"]),
        "--annotations",
        str(paths["annotations"]),
        "--predictions",
        str(paths["predictions"]),
        "--scorer",
        scorer,
        "--out",
        str(out),
    ]


@pytest.mark.parametrize("scorer", SCORERS)
def test_cli_writes_metrics(tmp_path, capsys, scorer):
    paths, data = _write_set(tmp_path)
    out = tmp_path / "m.json"
    assert cli_main(score_main, _vqa_args(paths, out, scorer)) == 0
    metrics = json.loads(out.read_text())
    assert metrics["scorer"] == scorer and metrics["task"] == "vqav2" and metrics["n"] == 40
    assert metrics["overall"] == score_vqa(*data, scorer)["overall"]
    lo, hi = metrics["ci95"]["overall"]
    assert lo <= metrics["overall_unrounded"] <= hi
    assert f"vqav2 [{scorer}] n=40" in capsys.readouterr().out


def test_cli_bad_files_give_one_line_and_exit_2(tmp_path, capsys):
    paths, _ = _write_set(tmp_path)
    out = tmp_path / "m.json"
    paths["predictions"].write_text(paths["predictions"].read_text()[:-20])
    assert cli_main(score_main, _vqa_args(paths, out)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "predictions.json" in err and "line 1 column" in err
    paths["annotations"].write_text(json.dumps({"info": {}}))
    assert cli_main(score_main, _vqa_args(paths, out)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "annotations.json" in err and "'annotations'" in err
    assert not out.exists()


def test_cli_subprocess_exit_code_and_no_traceback(tmp_path):
    paths, _ = _write_set(tmp_path, n=5)
    paths["questions"].write_text("{not json")
    proc = subprocess.run(
        [sys.executable, "-m", "harness.score", *_vqa_args(paths, tmp_path / "m.json")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    )
    assert "questions.json" in proc.stderr
