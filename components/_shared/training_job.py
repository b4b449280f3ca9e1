"""The training job's settings for the two components that launch one (update and fused).

Both take the same typed inputs for the job (trainer image, nodes, GPUs, processes, the S3
Secret, the run id and round) plus two dicts: ``job_defaults`` (compiled into the pipeline)
and ``job_settings`` (a run's group of settings). One function merges them so the two tasks
cannot drift apart, and a contradiction between a typed input and a group entry is refused
the same way in both (:func:`components._shared.overrides.merge_settings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components._shared.overrides import merge_settings

#: Group entries whose typed input has another name: the message names the input.
TYPED_NAMES = {"image": "trainer_image", "kfp_run_id": "run_id"}


def training_job_settings(where: str, job_defaults: Mapping[str, Any] | None,
                          job_settings: Mapping[str, Any] | None, *, trainer_image: str,
                          nodes: int, gpus_per_node: int, nproc_per_node: int, s3_secret: str,
                          run_id: str, round_index: int,
                          extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The :class:`rlsd.launch.TrainingJobSpec` fields for the task ``where``.

    ``job_settings`` overrides ``job_defaults``; the typed inputs then fill in, where given
    (an empty ``trainer_image``, ``s3_secret`` or ``run_id`` counts as not given). ``extra``
    holds fields the task itself fixes (the fused task's ``module`` and job ``name``); they
    take part in the same agreement check. Raises
    :class:`~components._shared.overrides.SettingsConflict` when a group entry and a typed
    input (or ``extra``) give different values, naming both.
    """
    given = {"image": trainer_image or None, "nodes": nodes, "gpus_per_node": gpus_per_node,
             "nproc_per_node": nproc_per_node, "s3_secret": s3_secret or None,
             "kfp_run_id": run_id or None, "round_index": round_index, **(extra or {})}
    return merge_settings({**(job_defaults or {}), **(job_settings or {})}, given, where,
                          TYPED_NAMES)
