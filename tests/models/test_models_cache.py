"""build_once: a cache folder appears complete or not at all, and is built once."""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path

import pytest

from rlsd.models.cache import build_once, cache_root, default_cache_dir


def _write(content: str):
    def build(tmp: Path) -> None:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "weights.bin").write_text(content)
        (tmp / "config.json").write_text("{}")

    return build


def test_builds_folder_with_content_and_returns_it(tmp_path):
    target = tmp_path / "models" / "m"
    assert build_once(target, _write("abc")) == target
    assert (target / "sub" / "weights.bin").read_text() == "abc"
    # Only the target and the lock file are left next to it: no temporary folder.
    assert sorted(p.name for p in target.parent.iterdir()) == [".m.lock", "m"]


def test_existing_folder_is_not_rebuilt(tmp_path):
    target = tmp_path / "m"
    build_once(target, _write("first"))
    build_once(target, _write("second"))
    assert (target / "sub" / "weights.bin").read_text() == "first"


def test_failed_build_leaves_nothing_and_propagates(tmp_path):
    target = tmp_path / "m"

    def broken(tmp: Path) -> None:
        (tmp / "half.bin").write_text("partial")
        raise RuntimeError("conversion died")

    with pytest.raises(RuntimeError, match="conversion died"):
        build_once(target, broken)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == [".m.lock"]
    # And a later build succeeds.
    build_once(target, _write("ok"))
    assert (target / "sub" / "weights.bin").read_text() == "ok"


def test_stale_temporary_folder_of_a_killed_build_is_removed(tmp_path):
    stale = tmp_path / ".tmp-m-abc123"
    stale.mkdir()
    (stale / "half.bin").write_text("partial")
    build_once(tmp_path / "m", _write("ok"))
    assert not stale.exists()


def test_concurrent_builders_build_once(tmp_path):
    target = tmp_path / "m"
    calls: list[int] = []

    def slow(tmp: Path) -> None:
        calls.append(1)
        time.sleep(0.3)  # long enough that all threads arrive while the first is building
        _write("x")(tmp)

    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(build_once(target, slow)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert results == [target] * 4
    assert (target / "sub" / "weights.bin").read_text() == "x"


def test_built_folder_is_readable_by_others(tmp_path):
    target = build_once(tmp_path / "m", _write("x"))
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert stat.S_IMODE((target / "sub").stat().st_mode) == 0o755
    assert stat.S_IMODE((target / "sub" / "weights.bin").stat().st_mode) == 0o644


def test_cache_dir_honours_env_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("RLSD_CACHE", str(tmp_path / "ci-cache"))
    assert default_cache_dir() == tmp_path / "ci-cache"
    assert cache_root(None) == tmp_path / "ci-cache"
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("RLSD_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "rlsd"
