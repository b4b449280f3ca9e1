"""Launching ``python -m rlsd.train``: a Kubeflow PyTorchJob on a cluster, torchrun locally.

The one part of the library that talks to Kubernetes (design.md, "Layout"). Entry point:
:func:`launch_training`; the pieces (:class:`PyTorchJobSpec`, :func:`build_pytorchjob`,
:class:`PyTorchJobValidator`, :class:`PyTorchJobLauncher`, :func:`run_command`) are public
for components and tests. CLI: ``python -m rlsd.launch --help``.
"""

from rlsd.launch.cluster import JobOutcome, PyTorchJobLauncher
from rlsd.launch.crd_schema import PyTorchJobValidator, load_crd_schema, to_json_schema
from rlsd.launch.entry import LaunchResult, launch_training, local_command
from rlsd.launch.errors import (
    KubernetesConfigError,
    LaunchError,
    LaunchTimeout,
    LocalTrainingFailed,
    PyTorchJobFailed,
    PyTorchJobInvalid,
    PyTorchJobRejected,
    PyTorchJobSpecError,
    TrainingFailed,
)
from rlsd.launch.job_status import JobState, job_state, pod_problem
from rlsd.launch.kube_client import default_namespace, load_api_client
from rlsd.launch.local import LocalOutcome, run_command, torchrun_command
from rlsd.launch.naming import MAX_JOB_NAME_LEN, job_name, pod_name
from rlsd.launch.pytorchjob import build_pytorchjob, master_pod_selectors
from rlsd.launch.spec import PyTorchJobSpec

__all__ = [
    "MAX_JOB_NAME_LEN", "JobOutcome", "JobState", "KubernetesConfigError", "LaunchError",
    "LaunchResult", "LaunchTimeout", "LocalOutcome", "LocalTrainingFailed", "PyTorchJobFailed",
    "PyTorchJobInvalid", "PyTorchJobLauncher", "PyTorchJobRejected", "PyTorchJobSpec",
    "PyTorchJobSpecError", "PyTorchJobValidator", "TrainingFailed", "build_pytorchjob",
    "default_namespace", "job_name", "job_state", "launch_training", "load_api_client",
    "load_crd_schema", "local_command", "master_pod_selectors", "pod_name", "pod_problem",
    "run_command", "to_json_schema", "torchrun_command",
]
