"""``python -m rlsd.launch``: render, local runs and exit codes."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from rlsd.launch import TrainingJobSpec, build_pytorchjob
from rlsd.launch.__main__ import main


def test_render_prints_the_body_that_build_makes(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--mode", "pytorchjob", "--render", "--image", "r/t:1", "--nodes", "2",
                 "--gpus-per-node", "4", "--kfp-run-id", "run-1", "--round-index", "2",
                 "--forward-env", "[]", "--set", "s3_secret=creds", "--",
                 "--policy", "s3://b/p", "--algorithm", "grpo"])
    assert code == 0
    rendered = yaml.safe_load(capsys.readouterr().out)
    expected = build_pytorchjob(TrainingJobSpec(
        image="r/t:1", nodes=2, gpus_per_node=4, kfp_run_id="run-1", round_index=2,
        forward_env=[], s3_secret="creds",
        args=["--policy", "s3://b/p", "--algorithm", "grpo"]))
    assert rendered == expected
    assert rendered["metadata"]["name"] == "rlsd-run-1-r2"


def test_invalid_settings_exit_2_with_one_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--mode", "pytorchjob", "--render", "--kfp-run-id", "x"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "rlsd.launch: error: image is required for a PyTorchJob (the " \
                          "trainer image)"
    assert main(["--memory", "8Gi"]) == 2  # default 16Gi /dev/shm no longer fits
    assert "shm_size 16Gi must be below the memory limit 8Gi" in capsys.readouterr().err


def test_local_command_success_and_failure(capsys: pytest.CaptureFixture[str]) -> None:
    ok = json.dumps([sys.executable, "-c", "import sys; print('args', sys.argv[1:])"])
    assert main(["--mode", "local", "--command", ok, "--", "--x", "1"]) == 0
    captured = capsys.readouterr()
    assert "args ['--x', '1']" in captured.out
    assert "local training finished" in captured.err
    bad = json.dumps([sys.executable, "-c", "import sys; sys.exit(5)"])
    assert main(["--mode", "local", "--command", bad]) == 1
    assert "local training exited with code 5" in capsys.readouterr().err
