"""The training report of a pipeline run from its artifacts: the final policy checkpoint (whose
``metrics_history.jsonl`` holds every round's steps), the last round's merged tables and the
base and final evaluation folders. The pipeline's report component calls
:func:`report_from_checkpoint`; everything it reads may be local or on ``s3://``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from rlsd import storage
from rlsd.report.config import ReportConfig
from rlsd.report.errors import ReportError
from rlsd.report.token_credit import RoundTables
from rlsd.report.tokenizer import fetch_checkpoint_tokenizer
from rlsd.report.training import build_training_report
from rlsd.train.metrics import HISTORY_FILE, METRICS_FILE
from rlsd.train.student_logprobs import STUDENT_LOGPROBS_FILE, fill_old_logprobs


def checkpoint_metrics(checkpoint_uri: str) -> str:
    """The metrics file with the most history in a policy checkpoint."""
    for name in (HISTORY_FILE, METRICS_FILE):
        uri = storage.join(checkpoint_uri, name)
        if storage.exists(uri):
            return uri
    raise ReportError(f"the policy checkpoint at {checkpoint_uri} holds neither {HISTORY_FILE} "
                      f"nor {METRICS_FILE}: is it a checkpoint the trainer wrote?")


def with_trainer_logprobs(scores: pa.Table, checkpoint_uri: str) -> pa.Table:
    """``scores`` with the s_t the trainer recorded in ``checkpoint_uri`` filled in where
    scoring skipped the behaviour pass (the on-policy default); unchanged otherwise."""
    if scores.num_rows == 0 or scores["old_logprobs"].null_count == 0:
        return scores
    uri = storage.join(checkpoint_uri, STUDENT_LOGPROBS_FILE)
    if not storage.exists(uri):
        return scores  # the token view then says which log-probs are missing
    return fill_old_logprobs(scores, storage.read_table(uri))


def report_from_checkpoint(
    checkpoint_uri: str,
    output_html: str | os.PathLike[str],
    rollouts: str | None = None,
    rewards: str | None = None,
    scores: str | None = None,
    eval_before: str | None = None,
    eval_after: str | None = None,
    round_label: str = "last round",
    config: ReportConfig | None = None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, int]:
    """Write the training report of the run that ended in ``checkpoint_uri``.

    ``rollouts``/``rewards``/``scores``: one round's tables for the token-credit view (all
    three, or none; an empty scores table, as GRPO's merge writes, gets a note);
    ``settings``: the run's settings to list (:func:`build_training_report`). Returns the
    counts :func:`build_training_report` returns.
    """
    given = [t for t in (rollouts, rewards, scores) if t]
    if given and len(given) != 3:
        raise ReportError("the token-credit view needs the round's rollouts, rewards and scores "
                          "tables together")
    metrics = checkpoint_metrics(checkpoint_uri)
    tables = None
    if given:
        read = [storage.read_table(t) for t in (rollouts, rewards, scores)]
        read[2] = with_trainer_logprobs(read[2], checkpoint_uri)
        tables = [RoundTables(*read, label=round_label)]
    with tempfile.TemporaryDirectory(prefix="rlsd-report-tok-") as tmp:
        tokenizer = fetch_checkpoint_tokenizer(checkpoint_uri, Path(tmp)) if tables else None
        return build_training_report([metrics], tables, tokenizer, output_html,
                                     eval_before=eval_before, eval_after=eval_after,
                                     config=config, settings=settings)
