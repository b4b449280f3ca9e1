"""Field mappings: how a source's columns become prompt-schema fields, and the presets.

A :class:`FieldMapping` names, for each prompt-schema field, the source column that feeds it.
The default mapping is the prompt schema itself (so prepared files and own-format jsonl/parquet
load as they are); presets cover known Hugging Face data sets in their real column layout.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlsd.data.errors import DataError
from rlsd.data.rejects import MISSING_ID, UNPARSABLE_ANSWER, WRONG_TYPE, RowRejected

#: The mapping attributes that name one source column each.
COLUMN_FIELDS = (
    "prompt_field", "messages_field", "answer_field", "solution_field", "image_field",
    "id_field", "verifier_field", "source_field", "meta_field",
)


@dataclass(frozen=True)
class FieldMapping:
    """Which source column feeds which prompt-schema field (``None``: the source has none).

    ``meta_fields`` lists extra columns to keep as JSON in ``meta``; ``None`` keeps every column
    not mapped to another field. ``answer_after`` takes the answer as the text after the last
    occurrence of that marker (GSM8K: ``####``). ``required`` names the mapping attributes
    whose column must exist in the data (presets and user-set fields), so a typo in a column
    name is one early error instead of every row rejected.
    """

    prompt_field: str | None = "prompt"
    messages_field: str | None = "messages"
    answer_field: str = "answer"
    solution_field: str | None = "solution"
    image_field: str | None = "images"
    id_field: str | None = "id"
    verifier_field: str | None = "verifier"
    source_field: str | None = "source"
    meta_field: str | None = "meta"
    meta_fields: tuple[str, ...] | None = None
    answer_after: str | None = None
    verifier: str = "math"
    required: frozenset[str] = frozenset({"answer_field"})

    def override(self, **values: Any) -> FieldMapping:
        """A copy with the given non-``None`` values set; set column fields become required."""
        values = {k: v for k, v in values.items() if v is not None}
        if "meta_fields" in values:
            values["meta_fields"] = tuple(values["meta_fields"])
        required = self.required | {
            k for k in values if k in COLUMN_FIELDS or k == "meta_fields"
        }
        return dataclasses.replace(self, **values, required=frozenset(required))

    def resolve(self, columns: Sequence[str]) -> FieldMapping:
        """Bind to the actual ``columns``: optional absent columns become ``None``.

        Raises :class:`DataError` when a required column is missing.
        """
        present = set(columns)
        missing = sorted(
            f"{name}={getattr(self, name)!r}" for name in self.required
            if name in COLUMN_FIELDS and getattr(self, name) is not None and getattr(self, name) not in present
        )
        if "meta_fields" in self.required and self.meta_fields:
            missing += [f"meta_fields has {c!r}" for c in self.meta_fields if c not in present]
        if missing:
            raise DataError(
                f"column(s) not in the data: {', '.join(missing)}; columns are {sorted(present)}"
            )
        bound = {
            name: getattr(self, name) if getattr(self, name) in present else None
            for name in COLUMN_FIELDS
        }
        if bound["prompt_field"] is None and bound["messages_field"] is None:
            raise DataError(
                f"no prompt column: set prompt_field or messages_field; columns are {sorted(present)}"
            )
        if bound["answer_field"] is None:
            raise DataError(f"no answer column: set answer_field; columns are {sorted(present)}")
        used = {c for c in bound.values() if c is not None}
        meta = self.meta_fields
        if meta is None:
            meta = tuple(c for c in columns if c not in used)
        else:
            meta = tuple(c for c in meta if c in present)
        return dataclasses.replace(self, **bound, meta_fields=meta)


@dataclass(frozen=True)
class HFPreset:
    """A known Hugging Face data set: where it lives and how its columns map."""

    name: str
    hf_id: str
    hf_config: str | None
    split: str
    mapping: FieldMapping
    aliases: tuple[str, ...] = field(default_factory=tuple)


_NO_OWN_COLUMNS = dict(
    messages_field=None, image_field=None, verifier_field=None, source_field=None, meta_field=None
)

#: GSM8K, config ``main``: columns ``question``, ``answer`` (worked solution ending ``#### N``).
GSM8K = HFPreset(
    name="gsm8k", hf_id="openai/gsm8k", hf_config="main", split="train",
    mapping=FieldMapping(
        prompt_field="question", answer_field="answer", solution_field="answer", id_field=None,
        meta_fields=(), answer_after="####", verifier="gsm8k",
        required=frozenset({"prompt_field", "answer_field"}), **_NO_OWN_COLUMNS,
    ),
    aliases=("gsm8k", "openai/gsm8k"),
)

#: MATH-500: columns ``problem``, ``solution``, ``answer``, ``subject``, ``level`` (int),
#: ``unique_id`` (e.g. ``test/precalculus/807.json``); one split, ``test``.
MATH500 = HFPreset(
    name="math500", hf_id="HuggingFaceH4/MATH-500", hf_config=None, split="test",
    mapping=FieldMapping(
        prompt_field="problem", answer_field="answer", solution_field="solution",
        id_field="unique_id", meta_fields=("subject", "level"), verifier="math",
        required=frozenset({"prompt_field", "answer_field", "solution_field", "id_field"}),
        **_NO_OWN_COLUMNS,
    ),
    aliases=("math500", "math-500", "huggingfaceh4/math-500"),
)

PRESETS: dict[str, HFPreset] = {alias: p for p in (GSM8K, MATH500) for alias in p.aliases}


def find_preset(source: str) -> HFPreset | None:
    """The preset whose name or Hugging Face id is ``source`` (case-insensitive), if any."""
    return PRESETS.get(source.strip().lower())


def _meta(raw: Mapping[str, Any], mapping: FieldMapping) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if mapping.meta_field is not None and raw.get(mapping.meta_field) is not None:
        value = raw[mapping.meta_field]
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise RowRejected(WRONG_TYPE, f"meta is not JSON: {exc}") from exc
        if not isinstance(value, Mapping):
            raise RowRejected(WRONG_TYPE, f"meta must be a JSON object, got {type(value).__name__}")
        meta.update(value)
    for column in mapping.meta_fields or ():
        meta[column] = raw.get(column)
    return meta


def map_row(raw: Mapping[str, Any], mapping: FieldMapping, index: int, id_prefix: str,
            source: str) -> dict[str, Any]:
    """Pick the prompt-schema fields out of one source row, values as found (no type checks).

    ``mapping`` must be resolved (:meth:`FieldMapping.resolve`). Rows without an id column get
    ``{id_prefix}-{index:06d}``, stable for a given source order. Raises :class:`RowRejected`
    for a missing id or an answer without the ``answer_after`` marker.
    """
    def get(name: str | None) -> Any:
        return raw.get(name) if name is not None else None

    if mapping.id_field is None:
        row_id: Any = f"{id_prefix}-{index:06d}"
    else:
        row_id = raw.get(mapping.id_field)
        if row_id is None or (isinstance(row_id, str) and not row_id.strip()):
            raise RowRejected(MISSING_ID, f"column {mapping.id_field!r} is empty")

    answer = get(mapping.answer_field)
    if mapping.answer_after is not None and isinstance(answer, str):
        marker = mapping.answer_after
        if marker not in answer:
            raise RowRejected(UNPARSABLE_ANSWER, f"no {marker!r} marker in answer {answer[-80:]!r}")
        answer = answer.rsplit(marker, 1)[1]

    return {
        "id": row_id,
        "prompt": get(mapping.prompt_field),
        "messages": get(mapping.messages_field),
        "answer": answer,
        "solution": get(mapping.solution_field),
        "images": get(mapping.image_field),
        "verifier": get(mapping.verifier_field) or mapping.verifier,
        "source": get(mapping.source_field) or source,
        "meta": _meta(raw, mapping),
    }
