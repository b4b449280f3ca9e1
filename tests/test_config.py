"""rlsd.config: defaults < YAML < flags < --set, with clear errors for bad keys and values."""

import argparse
import dataclasses

import pytest

from rlsd.config import (
    ConfigError,
    add_config_args,
    config_from_args,
    from_dict,
    load_yaml,
    to_yaml,
)


@dataclasses.dataclass
class Example:
    learning_rate: float = 1e-6
    rounds: int = 2
    algorithm: str = "rlsd"
    bf16: bool = True
    teacher: str | None = None
    benchmarks: list[str] = dataclasses.field(default_factory=lambda: ["gsm8k"])

    def validate(self) -> None:
        if self.rounds < 1:
            raise ConfigError(f"rounds must be >= 1, got {self.rounds}")


def parse(argv: list[str]) -> Example:
    parser = argparse.ArgumentParser()
    add_config_args(parser, Example)
    return config_from_args(Example, parser.parse_args(argv))


def test_precedence_defaults_yaml_flags_set(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("learning_rate: 2.0e-6\nrounds: 5\nalgorithm: grpo\n")
    cfg = parse(["--config", str(path), "--rounds", "7", "--set", "algorithm=opsd"])
    assert cfg == Example(learning_rate=2e-6, rounds=7, algorithm="opsd")


def test_kfp_floats_and_cli_strings_are_coerced():
    cfg = from_dict(Example, {"rounds": 3.0, "bf16": "false", "teacher": "none",
                              "benchmarks": "gsm8k,math500"})
    assert cfg.rounds == 3 and isinstance(cfg.rounds, int)
    assert cfg.bf16 is False and cfg.teacher is None
    assert cfg.benchmarks == ["gsm8k", "math500"]


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['learning_rat'\]"):
        from_dict(Example, {"learning_rat": 1.0})


def test_bad_value_is_named():
    with pytest.raises(ConfigError, match="'rounds' expects int, got 2.5"):
        from_dict(Example, {"rounds": 2.5})
    with pytest.raises(ConfigError, match="rounds must be >= 1"):
        parse(["--rounds", "0"])


def test_yaml_round_trip(tmp_path):
    cfg = Example(learning_rate=3e-6, benchmarks=["a", "b"], teacher="s3://b/t")
    path = tmp_path / "c.yaml"
    path.write_text(to_yaml(cfg))
    assert load_yaml(Example, path) == cfg


def test_yaml_must_be_a_mapping(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_yaml(Example, path)


@dataclasses.dataclass
class Other:
    eps_w: float = 0.2


def test_several_classes_share_one_yaml_and_set_list(tmp_path):
    from rlsd.config import configs_from_args

    parser = argparse.ArgumentParser()
    add_config_args(parser, Example, Other)
    path = tmp_path / "c.yaml"
    path.write_text("rounds: 4\neps_w: 0.1\n")
    ex, other = configs_from_args(parser.parse_args(["--config", str(path), "--set", "eps_w=0.3"]),
                                  Example, Other)
    assert ex.rounds == 4 and other.eps_w == 0.3
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) \['nope'\]"):
        configs_from_args(parser.parse_args(["--set", "nope=1"]), Example, Other)


def test_colliding_field_names_are_refused():
    @dataclasses.dataclass
    class Clash:
        rounds: int = 1

    with pytest.raises(ConfigError, match="'rounds' is defined by both"):
        add_config_args(argparse.ArgumentParser(), Example, Clash)
