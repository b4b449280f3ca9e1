"""Errors raised by the verification stage; each message names the offending thing."""

from __future__ import annotations


class VerifyError(ValueError):
    """Base class: bad verification input or settings."""


class UnknownVerifierError(VerifyError, KeyError):
    """A verifier name is not registered (and no installed entry point provides it)."""

    def __str__(self) -> str:  # KeyError would quote the whole message otherwise
        return str(self.args[0]) if self.args else ""


class PluginError(VerifyError):
    """An operator-supplied plug-in (``name=package.module:function``) cannot be loaded."""


class TableError(VerifyError):
    """An input table lacks a column, or its rows do not join."""


class GoldAnswerError(VerifyError):
    """A verifier cannot read the reference (gold) answer: a data problem, not a wrong reply."""


class GradingError(RuntimeError):
    """The grading machinery failed (a crashed or stalled pool, a verifier that cannot be
    imported, a script that re-runs itself in every worker): not an answer's fault.

    Raised instead of handing the trainer rewards of 0 that would look like wrong answers.
    """
