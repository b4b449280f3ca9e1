"""One full round with the stage commands, the update under torchrun with 2 processes (gloo).

data prep -> rollout -> verify -> score -> train (round 1) -> train again from its output
(round 2), on a tiny random model. Checks that the weights changed, that the DeepSpeed state
was saved and that round 2 resumed it (global step, λ and Adam's step count continue), and
that bad input fails with one line before any compute.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file

from rlsd.models.tiny import build_tiny_causal_lm
from rlsd.schemas import REWARD_SCHEMA
from rlsd.train.safe_state import load_state

pytestmark = pytest.mark.integration
PY = sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "RLSD_NO_PROGRESS": "1"}
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, **kw)


def _ok(argv: list[str]) -> str:
    result = _run(argv)
    assert result.returncode == 0, f"{argv[2]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _train(policy: Path, d: Path, out: Path, extra: list[str] = ()) -> str:
    return _ok([PY, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                "--master-port", str(_free_port()), "-m", "rlsd.train",
                "--policy", str(policy), "--rollouts", str(d / "rollouts.parquet"),
                "--rewards", str(d / "rewards.parquet"), "--scores", str(d / "scores.parquet"),
                "--output", str(out), "--learning-rate", "1e-3", "--micro-batch-tokens", "256",
                "--steps-per-round", "2", *extra])


@pytest.fixture(scope="module")
def round_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("round")
    policy = build_tiny_causal_lm(d / "policy", seed=0)
    _ok([PY, "-m", "rlsd.data", "--output", str(d / "data"), "--synthetic-n", "12",
         "--n-eval", "4"])
    prompts = str(d / "data" / "train.parquet")
    _ok([PY, "-m", "rlsd.rollout", "--policy", str(policy), "--prompts", prompts,
         "--output", str(d / "rollouts.parquet"), "--max-prompts", "4",
         "--samples-per-prompt", "4", "--max-new-tokens", "12"])
    _ok([PY, "-m", "rlsd.verify", "--prompts", prompts, "--rollouts", str(d / "rollouts.parquet"),
         "--output", str(d / "rewards.parquet")])
    # A random tiny model earns no reward, so every group would carry zero advantage and
    # no gradient. Give half of each group reward 1: the verify stage ran for real above;
    # this test is about the update.
    rewards = pq.read_table(d / "rewards.parquet").to_pylist()
    for row in rewards:
        row["reward"] = row["accuracy"] = float(row["sample_index"] % 2 == 0)
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(rewards, schema=REWARD_SCHEMA), d / "rewards.parquet")
    _ok([PY, "-m", "rlsd.score", "--policy", str(policy), "--rollouts", str(d / "rollouts.parquet"),
         "--prompts", prompts, "--output", str(d / "scores.parquet")])
    return d


def _adam_step(ckpt: Path, rank: int) -> float:
    path = ckpt / "deepspeed" / "state" / f"zero_pp_rank_{rank}_mp_rank_00_optim_states.pt"
    state = load_state(str(path))  # safetensors + JSON: no pickle in a checkpoint
    return float(state["optimizer_state_dict"]["base_optimizer_state"]["state"][0]["step"])


def test_round_trains_saves_and_resumes(round_dir):
    d = round_dir
    r1, r2 = d / "round-1", d / "round-2"
    out = _train(d / "policy", d, r1)
    assert '"round": 0' in out and '"step": 2' in out

    before, after = load_file(d / "policy" / "model.safetensors"), load_file(r1 / "model.safetensors")
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) > len(before) // 2, "most weight tensors should have moved"
    assert json.loads((r1 / "trainer_state.json").read_text())["global_step"] == 2
    manifest = json.loads((r1 / "manifest.json").read_text())
    names = {f["path"] for f in manifest["files"]}
    assert {"model.safetensors", "trainer_state.json", "metrics.jsonl"} <= names
    assert {f"deepspeed/state/zero_pp_rank_{r}_mp_rank_00_optim_states.pt" for r in (0, 1)} <= names
    assert _adam_step(r1, 0) == _adam_step(r1, 1) == 2

    metrics = [json.loads(line) for line in (r1 / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2]
    assert metrics[0]["lambda"] == pytest.approx(0.5) and metrics[1]["lambda"] < 0.5
    for key in ("loss", "reward_mean", "zero_advantage_group_fraction", "rlsd_weight_mean",
                "rlsd_weight_clip_low", "abs_token_advantage", "clip_frac", "approx_kl",
                "entropy", "grad_norm", "tokens_per_s"):
        assert key in metrics[0], key
    assert 0.8 <= metrics[0]["rlsd_weight_mean"] <= 1.2
    assert list((r1 / "tensorboard").iterdir()), "TensorBoard events were written"

    # Round 2 starts from round 1's output: Adam continues (step 2 -> 4), λ keeps decaying.
    _train(r1, d, r2)
    state = json.loads((r2 / "trainer_state.json").read_text())
    assert state == {"global_step": 4, "round": 1, "algorithm": "rlsd", "parent": str(r1)}
    assert _adam_step(r2, 0) == 4
    metrics2 = [json.loads(line) for line in (r2 / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics2] == [3, 4]
    assert metrics2[0]["lambda"] == pytest.approx(0.5 * (1 - 2 / 60))
    # The checkpoint carries the whole run's curves: round 1's steps, then round 2's.
    history = [json.loads(line) for line in
               (r2 / "metrics_history.jsonl").read_text().splitlines()]
    assert [(m["step"], m["round"]) for m in history] == [(1, 0), (2, 0), (3, 1), (4, 1)]


def test_on_policy_round_without_behaviour_pass(round_dir, tmp_path):
    """Scoring with behaviour_logprobs=false records only the teacher's log-probs; the
    one-step update uses its own forward as s_t and keeps it for the report. Those s_t equal
    the behaviour log-probs a full scoring pass computes."""
    d = round_dir
    lean = tmp_path / "scores-teacher-only.parquet"
    _ok([PY, "-m", "rlsd.score", "--policy", str(d / "policy"), "--rollouts",
         str(d / "rollouts.parquet"), "--prompts", str(d / "data" / "train.parquet"),
         "--output", str(lean), "--set", "behaviour_logprobs=false"])
    full = {(r["prompt_id"], r["sample_index"]): r
            for r in pq.read_table(d / "scores.parquet").to_pylist()}
    rows = pq.read_table(lean).to_pylist()
    assert all(r["old_logprobs"] is None for r in rows)
    for r in rows:  # the teacher pass is the same pass either way
        assert r["teacher_logprobs"] == pytest.approx(
            full[(r["prompt_id"], r["sample_index"])]["teacher_logprobs"], abs=1e-5)

    out = tmp_path / "policy"
    base = ["--policy", str(d / "policy"), "--rollouts", str(d / "rollouts.parquet"),
            "--rewards", str(d / "rewards.parquet"), "--scores", str(lean), "--output", str(out),
            "--micro-batch-tokens", "256"]
    result = _run([PY, "-m", "rlsd.train", *base, "--steps-per-round", "2"])
    _one_line_error(result, "steps_per_round=2 needs the behaviour policy's log-probs")

    _ok([PY, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
         str(_free_port()), "-m", "rlsd.train", *base, "--steps-per-round", "1"])
    kept = pq.read_table(out / "student_logprobs.parquet").to_pylist()
    trained = {(r["prompt_id"], r["sample_index"]) for r in rows}
    assert {(r["prompt_id"], r["sample_index"]) for r in kept} == trained  # both ranks' rows
    for r in kept:
        expected = full[(r["prompt_id"], r["sample_index"])]
        assert r["response_digest"] == expected["response_digest"]
        assert r["logprobs"] == pytest.approx(expected["old_logprobs"], abs=1e-4)
    metrics = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert metrics["ratio_mean"] == pytest.approx(1.0) and metrics["approx_kl"] == 0.0


def _one_line_error(result: subprocess.CompletedProcess, needle: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [ln for ln in result.stderr.splitlines() if "error:" in ln]
    assert len(lines) == 1 and needle in lines[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_bad_input_fails_in_one_line_before_compute(round_dir, tmp_path):
    d = round_dir
    base = ["--rollouts", str(d / "rollouts.parquet"), "--rewards", str(d / "rewards.parquet"),
            "--output", str(tmp_path / "out")]
    # A model path that does not exist.
    result = _run([PY, "-m", "rlsd.train", "--policy", str(tmp_path / "nope"),
                   "--scores", str(d / "scores.parquet"), *base])
    _one_line_error(result, "model path does not exist")
    # A checkpoint with a missing shard.
    broken = tmp_path / "broken"
    shutil.copytree(d / "policy", broken)
    (broken / "model.safetensors").unlink()
    result = _run([PY, "-m", "rlsd.score", "--policy", str(broken), "--rollouts",
                   str(d / "rollouts.parquet"), "--prompts", str(d / "data" / "train.parquet"),
                   "--output", str(tmp_path / "s.parquet")])
    _one_line_error(result, "incomplete checkpoint")
    # Scores of other rollouts: token ids do not match.
    scores = pq.read_table(d / "scores.parquet").to_pylist()
    scores[3]["response_digest"] = "0" * 16
    import pyarrow as pa

    from rlsd.schemas import SCORE_SCHEMA

    pq.write_table(pa.Table.from_pylist(scores, schema=SCORE_SCHEMA), tmp_path / "bad.parquet")
    result = _run([PY, "-m", "rlsd.train", "--policy", str(d / "policy"),
                   "--scores", str(tmp_path / "bad.parquet"), *base])
    _one_line_error(result, "scores do not match rollouts")
    assert not (tmp_path / "out").exists(), "nothing was written"
