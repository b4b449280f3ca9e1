"""What the cluster launcher needs to know about a kind of training job: :class:`JobKind`.

One :class:`rlsd.launch.cluster.ClusterJobLauncher` runs both a Kubeflow Training Operator
``PyTorchJob`` (:data:`rlsd.launch.pytorchjob.PYTORCHJOB`) and a Kubeflow Trainer v2
``TrainJob`` (:data:`rlsd.launch.trainjob.TRAINJOB`): the REST coordinates, how to find the
pod whose log is relayed, how to read the job's state and which errors to raise differ; the
create / wait / relay / clean-up life cycle does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rlsd.launch.errors import ClusterJobFailed, ClusterJobInvalid, ClusterJobRejected
from rlsd.launch.job_status import JobState


@dataclass(frozen=True)
class JobKind:
    """A custom resource that runs ``torchrun -m rlsd.train`` over several pods.

    ``lead_selectors(name)``: label selectors of the pod whose log is relayed (PyTorchJob
    master, TrainJob node 0), newest operator first. ``pods_selector(name)``: all of the
    job's pods. ``pod_role(pod)``: a short name of a pod's role (``master``, ``node 1``).
    ``state(job)``: its :class:`JobState`. ``operator``: what must be installed, for hints.
    """

    kind: str
    group: str
    version: str
    plural: str
    container: str
    lead_selectors: Callable[[str], tuple[str, ...]]
    pods_selector: Callable[[str], str]
    pod_role: Callable[[Mapping[str, Any]], str]
    state: Callable[[Mapping[str, Any]], JobState]
    failed: type[ClusterJobFailed]
    rejected: type[ClusterJobRejected]
    invalid: type[ClusterJobInvalid]
    operator: str

    @property
    def api_version(self) -> str:
        """``group/version``, as in a body's ``apiVersion``."""
        return f"{self.group}/{self.version}"
