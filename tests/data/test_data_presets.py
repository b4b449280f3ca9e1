"""Preset mappings on hand-written rows in each data set's real column schema, and the
Hugging Face loader on a local folder through the real ``datasets.load_dataset``."""

from __future__ import annotations

import json

import datasets
import pytest
from datasets import Dataset, Features, Value

from rlsd.data import GSM8K, MATH500, DataConfig, DataError, prepare, source_from_dataset
from rlsd.data.prompt_format import format_prompt
from rlsd.data.sources import load_source

# openai/gsm8k, config "main": question (string), answer (string ending "#### N").
GSM8K_FEATURES = Features({"question": Value("string"), "answer": Value("string")})
GSM8K_ROWS = {
    "question": [
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many "
        "clips in May. How many clips did Natalia sell altogether in April and May?",
        "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of "
        "babysitting. How much did she earn?",
        "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts "
        "in total does it take?",
    ],
    "answer": [
        "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 "
        "clips altogether in April and May.\n#### 72",
        "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned "
        "0.2 x 50 = $<<0.2*50=10>>10.\n#### 10",
        "It takes 2/2=<<2/2=1>>1 bolt of white fiber\nSo the total amount of fabric is "
        "2+1=<<2+1=3>>3 bolts of fabric\n#### 3",
    ],
}

# HuggingFaceH4/MATH-500, split "test": problem, solution, answer, subject, level (int64),
# unique_id (string).
MATH500_FEATURES = Features({
    "problem": Value("string"), "solution": Value("string"), "answer": Value("string"),
    "subject": Value("string"), "level": Value("int64"), "unique_id": Value("string"),
})
MATH500_ROWS = {
    "problem": [
        "Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.",
        "What is the value of $513^2 - 487^2$?",
    ],
    "solution": [
        "We have that $r = \\sqrt{0^2 + 3^2} = 3.$ ... so the answer is "
        "$\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}.$",
        "Note that $513^2 - 487^2 = (513+487)(513-487) = 1000 \\cdot 26 = \\boxed{26000}$.",
    ],
    "answer": ["\\left( 3, \\frac{\\pi}{2} \\right)", "26000"],
    "subject": ["Precalculus", "Algebra"],
    "level": [2, 1],
    "unique_id": ["test/precalculus/807.json", "test/algebra/1010.json"],
}


def _all_rows(result):
    return result.train.to_pylist() + result.eval.to_pylist()


def test_gsm8k_preset_maps_question_answer_and_solution():
    ds = Dataset.from_dict(GSM8K_ROWS, features=GSM8K_FEATURES)
    src = source_from_dataset(ds, GSM8K.mapping, "gsm8k:train", id_prefix="gsm8k-train")
    result = prepare(DataConfig(source="gsm8k", n_eval=1), source=src)
    rows = {r["id"]: r for r in _all_rows(result)}
    assert sorted(rows) == ["gsm8k-train-000000", "gsm8k-train-000001", "gsm8k-train-000002"]
    first = rows["gsm8k-train-000000"]
    assert first["answer"] == "72"
    assert first["solution"] == GSM8K_ROWS["answer"][0]  # the full worked answer is the hint
    assert first["prompt"] == format_prompt(GSM8K_ROWS["question"][0])
    assert first["verifier"] == "gsm8k"
    assert first["messages"] is None and first["images"] is None and first["meta"] is None
    assert first["source"] == "gsm8k:train"
    assert [rows[f"gsm8k-train-00000{i}"]["answer"] for i in (1, 2)] == ["10", "3"]
    assert result.summary["rows_rejected"] == 0


def test_gsm8k_answer_without_marker_is_rejected_not_dropped():
    bad = {"question": ["What is 2+2?"], "answer": ["2+2=4, so four"]}
    rows = {k: GSM8K_ROWS[k] + bad[k] for k in GSM8K_ROWS}
    src = source_from_dataset(Dataset.from_dict(rows, features=GSM8K_FEATURES), GSM8K.mapping,
                              "gsm8k:train", id_prefix="gsm8k-train")
    result = prepare(DataConfig(source="gsm8k", max_reject_fraction=0.5), source=src)
    assert result.summary["rejects_by_reason"] == {"unparsable answer": 1}
    (reject,) = result.rejects
    assert reject["index"] == 3 and reject["row"] == {"question": "What is 2+2?",
                                                      "answer": "2+2=4, so four"}


