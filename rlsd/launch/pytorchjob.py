"""Build the Kubeflow PyTorchJob (``kubeflow.org/v1``) that runs ``python -m rlsd.train``.

Topology (design.md, "Kubernetes facts that matter"): ``nodes`` pods, replica ``Master`` (1)
plus ``Worker`` (nodes - 1), each with ``gpus_per_node`` GPUs and one container named
``pytorch`` that runs ``torchrun --nnodes N --nproc-per-node M -m rlsd.train <args>``. The
operator injects ``MASTER_ADDR``/``MASTER_PORT``/``WORLD_SIZE``/``RANK`` and the
``PET_NNODES``/``PET_NPROC_PER_NODE``/``PET_NODE_RANK``/``PET_MASTER_ADDR``/``PET_MASTER_PORT``
variables that torchrun reads, so the node rank and rendezvous address are not in the command.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

from rlsd.launch.errors import (
    PyTorchJobFailed,
    PyTorchJobInvalid,
    PyTorchJobRejected,
    TrainingJobSpecError,
)
from rlsd.launch.job_kind import JobKind
from rlsd.launch.job_status import job_state
from rlsd.launch.naming import DNS1035_MAX, job_name, label_value, pod_name
from rlsd.launch.pod import (
    container_env,
    container_resources,
    container_security_context,
    pod_metadata,
    pod_security_context,
    scheduling,
    volume_mounts,
    volumes,
)
from rlsd.launch.spec import TrainingJobSpec

GROUP = "kubeflow.org"
VERSION = "v1"
PLURAL = "pytorchjobs"
KIND = "PyTorchJob"
API_VERSION = f"{GROUP}/{VERSION}"
CONTAINER_NAME = "pytorch"
PORT_NAME = "pytorchjob-port"  # the port the operator looks up for MASTER_PORT

LABEL_APP = "app.kubernetes.io/name"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_RUN_ID = "rlsd/kfp-run-id"
LABEL_ROUND = "rlsd/round"


def master_pod_selectors(name: str) -> tuple[str, ...]:
    """Label selectors of the master pod, newest operator first.

    Training Operator >= 1.5 (incl. 1.9) labels pods ``training.kubeflow.org/job-name``,
    ``training.kubeflow.org/replica-type`` (lower case) and ``.../replica-index``; older
    releases (kubeflow/common) used the bare ``job-name``/``replica-type``/``replica-index``.
    """
    return (
        f"training.kubeflow.org/job-name={name},training.kubeflow.org/replica-type=master,"
        "training.kubeflow.org/replica-index=0",
        f"job-name={name},replica-type=master,replica-index=0",
    )


def pods_selector(name: str) -> str:
    """Label selector of all the job's pods (Training Operator >= 1.5)."""
    return f"training.kubeflow.org/job-name={name}"


