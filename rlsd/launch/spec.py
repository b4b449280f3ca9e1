"""What one training launch looks like on a cluster: :class:`TrainingJobSpec`.

A flat settings dataclass (loadable by :mod:`rlsd.config` from YAML, flags and ``--set``) from
which :func:`rlsd.launch.pytorchjob.build_pytorchjob` builds a PyTorchJob body and
:func:`rlsd.launch.trainjob.build_trainjob` a Kubeflow Trainer v2 TrainJob body (one set of
settings for both; ``PyTorchJobSpec`` is its older name, kept as an alias). The same object configures the
local ``torchrun`` mode (``module``, ``args``, ``nproc_per_node``). A few settings exist for
the PyTorchJob only (restart and clean-pod policies, backoff limit, TTL, image pull policy,
master port: a TrainJob's runtime decides those) and ``training_runtime*`` for the TrainJob
only; the TrainJob builder refuses a PyTorchJob-only setting changed from its default.

Decisions worth knowing (design.md, "Kubernetes facts that matter"):

- ``restart_policy`` defaults to ``Never`` with ``backoff_limit`` 0. A round is one
  deterministic step that reads its inputs from S3 and writes a new checkpoint; with a static
  torchrun rendezvous a single restarted pod cannot rejoin its peers (they hang or fail on the
  next collective), and an OOM would only repeat. A failure therefore fails the KFP task, and
  KFP's own retry re-runs the whole round, which :class:`PyTorchJobLauncher` supports by
  replacing a leftover job of the same name. ``OnFailure``/``ExitCode`` remain available for
  clusters with preemptible nodes.
- ``clean_pod_policy`` defaults to ``Running``: when the job ends, pods still running (workers
  blocked on a dead master) are killed so they free their GPUs, while finished pods stay for
  their logs until the job is deleted.
- Credentials never enter the body: S3 keys come from a Secret (``secretKeyRef`` per variable,
  or ``envFrom`` the whole Secret), other secrets through ``secret_env``. A credential-looking
  name in ``env`` or ``forward_env`` is an error.
- ``/dev/shm`` is a memory-backed emptyDir (NCCL and data loaders need more than the
  container runtime's 64 MiB default). It counts against the memory limit, which is checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from rlsd.launch.errors import TrainingJobSpecError
from rlsd.launch.naming import is_dns1035_label, is_dns1123_label, is_label_key, is_label_value
from rlsd.launch.quantity import is_quantity, parse_quantity

# Environment variable names that hold secrets and must come from a Kubernetes Secret: a
# whole `_`-separated word (HF_TOKEN, AWS_SECRET_ACCESS_KEY, DB_PASSWORD), so that e.g.
# TOKENIZERS_PARALLELISM stays allowed.
CREDENTIAL_ENV = re.compile(r"(^|_)(SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIALS?|"
                            r"(ACCESS|API|PRIVATE)_KEY)(_|$)", re.IGNORECASE)
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_RUNTIME_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

DEFAULT_S3_SECRET_KEYS = {"AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
                          "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY"}
# Non-secret S3 settings that rlsd.storage reads; forwarded from the launching pod by default.
DEFAULT_FORWARD_ENV = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION",
                       "AWS_REGION"]


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class TrainingJobSpec:
    """Settings of one training launch (``spec.module``, default ``python -m rlsd.train``): a
    PyTorchJob or a TrainJob on a cluster, ``torchrun`` here."""

    name: str = field(default="", metadata=_help(
        "job name, a DNS-1035 label of at most 51 characters; empty: derived from kfp_run_id "
        "and round_index"))
    namespace: str = field(default="", metadata=_help(
        "namespace of the job; empty: this pod's namespace, else the kubeconfig context's"))
    image: str = field(default="", metadata=_help("trainer image (required for a PyTorchJob)"))
    module: str = field(default="rlsd.train", metadata=_help(
        "Python module that torchrun runs (-m)"))
    args: list[str] = field(default_factory=list, metadata=_help("arguments of the module"))
    command: list[str] = field(default_factory=list, metadata=_help(
        "replace the whole container command (torchrun is then up to you)"))
    nodes: int = field(default=1, metadata=_help(
        "pods (nodes): 1 Master + nodes-1 Workers"))
    gpus_per_node: int = field(default=1, metadata=_help(
        "nvidia.com/gpu limit per pod; 0 for a CPU-only job"))
    nproc_per_node: int = field(default=0, metadata=_help(
        "processes per node; 0: one per GPU (1 without GPUs)"))
    cpu: str = field(default="8", metadata=_help("CPU request per pod"))
    memory: str = field(default="64Gi", metadata=_help("memory request per pod"))
    cpu_limit: str = field(default="", metadata=_help(
        "CPU limit per pod; empty: none (throttling stalls NCCL and data loading)"))
    memory_limit: str = field(default="", metadata=_help(
        "memory limit per pod; empty: the request (a pod over it is OOMKilled)"))
    shm_size: str = field(default="16Gi", metadata=_help(
        "sizeLimit of the memory-backed /dev/shm; counts against the memory limit"))
    env: dict[str, Any] = field(default_factory=dict, metadata=_help(
        "plain environment variables (no credentials)"))
    forward_env: list[str] = field(default_factory=lambda: list(DEFAULT_FORWARD_ENV),
                                   metadata=_help(
        "variables copied from the launching process when set there (no credentials)"))
    s3_secret: str = field(default="", metadata=_help(
        "Secret holding the S3 credentials; empty: none"))
    s3_secret_keys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_S3_SECRET_KEYS),
                                           metadata=_help(
        "env variable -> key in s3_secret (secretKeyRef); empty mapping: envFrom the whole Secret"))
    secret_env: dict[str, str] = field(default_factory=dict, metadata=_help(
        "more variables from Secrets: NAME -> '<secret>:<key>' (e.g. HF_TOKEN)"))
    node_selector: dict[str, str] = field(default_factory=dict, metadata=_help(
        "nodeSelector of every pod"))
    tolerations: list[dict] = field(default_factory=list, metadata=_help(
        "tolerations of every pod (Kubernetes Toleration objects)"))
    service_account: str = field(default="", metadata=_help(
        "service account of the training pods; empty: the namespace default"))
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] = field(
        default="IfNotPresent", metadata=_help("imagePullPolicy"))
    image_pull_secrets: list[str] = field(default_factory=list, metadata=_help(
        "names of image pull Secrets"))
    restart_policy: Literal["Never", "OnFailure", "ExitCode"] = field(
        default="Never", metadata=_help("replica restart policy (see module docs)"))
    backoff_limit: int = field(default=0, metadata=_help("job retries before Failed"))
    clean_pod_policy: Literal["Running", "All", "None"] = field(
        default="Running", metadata=_help("pods to delete when the job ends"))
    ttl_seconds_after_finished: int = field(default=86400, metadata=_help(
        "operator deletes the finished job after this many seconds (backstop; the launcher "
        "deletes it at once); 0: never"))
    active_deadline_seconds: int = field(default=0, metadata=_help(
        "operator fails the job after this many seconds; 0: no deadline"))
    labels: dict[str, str] = field(default_factory=dict, metadata=_help(
        "extra labels of the job and its pods"))
    pod_annotations: dict[str, str] = field(
        default_factory=lambda: {"sidecar.istio.io/inject": "false"}, metadata=_help(
            "annotations of the pods (Istio's sidecar would keep finished pods running)"))
    kfp_run_id: str = field(default="", metadata=_help(
        "KFP run id (dsl.PIPELINE_JOB_ID_PLACEHOLDER): names and labels the job"))
    round_index: int = field(default=0, metadata=_help("RLSD round: names and labels the job"))
    master_port: int = field(default=23456, metadata=_help(
        "rendezvous port (the operator's pytorchjob-port)"))
    run_as_user: int | None = field(default=1000, metadata=_help(
        "UID the training containers run as (runAsNonRoot; the trainer image's user); "
        "none: the image's own user, which may be root"))
    read_only_root_filesystem: bool = field(default=True, metadata=_help(
        "mount the image read-only; the process writes only to /tmp (an emptyDir holding the "
        "caches, the downloaded policy and the checkpoint staging) and /dev/shm"))
    scratch_size: str = field(default="", metadata=_help(
        "sizeLimit of the /tmp emptyDir (e.g. 200Gi); empty: no limit"))
    training_runtime: str = field(default="torch-distributed", metadata=_help(
        "TrainJob only: the training runtime it names (runtimeRef.name); its replicated job "
        "and trainer container must be called 'node', as in Kubeflow Trainer's stock runtimes"))
    training_runtime_kind: Literal["ClusterTrainingRuntime", "TrainingRuntime"] = field(
        default="ClusterTrainingRuntime", metadata=_help(
            "TrainJob only: ClusterTrainingRuntime (cluster-wide) or TrainingRuntime (in the "
            "job's namespace)"))

    def validate(self) -> None:
        """Raise :class:`TrainingJobSpecError` naming the first invalid setting."""
        if self.name and not is_dns1035_label(self.name):
            raise TrainingJobSpecError(
                f"name {self.name!r} is not a DNS-1035 label (lower-case letters, digits and "
                "'-', starting with a letter, ending alphanumeric)")
        if self.namespace and not is_dns1123_label(self.namespace):
            raise TrainingJobSpecError(f"namespace {self.namespace!r} is not a DNS-1123 label")
        if not _MODULE.match(self.module):
            raise TrainingJobSpecError(f"module {self.module!r} is not a Python module path")
        if self.nodes < 1:
            raise TrainingJobSpecError(f"nodes must be >= 1, got {self.nodes}")
        for name in ("gpus_per_node", "nproc_per_node", "backoff_limit",
                     "ttl_seconds_after_finished", "active_deadline_seconds", "round_index"):
            if getattr(self, name) < 0:
                raise TrainingJobSpecError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not _RUNTIME_NAME.match(self.training_runtime):
            raise TrainingJobSpecError(f"training_runtime {self.training_runtime!r} is not a "
                                      "Kubernetes object name")
        if self.training_runtime_kind not in ("ClusterTrainingRuntime", "TrainingRuntime"):
            raise TrainingJobSpecError(
                f"training_runtime_kind must be ClusterTrainingRuntime or TrainingRuntime, got "
                f"{self.training_runtime_kind!r}")
        if not 1 <= self.master_port <= 65535:
            raise TrainingJobSpecError(f"master_port must be in 1..65535, got {self.master_port}")
        self._validate_quantities()
        self._validate_env()
        for key, value in {**self.labels, **self.node_selector}.items():
            if not is_label_key(str(key)) or not isinstance(value, str) or not is_label_value(value):
                raise TrainingJobSpecError(
                    f"label/nodeSelector {key}={value!r} is not a valid Kubernetes label")
        for key, value in self.pod_annotations.items():
            if not is_label_key(str(key)) or not isinstance(value, str):
                raise TrainingJobSpecError(f"pod annotation {key}={value!r} is invalid "
                                          "(key like a label key, value a string)")
        for i, tol in enumerate(self.tolerations):
            if not isinstance(tol, dict) or not set(tol) <= {
                    "key", "operator", "value", "effect", "tolerationSeconds"}:
                raise TrainingJobSpecError(
                    f"tolerations[{i}] = {tol!r} is not a Toleration (allowed keys: key, "
                    "operator, value, effect, tolerationSeconds)")

    def _validate_quantities(self) -> None:
        if self.run_as_user is not None and (isinstance(self.run_as_user, bool)
                                             or int(self.run_as_user) < 1):
            raise TrainingJobSpecError(f"run_as_user must be a non-root UID (>= 1) or none, "
                                      f"got {self.run_as_user!r}")
        for name in ("cpu", "memory", "cpu_limit", "memory_limit", "shm_size", "scratch_size"):
            value = getattr(self, name)
            if (value or name in ("cpu", "memory", "shm_size")) and not is_quantity(value):
                raise TrainingJobSpecError(
                    f"{name} {value!r} is not a Kubernetes quantity (e.g. 500m, 8, 16Gi)")
        limit = self.memory_limit or self.memory
        if self.memory_limit and parse_quantity(self.memory_limit) < parse_quantity(self.memory):
            raise TrainingJobSpecError(f"memory_limit {self.memory_limit} is below the memory "
                                      f"request {self.memory}")
        if parse_quantity(self.shm_size) >= parse_quantity(limit):
            raise TrainingJobSpecError(
                f"shm_size {self.shm_size} must be below the memory limit {limit}: the "
                "memory-backed /dev/shm counts against it")

    def _validate_env(self) -> None:
        names = list(self.env) + list(self.forward_env) + list(self.secret_env) \
            + list(self.s3_secret_keys)
        for name in names:
            if not _ENV_NAME.match(str(name)):
                raise TrainingJobSpecError(f"{name!r} is not a valid environment variable name")
        for name in list(self.env) + list(self.forward_env):
            if CREDENTIAL_ENV.search(name):
                raise TrainingJobSpecError(
                    f"environment variable {name} looks like a credential: its value would "
                    "be stored in the PyTorchJob; put it in a Secret and use s3_secret or "
                    "secret_env instead")
        for name, value in self.env.items():
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise TrainingJobSpecError(
                    f"env {name} must be a string or a number, got {value!r}")
        for name, ref in self.secret_env.items():
            secret, sep, key = str(ref).partition(":")
            if not sep or not secret or not key:
                raise TrainingJobSpecError(
                    f"secret_env {name}={ref!r} must be '<secret name>:<key>'")
        # The default mapping is harmless without a Secret; anything else is a mistake.
        if self.s3_secret_keys and not self.s3_secret \
                and self.s3_secret_keys != DEFAULT_S3_SECRET_KEYS:
            raise TrainingJobSpecError("s3_secret_keys is set but s3_secret (the Secret's "
                                      "name) is empty")
        overlap = set(self.env) & (set(self.secret_env) | set(
            self.s3_secret_keys if self.s3_secret else ()))
        if overlap:
            raise TrainingJobSpecError(
                f"environment variable(s) {sorted(overlap)} set both in env and from a Secret")

    def procs_per_node(self) -> int:
        """Processes per node: ``nproc_per_node``, else one per GPU, else 1."""
        return self.nproc_per_node or self.gpus_per_node or 1
