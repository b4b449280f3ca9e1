"""Chat rows whose last turn is the assistant's (issue 11, kind 16).

A final assistant turn is the data set's worked answer: data prep moves it to ``solution``
(the self-teacher's hint) and out of the student prompt, or rejects the row when it already
has a solution. No assistant turn after the question ever reaches the student prompt.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlsd.data import DataConfig, DataError, prepare, read_prompts, write_outputs
from rlsd.data.prompt_format import format_prompt
from rlsd.data.schema import PROMPT_SCHEMA, answer_turns
from rlsd.prompting import hint_text, student_messages, teacher_messages


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def system(text: str) -> dict:
    return {"role": "system", "content": text}


QUESTION = format_prompt("6*7?")

#: (row, expected prepared messages, expected solution) for chat rows data prep accepts.
ACCEPTED = [
    # The example: the reference is moved out of the prompt into solution.
    ({"id": "final", "messages": [user("6*7?"), assistant("The answer is 42.")], "answer": "42"},
     [user(QUESTION)], "The answer is 42."),
    # Chat turns stored as JSON text are read the same way.
    ({"id": "json-text", "messages": json.dumps([user("6*7?"), assistant(" 6*7 = 42 ")]),
      "answer": "42"},
     [user(QUESTION)], "6*7 = 42"),
    # A blank solution column is no solution.
    ({"id": "blank-solution", "messages": [system("Be brief."), user("6*7?"), assistant("42")],
      "answer": "42", "solution": "  "},
     [system("Be brief."), user(QUESTION)], "42"),
    # A blank final assistant turn holds nothing: dropped, the row's own solution kept.
    ({"id": "blank-turn", "messages": [user("6*7?"), assistant(" ")], "answer": "42",
      "solution": "6*7 = 42"},
     [user(QUESTION)], "6*7 = 42"),
    # Assistant turns before the question are few-shot examples and stay.
    ({"id": "few-shot", "messages": [user("1+1?"), assistant("2"), user("6*7?")], "answer": "42"},
     [user("1+1?"), assistant("2"), user(QUESTION)], None),
    # Few-shot turns stay, and the answer after the real question still moves.
    ({"id": "few-shot-final", "messages": [user("1+1?"), assistant("2"), user("6*7?"),
                                           assistant("42")], "answer": "42"},
     [user("1+1?"), assistant("2"), user(QUESTION)], "42"),
]

#: (row, words the reject detail must hold) for chat rows data prep rejects.
REJECTED = [
    ({"id": "two-references", "messages": [user("6*7?"), assistant("The answer is 42.")],
      "answer": "42", "solution": "6*7 = 42"}, "the row has a solution too"),
    ({"id": "two-turns", "messages": [user("6*7?"), assistant("Let me see."),
                                      assistant("The answer is 42.")], "answer": "42"},
     "['assistant', 'assistant']"),
    # The answer followed by a blank user turn would still sit in the student prompt.
    ({"id": "then-blank-user", "messages": [user("6*7?"), assistant("42"), user("  ")],
      "answer": "42"}, "['assistant', 'user']"),
    ({"id": "then-system", "messages": [user("6*7?"), assistant("42"), system("Check it.")],
      "answer": "42"}, "['assistant', 'system']"),
]


@pytest.fixture
def prepared(tmp_path):
    """The ACCEPTED and REJECTED rows prepared from a jsonl file, and the written outputs."""
    path = tmp_path / "chat.jsonl"
    rows = [row for row, *_ in ACCEPTED] + [row for row, _ in REJECTED]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = prepare(DataConfig(source=str(path), n_eval=2, max_reject_fraction=1.0,
                                max_prompt_chars=200))
    paths = write_outputs(result, str(tmp_path / "out"))
    out = {r["id"]: r for name in ("train.parquet", "eval.parquet")
           for r in read_prompts(paths[name]).to_pylist()}
    return result, out


@pytest.mark.parametrize("row, messages, solution", ACCEPTED, ids=[r["id"] for r, *_ in ACCEPTED])
def test_a_final_assistant_turn_becomes_the_solution(prepared, row, messages, solution):
    _, out = prepared
    got = out[row["id"]]
    assert got["messages"] == messages
    assert got["solution"] == solution
    assert got["prompt"] is None and got["answer"] == "42"


def test_the_student_never_sees_the_reference_and_the_teacher_does(prepared):
    _, out = prepared
    row = out["final"]
    student = student_messages(row)
    assert student == [user(QUESTION)]
    assert "42" not in json.dumps(student)
    assert hint_text(row) == "The answer is 42."  # auto: the solution, not the bare answer
    assert "Here is a reference solution: The answer is 42." in teacher_messages(row)[-1]["content"]
    for prepared_row in out.values():
        assert answer_turns(prepared_row["messages"]) == []


@pytest.mark.parametrize("row, detail", REJECTED, ids=[r["id"] for r, _ in REJECTED])
def test_an_assistant_turn_that_cannot_be_the_solution_rejects_the_row(prepared, row, detail):
    result, out = prepared
    assert row["id"] not in out
    [reject] = [r for r in result.rejects if r["row"]["id"] == row["id"]]
    assert reject["reason"] == "assistant turn after question"
    assert detail in reject["detail"]
    assert reject["row"] == row  # kept as it came


def test_the_summary_counts_the_chat_rejects(prepared):
    result, _ = prepared
    assert result.summary["rejects_by_reason"] == {"assistant turn after question": len(REJECTED)}
    assert result.summary["rows_valid"] == len(ACCEPTED)


def test_the_moved_turn_does_not_count_toward_the_prompt_length(tmp_path):
    long_solution = "6*7: " + "add 6 seven times. " * 20 + "So 42."
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"id": "x", "messages": [user("6*7?"), assistant(long_solution)],
                                "answer": "42"}) + "\n")
    result = prepare(DataConfig(source=str(path), n_eval=0, max_prompt_chars=200))
    assert result.rejects == []
    assert result.train.to_pylist()[0]["solution"] == long_solution


def test_a_parquet_with_a_custom_messages_column_is_handled_the_same(tmp_path):
    path = tmp_path / "chat.parquet"
    pq.write_table(pa.table({
        "conversation": [[user("6*7?"), assistant("The answer is 42.")]],
        "label": ["42"],
    }), path)
    result = prepare(DataConfig(source=str(path), messages_field="conversation",
                                answer_field="label", n_eval=0))
    [row] = result.train.to_pylist()
    assert row["messages"] == [user(QUESTION)] and row["solution"] == "The answer is 42."


def test_reading_a_table_whose_messages_end_with_the_answer_fails(tmp_path):
    rows = [
        {"id": "ok", "prompt": None, "messages": [user("q")], "answer": "1", "solution": None,
         "images": None, "verifier": "exact", "source": "hand", "meta": None},
        {"id": "leaky", "prompt": None, "messages": [user("6*7?"), assistant("42")],
         "answer": "42", "solution": None, "images": None, "verifier": "exact",
         "source": "hand", "meta": None},
    ]
    path = tmp_path / "hand-made.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=PROMPT_SCHEMA), path)
    with pytest.raises(DataError, match=r"row\(s\) \['leaky'\] have an assistant turn after "
                                        r"the last user turn"):
        read_prompts(str(path))
    # Preparing it again moves the turn, and the result reads back.
    result = prepare(DataConfig(source=str(path), n_eval=0))
    write_outputs(result, str(tmp_path / "out"))
    again = {r["id"]: r for r in read_prompts(str(tmp_path / "out" / "train.parquet")).to_pylist()}
    assert again["leaky"]["messages"] == [user(format_prompt("6*7?"))]
    assert again["leaky"]["solution"] == "42"


@pytest.mark.parametrize("messages, expected", [
    (None, []),
    ([user("q")], []),
    ([user("q"), assistant("a")], [1]),
    ([user("q"), assistant("a"), user(" ")], [1]),
    ([assistant("a"), user("q")], []),
    ([system("s"), assistant("a")], [1]),  # no question at all: every assistant turn
])
def test_answer_turns(messages, expected):
    assert answer_turns(messages) == expected