def test_math500_preset_maps_problem_solution_and_meta():
    ds = Dataset.from_dict(MATH500_ROWS, features=MATH500_FEATURES)
    src = source_from_dataset(ds, MATH500.mapping, "math500:test")
    result = prepare(DataConfig(source="math500", n_eval=1), source=src)
    rows = {r["id"]: r for r in _all_rows(result)}
    assert sorted(rows) == ["test/algebra/1010.json", "test/precalculus/807.json"]
    polar = rows["test/precalculus/807.json"]
    assert polar["answer"] == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert polar["solution"] == MATH500_ROWS["solution"][0]
    assert polar["prompt"] == format_prompt(MATH500_ROWS["problem"][0])
    assert polar["verifier"] == "math"
    assert json.loads(polar["meta"]) == {"subject": "Precalculus", "level": 2}
    assert json.loads(rows["test/algebra/1010.json"]["meta"]) == {"subject": "Algebra", "level": 1}


def test_preset_dispatch_calls_load_dataset_with_the_preset_location(monkeypatch):
    # The hub is unreachable here: stand in for it with the real schema, record the call.
    calls = []

    def hub(path, name=None, split=None):
        calls.append((path, name, split))
        return Dataset.from_dict(MATH500_ROWS, features=MATH500_FEATURES)

    monkeypatch.setattr(datasets, "load_dataset", hub)
    src = load_source(DataConfig(source="HuggingFaceH4/MATH-500"))
    assert calls == [("HuggingFaceH4/MATH-500", None, "test")]
    assert src.label == "math500:test" and src.mapping.id_field == "unique_id"

    calls.clear()
    monkeypatch.setattr(datasets, "load_dataset", lambda path, name=None, split=None: (
        calls.append((path, name, split)) or Dataset.from_dict(GSM8K_ROWS, features=GSM8K_FEATURES)))
    src = load_source(DataConfig(source="gsm8k", split="test"))
    assert calls == [("openai/gsm8k", "main", "test")]
    assert src.id_prefix == "gsm8k-test"


def test_hf_failure_is_one_data_error_naming_the_dataset(monkeypatch):
    def offline(path, name=None, split=None):
        raise ConnectionError("no route to huggingface.co")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match=r"could not load Hugging Face dataset 'openai/gsm8k' "
                                        r"\(config 'main', split 'train'\): ConnectionError"):
        load_source(DataConfig(source="gsm8k"))


def test_user_mapping_through_real_load_dataset_on_a_local_folder(tmp_path, hf_cache):
    folder = tmp_path / "mydata"
    folder.mkdir()
    lines = [
        {"uid": "q1", "q": "What is 6 * 7?", "a": 42, "why": "6 * 7 = 42", "topic": "mult"},
        {"uid": "q2", "q": "What is 9 - 4?", "a": 5, "why": "9 - 4 = 5", "topic": "sub"},
    ]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    config = DataConfig(source=f"hf:{folder}", prompt_field="q", answer_field="a",
                        solution_field="why", id_field="uid", verifier="numeric", n_eval=1)
    result = prepare(config)
    rows = {r["id"]: r for r in _all_rows(result)}
    assert rows["q1"]["answer"] == "42" and rows["q2"]["answer"] == "5"  # ints become text
    assert rows["q1"]["solution"] == "6 * 7 = 42"
    assert rows["q1"]["verifier"] == "numeric"
    assert json.loads(rows["q1"]["meta"]) == {"topic": "mult"}  # unmapped columns go to meta
    assert rows["q1"]["source"] == f"hf:{folder}:train"


def test_a_mapped_column_that_does_not_exist_is_one_early_error(tmp_path, hf_cache):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "train.jsonl").write_text(json.dumps({"q": "x", "a": "1"}) + "\n")
    with pytest.raises(DataError, match=r"column\(s\) not in the data: prompt_field='qestion'; "
                                        r"columns are \['a', 'q'\]"):
        prepare(DataConfig(source=f"hf:{folder}", prompt_field="qestion", answer_field="a"))
