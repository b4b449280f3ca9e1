"""Scoring's prompt rules, with tiny random models on CPU:

- a teacher template with literal braces (``\\boxed{}``) scores; a bad template fails at the
  settings check, before any model loads, in one line naming the template and the problem;
- a Gemma-3 style model (chat template writes ``{{ bos_token }}``, tokenizer adds BOS too)
  gets one BOS in the student and teacher prompts, VLM and text-only alike;
- a teacher (or behaviour) prompt + response longer than the model's context window is
  refused before any forward pass, and the CLI exits 2 with one line.
"""

from __future__ import annotations

import io
import json
import shutil

import pyarrow as pa
import pytest
from PIL import Image

from rlsd.config import ConfigError, from_dict
from rlsd.data import PROMPT_SCHEMA
from rlsd.models import load_policy
from rlsd.models.chat_templates import SMOLLM2_CHAT_TEMPLATE, VISION_CHATML_TEMPLATE
from rlsd.prompting import ContextLengthError, encode_student_prompt, encode_teacher_prompt
from rlsd.rollout import RolloutConfig, generate_rollouts
from rlsd.score import ScoreConfig, score_rollouts
from rlsd.score.__main__ import main as score_main
from rlsd.storage import write_table

BOXED = "Put the final answer in \\boxed{}.\n{question}\nReference: {hint}"


def _row(pid: str, prompt: str, answer: str) -> dict:
    row = {name: None for name in PROMPT_SCHEMA.names}
    row.update(id=pid, prompt=prompt, answer=answer, verifier="numeric", source="test")
    return row


ROWS = [_row("q1", "What is 2 + 3?", "5"),
        _row("q2", "What is seven times six? Answer with the number only.", "42")]
PROMPTS = {r["id"]: r for r in ROWS}


@pytest.fixture(scope="module")
def policy(tiny_lm_dir):
    return load_policy(tiny_lm_dir, device="cpu")


@pytest.fixture(scope="module")
def rollouts(policy) -> pa.Table:
    model, tokenizer = policy
    return generate_rollouts(model, tokenizer, ROWS,
                             RolloutConfig(samples_per_prompt=2, max_new_tokens=3, seed=0))


# --- templates ------------------------------------------------------------------------------


@pytest.mark.parametrize(("template", "problem"), [
    ("{question}\nReference: {answer}", "unknown placeholder {answer}"),
    ("{question}\nReference: {hnit}\n{hint}", "unknown placeholder {hnit}"),
    ("Put it in \\boxed{}.\n{question}", "must contain {hint} exactly once, found 0"),
    ("{question} {question} {hint}", "must contain {question} exactly once, found 2"),
])
def test_a_bad_teacher_template_fails_the_settings_check(template, problem):
    with pytest.raises(ConfigError) as error:
        from_dict(ScoreConfig, {"teacher_template": template})
    message = str(error.value)
    assert message.startswith(f"setting 'teacher_template' {template!r}: ")
    assert problem in message and "\n" not in message


def test_a_bad_teacher_template_fails_before_any_model_loads(tmp_path, capsys):
    code = score_main(["--policy", str(tmp_path / "no-model"), "--rollouts", "r.parquet",
                       "--prompts", "p.parquet", "--output", str(tmp_path / "s.parquet"),
                       "--set", "teacher_template={question} Reference: {answer}"])
    assert code == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("rlsd.score: error: setting 'teacher_template'")
    assert "unknown placeholder {answer}" in line and "\n" not in line


def test_a_template_with_literal_braces_scores(policy, rollouts):
    model, tokenizer = policy
    config = from_dict(ScoreConfig, {"teacher_template": BOXED})
    teacher_text = tokenizer.decode(encode_teacher_prompt(tokenizer, ROWS[0], BOXED).input_ids)
    assert "Put the final answer in \\boxed{}.\nWhat is 2 + 3?\nReference: 5" in teacher_text
    scores = score_rollouts(model, tokenizer, rollouts, PROMPTS, config, progress=False)
    lengths = rollouts["response_length"].to_pylist()
    assert [len(t) for t in scores["teacher_logprobs"].to_pylist()] == lengths
    assert all(lp <= 0 for t in scores["teacher_logprobs"].to_pylist() for lp in t)
    # The hint changes the context, so the teacher's log-probs are not the behaviour's.
    assert scores["teacher_logprobs"].to_pylist() != scores["old_logprobs"].to_pylist()


# --- context window -------------------------------------------------------------------------


def _no_forward(*args, **kwargs):
    raise AssertionError("a forward pass ran although a sequence does not fit the window")


def _sequence_lengths(tokenizer, rollouts, encode) -> list[int]:
    return [len(encode(tokenizer, PROMPTS[r["prompt_id"]]).input_ids) + r["response_length"]
            for r in rollouts.to_pylist()]


