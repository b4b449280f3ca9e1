"""Benchmark presets load small fixture files written in each data set's real column layout."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from rlsd.data import PROMPT_SCHEMA
from rlsd.evaluate.presets import (
    BENCHMARKS,
    BenchmarkError,
    get_benchmark,
    letter_of,
    load_benchmark,
)
from rlsd.verify import score
from tests.evaluate import benchmark_fixtures as fx


def _rows(name, tmp_path, **kwargs):
    table = load_benchmark(name, fx.FIXTURES[name](tmp_path), **kwargs)
    assert table.schema.equals(PROMPT_SCHEMA)
    rows = table.to_pylist()
    for r in rows:
        r["meta"] = json.loads(r["meta"])
        assert r["meta"]["benchmark"] == name
    return rows


def _decodes(images):
    for data in images:
        with Image.open(io.BytesIO(data)) as img:
            img.load()


def test_every_preset_has_a_fixture():
    assert set(fx.FIXTURES) == set(BENCHMARKS)


def test_gsm8k(tmp_path):
    rows = _rows("gsm8k", tmp_path)
    assert [r["id"] for r in rows] == ["gsm8k/00000", "gsm8k/00001"]
    assert [r["answer"] for r in rows] == ["7", "10"]
    assert rows[0]["solution"].endswith("#### 7")  # the worked solution is the teacher's hint
    assert rows[0]["prompt"].startswith("Tom has 3 apples")
    assert "<answer></answer>" in rows[0]["prompt"]
    assert {r["verifier"] for r in rows} == {"gsm8k"}


def test_math500_subject_and_level(tmp_path):
    rows = _rows("math500", tmp_path)
    assert rows[0]["id"] == "math500/test/algebra/1.json"
    assert [(r["meta"]["subject"], r["meta"]["difficulty"]) for r in rows] == [
        ("Algebra", "level 1"), ("Geometry", "level 3")]
    assert rows[1]["verifier"] == "math"


def test_aime2024_exam_and_difficulty_from_url(tmp_path):
    rows = _rows("aime2024", tmp_path)
    assert [r["id"] for r in rows] == ["aime2024/60", "aime2024/85"]
    assert [(r["meta"]["subject"], r["meta"]["difficulty"]) for r in rows] == [
        ("AIME I", "problems 1-5"), ("AIME II", "problems 11-15")]
    assert rows[1]["answer"] == "033"
    assert score("math", "<answer>33</answer>", rows[1]["answer"]) == 1.0


def test_aime2025_from_jsonl(tmp_path):
    rows = _rows("aime2025", tmp_path)
    assert [r["id"] for r in rows] == ["aime2025/00000", "aime2025/00001"]
    assert [r["answer"] for r in rows] == ["70", "588"]
    assert rows[0]["meta"]["subject"] is None  # an export has no config: exam unknown


def test_mathvista_choices_become_letters(tmp_path):
    rows = _rows("mathvista", tmp_path)
    choice, number, text = rows
    assert choice["verifier"] == "choice" and choice["answer"] == "B"  # "145°" is option B
    assert "(A) 35°\n(B) 145°\n(C) 55°" in choice["prompt"]
    assert "letter of the correct option" in choice["prompt"]
    assert number["verifier"] == "numeric" and number["answer"] == "1.5"
    assert "1 decimal place (unit: cm)" in number["prompt"]
    assert text["verifier"] == "exact"
    assert choice["meta"]["subject"] == "geometry problem solving"
    assert choice["meta"]["difficulty"] == "high school"
    assert all(len(r["images"]) == 1 for r in rows)
    _decodes(choice["images"])
    assert score("choice", "<answer>(B)</answer>", choice["answer"]) == 1.0


def test_mathvision_options_and_free_form(tmp_path):
    rows = _rows("mathvision", tmp_path)
    assert rows[0]["verifier"] == "choice" and rows[0]["answer"] == "B"
    assert "(A) $1$\n(B) $2$\n(C) $3$" in rows[0]["prompt"]
    assert rows[1]["verifier"] == "math" and rows[1]["answer"] == "12"
    assert [(r["meta"]["subject"], r["meta"]["difficulty"]) for r in rows] == [
        ("logic", "level 2"), ("counting", "level 4")]
    _decodes(rows[1]["images"])


def test_mmmu_options_literal_images_and_subject_from_id(tmp_path):
    rows = _rows("mmmu", tmp_path)
    accounting, art, open_question = rows
    assert accounting["id"] == "mmmu/validation_Accounting_1"
    assert "(C) $30" in accounting["prompt"] and accounting["answer"] == "C"
    assert len(accounting["images"]) == 1 and len(art["images"]) == 2
    assert [r["meta"]["subject"] for r in rows] == ["Accounting", "Art_Theory", "Math"]
    assert [r["meta"]["difficulty"] for r in rows] == ["Easy", "Hard", "Medium"]
    assert open_question["verifier"] == "math" and open_question["answer"] == "0.5"
    assert open_question["meta"]["accepted_answers"] == ["0.5", "1/2"]
    assert open_question["images"] is None


def test_wemath_option_text_and_shared_ids(tmp_path):
    rows = _rows("wemath", tmp_path)
    assert [r["id"] for r in rows] == ["wemath/7-2steps_1", "wemath/7-2steps_multi"]
    assert "A. 3.14; B. 6.28" in rows[0]["prompt"]
    assert [r["answer"] for r in rows] == ["A", "B"]
    assert [r["meta"]["subject"] for r in rows] == ["Area of circles", "Circumference"]
    assert rows[0]["meta"]["difficulty"] == "2 steps"


def test_zerobench_numbers_graded_by_value(tmp_path):
    rows = _rows("zerobench", tmp_path)
    assert [(r["answer"], r["verifier"]) for r in rows] == [("11", "numeric"), ("Kettle", "exact")]
    assert len(rows[0]["images"]) == 2
    _decodes(rows[0]["images"])


def test_max_items_keeps_the_first_rows(tmp_path):
    rows = _rows("mmmu", tmp_path, max_items=2)
    assert [r["meta"]["subject"] for r in rows] == ["Accounting", "Art_Theory"]


def test_aliases_and_unknown_names():
    assert get_benchmark("MATH-500").name == "math500"
    assert get_benchmark("AI4Math/MathVista").name == "mathvista"
    with pytest.raises(BenchmarkError, match="unknown benchmark 'mmlu'; valid:"):
        get_benchmark("mmlu")


def test_missing_column_is_one_error_naming_it(tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"problem": ["1+1?"], "solution": ["2"]}), path)
    with pytest.raises(BenchmarkError, match=r"math500: the source lacks column\(s\) \['answer'\]"):
        load_benchmark("math500", str(path))


def test_unusable_row_is_named_unless_allowed(tmp_path):
    path = tmp_path / "gsm8k.parquet"
    pq.write_table(pa.table({"question": ["a?", "b?"], "answer": ["#### 1", "no marker"]}), path)
    with pytest.raises(BenchmarkError, match=r"1 of 2 rows cannot be used.*row 1: unparsable "
                                             r"answer: no '####' marker"):
        load_benchmark("gsm8k", str(path))
    table = load_benchmark("gsm8k", str(path), max_reject_fraction=0.5)
    assert table.column("answer").to_pylist() == ["1"]


def test_mathvista_answer_outside_choices_is_rejected():
    with pytest.raises(Exception, match="neither an option letter nor one of the 2 options"):
        letter_of("90°", ["35°", "145°"])
    assert letter_of("(B)", ["x", "y"]) == "B"
    assert letter_of("A", ["B", "A"]) == "B"  # the option text wins over a letter reading


def test_repeated_source_ids_are_kept_apart(tmp_path):
    path = tmp_path / "math500.parquet"
    pq.write_table(pa.table({"problem": ["p", "q"], "answer": ["1", "2"],
                             "unique_id": ["x", "x"]}), path)
    ids = load_benchmark("math500", str(path)).column("id").to_pylist()
    assert ids == ["math500/x", "math500/x#2"]


def test_parquet_export_on_s3(s3_root, tmp_path):
    from rlsd.storage import join, write_bytes

    local = fx.mmmu(tmp_path)
    uri = join(s3_root, "mirror", "mmmu-validation.parquet")
    with open(local, "rb") as f:
        write_bytes(f.read(), uri)
    table = load_benchmark("mmmu", uri)
    assert table.column("id").to_pylist()[0] == "mmmu/validation_Accounting_1"
    assert table.column("source").to_pylist()[0] == f"mmmu:{uri}"


def test_local_hugging_face_folder(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "MATH-500" / "data"
    folder.mkdir(parents=True)
    written = fx.math500(folder)
    (folder / "math500.parquet").rename(folder / "test-00000-of-00001.parquet")
    assert not (folder / "math500.parquet").exists() and written
    table = load_benchmark("math500", f"hf:{tmp_path / 'MATH-500'}")
    assert table.column("answer").to_pylist() == ["2", "1"]
