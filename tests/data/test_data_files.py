"""Local jsonl and parquet sources read through rlsd.data.io, with and without mappings."""

from __future__ import annotations

import base64
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlsd.data import PROMPT_SCHEMA, DataConfig, DataError, prepare
from rlsd.data.prompt_format import format_prompt


def _rows(result):
    return {r["id"]: r for r in result.train.to_pylist() + result.eval.to_pylist()}


def test_jsonl_in_the_prompt_schema_loads_as_is(tmp_path, png):
    path = tmp_path / "own.jsonl"
    lines = [
        {"id": "a", "prompt": "What is 1 + 1?", "answer": "2", "verifier": "numeric",
         "meta": json.dumps({"difficulty": 1})},
        {"id": "b", "messages": [{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": "Name the colour of the sky."}],
         "answer": "blue", "verifier": "exact",
         "images": ["data:image/png;base64," + base64.b64encode(png).decode()]},
        {"id": "c", "prompt": "What is 2 + 2?", "answer": 4, "solution": "2 + 2 = 4"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")  # trailing blank line
    result = prepare(DataConfig(source=str(path), n_eval=1))
    rows = _rows(result)
    assert sorted(rows) == ["a", "b", "c"]
    assert rows["a"]["prompt"] == format_prompt("What is 1 + 1?")
    assert json.loads(rows["a"]["meta"]) == {"difficulty": 1}
    assert rows["b"]["prompt"] is None
    assert rows["b"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": format_prompt("Name the colour of the sky.")},
    ]
    assert rows["b"]["images"] == [png]
    assert rows["c"]["answer"] == "4" and rows["c"]["verifier"] == "math"  # default verifier
    assert rows["a"]["source"] == f"file:{path}"
    assert result.summary["rows_read"] == 3


def test_parquet_with_a_custom_mapping_and_image_bytes(tmp_path, png, jpeg):
    path = tmp_path / "vqa.parquet"
    table = pa.table({
        "question": ["Which colour dominates?", "How many pixels wide?"],
        "label": ["red", "4"],
        "img": [png, jpeg],
        "split_name": ["x", "y"],
    })
    pq.write_table(table, path)
    config = DataConfig(source=str(path), prompt_field="question", answer_field="label",
                        image_field="img", meta_fields=[], verifier="exact", n_eval=0)
    result = prepare(config)
    rows = result.train.to_pylist()
    # No id column: ids are the file stem and the row index.
    assert sorted(r["id"] for r in rows) == ["vqa-000000", "vqa-000001"]
    by_id = {r["id"]: r for r in rows}
    assert by_id["vqa-000000"]["images"] == [png]
    assert by_id["vqa-000001"]["images"] == [jpeg]  # JPEG kept byte for byte
    assert all(r["meta"] is None for r in rows)  # meta_fields=[]: nothing extra kept
    assert result.train.schema == PROMPT_SCHEMA


def test_relative_image_paths_resolve_next_to_the_data_file(tmp_path, png):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "1.png").write_bytes(png)
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"id": "x", "prompt": "Describe.", "answer": "red",
                                "images": "imgs/1.png"}) + "\n")
    result = prepare(DataConfig(source=str(path), n_eval=0))
    assert result.train.column("images").to_pylist() == [[png]]


def test_a_prepared_parquet_file_can_be_prepared_again(tmp_path):
    first = prepare(DataConfig(n_eval=0, synthetic_n=10))
    path = tmp_path / "train.parquet"
    pq.write_table(first.train, path)
    again = prepare(DataConfig(source=str(path), n_eval=0))
    # Same rows; the template is not stacked twice, sources and meta are kept.
    assert sorted(again.train.to_pylist(), key=lambda r: r["id"]) == sorted(
        first.train.to_pylist(), key=lambda r: r["id"])


@pytest.mark.parametrize("source, message", [
    ("/nonexistent/x.jsonl", "no such file: /nonexistent/x.jsonl"),
    ("data.csv", "unknown source 'data.csv'"),
    ("nothing-like-a-source", "unknown source"),
])
def test_unreadable_sources_are_one_data_error(source, message):
    with pytest.raises(DataError, match=message):
        prepare(DataConfig(source=source))


def test_an_existing_file_with_an_unknown_suffix_says_which_suffixes_work(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("q,a\n")
    with pytest.raises(DataError, match=r"files must end in \.parquet or \.jsonl"):
        prepare(DataConfig(source=str(path)))


def test_an_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(DataError, match="has no rows"):
        prepare(DataConfig(source=str(path)))


def test_written_splits_read_back_in_the_prompt_schema(tmp_path):
    from rlsd.data import read_prompts, write_outputs

    result = prepare(DataConfig(synthetic_n=12, n_eval=3))
    paths = write_outputs(result, str(tmp_path / "nested" / "out"))
    assert read_prompts(paths["train.parquet"]).equals(result.train)
    assert read_prompts(paths["eval.parquet"]).equals(result.eval)
