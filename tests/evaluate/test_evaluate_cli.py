"""``python -m rlsd.evaluate`` on the real default model and the synthetic task."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_evaluate_default_model(tmp_path):
    data, out = tmp_path / "data", tmp_path / "eval"
    subprocess.run([sys.executable, "-m", "rlsd.data", "--output", str(data), "--synthetic-n",
                    "20", "--n-eval", "4"], check=True, capture_output=True)
    result = subprocess.run(
        [sys.executable, "-m", "rlsd.evaluate", "--policy", "default", "--prompts",
         str(data / "eval.parquet"), "--output", str(out), "--samples-per-prompt", "2",
         "--temperature", "1.0", "--k-values", "1,2", "--max-new-tokens", "24"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["prompts"] == 4 and metrics["samples"] == 8
    assert 0.0 <= metrics["pass@1"] <= metrics["pass@2"] <= 1.0
    results = json.loads((out / "results.json").read_text())
    assert len(results) == 8 and {"answer", "gold", "correct", "reason"} <= set(results[0])
    assert "| pass@1 |" in (out / "report.md").read_text()


def test_bad_k_is_one_line_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rlsd.evaluate", "--policy", "default", "--prompts", "x.parquet",
         "--output", str(tmp_path), "--k-values", "4"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "k_values [4] must be in 1..samples_per_prompt (1)" in result.stderr