def pod_role(pod: Mapping[str, Any]) -> str:
    """``master`` or ``worker <index>``, from the operator's pod labels (either generation)."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    rtype = labels.get("training.kubeflow.org/replica-type") or labels.get("replica-type") or "?"
    index = labels.get("training.kubeflow.org/replica-index") or labels.get("replica-index")
    return rtype if rtype == "master" or index is None else f"{rtype} {index}"


def resolve_name(spec: TrainingJobSpec) -> str:
    """``spec.name``, else the name derived from ``kfp_run_id`` and ``round_index``."""
    if spec.name:
        return spec.name
    if not spec.kfp_run_id:
        raise TrainingJobSpecError("the job needs a name: set name, or kfp_run_id (and "
                                  "round_index) to derive one")
    return job_name(spec.kfp_run_id, spec.round_index)


def job_labels(spec: TrainingJobSpec) -> dict[str, str]:
    """Labels of the job and its pods: app, the KFP run id and round, then ``spec.labels``."""
    labels = {LABEL_APP: "rlsd", LABEL_COMPONENT: "trainer"}
    if spec.kfp_run_id:
        labels[LABEL_RUN_ID] = label_value(spec.kfp_run_id)
        labels[LABEL_ROUND] = str(spec.round_index)
    labels.update(spec.labels)
    return labels


def container_command(spec: TrainingJobSpec) -> tuple[list[str], list[str]]:
    """(command, args) of the ``pytorch`` container."""
    if spec.command:
        return list(spec.command), list(spec.args)
    return ["torchrun"], [f"--nnodes={spec.nodes}", f"--nproc-per-node={spec.procs_per_node()}",
                          "-m", spec.module, *spec.args]


def _pod_template(spec: TrainingJobSpec, labels: dict[str, str],
                  environ: Mapping[str, str]) -> dict[str, Any]:
    command, args = container_command(spec)
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": command,
        "args": args,
        "env": container_env(spec, environ),
        "ports": [{"name": PORT_NAME, "containerPort": spec.master_port, "protocol": "TCP"}],
        "resources": container_resources(spec),
        "volumeMounts": volume_mounts(),
        "securityContext": container_security_context(spec),
    }
    if spec.s3_secret and not spec.s3_secret_keys:
        container["envFrom"] = [{"secretRef": {"name": spec.s3_secret}}]
    if not container["env"]:
        del container["env"]
    pod_spec: dict[str, Any] = {"containers": [container], "volumes": volumes(spec),
                                "securityContext": pod_security_context(spec),
                                **scheduling(spec)}
    return {"metadata": pod_metadata(spec, labels), "spec": pod_spec}


def build_pytorchjob(spec: TrainingJobSpec,
                     environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The PyTorchJob body for ``spec`` (a plain dict, ready for ``CustomObjectsApi``).

    ``environ`` supplies the values of ``spec.forward_env`` (default: ``os.environ``); only
    non-credential names are allowed there, and Secrets are referenced, never read.
    Raises :class:`TrainingJobSpecError` naming the first invalid setting.
    """
    spec.validate()
    if not spec.image:
        raise TrainingJobSpecError("image is required for a PyTorchJob (the trainer image)")
    name = resolve_name(spec)
    replica_types = ["Master"] + (["Worker"] if spec.nodes > 1 else [])
    longest = pod_name(name, replica_types[-1], max(spec.nodes - 2, 0))
    if len(longest) > DNS1035_MAX:
        raise TrainingJobSpecError(
            f"job name {name!r} is too long: pod/Service {longest!r} would exceed "
            f"{DNS1035_MAX} characters")
    labels = job_labels(spec)
    template = _pod_template(spec, labels, os.environ if environ is None else environ)
    replicas = {"Master": 1, "Worker": spec.nodes - 1}
    run_policy: dict[str, Any] = {"cleanPodPolicy": spec.clean_pod_policy,
                                  "backoffLimit": spec.backoff_limit}
    if spec.ttl_seconds_after_finished:
        run_policy["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished
    if spec.active_deadline_seconds:
        run_policy["activeDeadlineSeconds"] = spec.active_deadline_seconds
    metadata: dict[str, Any] = {"name": name}
    if spec.namespace:
        metadata["namespace"] = spec.namespace
    metadata["labels"] = labels
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {
            "nprocPerNode": str(spec.procs_per_node()),
            "runPolicy": run_policy,
            "pytorchReplicaSpecs": {
                rtype: {"replicas": replicas[rtype], "restartPolicy": spec.restart_policy,
                        "template": copy.deepcopy(template)}
                for rtype in replica_types
            },
        },
    }


#: The PyTorchJob as :class:`rlsd.launch.cluster.ClusterJobLauncher` runs it.
PYTORCHJOB = JobKind(
    kind=KIND, group=GROUP, version=VERSION, plural=PLURAL, container=CONTAINER_NAME,
    lead_selectors=master_pod_selectors, pods_selector=pods_selector, pod_role=pod_role,
    state=job_state, failed=PyTorchJobFailed, rejected=PyTorchJobRejected,
    invalid=PyTorchJobInvalid,
    operator="the Kubeflow Training Operator (PyTorchJob CRD, kubeflow.org/v1)")
