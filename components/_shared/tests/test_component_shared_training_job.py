"""The training job settings both launching components (update, fused) build the same way."""

from __future__ import annotations

import pytest

from components._shared.overrides import SettingsConflict
from components._shared.training_job import training_job_settings
from rlsd.config import from_dict
from rlsd.launch import TrainingJobSpec

TYPED = dict(trainer_image="", nodes=2, gpus_per_node=0, nproc_per_node=2, s3_secret="",
             run_id="run-1", round_index=3)


def test_settings_override_defaults_and_typed_inputs_fill_in():
    job = training_job_settings("update", {"namespace": "ml", "image": "reg/t:1", "nodes": 1},
                                {"namespace": "team", "nodes": 2.0}, **TYPED)
    # job_settings wins over job_defaults; KFP's double 2.0 agrees with the typed nodes=2;
    # empty strings count as not given, so the compiled image stands.
    assert job == {"namespace": "team", "image": "reg/t:1", "nodes": 2, "gpus_per_node": 0,
                   "nproc_per_node": 2, "kfp_run_id": "run-1", "round_index": 3}
    spec = from_dict(TrainingJobSpec, job)
    assert (spec.namespace, spec.nodes, spec.image) == ("team", 2, "reg/t:1")


def test_a_group_entry_that_contradicts_a_typed_input_names_both():
    with pytest.raises(SettingsConflict, match=r"^fused: the input trainer_image='reg/a:1' and "
                                               r"settings\['image'\]='reg/b:1' disagree"):
        training_job_settings("fused", None, {"image": "reg/b:1"},
                              **{**TYPED, "trainer_image": "reg/a:1"})
    with pytest.raises(SettingsConflict, match=r"the input run_id='run-1' and "
                                               r"settings\['kfp_run_id'\]='other'"):
        training_job_settings("update", {"kfp_run_id": "other"}, None, **TYPED)


def test_extra_fields_take_part_in_the_check():
    job = training_job_settings("fused", {"name": "rlsd-fused-x"}, None, **TYPED,
                                extra={"module": "rlsd.loop"})
    assert (job["module"], job["name"]) == ("rlsd.loop", "rlsd-fused-x")
    with pytest.raises(SettingsConflict, match=r"settings\['module'\]='rlsd.train'"):
        training_job_settings("fused", None, {"module": "rlsd.train"}, **TYPED,
                              extra={"module": "rlsd.loop"})
