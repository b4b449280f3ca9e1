"""End to end: ``python -m pipeline.run_local --small`` with kfp.local on the default model.

Staged: one round (2 prompts x 2 samples x 16 tokens), the update under torchrun with 2
processes, both evaluations on 4 eval prompts. About 2.5 minutes on 2 CPU cores; the
checkpoint it writes (~2.7 GB with the DeepSpeed state) is removed afterwards. Fused
(``--mode fused``): two rounds in two chained fused jobs, the same small sizes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components._shared.model_pointer import KIND_CHECKPOINT, read_pointer
from pipeline.run_local import comparison_report
from rlsd.storage import read_table, verify_manifest
from tests.pipeline.test_pipeline_kubernetes import FAKE_KEY_ID, FAKE_SECRET

REPO = Path(__file__).resolve().parents[2]


def test_comparison_report_lists_every_metric():
    text = comparison_report({"pass@1": 0.25, "format": 0.5}, {"pass@1": 0.5}, "b.md", "f.md", 2)
    assert "| pass@1 | 0.2500 | 0.5000 | +0.2500 |" in text
    assert "| format | 0.5000 |  |  |" in text
    assert "`b.md`" in text and "`f.md`" in text and "(2 round(s))" in text


@pytest.mark.integration
@pytest.mark.slow
def test_run_local_small_runs_the_whole_pipeline(tmp_path):
    root = tmp_path / "run"
    try:
        # Known fake credentials in the environment: none may reach a log, report or artifact.
        env = {**os.environ, "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
               "AWS_SECRET_ACCESS_KEY": FAKE_SECRET, "KFP_TOKEN": FAKE_SECRET}
        done = subprocess.run([sys.executable, "-m", "pipeline.run_local", "--small",
                               "--root", str(root)], cwd=REPO, capture_output=True, text=True,
                              timeout=900, env=env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        for text in (done.stdout, done.stderr):
            assert FAKE_KEY_ID not in text and FAKE_SECRET not in text
        scanned = 0
        for path in root.rglob("*"):
            if path.is_file() and path.stat().st_size < 50 * 2**20:  # weights hold no text
                data = path.read_bytes()
                assert FAKE_KEY_ID.encode() not in data and FAKE_SECRET.encode() not in data, path
                scanned += 1
        assert scanned > 20  # logs of every task, tables, reports, pointers, metrics
        assert f"table:         {root / 'report.md'}" in done.stdout
        report = (root / "report.md").read_text()
        assert "| pass@1 |" in report and "base vs final policy (1 round(s))" in report
        html = (root / "report.html").read_text()
        assert "Evaluation before and after training" in html
        assert "1 optimizer steps (1–1) over 1 round(s)" in html  # the training curves
        assert html.count('<figure><img src="data:image/png;base64,') >= 10
        assert "<h3>round 0</h3>" in html and html.count('class="card"') >= 1  # token credit

        (run_dir,) = (root / "kfp").iterdir()
        pointer = read_pointer(run_dir / "update" / "updated_policy")
        assert (pointer.kind, pointer.round, pointer.step, pointer.algorithm) \
            == (KIND_CHECKPOINT, 0, 1, "rlsd")
        assert pointer.uri == str(run_dir / "update" / "updated_policy-checkpoint")
        manifest = verify_manifest(pointer.uri)  # the checkpoint matches the pointer's files
        assert {f.path: f.size for f in manifest.files} \
            == {f.path: f.size for f in pointer.files}
        assert any(f.path == "model.safetensors" for f in pointer.files)

        rollouts = read_table(run_dir / "merge" / "round_rollouts")
        assert rollouts.num_rows == 2 * 2  # prompts_per_round x samples_per_prompt
        assert max(rollouts["response_length"].to_pylist()) <= 16
        scores = read_table(run_dir / "merge" / "round_scores")
        assert scores["response_digest"].to_pylist() == rollouts["response_digest"].to_pylist()
        # One optimizer step per round: scoring ran the teacher pass only, and the on-policy
        # update kept its own s_t for the report's token view.
        assert scores["old_logprobs"].null_count == scores.num_rows
        assert scores["teacher_logprobs"].null_count == 0
        assert "student_logprobs.parquet" in {f.path for f in pointer.files}

        final = json.loads((run_dir / "evaluate-2" / "results" / "results.json").read_text())
        base = json.loads((run_dir / "evaluate" / "results" / "results.json").read_text())
        assert len(final) == len(base) == 4  # the same 4 eval prompts, 1 sample each
        assert [r["prompt_id"] for r in final] == [r["prompt_id"] for r in base]
        assert (run_dir / "evaluate-2" / "report").read_text().startswith(
            f"**final** policy `{pointer.uri}` (trainer round 0, step 1)")

        # Resume: a second run continues the first from its run root (its last finished
        # round) instead of starting over: round 1, step 2, both rounds' curves.
        again = root / "resumed"
        done = subprocess.run([sys.executable, "-m", "pipeline.run_local", "--small",
                               "--root", str(again), "--param", f"resume_from={run_dir}"],
                              cwd=REPO, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert f"resuming from round 0 (optimizer step 1, rlsd) at {pointer.uri}" in done.stdout
        (run2,) = (again / "kfp").iterdir()
        resumed = read_pointer(run2 / "update" / "updated_policy")
        assert (resumed.round, resumed.step) == (1, 2)
        history = (Path(resumed.uri) / "metrics_history.jsonl").read_text().splitlines()
        assert [json.loads(line)["step"] for line in history] == [1, 2]
        assert "2 optimizer steps (1–2) over 2 round(s)" in (again / "report.html").read_text()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.integration
@pytest.mark.slow
def test_run_local_fused_chains_two_resident_jobs(tmp_path):
    """``--mode fused``: 2 rounds in 2 chained fused jobs (torchrun -m rlsd.loop, 2 processes
    each), then both evaluations and the report. About 3 minutes on 2 CPU cores."""
    root = tmp_path / "fused"
    try:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
               "AWS_SECRET_ACCESS_KEY": FAKE_SECRET, "KFP_TOKEN": FAKE_SECRET}
        done = subprocess.run([sys.executable, "-m", "pipeline.run_local", "--small",
                               "--mode", "fused", "--rounds", "2", "--rounds-per-job", "1",
                               "--root", str(root)], cwd=REPO, capture_output=True, text=True,
                              timeout=900, env=env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "(fused mode)" in done.stdout
        for text in (done.stdout, done.stderr):
            assert FAKE_KEY_ID not in text and FAKE_SECRET not in text
        for path in root.rglob("*"):
            if path.is_file() and path.stat().st_size < 50 * 2**20:  # weights hold no text
                data = path.read_bytes()
                assert FAKE_KEY_ID.encode() not in data and FAKE_SECRET.encode() not in data, path
        assert "base vs final policy (2 round(s))" in (root / "report.md").read_text()
        html = (root / "report.html").read_text()
        assert "Evaluation before and after training" in html
        assert "<h3>round 1</h3>" in html  # the token view of the last job's last round

        (run_dir,) = (root / "kfp").iterdir()
        assert not [d for d in run_dir.iterdir()  # no staged task ran
                    if d.name.split("-")[0] in ("rollout", "verify", "score", "merge", "update")]
        first, last = (read_pointer(run_dir / task / "updated_policy")
                       for task in ("fused", "fused-2"))
        # Each job's pointer names the last round-NNNN checkpoint under its own output.
        assert first.uri == str(run_dir / "fused" / "updated_policy-checkpoint" / "round-0000")
        assert last.uri == str(run_dir / "fused-2" / "updated_policy-checkpoint" / "round-0001")
        assert (first.kind, first.round, last.kind, last.round, last.algorithm) \
            == (KIND_CHECKPOINT, 0, KIND_CHECKPOINT, 1, "rlsd")
        manifest = verify_manifest(last.uri)
        assert {f.path: f.size for f in manifest.files} == {f.path: f.size for f in last.files}
        # The second job started from the first one's pointer and carried on its history.
        state = json.loads((Path(last.uri) / "trainer_state.json").read_text())
        assert (state["parent"], state["mode"], state["round"]) == (first.uri, "fused", 1)
        history = [json.loads(line) for line in
                   (Path(last.uri) / "metrics_history.jsonl").read_text().splitlines()]
        assert [r["step"] for r in history] == list(range(1, last.step + 1))
        assert {r["round"] for r in history} <= {0, 1}

        # The last round's tables, as the loop wrote them, are the job's Dataset outputs.
        tables = Path(last.uri).parent / "tables" / "round-0001"
        rollouts = read_table(run_dir / "fused-2" / "round_rollouts")
        assert rollouts.num_rows == 2 * 2  # prompts_per_round x samples_per_prompt
        assert rollouts.equals(read_table(tables / "rollouts.parquet"))
        scores = read_table(run_dir / "fused-2" / "round_scores")
        assert scores["response_digest"].to_pylist() == rollouts["response_digest"].to_pylist()
        assert scores["teacher_logprobs"].null_count == 0
        assert read_table(run_dir / "fused-2" / "round_rewards").num_rows == 4

        final = json.loads((run_dir / "evaluate-2" / "results" / "results.json").read_text())
        assert len(final) == 4
        assert (run_dir / "evaluate-2" / "report").read_text().startswith(
            f"**final** policy `{last.uri}` (trainer round 1, step {last.step})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_local_environment_defaults_and_user_overrides(tmp_path):
    from pipeline.run_local import local_environment

    env = local_environment({"RLSD_CACHE": "/mine", "PATH": "/bin"}, repo_root=tmp_path)
    assert env["RLSD_CACHE"] == "/mine" and env["PATH"] == "/bin"
    assert env["TORCH_EXTENSIONS_DIR"] == str(tmp_path / ".cache" / "torch_extensions")
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
