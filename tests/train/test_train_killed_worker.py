"""A training process killed mid-step (SIGKILL one of two torchrun workers): the run fails
with a message naming the kill, the previous round's checkpoint is intact, no partial output
passes for a checkpoint, and re-running the round resumes from the previous checkpoint and
completes it. Running the finished round once more does not recompute it."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlsd.launch.errors import LocalTrainingFailed
from rlsd.launch.local import run_command, torchrun_command
from rlsd.schemas import REWARD_SCHEMA, ROLLOUT_SCHEMA, response_digest
from rlsd.storage import IncompleteCheckpointError, read_manifest, verify_manifest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START_MARKER = "train: starting round"


def _tables(folder: Path, prompts: int, group: int, length: int) -> list[str]:
    rollouts, rewards = [], []
    for p in range(prompts):
        for i in range(group):
            tokens = [(97 * p + 13 * i + 7 * t) % 40000 + 100 for t in range(length)]
            rollouts.append({"prompt_id": f"q{p}", "sample_index": i,
                             "prompt_token_ids": [1, 520, 33, 1147, 2], "response_token_ids": tokens,
                             "response_text": "", "finish_reason": "length", "prompt_length": 5,
                             "response_length": length, "sampler_logprobs": None,
                             "response_digest": response_digest(tokens), "policy_step": 0})
            rewards.append({"prompt_id": f"q{p}", "sample_index": i, "reward": float(i % 2),
                            "accuracy": float(i % 2), "format": 1.0, "reason": "t"})
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rollouts, schema=ROLLOUT_SCHEMA), folder / "r.parquet")
    pq.write_table(pa.Table.from_pylist(rewards, schema=REWARD_SCHEMA), folder / "w.parquet")
    return ["--rollouts", str(folder / "r.parquet"), "--rewards", str(folder / "w.parquet"),
            "--algorithm", "grpo"]


def _train(policy: str, out: Path, tables: list[str], sink=None, extra=()) -> str:
    sink = sink or io.StringIO()
    run_command(torchrun_command("rlsd.train", ["--policy", policy, "--output", str(out),
                                                *tables, *extra], 2),
                env={"RLSD_NO_PROGRESS": "1"}, sink=sink, timeout_s=600)
    return sink.getvalue() if isinstance(sink, io.StringIO) else ""


class KillRankOneAtStart(io.StringIO):
    """Relayed output; when rank 0 announces the training steps, SIGKILL the rank-1 worker."""

    def __init__(self) -> None:
        super().__init__()
        self.killed: int | None = None

    def write(self, text: str) -> int:
        if self.killed is None and START_MARKER in text:
            self.killed = _worker_pid(rank=1)
            os.kill(self.killed, signal.SIGKILL)
        return super().write(text)


def _worker_pid(rank: int) -> int:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"rlsd.train" in cmdline and b"torch.distributed.run" not in cmdline \
                and f"RANK={rank}".encode() in env and f"LOCAL_RANK={rank}".encode() in env:
            return int(entry.name)
    raise AssertionError(f"no rank-{rank} worker found")


def test_killed_worker_fails_clearly_and_the_round_resumes(tmp_path):
    small = _tables(tmp_path / "r0", prompts=2, group=2, length=8)
    previous = tmp_path / "round-0"
    _train("default", previous, small)
    before = verify_manifest(str(previous), check_hashes=True)

    big = _tables(tmp_path / "r1", prompts=8, group=2, length=48)
    out = tmp_path / "round-1"
    sink = KillRankOneAtStart()
    with pytest.raises(LocalTrainingFailed) as failure:
        _train(str(previous), out, big, sink=sink, extra=["--micro-batch-tokens", "64"])
    assert sink.killed is not None
    assert "rank 1 was killed by SIGKILL" in str(failure.value).splitlines()[0]
    # The previous checkpoint is intact; the cut round is not a checkpoint.
    after = verify_manifest(str(previous), check_hashes=True)
    assert after.files == before.files
    with pytest.raises(IncompleteCheckpointError):
        read_manifest(str(out))

    log = _train(str(previous), out, big, extra=["--micro-batch-tokens", "64"])  # re-run
    done = verify_manifest(str(out), check_hashes=True)
    assert (done.metadata["round"], done.metadata["step"]) == (1, 2)  # continued from round 0
    assert done.metadata["parent"] == str(previous)
    assert START_MARKER in log

    again = _train(str(previous), out, big, extra=["--micro-batch-tokens", "64"])
    assert "already complete" in again and START_MARKER not in again
    assert verify_manifest(str(out)).created_at == done.created_at  # not rewritten
