"""The shaped reward, DAPO's over-length penalty, and VerifyConfig validation."""

from __future__ import annotations

import argparse

import pytest

from rlsd.config import ConfigError, add_config_args, config_from_args, from_dict
from rlsd.verify import VerifyConfig, overlong_penalty, shaped_reward


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (0, 0.0),
        (3072, 0.0),  # L_max - L_buffer = 4096 - 1024: still free
        (3584, -0.5),  # half-way through the buffer: (3072 - 3584) / 1024
        (4096, -1.0),  # at L_max: the full penalty
        (5000, -1.0),  # past L_max
    ],
)
def test_dapo_overlong_penalty(length: int, expected: float) -> None:
    assert overlong_penalty(length, max_length=4096, buffer=1024) == pytest.approx(expected)


def test_overlong_penalty_edge_settings() -> None:
    assert overlong_penalty(10_000, max_length=0, buffer=0) == 0.0  # off
    assert overlong_penalty(4097, max_length=4096, buffer=0) == -1.0  # hard cut-off only
    assert overlong_penalty(4096, max_length=4096, buffer=0) == 0.0
    assert overlong_penalty(3584, max_length=4096, buffer=1024, factor=0.5) == pytest.approx(-0.25)


def test_shaped_reward_weights() -> None:
    assert shaped_reward(1.0, 1.0) == pytest.approx(1.0)
    assert shaped_reward(1.0, 0.0) == pytest.approx(0.9)
    assert shaped_reward(0.0, 1.0) == pytest.approx(0.1)
    assert shaped_reward(1.0, 1.0, accuracy_weight=1.0, format_weight=0.0, penalty=-0.25) == 0.75


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"time_limit_s": 0}, "time_limit_s"),
        ({"memory_limit_mb": 100}, "memory_limit_mb"),
        ({"accuracy_weight": -0.1}, "accuracy_weight"),
        ({"accuracy_weight": 0, "format_weight": 0}, "must be > 0"),
        ({"numeric_rel_tol": float("nan")}, "numeric_rel_tol"),
        ({"max_answer_chars": 0}, "max_answer_chars"),
        ({"workers": -1}, "workers"),
        ({"max_response_length": 100, "overlong_buffer": 100}, "overlong_buffer"),
        ({"default_verifier": ""}, "default_verifier"),
        ({"time_limt_s": 2}, "unknown setting"),
    ],
)
def test_bad_settings_name_the_setting(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_dict(VerifyConfig, settings)


def test_settings_from_flags_and_overrides() -> None:
    parser = argparse.ArgumentParser()
    add_config_args(parser, VerifyConfig)
    args = parser.parse_args(
        ["--time-limit-s", "2.5", "--set", "extra_verifiers=a=pkg.mod:fn,b=pkg.mod:gn"]
    )
    config = config_from_args(VerifyConfig, args)
    assert config.time_limit_s == 2.5
    assert config.extra_verifiers == ["a=pkg.mod:fn", "b=pkg.mod:gn"]
    assert (config.accuracy_weight, config.format_weight) == (0.9, 0.1)
    assert VerifyConfig(workers=3).resolved_workers() == 3
    assert 1 <= VerifyConfig().resolved_workers() <= 4
