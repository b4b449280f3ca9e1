"""Compare two evaluation folders side by side: metric deltas, per-benchmark and per-subject
deltas, and which items got better or worse.

    python -m rlsd.evaluate.compare runs/rlsd/eval runs/grpo/eval --names rlsd,grpo \\
        --output compare.html [--markdown compare.md]

An evaluation folder is what :mod:`rlsd.evaluate` writes (``metrics.json``, and when present
``breakdown.json``, ``items.json`` or ``results.json``); a local path or an ``s3://`` prefix.
Deltas are ``B − A``: the second run minus the first. :func:`before_after` is the pipeline's
view: the base policy (A) against the final policy (B) on the SAME prompts, which it checks.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlsd import storage
from rlsd.evaluate.breakdown import NONE_LABEL, breakdown, headline_metric, item_results
from rlsd.evaluate.evaluation import aggregate
from rlsd.evaluate.html import (
    esc,
    figure_data_uri,
    figure_html,
    fmt,
    fmt_delta,
    inline_code,
    md_table,
    page,
    table,
)
from rlsd.evaluate.plots import paired_bar_chart
from rlsd.evaluate.report import MACRO_ROW

#: Metrics where a larger value is better (their deltas are coloured green/red).
HIGHER_IS_BETTER = ("pass@", "mean@", "maj@", "format")


class CompareError(ValueError):
    """Two evaluations cannot be compared as asked; the message says why."""


@dataclass
class EvalRun:
    """One evaluation folder, loaded: flat metrics, breakdowns and per-item records."""

    name: str
    where: str
    metrics: dict[str, float]
    breakdown: dict[str, Any] | None = None
    items: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Delta:
    """A value of run A against run B (None where a run lacks it); ``n_*``: item counts."""

    label: str
    a: float | None
    b: float | None
    n_a: int | None = None
    n_b: int | None = None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass
class ItemChanges:
    """Per-item accuracy, B against A, over the items both runs evaluated."""

    improved: list[str] = field(default_factory=list)
    regressed: list[str] = field(default_factory=list)
    unchanged: int = 0
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    """Everything the comparison report shows."""

    names: tuple[str, str]
    metric: str
    metrics: list[Delta]
    benchmarks: list[Delta]
    subjects: dict[str, list[Delta]]
    items: ItemChanges | None

    def headline(self) -> Delta:
        """The headline metric's delta (pass@1, else mean@n)."""
        return next(d for d in self.metrics if d.label == self.metric)


def _read_json(uri: str, required: bool) -> Any:
    try:
        return json.loads(storage.read_bytes(uri))
    except storage.NotFoundError:
        if required:
            raise CompareError(f"{uri} does not exist: not an evaluation folder") from None
        return None
    except json.JSONDecodeError as exc:
        raise CompareError(f"{uri} is not valid JSON: {exc}") from exc


def _k_values(metrics: Mapping[str, float]) -> list[int]:
    return sorted(int(k[len("pass@"):]) for k in metrics
                  if k.startswith("pass@") and k[len("pass@"):].isdigit())


def load_eval_run(where: str | Path, name: str | None = None) -> EvalRun:
    """Load an evaluation folder (or the path of its ``metrics.json``).

    ``breakdown.json`` / ``items.json`` are used when present, else derived from
    ``results.json`` (folders written before they existed); without either the comparison
    shows metrics only.
    """
    where = str(where)
    folder = where[: -len("/metrics.json")] if where.endswith("/metrics.json") else where
    metrics = _read_json(storage.join(folder, "metrics.json"), required=True)
    if not isinstance(metrics, dict) or not all(
            isinstance(v, (int, float)) for v in metrics.values()):
        raise CompareError(f"{folder}/metrics.json must map metric names to numbers")
    parts = _read_json(storage.join(folder, "breakdown.json"), required=False)
    items = _read_json(storage.join(folder, "items.json"), required=False)
    if parts is None or items is None:
        results = _read_json(storage.join(folder, "results.json"), required=False)
        if results:
            k_values = _k_values(metrics) or [1]
            for s in results:  # folders from before the breakdowns have no labels
                s.setdefault("benchmark", None)
            parts = parts or breakdown(results, k_values, aggregate)
            items = items or item_results(results, k_values)
    label = name or Path(folder.rstrip("/")).name or folder
    return EvalRun(label, folder, {k: float(v) for k, v in metrics.items()}, parts, items)


