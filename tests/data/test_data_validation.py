"""Validation: every bad-row reason lands in the rejects with the right count, lossless;
the reject-fraction limit fails with one message after the rejects are written."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from rlsd.data import REASONS, DataConfig, DataError, FieldMapping, prepare, write_outputs
from rlsd.data.rejects import json_safe
from rlsd.data.sources import source_from_rows


def _good(i: int) -> dict:
    return {"id": f"g{i}", "prompt": f"What is {i} + 1?", "answer": str(i + 1),
            "verifier": "numeric"}


def _bad_rows(png: bytes) -> list[tuple[str, dict]]:
    """(expected reason, row) for every reason a row can be rejected for (invalid json and
    invalid utf-8 are file-level reasons, tested below and in test_data_jsonl.py)."""
    p = {"prompt": "What is 1 + 1?", "verifier": "numeric"}
    return [
        ("missing id", {"id": None, **p, "answer": "2"}),
        ("missing id", {"id": "   ", **p, "answer": "2"}),
        ("duplicate id", {"id": "g0", **p, "answer": "2"}),
        ("duplicate id", {"id": "g0", **p, "answer": "3"}),
        ("missing answer", {"id": "m1", **p, "answer": None}),
        ("missing answer", {"id": "m2", **p}),
        ("missing answer", {"id": "m3", **p, "answer": None, "solution": "1 + 1 = 2"}),
        ("empty answer", {"id": "e1", **p, "answer": ""}),
        ("empty answer", {"id": "e2", **p, "answer": "  \n"}),
        ("empty prompt", {"id": "p1", "prompt": "   ", "answer": "2"}),
        ("empty prompt", {"id": "p2", "messages": [{"role": "system", "content": "Hi."},
                                                   {"role": "user", "content": " "}],
                          "answer": "2"}),
        ("both prompt and messages", {"id": "b1", **p, "answer": "2",
                                      "messages": [{"role": "user", "content": "q"}]}),
        ("neither prompt nor messages", {"id": "n1", "answer": "2"}),
        ("wrong type", {"id": "w1", **p, "answer": {"value": 2}}),
        ("wrong type", {"id": "w2", "prompt": ["What", "is"], "answer": "2"}),
        ("wrong type", {"id": "w3", **p, "answer": True}),
        ("wrong type", {"id": "w4", "messages": [{"role": "robot", "content": "q"}],
                        "answer": "2"}),
        ("wrong type", {"id": "w5", **p, "answer": "2", "images": [5]}),
        ("undecodable image", {"id": "i1", **p, "answer": "2", "images": [b"not an image"]}),
        ("undecodable image", {"id": "i2", **p, "answer": "2", "images": [png[:-20]]}),
        ("undecodable image", {"id": "i3", **p, "answer": "2",
                               "images": ["data:image/png;base64,@@@"]}),
        ("prompt too long", {"id": "l1", "prompt": "x" * 250, "answer": "2"}),
        ("unknown verifier", {"id": "v1", **p, "answer": "2", "verifier": "lean"}),
        ("assistant turn after question", {
            "id": "a1", "answer": "2", "solution": "1 + 1 = 2",
            "messages": [{"role": "user", "content": "1 + 1?"},
                         {"role": "assistant", "content": "It is 2."}]}),
        ("assistant turn after question", {
            "id": "a2", "answer": "2",
            "messages": [{"role": "user", "content": "1 + 1?"},
                         {"role": "assistant", "content": "It is 2."},
                         {"role": "assistant", "content": "Really, 2."}]}),
    ]


def test_every_reason_is_counted_and_keeps_the_original_row(png, tmp_path):
    bad = _bad_rows(png)
    rows = [_good(i) for i in range(10)] + [row for _, row in bad]
    src = source_from_rows(rows, FieldMapping(), "test")
    config = DataConfig(source="test", max_prompt_chars=300, known_verifiers=["math", "numeric"],
                        max_reject_fraction=1.0, n_eval=2)
    result = prepare(config, source=src)

    expected: dict[str, int] = {}
    for reason, _ in bad:
        expected[reason] = expected.get(reason, 0) + 1
    assert result.summary["rejects_by_reason"] == expected
    assert set(expected) | {"invalid json", "invalid utf-8", "unparsable answer"} == set(REASONS)
    assert result.summary["rows_read"] == 10 + len(bad)
    assert result.summary["rows_valid"] == 10
    assert result.train.num_rows + result.eval.num_rows == 10

    # Each reject names its source row and carries that row unchanged (bytes as base64).
    assert [(r["index"], r["reason"]) for r in result.rejects] == [
        (10 + i, reason) for i, (reason, _) in enumerate(bad)]
    for record, (_, row) in zip(result.rejects, bad, strict=True):
        assert record["row"] == json_safe(row)
    image_reject = next(r for r in result.rejects if r["row"].get("id") == "i1")
    assert base64.b64decode(image_reject["row"]["images"][0]["base64"]) == b"not an image"
    assert "already used by row 0" in next(
        r["detail"] for r in result.rejects if r["reason"] == "duplicate id")

    paths = write_outputs(result, str(tmp_path / "out"))
    lines = Path(paths["rejects.jsonl"]).read_text().splitlines()
    assert [json.loads(line) for line in lines] == result.rejects


def test_invalid_json_lines_are_rejects(tmp_path):
    path = tmp_path / "d.jsonl"
    good = [json.dumps(_good(i)) for i in range(3)]
    path.write_text("\n".join([good[0], "{not json", good[1], "[1, 2]", good[2]]) + "\n")
    result = prepare(DataConfig(source=str(path), max_reject_fraction=1.0, n_eval=1))
    assert result.summary["rejects_by_reason"] == {"invalid json": 2}
    assert result.summary["rows_read"] == 5 and result.summary["rows_valid"] == 3
    assert [r["row"] for r in result.rejects] == ["{not json", [1, 2]]
    assert result.rejects[0]["detail"] == (
        f"line 2, byte offset {len(good[0]) + 2}: Expecting property name enclosed in double quotes")
    assert result.rejects[1]["detail"] == (
        f"line 4, byte offset {len(good[0]) + len(good[1]) + 12}: a JSON list, expected an object")


def test_lossless_conversions_are_accepted(png, gif):
    rows = [
        {"id": 7, "prompt": "What is 1.5 + 1.5?", "answer": 3.0},
        {"id": "f", "prompt": "What is 1 / 4?", "answer": 0.25},
        {"id": "c", "messages": json.dumps([{"role": "user", "content": "Say hi."}]),
         "answer": "hi"},
        {"id": "g", "prompt": "Colour?", "answer": "red", "images": gif},
        {"id": "s", "prompt": "Colour?", "answer": "red", "images": {"bytes": png, "path": None}},
    ]
    result = prepare(DataConfig(n_eval=0), source=source_from_rows(rows, FieldMapping(), "t"))
    assert result.rejects == []
    out = {r["id"]: r for r in result.train.to_pylist()}
    assert out["7"]["answer"] == "3" and out["f"]["answer"] == "0.25"
    assert out["c"]["messages"][0]["content"].startswith("Say hi.\n\n")
    converted = out["g"]["images"][0]
    assert converted.startswith(b"\x89PNG") and converted != gif  # GIF re-encoded as PNG
    assert out["s"]["images"] == [png]


def _threshold_rows(n_good: int, n_empty: int, n_dup: int) -> list[dict]:
    rows = [_good(i) for i in range(n_good)]
    rows += [{**_good(1000 + i), "answer": ""} for i in range(n_empty)]
    rows += [{**_good(i), "answer": "0"} for i in range(n_dup)]
    return rows


def test_too_many_rejects_fail_with_one_message_after_writing_the_rejects(tmp_path):
    src = source_from_rows(_threshold_rows(463, 30, 7), FieldMapping(), "t")
    result = prepare(DataConfig(), source=src)
    assert not result.ok
    with pytest.raises(DataError) as excinfo:
        result.check()
    assert str(excinfo.value).endswith("rejects not written yet")

    out = tmp_path / "out"
    rejects_path = out / "rejects.jsonl"
    with pytest.raises(DataError) as excinfo:
        write_outputs(result, str(out))
    assert str(excinfo.value) == (
        "37 of 500 rows (7.4%) rejected, above max_reject_fraction=0.05; first reasons: "
        f"empty answer (30), duplicate id (7); see rejects at {rejects_path}"
    )
    # Nothing is lost: every reject is on disk, the summary says why, no splits are written.
    assert len(rejects_path.read_text().splitlines()) == 37
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] is False and summary["rejects_by_reason"] == {
        "empty answer": 30, "duplicate id": 7}
    assert not (out / "train.parquet").exists() and not (out / "eval.parquet").exists()


def test_a_fraction_exactly_at_the_limit_passes():
    src = source_from_rows(_threshold_rows(475, 25, 0), FieldMapping(), "t")
    result = prepare(DataConfig(), source=src)
    assert result.ok and result.summary["reject_fraction"] == 0.05
    assert result.train.num_rows + result.eval.num_rows == 475
