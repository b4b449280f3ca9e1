"""Launching ``python -m rlsd.train``: a Kubeflow PyTorchJob or Trainer v2 TrainJob on a
cluster, torchrun locally.

The one part of the library that talks to Kubernetes (design.md, "Layout"). Entry point:
:func:`launch_training`; the pieces (:class:`TrainingJobSpec`, :func:`build_pytorchjob`,
:func:`build_trainjob`, the CRD validators, :class:`PyTorchJobLauncher`,
:class:`TrainJobLauncher`, :func:`run_command`) are public for components and tests. CLI:
``python -m rlsd.launch --help``.
"""

from rlsd.launch.cluster import (
    ClusterJobLauncher,
    JobOutcome,
    PyTorchJobLauncher,
    TrainJobLauncher,
)
from rlsd.launch.crd_schema import (
    CRDValidator,
    PyTorchJobValidator,
    TrainJobValidator,
    load_crd_schema,
    to_json_schema,
)
from rlsd.launch.entry import MODES, LaunchResult, build_job, launch_training, local_command
from rlsd.launch.errors import (
    ClusterJobFailed,
    ClusterJobInvalid,
    ClusterJobRejected,
    KubernetesConfigError,
    LaunchError,
    LaunchTimeout,
    LocalTrainingFailed,
    PyTorchJobFailed,
    PyTorchJobInvalid,
    PyTorchJobRejected,
    TrainingFailed,
    TrainingJobSpecError,
    TrainJobFailed,
    TrainJobInvalid,
    TrainJobRejected,
)
from rlsd.launch.job_status import JobState, job_state, pod_problem, trainjob_state
from rlsd.launch.kube_client import default_namespace, load_api_client
from rlsd.launch.local import LocalOutcome, run_command, torchrun_command
from rlsd.launch.naming import MAX_JOB_NAME_LEN, job_name, pod_name
from rlsd.launch.pytorchjob import build_pytorchjob, master_pod_selectors
from rlsd.launch.spec import TrainingJobSpec
from rlsd.launch.trainjob import build_trainjob, node_pod_selectors

#: Older names, from when the PyTorchJob was the only cluster launcher: the same objects.
PyTorchJobSpec = TrainingJobSpec
PyTorchJobSpecError = TrainingJobSpecError

__all__ = [
    "CRDValidator", "ClusterJobFailed", "ClusterJobInvalid", "ClusterJobLauncher",
    "ClusterJobRejected", "JobOutcome", "JobState", "KubernetesConfigError", "LaunchError",
    "LaunchResult", "LaunchTimeout", "LocalOutcome", "LocalTrainingFailed", "MAX_JOB_NAME_LEN",
    "MODES", "PyTorchJobFailed", "PyTorchJobInvalid", "PyTorchJobLauncher",
    "PyTorchJobRejected", "PyTorchJobSpec", "PyTorchJobSpecError", "PyTorchJobValidator",
    "TrainingJobSpec", "TrainingJobSpecError",
    "TrainJobFailed", "TrainJobInvalid", "TrainJobLauncher", "TrainJobRejected",
    "TrainJobValidator", "TrainingFailed", "build_job", "build_pytorchjob", "build_trainjob",
    "default_namespace", "job_name", "job_state", "launch_training", "load_api_client",
    "load_crd_schema", "local_command", "master_pod_selectors", "node_pod_selectors",
    "pod_name", "pod_problem", "run_command", "to_json_schema", "torchrun_command",
    "trainjob_state",
]
