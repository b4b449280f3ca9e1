"""Sources: read raw rows from the synthetic task, a Hugging Face data set, or a file.

``load_source(config)`` dispatches on ``config.source``:

- ``synthetic``: :func:`rlsd.data.synthetic.generate_arithmetic`;
- a preset name or id (``gsm8k``, ``openai/gsm8k``, ``math500``, ``HuggingFaceH4/MATH-500``):
  ``datasets.load_dataset`` with the preset's config, split and mapping;
- ``hf:<id or local folder>`` or a bare ``org/name``: ``datasets.load_dataset`` with the
  user's mapping;
- a ``.parquet`` or ``.jsonl`` path or ``s3://`` URI: read through :mod:`rlsd.data.io`
  (never through ``datasets``, which would need s3fs for S3).

Rows are held in memory as Python dicts: the data sets this stage targets are thousands of
rows, and the originals must survive unchanged for the rejects file.

JSON lines (:func:`parse_jsonl`) are read as bytes, and no row is altered or lost silently:

- one record per ``\\n``, with an optional ``\\r`` before it (CRLF files read like LF ones);
  no other character ends a record, so a raw U+2028, U+2029 or NEL (U+0085) inside a JSON
  string (where JSON allows them) stays part of that string;
- a UTF-8 byte-order mark at the start of the file (Windows editors, spreadsheet exports) or
  at the start of a line (files joined with ``cat``) is an encoding mark, not data: it is
  dropped; a UTF-16/UTF-32 byte-order mark fails the whole file with one error, since every
  line would be unreadable;
- each line is decoded as strict UTF-8: a line with invalid bytes is rejected
  (``invalid utf-8``, its bytes kept as base64) with its line number and the byte offset of
  the first bad byte, never repaired with U+FFFD; so is a line whose JSON strings hold a
  lone surrogate escape (``"\\ud800"``), which no UTF-8 table can store;
- lines holding only spaces and tabs are skipped; every other line that is not one JSON
  object is rejected (``invalid json``, with line number and byte offset).

Rejected lines count in ``rows_read`` and against ``max_reject_fraction``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlsd.data import io as data_io
from rlsd.data import synthetic
from rlsd.data.config import DataConfig
from rlsd.data.errors import DataError
from rlsd.data.mapping import FieldMapping, HFPreset, find_preset
from rlsd.data.rejects import INVALID_JSON, INVALID_UTF8, reject_record

FILE_SUFFIXES = (".parquet", ".jsonl")
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class LoadedSource:
    """Raw rows of one source plus how to map them.

    ``label`` goes into the ``source`` column; ``id_prefix`` starts generated ids;
    ``base_uri`` is where relative image paths point; ``parse_rejects`` holds rows that could
    not even be parsed (bad jsonl lines) and count as read-and-rejected.
    """

    label: str
    rows: list[dict[str, Any]]
    columns: list[str]
    mapping: FieldMapping
    id_prefix: str
    base_uri: str | None = None
    parse_rejects: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n_read(self) -> int:
        """Rows read from the source, the unparsable ones included."""
        return len(self.rows) + len(self.parse_rejects)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def user_mapping(config: DataConfig, base: FieldMapping | None = None) -> FieldMapping:
    """``base`` (default: the prompt schema's own names) with the config's mapping settings."""
    return (base or FieldMapping()).override(
        prompt_field=config.prompt_field, messages_field=config.messages_field,
        answer_field=config.answer_field, solution_field=config.solution_field,
        image_field=config.image_field, id_field=config.id_field,
        meta_fields=config.meta_fields, answer_after=config.answer_after,
        verifier=config.verifier,
    )


def source_from_rows(rows: list[dict[str, Any]], mapping: FieldMapping, label: str,
                     id_prefix: str | None = None, base_uri: str | None = None,
                     parse_rejects: list[dict[str, Any]] | None = None,
                     columns: list[str] | None = None) -> LoadedSource:
    """A :class:`LoadedSource` over in-memory rows, with ``mapping`` bound to their columns
    (``columns``: the declared ones; default: every key seen in ``rows``)."""
    columns = list(columns) if columns is not None else _columns(rows)
    return LoadedSource(
        label=label, rows=rows, columns=columns, mapping=mapping.resolve(columns),
        id_prefix=id_prefix or label, base_uri=base_uri, parse_rejects=parse_rejects or [],
    )


def source_from_dataset(dataset: Any, mapping: FieldMapping, label: str,
                        id_prefix: str | None = None) -> LoadedSource:
    """A :class:`LoadedSource` over a ``datasets.Dataset``.

    Rows are read in Arrow format so that image columns arrive as their stored
    ``{"bytes", "path"}`` structs (original PNG/JPEG bytes) instead of decoded PIL images.
    """
    rows: list[dict[str, Any]] = []
    for batch in dataset.with_format("arrow").iter(batch_size=1024):
        rows.extend(batch.to_pylist())
    return source_from_rows(rows, mapping, label, id_prefix=id_prefix,
                            columns=list(dataset.column_names))


#: Byte-order marks of encodings other than UTF-8, longest first (the UTF-32 LE mark starts
#: with the UTF-16 LE one).
_FOREIGN_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 LE"), (b"\x00\x00\xfe\xff", "UTF-32 BE"),
    (b"\xff\xfe", "UTF-16 LE"), (b"\xfe\xff", "UTF-16 BE"),
)
_UTF8_BOM = b"\xef\xbb\xbf"


def parse_jsonl(data: bytes, name: str = "the JSON-lines data"
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows, rejects) of JSON-lines bytes, by the rules in the module docstring.

    ``name`` (the file's URI) goes into error messages. Each reject is a
    :func:`~rlsd.data.rejects.reject_record` whose ``index`` is the 0-based line number and
    whose ``detail`` starts ``line N, byte offset B:`` (1-based line, 0-based byte offset in
    ``data``). Raises :class:`DataError` for UTF-16/UTF-32 text (a byte-order mark says so).
    """
    for bom, encoding in _FOREIGN_BOMS:
        if data.startswith(bom):
            raise DataError(f"{name} is {encoding} text (it starts with a {encoding} byte-order "
                            "mark); JSON lines must be UTF-8: save the file as UTF-8")
    rows: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    line_start = 0
    # Split the bytes, not decoded text: str.splitlines() also ends lines at U+2028, U+2029
    # and NEL, which JSON allows raw inside strings; and a bad byte stays confined to its own
    # line, at a byte offset that can be reported.
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        start, line_start = line_start, line_start + len(raw) + 1
        line = raw[len(_UTF8_BOM):] if raw.startswith(_UTF8_BOM) else raw
        start += len(raw) - len(line)
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line.strip(b" \t"):
            continue
        try:
            text = line.decode("utf-8")  # strict: never replace bytes with U+FFFD
        except UnicodeDecodeError as exc:
            rejects.append(reject_record(
                lineno - 1, INVALID_UTF8,
                f"line {lineno}, byte offset {start + exc.start}: not UTF-8 ({exc.reason}: "
                f"{line[exc.start:exc.end].hex(' ')}); save the file as UTF-8", line))
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            at = start + len(text[:exc.pos].encode("utf-8"))
            rejects.append(reject_record(
                lineno - 1, INVALID_JSON, f"line {lineno}, byte offset {at}: {exc.msg}", text))
            continue
        if not isinstance(value, dict):
            rejects.append(reject_record(
                lineno - 1, INVALID_JSON, f"line {lineno}, byte offset {start}: a JSON "
                f"{type(value).__name__}, expected an object", value))
            continue
        try:  # a \ud800-style escape without its pair decodes to a string no table can store
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            rejects.append(reject_record(
                lineno - 1, INVALID_UTF8, f"line {lineno}, byte offset {start}: a string holds "
                f"the lone surrogate U+{ord(exc.object[exc.start]):04X} (a \\u escape without "
                "its pair), which is not text", text))
            continue
        rows.append(value)
    return rows, rejects


def load_file(uri: str, mapping: FieldMapping) -> LoadedSource:
    """Rows of a ``.parquet`` or ``.jsonl`` file (local path or ``s3://`` URI)."""
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] or "data"
    if uri.endswith(".parquet"):
        rows, rejects = data_io.read_table(uri).to_pylist(), []
    elif uri.endswith(".jsonl"):
        rows, rejects = parse_jsonl(data_io.read_bytes(uri), name=uri)
    else:
        raise DataError(f"cannot read {uri}: expected a file ending in {' or '.join(FILE_SUFFIXES)}")
    if not rows and not rejects:
        raise DataError(f"{uri} has no rows")
    return source_from_rows(rows, mapping, label=f"file:{uri}", id_prefix=stem,
                            base_uri=data_io.parent(uri), parse_rejects=rejects)


