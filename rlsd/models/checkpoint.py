"""Fail-fast checks that a folder is a complete Hugging Face safetensors model.

Runs before any model is built, so a checkpoint with a missing or truncated shard (an
interrupted upload or download) fails in milliseconds with one line naming the file, instead
of minutes later deep inside ``from_pretrained``.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from rlsd.models.errors import (
    IncompleteCheckpointError,
    InvalidModelFolderError,
    ModelNotFoundError,
)

SINGLE_WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"


def check_model_folder(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a ``Path`` if it holds ``config.json`` and all its safetensors, or
    is a complete LoRA adapter folder (:func:`rlsd.models.adapter.check_adapter_folder`).

    A sharded checkpoint must have every shard named in the ``weight_map`` of
    ``model.safetensors.index.json``; an unsharded one must have ``model.safetensors``. Each
    weight file's header must be readable and the file as long as the header says (a
    truncated copy fails here). Only headers are read.

    Raises:
        ModelNotFoundError: the folder does not exist.
        InvalidModelFolderError: it is not a folder or has no ``config.json``.
        IncompleteCheckpointError: a weight file is missing or truncated (named).
    """
    folder = Path(path)
    if not folder.exists():
        raise ModelNotFoundError(f"model path does not exist: {folder}")
    if not folder.is_dir():
        raise InvalidModelFolderError(f"model path {folder} is a file, expected a model folder")
    from rlsd.models.adapter import check_adapter_folder, is_adapter_folder

    if is_adapter_folder(folder):  # a LoRA policy: its base is checked when it is resolved
        return check_adapter_folder(folder)
    if not (folder / "config.json").is_file():
        raise InvalidModelFolderError(
            f"{folder} is not a Hugging Face model folder: it has no config.json"
        )
    index = folder / WEIGHTS_INDEX
    if index.is_file():
        shards = _shards_from_index(index)
        missing = [name for name in shards if not (folder / name).is_file()]
        if missing:
            raise IncompleteCheckpointError(
                f"incomplete checkpoint {folder}: missing safetensors shard "
                f"{', '.join(missing)} (listed in {WEIGHTS_INDEX})"
            )
    elif (folder / SINGLE_WEIGHTS).is_file():
        shards = [SINGLE_WEIGHTS]
    else:
        raise IncompleteCheckpointError(
            f"incomplete checkpoint {folder}: no {SINGLE_WEIGHTS} and no {WEIGHTS_INDEX}"
        )
    for name in shards:
        check_safetensors_length(folder / name)
    return folder


def _shards_from_index(index: Path) -> list[str]:
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IncompleteCheckpointError(
            f"{index} is not a valid safetensors index (needs a 'weight_map' of tensor -> file)"
        ) from exc
    if not shards:
        raise IncompleteCheckpointError(f"{index} lists no shards in its weight_map")
    return shards


def check_safetensors_length(file: Path) -> None:
    """A safetensors file is ``u64 header length | JSON header | tensor bytes``.

    The header gives each tensor's ``data_offsets`` [begin, end) into the byte area, so the
    file must be exactly ``8 + header length + max(end)`` bytes long.
    """
    size = file.stat().st_size
    try:
        with file.open("rb") as handle:
            (header_len,) = struct.unpack("<Q", handle.read(8))
            if header_len > size - 8:
                raise ValueError("header longer than the file")
            header = json.loads(handle.read(header_len))
        data_end = max(
            (int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"),
            default=0,
        )
    except (struct.error, ValueError, KeyError, TypeError, IndexError) as exc:
        raise IncompleteCheckpointError(
            f"incomplete checkpoint: {file} is not a readable safetensors file ({exc})"
        ) from exc
    if 8 + header_len + data_end > size:
        raise IncompleteCheckpointError(
            f"incomplete checkpoint: {file} is truncated ({size} bytes, its header needs "
            f"{8 + header_len + data_end})"
        )
