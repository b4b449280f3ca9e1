"""What a KFP ``Model`` artifact holds: a pointer to a policy, never the weights themselves.

design.md ("Layout"): checkpoints stream straight to S3 under the run's root and the ``Model``
artifact holds a small manifest (URI, files, sizes, sha256, round, step), so the KFP launcher
never copies gigabytes between pods. The update component has the trainer write the
checkpoint to :func:`checkpoint_uri` (next to its ``Model`` artifact) and writes only this
pointer to ``model.path``; every downstream component reads the pointer and hands ``uri`` to
:func:`rlsd.models.resolve_model`.

Two kinds:

* ``reference`` — a model that exists outside the run: ``"default"``, a hub id, an
  ``s3://`` prefix or a folder (the "base model" component writes it);
* ``checkpoint`` — a round's updated policy written by the trainer, with the files of its
  ``rlsd.storage`` manifest (path, size, sha256) and the trainer's round, step and algorithm.

Format (``version`` 1)::

    {"format": "rlsd.components/model-pointer", "version": 1, "kind": "checkpoint",
     "uri": "s3://bucket/run/update/updated_policy-checkpoint", "round": 0, "step": 1,
     "algorithm": "rlsd", "total_bytes": 123, "files": [{"path": "...", "size": 1,
     "sha256": "..."}]}
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlsd.storage import FileEntry, Manifest

POINTER_FORMAT = "rlsd.components/model-pointer"
POINTER_VERSION = 1
KIND_REFERENCE = "reference"
KIND_CHECKPOINT = "checkpoint"
#: The checkpoint of ``Model`` artifact ``<uri>`` lives at ``<uri>-checkpoint/``.
CHECKPOINT_SUFFIX = "-checkpoint"
# KFP's default MinIO store names objects minio://bucket/key; through the S3 API (with
# AWS_ENDPOINT_URL pointing at MinIO) the same object is s3://bucket/key.
_S3_ALIASES = ("minio://",)


class PointerError(ValueError):
    """A pointer file is missing or malformed, or a URI cannot hold a checkpoint."""


@dataclasses.dataclass(frozen=True)
class ModelPointer:
    """Where a policy is (``uri``: anything :func:`rlsd.models.resolve_model` accepts)."""

    uri: str
    kind: str = KIND_REFERENCE
    round: int = -1  # the trainer's round that wrote it; -1 for a base model
    step: int = 0  # the trainer's global optimizer step (drives λ)
    algorithm: str | None = None
    files: tuple[FileEntry, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> str:
        return json.dumps({
            "format": POINTER_FORMAT, "version": POINTER_VERSION, "kind": self.kind,
            "uri": self.uri, "round": self.round, "step": self.step,
            "algorithm": self.algorithm, "total_bytes": self.total_bytes,
            "files": [dataclasses.asdict(f) for f in self.files],
        }, indent=2)

    def artifact_metadata(self) -> dict[str, Any]:
        """What the KFP UI shows on the ``Model`` artifact (no file list: it can be long)."""
        meta: dict[str, Any] = {"uri": self.uri, "kind": self.kind, "round": self.round,
                                "step": self.step, "files": len(self.files),
                                "total_bytes": self.total_bytes}
        if self.algorithm:
            meta["algorithm"] = self.algorithm
        return meta

    @classmethod
    def from_json(cls, text: str | bytes, where: str = "pointer") -> ModelPointer:
        """Parse and check; :class:`PointerError` naming ``where`` and the defect."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PointerError(f"{where} is not a model pointer: not JSON ({exc})") from None
        if not isinstance(data, Mapping) or data.get("format") != POINTER_FORMAT:
            raise PointerError(f"{where} is not a model pointer: missing "
                               f"\"format\": \"{POINTER_FORMAT}\"")
        if data.get("version") != POINTER_VERSION:
            raise PointerError(f"{where}: unsupported pointer version {data.get('version')!r} "
                               f"(this code reads {POINTER_VERSION})")
        uri, kind = data.get("uri"), data.get("kind")
        if not isinstance(uri, str) or not uri.strip():
            raise PointerError(f"{where}: \"uri\" must be a non-empty string")
        if kind not in (KIND_REFERENCE, KIND_CHECKPOINT):
            raise PointerError(f"{where}: \"kind\" must be {KIND_REFERENCE!r} or "
                               f"{KIND_CHECKPOINT!r}, got {kind!r}")
        try:
            files = tuple(FileEntry(str(f["path"]), int(f["size"]), str(f["sha256"]))
                          for f in data.get("files", []))
            return cls(uri=uri, kind=kind, round=int(data.get("round", -1)),
                       step=int(data.get("step", 0)), algorithm=data.get("algorithm"),
                       files=files)
        except (KeyError, TypeError, ValueError) as exc:
            raise PointerError(f"{where}: malformed field ({exc!r})") from None


def reference_pointer(reference: str) -> ModelPointer:
    """The pointer of a base model reference (``default``, hub id, ``s3://`` prefix, folder)."""
    text = reference.strip()
    if not text:
        raise PointerError("empty model reference; use 'default', a folder, s3://... or "
                           "owner/name")
    return ModelPointer(uri=text, kind=KIND_REFERENCE)


