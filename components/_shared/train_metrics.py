"""The last optimizer step's metrics of a checkpoint, logged to a KFP ``Metrics`` output
(the update and fused components both report them)."""

from __future__ import annotations

import json
import math
from typing import Any

from rlsd.storage import join, read_bytes


def log_last_step(metrics: Any, checkpoint: str) -> dict[str, Any]:
    """Log every finite number of the last line of ``<checkpoint>/metrics.jsonl`` to
    ``metrics`` (a KFP ``Metrics`` artifact); returns that record ({} when there is none).
    Metrics hold finite numbers only: a NaN grad norm would break the run's JSON."""
    lines = read_bytes(join(checkpoint, "metrics.jsonl")).decode().splitlines()
    last = json.loads(lines[-1]) if lines else {}
    for key, value in last.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value):
            metrics.log_metric(key, float(value))
    return last
