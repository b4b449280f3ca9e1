"""A rollout killed mid-way (SIGKILL while it generates) leaves no rollouts table, not a
partial one, and running the same command again writes the complete table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_killed_rollout_leaves_nothing_and_the_rerun_completes(tmp_path):
    env = {**os.environ, "RLSD_NO_PROGRESS": "1"}
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "rlsd.data", "--output", str(data)], env=env,
                   check=True, capture_output=True)
    out = tmp_path / "round-0" / "rollouts.parquet"
    argv = [sys.executable, "-m", "rlsd.rollout", "--policy", "default", "--prompts",
            str(data / "train.parquet"), "--output", str(out), "--max-prompts", "8",
            "--samples-per-prompt", "4", "--max-new-tokens", "64"]
    proc = subprocess.Popen(argv, env={**env, "RLSD_PHASE_TIMES": str(tmp_path / "p.json")},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(12)  # imports and model load take ~8 s here; generation ~20 s
    assert proc.poll() is None, "the rollout finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    assert not [p for p in out.parent.glob("*") if p.is_file()]  # no temporary leftovers

    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    table = pq.read_table(out)
    assert table.num_rows == 32
