"""The local model cache, and building a folder in it exactly once.

The cache root is ``$RLSD_CACHE`` or ``~/.cache/rlsd``. Folders in it are built into a hidden
temporary folder next to the target and renamed into place (``os.replace``, atomic on one
file system), under a file lock. So a reader sees either no folder or a complete one: two
processes converting at once build it once, and an interrupted build leaves no half folder
(its temporary folder is removed by the next builder).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

CACHE_ENV = "RLSD_CACHE"


def default_cache_dir() -> Path:
    """``$RLSD_CACHE`` when set (CI points it at a reused volume), else ``~/.cache/rlsd``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rlsd"


def cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    """``cache_dir`` when given, else :func:`default_cache_dir`."""
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Return ``target``, first creating it with ``build(tmp_dir)`` if it does not exist.

    ``build`` writes the folder's content into the empty ``tmp_dir`` it is given; on success
    the folder is renamed to ``target``. If ``build`` raises, nothing is left behind and the
    exception propagates. Safe across processes and threads.
    """
    target = Path(target)
    if target.is_dir():
        return target  # fast path: a complete folder is never modified again
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_prefix = f".tmp-{target.name}-"
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if target.is_dir():  # another process finished it while we waited for the lock
            return target
        # Whoever held the lock before us and left a temporary folder was killed mid-build.
        for stale in target.parent.glob(tmp_prefix + "*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=tmp_prefix, dir=target.parent))
        try:
            build(tmp)
            _make_readable(tmp)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def _make_readable(folder: Path) -> None:
    """Give the folder normal permissions (``mkdtemp`` makes it private, mode 0700), so a
    cache shared by CI jobs or users can be read by all of them. Model files hold no secrets.
    """
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
