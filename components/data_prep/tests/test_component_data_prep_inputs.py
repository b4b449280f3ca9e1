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
    assert ("data_prep: the input n_eval=4 and settings['n_eval']=5 disagree; give n_eval once"
            in capsys.readouterr().out)


@pytest.mark.parametrize(("inputs", "message"), [
    # An input left at its default still sets its field: settings may not say otherwise.
    ({"settings": {"source": "gsm8k"}},
     "the input source='synthetic' and settings['source']='gsm8k' disagree"),
    ({"seed": 2, "settings": {"seed": 3}}, "the input seed=2 and settings['seed']=3 disagree"),
])
def test_every_input_and_its_setting_must_agree(kfp_local, capsys, inputs, message):
    with pytest.raises(RuntimeError):
        data_prep(synthetic_n=20, **inputs)
    assert message in capsys.readouterr().out


def test_an_agreeing_setting_and_kfp_doubles_pass(kfp_local):
    # KFP hands a dict's numbers over as doubles: 3.0 is the seed 3.
    task = data_prep(synthetic_n=20, seed=3, settings={"seed": 3.0, "n_eval": 5.0})
    assert read_prompts(task.outputs["eval_prompts"].path).num_rows == 5
