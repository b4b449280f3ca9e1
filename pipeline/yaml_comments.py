"""Keep the compiled YAML valid when a parameter's default spans lines.

KFP's compiler writes a comment header into every pipeline YAML (``# Inputs:`` with each
parameter's default) and copies a string default into it as is. A default with a line break
(the default prompt template: the question, a blank line, the format instruction) then puts its
second line outside the comment, and the file is no longer valid YAML (kubeflow/pipelines
#10438; the fix proposed there, #10477, was never merged). :func:`install` wraps KFP's
header writer so that every line of the header is a comment; the parameters' real defaults, in
the pipeline spec below the header, are untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kfp.compiler import pipeline_spec_builder

_WRAPPED = "_rlsd_every_line_commented"


def commented(header: str) -> str:
    """``header`` with every line that is not a comment made one (``#    ...``; a blank one
    ``#``)."""
    return "".join(line if line.startswith("#") else ("#    " if line.strip() else "#") + line
                   for line in header.splitlines(keepends=True))


def install() -> None:
    """Make KFP's YAML header writer comment every line (idempotent; a KFP without that
    private writer is left alone, and a test of the compiled YAML would then say so)."""
    original: Callable[..., str] | None = getattr(
        pipeline_spec_builder, "extract_comments_from_pipeline_spec", None)
    if original is None or getattr(original, _WRAPPED, False):
        return

    def every_line_commented(*args: Any, **kwargs: Any) -> str:
        return commented(original(*args, **kwargs))

    setattr(every_line_commented, _WRAPPED, True)
    pipeline_spec_builder.extract_comments_from_pipeline_spec = every_line_commented
