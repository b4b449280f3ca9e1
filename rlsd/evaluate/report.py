"""The evaluation report people read: ``report.html`` (self-contained) and ``report.md``.

Both hold the pooled metrics table, a per-benchmark table (when there are several), a
per-subject and per-difficulty table for each benchmark that has subjects, and a few graded
responses. The HTML embeds the plots (accuracy per subject, accuracy per benchmark, response
length histogram) as inline PNG data URIs; the Markdown, shown by KFP's Markdown viewer, can
embed the same images (``embed_images``) or leave them out to stay small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rlsd.evaluate.breakdown import NONE_LABEL, headline_metric
from rlsd.evaluate.html import (
    esc,
    figure_data_uri,
    figure_html,
    inline_code,
    md_table,
    page,
    table,
)
from rlsd.evaluate.plots import length_histogram, subject_bar_chart

#: Columns of the per-group tables, after the group name, when the metrics have them.
GROUP_COLUMNS = ("prompts", "response_length", "truncation_rate", "format")
SHOWN_RESPONSES = 4
MACRO_ROW = "macro average"
MACRO_NOTE = ("macro average: every benchmark weighs the same (as the RLSD paper averages); "
              "the pooled metrics above weigh every item the same.")


def _metric_columns(metrics: Mapping[str, float]) -> list[str]:
    """The pass@k / mean@n / maj@n columns of a group table, headline first."""
    head = headline_metric(metrics)
    rest = [k for k in metrics if k.startswith(("pass@", "mean@", "maj@")) and k != head]
    return [head, *rest]


def _group_rows(groups: Mapping[str, Mapping[str, float]],
                macro: Mapping[str, float] | None = None) -> tuple[list[str], list[list[Any]]]:
    """Table rows, one per group; with ``macro`` (the pooled metrics) a last row of the
    ``macro/<metric>`` averages over the groups."""
    if not groups:
        return [], []
    first = next(iter(groups.values()))
    columns = _metric_columns(first) + [c for c in GROUP_COLUMNS if c in first]
    rows = [[name, *(m.get(c) for c in columns)] for name, m in groups.items()]
    if macro is not None and any(f"macro/{c}" in macro for c in columns):
        rows.append([MACRO_ROW, *(macro.get(f"macro/{c}") for c in columns)])
    headers = ["", *("items" if c == "prompts" else c for c in columns)]
    return headers, rows


def _has_labels(groups: Mapping[str, Any]) -> bool:
    return bool(groups) and set(groups) != {NONE_LABEL}


def overall_rows(metrics: Mapping[str, float]) -> list[list[Any]]:
    """(metric, value) rows of the pooled metrics (per-benchmark ``a/b`` keys excluded)."""
    return [[k, v] for k, v in metrics.items() if "/" not in k]


def eval_plots(breakdown: Mapping[str, Any] | None,
               samples: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(caption, PNG data URI) of every chart the report shows."""
    plots: list[tuple[str, str]] = []
    if breakdown:
        benches = breakdown.get("benchmarks", {})
        metric = headline_metric(next(iter(benches.values()))) if benches else "pass@1"
        if len(benches) > 1:
            fig = subject_bar_chart(benches, metric, f"{metric} per benchmark")
            if fig is not None:
                plots.append((f"{metric} per benchmark", figure_data_uri(fig)))
        for bench, subjects in breakdown.get("subjects", {}).items():
            if _has_labels(subjects) and len(subjects) > 1:
                fig = subject_bar_chart(subjects, metric, f"{bench}: {metric} per subject")
                if fig is not None:
                    plots.append((f"{bench}: {metric} per subject", figure_data_uri(fig)))
    fig = length_histogram(samples) if samples else None
    if fig is not None:
        plots.append(("response length histogram (tokens)", figure_data_uri(fig)))
    return plots


def _shown_samples(samples: Sequence[Mapping[str, Any]], shown: int) -> list[Mapping[str, Any]]:
    """Up to ``shown`` responses, alternating correct and wrong ones, in table order."""
    right = [s for s in samples if s["correct"] >= 1.0]
    wrong = [s for s in samples if s["correct"] < 1.0]
    out: list[Mapping[str, Any]] = []
    while len(out) < shown and (right or wrong):
        for pool in (right, wrong):
            if pool and len(out) < shown:
                out.append(pool.pop(0))
    return out


