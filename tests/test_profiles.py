"""Named training profiles (rlsd.profiles): valid for every section they set, applied before
--config and --set, and the paper's defaults when none is named."""

from __future__ import annotations

import dataclasses

import pytest

from rlsd.config import ConfigError
from rlsd.data import DataConfig
from rlsd.loop.__main__ import build_parser, settings_from_args
from rlsd.loop.config import SECTIONS, LoopSettings
from rlsd.profiles import PROFILES, get_profile
from rlsd.prompting import render_template

ALL_SECTIONS = {**SECTIONS, "data": DataConfig}


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_sets_only_known_settings_to_valid_values(name: str) -> None:
    profile = get_profile(name)
    for section, values in profile.settings.items():
        cls = ALL_SECTIONS[section]
        known = {f.name for f in dataclasses.fields(cls)}
        assert set(values) <= known, f"{name}: unknown {section} settings {set(values) - known}"
        cls(**values).validate()


def _settings(*extra: str) -> LoopSettings:
    return settings_from_args(build_parser().parse_args(
        ["--policy", "default", "--prompts", "p.parquet", "--output", "out", *extra]))


def test_the_loop_applies_a_profile_first_and_set_overrides_it() -> None:
    profiled = _settings("--profile", "smollm2-arithmetic", "--set", "rollout.temperature=0.5")
    assert profiled.rollout.temperature == 0.5  # --set wins
    assert (profiled.rollout.top_p, profiled.rollout.samples_per_prompt,
            profiled.rollout.max_new_tokens) == (0.9, 8, 48)
    assert (profiled.train.learning_rate, profiled.loop.prompts_per_round) == (1e-5, 4)
    assert profiled.evaluate.max_new_tokens == 48
    assert _settings() == _settings("--profile", "paper") == LoopSettings()


def test_an_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown profile 'smollm'; known: paper, "
                                          "smollm2-arithmetic"):
        _settings("--profile", "smollm")


def test_the_arithmetic_profile_prompt_asks_for_only_the_number() -> None:
    template = get_profile("smollm2-arithmetic").section("data")["prompt_template"]
    assert render_template(template, {"question": "What is 3 + 4?"}, "t") == \
        "What is 3 + 4? Reply with only the number."


def test_data_prep_takes_the_profile_and_its_flags_win(tmp_path) -> None:
    import subprocess
    import sys

    import pyarrow.parquet as pq

    out = tmp_path / "data"
    done = subprocess.run([sys.executable, "-m", "rlsd.data", "--profile", "smollm2-arithmetic",
                           "--output", str(out), "--n-eval", "100"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    train, held_out = pq.read_table(out / "train.parquet"), pq.read_table(out / "eval.parquet")
    assert (train.num_rows, held_out.num_rows) == (684, 100)  # 784 sums; --n-eval wins
    assert all(p.endswith("? Reply with only the number.") for p in train["prompt"].to_pylist())
