"""Build the Kubeflow Trainer v2 ``TrainJob`` (``trainer.kubeflow.org/v1alpha1``) that runs
``python -m rlsd.train``.

Topology (Kubeflow Trainer v2.3.0): the TrainJob names a training runtime in ``runtimeRef``
(default the stock ClusterTrainingRuntime ``torch-distributed``). The runtime owns the pod
template: a JobSet whose replicated job ``node`` is an Indexed Job of ``numNodes`` pods, each
with one container ``node``. Its torch plugin injects ``PET_NNODES``, ``PET_NPROC_PER_NODE``,
``PET_NODE_RANK`` (the pod's completion index), ``PET_MASTER_ADDR`` (node 0's headless name)
and ``PET_MASTER_PORT``, which ``torchrun`` reads as its defaults, so the command is just
``torchrun -m rlsd.train <args>``.

What the TrainJob carries (``spec.trainer``): image, command, args, env (S3 credentials as
``secretKeyRef``, never values), ``numNodes``, ``numProcPerNode`` and ``resourcesPerNode``.
What it patches into the runtime's pod template through one ``runtimePatches`` entry (owner
:data:`PATCH_MANAGER`): the same pod security settings as the PyTorchJob (non-root UID,
RuntimeDefault seccomp, no privilege escalation, no capabilities, read-only image), the
``/dev/shm`` and ``/tmp`` volumes and their mounts, service account, node selector,
tolerations, image pull Secrets, and the pods' labels and annotations.

Not expressible in a TrainJob, so refused when changed from their defaults: the PyTorchJob's
``restart_policy``, ``backoff_limit``, ``clean_pod_policy``, ``ttl_seconds_after_finished``,
``image_pull_policy`` and ``master_port`` (the runtime decides them), and ``envFrom`` of a
whole Secret (``s3_secret_keys`` must name the keys).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from rlsd.launch.errors import (
    TrainingJobSpecError,
    TrainJobFailed,
    TrainJobInvalid,
    TrainJobRejected,
)
from rlsd.launch.job_kind import JobKind
from rlsd.launch.job_status import trainjob_state
from rlsd.launch.naming import DNS1035_MAX
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
from rlsd.launch.pytorchjob import job_labels, resolve_name
from rlsd.launch.spec import TrainingJobSpec

GROUP = "trainer.kubeflow.org"
VERSION = "v1alpha1"
PLURAL = "trainjobs"
KIND = "TrainJob"
API_VERSION = f"{GROUP}/{VERSION}"
#: The stock runtimes' replicated job and trainer container (Trainer's ``constants.Node``).
NODE = "node"
CONTAINER_NAME = NODE
#: ``runtimePatches[].manager`` of the patch this launcher writes.
PATCH_MANAGER = "rlsd-kubeflow.github.io/launcher"
#: Variables the torch plugin sets from numNodes/numProcPerNode; Trainer's webhook refuses
#: them in ``trainer.env``.
RESERVED_ENV = ("PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR",
                "PET_MASTER_PORT")

LABEL_JOBSET = "jobset.sigs.k8s.io/jobset-name"
LABEL_REPLICATED_JOB = "jobset.sigs.k8s.io/replicatedjob-name"
LABEL_JOB_INDEX = "jobset.sigs.k8s.io/job-index"
LABEL_COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


def node_pod_selectors(name: str, node: int = 0) -> tuple[str, ...]:
    """Label selectors of node ``node``'s pod. The JobSet is named after the TrainJob and
    labels every pod with it, its replicated job and (Indexed Job) the completion index, which
    is the node rank."""
    return (f"{LABEL_JOBSET}={name},{LABEL_REPLICATED_JOB}={NODE},"
            f"{LABEL_COMPLETION_INDEX}={node}",)


def pods_selector(name: str) -> str:
    """Label selector of all the TrainJob's pods."""
    return f"{LABEL_JOBSET}={name}"


