"""``open_checkpoint``: hand a caller a local, verified copy of a checkpoint folder.

Trainers and rollout workers load weights from a local folder; this is the one call they
make. Nothing is returned until the folder matches its manifest (design.md, "Layout":
checkpoints stream to S3 and the KFP ``Model`` artifact carries only the manifest).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

from rlsd.storage.manifest import Manifest, folder_of, verify_manifest
from rlsd.storage.progress import ProgressCallback
from rlsd.storage.s3_client import TransferSettings
from rlsd.storage.transfer import download_dir
from rlsd.storage.uri import is_s3, local_path


@dataclasses.dataclass(frozen=True)
class LocalCheckpoint:
    """A verified checkpoint on local disk: ``path`` holds exactly ``manifest.files``."""

    uri: str
    path: Path
    manifest: Manifest

    @property
    def metadata(self) -> dict:
        return self.manifest.metadata


def open_checkpoint(uri: str | os.PathLike[str], local_dir: str | os.PathLike[str] | None = None,
                    *, check_hashes: bool = True, settings: TransferSettings | None = None,
                    progress: bool | None = None,
                    on_progress: ProgressCallback | None = None) -> LocalCheckpoint:
    """A verified local copy of checkpoint folder ``uri``.

    * ``s3://`` URI: downloaded into ``local_dir`` (a new temporary folder when None, which
      the caller owns) and checked file by file against the manifest (size and SHA-256,
      always: a download is hashed anyway).
    * local path without ``local_dir``: verified in place (hashes unless
      ``check_hashes=False``), no copy. With ``local_dir``: copied there and verified.

    Raises :class:`IncompleteCheckpointError` (no manifest) or :class:`IntegrityError`.
    """
    folder = folder_of(uri)
    if not is_s3(folder) and local_dir is None:
        manifest = verify_manifest(folder, check_hashes=check_hashes, settings=settings)
        return LocalCheckpoint(folder, local_path(folder), manifest)
    if local_dir is None:
        local_dir = tempfile.mkdtemp(prefix="rlsd-checkpoint-")
    manifest = download_dir(folder, local_dir, verify=True, settings=settings,
                            progress=progress, on_progress=on_progress)
    assert manifest is not None  # verify=True always returns the manifest
    return LocalCheckpoint(folder, local_path(local_dir), manifest)