def render_eval_html(title: str, metrics: Mapping[str, float],
                     breakdown: Mapping[str, Any] | None,
                     samples: Sequence[Mapping[str, Any]], shown: int = SHOWN_RESPONSES) -> str:
    """The self-contained HTML report of one evaluation."""
    parts = [f"<h1>{inline_code(title)}</h1>",
             f'<p class="sub">{int(metrics.get("prompts", 0))} items, '
             f'{int(metrics.get("samples", 0))} samples</p>',
             "<h2>Metrics</h2>", table(["metric", "value"], overall_rows(metrics))]
    if breakdown:
        benches = breakdown.get("benchmarks", {})
        if len(benches) > 1:
            headers, rows = _group_rows(benches, metrics)
            parts += ["<h2>Per benchmark</h2>", table(["benchmark", *headers[1:]], rows),
                      f'<p class="muted">{esc(MACRO_NOTE)}</p>']
        for kind, key in (("subject", "subjects"), ("difficulty", "difficulties")):
            for bench, groups in breakdown.get(key, {}).items():
                if _has_labels(groups):
                    headers, rows = _group_rows(groups)
                    parts += [f"<h2>{esc(bench)}: per {kind}</h2>",
                              table([kind, *headers[1:]], rows)]
    plots = eval_plots(breakdown, samples)
    if plots:
        parts += ["<h2>Plots</h2>", '<div class="plots">',
                  *(figure_html(uri, alt) for alt, uri in plots), "</div>"]
    chosen = _shown_samples(samples, shown)
    if chosen:
        parts.append("<h2>Sample responses</h2>")
        for s in chosen:
            verdict = "correct" if s["correct"] >= 1.0 else "wrong"
            parts.append(f"<h3>{esc(s['prompt_id'])} #{esc(s.get('sample_index', 0))}: "
                         f"{verdict}</h3><p class=\"muted\">gold <code>{esc(s.get('gold'))}</code>, "
                         f"answer <code>{esc(s.get('answer'))}</code>, "
                         f"{esc(s.get('response_length'))} tokens</p>"
                         f"<pre class=\"response\">{esc(s.get('response_text', ''))}</pre>")
    return page(title, "\n".join(parts))


def render_eval_markdown(title: str, metrics: Mapping[str, float],
                         breakdown: Mapping[str, Any] | None,
                         samples: Sequence[Mapping[str, Any]], shown: int = 5,
                         embed_images: bool = True) -> str:
    """The Markdown report (tables; plots inline as data URIs when ``embed_images``)."""
    lines = [f"# {title}", ""]
    lines += md_table(["metric", "value"], overall_rows(metrics))
    if breakdown:
        benches = breakdown.get("benchmarks", {})
        if len(benches) > 1:
            headers, rows = _group_rows(benches, metrics)
            lines += ["", "## Per benchmark", "", *md_table(["benchmark", *headers[1:]], rows),
                      "", MACRO_NOTE]
        for kind, key in (("subject", "subjects"), ("difficulty", "difficulties")):
            for bench, groups in breakdown.get(key, {}).items():
                if _has_labels(groups):
                    headers, rows = _group_rows(groups)
                    lines += ["", f"## {bench}: per {kind}", "",
                              *md_table([kind, *headers[1:]], rows)]
    if embed_images:
        for caption, uri in eval_plots(breakdown, samples):
            lines += ["", f"![{caption}]({uri})"]
    lines += ["", "## Sample responses", ""]
    for s in list(samples)[:shown]:
        verdict = "correct" if s["correct"] >= 1.0 else "wrong"
        text = str(s.get("response_text", "")).replace("\n", " ")[:400]
        lines += [f"- **{s['prompt_id']}** ({verdict}; gold `{s.get('gold')}`, "
                  f"answer `{s.get('answer')}`): {text}"]
    return "\n".join(lines) + "\n"


def write_eval_reports(output_dir: str | Path, title: str, metrics: Mapping[str, float],
                       breakdown: Mapping[str, Any] | None,
                       samples: Sequence[Mapping[str, Any]],
                       markdown_images: bool = True) -> dict[str, Path]:
    """Write ``report.html`` and ``report.md`` into ``output_dir``; returns their paths.

    ``markdown_images``: embed the plots in the Markdown too (data URIs; turn off where a
    Markdown viewer drops ``data:`` images or the artifact must stay small).
    """
    out = Path(output_dir)
    paths = {"html": out / "report.html", "markdown": out / "report.md"}
    paths["html"].write_text(render_eval_html(title, metrics, breakdown, samples))
    paths["markdown"].write_text(render_eval_markdown(title, metrics, breakdown, samples,
                                                      embed_images=markdown_images))
    return paths
