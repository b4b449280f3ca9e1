"""Prompts longer than the model can take are refused before any generation: in
generate_rollouts, the rollout CLI and the evaluation CLI (which samples through the rollout),
with exit 2, a count, the longest prompt's id and tokens, and the option to change."""

from __future__ import annotations

import pytest

from rlsd.evaluate.__main__ import main as evaluate_main
from rlsd.prompting import ContextLengthError, encode_student_prompt
from rlsd.rollout import RolloutConfig, generate_rollouts
from rlsd.rollout.__main__ import main as rollout_main

TINY_CONTEXT = 4096  # rlsd.models.tiny.TINY_TEXT["max_position_embeddings"]
# Two prompts of one length and one shorter: only the longest two overflow at the boundary.
ROWS = [{"id": "long-a", "prompt": "Add 17 and 25, then double the result."},
        {"id": "short", "prompt": "2+2?"},
        {"id": "long-b", "prompt": "Add 17 and 25, then triple the result."}]


def _no_generation(*args, **kwargs):
    raise AssertionError("generate ran although a prompt does not fit the context window")


def _longest(tokenizer, rows) -> tuple[str, int]:
    lengths = {row["id"]: len(encode_student_prompt(tokenizer, row).input_ids) for row in rows}
    worst = max(lengths, key=lengths.get)
    return worst, lengths[worst]


def test_refused_before_generation_with_count_and_longest(lively_policy, arithmetic_rows,
                                                          monkeypatch):
    model, tokenizer = lively_policy
    rows = arithmetic_rows(3)
    worst, tokens = _longest(tokenizer, rows)
    monkeypatch.setattr(model, "generate", _no_generation)
    with pytest.raises(ContextLengthError) as error:
        generate_rollouts(model, tokenizer, rows, RolloutConfig(samples_per_prompt=2,
                                                                max_new_tokens=TINY_CONTEXT))
    assert str(error.value) == (
        f"rollout: 3 of 3 sequences exceed the model's context window of {TINY_CONTEXT} tokens; "
        f"the longest, prompt {worst!r}, has {tokens} prompt + {TINY_CONTEXT} new = "
        f"{tokens + TINY_CONTEXT} tokens; at most {TINY_CONTEXT - tokens} new tokens fit every "
        "prompt; lower max_new_tokens or drop the long prompts (data prep's max_prompt_chars)")


def test_the_boundary_is_prompt_plus_max_new_tokens(lively_policy, monkeypatch):
    model, tokenizer = lively_policy
    rows = ROWS
    lengths = [len(encode_student_prompt(tokenizer, row).input_ids) for row in rows]
    longest = max(lengths)
    assert lengths.count(longest) == 2 and min(lengths) < longest
    monkeypatch.setattr(model.config, "max_position_embeddings", longest + 3)
    fits = generate_rollouts(model, tokenizer, rows, RolloutConfig(
        samples_per_prompt=1, max_new_tokens=3, temperature=0))
    assert fits["response_length"].to_pylist() == [3] * len(rows)
    # max_new_tokens 4: the prompts of the longest length, and only those, overflow.
    monkeypatch.setattr(model, "generate", _no_generation)
    with pytest.raises(ContextLengthError, match=(
            rf"^rollout: 2 of 3 sequences exceed .* window of "
            rf"{longest + 3} tokens; .* at most 3 new tokens fit every prompt; ")):
        generate_rollouts(model, tokenizer, rows, RolloutConfig(
            samples_per_prompt=1, max_new_tokens=4, temperature=0))


def _one_error_line(capsys, prog: str) -> str:
    """The CLI's one error line, the last thing on stderr (transformers' weight-loading bar
    may come before it)."""
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    errors = [line for line in lines if line.startswith(f"{prog}: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], captured.err
    assert captured.out == ""
    return errors[0]


def test_rollout_cli_exits_2_and_writes_nothing(tiny_lm_dir, arithmetic_rows, prompts_parquet,
                                                tmp_path, capsys):
    output = tmp_path / "rollouts.parquet"
    code = rollout_main(["--policy", str(tiny_lm_dir), "--prompts",
                         str(prompts_parquet(arithmetic_rows(2))), "--output", str(output),
                         "--max-new-tokens", str(TINY_CONTEXT), "--samples-per-prompt", "2"])
    assert code == 2
    line = _one_error_line(capsys, "rlsd.rollout")
    assert (f"rollout: 2 of 2 sequences exceed the model's context window of {TINY_CONTEXT} "
            "tokens") in line and "lower max_new_tokens" in line
    assert not output.exists()


def test_evaluation_cli_exits_2(tiny_lm_dir, arithmetic_rows, prompts_parquet, tmp_path,
                                capsys):
    code = evaluate_main(["--policy", str(tiny_lm_dir), "--prompts",
                          str(prompts_parquet(arithmetic_rows(2))), "--output",
                          str(tmp_path / "eval"), "--max-new-tokens", str(TINY_CONTEXT + 1)])
    assert code == 2
    line = _one_error_line(capsys, "rlsd.evaluate")
    assert "2 of 2 sequences exceed the model's context window" in line
    assert "lower max_new_tokens" in line and "the longest, prompt '" in line
    assert not (tmp_path / "eval" / "metrics.json").exists()