def load_hf(hf_id: str, hf_config: str | None, split: str, mapping: FieldMapping,
            label: str, id_prefix: str) -> LoadedSource:
    """Rows of a Hugging Face data set via ``datasets.load_dataset`` (hub id or local folder)."""
    import datasets  # heavy import; only this source needs it

    try:
        dataset = datasets.load_dataset(hf_id, name=hf_config, split=split)
    except Exception as exc:  # hub, network and builder errors have no common base class
        raise DataError(
            f"could not load Hugging Face dataset {hf_id!r} (config {hf_config!r}, split "
            f"{split!r}): {type(exc).__name__}: {exc}"
        ) from exc
    if len(dataset) == 0:
        raise DataError(f"Hugging Face dataset {hf_id!r} split {split!r} has no rows")
    return source_from_dataset(dataset, mapping, label, id_prefix=id_prefix)


def preset_source(preset: HFPreset, config: DataConfig) -> LoadedSource:
    """Load a preset with any mapping settings of ``config`` on top of its own."""
    split = config.split or preset.split
    hf_config = config.hf_config or preset.hf_config
    mapping = user_mapping(config, preset.mapping)
    return load_hf(preset.hf_id, hf_config, split, mapping, label=f"{preset.name}:{split}",
                   id_prefix=f"{preset.name}-{split}")


