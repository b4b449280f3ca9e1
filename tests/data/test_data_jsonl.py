"""JSON-lines reading (issue 11, kinds 6 and 15): no row is lost or altered silently.

Records end at ``\\n`` (optionally ``\\r\\n``) only; a UTF-8 byte-order mark is dropped; bad
bytes reject their own line, named by line number and byte offset, never repaired.
"""

from __future__ import annotations

import base64
import json

import pytest

from rlsd.data import DataConfig, DataError, prepare, write_outputs
from rlsd.data.prompt_format import format_prompt
from rlsd.data.sources import parse_jsonl

BOM = "\ufeff"


def _good(i: int) -> dict:
    return {"id": f"g{i}", "prompt": f"What is {i} + 1?", "answer": str(i + 1),
            "verifier": "numeric"}


def _prepared(result) -> dict[str, dict]:
    return {r["id"]: r for r in result.train.to_pylist() + result.eval.to_pylist()}


@pytest.mark.parametrize("bom", ["", BOM], ids=["no-bom", "bom"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("final_newline", [True, False], ids=["final-newline", "no-final"])
def test_bom_and_crlf_files_keep_every_row(tmp_path, bom, newline, final_newline):
    # Three rows: losing the first one to the rejects is 33% and fails the default 5% limit.
    lines = [json.dumps(_good(i)) for i in range(3)]
    path = tmp_path / "windows.jsonl"
    path.write_bytes((bom + newline.join(lines) + (newline if final_newline else "")).encode())
    result = prepare(DataConfig(source=str(path), n_eval=1))
    assert result.ok and result.rejects == []
    assert result.summary["rows_read"] == 3
    rows = _prepared(result)
    assert sorted(rows) == ["g0", "g1", "g2"]
    assert rows["g0"]["prompt"] == format_prompt("What is 0 + 1?")  # no BOM or \r left in text
    assert rows["g2"]["answer"] == "3"
    write_outputs(result, str(tmp_path / "out"))  # and the step passes


def test_a_bom_at_the_start_of_a_later_line_is_dropped_too(tmp_path):
    # `cat a.jsonl b.jsonl` of two BOM files leaves a mark at the start of b's first line.
    path = tmp_path / "joined.jsonl"
    path.write_bytes((BOM + json.dumps(_good(0)) + "\r\n" + BOM + json.dumps(_good(1))
                      + "\r\n").encode())
    result = prepare(DataConfig(source=str(path), n_eval=0))
    assert result.rejects == [] and sorted(_prepared(result)) == ["g0", "g1"]


def test_a_bom_inside_a_string_is_data_and_kept():
    text = {"id": "a", "prompt": f"x{BOM}y", "answer": "1"}
    rows, rejects = parse_jsonl((BOM + json.dumps(text, ensure_ascii=False) + "\n").encode())
    assert rejects == [] and rows == [text]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"],
                         ids=["line-separator", "paragraph-separator", "nel"])
def test_unicode_line_breaks_inside_strings_do_not_split_records(tmp_path, separator):
    question = f"First line{separator}second line: what is 6 * 7?"
    row = {"id": "u", "prompt": question, "answer": "42", "solution": f"6 * 7{separator}= 42"}
    encoded = json.dumps(row, ensure_ascii=False)
    assert separator in encoded  # written raw, as JSON allows (not as a \u escape)
    path = tmp_path / "u.jsonl"
    path.write_bytes((json.dumps(_good(0)) + "\n" + encoded + "\n").encode())
    result = prepare(DataConfig(source=str(path), n_eval=0))
    assert result.rejects == [] and result.summary["rows_read"] == 2
    out = _prepared(result)["u"]
    assert out["prompt"] == format_prompt(question)  # the separator is still in the text
    assert out["solution"] == f"6 * 7{separator}= 42"


def test_invalid_utf8_rejects_its_line_with_position_and_keeps_the_bytes(tmp_path):
    first = json.dumps(_good(0)).encode()
    bad = b'{"id": "bad", "prompt": "caf\xe9?", "answer": "1"}'  # Latin-1 e-acute
    last = json.dumps(_good(2)).encode()
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(first + b"\r\n" + bad + b"\r\n" + last + b"\r\n")
    result = prepare(DataConfig(source=str(path), n_eval=0, max_reject_fraction=0.5))
    assert sorted(_prepared(result)) == ["g0", "g2"]  # the neighbours are untouched
    assert result.summary["rows_read"] == 3
    assert result.summary["rejects_by_reason"] == {"invalid utf-8": 1}
    [reject] = result.rejects
    offset = len(first) + 2 + bad.index(b"\xe9")
    assert reject["index"] == 1
    assert reject["detail"] == (
        f"line 2, byte offset {offset}: not UTF-8 (invalid continuation byte: e9); "
        "save the file as UTF-8")
    assert base64.b64decode(reject["row"]["base64"]) == bad  # original bytes, no U+FFFD

    paths = write_outputs(result, str(tmp_path / "out"))
    [line] = (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()
    assert json.loads(line) == reject and "\ufffd" not in line
    assert "\ufffd" not in json.dumps(_prepared(result), ensure_ascii=False)
    assert paths["train.parquet"].endswith("train.parquet")


def test_undecodable_rows_count_against_the_reject_limit(tmp_path):
    path = tmp_path / "latin1.jsonl"
    rows = [json.dumps(_good(i)) for i in range(9)] + [json.dumps({**_good(9), "prompt": "\xe9"},
                                                                  ensure_ascii=False)]
    path.write_bytes("\n".join(rows).encode("latin-1"))
    result = prepare(DataConfig(source=str(path)))
    assert not result.ok and result.summary["rejects_by_reason"] == {"invalid utf-8": 1}
    with pytest.raises(DataError, match=r"1 of 10 rows \(10.0%\) rejected.*invalid utf-8 \(1\)"):
        result.check()


def test_a_lone_surrogate_escape_is_rejected_not_a_crash():
    data = (b'{"id": "s", "prompt": "x \\ud800 y", "answer": "1"}\n'
            b'{"id": "p", "prompt": "smile \\ud83d\\ude00", "answer": "1"}\n')
    rows, rejects = parse_jsonl(data)
    assert [r["id"] for r in rows] == ["p"] and rows[0]["prompt"] == "smile \U0001F600"
    assert [(r["index"], r["reason"]) for r in rejects] == [(0, "invalid utf-8")]
    assert rejects[0]["detail"].startswith("line 1, byte offset 0: a string holds the lone "
                                           "surrogate U+D800")
    assert rejects[0]["row"] == data.split(b"\n")[0].decode()


@pytest.mark.parametrize("encoding, name", [("utf-16", "UTF-16 LE"), ("utf-16-be", None),
                                            ("utf-32", "UTF-32 LE")])
def test_utf16_and_utf32_files_fail_with_one_error(tmp_path, encoding, name):
    path = tmp_path / "wide.jsonl"
    text = json.dumps(_good(0)) + "\n"
    data = text.encode(encoding)
    if name is None:  # Python's utf-16-be writes no mark; add the one Windows writes
        data, name = b"\xfe\xff" + data, "UTF-16 BE"
    path.write_bytes(data)
    with pytest.raises(DataError, match=f"^{path} is {name} text .*save the file as UTF-8$"):
        prepare(DataConfig(source=str(path)))


def test_only_spaces_and_tabs_make_a_blank_line():
    data = (json.dumps(_good(0)) + "\n \t\r\n\n\f\n" + json.dumps(_good(1))).encode()
    rows, rejects = parse_jsonl(data)
    assert [r["id"] for r in rows] == ["g0", "g1"]
    # A form feed is not JSON whitespace: that line is reported, not skipped.
    assert [(r["index"], r["reason"], r["row"]) for r in rejects] == [(3, "invalid json", "\f")]
    line_4_starts_at = len(json.dumps(_good(0))) + len("\n \t\r\n\n")
    assert rejects[0]["detail"] == f"line 4, byte offset {line_4_starts_at}: Expecting value"


def test_a_bom_only_file_has_no_rows(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(BOM.encode() + b"\r\n")
    with pytest.raises(DataError, match="has no rows"):
        prepare(DataConfig(source=str(path)))
