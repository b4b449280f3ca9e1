"""check_model_folder: a missing or truncated shard fails fast with one line naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from rlsd.models import (
    IncompleteCheckpointError,
    InvalidModelFolderError,
    ModelNotFoundError,
    check_model_folder,
)


def _single(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    save_file({"w": torch.zeros(4, 4)}, folder / "model.safetensors")
    return folder


def _sharded(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    shards = {"model-00001-of-00002.safetensors": {"a": torch.ones(3)},
              "model-00002-of-00002.safetensors": {"b": torch.ones(2), "c": torch.ones(5)}}
    weight_map = {}
    for name, tensors in shards.items():
        save_file(tensors, folder / name)
        weight_map.update(dict.fromkeys(tensors, name))
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 40}, "weight_map": weight_map}))
    return folder


def test_complete_single_file_checkpoint_passes(tmp_path):
    folder = _single(tmp_path / "m")
    assert check_model_folder(str(folder)) == folder


def test_complete_sharded_checkpoint_passes(tmp_path):
    folder = _sharded(tmp_path / "m")
    assert check_model_folder(folder) == folder


def test_missing_shard_is_named_in_one_line(tmp_path):
    folder = _sharded(tmp_path / "m")
    (folder / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(IncompleteCheckpointError) as info:
        check_model_folder(folder)
    message = str(info.value)
    assert "missing safetensors shard model-00002-of-00002.safetensors" in message
    assert "model-00001" not in message
    assert str(folder) in message and "\n" not in message


def test_missing_single_weights_file(tmp_path):
    folder = _single(tmp_path / "m")
    (folder / "model.safetensors").unlink()
    with pytest.raises(IncompleteCheckpointError, match="no model.safetensors"):
        check_model_folder(folder)


def test_truncated_weights_file_is_detected(tmp_path):
    folder = _single(tmp_path / "m")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:-10])  # an interrupted copy
    with pytest.raises(IncompleteCheckpointError, match="is truncated"):
        check_model_folder(folder)


def test_garbage_weights_file_is_detected(tmp_path):
    folder = _single(tmp_path / "m")
    (folder / "model.safetensors").write_bytes(b"\x05\x00")
    with pytest.raises(IncompleteCheckpointError, match="not a readable safetensors file"):
        check_model_folder(folder)


def test_index_without_weight_map(tmp_path):
    folder = _sharded(tmp_path / "m")
    (folder / "model.safetensors.index.json").write_text('{"metadata": {}}')
    with pytest.raises(IncompleteCheckpointError, match="weight_map"):
        check_model_folder(folder)


def test_folder_without_config(tmp_path):
    folder = _single(tmp_path / "m")
    (folder / "config.json").unlink()
    with pytest.raises(InvalidModelFolderError, match=f"{folder} is not .* no config.json"):
        check_model_folder(folder)


def test_missing_path_and_file_path(tmp_path):
    with pytest.raises(ModelNotFoundError, match="model path does not exist"):
        check_model_folder(tmp_path / "nope")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(InvalidModelFolderError, match="is a file"):
        check_model_folder(tmp_path / "f.txt")
