"""Table I/O and layout of the verification stage: rollouts + prompts in, rewards out.

Storage goes through ``rlsd.storage`` (``s3://`` URIs and local paths alike); the rewards
table's schema is the shared contract in :mod:`rlsd.schemas`.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from rlsd.schemas import REWARD_SCHEMA
from rlsd.verify.batch import VerifyItem, VerifyResult
from rlsd.verify.errors import TableError
from rlsd.verify.extract import paper_format
from rlsd.verify.settings import VerifyConfig

ROLLOUT_COLUMNS = ("prompt_id", "sample_index", "response_text")
PROMPT_COLUMNS = ("id", "answer", "verifier")

#: (prompt_id, sample_index) of each graded item, aligned with its VerifyItem.
Key = tuple[str, int]


def require_columns(table: pa.Table, columns: Sequence[str], what: str) -> None:
    """Raise :class:`TableError` naming every column of ``columns`` that ``table`` lacks."""
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise TableError(f"{what} table lacks column(s) {missing}; it has {table.column_names}")


def _prompt_rows(prompts: pa.Table, config: VerifyConfig) -> dict[str, tuple[str, str]]:
    """``id -> (answer, verifier)``; null verifiers mean ``config.default_verifier``."""
    require_columns(prompts, PROMPT_COLUMNS, "prompts")
    rows: dict[str, tuple[str, str]] = {}
    ids = prompts.column("id").to_pylist()
    answers = prompts.column("answer").to_pylist()
    verifiers = prompts.column("verifier").to_pylist()
    for pid, answer, verifier in zip(ids, answers, verifiers, strict=True):
        if pid is None:
            raise TableError("prompts table has a row with a null 'id'")
        if pid in rows:
            raise TableError(f"prompts table has duplicate id {pid!r}")
        if answer is None:
            raise TableError(f"prompt {pid!r} has a null 'answer'")
        rows[pid] = (str(answer), verifier or config.default_verifier)
    return rows


def rollout_items(
    rollouts: pa.Table, prompts: pa.Table, config: VerifyConfig
) -> tuple[list[Key], list[VerifyItem]]:
    """Join rollouts to prompts on ``prompt_id == id``: one item per rollout row, in order."""
    require_columns(rollouts, ROLLOUT_COLUMNS, "rollouts")
    if config.length_column:
        require_columns(rollouts, [config.length_column], "rollouts")
    for name in ("prompt_id", "sample_index"):
        if rollouts.column(name).null_count:
            raise TableError(
                f"rollouts column '{name}' has {rollouts.column(name).null_count} null(s)"
            )
    rows = _prompt_rows(prompts, config)
    pids = rollouts.column("prompt_id").to_pylist()
    missing = sorted({pid for pid in pids if pid not in rows}, key=str)
    if missing:
        raise TableError(
            f"{len(missing)} rollout prompt_id(s) are not in the prompts table, e.g. {missing[:5]}"
        )
    indices = rollouts.column("sample_index").to_pylist()
    texts = rollouts.column("response_text").to_pylist()
    lengths = (
        rollouts.column(config.length_column).to_pylist()
        if config.length_column
        else [None] * len(pids)
    )
    keys: list[Key] = []
    items: list[VerifyItem] = []
    for pid, index, text, length in zip(pids, indices, texts, lengths, strict=True):
        answer, verifier = rows[pid]
        keys.append((pid, int(index)))
        items.append(
            VerifyItem(text or "", answer, verifier, None if length is None else int(length))
        )
    return keys, items


def self_check_items(prompts: pa.Table, config: VerifyConfig) -> tuple[list[Key], list[VerifyItem]]:
    """Each prompt's gold answer graded against itself, wrapped in the paper's format."""
    rows = _prompt_rows(prompts, config)
    keys = [(pid, 0) for pid in rows]
    items = [
        VerifyItem(paper_format(answer), answer, verifier) for answer, verifier in rows.values()
    ]
    return keys, items


def rewards_table(keys: Sequence[Key], results: Sequence[VerifyResult]) -> pa.Table:
    """The rewards table (:data:`REWARD_SCHEMA`), one row per graded item."""
    return pa.table(
        {
            "prompt_id": [k[0] for k in keys],
            "sample_index": [k[1] for k in keys],
            "reward": [r.reward for r in results],
            "accuracy": [r.accuracy for r in results],
            "format": [r.format for r in results],
            "reason": [r.reason for r in results],
        },
        schema=REWARD_SCHEMA,
    )
