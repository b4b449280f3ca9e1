"""``--set`` strings from settings that KFP turned into doubles."""

from __future__ import annotations

import argparse

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
