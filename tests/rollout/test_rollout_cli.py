"""run_rollout and ``python -m rlsd.rollout``: files in, files out, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlsd.data import PROMPT_SCHEMA
from rlsd.rollout import RolloutConfig, RolloutError, read_prompt_rows, run_rollout, vllm_installed
from rlsd.rollout.__main__ import main
from rlsd.schemas import ROLLOUT_SCHEMA
from rlsd.storage import read_table, write_table

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def stepped_policy(tiny_lm_dir, tmp_path) -> Path:
    """The tiny model as a trained checkpoint: a copy with trainer_state.json at step 7."""
    folder = tmp_path / "policy"
    shutil.copytree(tiny_lm_dir, folder)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 7, "round": 0}))
    return folder


def test_cli_end_to_end(stepped_policy, arithmetic_rows, prompts_parquet, tmp_path):
    prompts = prompts_parquet(arithmetic_rows(5))
    output = tmp_path / "out" / "rollouts.parquet"
    env = {**os.environ, "RLSD_NO_PROGRESS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "rlsd.rollout", "--policy", str(stepped_policy),
         "--prompts", str(prompts), "--output", str(output), "--samples-per-prompt", "2",
         "--max-new-tokens", "3", "--set", "num_shards=2", "--set", "shard_index=1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert summary.startswith("rollout: 2 prompts x 2 = 4 samples, 12 tokens in ")
    assert "[transformers, policy step 7]" in summary and str(output) in summary
    table = pq.read_table(output)
    assert table.schema.equals(ROLLOUT_SCHEMA)
    ids = [row["id"] for row in arithmetic_rows(5)]
    assert table["prompt_id"].to_pylist() == [ids[1], ids[1], ids[3], ids[3]]  # shard 1 of 2
    assert set(table["policy_step"].to_pylist()) == {7}


def test_run_rollout_through_s3(tiny_lm_dir, arithmetic_rows, s3_root):
    write_table(pa.Table.from_pylist(arithmetic_rows(2), schema=PROMPT_SCHEMA),
                f"{s3_root}/prompts.parquet")
    result = run_rollout(tiny_lm_dir, f"{s3_root}/prompts.parquet", f"{s3_root}/rollouts.parquet",
                         RolloutConfig(samples_per_prompt=2, max_new_tokens=2))
    stored = read_table(f"{s3_root}/rollouts.parquet", schema=ROLLOUT_SCHEMA)
    assert stored.equals(result.table) and stored.num_rows == 4
    assert (result.backend, result.policy_step) == ("transformers", 0)  # a base model
    assert (result.summary.prompts, result.summary.generated_tokens) == (2, 8)


def test_empty_shard_writes_an_empty_table(tiny_lm_dir, arithmetic_rows, prompts_parquet,
                                           tmp_path):
    output = tmp_path / "empty.parquet"
    result = run_rollout(tiny_lm_dir, prompts_parquet(arithmetic_rows(2)), output,
                         RolloutConfig(shard_index=2, num_shards=3))
    assert result.table.num_rows == 0
    assert pq.read_table(output).schema.equals(ROLLOUT_SCHEMA)


def _fails(argv: list[str], capsys) -> str:
    """Run the CLI in-process; it must exit 2 with exactly one error line."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlsd.rollout: error: "), captured.err
    assert captured.out == ""
    return lines[0]


def test_missing_policy_path(arithmetic_rows, prompts_parquet, tmp_path, capsys):
    prompts = prompts_parquet(arithmetic_rows(1))
    line = _fails(["--policy", str(tmp_path / "nope"), "--prompts", str(prompts),
                   "--output", str(tmp_path / "o.parquet")], capsys)
    assert "model path does not exist" in line and "nope" in line
    assert not (tmp_path / "o.parquet").exists()


def test_bad_prompts_table_is_reported_before_the_policy(tmp_path, capsys):
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"id": ["a"], "prompt": ["2+2?"]}), bad)
    line = _fails(["--policy", str(tmp_path / "nope"), "--prompts", str(bad),
                   "--output", str(tmp_path / "o.parquet")], capsys)
    assert "bad.parquet" in line and "lacks column(s)" in line and "'answer'" in line


def test_missing_prompts_file(tiny_lm_dir, tmp_path, capsys):
    line = _fails(["--policy", str(tiny_lm_dir), "--prompts", str(tmp_path / "none.parquet"),
                   "--output", str(tmp_path / "o.parquet")], capsys)
    assert "none.parquet does not exist" in line


def test_duplicate_prompt_ids(tiny_lm_dir, arithmetic_rows, prompts_parquet, tmp_path, capsys):
    rows = arithmetic_rows(2)
    rows[1]["id"] = rows[0]["id"]
    line = _fails(["--policy", str(tiny_lm_dir), "--prompts", str(prompts_parquet(rows)),
                   "--output", str(tmp_path / "o.parquet")], capsys)
    assert f"duplicate prompt id(s) ['{rows[0]['id']}']" in line


def test_shard_index_out_of_range(tiny_lm_dir, tmp_path, capsys):
    line = _fails(["--policy", str(tiny_lm_dir), "--prompts", str(tmp_path / "p.parquet"),
                   "--output", str(tmp_path / "o.parquet"), "--shard-index", "4",
                   "--num-shards", "4"], capsys)
    assert "shard_index must be in 0..3 (num_shards=4), got 4" in line


def test_unknown_setting(tiny_lm_dir, tmp_path, capsys):
    line = _fails(["--policy", str(tiny_lm_dir), "--prompts", str(tmp_path / "p.parquet"),
                   "--output", str(tmp_path / "o.parquet"), "--set", "temprature=0.5"], capsys)
    assert "unknown setting(s) ['temprature']" in line


@pytest.mark.skipif(vllm_installed(), reason="vLLM is installed here")
def test_vllm_backend_without_vllm(tiny_lm_dir, arithmetic_rows, prompts_parquet, tmp_path,
                                   capsys):
    line = _fails(["--policy", str(tiny_lm_dir), "--prompts",
                   str(prompts_parquet(arithmetic_rows(1))), "--output",
                   str(tmp_path / "o.parquet"), "--backend", "vllm"], capsys)
    assert "pip install 'rlsd-kubeflow[vllm]'" in line


def test_read_prompt_rows_rejects_an_empty_table(prompts_parquet):
    with pytest.raises(RolloutError, match="has no rows"):
        read_prompt_rows(prompts_parquet([]))
