"""The one-line summary a rollout run prints (and returns as numbers)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from rlsd.rollout.responses import STOP


@dataclass(frozen=True)
class RolloutSummary:
    prompts: int
    samples: int
    generated_tokens: int
    seconds: float
    stop_fraction: float  # share of responses that ended with an EOS token
    mean_response_length: float

    @property
    def tokens_per_second(self) -> float:
        return self.generated_tokens / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """E.g. ``rollout: 4 prompts x 8 = 32 samples, 2,048 tokens in 3.1 s (660 tok/s),
        12.5% stopped at EOS, mean length 64.0 tokens``."""
        per_prompt = self.samples // self.prompts if self.prompts else 0
        return (f"rollout: {self.prompts} prompts x {per_prompt} = {self.samples} samples, "
                f"{self.generated_tokens:,} tokens in {self.seconds:.1f} s "
                f"({self.tokens_per_second:,.0f} tok/s), "
                f"{100 * self.stop_fraction:.1f}% stopped at EOS, "
                f"mean length {self.mean_response_length:.1f} tokens")


def summarize(table: pa.Table, seconds: float) -> RolloutSummary:
    """Counts of a rollouts table generated in ``seconds``."""
    samples = table.num_rows
    tokens = int(pc.sum(table["response_length"]).as_py() or 0) if samples else 0
    stops = int(pc.sum(pc.equal(table["finish_reason"], STOP)).as_py() or 0) if samples else 0
    return RolloutSummary(
        prompts=len(pc.unique(table["prompt_id"])) if samples else 0,
        samples=samples,
        generated_tokens=tokens,
        seconds=seconds,
        stop_fraction=stops / samples if samples else 0.0,
        mean_response_length=tokens / samples if samples else 0.0,
    )
