"""launcher=local: subprocess relay, failure and timeout, and real 2-process torchrun."""

from __future__ import annotations

import io
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rlsd.launch import (
    LaunchTimeout,
    LocalTrainingFailed,
    TrainingFailed,
    TrainingJobSpec,
    TrainingJobSpecError,
    launch_training,
    local_command,
    run_command,
    torchrun_command,
)


def test_torchrun_command_uses_this_interpreter() -> None:
    assert torchrun_command("rlsd.train", ["--policy", "p"], 2) == [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
        "--nproc-per-node=2", "-m", "rlsd.train", "--policy", "p"]
    assert local_command(TrainingJobSpec(command=["echo"], args=["hi"])) == ["echo", "hi"]
    with pytest.raises(TrainingJobSpecError, match="nproc_per_node must be >= 1"):
        torchrun_command("m", [], 0)


def test_output_is_relayed_and_env_added() -> None:
    sink = io.StringIO()
    code = "import os, sys; print('out', os.environ['RLSD_X']); print('err', file=sys.stderr)"
    outcome = run_command([sys.executable, "-c", code], env={"RLSD_X": "42"}, sink=sink)
    assert sorted(sink.getvalue().splitlines()) == ["err", "out 42"]
    assert sorted(outcome.log_tail) == ["err", "out 42"]


def test_failure_carries_exit_code_and_last_lines() -> None:
    code = "import sys; print('loading'); print('boom: bad input', file=sys.stderr); sys.exit(3)"
    with pytest.raises(LocalTrainingFailed) as info:
        run_command([sys.executable, "-c", code], sink=io.StringIO())
    assert info.value.exit_code == 3
    assert info.value.log_tail[-1] == "boom: bad input"
    assert "local training exited with code 3" in str(info.value)
    assert isinstance(info.value, TrainingFailed)


def test_timeout_kills_the_process_group() -> None:
    code = "import time; print('started', flush=True); time.sleep(60)"
    started = time.monotonic()
    with pytest.raises(LaunchTimeout) as info:
        run_command([sys.executable, "-c", code], timeout_s=0.5, sink=io.StringIO())
    assert time.monotonic() - started < 10
    assert info.value.log_tail == ["started"]
    assert "did not finish within 0.5 s" in str(info.value)


PROBE = textwrap.dedent("""
    import os, sys
    rank, world = os.environ["RANK"], os.environ["WORLD_SIZE"]
    # One write per line: two ranks share the pipe, and print() writes the text and the
    # newline separately when unbuffered, so lines could interleave.
    sys.stdout.write(f"rank {rank} of {world} local {os.environ['LOCAL_RANK']} "
                     f"args {sys.argv[1:]}\\n")
    sys.stdout.flush()
    if rank == os.environ.get("PROBE_FAIL_RANK"):
        sys.exit(7)
""")


@pytest.fixture
def probe_module(tmp_path: Path) -> Path:
    (tmp_path / "rank_probe.py").write_text(PROBE)
    return tmp_path


def test_torchrun_runs_the_module_on_two_ranks(probe_module: Path) -> None:
    sink = io.StringIO()
    spec = TrainingJobSpec(module="rank_probe", nproc_per_node=2, args=["--round", "1"],
                          env={"PYTHONPATH": str(probe_module)})
    result = launch_training("local", ["--tag", "x"], spec, sink=sink, timeout_s=120)
    lines = sorted(line for line in sink.getvalue().splitlines() if line.startswith("rank "))
    assert lines == ["rank 0 of 2 local 0 args ['--round', '1', '--tag', 'x']",
                     "rank 1 of 2 local 1 args ['--round', '1', '--tag', 'x']"]
    assert result.mode == "local" and "--nproc-per-node=2" in result.target


def test_torchrun_failure_of_one_rank_fails_the_launch(probe_module: Path) -> None:
    spec = TrainingJobSpec(module="rank_probe", nproc_per_node=1,
                          env={"PYTHONPATH": str(probe_module), "PROBE_FAIL_RANK": "0"})
    with pytest.raises(LocalTrainingFailed) as info:
        launch_training("local", [], spec, sink=io.StringIO(), timeout_s=120)
    assert info.value.exit_code != 0
    tail = "\n".join(info.value.log_tail)
    assert "rank 0 of 1" in tail and "exitcode  : 7" in tail  # torchrun's failure report


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(TrainingJobSpecError, match=r"must be one of \['local', 'pytorchjob', 'trainjob'\]"):
        launch_training("kubernetes", [])  # type: ignore[arg-type]
