"""A ``Dataset`` input artifact as data prep's source: one JSON-lines or parquet file.

A platform team's own KFP step (a scraper, a labelling export, a filter) hands its rows to
data prep as a ``Dataset`` artifact instead of copying them to S3 by hand. The artifact is
one file, read the way ``rlsd.data`` reads a ``.jsonl`` or ``.parquet`` source (the same JSON
lines rules, field mappings and rejects). Its format is, first match wins: the file name's
suffix (``.jsonl``, ``.parquet``; KFP names the file after the output, often with no
suffix), then the artifact's ``format`` metadata (``jsonl`` or ``parquet``), then its content
(parquet files start with ``PAR1``; anything else is read as JSON lines, each bad line a
reject). A folder (e.g. parquet shards) is refused: write one file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlsd.data import DataError, LoadedSource, source_from_rows
from rlsd.data.config import DataConfig
from rlsd.data.sources import parse_jsonl, user_mapping
from rlsd.storage import read_table

FORMATS = ("jsonl", "parquet")
_PARQUET_MAGIC = b"PAR1"


def artifact_format(path: str | os.PathLike[str], uri: str,
                    metadata: Mapping[str, Any] | None = None) -> str:
    """``"jsonl"`` or ``"parquet"`` for the artifact file at ``path`` (module docstring)."""
    for name in (str(path), uri):
        for fmt in FORMATS:
            if name.endswith(f".{fmt}"):
                return fmt
    declared = str((metadata or {}).get("format", "")).strip().lower()
    if declared:
        if declared not in FORMATS:
            raise DataError(f"the data artifact {uri} declares format {declared!r}; data prep "
                            f"reads {' or '.join(FORMATS)}")
        return declared
    with open(path, "rb") as f:
        return "parquet" if f.read(len(_PARQUET_MAGIC)) == _PARQUET_MAGIC else "jsonl"


def artifact_source(path: str | os.PathLike[str], uri: str,
                    metadata: Mapping[str, Any] | None, config: DataConfig) -> LoadedSource:
    """The rows of the ``Dataset`` artifact file at ``path`` (``uri``: where KFP keeps it),
    mapped with ``config``'s field mappings, as :func:`rlsd.data.prepare` takes them.

    Raises :class:`rlsd.data.DataError` for a folder, a missing or empty file, or an
    unreadable parquet file.
    """
    target = Path(path)
    if target.is_dir():
        raise DataError(f"the data artifact {uri} is a folder; data prep reads one .jsonl or "
                        ".parquet file (write the rows as one file)")
    if not target.is_file():
        raise DataError(f"the data artifact {uri} has no file at {target}")
    fmt = artifact_format(target, uri, metadata)
    if fmt == "parquet":
        try:
            rows, rejects = read_table(str(target)).to_pylist(), []
        except Exception as exc:  # pyarrow raises several kinds for a file that is not parquet
            raise DataError(f"the data artifact {uri} is not a readable parquet file: "
                            f"{type(exc).__name__}: {exc}") from None
    else:
        rows, rejects = parse_jsonl(target.read_bytes(), name=uri)
    if not rows and not rejects:
        raise DataError(f"the data artifact {uri} has no rows")
    stem = uri.rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0] or "data"
    return source_from_rows(rows, user_mapping(config), label=f"artifact:{uri}", id_prefix=stem,
                            base_uri=str(target.resolve().parent), parse_rejects=rejects)
