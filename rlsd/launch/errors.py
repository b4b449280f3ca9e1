"""Errors of the training launcher: one class per way a launch goes wrong.

Callers that do not care about the mode catch :class:`TrainingFailed` (the training ran and
failed) or :class:`LaunchTimeout`; :class:`LaunchError` catches everything from here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rlsd.config import ConfigError


class LaunchError(RuntimeError):
    """Base class of every launcher error."""


class TrainingJobSpecError(LaunchError, ConfigError):
    """A launch setting is invalid; the message names the setting and the allowed values.

    It is also a :class:`rlsd.config.ConfigError`, so CLIs that report bad settings catch it.
    """


class ClusterJobInvalid(TrainingJobSpecError):
    """A job body breaks its CRD schema or the operator's admission rules."""

    kind = "job"

    def __init__(self, name: str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = "\n  - ".join(self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"{self.kind} {name!r} is invalid:\n  - {shown}{more}")


class PyTorchJobInvalid(ClusterJobInvalid):
    """A PyTorchJob body breaks the CRD schema or the Training Operator's admission rules."""

    kind = "PyTorchJob"


class TrainJobInvalid(ClusterJobInvalid):
    """A TrainJob body breaks the CRD schema or Kubeflow Trainer's admission rules."""

    kind = "TrainJob"


class KubernetesConfigError(LaunchError):
    """No usable Kubernetes configuration (neither in-cluster nor a kubeconfig)."""


class ClusterJobRejected(LaunchError):
    """The Kubernetes API refused a request about the job (RBAC, schema, webhook, conflict)."""

    kind = "job"

    def __init__(self, action: str, name: str, status: int, reason: str, message: str,
                 hint: str = "") -> None:
        self.status, self.reason, self.api_message = status, reason, message
        text = f"could not {action} {self.kind} {name!r}: HTTP {status} {reason}: {message}"
        super().__init__(text + (f"\n{hint}" if hint else ""))


class PyTorchJobRejected(ClusterJobRejected):
    """The Kubernetes API refused a request about a PyTorchJob."""

    kind = "PyTorchJob"


class TrainJobRejected(ClusterJobRejected):
    """The Kubernetes API refused a request about a TrainJob."""

    kind = "TrainJob"


def _with_tail(text: str, log_tail: Sequence[str]) -> str:
    if not log_tail:
        return text
    return text + "\nlast output lines:\n" + "\n".join(f"  | {line}" for line in log_tail)


class TrainingFailed(LaunchError):
    """The training process ran and failed (either mode)."""

    def __init__(self, text: str, log_tail: Sequence[str] = ()) -> None:
        self.log_tail = list(log_tail)
        super().__init__(_with_tail(text, self.log_tail))


class ClusterJobFailed(TrainingFailed):
    """The cluster job reached its ``Failed`` condition (or vanished while running).

    ``reason``/``message`` come from the job's Failed condition; ``pod_problem`` describes the
    lead pod's training container (the PyTorchJob master, the TrainJob's node 0), e.g.
    ``container terminated: OOMKilled (exit code 137)``, when it could be read;
    ``other_pods`` has one line per other pod that failed (``node 1 (pod ...): ...``): a
    killed node names itself there.
    """

    kind = "job"
    lead = "lead pod"

    def __init__(self, name: str, namespace: str, reason: str, message: str,
                 pod_problem: str = "", log_tail: Sequence[str] = (), kept: bool = False,
                 other_pods: Sequence[str] = ()) -> None:
        self.name, self.namespace = name, namespace
        self.reason, self.message, self.pod_problem, self.kept = reason, message, pod_problem, kept
        self.other_pods = list(other_pods)
        text = f"{self.kind} {namespace}/{name} failed: {reason or 'no reason given'}"
        if message:
            text += f": {message}"
        if pod_problem:
            text += f"\n{self.lead}: {pod_problem}"
        for line in self.other_pods:
            text += f"\n{line}"
        if kept:
            text += (f"\nthe job was kept for debugging: kubectl -n {namespace} describe "
                     f"{self.kind.lower()} {name}")
        super().__init__(text, log_tail)


class PyTorchJobFailed(ClusterJobFailed):
    """The PyTorchJob reached the ``Failed`` condition (or vanished while running)."""

    kind = "PyTorchJob"
    lead = "master pod"


class TrainJobFailed(ClusterJobFailed):
    """The TrainJob reached the ``Failed`` condition (or vanished while running)."""

    kind = "TrainJob"
    lead = "node-0 pod"


def worker_failure(log_tail: Sequence[str]) -> str | None:
    """The first failed worker in torchrun's failure summary, in words: e.g. "rank 1 was
    killed by SIGKILL (out of memory, or stopped from outside)"; None if there is none."""
    import signal

    lines = list(log_tail)
    # torchrun lists every failed rank; its "Root Cause" entry is the one that failed first
    # (the others are the ranks it then stopped with SIGTERM).
    root = next((i for i, line in enumerate(lines) if "Root Cause" in line), None)
    if root is not None:
        lines = lines[root:]
    rank = None
    for line in lines:
        if match := re.search(r"^\s*rank\s*:\s*(\d+)", line):
            rank = match.group(1)
        elif (match := re.search(r"^\s*exitcode\s*:\s*(-?\d+)", line)) and rank is not None:
            code = int(match.group(1))
            if code < 0:
                try:
                    name = signal.Signals(-code).name
                except ValueError:
                    name = f"signal {-code}"
                why = " (out of memory, or stopped from outside)" if name == "SIGKILL" else ""
                return f"rank {rank} was killed by {name}{why}"
            return f"rank {rank} exited with code {code}"
    return None


class LocalTrainingFailed(TrainingFailed):
    """The local ``torchrun`` process exited with a non-zero code."""

    def __init__(self, command: Sequence[str], exit_code: int, log_tail: Sequence[str] = ()) -> None:
        self.command, self.exit_code = list(command), exit_code
        self.worker = worker_failure(log_tail)
        reason = f" ({self.worker})" if self.worker else ""
        super().__init__(f"local training exited with code {exit_code}{reason}: "
                         f"{' '.join(command)}", log_tail)


class LaunchTimeout(LaunchError):
    """The training did not finish within the time limit; it was stopped."""

    def __init__(self, text: str, log_tail: Sequence[str] = ()) -> None:
        self.log_tail = list(log_tail)
        super().__init__(_with_tail(text, self.log_tail))