def load_source(config: DataConfig) -> LoadedSource:
    """The raw rows ``config.source`` names (see the module docstring for the dispatch)."""
    source = config.source.strip()
    if source.lower() == "synthetic":
        rows = synthetic.generate_arithmetic(
            config.synthetic_n, config.synthetic_difficulty, config.seed
        )
        base = FieldMapping(verifier=synthetic.VERIFIER)
        return source_from_rows(rows, user_mapping(config, base), label=synthetic.SOURCE)
    preset = find_preset(source)
    if preset is not None:
        return preset_source(preset, config)
    if source.startswith("hf:"):
        hf_id = source[len("hf:"):]
    elif source.endswith(FILE_SUFFIXES):
        return load_file(source, user_mapping(config))
    elif data_io.is_s3(source) or Path(source).exists():
        raise DataError(
            f"cannot read source {source!r}: files must end in {' or '.join(FILE_SUFFIXES)} "
            "(use 'hf:<folder>' to load a local folder with datasets)"
        )
    elif _HF_ID.match(source):
        hf_id = source
    else:
        raise DataError(
            f"unknown source {source!r}: expected 'synthetic', a preset (gsm8k, math500), "
            "a Hugging Face id ('org/name' or 'hf:<id>'), or a .parquet/.jsonl path or s3:// URI"
        )
    split = config.split or "train"
    name = hf_id.rstrip("/").rsplit("/", 1)[-1] or "hf"
    return load_hf(hf_id, config.hf_config, split, user_mapping(config),
                   label=f"hf:{hf_id}:{split}", id_prefix=f"{name}-{split}")
