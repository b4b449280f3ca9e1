"""The fused component's checks, which run before any job or torchrun starts.

A successful fused run (two chained jobs under torchrun with 2 processes on the default model)
is covered end to end by ``tests/pipeline/test_pipeline_run_local.py``.
"""

# No `from __future__ import annotations`: KFP reads the test pipeline's real types.
import pytest
from kfp import dsl
from kfp.dsl import Dataset

from components.base_model.component import component as base_model
from components.fused.component import component as fused


def _fused_pipeline(prompts, **settings):
    @dsl.pipeline
    def fused_only():
        train = dsl.importer(artifact_uri=str(prompts), artifact_class=Dataset).output
        fused(policy=base_model(model="default").outputs["policy"], prompts=train,
              **settings)

    return fused_only


@pytest.mark.parametrize(("settings", "message"), [
    # A section's own rule (TrainConfig), reached through loop_settings.
    ({"loop_settings": {"train": {"zero_stage": 5}}}, "zero_stage must be 0, 1, 2 or 3, got 5"),
    # The fused loop's own rule over its sections (LoopSettings.validate).
    ({"samples_per_prompt": 1}, "rollout.samples_per_prompt must be >= 2"),
    ({"loop_settings": {"rollout": {"no_such_setting": 1}}}, "unknown setting(s)"),
    # The task outputs the last round's tables: the loop must keep them.
    ({"loop_settings": {"loop": {"keep_tables": False}}}, "loop.keep_tables=false"),
    # The flat settings inputs (the pipeline's groups) fill their sections...
    ({"train_settings": {"zero_stage": 5}}, "[train] zero_stage must be 0, 1, 2 or 3, got 5"),
    ({"train_settings": {"clip_low": 1.5}}, "[algorithm] setting 'clip_low' must be in [0, 1)"),
    ({"fused_settings": {"vllm_memory_fraction": 2}}, "[loop] setting 'vllm_memory_fraction'"),
    ({"verify_settings": {"time_limt_s": 5}},
     "fused: verify_settings: unknown setting(s) ['time_limt_s'] (fields of VerifyConfig)"),
    # ... and a setting given twice must have one value.
    ({"rollout_settings": {"top_p": 0.9}},
     "fused: the input top_p=1.0 and rollout_settings['top_p']=0.9 disagree; give "
     "rollout.top_p once (as the input top_p)"),
    ({"rollout_settings": {"backend": "vllm"},
      "loop_settings": {"rollout": {"backend": "transformers"}}},
     "fused: rollout_settings['backend']='vllm' and loop_settings['rollout']['backend']="
     "'transformers' disagree"),
    ({"score_settings": {"behaviour_logprobs": True}}, "score.behaviour_logprobs cannot be set"),
    ({"job_settings": {"nodes": 2}}, "fused: the input nodes=1 and settings['nodes']=2 disagree"),
])
def test_bad_settings_fail_before_launching(kfp_local, prompts_file, capsys, settings,
                                            message):
    with pytest.raises(RuntimeError):
        _fused_pipeline(prompts_file(["5"]), launcher="local", **settings)()
    out = capsys.readouterr().out
    assert message in out
    assert "torch.distributed.run" not in out


def test_pytorchjob_launcher_needs_s3_artifacts(kfp_local, prompts_file, capsys):
    with pytest.raises(RuntimeError):
        _fused_pipeline(prompts_file(["5"]), launcher="pytorchjob",
                        trainer_image="registry.example/trainer:1")()
    out = capsys.readouterr().out
    assert "is not on S3: checkpoints and a PyTorchJob's inputs need an s3:// pipeline root" \
        in out
    assert "torch.distributed.run" not in out
