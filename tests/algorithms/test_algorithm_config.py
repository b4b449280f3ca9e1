"""AlgorithmConfig: paper defaults, loading through rlsd.config, validation errors."""

import argparse

import pytest

from rlsd.algorithms import TOKEN_ADVANTAGES, AlgorithmConfig
from rlsd.config import (
    ConfigError,
    add_config_args,
    config_from_args,
    from_dict,
    load_yaml,
    to_yaml,
)


def test_paper_defaults():
    cfg = AlgorithmConfig()
    cfg.validate()
    assert (cfg.algorithm, cfg.scale_by_std, cfg.lam0) == ("rlsd", True, 0.5)
    assert (cfg.lam_decay_steps, cfg.lam_warmup_steps, cfg.beta) == (60, 0, 1.0)
    assert (cfg.eps_w, cfg.clip_low, cfg.clip_high, cfg.dual_clip) == (0.2, 0.2, 0.28, 3.0)
    assert (cfg.kl_coef, cfg.filter_zero_groups, cfg.teacher_refresh_rounds) == (0.0, False, 20)
    assert cfg.lam_at(0) == 0.5 and cfg.lam_at(30) == pytest.approx(0.25) and cfg.lam_at(60) == 0.0
    assert cfg.needs_teacher and not AlgorithmConfig(algorithm="grpo").needs_teacher


def test_loads_from_cli_flags_set_overrides_and_yaml(tmp_path):
    parser = argparse.ArgumentParser()
    add_config_args(parser, AlgorithmConfig)
    assert "clip-higher" in parser.format_help()  # field help reaches the CLI
    args = parser.parse_args(["--algorithm", "grpo+opsd", "--set", "beta=0.5",
                              "--set", "dual_clip=none", "--teacher-refresh-rounds", "0"])
    cfg = config_from_args(AlgorithmConfig, args)
    assert (cfg.algorithm, cfg.beta, cfg.dual_clip, cfg.teacher_refresh_rounds) == (
        "grpo+opsd", 0.5, None, 0)
    path = tmp_path / "algo.yaml"
    path.write_text(to_yaml(cfg))
    assert load_yaml(AlgorithmConfig, path) == cfg


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"algorithm": "ppo"}, r"'algorithm' must be one of \['grpo', 'grpo\+opsd', 'opd', 'opsd'"),
        ({"eps_w": 0.0}, r"'eps_w' must be in \(0, 1\), got 0.0"),
        ({"eps_w": 1.0}, r"'eps_w' must be in \(0, 1\)"),
        ({"lam0": 1.5}, r"'lam0' must be in \[0, 1\]"),
        ({"lam0": "nan"}, r"'lam0' must be a finite number"),  # rlsd.config, for every float
        ({"lam_decay_steps": -1}, "'lam_decay_steps' must be >= 0"),
        ({"lam_warmup_steps": -2}, "'lam_warmup_steps' must be >= 0"),
        ({"beta": "inf"}, "'beta' must be a finite number"),
        ({"clip_low": 1.0}, r"'clip_low' must be in \[0, 1\)"),
        ({"clip_high": -0.01}, "'clip_high' must be >= 0"),
        ({"dual_clip": 1.0}, "'dual_clip' must be > 1"),
        ({"kl_coef": -0.1}, "'kl_coef' must be >= 0"),
        ({"teacher_refresh_rounds": -1}, "'teacher_refresh_rounds' must be >= 0"),
    ],
)
def test_invalid_settings_name_the_setting(overrides, match):
    with pytest.raises(ConfigError, match=match):
        from_dict(AlgorithmConfig, overrides)


def test_every_registered_algorithm_validates():
    for name in TOKEN_ADVANTAGES:
        AlgorithmConfig(algorithm=name).validate()