def test_a_teacher_sequence_longer_than_the_window_is_refused_before_scoring(
        policy, rollouts, monkeypatch):
    model, tokenizer = policy
    students = _sequence_lengths(tokenizer, rollouts, encode_student_prompt)
    teachers = _sequence_lengths(tokenizer, rollouts, encode_teacher_prompt)
    assert min(teachers) > max(students)  # the hint makes every teacher prompt longer
    monkeypatch.setattr(model.config, "max_position_embeddings", max(students))
    monkeypatch.setattr(model, "forward", _no_forward)
    with pytest.raises(ContextLengthError) as error:
        score_rollouts(model, tokenizer, rollouts, PROMPTS, ScoreConfig(), progress=False)
    message = str(error.value)
    assert message.startswith(f"teacher scoring: 4 of 4 sequences exceed the model's context "
                              f"window of {max(students)} tokens; the longest, prompt 'q2' ")
    assert message.endswith("shorten the teacher prompt (hint_source=answer, or a shorter "
                            "teacher_template) or lower the rollout's max_new_tokens")
    # The behaviour pass alone fits exactly: no error without the teacher.
    monkeypatch.undo()
    monkeypatch.setattr(model.config, "max_position_embeddings", max(students))
    score_rollouts(model, tokenizer, rollouts, PROMPTS, ScoreConfig(), with_teacher=False,
                   progress=False)


def test_a_behaviour_sequence_longer_than_the_window_is_refused(policy, rollouts, monkeypatch):
    model, tokenizer = policy
    students = _sequence_lengths(tokenizer, rollouts, encode_student_prompt)
    monkeypatch.setattr(model.config, "max_position_embeddings", max(students) - 1)
    monkeypatch.setattr(model, "forward", _no_forward)
    with pytest.raises(ContextLengthError, match=(
            rf"^behaviour scoring: {students.count(max(students))} of 4 sequences exceed .* "
            rf"window of {max(students) - 1} tokens; the longest, prompt 'q2' sample \d, ")):
        score_rollouts(model, tokenizer, rollouts, PROMPTS, ScoreConfig(), with_teacher=False,
                       progress=False)


def test_score_cli_exits_2_when_the_teacher_prompt_does_not_fit(tiny_lm_dir, policy, rollouts,
                                                               tmp_path, capsys):
    _, tokenizer = policy
    students = _sequence_lengths(tokenizer, rollouts, encode_student_prompt)
    short = tmp_path / "short-context"  # the same model with a window the rollouts just fit
    shutil.copytree(tiny_lm_dir, short)
    config = json.loads((short / "config.json").read_text())
    config["max_position_embeddings"] = max(students)
    (short / "config.json").write_text(json.dumps(config))
    write_table(rollouts, tmp_path / "rollouts.parquet")
    write_table(pa.Table.from_pylist(ROWS, schema=PROMPT_SCHEMA), tmp_path / "prompts.parquet")
    output = tmp_path / "scores.parquet"
    code = score_main(["--policy", str(short), "--rollouts", str(tmp_path / "rollouts.parquet"),
                       "--prompts", str(tmp_path / "prompts.parquet"), "--output", str(output)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"rlsd.score: error: teacher scoring: 4 of 4 sequences exceed "
                              f"the model's context window of {max(students)} tokens")
    assert sum(line.startswith("rlsd.score: error:") for line in err) == 1
    assert not output.exists()


# --- one BOS --------------------------------------------------------------------------------


def _gemma_style(tokenizer, template: str):
    """Make a loaded tokenizer Gemma-3 like: its BOS (an existing special token, so the tiny
    model's vocabulary holds it) is added to plain text, and the template writes it too."""
    tokenizer.bos_token = "<|endoftext|>"
    tokenizer.add_bos_token = True
    tokenizer.chat_template = "{{ bos_token }}" + template
    assert tokenizer("a")["input_ids"][0] == tokenizer.bos_token_id


def _assert_one_bos(table: pa.Table, bos: int, rows, processor) -> None:
    for r in table.to_pylist():
        assert r["prompt_token_ids"][0] == bos and r["prompt_token_ids"].count(bos) == 1
        teacher = encode_teacher_prompt(processor, rows[r["prompt_id"]]).input_ids
        assert teacher[0] == bos and teacher.count(bos) == 1


def test_one_bos_for_a_gemma_style_vlm_through_rollout_and_scoring(tiny_vlm_dir):
    model, processor = load_policy(tiny_vlm_dir, device="cpu")
    _gemma_style(processor.tokenizer, VISION_CHATML_TEMPLATE)
    processor.chat_template = processor.tokenizer.chat_template
    buffer = io.BytesIO()
    Image.new("RGB", (56, 56), (0, 128, 255)).save(buffer, format="PNG")
    rows = {"v1": {**_row("v1", "What colour is this?", "blue"), "images": [buffer.getvalue()]}}
    table = generate_rollouts(model, processor, list(rows.values()),
                              RolloutConfig(samples_per_prompt=2, max_new_tokens=3, seed=0))
    _assert_one_bos(table, processor.tokenizer.bos_token_id, rows, processor)
    # Scoring re-encodes the student prompt and insists on the rollout's exact ids.
    scores = score_rollouts(model, processor, table, rows, ScoreConfig(), progress=False)
    assert [len(t) for t in scores["teacher_logprobs"].to_pylist()] == \
        table["response_length"].to_pylist()


def test_one_bos_for_a_text_model_with_the_same_template_quirk(tiny_lm_dir):
    model, tokenizer = load_policy(tiny_lm_dir, device="cpu")
    _gemma_style(tokenizer, SMOLLM2_CHAT_TEMPLATE)
    table = generate_rollouts(model, tokenizer, ROWS,
                              RolloutConfig(samples_per_prompt=1, max_new_tokens=3, seed=0))
    _assert_one_bos(table, tokenizer.bos_token_id, PROMPTS, tokenizer)
    scores = score_rollouts(model, tokenizer, table, PROMPTS, ScoreConfig(), progress=False)
    assert scores.num_rows == 2
