"""Settings of benchmark evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlsd.config import ConfigError


@dataclass
class EvalConfig:
    """How many samples per prompt, how they are drawn, which pass@k to report."""

    samples_per_prompt: int = field(default=1, metadata={
        "help": "n samples per prompt; pass@k needs n >= k"})
    k_values: list[int] = field(default_factory=lambda: [1], metadata={
        "help": "k of the pass@k metrics (each <= samples_per_prompt)"})
    temperature: float = field(default=0.0, metadata={
        "help": "sampling temperature; 0 is greedy (use > 0 with several samples)"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass"})
    max_new_tokens: int = field(default=1024, metadata={"help": "longest response in tokens"})
    max_prompts: int | None = field(default=None, metadata={
        "help": "evaluate only the first N prompts; none = all"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    batch_size: int = field(default=32, metadata={"help": "sequences per generate call"})

    def validate(self) -> None:
        if self.samples_per_prompt < 1:
            raise ConfigError(f"samples_per_prompt must be >= 1, got {self.samples_per_prompt}")
        bad = [k for k in self.k_values if not 1 <= k <= self.samples_per_prompt]
        if bad:
            raise ConfigError(f"k_values {bad} must be in 1..samples_per_prompt "
                              f"({self.samples_per_prompt})")
        if self.samples_per_prompt > 1 and self.temperature == 0:
            raise ConfigError("several samples per prompt need temperature > 0 "
                              "(greedy samples are all the same)")
        if not self.temperature >= 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_prompts is not None and self.max_prompts < 1:
            raise ConfigError(f"max_prompts must be >= 1 (or none for all), got {self.max_prompts}")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
