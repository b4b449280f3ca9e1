"""``launcher=local``: the same training entry run by ``torchrun`` on this machine.

What kfp.local runs and laptops use (design.md, stage 5: "with torchrun on one machine
otherwise"). torchrun is started as ``<python> -m torch.distributed.run`` with the running
interpreter, so it uses this environment whatever is on ``PATH``, and with ``--standalone``,
which picks a free rendezvous port (several local runs can share the machine).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from rlsd.launch.errors import LaunchTimeout, LocalTrainingFailed, TrainingJobSpecError
from rlsd.launch.output import LineRelay


@dataclass
class LocalOutcome:
    """A finished, successful local run."""

    command: list[str]
    duration_s: float
    log_tail: list[str] = field(default_factory=list)


def local_gpu_count() -> int:
    """CUDA devices visible here (0 without torch CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def torchrun_command(module: str, args: Sequence[str], nproc_per_node: int,
                     python: str = sys.executable) -> list[str]:
    """``python -m torch.distributed.run --standalone --nnodes 1 --nproc-per-node M -m module``."""
    if nproc_per_node < 1:
        raise TrainingJobSpecError(f"nproc_per_node must be >= 1, got {nproc_per_node}")
    return [python, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
            f"--nproc-per-node={nproc_per_node}", "-m", module, *args]


def run_command(command: Sequence[str], *, env: Mapping[str, str] | None = None,
                cwd: str | None = None, timeout_s: float | None = None,
                sink: TextIO | None = None) -> LocalOutcome:
    """Run ``command``, relaying its stdout and stderr (merged) line by line to ``sink``.

    ``env`` is added to this process's environment. Raises :class:`LocalTrainingFailed` with
    the exit code and the last output lines when it fails, :class:`LaunchTimeout` (after
    killing its whole process group: torchrun and every worker) when it runs too long.
    """
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    relay = LineRelay(sink)
    started = time.monotonic()
    proc = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=full_env, cwd=cwd, start_new_session=True)
    timed_out = threading.Event()

    def _kill() -> None:
        timed_out.set()
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + 5.0  # let torchrun stop its workers cleanly
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout_s, _kill) if timeout_s else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        assert proc.stdout is not None
        relay.feed_all(iter(lambda: proc.stdout.read1(65536), b""))
        code = proc.wait()
    except BaseException:
        # Interrupted: take torchrun and its workers down with us.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        if timer is not None:
            timer.cancel()
    if timed_out.is_set():
        raise LaunchTimeout(f"local training did not finish within {timeout_s:g} s and was "
                            f"killed: {' '.join(command)}", relay.tail)
    if code != 0:
        raise LocalTrainingFailed(list(command), code, relay.tail)
    return LocalOutcome(list(command), time.monotonic() - started, relay.tail)
