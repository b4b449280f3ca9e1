"""Where a fused job writes (no torch here: the pipeline's light driver task imports it)."""

from __future__ import annotations

from rlsd.storage import join

#: Where a checkpoint keeps the frozen teacher snapshot when K > 0.
TEACHER_DIR = "teacher"
TEACHER_STATE = "teacher_state.json"
#: The run's held-out evaluations so far (one JSON line each; ``round`` -1 is the starting
#: policy), carried from checkpoint to checkpoint like the metrics history.
EVALUATIONS_FILE = "evaluations.jsonl"


def round_folder(output: str, round_index: int) -> str:
    """Where the checkpoint written after round ``round_index`` goes."""
    return join(output, f"round-{round_index:04d}")


def tables_folder(output: str, round_index: int) -> str:
    """Where round ``round_index``'s merged tables go (``keep_tables``)."""
    return join(output, "tables", f"round-{round_index:04d}")
