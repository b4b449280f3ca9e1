"""Settings of the verification stage (one dataclass, loaded with :mod:`rlsd.config`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from rlsd.config import ConfigError

#: Below this an address-space limit cannot even hold the interpreter plus sympy.
MIN_MEMORY_LIMIT_MB = 256


@dataclass
class VerifyConfig:
    """How responses are graded and rewarded.

    Reward (design.md, "The algorithm"; the paper's code):
    ``reward = accuracy_weight · accuracy + format_weight · format + overlong penalty``,
    0.9 / 0.1 by default; the DAPO over-length penalty is off by default.
    """

    default_verifier: str = field(
        default="math", metadata={"help": "verifier for items/rows that name none"}
    )
    accuracy_weight: float = field(
        default=0.9, metadata={"help": "weight of accuracy in the reward (paper: 0.9)"}
    )
    format_weight: float = field(
        default=0.1,
        metadata={"help": "weight of the <thought>..</thought><answer>..</answer> format (0.1)"},
    )
    time_limit_s: float = field(
        default=3.0,
        metadata={"help": "per-item grading time limit in seconds; the worker is killed after it"},
    )
    memory_limit_mb: int = field(
        default=2048,
        metadata={"help": "address-space limit of each grading worker in MiB (0 = none)"},
    )
    max_answer_chars: int = field(
        default=1000,
        metadata={"help": "longer extracted answers are not graded (accuracy 0, reason says so)"},
    )
    workers: int = field(
        default=0, metadata={"help": "grading worker processes (0 = min(4, CPU count))"}
    )
    numeric_rel_tol: float = field(
        default=1e-4, metadata={"help": "relative tolerance of the 'numeric' verifier"}
    )
    numeric_abs_tol: float = field(
        default=1e-8,
        metadata={"help": "absolute tolerance of the 'numeric' verifier (matters near 0)"},
    )
    math_float_rounding: int = field(
        default=-1,
        metadata={
            "help": "'math': -1 = compare numbers to the precision the gold states (README); "
            "N >= 0 = math-verify's own rounding of both sides to N decimal places"
        },
    )
    math_strict: bool = field(
        default=True,
        metadata={"help": "'math': math-verify's strict mode (variable names must match)"},
    )
    math_set_relation: bool = field(
        default=False,
        metadata={"help": "'math': let an interval equal a relation (x in [a,b] = a<=x<=b)"},
    )
    max_response_length: int = field(
        default=0,
        metadata={"help": "DAPO over-length penalty: maximum length L_max (0 = no penalty)"},
    )
    overlong_buffer: int = field(
        default=0,
        metadata={"help": "DAPO: the penalty ramps from 0 to -factor over the last N of L_max"},
    )
    overlong_penalty_factor: float = field(
        default=1.0, metadata={"help": "DAPO: size of the full over-length penalty"}
    )
    length_column: str = field(
        default="",
        metadata={
            "help": "rollouts column with the response length in tokens for the over-length "
            "penalty ('' = count characters of response_text)"
        },
    )
    extra_verifiers: list[str] = field(
        default_factory=list,
        metadata={"help": "operator plug-ins, 'name=package.module:function' (repeatable)"},
    )

    def validate(self) -> None:
        """Raise :class:`~rlsd.config.ConfigError` naming the first bad setting."""
        if not self.default_verifier:
            raise ConfigError("setting 'default_verifier' must name a verifier")
        for name in (
            "accuracy_weight",
            "format_weight",
            "overlong_penalty_factor",
            "numeric_rel_tol",
            "numeric_abs_tol",
        ):
            if not getattr(self, name) >= 0:  # also rejects NaN
                raise ConfigError(f"setting '{name}' must be >= 0, got {getattr(self, name)}")
        if self.accuracy_weight + self.format_weight <= 0:
            raise ConfigError("settings 'accuracy_weight' + 'format_weight' must be > 0")
        if not self.time_limit_s > 0:
            raise ConfigError(f"setting 'time_limit_s' must be > 0, got {self.time_limit_s}")
        if self.memory_limit_mb != 0 and self.memory_limit_mb < MIN_MEMORY_LIMIT_MB:
            raise ConfigError(
                f"setting 'memory_limit_mb' must be 0 (no limit) or >= {MIN_MEMORY_LIMIT_MB}, "
                f"got {self.memory_limit_mb}"
            )
        if self.max_answer_chars < 1:
            raise ConfigError(
                f"setting 'max_answer_chars' must be >= 1, got {self.max_answer_chars}"
            )
        if self.math_float_rounding < -1:
            raise ConfigError(
                "setting 'math_float_rounding' must be -1 (the gold's precision) or >= 0, "
                f"got {self.math_float_rounding}"
            )
        if self.workers < 0:
            raise ConfigError(f"setting 'workers' must be >= 0, got {self.workers}")
        if self.max_response_length < 0 or self.overlong_buffer < 0:
            raise ConfigError("settings 'max_response_length' and 'overlong_buffer' must be >= 0")
        if self.overlong_buffer and not self.max_response_length > self.overlong_buffer:
            raise ConfigError(
                f"setting 'overlong_buffer' ({self.overlong_buffer}) needs "
                f"'max_response_length' > it, got {self.max_response_length}"
            )

    def resolved_workers(self) -> int:
        """Number of grading processes: ``workers``, or min(4, usable CPUs) when 0."""
        if self.workers:
            return self.workers
        affinity = getattr(os, "sched_getaffinity", None)  # the CPUs this process may use
        cpus = len(affinity(0)) if affinity else (os.cpu_count() or 1)
        return min(4, cpus)
