"""The one exception the training report raises for unusable inputs."""

from __future__ import annotations


class ReportError(ValueError):
    """A report input is missing or malformed; the message names the file and the problem."""
