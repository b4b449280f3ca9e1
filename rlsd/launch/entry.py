"""One entry for every launcher: :func:`launch_training` (design.md, stage 5).

``mode="pytorchjob"`` runs ``torchrun -m rlsd.train <args>`` as a Kubeflow Training Operator
PyTorchJob over ``spec.nodes`` pods; ``mode="trainjob"`` runs it as a Kubeflow Trainer v2
TrainJob on a training runtime (default ``torch-distributed``); ``mode="local"`` runs the
same module under torchrun on this machine.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from kubernetes import client

from rlsd.launch.cluster import ClusterJobLauncher, PyTorchJobLauncher, TrainJobLauncher
from rlsd.launch.crd_schema import CRDValidator, PyTorchJobValidator, TrainJobValidator
from rlsd.launch.errors import TrainingJobSpecError
from rlsd.launch.kube_client import default_namespace, load_api_client
from rlsd.launch.local import local_gpu_count, run_command, torchrun_command
from rlsd.launch.pytorchjob import build_pytorchjob
from rlsd.launch.spec import TrainingJobSpec
from rlsd.launch.trainjob import build_trainjob

MODES = ("local", "pytorchjob", "trainjob")
#: Per cluster launcher: the body builder, the launcher class and the CRD validator class.
CLUSTER_MODES: dict[str, tuple[Callable[..., dict[str, Any]], type[ClusterJobLauncher],
                               type[CRDValidator]]] = {
    "pytorchjob": (build_pytorchjob, PyTorchJobLauncher, PyTorchJobValidator),
    "trainjob": (build_trainjob, TrainJobLauncher, TrainJobValidator),
}


@dataclass
class LaunchResult:
    """A successful launch: ``target`` is ``namespace/job`` or the local command line."""

    mode: str
    target: str
    duration_s: float
    log_tail: list[str] = field(default_factory=list)


def _with_args(spec: TrainingJobSpec, train_args: Sequence[str]) -> TrainingJobSpec:
    return dataclasses.replace(spec, args=[*spec.args, *map(str, train_args)])


def local_command(spec: TrainingJobSpec, nproc_per_node: int | None = None) -> list[str]:
    """The local command for ``spec``: torchrun over ``module``, or ``command`` + ``args``."""
    if spec.command:
        return [*spec.command, *spec.args]
    nproc = nproc_per_node or spec.nproc_per_node or local_gpu_count() or 1
    return torchrun_command(spec.module, spec.args, nproc)


@contextmanager
def terminate_as_exit() -> Iterator[None]:
    """Turn SIGTERM into ``SystemExit`` while the block runs (main thread only).

    Stopping a KFP run, or evicting the step's pod, sends SIGTERM; Python's default is to die
    at once, which would skip the launcher's clean-up and leave the training job holding its
    GPUs (a TrainJob has no TTL to fall back on). As an exception it unwinds through
    :meth:`ClusterJobLauncher.run`, which deletes the job.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_job(mode: str, spec: TrainingJobSpec,
              environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The body of the cluster job ``mode`` (``pytorchjob`` or ``trainjob``) for ``spec``."""
    if mode not in CLUSTER_MODES:
        raise TrainingJobSpecError(f"cluster launcher must be one of {list(CLUSTER_MODES)}, "
                                  f"got {mode!r}")
    return CLUSTER_MODES[mode][0](spec, environ)


def launch_training(mode: Literal["local", "pytorchjob", "trainjob"], train_args: Sequence[str] = (),
                    spec: TrainingJobSpec | None = None, *, timeout_s: float | None = None,
                    poll_interval_s: float = 10.0, keep_on_failure: bool = False,
                    api_client: client.ApiClient | None = None,
                    kubeconfig: str | None = None, context: str | None = None,
                    crd_path: str | Path | None = None, sink: TextIO | None = None,
                    environ: Mapping[str, str] | None = None) -> LaunchResult:
    """Run ``spec.module`` (default ``rlsd.train``) with ``spec.args + train_args``.

    - ``local``: ``torchrun --standalone --nproc-per-node M`` here, M = ``nproc_per_node``
      or the local GPU count or 1; ``spec.env`` is added to this environment.
    - ``pytorchjob``: a PyTorchJob built from ``spec`` (name from ``kfp_run_id`` and
      ``round_index`` unless ``name`` is set; namespace from this pod or the kubeconfig unless
      set), checked against the CRD at ``crd_path`` when given, run by
      :class:`PyTorchJobLauncher`. ``api_client`` defaults to in-cluster/kubeconfig config.
    - ``trainjob``: the same as a TrainJob (:func:`rlsd.launch.trainjob.build_trainjob`) on
      ``spec.training_runtime``, run by :class:`TrainJobLauncher`; ``crd_path`` is then the
      TrainJob CRD.

    Output is relayed line by line to ``sink`` (default stdout). Raises
    :class:`~rlsd.launch.errors.TrainingFailed` or
    :class:`~rlsd.launch.errors.LaunchTimeout`; bad settings raise
    :class:`~rlsd.launch.errors.TrainingJobSpecError` before anything starts.
    """
    if mode not in MODES:
        raise TrainingJobSpecError(f"launcher mode must be one of {list(MODES)}, got {mode!r}")
    spec = _with_args(spec or TrainingJobSpec(), train_args)
    spec.validate()
    if mode == "local":
        env = {str(k): str(v) for k, v in spec.env.items()}
        outcome = run_command(local_command(spec), env=env, timeout_s=timeout_s, sink=sink)
        return LaunchResult(mode, " ".join(outcome.command), outcome.duration_s,
                            outcome.log_tail)
    if not spec.namespace:
        spec = dataclasses.replace(spec, namespace=default_namespace(kubeconfig, context))
    build, launcher_class, validator_class = CLUSTER_MODES[mode]
    body = build(spec, environ)
    if crd_path:
        # Before connecting: a bad body fails here, clearly.
        validator_class.from_crd_file(crd_path).check(body)
    launcher = launcher_class(api_client or load_api_client(kubeconfig, context),
                              poll_interval_s=poll_interval_s, timeout_s=timeout_s,
                              keep_on_failure=keep_on_failure, sink=sink)
    with terminate_as_exit():
        job = launcher.run(body)
    return LaunchResult(mode, f"{job.namespace}/{job.name}", job.duration_s, job.log_tail)
