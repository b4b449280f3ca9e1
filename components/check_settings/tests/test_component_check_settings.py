"""The check settings component under kfp.local: the checks of pipeline.params on the values a
run really got, one line naming the parameter (and the setting inside a group)."""

from __future__ import annotations

import pytest

from components.check_settings.component import check_settings
from components.check_settings.component import component as check_settings_component
from pipeline.params import pipeline_parameters


def _values(mode: str = "staged", **changes) -> dict:
    values = {p.name: p.default for p in pipeline_parameters(mode)}
    assert set(changes) <= set(values)
    return {**values, **changes}


def test_its_inputs_are_the_pipeline_parameters():
    """One table: the component takes exactly the parameters of both modes, same types."""
    import inspect

    signature = inspect.signature(check_settings).parameters
    table = {p.name: p.type for mode in ("staged", "fused") for p in pipeline_parameters(mode)}
    assert set(signature) - {"job_defaults", "mode"} == set(table)
    for name, kind in table.items():
        assert signature[name].annotation in (kind, kind.__name__), name


def test_good_values_pass_and_the_groups_come_out(kfp_local, capsys):
    task = check_settings_component(**_values(
        data_settings={"prompt_field": "question", "answer_field": "answer",
                       "answer_after": "####"},
        train_settings={"zero_stage": 3, "clip_high": 0.3}),
        job_defaults={"memory": "64Gi"})
    assert task.output == {
        "data_settings": {"prompt_field": "question", "answer_field": "answer",
                          "answer_after": "####"},
        "train_settings": {"zero_stage": 3, "clip_high": 0.3}}
    staged = len(pipeline_parameters("staged"))
    assert f"check settings: {staged} parameters OK (data_settings" in capsys.readouterr().out


def test_a_fused_runs_values_are_checked_by_the_loop(kfp_local, capsys):
    task = check_settings_component(**_values("fused", fused_settings={
        "vllm_memory_fraction": 0.5}), mode="fused")
    assert task.output == {"fused_settings": {"vllm_memory_fraction": 0.5}}
    with pytest.raises(RuntimeError):
        check_settings_component(**_values("fused", samples_per_prompt=1), mode="fused")
    assert "parameter samples_per_prompt=1: rollout.samples_per_prompt must be >= 2" \
        in capsys.readouterr().out


#: A few kinds of bad value, each in a real task (every rule: test_pipeline_settings_groups.py).
@pytest.mark.parametrize(("changes", "message"), [
    ({"eval_settings": {"top_p": 1.5}},
     "parameter eval_settings['top_p']=1.5: top_p must be in (0, 1], got 1.5 (EvalConfig, "
     "read by the evaluate task)"),
    ({"verify_settings": {"time_limit": 5}},
     "parameter verify_settings: unknown setting(s) ['time_limit'] (fields of VerifyConfig)"),
    ({"data_settings": {"synthetic_n": 50}},
     "parameter data_settings['synthetic_n']=50 and parameter synthetic_size=100 disagree: "
     "synthetic_n has its own parameter synthetic_size"),
])
def test_a_bad_value_fails_the_task_with_one_line(kfp_local, capsys, changes, message):
    with pytest.raises(RuntimeError):
        check_settings_component(**_values(**changes))
    out = capsys.readouterr().out
    assert "check settings: error: " + message in out, out[-2000:]
