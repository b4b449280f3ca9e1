"""Every mistake a user makes once, at the command line: each gets exit status 2, one line
that names the problem, no traceback, before any model runs, and nothing already written is
lost. (Component- and pipeline-level mistakes are tested next to those.)"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlsd.schemas import REWARD_SCHEMA, ROLLOUT_SCHEMA, SCORE_SCHEMA, response_digest

PY = sys.executable
REPO = Path(__file__).resolve().parent.parent


def _run(args: list[str], env: dict[str, str | None] | None = None, timeout: float = 300
         ) -> subprocess.CompletedProcess:
    """Run ``python -m args``; ``env`` adds variables (None: remove one)."""
    full_env = {**os.environ, "RLSD_NO_PROGRESS": "1", "TQDM_DISABLE": "1"}
    for name, value in (env or {}).items():
        if value is None:
            full_env.pop(name, None)
        else:
            full_env[name] = value
    return subprocess.run([PY, "-m", *args], capture_output=True, text=True, cwd=REPO,
                          env=full_env, timeout=timeout)


def _one_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-2500:])
    assert "Traceback" not in result.stderr, result.stderr[-2500:]
    lines = [ln for ln in result.stderr.splitlines() if "error:" in ln]
    assert len(lines) == 1, result.stderr[-2500:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mistakes") / "data"
    done = _run(["rlsd.data", "--output", str(folder), "--synthetic-n", "8", "--n-eval", "2"])
    assert done.returncode == 0, done.stderr[-2000:]
    return folder


def _round_tables(folder: Path, group: int) -> dict[str, Path]:
    """Rollouts, rewards and teacher-only scores of 2 prompts x ``group`` samples."""
    rollouts, rewards, scores = [], [], []
    for p in range(2):
        for i in range(group):
            tokens = [11 + i, 12 + i]
            rollouts.append({"prompt_id": f"q{p}", "sample_index": i, "prompt_token_ids": [1, 2],
                             "response_token_ids": tokens, "response_text": "x",
                             "finish_reason": "stop", "prompt_length": 2, "response_length": 2,
                             "sampler_logprobs": None, "response_digest": response_digest(tokens),
                             "policy_step": 0})
            rewards.append({"prompt_id": f"q{p}", "sample_index": i, "reward": float(i % 2),
                            "accuracy": float(i % 2), "format": 1.0, "reason": "t"})
            scores.append({"prompt_id": f"q{p}", "sample_index": i,
                           "response_digest": response_digest(tokens), "response_length": 2,
                           "old_logprobs": None, "teacher_logprobs": [-1.0, -1.0],
                           "teacher_step": 0})
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, rows, schema in (("rollouts", rollouts, ROLLOUT_SCHEMA),
                               ("rewards", rewards, REWARD_SCHEMA),
                               ("scores", scores, SCORE_SCHEMA)):
        out[name] = folder / f"{name}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), out[name])
    return out


def test_a_data_source_that_does_not_exist(tmp_path):
    out = tmp_path / "out"
    _one_error(_run(["rlsd.data", "--output", str(out), "--source",
                     str(tmp_path / "nope.parquet")]), "nope.parquet")
    assert not out.exists()


def test_a_policy_folder_that_does_not_exist(data, tmp_path):
    _one_error(_run(["rlsd.rollout", "--policy", str(tmp_path / "no-model"), "--prompts",
                     str(data / "train.parquet"), "--output", str(tmp_path / "r.parquet")]),
               "no-model")


def test_zero_samples_per_prompt(data, tmp_path):
    _one_error(_run(["rlsd.rollout", "--policy", "default", "--prompts",
                     str(data / "train.parquet"), "--output", str(tmp_path / "r.parquet"),
                     "--samples-per-prompt", "0"]), "samples_per_prompt must be >= 1")


def test_opd_without_a_teacher(data, tmp_path):
    tables = _round_tables(tmp_path / "round", 2)
    _one_error(_run(["rlsd.score", "--policy", "default", "--rollouts", str(tables["rollouts"]),
                     "--prompts", str(data / "train.parquet"), "--output",
                     str(tmp_path / "s.parquet"), "--algorithm", "opd"]), "needs --teacher")


@pytest.mark.parametrize("algorithm", ["grpo", "rlsd"])
def test_one_sample_per_prompt_with_a_group_advantage(tmp_path, algorithm):
    tables = _round_tables(tmp_path / "round", 1)
    args = ["rlsd.train", "--policy", "default", "--rollouts", str(tables["rollouts"]),
            "--rewards", str(tables["rewards"]), "--output", str(tmp_path / "policy"),
            "--algorithm", algorithm]
    if algorithm != "grpo":
        args += ["--scores", str(tables["scores"])]
    _one_error(_run(args), "G = 1", "samples_per_prompt")
    assert not (tmp_path / "policy").exists()


def test_several_steps_without_behaviour_logprobs(tmp_path):
    tables = _round_tables(tmp_path / "round", 2)
    _one_error(_run(["rlsd.train", "--policy", "default", "--rollouts", str(tables["rollouts"]),
                     "--rewards", str(tables["rewards"]), "--scores", str(tables["scores"]),
                     "--output", str(tmp_path / "policy"), "--steps-per-round", "2"]),
               "needs the behaviour policy's log-probs")


def test_an_impossible_zero_stage(tmp_path):
    tables = _round_tables(tmp_path / "round", 2)
    _one_error(_run(["rlsd.train", "--policy", "default", "--rollouts", str(tables["rollouts"]),
                     "--rewards", str(tables["rewards"]), "--scores", str(tables["scores"]),
                     "--output", str(tmp_path / "policy"), "--set", "zero_stage=5"]),
               "zero_stage")


def test_the_wrong_table_in_the_wrong_place(data, tmp_path):
    tables = _round_tables(tmp_path / "round", 2)
    _one_error(_run(["rlsd.score", "--policy", "default", "--rollouts", str(tables["rewards"]),
                     "--prompts", str(data / "train.parquet"), "--output",
                     str(tmp_path / "s.parquet")]), "response_token_ids")


def test_a_missing_rollouts_file(data, tmp_path):
    _one_error(_run(["rlsd.verify", "--prompts", str(data / "train.parquet"), "--rollouts",
                     str(tmp_path / "missing.parquet"), "--output", str(tmp_path / "r.parquet")]),
               "missing.parquet")


def test_an_unknown_benchmark(tmp_path):
    _one_error(_run(["rlsd.evaluate", "--policy", "default", "--benchmark", "gsm9k",
                     "--output", str(tmp_path / "eval")]), "gsm9k")


def test_s3_without_credentials(tmp_path):
    env = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None,
           "AWS_PROFILE": None, "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    args = ["rlsd.verify", "--prompts", "s3://bucket/data/train.parquet", "--rollouts",
            "s3://bucket/r.parquet", "--output", str(tmp_path / "r.parquet")]
    _one_error(_run(args, env=env), "AWS_ACCESS_KEY_ID")
    _one_error(_run(args, env={**env, "AWS_PROFILE": "team-prod"}),
               "AWS_PROFILE names the profile 'team-prod'")


def test_an_unreachable_s3_endpoint(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"AWS_ACCESS_KEY_ID": "fake-key-id", "AWS_SECRET_ACCESS_KEY": "fake-secret",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    started = time.perf_counter()
    line = _one_error(_run(["rlsd.verify", "--prompts", "s3://bucket/data/train.parquet",
                            "--rollouts", "s3://bucket/r.parquet", "--output",
                            str(tmp_path / "r.parquet")], env=env), f"127.0.0.1:{port}")
    assert "fake-secret" not in line
    assert time.perf_counter() - started < 45  # seconds, not a minute of retries


def test_bad_pipeline_options(tmp_path):
    _one_error(_run(["pipeline.compile", "--algorithm", "opd", "--output",
                     str(tmp_path / "p.yaml")]), "separate teacher")
    _one_error(_run(["pipeline.compile", "--rounds", "0", "--output", str(tmp_path / "p.yaml")]),
               "rounds must be >= 1")
    assert not (tmp_path / "p.yaml").exists()


def test_a_malformed_data_row_is_rejected_not_fatal(tmp_path):
    source = tmp_path / "rows.jsonl"
    good = {"id": "a", "prompt": "What is 2 + 2?", "answer": "4"}
    source.write_text(json.dumps(good) + "\n" + json.dumps({"id": "b", "prompt": "",
                                                            "answer": "1"}) + "\n"
                      + json.dumps({**good, "id": "c", "prompt": "What is 3 + 3?",
                                    "answer": "6"}) + "\n")
    args = ["rlsd.data", "--source", str(source), "--prompt-field", "prompt",
            "--answer-field", "answer", "--id-field", "id", "--n-eval", "0"]
    # 1 of 3 rows bad is above the default 5% threshold: one line, and the rejects are kept.
    strict = tmp_path / "strict"
    _one_error(_run([*args, "--output", str(strict)]), "1 of 3 rows", "rejects.jsonl")
    rejects = [json.loads(line) for line in (strict / "rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == 1 and "empty prompt" in json.dumps(rejects[0])
    out = tmp_path / "out"
    done = _run([*args, "--output", str(out), "--set", "max_reject_fraction=0.5"])
    assert done.returncode == 0, done.stderr[-2000:]
    assert len((out / "rejects.jsonl").read_text().splitlines()) == 1
