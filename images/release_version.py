"""The package version (``rlsd/__init__.py``'s ``__version__``, the one place it lives), and
the release workflow's check that a tag matches it.

    python images/release_version.py                 # prints 0.1.0
    python images/release_version.py --tag v0.1.0    # prints 0.1.0; exit 1 if they differ

Reads the file as text, so it needs nothing installed (the workflow runs it before any
``pip install``). Exit status: 0 match (or no tag), 1 the tag does not match, 2 no version.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

INIT = Path(__file__).resolve().parent.parent / "rlsd" / "__init__.py"
_VERSION = re.compile(r'^__version__\s*=\s*["\']([^"\']+)["\']', re.MULTILINE)


def package_version(init: Path = INIT) -> str:
    """``__version__`` as written in ``init``; :class:`ValueError` when there is none."""
    found = _VERSION.search(init.read_text())
    if not found:
        raise ValueError(f"no __version__ = '...' line in {init}")
    return found.group(1)


def tag_version(tag: str) -> str | None:
    """``v1.2.3`` or ``refs/tags/v1.2.3`` -> ``1.2.3``; None for a tag without the ``v``."""
    name = tag.strip().removeprefix("refs/tags/")
    return name[1:] if name.startswith("v") and len(name) > 1 else None


def main(argv: Sequence[str] | None = None) -> int:
    """Print the version; with ``--tag``, exit 1 (saying why) unless it is ``v<version>``."""
    parser = argparse.ArgumentParser(prog="python images/release_version.py",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", help="the release tag, e.g. v0.1.0 (GITHUB_REF_NAME)")
    args = parser.parse_args(argv)
    try:
        version = package_version()
    except (OSError, ValueError) as exc:
        print(f"release_version: error: {exc}", file=sys.stderr)
        return 2
    if args.tag is not None and tag_version(args.tag) != version:
        print(f"release_version: error: tag {args.tag} does not match the package version "
              f"{version} (rlsd/__init__.py __version__): tag the release v{version}, or "
              f"change __version__ first", file=sys.stderr)
        return 1
    print(version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
