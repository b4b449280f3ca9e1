"""Compile-time settings of the pipeline: what changes the graph or the pod specs.

Runtime settings (model, data, sampling, optimisation, cluster size, launcher) are pipeline
parameters (:mod:`pipeline.pipeline`) and can change per run. These cannot:

* ``mode``: ``staged`` (every stage of every round is its own task) or ``fused`` (chained
  training jobs that each run ``rounds_per_job`` rounds of ``python -m rlsd.loop`` with the
  policy resident; design.md, "Two ways to run the rounds");
* ``rounds``, ``rollout_shards``, ``rounds_per_job``: rounds are unrolled (staged) or split
  into jobs (fused) and shards fanned out at compile time (KFP v2 has no loop that carries
  outputs between iterations; design.md, "Rounds");
* ``algorithm``: GRPO has no scoring step, so the algorithm shapes the graph; it is written into
  the pipeline's name and description;
* ``profile``: a named training profile (:mod:`rlsd.profiles`) whose values become the
  pipeline parameters' defaults (:mod:`pipeline.profile_defaults`); its name is written into
  the description and the training report;
* ``teacher_refresh_rounds`` (K): which round's policy each score task reads as its teacher
  (round ``r`` uses the policy of round ``floor(r / K) * K``; ``K = 0``: the live policy);
* Kubernetes settings of the tasks (kfp-kubernetes writes them into the platform spec):
  the S3 credentials Secret (by name only), node selectors, tolerations, ``/dev/shm``,
  resources, and the trainer's node selector / tolerations / GPU type for the PyTorchJob;
* the KFP retry policy of every task that may be retried (``retries`` and the backoff,
  :data:`pipeline.pipeline.RETRIES` says which tasks and why).

Loaded with :mod:`rlsd.config` (flags, ``--config file.yaml``, ``--set name=value``); dict and
list values are YAML, e.g. ``--task-node-selector '{pool: cpu}'``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from components._shared.image_names import DEFAULT_TRAINER_IMAGE  # noqa: F401 - re-exported
from components._shared.model_pointer import remote_uri
from rlsd.algorithms import AlgorithmConfig
from rlsd.algorithms.token_credit import TOKEN_ADVANTAGES
from rlsd.config import ConfigError, from_dict
from rlsd.launch import TrainingJobSpec, TrainingJobSpecError
from rlsd.launch.naming import is_label_key, is_label_value
from rlsd.launch.quantity import is_quantity
from rlsd.profiles import PROFILES, get_profile
from rlsd.storage import UnsupportedURIError, parse_s3

#: The two ways to run the rounds (design.md): one task per stage per round, or chained jobs.
MODES = ("staged", "fused")
#: ``manifests/kfp-launcher.yaml``'s defaultPipelineRoot and credentials Secret.
DEFAULT_PIPELINE_ROOT = "s3://rlsd-pipelines/v2/artifacts"
DEFAULT_S3_SECRET = "rlsd-s3-credentials"
#: NVIDIA GPU feature discovery's label of the GPU model on each node.
DEFAULT_GPU_TYPE_LABEL = "nvidia.com/gpu.product"
#: Toleration keys as kfp.kubernetes.add_toleration takes them (tasks) and as Kubernetes
#: spells them (the PyTorchJob's pods).
TASK_TOLERATION_KEYS = frozenset({"key", "operator", "value", "effect", "toleration_seconds"})
POD_TOLERATION_KEYS = frozenset({"key", "operator", "value", "effect", "tolerationSeconds"})
_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
#: What the PyTorchJob spec gets from pipeline parameters or other options, not from
#: ``trainer_settings``.
_TRAINER_SET_ELSEWHERE = ("image", "nodes", "gpus_per_node", "nproc_per_node", "s3_secret",
                          "kfp_run_id", "round_index", "node_selector", "tolerations", "args",
                          "module", "command")


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class CompileOptions:
    """Everything ``python -m pipeline.compile`` fixes in the YAML."""

    rounds: int = field(default=2, metadata=_help(
        "RLSD rounds (rollout -> verify -> score -> update), unrolled"))
    mode: str = field(default="staged", metadata=_help(
        "staged: every stage of every round is its own task; fused: ceil(rounds / "
        "rounds_per_job) chained training jobs (python -m rlsd.loop), the policy resident"))
    rounds_per_job: int = field(default=10, metadata=_help(
        "fused mode: rounds of each chained job (the last job takes what is left)"))
    rollout_shards: int = field(default=1, metadata=_help(
        "staged mode: parallel rollout/verify/score branches per round (ParallelFor); the "
        "fused job shards rollout over its own ranks"))
    algorithm: str = field(default="rlsd", metadata=_help(
        "rlsd, grpo (no scoring step), opsd or grpo+opsd"))
    profile: str = field(default="", metadata=_help(
        f"named training profile ({', '.join(sorted(PROFILES))}; rlsd.profiles): its values "
        "become the pipeline parameters' defaults (a run or --param still overrides them); "
        "empty: none, the paper's defaults"))
    teacher_refresh_rounds: int = field(
        default=AlgorithmConfig().teacher_refresh_rounds, metadata=_help(
            "K: the self-teacher of round r is the policy of round floor(r/K)*K; "
            "0: the live policy"))
    pipeline_root: str = field(default=DEFAULT_PIPELINE_ROOT, metadata=_help(
        "where KFP keeps artifacts; s3:// (or minio://): checkpoints are written next to "
        "their Model artifacts"))
    component_image: str = field(default="", metadata=_help(
        "image of every component (empty: $RLSD_COMPONENT_IMAGE, else the default)"))
    s3_secret: str = field(default=DEFAULT_S3_SECRET, metadata=_help(
        "Kubernetes Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, attached to every "
        "task and the PyTorchJob by name (empty: none)"))
    s3_endpoint: str = field(default="", metadata=_help(
        "AWS_ENDPOINT_URL of every task (e.g. http://minio-service.kubeflow:9000); "
        "empty: AWS's default"))
    task_node_selector: dict[str, str] = field(default_factory=dict, metadata=_help(
        "nodeSelector of every KFP task pod"))
    task_tolerations: list[dict] = field(default_factory=list, metadata=_help(
        "tolerations of every KFP task pod ({key, operator, value, effect})"))
    model_task_cpu: str = field(default="4", metadata=_help(
        "CPU request of the tasks that load a model (rollout, score, evaluate)"))
    model_task_memory: str = field(default="16Gi", metadata=_help(
        "memory request of the tasks that load a model"))
    model_task_gpus: int = field(default=0, metadata=_help(
        "GPUs of each rollout, score and evaluate task (vLLM needs one); 0: CPU"))
    accelerator_type: str = field(default="nvidia.com/gpu", metadata=_help(
        "resource name of model_task_gpus"))
    shm_size: str = field(default="2Gi", metadata=_help(
        "memory-backed /dev/shm of the model tasks (empty: none)"))
    update_cpu: str = field(default="1", metadata=_help(
        "CPU request of the update (and fused) task: a light driver when the PyTorchJob "
        "trains; raise it if you run launcher=local on a cluster"))
    update_memory: str = field(default="2Gi", metadata=_help(
        "memory request of the update (and fused) task"))
    gpu_type: str = field(default="", metadata=_help(
        "GPU model the trainer pods (and GPU model tasks) must run on, e.g. "
        "NVIDIA-H100-80GB-HBM3 (a nodeSelector on gpu_type_label); empty: any"))
    gpu_type_label: str = field(default=DEFAULT_GPU_TYPE_LABEL, metadata=_help(
        "node label that holds the GPU model"))
    trainer_node_selector: dict[str, str] = field(default_factory=dict, metadata=_help(
        "nodeSelector of the PyTorchJob pods"))
    trainer_tolerations: list[dict] = field(default_factory=list, metadata=_help(
        "tolerations of the PyTorchJob pods (Kubernetes form: key, operator, value, effect)"))
    trainer_settings: dict[str, Any] = field(default_factory=dict, metadata=_help(
        "other rlsd.launch.TrainingJobSpec fields of the trainer: cpu, memory, shm_size, "
        "namespace, service_account, secret_env... (the job_settings parameter of a run "
        "overrides them field by field)"))
    retries: int = field(default=2, metadata=_help(
        "KFP retries of every task after a failure (a lost node, an evicted pod, an S3 "
        "outage); 0: no retry policy at all. Every task is safe to run again: outputs are "
        "rewritten whole, a training job replaces its leftover and resumes from its last "
        "complete checkpoint"))
    retry_backoff: str = field(default="60s", metadata=_help(
        "wait before the first retry (a duration: 30s, 2m, 1h)"))
    retry_backoff_factor: float = field(default=2.0, metadata=_help(
        "each further retry waits this many times longer"))
    retry_backoff_max: str = field(default="24h", metadata=_help(
        "no retry starts later than this after the task's first attempt started (Argo's "
        "backoff.maxDuration, which also becomes a retried pod's deadline): longer than the "
        "longest task, a fused job's rounds included"))

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid option."""
        if self.rounds < 1:
            raise ConfigError(f"rounds must be >= 1, got {self.rounds}")
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {list(MODES)}, got {self.mode!r}")
        if self.rounds_per_job < 1:
            raise ConfigError(f"rounds_per_job must be >= 1, got {self.rounds_per_job}")
        if self.rollout_shards < 1:
            raise ConfigError(f"rollout_shards must be >= 1, got {self.rollout_shards}")
        if self.mode == "fused" and self.rollout_shards != 1:
            raise ConfigError(f"rollout_shards={self.rollout_shards} is a staged-mode option: "
                              "the fused job shards rollout over its own ranks (nodes x "
                              "nproc_per_node); leave it at 1")
        if self.algorithm == "opd":
            raise ConfigError("algorithm 'opd' needs a separate teacher model, which this "
                              "pipeline does not take; use rlsd, grpo, opsd or grpo+opsd")
        if self.algorithm not in TOKEN_ADVANTAGES:
            raise ConfigError(f"algorithm must be one of {sorted(TOKEN_ADVANTAGES)}, "
                              f"got {self.algorithm!r}")
        if self.profile:
            get_profile(self.profile)  # an unknown name: ConfigError listing the known ones
        if self.teacher_refresh_rounds < 0:
            raise ConfigError(f"teacher_refresh_rounds must be >= 0 (0: live policy), "
                              f"got {self.teacher_refresh_rounds}")
        check_pipeline_root(self.pipeline_root)
        if self.s3_secret and not _SECRET_NAME.match(self.s3_secret):
            raise ConfigError(f"s3_secret {self.s3_secret!r} is not a Kubernetes Secret name")
        if self.s3_endpoint and "://" not in self.s3_endpoint:
            raise ConfigError(f"s3_endpoint must be a URL like http://host:9000, "
                              f"got {self.s3_endpoint!r}")
        for name in ("model_task_cpu", "model_task_memory", "update_cpu", "update_memory",
                     "shm_size"):
            value = getattr(self, name)
            if (value or name != "shm_size") and not is_quantity(value):
                raise ConfigError(f"{name} {value!r} is not a Kubernetes quantity "
                                  "(e.g. 500m, 4, 16Gi)")
        if self.model_task_gpus < 0:
            raise ConfigError(f"model_task_gpus must be >= 0, got {self.model_task_gpus}")
        check_node_selector(self.task_node_selector, "task_node_selector")
        for i, tol in enumerate(self.task_tolerations):
            check_toleration(tol, f"task_tolerations[{i}]", TASK_TOLERATION_KEYS)
        for i, tol in enumerate(self.trainer_tolerations):
            check_toleration(tol, f"trainer_tolerations[{i}]", POD_TOLERATION_KEYS)
        if self.gpu_type and not (is_label_key(self.gpu_type_label)
                                  and is_label_value(self.gpu_type)):
            raise ConfigError(f"gpu_type {self.gpu_type_label}={self.gpu_type!r} is not a "
                              "valid node label")
        clash = sorted(set(self.trainer_settings) & set(_TRAINER_SET_ELSEWHERE))
        if clash:
            raise ConfigError(f"trainer_settings {clash} are set by pipeline parameters or "
                              "other options (trainer_node_selector, trainer_tolerations, "
                              "gpu_type, s3_secret)")
        self.check_retries()
        fields = {f.name for f in dataclasses.fields(TrainingJobSpec)}
        unknown = sorted(set(self.trainer_settings) - fields)
        if unknown:
            raise ConfigError(f"trainer_settings: unknown TrainingJobSpec field(s) {unknown}; "
                              f"valid: {sorted(fields - set(_TRAINER_SET_ELSEWHERE))}")
        try:
            from_dict(TrainingJobSpec, self.job_settings())
        except TrainingJobSpecError as exc:
            raise ConfigError(f"trainer settings: {exc}") from None

    def check_retries(self) -> None:
        """The retry options: a count >= 0, durations KFP can read, a factor >= 1."""
        if self.retries < 0:
            raise ConfigError(f"retries must be >= 0 (0: no retries), got {self.retries}")
        seconds = {name: duration_seconds(getattr(self, name), name)
                   for name in ("retry_backoff", "retry_backoff_max")}
        if not math.isfinite(self.retry_backoff_factor) or self.retry_backoff_factor < 1:
            raise ConfigError("retry_backoff_factor must be a number >= 1, got "
                              f"{self.retry_backoff_factor}")
        if self.retries and seconds["retry_backoff_max"] <= seconds["retry_backoff"]:
            raise ConfigError(f"retry_backoff_max ({self.retry_backoff_max}) must be longer "
                              f"than retry_backoff ({self.retry_backoff}), or no retry starts")

    def retry_policy(self) -> dict[str, Any] | None:
        """``PipelineTask.set_retry``'s arguments, or None when ``retries`` is 0."""
        if not self.retries:
            return None
        return {"num_retries": self.retries, "backoff_duration": self.retry_backoff,
                "backoff_factor": self.retry_backoff_factor,
                "backoff_max_duration": self.retry_backoff_max}

    def gpu_node_selector(self) -> dict[str, str]:
        return {self.gpu_type_label: self.gpu_type} if self.gpu_type else {}

    def job_settings(self) -> dict[str, Any]:
        """The TrainingJobSpec fields fixed at compile time (the update's ``job_settings``)."""
        return {**self.trainer_settings,
                "node_selector": {**self.trainer_node_selector, **self.gpu_node_selector()},
                "tolerations": [dict(t) for t in self.trainer_tolerations]}

    def job_check_defaults(self) -> dict[str, Any]:
        """What the checks of a run's job settings start from: :meth:`job_settings` and the
        S3 Secret's name (the update and fused tasks get it as their own input)."""
        return {**self.job_settings(), "s3_secret": self.s3_secret}

    def fused_jobs(self) -> list[tuple[int, int]]:
        """``(first round, rounds)`` of each chained fused job: ``rounds_per_job`` rounds
        each, the last one what is left (``ceil(rounds / rounds_per_job)`` jobs)."""
        m = self.rounds_per_job
        return [(first, min(m, self.rounds - first)) for first in range(0, self.rounds, m)]

    def teacher_round(self, round_index: int) -> int:
        """Whose policy round ``round_index`` scores with: ``floor(r / K) * K``, or ``r``
        (the live policy) when K = 0. Policy ``j`` is what round ``j`` samples from (0: base)."""
        k = self.teacher_refresh_rounds
        return round_index if k == 0 else (round_index // k) * k

    @property
    def needs_scores(self) -> bool:
        """GRPO alone trains without the self-teacher's log-probs: no score tasks."""
        return self.algorithm != "grpo"


def duration_seconds(text: str, name: str) -> int:
    """``text`` (``30s``, ``2m``, ``1h``, ``1d``: a whole number and a unit) in seconds, as KFP
    reads a retry duration; :class:`ConfigError` naming ``name`` otherwise."""
    from kfp.dsl.structures import convert_duration_to_seconds

    try:
        seconds = convert_duration_to_seconds(str(text).strip())
    except (ValueError, IndexError):
        seconds = -1
    if seconds < 0:
        raise ConfigError(f"{name} {text!r} is not a duration (e.g. 30s, 2m, 1h, 1d)")
    return seconds


def check_pipeline_root(root: str, name: str = "pipeline_root") -> str:
    """``root`` if it is an ``s3://`` (or KFP's ``minio://``) URI that :mod:`rlsd.storage`
    accepts (bucket name, key length), else :class:`ConfigError` naming ``name``.

    Checkpoints are written next to their Model artifacts through the S3 API, as
    :func:`components._shared.model_pointer.remote_uri` spells them; a root the storage layer
    refuses would fail the first update, after a whole round.
    """
    if not root.startswith(("s3://", "minio://")):
        raise ConfigError(f"{name} must be an s3:// (or minio://) URI: checkpoints are written "
                          f"next to their Model artifacts through the S3 API, got {root!r}")
    try:
        parse_s3(remote_uri(root))
    except UnsupportedURIError as exc:
        raise ConfigError(f"{name} {root!r} is not a usable S3 root: {exc}") from None
    return root


def check_node_selector(selector: dict[str, str], name: str) -> None:
    for key, value in selector.items():
        if not is_label_key(str(key)) or not isinstance(value, str) or not is_label_value(value):
            raise ConfigError(f"{name}: {key}={value!r} is not a valid node label")


def check_toleration(tol: object, name: str, keys: frozenset[str]) -> None:
    """A toleration with keys among ``keys``, a known operator and effect."""
    if not isinstance(tol, dict) or not tol or not set(tol) <= keys:
        raise ConfigError(f"{name} = {tol!r} must be a mapping with keys among {sorted(keys)}")
    if tol.get("operator", "Equal") not in ("Equal", "Exists"):
        raise ConfigError(f"{name}: operator must be Equal or Exists, got {tol['operator']!r}")
    if tol.get("effect") not in (None, "NoSchedule", "PreferNoSchedule", "NoExecute"):
        raise ConfigError(f"{name}: effect must be NoSchedule, PreferNoSchedule or NoExecute, "
                          f"got {tol['effect']!r}")
