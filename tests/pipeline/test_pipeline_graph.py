"""The compiled DAG: stages, the per-round chain, shards, teacher wiring, GRPO (caching:
test_pipeline_caching.py)."""

from __future__ import annotations

import pytest

from pipeline.options import DEFAULT_PIPELINE_ROOT, CompileOptions
from pipeline.pipeline import pipeline_name
from rlsd.config import ConfigError

STAGES = ("data_prep", "rollout", "verify", "score", "update", "evaluate")
RUNTIME_PARAMETERS = {
    "model", "data_source", "synthetic_difficulty", "synthetic_size", "samples_per_prompt",
    "prompts_per_round", "max_new_tokens", "temperature", "learning_rate", "lam0",
    "lam_decay_steps", "eps_w", "steps_per_round", "micro_batch_tokens", "nodes",
    "gpus_per_node", "trainer_image", "launcher", "eval_samples", "seed",
}


def test_all_six_stages_and_the_helpers_are_in_the_yaml(compiled):
    ir = compiled(rounds=1)
    kinds = {ir.component_kind(task) for _, task in ir.executor_tasks()}
    assert kinds == {*STAGES, "check_settings", "base_model", "merge", "report"}
    assert ir.displays() == sorted([
        "check settings", "base model", "data prep", "for-loop-2", "round 0: rollout", "round 0: verify",
        "round 0: score", "round 0: merge", "round 0: update", "evaluate base policy",
        "evaluate final policy", "training report"])


def test_the_report_reads_the_final_policy_last_round_and_both_evaluations(compiled):
    ir = compiled(rounds=3)
    assert ir.source("training report", "final_policy") == ("round 2: update",
                                                            "updated_policy")
    for name in ("rollouts", "rewards", "scores"):
        assert ir.source("training report", name) == ("round 2: merge", f"round_{name}")
    assert ir.source("training report", "base_evaluation") == ("evaluate base policy",
                                                               "results")
    assert ir.source("training report", "final_evaluation") == ("evaluate final policy",
                                                                "results")


def test_pipeline_root_is_s3_and_name_says_the_algorithm(compiled):
    ir = compiled(rounds=3, algorithm="grpo+opsd")
    assert ir.spec["defaultPipelineRoot"] == DEFAULT_PIPELINE_ROOT
    assert DEFAULT_PIPELINE_ROOT.startswith("s3://")
    assert ir.spec["pipelineInfo"]["name"] == "rlsd-grpo-opsd-3-rounds"
    assert "algorithm=grpo+opsd" in ir.spec["pipelineInfo"]["description"]
    assert compiled(pipeline_root="s3://other/root").spec["defaultPipelineRoot"] \
        == "s3://other/root"


def test_runtime_parameters_are_pipeline_inputs(compiled):
    params = compiled(rounds=1).spec["root"]["inputDefinitions"]["parameters"]
    assert set(params) >= RUNTIME_PARAMETERS
    assert params["launcher"]["defaultValue"] == "pytorchjob"
    assert params["learning_rate"]["defaultValue"] == 1e-6  # the paper's


def test_each_round_samples_from_the_previous_rounds_update(compiled):
    ir = compiled(rounds=3, teacher_refresh_rounds=0)
    assert ir.source("round 0: rollout", "policy") == ("base model", "policy")
    for r in (1, 2):
        assert ir.source(f"round {r}: rollout", "policy") == (f"round {r - 1}: update",
                                                              "updated_policy")
        assert ir.source(f"round {r}: update", "policy") == (f"round {r - 1}: update",
                                                             "updated_policy")
    # Within a round: rollout -> verify -> score -> merge -> update.
    assert ir.source("round 2: verify", "rollouts") == ("round 2: rollout", "rollouts")
    assert ir.source("round 2: score", "rollouts") == ("round 2: rollout", "rollouts")
    assert ir.source("round 2: update", "scores") == ("round 2: merge", "round_scores")
    assert ir.source("round 2: update", "rollouts") == ("round 2: merge", "round_rollouts")
    assert ir.source("evaluate base policy", "policy") == ("base model", "policy")
    assert ir.source("evaluate final policy", "policy") == ("round 2: update", "updated_policy")
    # Both evaluations read the same eval prompts.
    assert ir.source("evaluate base policy", "prompts") \
        == ir.source("evaluate final policy", "prompts") == ("data prep", "eval_prompts")


def test_shards_fan_out_in_a_parallel_for_and_merge_collects_all_three(compiled):
    ir = compiled(rounds=2, rollout_shards=3)
    loops = [t for _, _, t in ir.all_tasks() if "parameterIterator" in t]
    assert len(loops) == 2  # one per round
    assert all(loop["parameterIterator"]["items"]["raw"] == "[0, 1, 2]" for loop in loops)
    _, _, rollout = ir.find("round 1: rollout")
    assert rollout["inputs"]["parameters"]["num_shards"]["runtimeValue"]["constant"] == 3
    assert "componentInputParameter" in rollout["inputs"]["parameters"]["shard_index"]
    for name, producer in (("rollouts", "rollout"), ("rewards", "verify"), ("scores", "score")):
        assert ir.is_collected("round 1: merge", name)
        assert ir.source("round 1: merge", name)[0] == f"round 1: {producer}"
    merge_inputs = ir.spec["components"]["comp-merge"]["inputDefinitions"]["artifacts"]
    assert all(merge_inputs[name]["isArtifactList"] for name in ("rollouts", "rewards", "scores"))


