"""generate_rollouts with real (tiny, random) transformers models on CPU."""

from __future__ import annotations

import pyarrow as pa
import pytest

from rlsd.models import load_policy
from rlsd.prompting import encode_student_prompt
from rlsd.rollout import RolloutConfig, RolloutError, generate_rollouts
from rlsd.schemas import ROLLOUT_SCHEMA, response_digest

# Prompts of clearly different lengths, so that batches really are left-padded.
MIXED_ROWS = [
    {"id": "short", "prompt": "2+2?"},
    {"id": "medium", "prompt": "What is seventeen plus twenty-five? Answer briefly."},
    {"id": "long", "prompt": "A train leaves at nine and travels for three hours at sixty "
                             "kilometres per hour. How far has it gone when it arrives?"},
    {"id": "chat", "prompt": None, "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name a prime number larger than ten."}]},
    {"id": "five", "prompt": "Count to five."},
]


def _ids(table: pa.Table) -> list[list[int]]:
    return table["response_token_ids"].to_pylist()


def test_table_conforms_and_is_consistent(lively_policy, arithmetic_rows):
    model, tokenizer = lively_policy
    rows = arithmetic_rows(3)
    cfg = RolloutConfig(samples_per_prompt=4, max_new_tokens=6, seed=1)
    table = generate_rollouts(model, tokenizer, rows, cfg, policy_step=12)
    assert table.schema.equals(ROLLOUT_SCHEMA)
    assert table.num_rows == 3 * 4
    out = table.to_pylist()
    assert [(r["prompt_id"], r["sample_index"]) for r in out] == [
        (row["id"], s) for row in rows for s in range(4)]
    by_id = {row["id"]: encode_student_prompt(tokenizer, row).input_ids for row in rows}
    for r in out:
        assert r["prompt_token_ids"] == by_id[r["prompt_id"]]  # exact, unpadded
        assert r["prompt_length"] == len(r["prompt_token_ids"])
        assert r["response_length"] == len(r["response_token_ids"]) == 6
        assert r["finish_reason"] == "length"
        assert r["response_text"] == tokenizer.decode(r["response_token_ids"],
                                                      skip_special_tokens=True)
        assert r["response_text"]  # a random model still writes something
        assert r["response_digest"] == response_digest(r["response_token_ids"])
        assert r["sampler_logprobs"] is None  # transformers reports none
        assert r["policy_step"] == 12
    # G samples of one prompt are G draws, not copies.
    for row in rows:
        group = [tuple(r["response_token_ids"]) for r in out if r["prompt_id"] == row["id"]]
        assert len(set(group)) == 4


def test_eos_ends_responses_and_padding_is_dropped(eos_policy):
    model, tokenizer = eos_policy
    eos = tokenizer.eos_token_id
    cfg = RolloutConfig(samples_per_prompt=8, max_new_tokens=8, seed=0, batch_size=16)
    table = generate_rollouts(model, tokenizer, MIXED_ROWS[:2], cfg)
    reasons = table["finish_reason"].to_pylist()
    assert set(reasons) == {"stop", "length"}
    stop_lengths = set()
    for ids, reason, text in zip(_ids(table), reasons, table["response_text"].to_pylist(),
                                 strict=True):
        if reason == "stop":
            # The EOS is kept (the model must learn to stop) and is the only one: the batch
            # padding generate wrote after it (pad id == EOS id here) is gone.
            assert ids[-1] == eos and eos not in ids[:-1]
            assert len(ids) <= 8
            stop_lengths.add(len(ids))
        else:
            assert len(ids) == 8 and eos not in ids
        assert tokenizer.eos_token not in text
    # Rows of one batch stopped at different steps (1 .. 8 tokens), so trimming did work.
    assert len(stop_lengths) >= 3


