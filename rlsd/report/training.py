"""``build_training_report``: one self-contained HTML page about a training run.

Sections: the training curves (:mod:`rlsd.report.curves`), the token-credit view of a few
responses per round (:mod:`rlsd.report.token_credit`), and the before/after evaluation table
(:mod:`rlsd.evaluate.compare`) when evaluation folders are given.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rlsd import storage
from rlsd.evaluate.compare import EvalRun, compare_runs, comparison_sections_html, load_eval_run
from rlsd.evaluate.html import esc, figure_html, page, table
from rlsd.evaluate.report import overall_rows
from rlsd.report.config import ReportConfig
from rlsd.report.curves import curve_plots, read_metrics, summary_rows
from rlsd.report.errors import ReportError
from rlsd.report.token_credit import (
    TOKEN_STYLE,
    RoundTables,
    decode_tokens,
    legend_html,
    response_card,
    round_credit,
)
from rlsd.train.samples import RoundDataError

REPORT_FILE = "training_report.html"


def _curves_section(metrics_files: Sequence[str | os.PathLike[str]]) -> tuple[str, int]:
    if not metrics_files:
        return '<h2>Training curves</h2><p class="note">No metrics files given.</p>', 0
    records = read_metrics(metrics_files)
    if not records:
        return '<h2>Training curves</h2><p class="note">The metrics files hold no steps.</p>', 0
    plots, missing = curve_plots(records)
    rounds = sorted({r.get("round") for r in records if r.get("round") is not None})
    parts = ["<h2>Training curves</h2>",
             f'<p class="sub">{len(records)} optimizer steps '
             f"({records[0]['step']}–{records[-1]['step']}) over {len(rounds)} round(s), "
             f"from {len(metrics_files)} metrics file(s)</p>",
             '<div class="plots">', *(figure_html(uri, title) for title, uri in plots), "</div>"]
    if missing:
        parts.append(f'<p class="muted">Not logged in this run: {esc(", ".join(missing))}.</p>')
    parts += ["<h3>Summary</h3>",
              table(["metric", "first", "last", "min", "max"], summary_rows(records))]
    return "\n".join(parts), len(records)


def _token_section(round_tables: Sequence[RoundTables], tokenizer: Any,
                   config: ReportConfig) -> tuple[str, int]:
    parts = ["<h2>Token credit</h2>", legend_html(config.eps_w)]
    shown = 0
    for tables in round_tables:
        label = tables.label or "round"
        try:
            credits = round_credit(tables, config.responses, config.eps_w, config.scale_by_std)
        except (RoundDataError, ValueError) as exc:
            parts.append(f'<p class="note">{esc(label)}: no token credit to show: {esc(exc)}</p>')
            continue
        parts.append(f"<h3>{esc(label)}</h3>")
        for credit in credits:
            credit.tokens = decode_tokens(tokenizer, credit.token_ids)
            parts.append(response_card(credit, config.eps_w, config.max_tokens,
                                       show_round=False))
            shown += 1
    return "\n".join(parts), shown


def setting_text(value: Any) -> str:
    """A run setting as it reads best in a list: whole numbers as integers (KFP hands ``4`` back
    as ``4.0``), other floats in their shortest form (``0.8``, ``1e-06``: never rounded to
    ``0.0000``), everything else as text."""
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _settings_section(settings: Mapping[str, Any] | None) -> str:
    shown = {k: v for k, v in (settings or {}).items() if v is not None and v != ""}
    if not shown:
        return ""
    rows = [[name, setting_text(value)] for name, value in shown.items()]
    return "<h2>Run settings</h2>\n" + table(["setting", "value"], rows)


def _eval_section(eval_before: str | Path | EvalRun | None,
                  eval_after: str | Path | EvalRun | None) -> str:
    runs = []
    for given, name in ((eval_before, "base"), (eval_after, "final")):
        if given is not None:
            runs.append(given if isinstance(given, EvalRun) else load_eval_run(given, name))
    if not runs:
        return ""
    if len(runs) == 2:
        # Different item sets are shown with a note rather than failing the whole report.
        comparison = compare_runs(runs[0], runs[1], require_same_items=False)
        return "<h2>Evaluation before and after training</h2>\n" + \
            comparison_sections_html(comparison)
    run = runs[0]
    return (f"<h2>Evaluation ({esc(run.name)} policy)</h2>"
            + table(["metric", "value"], overall_rows(run.metrics)))


def build_training_report(
    metrics_files: Sequence[str | os.PathLike[str]],
    round_tables: Sequence[RoundTables] | None,
    tokenizer: Any,
    output_html: str | os.PathLike[str],
    eval_before: str | Path | EvalRun | None = None,
    eval_after: str | Path | EvalRun | None = None,
    config: ReportConfig | None = None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, int]:
    """Write the training report to ``output_html`` (a local path or ``s3://`` URI).

    Args:
        metrics_files: ``metrics.jsonl`` files (or checkpoint folders holding one), one per
            round, in any order.
        round_tables: rounds whose responses the token-credit view shows (None or empty: no
            view). A round without teacher log-probs (GRPO) gets a note instead.
        tokenizer: decodes the token ids (a transformers tokenizer or processor); needed only
            with ``round_tables``.
        eval_before, eval_after: evaluation folders (or loaded runs) of the base and final
            policy: the before/after table.
        config: what to show and the run's ε_w / std scaling (default: the paper's).
        settings: the settings the run trained with, name -> value, listed in that order
            under the title (the profile's name, G, temperature, learning rate...); entries
            that are None or empty are left out.

    Returns:
        Counts of what the report holds: ``steps``, ``responses``.
    """
    config = config or ReportConfig()
    config.validate()
    if round_tables and tokenizer is None:
        raise ReportError("the token-credit view needs a tokenizer to decode the token ids")
    title = config.title or "RLSD training report"
    curves, steps = _curves_section(metrics_files)
    tokens, responses = _token_section(round_tables, tokenizer, config) if round_tables \
        else ("", 0)
    body = "\n".join(part for part in (
        f"<h1>{esc(title)}</h1>", _settings_section(settings),
        _eval_section(eval_before, eval_after), curves, tokens) if part)
    storage.write_bytes(page(title, body, TOKEN_STYLE).encode("utf-8"), os.fspath(output_html))
    return {"steps": steps, "responses": responses}
