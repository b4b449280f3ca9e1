"""Settings of self-distillation scoring."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlsd.config import ConfigError
from rlsd.prompting import DEFAULT_TEACHER_TEMPLATE, PromptError, check_teacher_template


@dataclass
class ScoreConfig:
    """How the self-teacher sees a prompt, and how scoring batches its forward passes."""

    hint_source: str = field(default="auto", metadata={
        "help": "teacher hint: auto (the reference solution if the data has one, else the "
                "answer), answer or solution"})
    teacher_template: str = field(default=DEFAULT_TEACHER_TEMPLATE, metadata={
        "help": "teacher prompt with {question} and {hint} placeholders, each once; other "
                "braces are literal text (\\boxed{})"})
    teacher_hint: bool = field(default=True, metadata={
        "help": "give the teacher the hint (RLSD, OPSD); false for OPD's separate teacher"})
    micro_batch_tokens: int = field(default=8192, metadata={
        "help": "padded tokens per forward pass (rows x longest sequence)"})
    dtype: str = field(default="auto", metadata={
        "help": "auto (bf16 on GPU, fp32 on CPU), bf16 or fp32: match the trainer's numerics"})
    behaviour_logprobs: bool = field(default=True, metadata={
        "help": "also record the behaviour policy's log-probs (a second forward pass). Needed "
                "when the update takes several optimizer steps per round; with one step the "
                "update is on-policy and its own forward gives s_t, so the teacher pass is "
                "RLSD's only extra work (the pipeline turns this off when steps_per_round = 1)"})

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid setting.

        ``teacher_template`` is checked by rendering a sample row through it exactly as
        scoring renders every row, so a bad template fails here, before any model loads.
        """
        if self.hint_source not in ("auto", "answer", "solution"):
            raise ConfigError(f"hint_source must be auto, answer or solution, got {self.hint_source!r}")
        try:
            check_teacher_template(self.teacher_template, self.hint_source)
        except PromptError as exc:
            raise ConfigError(f"setting 'teacher_template' {self.teacher_template!r}: {exc}") \
                from None
        if self.micro_batch_tokens < 1:
            raise ConfigError(f"micro_batch_tokens must be >= 1, got {self.micro_batch_tokens}")
        if self.dtype not in ("auto", "bf16", "fp32"):
            raise ConfigError(f"dtype must be auto, bf16 or fp32, got {self.dtype!r}")
