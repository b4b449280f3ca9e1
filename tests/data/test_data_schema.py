"""The prompt schema, the shared prompt template and the config's checks."""

from __future__ import annotations

import pyarrow as pa
import pytest

from rlsd.config import ConfigError, from_dict
from rlsd.data import (
    PROMPT_SCHEMA,
    PROMPT_TEMPLATE,
    DataConfig,
    DataError,
    conform_prompt_table,
    format_prompt,
)


def test_schema_columns_types_and_nullability():
    assert PROMPT_SCHEMA.names == ["id", "prompt", "messages", "answer", "solution", "images",
                                   "verifier", "source", "meta"]
    assert not PROMPT_SCHEMA.field("id").nullable and not PROMPT_SCHEMA.field("answer").nullable
    assert PROMPT_SCHEMA.field("prompt").nullable and PROMPT_SCHEMA.field("messages").nullable
    assert PROMPT_SCHEMA.field("images").type == pa.list_(pa.binary())
    message = PROMPT_SCHEMA.field("messages").type.value_type
    assert [f.name for f in message] == ["role", "content"]


def test_format_prompt_asks_for_the_paper_format_and_is_idempotent():
    text = format_prompt("What is 2 + 2?")
    assert text == ("What is 2 + 2?\n\nThink step by step inside <thought></thought>, then put "
                    "only the final answer inside <answer></answer>.")
    assert format_prompt(text) == text
    assert format_prompt("Solve \\boxed{x}.", "Q: {question} A:") == "Q: Solve \\boxed{x}. A:"
    assert format_prompt("as is", "{question}") == "as is"
    assert "{question}" in PROMPT_TEMPLATE


def test_conform_prompt_table_names_what_is_wrong():
    with pytest.raises(DataError, match=r"lacks column\(s\) \['messages', 'solution', 'images', "):
        conform_prompt_table(pa.table({"id": ["a"], "prompt": ["p"], "answer": ["1"]}))
    row = {"meta": None, "source": "s", "verifier": "exact", "images": [b"\x89PNG"],
           "solution": None, "answer": "hi", "messages": [{"role": "user", "content": "q"}],
           "prompt": None, "id": "a"}
    loose = pa.Table.from_pylist([row])  # inferred types (null columns), other column order
    conformed = conform_prompt_table(loose)
    assert conformed.schema == PROMPT_SCHEMA and conformed.to_pylist() == [
        {name: row[name] for name in PROMPT_SCHEMA.names}]
    with pytest.raises(DataError, match="column 'answer' has 1 null"):
        conform_prompt_table(loose.set_column(loose.schema.get_field_index("answer"), "answer",
                                              pa.array([None], pa.string())))


@pytest.mark.parametrize("values, message", [
    ({"synthetic_difficulty": 9}, "synthetic_difficulty' must be in 1..6"),
    ({"eval_fraction": 1.5}, "eval_fraction' must be in"),
    ({"max_reject_fraction": -0.1}, "max_reject_fraction' must be in"),
    ({"prompt_template": "no slot"}, "must contain {question} exactly once"),
    ({"n_eval": -1}, "n_eval' must be >= 0"),
    ({"sorce": "x"}, r"unknown setting\(s\) \['sorce'\]"),
])
def test_config_errors_name_the_setting(values, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(DataConfig, values)


def test_config_fields_have_help():
    import dataclasses

    assert all(f.metadata.get("help") for f in dataclasses.fields(DataConfig))