def _group_deltas(a: Mapping[str, Mapping[str, float]], b: Mapping[str, Mapping[str, float]],
                  metric: str) -> list[Delta]:
    names = list(dict.fromkeys([*a, *b]))
    return [Delta(n, a.get(n, {}).get(metric), b.get(n, {}).get(metric),
                  int(a[n]["prompts"]) if n in a and "prompts" in a[n] else None,
                  int(b[n]["prompts"]) if n in b and "prompts" in b[n] else None)
            for n in names]


def _item_changes(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> ItemChanges:
    acc_a = {i["prompt_id"]: float(i["accuracy"]) for i in a}
    acc_b = {i["prompt_id"]: float(i["accuracy"]) for i in b}
    changes = ItemChanges(only_a=[p for p in acc_a if p not in acc_b],
                          only_b=[p for p in acc_b if p not in acc_a])
    for pid, before in acc_a.items():
        if pid not in acc_b:
            continue
        if acc_b[pid] > before:
            changes.improved.append(pid)
        elif acc_b[pid] < before:
            changes.regressed.append(pid)
        else:
            changes.unchanged += 1
    return changes


def compare_runs(a: EvalRun, b: EvalRun, require_same_items: bool = False) -> Comparison:
    """Deltas B − A of every metric, benchmark and subject, and the per-item changes.

    ``require_same_items``: raise :class:`CompareError` unless both runs evaluated exactly the
    same items (a before/after comparison on different prompts measures nothing).
    """
    metric = headline_metric(a.metrics) if headline_metric(a.metrics) in b.metrics \
        else headline_metric(b.metrics)
    if metric not in a.metrics or metric not in b.metrics:
        raise CompareError(f"the runs share no headline metric: {a.name} has "
                           f"{sorted(a.metrics)}, {b.name} has {sorted(b.metrics)}")
    keys = [k for k in dict.fromkeys([*a.metrics, *b.metrics]) if "/" not in k]
    deltas = [Delta(k, a.metrics.get(k), b.metrics.get(k)) for k in keys]
    parts_a, parts_b = a.breakdown or {}, b.breakdown or {}
    benchmarks = _group_deltas(parts_a.get("benchmarks", {}), parts_b.get("benchmarks", {}),
                               metric)
    macro = f"macro/{metric}"
    if len(benchmarks) > 1 and (macro in a.metrics or macro in b.metrics):
        benchmarks.append(Delta(MACRO_ROW, a.metrics.get(macro), b.metrics.get(macro)))
    subjects: dict[str, list[Delta]] = {}
    for bench in dict.fromkeys([*parts_a.get("subjects", {}), *parts_b.get("subjects", {})]):
        sa = parts_a.get("subjects", {}).get(bench, {})
        sb = parts_b.get("subjects", {}).get(bench, {})
        if set(sa) | set(sb) != {NONE_LABEL}:
            subjects[bench] = _group_deltas(sa, sb, metric)
    items = _item_changes(a.items, b.items) if a.items is not None and b.items is not None \
        else None
    if require_same_items:
        if items is None:
            raise CompareError(f"cannot check that {a.name} and {b.name} evaluated the same "
                               "items: a folder has neither items.json nor results.json")
        if items.only_a or items.only_b:
            raise CompareError(
                f"{a.name} and {b.name} did not evaluate the same items: "
                f"{len(items.only_a)} only in {a.name} (first: {items.only_a[:3]}), "
                f"{len(items.only_b)} only in {b.name} (first: {items.only_b[:3]})")
    return Comparison((a.name, b.name), metric, deltas, benchmarks, subjects, items)


def _delta_class(label: str, delta: float | None) -> str:
    if delta is None or delta == 0 or not label.startswith(HIGHER_IS_BETTER):
        return ""
    return "up" if delta > 0 else "down"


def _delta_rows(deltas: Sequence[Delta], metric: str | None = None,
                with_counts: bool = False) -> tuple[list[list[Any]], list[list[str]]]:
    rows, classes = [], []
    for d in deltas:
        row: list[Any] = [d.label, fmt(d.a), fmt(d.b), fmt_delta(d.delta)]
        if with_counts:
            row += [fmt(d.n_a), fmt(d.n_b)]
        rows.append(row)
        klass = _delta_class(metric or d.label, d.delta)
        classes.append(["", "num", "num", f"num {klass}".strip()] + ["num", "num"] * with_counts)
    return rows, classes


def comparison_plots(c: Comparison) -> list[tuple[str, str]]:
    """(caption, PNG data URI) of the per-benchmark and per-subject bar charts."""
    plots = []
    benches = [d for d in c.benchmarks if d.label != MACRO_ROW]
    groups = [("per benchmark", benches)] if len(benches) > 1 else []
    groups += [(f"{bench}: per subject", deltas) for bench, deltas in c.subjects.items()
               if len(deltas) > 1]
    for caption, deltas in groups:
        fig = paired_bar_chart([d.label for d in deltas], [d.a for d in deltas],
                               [d.b for d in deltas], c.names, c.metric,
                               f"{c.metric} {caption}")
        if fig is not None:
            plots.append((f"{c.metric} {caption}", figure_data_uri(fig)))
    return plots


def _summary(c: Comparison) -> str:
    h = c.headline()
    text = (f"{c.metric}: {c.names[0]} {fmt(h.a)} → {c.names[1]} {fmt(h.b)} "
            f"({fmt_delta(h.delta)})")
    if c.items is not None:
        text += (f"; items improved {len(c.items.improved)}, regressed "
                 f"{len(c.items.regressed)}, unchanged {c.items.unchanged}")
    return text


def comparison_sections_html(c: Comparison, with_plots: bool = True) -> str:
    """The comparison as HTML sections (no page around them): the training report embeds it."""
    a, b = c.names
    headers = ["", a, b, f"Δ ({b} − {a})"]
    rows, classes = _delta_rows(c.metrics)
    parts = [f'<p class="sub">{esc(_summary(c))}</p>', "<h3>Metrics</h3>",
             table(["metric", *headers[1:]], rows, classes)]
    if len(c.benchmarks) > 1:
        rows, classes = _delta_rows(c.benchmarks, c.metric, with_counts=True)
        parts += [f"<h3>Per benchmark ({esc(c.metric)})</h3>",
                  table(["benchmark", *headers[1:], f"items {a}", f"items {b}"], rows, classes)]
    for bench, deltas in c.subjects.items():
        rows, classes = _delta_rows(deltas, c.metric, with_counts=True)
        parts += [f"<h3>{esc(bench)}: per subject ({esc(c.metric)})</h3>",
                  table(["subject", *headers[1:], f"items {a}", f"items {b}"], rows, classes)]
    if c.items is not None and (c.items.only_a or c.items.only_b):
        parts.append(f'<p class="note">Not the same items: {len(c.items.only_a)} only in '
                     f"{esc(a)}, {len(c.items.only_b)} only in {esc(b)}.</p>")
    if with_plots:
        plots = comparison_plots(c)
        if plots:
            parts += ['<div class="plots">', *(figure_html(uri, alt) for alt, uri in plots),
                      "</div>"]
    return "\n".join(parts)


def render_comparison_html(c: Comparison, title: str | None = None) -> str:
    """The self-contained HTML comparison report."""
    title = title or f"{c.names[0]} vs {c.names[1]}"
    return page(title, f"<h1>{inline_code(title)}</h1>\n{comparison_sections_html(c)}")


def render_comparison_markdown(c: Comparison, title: str | None = None,
                               embed_images: bool = False) -> str:
    """The comparison as Markdown (for KFP's Markdown viewer)."""
    a, b = c.names
    title = title or f"{a} vs {b}"
    headers = [a, b, f"Δ ({b} − {a})"]
    lines = [f"# {title}", "", _summary(c), "",
             *md_table(["metric", *headers], _delta_rows(c.metrics)[0])]
    if len(c.benchmarks) > 1:
        lines += ["", f"## Per benchmark ({c.metric})", "",
                  *md_table(["benchmark", *headers, f"items {a}", f"items {b}"],
                            _delta_rows(c.benchmarks, c.metric, True)[0])]
    for bench, deltas in c.subjects.items():
        lines += ["", f"## {bench}: per subject ({c.metric})", "",
                  *md_table(["subject", *headers, f"items {a}", f"items {b}"],
                            _delta_rows(deltas, c.metric, True)[0])]
    if embed_images:
        lines += [line for caption, uri in comparison_plots(c) for line in ("", f"![{caption}]({uri})")]
    return "\n".join(lines) + "\n"


def write_comparison(c: Comparison, output_html: str | Path | None,
                     output_markdown: str | Path | None = None, title: str | None = None) -> None:
    """Write the HTML and/or Markdown comparison (local paths or ``s3://`` URIs)."""
    if output_html:
        storage.write_bytes(render_comparison_html(c, title).encode(), str(output_html))
    if output_markdown:
        storage.write_bytes(render_comparison_markdown(c, title).encode(), str(output_markdown))


def before_after(before: str | Path | EvalRun, after: str | Path | EvalRun,
                 output_html: str | Path | None = None, output_markdown: str | Path | None = None,
                 names: tuple[str, str] = ("base", "final"),
                 title: str | None = None) -> Comparison:
    """Base policy (``before``) against final policy (``after``) on the same prompts.

    Raises :class:`CompareError` when the two evaluations did not grade the same items.
    Writes the report(s) when paths are given and returns the comparison.
    """
    run_a = before if isinstance(before, EvalRun) else load_eval_run(before, names[0])
    run_b = after if isinstance(after, EvalRun) else load_eval_run(after, names[1])
    comparison = compare_runs(run_a, run_b, require_same_items=True)
    write_comparison(comparison, output_html, output_markdown,
                     title or f"Before and after training: {names[0]} vs {names[1]}")
    return comparison


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlsd.evaluate.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_a", help="first evaluation folder (A)")
    parser.add_argument("run_b", help="second evaluation folder (B); deltas are B − A")
    parser.add_argument("--names", help="display names 'A,B' (default: the folder names)")
    parser.add_argument("--output", help="HTML report to write")
    parser.add_argument("--markdown", help="Markdown report to write")
    parser.add_argument("--title", help="report title")
    parser.add_argument("--require-same-items", action="store_true",
                        help="fail unless both runs evaluated exactly the same items")
    args = parser.parse_args(argv)
    names: list[str | None] = [None, None]
    if args.names:
        names = [n.strip() for n in args.names.split(",")]
        if len(names) != 2 or not all(names):
            parser.error(f"--names needs two comma-separated names, got {args.names!r}")
    if not args.output and not args.markdown:
        parser.error("give --output and/or --markdown")
    try:
        comparison = compare_runs(load_eval_run(args.run_a, names[0]),
                                  load_eval_run(args.run_b, names[1]), args.require_same_items)
        write_comparison(comparison, args.output, args.markdown, args.title)
    except (CompareError, storage.StorageError) as exc:
        print(f"rlsd.evaluate.compare: error: {exc}", file=sys.stderr)
        return 2
    print("compare: " + _summary(comparison))
    return 0


if __name__ == "__main__":
    sys.exit(main())