def checkpoint_pointer(uri: str, manifest: Manifest) -> ModelPointer:
    """The pointer of a checkpoint at ``uri`` from its ``rlsd.storage`` manifest (the trainer
    puts round, step and algorithm into the manifest's metadata)."""
    meta = manifest.metadata
    return ModelPointer(uri=uri, kind=KIND_CHECKPOINT, round=int(meta.get("round", -1)),
                        step=int(meta.get("step", 0)), algorithm=meta.get("algorithm"),
                        files=tuple(manifest.files))


def write_pointer(pointer: ModelPointer, path: str | os.PathLike[str]) -> None:
    """Write ``pointer`` to the local file ``path`` (a ``Model`` artifact's ``.path``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(pointer.to_json() + "\n")


def read_pointer(path: str | os.PathLike[str]) -> ModelPointer:
    """The pointer in the local file ``path``; :class:`PointerError` if absent or malformed."""
    target = Path(path)
    try:
        text = target.read_text()
    except FileNotFoundError:
        raise PointerError(f"no model pointer at {target} (was the Model artifact produced by "
                           f"the base_model or update component?)") from None
    return ModelPointer.from_json(text, str(target))


def remote_uri(uri: str) -> str:
    """``uri`` as an ``s3://`` URI that pods other than this one can read.

    ``minio://bucket/key`` (KFP's MinIO scheme) becomes ``s3://bucket/key``. Anything else —
    a local path (kfp.local), ``gs://`` — raises :class:`PointerError`: the trainer pods and
    :mod:`rlsd.storage` reach checkpoints and tables only through S3.
    """
    if uri.startswith("s3://"):
        return uri
    for alias in _S3_ALIASES:
        if uri.startswith(alias):
            return "s3://" + uri[len(alias):]
    raise PointerError(f"artifact URI {uri!r} is not on S3: checkpoints and a PyTorchJob's "
                       "inputs need an s3:// pipeline root (compile with --pipeline-root "
                       "s3://...; launcher=local works with any root)")


def is_remote(uri: str) -> bool:
    """Whether ``uri`` names an object store (``scheme://``) rather than a local path."""
    return "://" in uri


def checkpoint_uri(artifact_uri: str, artifact_path: str) -> str:
    """Where the trainer writes the checkpoint of ``Model`` artifact (``uri``, ``path``).

    On a cluster: ``<uri>-checkpoint`` on S3 (not under the artifact, so the KFP launcher
    never uploads or downloads it). In kfp.local the artifact is a local file:
    ``<path>-checkpoint``.
    """
    if is_remote(artifact_uri):
        return remote_uri(artifact_uri).rstrip("/") + CHECKPOINT_SUFFIX
    return str(artifact_path).rstrip("/") + CHECKPOINT_SUFFIX


def artifact_policy(path: str | os.PathLike[str], uri: str, *, remote: bool = False,
                    copy_to: str | None = None) -> ModelPointer:
    """The policy a ``Model`` input artifact holds, whoever produced it.

    * a file: the pointer that the base_model, update and fused components write
      (:func:`read_pointer`);
    * a folder: a Hugging Face model folder (``config.json`` + safetensors) that another
      pipeline's step wrote as its ``Model`` artifact. The KFP launcher has copied it to
      ``path``; its weight files are checked here (headers only). Read in this task
      (``remote=False``): a reference to that local copy. Read by other pods
      (``remote=True``: a PyTorchJob's, or every later task for the base_model component):
      they fetch models from S3 with a manifest (:mod:`rlsd.storage`), so the reference is the
      artifact's own S3 folder when it has one; otherwise, with ``copy_to``, the local copy is
      uploaded there once with a manifest (the base_model component does this), else
      :class:`PointerError` says to bring the model in through the base_model component.
    """
    target = Path(path)
    if not target.is_dir():
        return read_pointer(target)
    from rlsd.models.checkpoint import check_model_folder
    from rlsd.models.errors import ModelError

    try:
        check_model_folder(target)
    except ModelError as exc:
        raise PointerError(f"the Model artifact {uri} is a folder but not a usable model: "
                           f"{exc}") from None
    if not remote:
        return ModelPointer(uri=str(target), kind=KIND_REFERENCE)
    from rlsd.storage import verify_manifest
    from rlsd.storage.errors import IncompleteCheckpointError

    source = remote_uri(uri)
    try:
        verify_manifest(source)
        return ModelPointer(uri=source, kind=KIND_REFERENCE)
    except IncompleteCheckpointError:
        if not copy_to:
            raise PointerError(
                f"the Model artifact {source} is a model folder without an rlsd.storage "
                "manifest, which the training pods need to fetch it; pass it through the "
                "base_model component (its model_artifact input), which writes one") from None
    from rlsd.storage import upload_dir

    upload_dir(target, copy_to, metadata={"kind": "model", "source": source})
    return ModelPointer(uri=copy_to, kind=KIND_REFERENCE)