def pod_role(pod: Mapping[str, Any]) -> str:
    """``node <rank>`` (or the replicated job's name for pods of other steps)."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    job = labels.get(LABEL_REPLICATED_JOB, "?")
    index = labels.get(LABEL_COMPLETION_INDEX)
    return f"{job} {index}" if index is not None else job


#: The TrainJob as :class:`rlsd.launch.cluster.ClusterJobLauncher` runs it.
TRAINJOB = JobKind(
    kind=KIND, group=GROUP, version=VERSION, plural=PLURAL, container=CONTAINER_NAME,
    lead_selectors=node_pod_selectors, pods_selector=pods_selector, pod_role=pod_role,
    state=trainjob_state, failed=TrainJobFailed, rejected=TrainJobRejected,
    invalid=TrainJobInvalid,
    operator=f"Kubeflow Trainer v2 (TrainJob CRD, {API_VERSION}) and its training runtime")

_PYTORCHJOB_ONLY = ("restart_policy", "backoff_limit", "clean_pod_policy",
                    "ttl_seconds_after_finished", "image_pull_policy", "master_port")


def check_trainjob_spec(spec: TrainingJobSpec) -> None:
    """Raise :class:`TrainingJobSpecError` for a setting a TrainJob cannot carry (see the
    module docs), after ``spec.validate()``."""
    spec.validate()
    if not spec.image:
        raise TrainingJobSpecError("image is required for a TrainJob (the trainer image)")
    defaults = TrainingJobSpec()
    for name in _PYTORCHJOB_ONLY:
        if getattr(spec, name) != getattr(defaults, name):
            raise TrainingJobSpecError(
                f"{name}={getattr(spec, name)!r} applies to the PyTorchJob launcher only; a "
                f"TrainJob's training runtime ({spec.training_runtime}) decides it: leave it "
                "at its default or use launcher pytorchjob")
    if spec.s3_secret and not spec.s3_secret_keys:
        raise TrainingJobSpecError(
            "a TrainJob cannot take a whole Secret as envFrom: name the variables and keys in "
            f"s3_secret_keys (e.g. {{AWS_ACCESS_KEY_ID: AWS_ACCESS_KEY_ID}}) for {spec.s3_secret}")
    reserved = sorted(set(RESERVED_ENV) & (set(spec.env) | set(spec.forward_env)
                                           | set(spec.secret_env)))
    if reserved:
        raise TrainingJobSpecError(f"environment variable(s) {reserved} are set by the training "
                                  "runtime from numNodes/numProcPerNode; remove them")


def trainer_command(spec: TrainingJobSpec) -> tuple[list[str], list[str]]:
    """(command, args) of the trainer: ``torchrun -m <module> <args>`` (the runtime's PET_*
    variables give torchrun its topology), or ``spec.command`` + ``spec.args``."""
    if spec.command:
        return list(spec.command), list(spec.args)
    return ["torchrun"], ["-m", spec.module, *spec.args]


def _runtime_patch(spec: TrainingJobSpec, labels: Mapping[str, str]) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {
        "securityContext": pod_security_context(spec),
        "volumes": volumes(spec),
        "containers": [{"name": CONTAINER_NAME,
                        "securityContext": container_security_context(spec),
                        "volumeMounts": volume_mounts()}],
        **scheduling(spec),
    }
    pod_template = {"metadata": pod_metadata(spec, labels), "spec": pod_spec}
    return {"manager": PATCH_MANAGER, "trainingRuntimeSpec": {"template": {"spec": {
        "replicatedJobs": [{"name": NODE, "template": {"spec": {"template": pod_template}}}]}}}}


def build_trainjob(spec: TrainingJobSpec,
                   environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The TrainJob body for ``spec`` (a plain dict, ready for ``CustomObjectsApi``).

    ``environ`` supplies the values of ``spec.forward_env`` (default: ``os.environ``); Secrets
    are referenced, never read. Raises :class:`TrainingJobSpecError` naming the first setting a
    TrainJob cannot take (:func:`check_trainjob_spec`).
    """
    check_trainjob_spec(spec)
    name = resolve_name(spec)
    # JobSet names node i's pod host "<job>-node-0-<i>": a DNS-1035 label, at most 63 chars.
    longest = f"{name}-{NODE}-0-{spec.nodes - 1}"
    if len(longest) > DNS1035_MAX:
        raise TrainingJobSpecError(f"job name {name!r} is too long: node host name {longest!r} "
                                  f"would exceed {DNS1035_MAX} characters")
    labels = job_labels(spec)
    command, args = trainer_command(spec)
    trainer: dict[str, Any] = {"image": spec.image, "command": command, "args": args,
                               "numNodes": spec.nodes, "numProcPerNode": spec.procs_per_node(),
                               "resourcesPerNode": container_resources(spec)}
    env = container_env(spec, os.environ if environ is None else environ)
    if env:
        trainer["env"] = env
    metadata: dict[str, Any] = {"name": name}
    if spec.namespace:
        metadata["namespace"] = spec.namespace
    metadata["labels"] = labels
    body_spec: dict[str, Any] = {
        "runtimeRef": {"name": spec.training_runtime, "apiGroup": GROUP,
                       "kind": spec.training_runtime_kind},
        "trainer": trainer,
        "runtimePatches": [_runtime_patch(spec, labels)],
    }
    if spec.active_deadline_seconds:
        body_spec["activeDeadlineSeconds"] = spec.active_deadline_seconds
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": body_spec}

