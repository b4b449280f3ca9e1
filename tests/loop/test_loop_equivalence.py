"""The fused loop computes what the staged rounds compute (design.md: "the fused loop must
reproduce the staged rounds exactly"), and resumes after a kill.

Two rounds from the same tiny random policy, the same prompts, seeds and shard layout
(2 rollout shards staged = 2 torchrun ranks fused), for GRPO and for RLSD with a frozen
teacher snapshot (K = 2: round 1 is scored by the round-0 policy). The staged side runs the
stage functions the components run (rollout per shard, verify, score per shard, the shards
concatenated as the merge component does) and the update under torchrun with 2 processes;
the fused side is ``python -m rlsd.loop`` under torchrun with 2 processes. Compared: every
round's sampled token ids (exactly), rewards and teacher log-probs, and the weights after
round 1 (fp32 tolerance).

A random policy earns no reward from a real verifier, so every group would have zero
advantage and no gradient: the prompts name a test verifier ``parity`` (1 when the answer has
an even number of characters), registered as an operator plug-in, which gives mixed groups.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file

from rlsd.evaluate.config import EvalConfig
from rlsd.evaluate.evaluation import aggregate, sample_and_score
from rlsd.models import load_policy
from rlsd.models.tiny import build_tiny_causal_lm
from rlsd.rollout import RolloutConfig, run_rollout
from rlsd.rollout.selection import round_positions
from rlsd.schemas import REWARD_SCHEMA, ROLLOUT_SCHEMA, SCORE_SCHEMA
from rlsd.score.config import ScoreConfig
from rlsd.score.scoring import score_rollouts
from rlsd.train.checkpoint import read_trainer_state
from rlsd.verify import VerifyConfig, verify_batch
from rlsd.verify.tables import rewards_table, rollout_items

pytestmark = pytest.mark.integration
PY = sys.executable
SHARDS = 2
PER_ROUND = 4
SETTINGS = {"samples_per_prompt": 4, "max_new_tokens": 12, "seed": 3}
LR, MICRO_TOKENS, TRAIN_SEED = "1e-3", "256", "5"
PLUGIN = "parity=rlsd_parity_verifier:parity"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(plugin_dir: Path) -> dict[str, str]:
    path = os.pathsep.join([str(plugin_dir), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "RLSD_NO_PROGRESS": "1", "PYTHONPATH": path,
            "OMP_WAIT_POLICY": "PASSIVE"}


def _run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, f"{argv[:6]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("fused")
    plugin_dir = d / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "rlsd_parity_verifier.py").write_text(
        "def parity(answer, gold):\n    return float(len(answer) % 2 == 0)\n")
    sys.path.insert(0, str(plugin_dir))
    policy = build_tiny_causal_lm(d / "policy", seed=0)
    env = _env(plugin_dir)
    _run([PY, "-m", "rlsd.data", "--output", str(d / "data"), "--synthetic-n", "12",
          "--n-eval", "4"], env)
    for name in ("train", "eval"):
        table = pq.read_table(d / "data" / f"{name}.parquet")
        table = table.set_column(table.schema.get_field_index("verifier"), "verifier",
                                 pa.array(["parity"] * table.num_rows, pa.string()))
        pq.write_table(table, d / f"{name}-prompts.parquet")
    prompts = d / "train-prompts.parquet"
    yield d, policy, prompts, env
    sys.path.remove(str(plugin_dir))


def _staged_round(d: Path, r: int, policy: Path, teacher: Path, prompts: Path, algorithm: str,
                  env: dict[str, str]) -> Path:
    """Round ``r`` the staged way; returns the updated policy's folder."""
    out = d / f"staged-{algorithm}" / f"round-{r}"
    out.mkdir(parents=True)
    table = pq.read_table(prompts)
    window = out / "prompts.parquet"
    pq.write_table(table.take(round_positions(table.num_rows, r, PER_ROUND)), window)
    rows = {row["id"]: row for row in pq.read_table(window).to_pylist()}
    verify_cfg = VerifyConfig(extra_verifiers=[PLUGIN])
    parts: dict[str, list[pa.Table]] = {"rollouts": [], "rewards": [], "scores": []}
    for shard in range(SHARDS):
        config = RolloutConfig(**SETTINGS, shard_index=shard, num_shards=SHARDS)
        rollouts = run_rollout(str(policy), window, out / f"rollouts-{shard}.parquet",
                               config).table
        keys, items = rollout_items(rollouts, pq.read_table(window), verify_cfg)
        parts["rollouts"].append(rollouts)
        parts["rewards"].append(rewards_table(keys, verify_batch(items, verify_cfg)))
        if algorithm != "grpo":
            model, processor = load_policy(policy, dtype="float32")
            frozen, _ = load_policy(teacher, dtype="float32") if teacher != policy else (None, None)
            parts["scores"].append(score_rollouts(
                model, processor, rollouts, rows, ScoreConfig(behaviour_logprobs=False),
                teacher=frozen, teacher_step=read_trainer_state(teacher)["global_step"],
                progress=False))
    merged = {name: pa.concat_tables([t.cast(schema) for t in parts[name]])
              for name, schema in (("rollouts", ROLLOUT_SCHEMA), ("rewards", REWARD_SCHEMA),
                                   ("scores", SCORE_SCHEMA)) if parts[name]}
    for name, t in merged.items():
        pq.write_table(t, out / f"{name}.parquet")
    extra = ["--scores", str(out / "scores.parquet")] if algorithm != "grpo" else []
    _run([PY, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
          str(_free_port()), "-m", "rlsd.train", "--policy", str(policy),
          "--rollouts", str(out / "rollouts.parquet"), "--rewards", str(out / "rewards.parquet"),
          *extra, "--output", str(out / "policy"), "--algorithm", algorithm,
          "--learning-rate", LR, "--micro-batch-tokens", MICRO_TOKENS, "--seed", TRAIN_SEED,
          "--set", "tensorboard=false"], env)
    return out / "policy"


