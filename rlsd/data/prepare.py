"""The data-prep stage as functions: :func:`prepare` (in memory) and :func:`write_outputs`.

design.md, stage 1: load a task data set, normalise it to the prompt schema, validate, split.
``prepare`` takes a config and returns tables plus a summary and does not write anything;
``write_outputs`` saves them. The CLI and the KFP component are thin shells over the two.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from rlsd.data import io as data_io
from rlsd.data.config import DataConfig
from rlsd.data.errors import DataError
from rlsd.data.mapping import map_row
from rlsd.data.rejects import (
    DUPLICATE_ID,
    RowRejected,
    count_reasons,
    reject_record,
    rejects_jsonl,
    too_many_rejects_message,
)
from rlsd.data.schema import PROMPT_SCHEMA, conform_prompt_table
from rlsd.data.sources import LoadedSource, load_source
from rlsd.data.split import split_indices
from rlsd.data.validate import RowRules, normalise_row

TRAIN_FILE = "train.parquet"
EVAL_FILE = "eval.parquet"
REJECTS_FILE = "rejects.jsonl"
SUMMARY_FILE = "summary.json"


@dataclass
class PrepResult:
    """What :func:`prepare` produced: the two splits, every rejected row, and the summary.

    When ``ok`` is false (too many rejects) the splits are empty; :meth:`check` raises the
    error and :func:`write_outputs` writes the rejects before raising it.
    """

    train: pa.Table
    eval: pa.Table
    rejects: list[dict[str, Any]]
    summary: dict[str, Any]

    @property
    def ok(self) -> bool:
        """Whether the reject fraction is within ``max_reject_fraction``."""
        return self.summary["reject_fraction"] <= self.summary["max_reject_fraction"]

    def check(self, rejects_at: str | None = None) -> None:
        """Raise :class:`DataError` when too many rows were rejected (``rejects_at``: where the
        rejects file is, for the message)."""
        if not self.ok:
            s = self.summary
            raise DataError(too_many_rejects_message(
                s["rows_rejected"], s["rows_read"], s["max_reject_fraction"],
                s["rejects_by_reason"], rejects_at,
            ))


def validate_rows(source: LoadedSource, rules: RowRules
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(valid prompt-schema rows, reject records) of one source, in source order.

    The first row with a given id is kept; later ones are rejected as duplicates.
    """
    valid: list[dict[str, Any]] = []
    rejects = list(source.parse_rejects)
    seen: dict[str, int] = {}
    for index, raw in enumerate(source.rows):
        try:
            row = normalise_row(
                map_row(raw, source.mapping, index, source.id_prefix, source.label), rules
            )
            if row["id"] in seen:
                raise RowRejected(DUPLICATE_ID, f"id {row['id']!r} already used by row {seen[row['id']]}")
        except RowRejected as rej:
            rejects.append(reject_record(index, rej.reason, rej.detail, raw))
            continue
        seen[row["id"]] = index
        valid.append(row)
    return valid, rejects


def prepare(config: DataConfig, source: LoadedSource | None = None) -> PrepResult:
    """Load (unless ``source`` is given), normalise, validate and split; write nothing.

    Raises :class:`rlsd.config.ConfigError` for an invalid config and :class:`DataError` for
    an unreadable or empty source or impossible split sizes. Too many rejects do NOT raise
    here, so that the caller can save the rejects first: call ``result.check()`` (or
    :func:`write_outputs`, which does both).
    """
    config.validate()
    if source is None:
        source = load_source(config)
    if source.n_read == 0:
        raise DataError(f"source {source.label!r} has no rows")
    rules = RowRules(
        prompt_template=config.prompt_template,
        max_prompt_chars=config.max_prompt_chars,
        known_verifiers=frozenset(v.strip() for v in config.known_verifiers if v.strip()),
        base_uri=source.base_uri,
    )
    valid, rejects = validate_rows(source, rules)
    n_read = source.n_read
    fraction = len(rejects) / n_read
    train_rows: list[dict[str, Any]] = []
    eval_rows: list[dict[str, Any]] = []
    if fraction <= config.max_reject_fraction:  # no point splitting data that is refused
        train_idx, eval_idx = split_indices(
            [r["id"] for r in valid], n_train=config.n_train, n_eval=config.n_eval,
            eval_fraction=config.eval_fraction, seed=config.seed,
        )
        train_rows = [valid[i] for i in train_idx]
        eval_rows = [valid[i] for i in eval_idx]
    summary = {
        "source": source.label,
        "rows_read": n_read,
        "rows_valid": len(valid),
        "rows_rejected": len(rejects),
        "reject_fraction": fraction,
        "max_reject_fraction": config.max_reject_fraction,
        "rejects_by_reason": count_reasons(rejects),
        "train_rows": len(train_rows),
        "eval_rows": len(eval_rows),
        "verifiers": dict(sorted(Counter(r["verifier"] for r in valid).items())),
        "seed": config.seed,
        "config": dataclasses.asdict(config),
    }
    return PrepResult(
        train=pa.Table.from_pylist(train_rows, schema=PROMPT_SCHEMA),
        eval=pa.Table.from_pylist(eval_rows, schema=PROMPT_SCHEMA),
        rejects=rejects,
        summary=summary,
    )


def write_outputs(result: PrepResult, out_uri: str) -> dict[str, str]:
    """Write ``rejects.jsonl`` and ``summary.json``, then (if ``result.ok``) ``train.parquet``
    and ``eval.parquet`` under the folder or ``s3://`` prefix ``out_uri``.

    Returns the written URIs by name. When too many rows were rejected, raises
    :class:`DataError` after the rejects and summary are written, and writes no splits.
    """
    paths = {name: data_io.join(out_uri, name)
             for name in (REJECTS_FILE, SUMMARY_FILE, TRAIN_FILE, EVAL_FILE)}
    data_io.write_bytes(rejects_jsonl(result.rejects), paths[REJECTS_FILE])
    summary = {**result.summary, "ok": result.ok}
    data_io.write_bytes(
        (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode(), paths[SUMMARY_FILE]
    )
    result.check(rejects_at=paths[REJECTS_FILE])
    data_io.write_table(result.train, paths[TRAIN_FILE])
    data_io.write_table(result.eval, paths[EVAL_FILE])
    return paths


def read_prompts(uri: str) -> pa.Table:
    """A prepared prompt table (``train.parquet`` / ``eval.parquet``) in :data:`PROMPT_SCHEMA`."""
    return conform_prompt_table(data_io.read_table(uri))


def one_line_summary(result: PrepResult, out_uri: str | None = None) -> str:
    """E.g. ``data: synthetic:arithmetic: 100 rows -> 80 train, 20 eval, 0 rejected (0.0%)``."""
    s = result.summary
    line = (
        f"data: {s['source']}: {s['rows_read']} rows -> {s['train_rows']} train, "
        f"{s['eval_rows']} eval, {s['rows_rejected']} rejected ({100 * s['reject_fraction']:.1f}%)"
    )
    return line + (f"; wrote {out_uri}" if out_uri else "")
