"""Which tasks of the compiled pipeline may come from KFP's cache, and why (issue 11, kind 8).

KFP keys a task's cache on its input parameters, the identity of its input artifacts and its
image and command, never on what the task reads from elsewhere. The rule (pipeline.pipeline's
docstring, the README): a task caches only when its outputs are a pure function of exactly
those. The expected values are written out here, with the reason, rather than read back from
``pipeline.pipeline.CACHING``, so a change to a decision must change this table too.
"""

from __future__ import annotations

import pytest
from kfp.dsl import pipeline_context

from components import COMPONENT_NAMES
from pipeline.pipeline import CACHING

EXPECTED_CACHING = {
    # Checks the run's parameter values: reads nothing, samples nothing, writes only its
    # output (the settings groups it validated).
    "check_settings": True,
    # External state named by a string: resume_round=-1 is "the last finished round" under
    # resume_from, and an s3:// model's manifest is checked as it is now. A cached base
    # model would hand a new run the first run's starting point.
    "base_model": False,
    # An s3:// file refreshed every night or an unpinned Hugging Face dataset: the same
    # parameters name different data, so a cached split would be stale.
    "data_prep": False,
    # Sampling from a policy resolved at run time (a hub id, an s3:// prefix).
    "rollout": False,
    "score": False,
    "evaluate": False,
    # Trains: launches a PyTorchJob and writes a new checkpoint (a side effect).
    "update": False,
    # Samples and trains, many rounds in one job (the fused mode's rollout, score and update).
    "fused": False,
    # Pure functions of their input artifacts (the report's checkpoint is the one its
    # pointer names, with sizes and digests); their inputs come from uncached tasks.
    "verify": True,
    "merge": True,
    "report": True,
}


def _cached(task: dict) -> bool:
    return bool(task.get("cachingOptions", {}).get("enableCache"))


#: The components of each mode's graph (GRPO has no score task).
STAGED_KINDS = set(EXPECTED_CACHING) - {"fused"}
FUSED_KINDS = {"check_settings", "base_model", "data_prep", "fused", "evaluate", "report"}


@pytest.mark.parametrize("algorithm", ["rlsd", "grpo"])
def test_exactly_the_pure_tasks_cache(compiled, algorithm):
    ir = compiled(rounds=2, rollout_shards=2, algorithm=algorithm)
    seen = {}
    for display, task in ir.executor_tasks():
        kind = ir.component_kind(task)
        seen.setdefault(kind, set()).add(_cached(task))
        assert _cached(task) == EXPECTED_CACHING[kind], f"{display}: {kind}"
    expected_kinds = STAGED_KINDS - ({"score"} if algorithm == "grpo" else set())
    assert set(seen) == expected_kinds  # every kind was checked, in every task
    assert seen["data_prep"] == seen["base_model"] == {False}


@pytest.mark.parametrize("algorithm", ["rlsd", "grpo"])
def test_fused_jobs_never_cache(compiled, algorithm):
    ir = compiled(mode="fused", rounds=5, rounds_per_job=2, algorithm=algorithm)
    seen = {}
    for display, task in ir.executor_tasks():
        kind = ir.component_kind(task)
        seen.setdefault(kind, []).append(_cached(task))
        assert _cached(task) == EXPECTED_CACHING[kind], f"{display}: {kind}"
    assert set(seen) == FUSED_KINDS
    assert seen["fused"] == [False, False, False]  # each of the 3 chained jobs


@pytest.mark.parametrize("mode", ["staged", "fused"])
@pytest.mark.parametrize("kfp_default", [True, False])
def test_caching_is_explicit_whatever_kfps_default(compiled, monkeypatch, kfp_default, mode):
    """KFP_DISABLE_EXECUTION_CACHING_BY_DEFAULT (read by kfp at import) must not decide."""
    monkeypatch.setattr(pipeline_context.Pipeline, "_execution_caching_default", kfp_default)
    ir = compiled(rounds=1, mode=mode)
    for display, task in ir.executor_tasks():
        assert _cached(task) == EXPECTED_CACHING[ir.component_kind(task)], display


def test_every_component_has_a_decision_and_a_reason():
    assert set(CACHING) == set(COMPONENT_NAMES) == set(EXPECTED_CACHING)
    assert {name: c.enabled for name, c in CACHING.items()} == EXPECTED_CACHING
    assert all(len(c.reason) > 20 for c in CACHING.values())


@pytest.mark.parametrize("cron", [None, "0 0 3 * * *"])
def test_submit_never_overrides_the_compiled_caching(tmp_path, cron):
    """kfp.Client's enable_caching would force one setting on every task: never passed."""
    from kfp import compiler

    from pipeline.options import CompileOptions
    from pipeline.pipeline import build_pipeline
    from pipeline.submit import build_parser, plan_submission, submit
    from tests.pipeline.test_pipeline_submit import FakeClient

    package = tmp_path / "p.yaml"
    compiler.Compiler().compile(build_pipeline(CompileOptions(rounds=1)), str(package))
    argv = ["--package", str(package)] + (["--cron", cron] if cron else [])
    client = FakeClient()
    submit(plan_submission(build_parser().parse_args(argv), {}), client)
    (start,) = [kw for name, kw in client.calls
                if name in ("run_pipeline", "create_recurring_run")]
    assert "enable_caching" not in start
