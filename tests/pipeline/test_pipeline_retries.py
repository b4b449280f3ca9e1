"""KFP retry policies (issue 14, part 5): every task that is safe to retry gets the compile
options' policy (count and backoff), visible in the compiled YAML; ``--retries 0`` compiles
none. That kfp.local runs them: test_pipeline_data_settings_local.py."""

from __future__ import annotations

import pytest
import yaml

from components import COMPONENT_NAMES
from pipeline import compile as compile_cli
from pipeline.options import CompileOptions
from pipeline.pipeline import RETRIES
from rlsd.config import ConfigError

#: Written out rather than read from RETRIES, so that a change to a decision changes this too.
EXPECTED_RETRIES = {
    "check_settings": False,  # fails only on a bad value: a retry would report it later
    "base_model": True, "data_prep": True, "rollout": True, "verify": True, "score": True,
    "merge": True, "update": True, "fused": True, "evaluate": True, "report": True,
}
DEFAULT_POLICY = {"maxRetryCount": 2, "backoffDuration": "60s", "backoffFactor": 2.0,
                  "backoffMaxDuration": "86400s"}


def test_every_component_has_a_decision_and_a_reason():
    assert set(RETRIES) == set(COMPONENT_NAMES) == set(EXPECTED_RETRIES)
    assert {name: r.enabled for name, r in RETRIES.items()} == EXPECTED_RETRIES
    assert all(len(r.reason) > 20 for r in RETRIES.values())


@pytest.mark.parametrize("mode", ["staged", "fused"])
def test_every_retryable_task_has_the_default_policy(compiled, mode):
    ir = compiled(rounds=3, mode=mode, rounds_per_job=2, rollout_shards=1)
    kinds = set()
    for display, task in ir.executor_tasks():
        kind = ir.component_kind(task)
        kinds.add(kind)
        if EXPECTED_RETRIES[kind]:
            assert task["retryPolicy"] == DEFAULT_POLICY, display
        else:
            assert "retryPolicy" not in task, display
    assert "check_settings" in kinds and ("fused" in kinds) == (mode == "fused")


def test_the_options_set_count_and_backoff(compiled):
    ir = compiled(rounds=1, retries=5, retry_backoff="30s", retry_backoff_factor=3.0,
                  retry_backoff_max="2h")
    _, _, update = ir.find("round 0: update")
    assert update["retryPolicy"] == {"maxRetryCount": 5, "backoffDuration": "30s",
                                     "backoffFactor": 3.0, "backoffMaxDuration": "7200s"}
    _, _, rollout = ir.find("round 0: rollout")  # inside the ParallelFor, too
    assert rollout["retryPolicy"]["maxRetryCount"] == 5


@pytest.mark.parametrize("mode", ["staged", "fused"])
def test_zero_retries_compiles_no_policy(compiled, mode):
    ir = compiled(rounds=2, mode=mode, retries=0)
    assert not [d for d, t in ir.executor_tasks() if "retryPolicy" in t]
    assert "retryPolicy" not in ir.text


def test_the_compile_flags(tmp_path):
    out = tmp_path / "p.yaml"
    assert compile_cli.main(["--output", str(out), "--rounds", "1", "--retries", "1",
                             "--retry-backoff", "5m"]) == 0
    root = next(yaml.safe_load_all(out.read_text()))["root"]["dag"]["tasks"]
    assert root["data-prep"]["retryPolicy"]["maxRetryCount"] == 1
    assert root["data-prep"]["retryPolicy"]["backoffDuration"] == "300s"
    assert "retryPolicy" not in root["check-settings"]
    assert compile_cli.main(["--output", str(out), "--rounds", "1", "--retries", "0"]) == 0
    assert "retryPolicy" not in out.read_text()


@pytest.mark.parametrize(("fields", "message"), [
    ({"retries": -1}, "retries must be >= 0 (0: no retries), got -1"),
    ({"retry_backoff": "soon"}, "retry_backoff 'soon' is not a duration"),
    ({"retry_backoff": "90"}, "retry_backoff '90' is not a duration"),
    ({"retry_backoff_max": "1.5h"}, "retry_backoff_max '1.5h' is not a duration"),
    ({"retry_backoff_factor": 0.5}, "retry_backoff_factor must be a number >= 1"),
    ({"retry_backoff": "2h", "retry_backoff_max": "1h"},
     "retry_backoff_max (1h) must be longer than retry_backoff (2h)"),
])
def test_bad_retry_options_fail_with_one_clear_message(fields, message):
    with pytest.raises(ConfigError) as info:
        CompileOptions(**fields).validate()
    assert message in str(info.value)


def test_a_disabled_policy_needs_no_sensible_backoff():
    CompileOptions(retries=0, retry_backoff="2h", retry_backoff_max="1h").validate()
