"""``--set`` strings from settings that KFP turned into doubles."""

from __future__ import annotations

import argparse

import pytest

from components._shared.overrides import override_args
from rlsd.algorithms import AlgorithmConfig
from rlsd.config import configs_from_args
from rlsd.train import TrainConfig


def test_integral_doubles_become_ints_and_containers_json():
    assert override_args({"zero_stage": 3.0, "learning_rate": 1e-06, "dual_clip": 3.5,
                          "k": [1.0, 2.5], "m": {"a": 2.0}, "on": False}) == [
        "zero_stage=3", "learning_rate=1e-06", "dual_clip=3.5", "k=[1, 2.5]", 'm={"a": 2}',
        "on=False"]
    assert override_args(None) == []


def test_the_trainer_reads_them_back_as_kfp_sent_them():
    # What a pipeline's {"zero_stage": 3, "grad_clip": 1, "gradient_checkpointing": false}
    # looks like after KFP: every number a double.
    kfp_sent = {"zero_stage": 3.0, "grad_clip": 1.0, "gradient_checkpointing": False,
                "lam_decay_steps": 50.0, "dual_clip": None}
    train, algo = configs_from_args(argparse.Namespace(set=override_args(kfp_sent)),
                                    TrainConfig, AlgorithmConfig)
    assert (train.zero_stage, train.grad_clip, train.gradient_checkpointing) == (3, 1.0, False)
    assert (algo.lam_decay_steps, algo.dual_clip) == (50, None)


def test_merge_settings_refuses_two_values_and_skips_unset_inputs():
    from components._shared.overrides import SettingsConflict, merge_settings

    # None: the input was left unset; KFP's 3.0 is the int 3.
    assert merge_settings({"top_p": 0.9, "seed": 3.0}, {"seed": 3, "temperature": None},
                          "rollout") == {"top_p": 0.9, "seed": 3}
    assert merge_settings(None, {"seed": 1}, "x") == {"seed": 1}
    with pytest.raises(SettingsConflict, match=r"^evaluate: the input max_prompts=5 and "
                                               r"settings\['max_prompts'\]=10 disagree; give "
                                               r"max_prompts once \(as the input max_prompts\)"):
        merge_settings({"max_prompts": 10.0}, {"max_prompts": 5}, "evaluate")
    with pytest.raises(SettingsConflict, match=r"the input trainer_image='a' and "
                                               r"settings\['image'\]='b'"):
        merge_settings({"image": "b"}, {"image": "a"}, "update", {"image": "trainer_image"})


def test_split_settings_names_unknown_fields_and_the_classes():
    from components._shared.overrides import SettingsConflict, split_settings

    classes = {"train": TrainConfig, "algorithm": AlgorithmConfig}
    with pytest.raises(SettingsConflict, match=r"unknown setting\(s\) \['zero'\] \(fields of "
                                               r"TrainConfig, AlgorithmConfig\)"):
        split_settings({"zero": 1}, classes, "fused: train_settings")
    with pytest.raises(SettingsConflict, match="must be a mapping"):
        split_settings([1], classes, "x")


def test_loop_sections_join_the_flat_inputs_and_refuse_two_values():
    from components._shared.loop_settings import (
        LoopSettingsError,
        check_agreement,
        loop_sections,
    )

    sections, origin = loop_sections({"rollout": {"backend": "vllm"}}, {
        "train_settings": {"zero_stage": 3, "clip_high": 0.3},
        "fused_settings": {"vllm_memory_fraction": 0.5}, "rollout_settings": None})
    assert sections == {"rollout": {"backend": "vllm"}, "train": {"zero_stage": 3},
                        "algorithm": {"clip_high": 0.3}, "loop": {"vllm_memory_fraction": 0.5}}
    assert origin["algorithm.clip_high"] == "train_settings['clip_high']"
    check_agreement({"seed": 0, "top_p": 1.0}, sections, origin)  # nothing set twice
    with pytest.raises(LoopSettingsError, match=r"the input seed=1 and "
                                                r"train_settings\['seed'\]=2 disagree"):
        sections, origin = loop_sections(None, {"train_settings": {"seed": 2}})
        check_agreement({"seed": 1}, sections, origin)
    with pytest.raises(KeyError):
        loop_sections(None, {"eval_settings": {}})