@pytest.mark.parametrize(("k", "rounds", "teacher_of_round"), [
    # K = 2: round r scores with the policy of round floor(r/2)*2.
    (2, 4, {0: ("base model", "policy"), 1: ("base model", "policy"),
            2: ("round 1: update", "updated_policy"), 3: ("round 1: update", "updated_policy")}),
    # K = 0: the live policy, i.e. the one that sampled the round.
    (0, 3, {0: ("base model", "policy"), 1: ("round 0: update", "updated_policy"),
            2: ("round 1: update", "updated_policy")}),
    # K larger than the run: the base model throughout.
    (20, 2, {0: ("base model", "policy"), 1: ("base model", "policy")}),
])
def test_teacher_wiring(compiled, k, rounds, teacher_of_round):
    ir = compiled(rounds=rounds, teacher_refresh_rounds=k)
    for r, expected in teacher_of_round.items():
        assert ir.source(f"round {r}: score", "teacher") == expected
        assert ir.source(f"round {r}: score", "policy") \
            == ir.source(f"round {r}: rollout", "policy")


def test_grpo_has_no_score_tasks_and_trains_without_scores(compiled):
    ir = compiled(rounds=2, algorithm="grpo")
    kinds = [ir.component_kind(task) for _, task in ir.executor_tasks()]
    assert "score" not in kinds and kinds.count("rollout") == 2
    for r in (0, 1):
        _, _, merge = ir.find(f"round {r}: merge")
        _, _, update = ir.find(f"round {r}: update")
        assert "scores" not in merge["inputs"]["artifacts"]
        assert "scores" not in update["inputs"]["artifacts"]
        assert update["inputs"]["parameters"]["algorithm"]["runtimeValue"]["constant"] == "grpo"


def test_update_gets_the_run_id_launcher_and_trainer_settings(compiled):
    ir = compiled(rounds=1, gpu_type="NVIDIA-H100-80GB-HBM3",
                  trainer_node_selector={"pool": "gpu"},
                  trainer_tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists",
                                        "effect": "NoSchedule"}],
                  trainer_settings={"memory": "200Gi", "shm_size": "64Gi"})
    _, _, update = ir.find("round 0: update")
    params = update["inputs"]["parameters"]
    assert params["launcher"] == {"componentInputParameter": "launcher"}
    assert params["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    assert params["s3_secret"]["runtimeValue"]["constant"] == "rlsd-s3-credentials"
    # The compiled trainer settings are the job's defaults; job_settings (a run's) go over them.
    assert params["job_settings"] == {"componentInputParameter": "job_settings"}
    job = params["job_defaults"]["runtimeValue"]["constant"]
    assert job["node_selector"] == {"pool": "gpu",
                                    "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert job["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert (job["memory"], job["shm_size"]) == ("200Gi", "64Gi")


def test_name_is_a_valid_kfp_name():
    assert pipeline_name(CompileOptions(algorithm="grpo+opsd", rounds=1)) \
        == "rlsd-grpo-opsd-1-rounds"


@pytest.mark.parametrize(("fields", "message"), [
    ({"rounds": 0}, "rounds must be >= 1"),
    ({"rollout_shards": 0}, "rollout_shards must be >= 1"),
    ({"algorithm": "opd"}, "separate teacher model"),
    ({"algorithm": "ppo"}, "algorithm must be one of"),
    ({"teacher_refresh_rounds": -1}, "teacher_refresh_rounds must be >= 0"),
    ({"pipeline_root": "/tmp/artifacts"}, "must be an s3://"),
    # The storage layer's own bucket and key rules (rlsd.storage.parse_s3), minio:// too.
    ({"pipeline_root": "s3://my bucket/x"}, "'my bucket' is not a valid bucket name"),
    ({"pipeline_root": "minio://a/x"}, "'a' is not a valid bucket name"),
    ({"pipeline_root": "s3://b" + "k" * 5 + "/" + "x" * 1100}, "S3 allows 1024"),
    ({"s3_secret": "Not_A_Name"}, "not a Kubernetes Secret name"),
    ({"shm_size": "lots"}, "shm_size 'lots' is not a Kubernetes quantity"),
    ({"task_node_selector": {"bad key!": "x"}}, "not a valid node label"),
    ({"task_tolerations": [{"key": "a", "effect": "Sometimes"}]}, "effect must be"),
    ({"trainer_settings": {"replicas": 3}}, "unknown TrainingJobSpec field(s) ['replicas']"),
    ({"trainer_settings": {"image": "x"}}, "set by pipeline parameters"),
    ({"trainer_settings": {"memory": "8Gi", "shm_size": "16Gi"}}, "must be below the memory"),
])
def test_bad_options_fail_with_one_clear_message(fields, message):
    with pytest.raises(ConfigError) as info:
        CompileOptions(**fields).validate()
    assert message in str(info.value)
