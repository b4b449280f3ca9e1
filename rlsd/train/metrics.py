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


class MetricsWriter:
    """Appends one JSON object per optimizer step; mirrors scalars to TensorBoard."""

    def __init__(self, folder: Path, tensorboard: bool = True) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "metrics.jsonl"
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(folder / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        if self._tb is not None:
            step = int(record["step"])
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "step" and math.isfinite(value):
                    self._tb.add_scalar(f"train/{key}", value, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
