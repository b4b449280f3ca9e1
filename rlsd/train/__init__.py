"""The RLSD update: DeepSpeed training steps on one round of scored rollouts.

``python -m rlsd.train`` runs under ``torchrun`` (one machine) or as a Kubeflow PyTorchJob
(many nodes); the same entry point serves both. See :mod:`rlsd.train.loop` for the step.
"""

from rlsd.train.config import TrainConfig
from rlsd.train.samples import RoundData, TrainSample, build_round_data

__all__ = ["RoundData", "TrainConfig", "TrainSample", "build_round_data"]
