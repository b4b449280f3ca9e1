"""The training container and pod settings that both cluster launchers share.

A PyTorchJob puts them in each replica's pod template; a TrainJob splits them between
``spec.trainer`` (image, command, env, resources) and a ``runtimePatches`` entry (security
contexts, volumes, scheduling), because the ClusterTrainingRuntime owns the pod template.
Keeping one builder per piece here means the two launchers cannot drift apart on what matters
for safety: credentials only by Secret reference, least-privilege security contexts, a
read-only image that writes to a ``/tmp`` emptyDir, a memory-backed ``/dev/shm``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from rlsd.launch.spec import TrainingJobSpec

SHM_VOLUME = "dshm"
SCRATCH_VOLUME = "scratch"
#: Where a read-only image's process writes: the /tmp emptyDir (caches, downloads, staging).
SCRATCH_ENV = {"HOME": "/tmp/home", "RLSD_CACHE": "/tmp/rlsd-cache",
               "TORCH_EXTENSIONS_DIR": "/tmp/torch_extensions", "HF_HOME": "/tmp/hf",
               "TRITON_CACHE_DIR": "/tmp/triton", "XDG_CACHE_HOME": "/tmp/cache"}


def container_env(spec: TrainingJobSpec, environ: Mapping[str, str]) -> list[dict[str, Any]]:
    """The container's ``env`` list (Kubernetes EnvVar objects), in this order: the scratch
    locations (unless set otherwise), ``spec.env``, ``spec.forward_env`` values found in
    ``environ``, the S3 keys and ``spec.secret_env`` as ``secretKeyRef`` (never values)."""
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


def container_resources(spec: TrainingJobSpec) -> dict[str, dict[str, str]]:
    """``requests`` (cpu, memory) and ``limits`` (memory, optional cpu, ``nvidia.com/gpu``)."""
    limits = {"memory": spec.memory_limit or spec.memory}
    if spec.cpu_limit:
        limits["cpu"] = spec.cpu_limit
    if spec.gpus_per_node:
        # Extended resources go in limits; the request defaults to the limit.
        limits["nvidia.com/gpu"] = str(spec.gpus_per_node)
    return {"requests": {"cpu": spec.cpu, "memory": spec.memory}, "limits": limits}


def container_security_context(spec: TrainingJobSpec) -> dict[str, Any]:
    """Least privilege: no new privileges, no Linux capabilities, a read-only image."""
    return {"allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": spec.read_only_root_filesystem,
            "capabilities": {"drop": ["ALL"]}}


def volume_mounts() -> list[dict[str, str]]:
    """``/dev/shm`` and ``/tmp`` of the training container."""
    return [{"name": SHM_VOLUME, "mountPath": "/dev/shm"},
            {"name": SCRATCH_VOLUME, "mountPath": "/tmp"}]


def volumes(spec: TrainingJobSpec) -> list[dict[str, Any]]:
    """The memory-backed ``/dev/shm`` (NCCL and data loaders need more than the runtime's
    64 MiB default) and the ``/tmp`` scratch emptyDir."""
    return [{"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": spec.shm_size}},
            {"name": SCRATCH_VOLUME,
             "emptyDir": {"sizeLimit": spec.scratch_size} if spec.scratch_size else {}}]


def pod_security_context(spec: TrainingJobSpec) -> dict[str, Any]:
    """RuntimeDefault seccomp; a non-root UID/GID/fsGroup unless ``run_as_user`` is None."""
    context: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if spec.run_as_user is not None:
        context.update({"runAsNonRoot": True, "runAsUser": spec.run_as_user,
                        "runAsGroup": spec.run_as_user, "fsGroup": spec.run_as_user})
    return context


def scheduling(spec: TrainingJobSpec) -> dict[str, Any]:
    """The pod spec's service account, node selector, tolerations and image pull Secrets
    (only those that are set)."""
    out: dict[str, Any] = {}
    if spec.service_account:
        out["serviceAccountName"] = spec.service_account
    if spec.node_selector:
        out["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        out["tolerations"] = copy.deepcopy(spec.tolerations)
    if spec.image_pull_secrets:
        out["imagePullSecrets"] = [{"name": n} for n in spec.image_pull_secrets]
    return out


def pod_metadata(spec: TrainingJobSpec, labels: Mapping[str, str]) -> dict[str, Any]:
    """Pod template metadata: the job's labels and ``spec.pod_annotations``."""
    metadata: dict[str, Any] = {"labels": dict(labels)}
    if spec.pod_annotations:
        metadata["annotations"] = dict(spec.pod_annotations)
    return metadata
