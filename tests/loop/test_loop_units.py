"""The fused loop's guards that need no model: where it resumes, what it never overwrites,
which settings it refuses (found by a new user trying to break it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlsd.config import ConfigError, sectioned_configs
from rlsd.loop.config import SECTIONS, LoopSettings
from rlsd.loop.run import LoopError, _clear_partial, resume_reference
from rlsd.storage import write_manifest
from rlsd.train.checkpoint import check_resume_world_size


def _checkpoint(folder: Path, round_index: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    write_manifest(str(folder), {"kind": "policy", "round": round_index, "step": round_index + 1})
    return folder


def test_a_fresh_output_starts_from_the_policy(tmp_path: Path) -> None:
    assert resume_reference("default", str(tmp_path / "new")) == "default"
    (tmp_path / "empty").mkdir()
    assert resume_reference("default", str(tmp_path / "empty")) == "default"


def test_a_job_resumes_from_its_last_complete_checkpoint(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "round-0000", 0)
    _checkpoint(tmp_path / "round-0001", 1)
    (tmp_path / "round-0002").mkdir()  # killed while writing: no manifest, not a checkpoint
    assert resume_reference("default", str(tmp_path)) == str(tmp_path / "round-0001")


@pytest.mark.parametrize("damage", ["corrupt manifest", "a copy of a round"])
def test_an_unreadable_output_is_an_error_never_a_fresh_start(tmp_path: Path, damage: str) -> None:
    _checkpoint(tmp_path / "round-0000", 0)
    if damage == "corrupt manifest":
        (tmp_path / "round-0000" / "manifest.json").write_text("{garbage")
    else:
        _checkpoint(tmp_path / "round-0000-backup", 0)
    with pytest.raises(LoopError, match="cannot tell where to resume"):
        resume_reference("default", str(tmp_path))


def test_an_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(LoopError, match="is a file"):
        resume_reference("default", str(tmp_path / "afile"))


def test_a_partial_round_folder_is_emptied_and_a_complete_one_is_never_overwritten(
    tmp_path: Path,
) -> None:
    partial = tmp_path / "round-0003"
    (partial / "deepspeed").mkdir(parents=True)
    (partial / "deepspeed" / "zero_pp_rank_1_mp_rank_00_optim_states.pt").write_text("stale")
    _clear_partial(str(partial), rank=0, world_size=1)
    assert not partial.exists()
    complete = _checkpoint(tmp_path / "round-0004", 4)
    with pytest.raises(LoopError, match="already holds a complete checkpoint"):
        _clear_partial(str(complete), rank=0, world_size=1)
    assert (complete / "config.json").exists()


def test_an_optimizer_state_of_another_world_size_is_refused_before_loading(
    tmp_path: Path,
) -> None:
    state = tmp_path / "deepspeed" / "state"
    state.mkdir(parents=True)
    for rank in range(2):
        (state / f"zero_pp_rank_{rank}_mp_rank_00_optim_states.pt").write_text("")
    check_resume_world_size(tmp_path, 2)
    with pytest.raises(ValueError, match="resume it with 2 processes"):
        check_resume_world_size(tmp_path, 1)


@pytest.mark.parametrize("override", ["rollout.num_shards=3",
                                      "rollout.max_prompts=4"])
def test_settings_the_loop_sets_itself_are_refused(override: str) -> None:
    with pytest.raises(ConfigError, match="the loop sets these itself"):
        LoopSettings(**sectioned_configs(SECTIONS, None, [override])).validate()


def test_help_lists_every_section_setting_with_its_default() -> None:
    from rlsd.loop.__main__ import build_parser

    text = " ".join(build_parser().format_help().split())  # argparse wraps at the terminal
    for section, config in SECTIONS.items():
        assert f"{section}: " in text
        assert all(f"{name}=" in text for name in config.__dataclass_fields__)
    assert "lora_rank=0" in text and "teacher_refresh_rounds=20" in text
