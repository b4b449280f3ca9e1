"""Data prep (design.md stage 1): load a task data set, normalise it to the prompt schema,
validate, split.

``prepare(config)`` returns the splits, rejects and summary in memory; ``write_outputs``
saves ``train.parquet``, ``eval.parquet``, ``rejects.jsonl`` and ``summary.json``;
``python -m rlsd.data --output DIR`` does both (default source: the synthetic task).
"""

from rlsd.data.config import DataConfig
from rlsd.data.errors import DataError
from rlsd.data.mapping import GSM8K, MATH500, PRESETS, FieldMapping, HFPreset
from rlsd.data.prepare import (
    EVAL_FILE,
    REJECTS_FILE,
    SUMMARY_FILE,
    TRAIN_FILE,
    PrepResult,
    one_line_summary,
    prepare,
    read_prompts,
    write_outputs,
)
from rlsd.data.prompt_format import FORMAT_INSTRUCTION, PROMPT_TEMPLATE, format_prompt
from rlsd.data.rejects import REASONS
from rlsd.data.schema import MESSAGE_TYPE, PROMPT_SCHEMA, conform_prompt_table
from rlsd.data.sources import LoadedSource, load_source, source_from_dataset, source_from_rows
from rlsd.data.synthetic import generate_arithmetic

__all__ = [
    "DataConfig", "DataError", "EVAL_FILE", "FORMAT_INSTRUCTION", "FieldMapping", "GSM8K",
    "HFPreset", "LoadedSource", "MATH500", "MESSAGE_TYPE", "PRESETS", "PROMPT_SCHEMA",
    "PROMPT_TEMPLATE", "PrepResult", "REASONS", "REJECTS_FILE", "SUMMARY_FILE", "TRAIN_FILE",
    "conform_prompt_table", "format_prompt", "generate_arithmetic", "load_source",
    "one_line_summary", "prepare", "read_prompts", "source_from_dataset", "source_from_rows",
    "write_outputs",
]
