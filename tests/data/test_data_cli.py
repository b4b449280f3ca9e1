"""``python -m rlsd.data`` end to end in a temp folder (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from rlsd.data import PROMPT_SCHEMA

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlsd.data", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_default_run_prepares_the_synthetic_task(tmp_path):
    out = tmp_path / "out"
    proc = _run("--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines() == [
        f"data: synthetic:arithmetic: 100 rows -> 80 train, 20 eval, 0 rejected (0.0%); "
        f"wrote {out}"]
    train, held = pq.read_table(out / "train.parquet"), pq.read_table(out / "eval.parquet")
    assert train.schema == PROMPT_SCHEMA and (train.num_rows, held.num_rows) == (80, 20)
    assert (out / "rejects.jsonl").read_text() == ""
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] is True and summary["verifiers"] == {"numeric": 100}


def test_flags_and_set_overrides_reach_the_config(tmp_path):
    out = tmp_path / "out"
    proc = _run("--output", str(out), "--synthetic-difficulty", "4", "--synthetic-n", "30",
                "--set", "n_eval=6", "--seed", "2")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["train_rows"], summary["eval_rows"]) == (24, 6)
    assert summary["config"]["synthetic_difficulty"] == 4 and summary["seed"] == 2


def test_too_many_rejects_exit_2_with_one_line_and_rejects_on_disk(tmp_path):
    data = tmp_path / "d.jsonl"
    rows = [{"id": f"r{i}", "prompt": "What is 1 + 1?", "answer": "2" if i % 4 else ""}
            for i in range(20)]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out"
    proc = _run("--output", str(out), "--source", str(data))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "rlsd.data: error: 5 of 20 rows (25.0%) rejected, above max_reject_fraction=0.05; first "
        f"reasons: empty answer (5); see rejects at {out / 'rejects.jsonl'}")
    assert len((out / "rejects.jsonl").read_text().splitlines()) == 5
    assert not (out / "train.parquet").exists()


def test_a_bad_setting_is_one_config_error(tmp_path):
    proc = _run("--output", str(tmp_path), "--synthetic-difficulty", "9")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "rlsd.data: error: setting 'synthetic_difficulty' must be in 1..6, got 9"
