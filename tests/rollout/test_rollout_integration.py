"""Rollout with the real default model (SmolLM2-135M-Instruct), briefly."""

from __future__ import annotations

import pytest

from rlsd.models import load_policy, resolve_model
from rlsd.rollout import RolloutConfig, generate_rollouts
from rlsd.schemas import ROLLOUT_SCHEMA


@pytest.mark.integration
def test_default_model_rollout(arithmetic_rows):
    model, tokenizer = load_policy(resolve_model("default"), device="cpu")
    rows = arithmetic_rows(1, seed=3)
    table = generate_rollouts(model, tokenizer, rows,
                              RolloutConfig(samples_per_prompt=2, max_new_tokens=16, seed=0))
    assert table.schema.equals(ROLLOUT_SCHEMA) and table.num_rows == 2
    eos = tokenizer.eos_token_id
    for r in table.to_pylist():
        ids = r["response_token_ids"]
        assert 1 <= len(ids) <= 16
        assert (r["finish_reason"] == "stop") == (ids[-1] == eos)
        assert eos not in ids[:-1]
        assert r["response_text"] == tokenizer.decode(ids, skip_special_tokens=True)
        assert r["response_text"].strip()

    # A question the instruct model answers in a few words ends with EOS under greedy
    # decoding: the real stop path, not a forced one.
    short = generate_rollouts(model, tokenizer,
                              [{"id": "hi", "prompt": "Reply with just the word: hello"}],
                              RolloutConfig(samples_per_prompt=1, max_new_tokens=16,
                                            temperature=0))
    row = short.to_pylist()[0]
    assert row["finish_reason"] == "stop", row["response_text"]
    assert row["response_token_ids"][-1] == eos and "hello" in row["response_text"].lower()
