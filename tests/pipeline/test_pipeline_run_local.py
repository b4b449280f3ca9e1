"""End to end: ``python -m pipeline.run_local --small`` with kfp.local on the default model.

One round (2 prompts x 2 samples x 16 tokens), the update under torchrun with 2 processes,
both evaluations on 4 eval prompts. About 2.5 minutes on 2 CPU cores; the checkpoint it
writes (~2.7 GB with the DeepSpeed state) is removed afterwards.
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


def test_local_environment_defaults_and_user_overrides(tmp_path):
    from pipeline.run_local import local_environment

    env = local_environment({"RLSD_CACHE": "/mine", "PATH": "/bin"}, repo_root=tmp_path)
    assert env["RLSD_CACHE"] == "/mine" and env["PATH"] == "/bin"
    assert env["TORCH_EXTENSIONS_DIR"] == str(tmp_path / ".cache" / "torch_extensions")
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
