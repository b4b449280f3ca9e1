"""Kubeflow Pipelines components of RLSD, one folder per stage (design.md, "Layout").

Each ``components/<name>/component.py`` holds a plain Python function (the component body,
which imports :mod:`rlsd` and calls one library function) and ``component``, that function
built as a lightweight ``@dsl.component`` on the component image. ``component.yaml`` next to
it is the compiled form for reuse in other pipelines (``python -m pipeline.compile
--components`` rewrites them all).
"""

#: Every component folder, in the order data flows through a round (design.md, "Layout");
#: ``check_settings`` checks a run's parameter values before anything else starts; ``fused``
#: runs many rounds (rollout to update) in one job: the pipeline's fused mode.
COMPONENT_NAMES = (
    "check_settings",
    "base_model",
    "data_prep",
    "rollout",
    "verify",
    "score",
    "merge",
    "update",
    "fused",
    "evaluate",
    "report",
)
