"""Per-step training metrics as JSON lines and TensorBoard events (rank 0 writes)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist


def reduce_weighted(values: dict[str, float], weight: float, world_size: int) -> dict[str, float]:
    """Weighted mean of per-rank metric values over all ranks (weight = valid tokens)."""
    keys = sorted(values)
    local = torch.tensor([values[k] * weight for k in keys] + [weight], dtype=torch.float64)
    if world_size > 1 and dist.is_initialized():
        dist.all_reduce(local, op=dist.ReduceOp.SUM)
    total = float(local[-1])
    return {k: (float(local[i]) / total if total > 0 else 0.0) for i, k in enumerate(keys)}


METRICS_FILE = "metrics.jsonl"
#: Every step of the run so far: the starting policy's history, then this round's steps. A
#: round's checkpoint then carries the whole run's curves, so the report needs only the final
#: policy (KFP cannot hand a variable number of rounds' outputs to one task).
HISTORY_FILE = "metrics_history.jsonl"


def previous_history(policy_dir: Path) -> Path | None:
    """The metrics history a policy checkpoint carries (a checkpoint from before histories
    existed: its own round's metrics); None for a base model."""
    for name in (HISTORY_FILE, METRICS_FILE):
        if (policy_dir / name).is_file():
            return policy_dir / name
    return None


class MetricsWriter:
    """Appends one JSON object per optimizer step to ``metrics.jsonl`` (this round) and to
    ``metrics_history.jsonl`` (seeded with ``history_from``); mirrors scalars to TensorBoard."""

    def __init__(self, folder: Path, tensorboard: bool = True,
                 history_from: Path | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / METRICS_FILE
        self.history_path = folder / HISTORY_FILE
        earlier = history_from.read_text() if history_from is not None else ""
        if earlier and not earlier.endswith("\n"):
            earlier += "\n"
        self.history_path.write_text(earlier)
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(folder / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        for path in (self.path, self.history_path):
            with path.open("a") as f:
                f.write(line)
        if self._tb is not None:
            step = int(record["step"])
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "step" and math.isfinite(value):
                    self._tb.add_scalar(f"train/{key}", value, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
