"""The data prep component's prompt_template and n_eval inputs (the pipeline's
prompt_template and eval_split_size parameters) under kfp.local."""

from __future__ import annotations

import pytest

from components.data_prep.component import component as data_prep
from rlsd.data import FORMAT_INSTRUCTION, read_prompts


def test_prompt_template_and_n_eval_inputs(kfp_local):
    task = data_prep(synthetic_n=20, seed=3, n_eval=4,
                     prompt_template="{question} Reply with only the number.")
    train = read_prompts(task.outputs["train"].path)
    held_out = read_prompts(task.outputs["eval_prompts"].path)
    assert (train.num_rows, held_out.num_rows) == (16, 4)
    prompts = train["prompt"].to_pylist() + held_out["prompt"].to_pylist()
    assert all(p.endswith("? Reply with only the number.") for p in prompts), prompts[:2]
    # Left empty / 0 they fall back to the settings, then to the default template and split.
    task = data_prep(synthetic_n=20, seed=3, settings={"n_eval": 5})
    held_out = read_prompts(task.outputs["eval_prompts"].path)
    assert held_out.num_rows == 5
    assert all(p.endswith(FORMAT_INSTRUCTION) for p in held_out["prompt"].to_pylist())


def test_an_input_and_a_setting_that_disagree_fail_the_task(kfp_local, capsys):
    with pytest.raises(RuntimeError):
        data_prep(synthetic_n=20, n_eval=4, settings={"n_eval": 5})
    assert "data_prep: n_eval=4 and settings['n_eval']=5" in capsys.readouterr().out
