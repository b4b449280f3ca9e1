"""Training curves from the per-step ``metrics.jsonl`` that :mod:`rlsd.train` writes.

One JSON object per optimizer step with ``step`` and ``round`` and the keys of
:mod:`rlsd.train.loop` (reward_mean, accuracy_mean, rlsd_weight_mean, rlsd_weight_clip_low/
high, clip_frac*, approx_kl, entropy, lambda, ...). A run has one file per round (each round's
checkpoint holds its own), so the curves concatenate them and order the records by step; a
step found twice (a re-run round) keeps the record read last. Dashed vertical lines mark where
each round starts.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from rlsd import storage
from rlsd.evaluate.html import figure_data_uri
from rlsd.report.errors import ReportError
from rlsd.train.metrics import METRICS_FILE

COLORS = ("#0969da", "#bc4c00", "#1a7f37", "#8250df", "#cf222e", "#6e7781")


@dataclass(frozen=True)
class Panel:
    """One chart: its title, the (key, legend label) series it draws, and a y reference."""

    title: str
    series: tuple[tuple[str, str], ...]
    ylabel: str = ""
    reference: float | None = None


#: The charts of the report, in order; a chart whose keys were never logged is skipped.
PANELS = (
    Panel("Reward and accuracy", (("reward_mean", "reward mean"),
                                  ("accuracy_mean", "accuracy mean"))),
    Panel("RLSD token weight w_t (mean)", (("rlsd_weight_mean", "mean w_t"),), "w", 1.0),
    Panel("RLSD weight clip fractions", (("rlsd_weight_clip_low", "w < 1 − ε_w"),
                                         ("rlsd_weight_clip_high", "w > 1 + ε_w")),
          "fraction of tokens"),
    Panel("PPO ratio clip fractions", (("clip_frac", "clipped (any)"),
                                       ("clip_frac_low", "ratio < 1 − ε_low"),
                                       ("clip_frac_high", "ratio > 1 + ε_high"),
                                       ("dual_clip_frac", "dual clip")), "fraction of tokens"),
    Panel("Approximate KL (behaviour → current policy)", (("approx_kl", "approx. KL"),)),
    Panel("Entropy", (("entropy", "mean token entropy"),), "nats"),
    Panel("Response length", (("response_length", "mean"), ("response_length_mean", "mean"),
                              ("response_length_max", "max")), "tokens"),
    Panel("RLSD mixing λ", (("lambda", "λ"),)),
    Panel("Zero-advantage groups", (("zero_advantage_group_fraction", "fraction of groups"),)),
    Panel("Token advantage |Â_t| (mean)", (("abs_token_advantage", "mean |Â_t|"),)),
    Panel("Loss", (("loss", "policy loss"),)),
    Panel("Gradient norm", (("grad_norm", "grad norm"),)),
    Panel("Throughput", (("tokens_per_s", "tokens / s"),), "tokens / s"),
)


def _metrics_uri(source: str | os.PathLike[str]) -> str:
    text = os.fspath(source)
    if text.endswith(".jsonl"):
        return text
    return storage.join(text, METRICS_FILE)


def read_metrics(sources: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """The step records of ``sources`` (``metrics.jsonl`` files, or checkpoint folders that hold
    one; local or ``s3://``), ordered by step; the last record read wins a repeated step.

    Raises :class:`ReportError` for a missing file, a line that is not a JSON object, or a
    record without an integer ``step``.
    """
    by_step: dict[int, dict[str, Any]] = {}
    for source in sources:
        uri = _metrics_uri(source)
        try:
            text = storage.read_bytes(uri).decode("utf-8")
        except storage.NotFoundError:
            raise ReportError(f"no metrics file at {uri}") from None
        except storage.StorageError as exc:
            raise ReportError(f"cannot read {uri}: {exc}") from exc
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ReportError(f"{uri} line {lineno} is not JSON: {exc}") from exc
            if not isinstance(record, dict) or isinstance(record.get("step"), bool) \
                    or not isinstance(record.get("step"), (int, float)):
                raise ReportError(f"{uri} line {lineno}: expected an object with a numeric "
                                  f"'step', got {line[:80]!r}")
            by_step[int(record["step"])] = record
    return [by_step[s] for s in sorted(by_step)]


def _value(record: Mapping[str, Any], key: str) -> float | None:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def round_starts(records: Sequence[Mapping[str, Any]]) -> list[tuple[int, Any]]:
    """(step, round) where each round's first logged step is."""
    starts: list[tuple[int, Any]] = []
    last = object()
    for r in records:
        if r.get("round") != last:
            last = r.get("round")
            starts.append((int(r["step"]), last))
    return starts


def plot_panel(panel: Panel, records: Sequence[Mapping[str, Any]]) -> Figure | None:
    """The chart of ``panel`` over the records, or None when none of its keys was logged."""
    series = []
    seen_labels: set[str] = set()
    for key, legend in panel.series:
        points = [(int(r["step"]), v) for r in records if (v := _value(r, key)) is not None]
        if points and legend not in seen_labels:
            series.append((legend, points))
            seen_labels.add(legend)
    if not series:
        return None
    fig = Figure(figsize=(5.6, 3.0))
    ax = fig.add_subplot()
    single = all(len(points) == 1 for _, points in series)
    for i, (legend, points) in enumerate(series):
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, "o-" if single or len(points) < 20 else "-", color=COLORS[i % len(COLORS)],
                label=legend, linewidth=1.6, markersize=4)
    if panel.reference is not None:
        ax.axhline(panel.reference, color="#8c959f", linewidth=0.8)
    starts = round_starts(records)
    for step, _ in starts[1:]:
        ax.axvline(step - 0.5, color="#8c959f", linestyle="--", linewidth=0.8)
    ax.set_title(panel.title, fontsize=11)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    ax.set_xlabel("optimizer step" + (" (dashed: a new round starts)" if len(starts) > 1 else ""),
                  fontsize=9)
    if panel.ylabel:
        ax.set_ylabel(panel.ylabel, fontsize=9)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return fig


def curve_plots(records: Sequence[Mapping[str, Any]]) -> tuple[list[tuple[str, str]], list[str]]:
    """((title, PNG data URI) of every chart with data, titles of charts with no data)."""
    plots, missing = [], []
    for panel in PANELS:
        fig = plot_panel(panel, records)
        if fig is None:
            missing.append(panel.title)
        else:
            plots.append((panel.title, figure_data_uri(fig)))
    return plots, missing


def summary_rows(records: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """(metric, first value, last value, min, max) for every numeric key logged."""
    keys = list(dict.fromkeys(k for r in records for k in r if k not in ("step", "round")))
    rows = []
    for key in keys:
        values = [v for r in records if (v := _value(r, key)) is not None]
        if values:
            rows.append([key, values[0], values[-1], min(values), max(values)])
    return rows
