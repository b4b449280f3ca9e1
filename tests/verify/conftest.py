"""Fixtures for the verification tests: throw-away plug-in modules on ``sys.path``."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rlsd.verify import available_verifiers, unregister_verifier


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on ``sys.path`` (parent and, through each task, the grading workers).

    Verifiers registered during the test are unregistered afterwards.
    """
    before = set(available_verifiers())
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in set(available_verifiers()) - before:
        unregister_verifier(name)


@pytest.fixture
def make_plugin(plugin_dir: Path) -> Callable[[str], str]:
    """Write ``source`` as a uniquely named module in ``plugin_dir``; return its name.

    Unique names matter: grading workers outlive a test and keep modules they imported.
    """

    def make(source: str) -> str:
        name = f"rlsd_test_plugin_{uuid.uuid4().hex[:10]}"
        (plugin_dir / f"{name}.py").write_text(textwrap.dedent(source))
        return name

    return make
