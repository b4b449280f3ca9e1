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

from rlsd.launch.errors import PyTorchJobSpecError
from rlsd.launch.naming import DNS1035_MAX, job_name, label_value, pod_name
from rlsd.launch.spec import PyTorchJobSpec

GROUP = "kubeflow.org"
VERSION = "v1"
PLURAL = "pytorchjobs"
KIND = "PyTorchJob"
API_VERSION = f"{GROUP}/{VERSION}"
CONTAINER_NAME = "pytorch"
PORT_NAME = "pytorchjob-port"  # the port the operator looks up for MASTER_PORT
SHM_VOLUME = "dshm"
SCRATCH_VOLUME = "scratch"
#: Where a read-only image's process writes: the /tmp emptyDir (caches, downloads, staging).
SCRATCH_ENV = {"HOME": "/tmp/home", "RLSD_CACHE": "/tmp/rlsd-cache",
               "TORCH_EXTENSIONS_DIR": "/tmp/torch_extensions", "HF_HOME": "/tmp/hf",
               "TRITON_CACHE_DIR": "/tmp/triton", "XDG_CACHE_HOME": "/tmp/cache"}

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


def resolve_name(spec: PyTorchJobSpec) -> str:
    """``spec.name``, else the name derived from ``kfp_run_id`` and ``round_index``."""
    if spec.name:
        return spec.name
    if not spec.kfp_run_id:
        raise PyTorchJobSpecError("the job needs a name: set name, or kfp_run_id (and "
                                  "round_index) to derive one")
    return job_name(spec.kfp_run_id, spec.round_index)


def job_labels(spec: PyTorchJobSpec) -> dict[str, str]:
    """Labels of the job and its pods: app, the KFP run id and round, then ``spec.labels``."""
    labels = {LABEL_APP: "rlsd", LABEL_COMPONENT: "trainer"}
    if spec.kfp_run_id:
        labels[LABEL_RUN_ID] = label_value(spec.kfp_run_id)
        labels[LABEL_ROUND] = str(spec.round_index)
    labels.update(spec.labels)
    return labels


def container_command(spec: PyTorchJobSpec) -> tuple[list[str], list[str]]:
    """(command, args) of the ``pytorch`` container."""
    if spec.command:
        return list(spec.command), list(spec.args)
    return ["torchrun"], [f"--nnodes={spec.nodes}", f"--nproc-per-node={spec.procs_per_node()}",
                          "-m", spec.module, *spec.args]


def _env(spec: PyTorchJobSpec, environ: Mapping[str, str]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in SCRATCH_ENV.items()
                                 if k not in spec.env and k not in spec.forward_env]
    env += [{"name": k, "value": str(v)} for k, v in spec.env.items()]
    for name in spec.forward_env:
        if name in environ and name not in spec.env:
            env.append({"name": name, "value": environ[name]})
    if spec.s3_secret:
        for var, key in spec.s3_secret_keys.items():
            env.append({"name": var, "valueFrom": {"secretKeyRef": {
                "name": spec.s3_secret, "key": key}}})
    for var, ref in spec.secret_env.items():
        secret, _, key = ref.partition(":")
        env.append({"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
    return env


def _resources(spec: PyTorchJobSpec) -> dict[str, dict[str, str]]:
    limits = {"memory": spec.memory_limit or spec.memory}
    if spec.cpu_limit:
        limits["cpu"] = spec.cpu_limit
    if spec.gpus_per_node:
        # Extended resources go in limits; the request defaults to the limit.
        limits["nvidia.com/gpu"] = str(spec.gpus_per_node)
    return {"requests": {"cpu": spec.cpu, "memory": spec.memory}, "limits": limits}


def _pod_template(spec: PyTorchJobSpec, labels: dict[str, str],
                  environ: Mapping[str, str]) -> dict[str, Any]:
    command, args = container_command(spec)
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": command,
        "args": args,
        "env": _env(spec, environ),
        "ports": [{"name": PORT_NAME, "containerPort": spec.master_port, "protocol": "TCP"}],
        "resources": _resources(spec),
        "volumeMounts": [{"name": SHM_VOLUME, "mountPath": "/dev/shm"},
                         {"name": SCRATCH_VOLUME, "mountPath": "/tmp"}],
        # Least privilege: no new privileges, no Linux capabilities, a read-only image.
        "securityContext": {"allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": spec.read_only_root_filesystem,
                            "capabilities": {"drop": ["ALL"]}},
    }
    if spec.s3_secret and not spec.s3_secret_keys:
        container["envFrom"] = [{"secretRef": {"name": spec.s3_secret}}]
    if not container["env"]:
        del container["env"]
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "volumes": [{"name": SHM_VOLUME,
                     "emptyDir": {"medium": "Memory", "sizeLimit": spec.shm_size}},
                    {"name": SCRATCH_VOLUME,
                     "emptyDir": {"sizeLimit": spec.scratch_size} if spec.scratch_size else {}}],
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    }
    if spec.run_as_user is not None:
        pod_spec["securityContext"].update({
            "runAsNonRoot": True, "runAsUser": spec.run_as_user,
            "runAsGroup": spec.run_as_user, "fsGroup": spec.run_as_user})
    if spec.service_account:
        pod_spec["serviceAccountName"] = spec.service_account
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod_spec["tolerations"] = copy.deepcopy(spec.tolerations)
    if spec.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": n} for n in spec.image_pull_secrets]
    metadata: dict[str, Any] = {"labels": dict(labels)}
    if spec.pod_annotations:
        metadata["annotations"] = dict(spec.pod_annotations)
    return {"metadata": metadata, "spec": pod_spec}


def build_pytorchjob(spec: PyTorchJobSpec,
                     environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The PyTorchJob body for ``spec`` (a plain dict, ready for ``CustomObjectsApi``).

    ``environ`` supplies the values of ``spec.forward_env`` (default: ``os.environ``); only
    non-credential names are allowed there, and Secrets are referenced, never read.
    Raises :class:`PyTorchJobSpecError` naming the first invalid setting.
    """
    spec.validate()
    if not spec.image:
        raise PyTorchJobSpecError("image is required for a PyTorchJob (the trainer image)")
    name = resolve_name(spec)
    replica_types = ["Master"] + (["Worker"] if spec.nodes > 1 else [])
    longest = pod_name(name, replica_types[-1], max(spec.nodes - 2, 0))
    if len(longest) > DNS1035_MAX:
        raise PyTorchJobSpecError(
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
