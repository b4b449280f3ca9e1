"""``python -m rlsd.verify``; see :mod:`rlsd.verify.cli`."""

import sys

from rlsd.verify.cli import main

# Guarded: spawned grading workers re-import the parent's __main__ module.
if __name__ == "__main__":
    sys.exit(main())