def test_seed_reproduces_and_changes_draws(lively_policy):
    model, tokenizer = lively_policy
    cfg = RolloutConfig(samples_per_prompt=3, max_new_tokens=5, seed=7, batch_size=4)
    first = generate_rollouts(model, tokenizer, MIXED_ROWS, cfg)
    again = generate_rollouts(model, tokenizer, MIXED_ROWS, cfg)
    assert first.equals(again)
    other_seed = generate_rollouts(model, tokenizer, MIXED_ROWS,
                                   RolloutConfig(samples_per_prompt=3, max_new_tokens=5, seed=8,
                                                 batch_size=4))
    next_round = generate_rollouts(model, tokenizer, MIXED_ROWS, cfg, policy_step=1)
    assert _ids(other_seed) != _ids(first)
    assert _ids(next_round) != _ids(first)  # a new round draws afresh with the same seed


def test_greedy_is_invariant_to_batching(lively_policy):
    model, tokenizer = lively_policy
    results = []
    for batch_size, max_batch_tokens in [(1, 131072), (4, 131072), (64, 131072), (64, 200)]:
        cfg = RolloutConfig(samples_per_prompt=2, max_new_tokens=6, temperature=0,
                            batch_size=batch_size, max_batch_tokens=max_batch_tokens)
        results.append(generate_rollouts(model, tokenizer, MIXED_ROWS, cfg))
    for other in results[1:]:
        assert _ids(other) == _ids(results[0])
    ids = _ids(results[0])
    assert len({tuple(x) for x in ids[::2]}) == len(MIXED_ROWS)  # prompts differ ...
    assert ids[::2] == ids[1::2]  # ... and greedy samples of one prompt are equal


def test_shards_cover_every_prompt_once(lively_policy):
    model, tokenizer = lively_policy
    base = dict(samples_per_prompt=2, max_new_tokens=4, temperature=0)
    whole = generate_rollouts(model, tokenizer, MIXED_ROWS, RolloutConfig(**base))
    shards = [generate_rollouts(model, tokenizer, MIXED_ROWS,
                                RolloutConfig(**base, shard_index=k, num_shards=3))
              for k in range(3)]
    for k, shard in enumerate(shards):
        expected = [row["id"] for row in MIXED_ROWS[k::3] for _ in range(2)]
        assert shard["prompt_id"].to_pylist() == expected
    joined = pa.concat_tables(shards).sort_by([("prompt_id", "ascending"),
                                               ("sample_index", "ascending")])
    assert joined.equals(whole.sort_by([("prompt_id", "ascending"),
                                        ("sample_index", "ascending")]))


def test_empty_shard_and_max_prompts(lively_policy):
    model, tokenizer = lively_policy
    empty = generate_rollouts(model, tokenizer, MIXED_ROWS[:2],
                              RolloutConfig(samples_per_prompt=2, max_new_tokens=2,
                                            shard_index=3, num_shards=4))
    assert empty.num_rows == 0 and empty.schema.equals(ROLLOUT_SCHEMA)
    limited = generate_rollouts(model, tokenizer, MIXED_ROWS,
                                RolloutConfig(samples_per_prompt=1, max_new_tokens=2,
                                              max_prompts=2))
    assert limited["prompt_id"].to_pylist() == ["short", "medium"]


def test_checkpoint_sampling_defaults_do_not_leak(tiny_lm_dir):
    # A checkpoint whose generation_config.json says top_k=1 would make every "sample" the
    # argmax; rollout must sample the full distribution the RL objective assumes.
    model, tokenizer = load_policy(tiny_lm_dir, device="cpu")
    model.generation_config.top_k = 1
    model.generation_config.repetition_penalty = 5.0
    cfg = RolloutConfig(samples_per_prompt=4, max_new_tokens=4, seed=0)
    table = generate_rollouts(model, tokenizer, MIXED_ROWS[:1], cfg)
    assert len({tuple(ids) for ids in _ids(table)}) == 4


def test_bad_rows_fail_before_generation(lively_policy):
    model, tokenizer = lively_policy
    cfg = RolloutConfig(samples_per_prompt=1, max_new_tokens=1)
    with pytest.raises(RolloutError, match="have images but the policy is a text-only model"):
        generate_rollouts(model, tokenizer, [{"id": "img", "prompt": "x", "images": [b"\x89"]}],
                          cfg)
    with pytest.raises(RolloutError, match="duplicate prompt id"):
        generate_rollouts(model, tokenizer, [MIXED_ROWS[0], MIXED_ROWS[0]], cfg)
