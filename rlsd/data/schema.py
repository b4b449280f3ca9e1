"""The prompt schema: the one table layout every stage after data prep reads.

Columns (see the data-prep issue):

- ``id``: stable row id, unique within a prepared set.
- ``prompt``: the question text, already in the prompt template; null for chat-form rows.
- ``messages``: chat form (role/content turns); null for text rows. Exactly one of
  ``prompt`` / ``messages`` is set. No assistant turn follows the last user turn (the
  question): the student prompt is these turns, and such a turn would hold the answer.
- ``answer``: the reference answer the verifier compares against.
- ``solution``: a reference solution/trajectory; when present it is the self-teacher's hint
  (design.md: ``hint`` = reference answer by default, or a solution column when the data has one).
  Data prep fills it from a chat row's final assistant turn when the row has no solution.
- ``images``: encoded PNG/JPEG bytes for VLM prompts.
- ``verifier``: the verifier name (math, gsm8k, choice, numeric, exact, or a plug-in).
- ``source``: where the row came from.
- ``meta``: JSON object text for anything else (difficulty, subject, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from rlsd.data.errors import DataError

MESSAGE_TYPE = pa.struct(
    [pa.field("role", pa.string(), nullable=False), pa.field("content", pa.string(), nullable=False)]
)

PROMPT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("prompt", pa.string(), nullable=True),
        pa.field("messages", pa.list_(MESSAGE_TYPE), nullable=True),
        pa.field("answer", pa.string(), nullable=False),
        pa.field("solution", pa.string(), nullable=True),
        pa.field("images", pa.list_(pa.binary()), nullable=True),
        pa.field("verifier", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("meta", pa.string(), nullable=True),
    ]
)

#: Roles accepted in ``messages`` (the chat-template roles every HF tokenizer knows).
MESSAGE_ROLES = ("system", "user", "assistant")


def conform_prompt_table(table: pa.Table) -> pa.Table:
    """Return ``table`` cast to :data:`PROMPT_SCHEMA` (column order included).

    Raises :class:`DataError` naming every missing column, the column whose type cannot be
    cast, or the rows whose ``messages`` have an assistant turn after the question, so a stage
    that reads prompts fails on the first line instead of deep in a batch (or, for the last,
    instead of showing the student its reference answer).
    """
    missing = [name for name in PROMPT_SCHEMA.names if name not in table.column_names]
    if missing:
        raise DataError(
            f"prompt table lacks column(s) {missing}; expected {PROMPT_SCHEMA.names}, "
            f"got {table.column_names}"
        )
    table = table.select(PROMPT_SCHEMA.names)
    for field in PROMPT_SCHEMA:
        column = table.column(field.name)
        if not field.nullable and column.null_count:
            raise DataError(f"prompt table column '{field.name}' has {column.null_count} null(s)")
    try:
        table = table.cast(PROMPT_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"prompt table does not match the prompt schema: {exc}") from exc
    messages = table.column("messages")
    if messages.null_count < len(messages):  # some chat rows: check them
        leaking = [row_id for row_id, turns in zip(table.column("id").to_pylist(),
                                                   messages.to_pylist(), strict=True)
                   if answer_turns(turns)]
        if leaking:
            raise DataError(
                f"prompt table row(s) {leaking[:10]} have an assistant turn after the last user "
                "turn, which would show the student the reference; prepare the data with "
                "python -m rlsd.data (it moves a final assistant turn to 'solution')"
            )
    return table


def answer_turns(messages: Sequence[Mapping[str, Any]] | None) -> list[int]:
    """Indices of the assistant turns after the question (the last non-blank user turn; with
    none, every assistant turn) in a row's ``messages``: turns the student must never see.

    ``[]`` for a valid prompt-schema row or for ``None`` (a text row).
    """
    turns = list(messages or [])
    question = max((i for i, t in enumerate(turns)
                    if t.get("role") == "user" and (t.get("content") or "").strip()), default=-1)
    return [i for i in range(question + 1, len(turns)) if turns[i].get("role") == "assistant"]
