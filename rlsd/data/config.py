"""``DataConfig``: every data-prep setting, one field each (loaded by :mod:`rlsd.config`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlsd.config import ConfigError
from rlsd.data.prompt_format import PROMPT_TEMPLATE, check_template
from rlsd.data.synthetic import MAX_DIFFICULTY, level_capacity


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class DataConfig:
    """Settings of the data-prep stage (``python -m rlsd.data``).

    Mapping fields left ``None`` take the preset's value (GSM8K, MATH-500) or, for other
    sources, the prompt schema's own column names; a mapping field that is set must name an
    existing column.
    """

    source: str = field(default="synthetic", metadata=_help(
        "what to load: 'synthetic' (built-in arithmetic), a preset ('gsm8k', 'math500'), "
        "a Hugging Face dataset id ('org/name' or 'hf:<id or local dir>'), or a .parquet / "
        ".jsonl path or s3:// URI"))
    hf_config: str | None = field(default=None, metadata=_help(
        "Hugging Face dataset config name (GSM8K preset: 'main')"))
    split: str | None = field(default=None, metadata=_help(
        "source split to read (presets: GSM8K 'train', MATH-500 'test'; other HF ids 'train')"))
    prompt_field: str | None = field(default=None, metadata=_help(
        "column holding the question text"))
    messages_field: str | None = field(default=None, metadata=_help(
        "column holding chat turns [{role, content}] (instead of a prompt column); a final "
        "assistant turn is taken as the reference solution and removed from the prompt"))
    answer_field: str | None = field(default=None, metadata=_help(
        "column holding the reference answer"))
    solution_field: str | None = field(default=None, metadata=_help(
        "column holding a reference solution, used as the self-teacher's hint"))
    image_field: str | None = field(default=None, metadata=_help(
        "column holding images (bytes, HF image structs, data: URIs or paths)"))
    id_field: str | None = field(default=None, metadata=_help(
        "column holding a unique row id (none: ids are '<source>-<row index>')"))
    meta_fields: list[str] | None = field(default=None, metadata=_help(
        "columns to keep as JSON in 'meta' (none: every column not mapped elsewhere)"))
    answer_after: str | None = field(default=None, metadata=_help(
        "take the answer as the text after the last occurrence of this marker (GSM8K: '####')"))
    verifier: str | None = field(default=None, metadata=_help(
        "verifier name for rows without one (presets: gsm8k / math; synthetic: numeric; "
        "otherwise math)"))
    known_verifiers: list[str] = field(default_factory=list, metadata=_help(
        "verifier names that exist; rows naming another are rejected (empty: no check)"))
    synthetic_n: int = field(default=100, metadata=_help(
        "number of synthetic problems (level 1 has 100 distinct ones)"))
    synthetic_difficulty: int = field(default=1, metadata=_help(
        f"synthetic level 1..{MAX_DIFFICULTY}: 1 single-digit +, 2 a + b in 2..29, "
        "3 two-digit +/-, 4 *, 5-6 expressions with parentheses"))
    seed: int = field(default=0, metadata=_help("seed of the synthetic task and the split"))
    n_train: int | None = field(default=None, metadata=_help(
        "train rows (none: all rows not in eval)"))
    n_eval: int | None = field(default=None, metadata=_help(
        "held-out eval rows (none: eval_fraction of the valid rows)"))
    eval_fraction: float = field(default=0.2, metadata=_help(
        "held-out fraction when n_eval is not set"))
    max_prompt_chars: int = field(default=8192, metadata=_help(
        "longest prompt accepted, in characters after the template (chat form: all turns)"))
    max_reject_fraction: float = field(default=0.05, metadata=_help(
        "fail when more than this fraction of the source rows is rejected"))
    prompt_template: str = field(default=PROMPT_TEMPLATE, metadata=_help(
        "template with one {question} slot, applied to every prompt ('{question}': as is)"))

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid setting."""
        if not self.source.strip():
            raise ConfigError("setting 'source' must not be empty")
        if not 1 <= self.synthetic_difficulty <= MAX_DIFFICULTY:
            raise ConfigError(
                f"setting 'synthetic_difficulty' must be in 1..{MAX_DIFFICULTY}, "
                f"got {self.synthetic_difficulty}"
            )
        if self.synthetic_n < 1:
            raise ConfigError(f"setting 'synthetic_n' must be at least 1, got {self.synthetic_n}")
        if self.source == "synthetic":
            # Checked here too, so that compile and submit refuse it before any task runs.
            capacity = level_capacity(self.synthetic_difficulty)
            if capacity is not None and self.synthetic_n > capacity:
                raise ConfigError(f"setting 'synthetic_n' is {self.synthetic_n}, but synthetic "
                                  f"level {self.synthetic_difficulty} has only {capacity} "
                                  "distinct problems")
            if self.n_eval is not None and self.n_train is None \
                    and self.n_eval >= self.synthetic_n:
                raise ConfigError(f"setting 'n_eval' ({self.n_eval}) leaves no training rows "
                                  f"of synthetic_n={self.synthetic_n}")
        if self.n_train is not None and self.n_train < 0:
            raise ConfigError(f"setting 'n_train' must be >= 0, got {self.n_train}")
        if self.n_eval is not None and self.n_eval < 0:
            raise ConfigError(f"setting 'n_eval' must be >= 0, got {self.n_eval}")
        if not 0.0 <= self.eval_fraction <= 1.0:
            raise ConfigError(f"setting 'eval_fraction' must be in [0, 1], got {self.eval_fraction}")
        if self.max_prompt_chars < 1:
            raise ConfigError(
                f"setting 'max_prompt_chars' must be at least 1, got {self.max_prompt_chars}"
            )
        if not 0.0 <= self.max_reject_fraction <= 1.0:
            raise ConfigError(
                f"setting 'max_reject_fraction' must be in [0, 1], got {self.max_reject_fraction}"
            )
        if self.answer_after is not None and not self.answer_after:
            raise ConfigError("setting 'answer_after' must not be empty")
        try:
            check_template(self.prompt_template)
        except ValueError as exc:
            raise ConfigError(f"setting 'prompt_template': {exc}") from exc
