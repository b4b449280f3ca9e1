"""Kubernetes settings of the pipeline's tasks (kfp-kubernetes; ignored by kfp.local).

design.md, "Kubernetes facts that matter": components get S3 credentials from a Secret via
``kfp.kubernetes.use_secret_as_env`` (only the Secret's name is in the YAML, never a value);
tasks that load a model get a memory-backed ``/dev/shm`` and model-sized resources; the
update task is a light driver (the GPUs belong to the PyTorchJob it launches).
"""

from __future__ import annotations

from kfp import kubernetes
from kfp.dsl import PipelineTask

from pipeline.options import CompileOptions

#: Secret key -> environment variable: the names rlsd.storage (boto3, pyarrow) reads.
S3_SECRET_KEYS = {"AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
                  "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY"}
SHM_VOLUME = "dshm"


def common_settings(task: PipelineTask, options: CompileOptions) -> PipelineTask:
    """Every task: S3 credentials (by Secret name), endpoint, node selector, tolerations."""
    if options.s3_secret:
        kubernetes.use_secret_as_env(task, secret_name=options.s3_secret,
                                     secret_key_to_env=dict(S3_SECRET_KEYS))
    if options.s3_endpoint:
        task.set_env_variable("AWS_ENDPOINT_URL", options.s3_endpoint)
    for key, value in options.task_node_selector.items():
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    for tol in options.task_tolerations:
        kubernetes.add_toleration(task, **tol)
    return task


def model_task_settings(task: PipelineTask, options: CompileOptions) -> PipelineTask:
    """Rollout, score, evaluate: they hold a model, so resources, ``/dev/shm`` and GPUs."""
    common_settings(task, options)
    task.set_cpu_request(options.model_task_cpu)
    task.set_memory_request(options.model_task_memory)
    if options.shm_size:
        kubernetes.empty_dir_mount(task, volume_name=SHM_VOLUME, mount_path="/dev/shm",
                                   medium="Memory", size_limit=options.shm_size)
    if options.model_task_gpus:
        task.set_accelerator_type(options.accelerator_type)
        task.set_accelerator_limit(options.model_task_gpus)
        for key, value in options.gpu_node_selector().items():
            kubernetes.add_node_selector(task, label_key=key, label_value=value)
    return task


def update_task_settings(task: PipelineTask, options: CompileOptions) -> PipelineTask:
    """The update: a driver pod that launches and watches the PyTorchJob."""
    common_settings(task, options)
    task.set_cpu_request(options.update_cpu)
    task.set_memory_request(options.update_memory)
    return task
