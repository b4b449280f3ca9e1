"""The update component's checks, which run before any job or torchrun starts.

A successful update (torchrun with 2 processes on the default model) is covered end to end by
``tests/pipeline/test_pipeline_run_local.py``.
"""

# No `from __future__ import annotations`: KFP reads the test pipeline's real types.
import pytest
from kfp import dsl
from kfp.dsl import Dataset

from components.base_model.component import component as base_model
from components.update.component import component as update


def _update_pipeline(shard: dict, prompts, **settings):
    @dsl.pipeline
    def update_only():
        def imported(path):
            return dsl.importer(artifact_uri=str(path), artifact_class=Dataset).output

        update(policy=base_model(model="default").outputs["policy"],
               rollouts=imported(shard["rollouts"]), rewards=imported(shard["rewards"]),
               scores=imported(shard["scores"]), prompts=imported(prompts), **settings)

    return update_only


def test_pytorchjob_launcher_needs_s3_artifacts(kfp_local, round_shard, prompts_file, capsys):
    shard = round_shard("a", {"p0": [1.0, 0.0]})
    with pytest.raises(RuntimeError):
        _update_pipeline(shard, prompts_file(["5"]), launcher="pytorchjob",
                         trainer_image="registry.example/trainer:1")()
    out = capsys.readouterr().out
    assert "is not on S3: checkpoints and a PyTorchJob's inputs need an s3:// pipeline root" \
        in out
    assert "torch.distributed.run" not in out


def test_bad_trainer_setting_fails_before_launching(kfp_local, round_shard, prompts_file,
                                                    capsys):
    shard = round_shard("a", {"p0": [1.0, 0.0]})
    with pytest.raises(RuntimeError):
        _update_pipeline(shard, prompts_file(["5"]), launcher="local",
                         train_settings={"zero_stage": 5})()
    out = capsys.readouterr().out
    assert "zero_stage must be 0, 1, 2 or 3, got 5" in out
    assert "torch.distributed.run" not in out


@pytest.mark.parametrize(("settings", "message"), [
    # A setting given as an input and in a settings mapping must have one value.
    ({"train_settings": {"learning_rate": 1e-3}},
     "update: the input learning_rate=1e-06 and settings['learning_rate']=0.001 disagree"),
    ({"train_settings": {"algorithm": "grpo"}},
     "update: the input algorithm='rlsd' and settings['algorithm']='grpo' disagree"),
    ({"job_settings": {"image": "other:1"}, "trainer_image": "mine:1"},
     "update: the input trainer_image='mine:1' and settings['image']='other:1' disagree"),
    ({"job_defaults": {"gpus_per_node": 8}},
     "update: the input gpus_per_node=1 and settings['gpus_per_node']=8 disagree"),
])
def test_a_setting_given_twice_must_agree(kfp_local, round_shard, prompts_file, capsys,
                                          settings, message):
    shard = round_shard("a", {"p0": [1.0, 0.0]})
    with pytest.raises(RuntimeError):
        _update_pipeline(shard, prompts_file(["5"]), launcher="local", **settings)()
    out = capsys.readouterr().out
    assert message in out
    assert "torch.distributed.run" not in out
