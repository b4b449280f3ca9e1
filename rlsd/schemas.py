"""The tables that flow between stages, as explicit pyarrow schemas.

data prep -> ``prompts`` (``rlsd.data.schema.PROMPT_SCHEMA``)
rollout   -> ``rollouts`` (:data:`ROLLOUT_SCHEMA`): one row per sampled response
verify    -> ``rewards`` (``rlsd.verify`` writes :data:`REWARD_SCHEMA`)
score     -> ``scores`` (:data:`SCORE_SCHEMA`): per-token behaviour and teacher log-probs
train     <- rollouts + rewards (+ scores for every algorithm but GRPO)

Rows are keyed by ``(prompt_id, sample_index)``. Token ids are kept from generation onwards:
no later stage re-tokenises text, and ``response_digest`` lets each stage prove that the
tokens it scores or trains on are the tokens that were sampled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

ROLLOUT_SCHEMA = pa.schema(
    [
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("sample_index", pa.int32(), nullable=False),
        pa.field("prompt_token_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("response_token_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("response_text", pa.string(), nullable=False),
        # "stop" (end-of-sequence token) or "length" (hit max_new_tokens).
        pa.field("finish_reason", pa.string(), nullable=False),
        pa.field("prompt_length", pa.int32(), nullable=False),
        pa.field("response_length", pa.int32(), nullable=False),
        # Per-token log-probs reported by the sampler (vLLM); null when the backend has none.
        pa.field("sampler_logprobs", pa.list_(pa.float32()), nullable=True),
        pa.field("response_digest", pa.string(), nullable=False),
        pa.field("policy_step", pa.int64(), nullable=False),
    ]
)

REWARD_SCHEMA = pa.schema(
    [
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("sample_index", pa.int32(), nullable=False),
        pa.field("reward", pa.float32(), nullable=False),
        pa.field("accuracy", pa.float32(), nullable=False),
        pa.field("format", pa.float32(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)

#: What an on-policy update records of its own forward pass when the scores carry no behaviour
#: log-probs: s_t of every trained response (``student_logprobs.parquet`` in the checkpoint),
#: so the report can still show each token's RLSD weight w_t.
STUDENT_LOGPROBS_SCHEMA = pa.schema(
    [
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("sample_index", pa.int32(), nullable=False),
        pa.field("response_digest", pa.string(), nullable=False),
        pa.field("logprobs", pa.list_(pa.float32()), nullable=False),
    ]
)

SCORE_SCHEMA = pa.schema(
    [
        pa.field("prompt_id", pa.string(), nullable=False),
        pa.field("sample_index", pa.int32(), nullable=False),
        pa.field("response_digest", pa.string(), nullable=False),
        pa.field("response_length", pa.int32(), nullable=False),
        # log pi_old(y_t | x, y_<t): the behaviour policy under the student prompt. Null when
        # scoring skipped the behaviour pass (an on-policy update computes s_t itself).
        pa.field("old_logprobs", pa.list_(pa.float32()), nullable=True),
        # log pi_T(y_t | x + hint, y_<t): the self-teacher under the privileged prompt.
        pa.field("teacher_logprobs", pa.list_(pa.float32()), nullable=True),
        pa.field("teacher_step", pa.int64(), nullable=False),
    ]
)


def response_digest(token_ids: Sequence[int]) -> str:
    """A short fingerprint of a response's token ids (sha256 of their int32 bytes)."""
    payload = np.asarray(list(token_ids), dtype="<i4").tobytes()
    return hashlib.sha256(payload).hexdigest()[:16]
