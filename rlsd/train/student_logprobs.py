"""The trainer's own s_t, kept when scoring skipped the behaviour pass.

With one optimizer step per round the update is on-policy: its first forward pass gives the
behaviour log-probs s_t, so scoring need not run a second forward for them
(``ScoreConfig.behaviour_logprobs = false``). The RLSD weights w_t then exist only inside the
trainer; every rank records the s_t of the responses it trained on, rank 0 gathers them and
writes ``student_logprobs.parquet`` into the checkpoint, and the report joins it back onto
the scores table (:func:`fill_old_logprobs`).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import torch.distributed as dist

from rlsd.schemas import SCORE_SCHEMA, STUDENT_LOGPROBS_SCHEMA, response_digest
from rlsd.storage import write_table

STUDENT_LOGPROBS_FILE = "student_logprobs.parquet"

Key = tuple[str, int]


def gather_and_write(records: dict[Key, tuple[list[int], list[float]]], folder: Path, rank: int,
                     world_size: int) -> int:
    """Collect every rank's ``{(prompt_id, sample_index): (response ids, s_t)}`` on rank 0 and
    write them to ``folder``; returns the rows written (0 on other ranks). Collective."""
    parts: list[dict] = [records]
    if world_size > 1:
        parts = [{} for _ in range(world_size)]
        dist.all_gather_object(parts, records)
    if rank != 0:
        return 0
    merged = {k: v for part in parts for k, v in part.items()}
    rows = [{"prompt_id": pid, "sample_index": idx, "response_digest": response_digest(ids),
             "logprobs": logprobs} for (pid, idx), (ids, logprobs) in sorted(merged.items())]
    write_table(pa.Table.from_pylist(rows, schema=STUDENT_LOGPROBS_SCHEMA),
                str(folder / STUDENT_LOGPROBS_FILE), schema=STUDENT_LOGPROBS_SCHEMA)
    return len(rows)


def fill_old_logprobs(scores: pa.Table, student: pa.Table) -> pa.Table:
    """``scores`` with null ``old_logprobs`` filled from the trainer's ``student`` table
    (matched on prompt, sample and response digest); rows without a match stay null."""
    by_key = {(r["prompt_id"], int(r["sample_index"]), r["response_digest"]): r["logprobs"]
              for r in student.to_pylist()}
    rows = scores.to_pylist()
    for row in rows:
        if row["old_logprobs"] is None:
            row["old_logprobs"] = by_key.get(
                (row["prompt_id"], int(row["sample_index"]), row["response_digest"]))
    return pa.Table.from_pylist(rows, schema=SCORE_SCHEMA)
