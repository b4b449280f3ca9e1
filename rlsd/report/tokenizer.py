"""The tokenizer that decodes the token-credit view: from a folder, a hub id, ``default``, or
the small files of a policy checkpoint (local or ``s3://``) without its weights."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rlsd import storage
from rlsd.report.errors import ReportError

#: Checkpoint files never needed to decode tokens (weights, optimizer state, logs).
_HEAVY_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".jsonl", ".gguf")


def load_tokenizer(ref: str | os.PathLike[str]) -> Any:
    """A tokenizer from a folder or hub id; ``default`` is the default model's tokenizer."""
    from transformers import AutoTokenizer

    ref = os.fspath(ref)
    if ref == "default":
        from rlsd.models import ensure_default_tokenizer

        ref = str(ensure_default_tokenizer())
    try:
        return AutoTokenizer.from_pretrained(ref)
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot load a tokenizer from {ref!r}: {exc}") from exc


def tokenizer_files(checkpoint_uri: str) -> list[str]:
    """The top-level files of a checkpoint that a tokenizer or processor may read (config,
    tokenizer, vocabulary, chat template), from its manifest: no weights, no DeepSpeed state."""
    try:
        manifest = storage.read_manifest(checkpoint_uri)
    except storage.StorageError as exc:
        raise ReportError(f"cannot read the policy checkpoint at {checkpoint_uri}: {exc}") from exc
    return [f.path for f in manifest.files
            if "/" not in f.path and not f.path.endswith(_HEAVY_SUFFIXES)
            and f.path != storage.MANIFEST_NAME]


def fetch_checkpoint_tokenizer(checkpoint_uri: str, dest: str | os.PathLike[str]) -> Any:
    """Copy the tokenizer files of a checkpoint into ``dest`` and load the tokenizer: a few
    small files instead of the checkpoint's gigabytes."""
    folder = Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    names = tokenizer_files(checkpoint_uri)
    if not any(n.startswith("tokenizer") for n in names):
        raise ReportError(f"the policy checkpoint at {checkpoint_uri} holds no tokenizer files "
                          f"(found {names})")
    for name in names:
        (folder / name).write_bytes(storage.read_bytes(storage.join(checkpoint_uri, name)))
    return load_tokenizer(folder)