def _fused_argv(policy: Path, prompts: Path, output: Path, algorithm: str, k: int,
                save_every: int = 10) -> list[str]:
    return [PY, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
            str(_free_port()), "-m", "rlsd.loop", "--policy", str(policy),
            "--prompts", str(prompts), "--output", str(output), "--rounds", "2",
            "--save-every", str(save_every), "--prompts-per-round", str(PER_ROUND),
            "--algorithm", algorithm, "--set", f"algorithm.teacher_refresh_rounds={k}",
            *[f"--set=rollout.{k_}={v}" for k_, v in SETTINGS.items()],
            "--set", f"verify.extra_verifiers=[{PLUGIN}]",
            "--set", f"train.learning_rate={LR}", "--set", f"train.micro_batch_tokens={MICRO_TOKENS}",
            "--set", f"train.seed={TRAIN_SEED}", "--set", "train.tensorboard=false"]


def _sorted_rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda row: (row["prompt_id"], row["sample_index"]))


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.parametrize(("algorithm", "k"), [("grpo", 0), ("rlsd", 2)])
def test_fused_rounds_equal_staged_rounds(setup, algorithm: str, k: int) -> None:
    d, base, prompts, env = setup
    policies = [base]
    for r in range(2):
        teacher = policies[(r // k) * k] if k else policies[r]
        policies.append(_staged_round(d, r, policies[r], teacher, prompts, algorithm, env))
    fused = d / f"fused-{algorithm}"
    held_out = d / "eval-prompts.parquet"
    # Held-out evaluation as it trains (GRPO's run; the RLSD run checks it is off by default).
    evaluation = ["--eval-prompts", str(held_out), "--set", "loop.eval_every=1",
                  "--set", "evaluate.max_new_tokens=12"] if algorithm == "grpo" else []
    _run(_fused_argv(base, prompts, fused, algorithm, k) + evaluation, env)

    for r in range(2):
        staged_dir = d / f"staged-{algorithm}" / f"round-{r}"
        fused_dir = fused / "tables" / f"round-{r:04d}"
        staged_roll = _sorted_rows(pq.read_table(staged_dir / "rollouts.parquet"))
        fused_roll = _sorted_rows(pq.read_table(fused_dir / "rollouts.parquet"))
        assert [(x["prompt_id"], x["sample_index"], x["response_token_ids"]) for x in staged_roll] \
            == [(x["prompt_id"], x["sample_index"], x["response_token_ids"]) for x in fused_roll]
        staged_rew = _sorted_rows(pq.read_table(staged_dir / "rewards.parquet"))
        fused_rew = _sorted_rows(pq.read_table(fused_dir / "rewards.parquet"))
        assert [x["reward"] for x in staged_rew] == [x["reward"] for x in fused_rew]
        assert len({x["reward"] for x in fused_rew}) == 2  # mixed groups: a real gradient
        if algorithm != "grpo":
            staged_sc = _sorted_rows(pq.read_table(staged_dir / "scores.parquet"))
            fused_sc = _sorted_rows(pq.read_table(fused_dir / "scores.parquet"))
            assert [x["teacher_step"] for x in staged_sc] == [x["teacher_step"] for x in fused_sc]
            for a, b in zip(staged_sc, fused_sc, strict=True):
                assert torch.allclose(torch.tensor(a["teacher_logprobs"]),
                                      torch.tensor(b["teacher_logprobs"]), atol=1e-5)
    if k:  # round 1 was scored by the round-0 snapshot, not the live policy
        assert {x["teacher_step"] for x in pq.read_table(
            fused / "tables" / "round-0001" / "scores.parquet").to_pylist()} == {0}

    staged_w, fused_w = _weights(policies[2]), _weights(fused / "round-0001")
    base_w = _weights(base)
    assert staged_w.keys() == fused_w.keys()
    moved = max(float((staged_w[n] - base_w[n]).abs().max()) for n in staged_w)
    assert moved > 1e-4  # the two rounds changed the weights
    for name in staged_w:
        assert torch.allclose(staged_w[name], fused_w[name], atol=1e-5, rtol=1e-4), name
    state = read_trainer_state(fused / "round-0001")
    assert (state["round"], state["global_step"]) == (1, 2)
    history = (fused / "round-0001" / "metrics_history.jsonl").read_text().splitlines()
    assert len(history) == 2
    evaluations = fused / "round-0001" / "evaluations.jsonl"
    if algorithm != "grpo":
        assert not evaluations.exists()
        return
    # The start, after round 0 and after round 1, each measured on the live, sharded policy
    # in the job: equal to evaluating the same policies afresh from their folders.
    entries = [json.loads(line) for line in evaluations.read_text().splitlines()]
    assert [(e["round"], e["step"], e["prompts"]) for e in entries] == [(-1, 0, 4), (0, 1, 4),
                                                                         (1, 2, 4)]
    rows = pq.read_table(held_out).to_pylist()
    config = EvalConfig(max_new_tokens=12)
    verify = VerifyConfig(extra_verifiers=[PLUGIN])
    for entry, folder in ((entries[0], base), (entries[2], fused / "round-0001")):
        model, processor = load_policy(folder, dtype="float32")
        afresh = aggregate(sample_and_score(model, processor, rows, config, verify), [1])
        for key in ("accuracy", "response_length", "truncation_rate"):
            assert entry[key] == pytest.approx(afresh["mean@1" if key == "accuracy" else key])


def test_a_killed_fused_job_resumes_from_its_last_checkpoint(setup) -> None:
    d, base, prompts, env = setup
    out = d / "fused-killed"
    argv = _fused_argv(base, prompts, out, "rlsd", 2, save_every=1)
    job = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=env, start_new_session=True)
    first = out / "round-0000" / "manifest.json"
    deadline = time.monotonic() + 600
    while not first.exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first.exists(), "the job never wrote its round-0 checkpoint"
    # Mid-run, as a lost node: SIGKILL torchrun and every worker (torchrun starts its workers
    # in sessions of their own, so the process group alone would leave them running).
    procs = [psutil.Process(job.pid), *psutil.Process(job.pid).children(recursive=True)]
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGKILL)
    job.wait(timeout=60)
    psutil.wait_procs(procs, timeout=60)
    assert not (out / "round-0001" / "manifest.json").exists()

    log = _run(argv, env)  # the same command again
    assert f"resumed from {out / 'round-0000'}" in log
    assert "rounds 1..1" in log
    again = _run(argv, env)  # and once more: nothing left to do
    assert "already complete" in again

    uninterrupted = d / "fused-whole"
    _run(_fused_argv(base, prompts, uninterrupted, "rlsd", 2, save_every=1), env)
    resumed_w, whole_w = _weights(out / "round-0001"), _weights(uninterrupted / "round-0001")
    for name in whole_w:
        assert torch.allclose(resumed_w[name], whole_w[name], atol=1e-6), name
    # the teacher snapshot (taken at round 0, K = 2) was restored, not re-taken at round 1
    assert (out / "round-0000" / "teacher" / "model.safetensors").exists()
    resumed_scores = pq.read_table(out / "tables" / "round-0001" / "scores.parquet").to_pylist()
    assert {row["teacher_step"] for row in resumed_scores} == {0}
