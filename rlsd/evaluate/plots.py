"""The evaluation charts, drawn with matplotlib's object API (``Figure``, no pyplot state).

Each function returns a :class:`matplotlib.figure.Figure`, or None when there is nothing to
draw; :func:`rlsd.evaluate.html.figure_data_uri` turns it into an inline PNG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

BLUE, ORANGE, GREEN, RED, GREY = "#0969da", "#bc4c00", "#1a7f37", "#cf222e", "#8c959f"
MAX_BARS = 40  # beyond this a bar chart is unreadable; the table still lists everything


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def subject_bar_chart(subjects: Mapping[str, Mapping[str, float]], metric: str,
                      title: str) -> Figure | None:
    """Horizontal bars of ``metric`` per subject (sorted by value; at most MAX_BARS), with
    the item count of each subject after its bar."""
    rows = [(s, m[metric], int(m.get("prompts", 0))) for s, m in subjects.items() if metric in m]
    if not rows:
        return None
    rows.sort(key=lambda r: (r[1], r[0]))
    rows = rows[-MAX_BARS:]
    fig = Figure(figsize=(5.6, max(1.6, 0.32 * len(rows) + 0.9)))
    ax = fig.add_subplot()
    y = range(len(rows))
    ax.barh(list(y), [r[1] for r in rows], color=BLUE, height=0.7)
    ax.set_yticks(list(y), [_short(r[0]) for r in rows], fontsize=9)
    for i, (_, value, n) in enumerate(rows):
        ax.text(min(value, 1.0) + 0.01, i, f"{value:.2f} (n={n})", va="center", fontsize=8)
    ax.set_xlim(0, 1.18)
    ax.set_xlabel(metric)
    ax.set_title(title, fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    return fig


def length_histogram(samples: Sequence[Mapping[str, Any]], bins: int = 30) -> Figure | None:
    """Response lengths (tokens), correct and wrong samples stacked; truncated ones counted
    in the title."""
    right = [s["response_length"] for s in samples if s["correct"] >= 1.0]
    wrong = [s["response_length"] for s in samples if s["correct"] < 1.0]
    if not right and not wrong:
        return None
    fig = Figure(figsize=(5.6, 3.2))
    ax = fig.add_subplot()
    ax.hist([right, wrong], bins=bins, stacked=True, color=[GREEN, RED],
            label=[f"correct ({len(right)})", f"wrong ({len(wrong)})"])
    truncated = sum(bool(s.get("truncated")) for s in samples)
    ax.set_title(f"Response length ({truncated} of {len(samples)} truncated)", fontsize=11)
    ax.set_xlabel("tokens")
    ax.set_ylabel("samples")
    ax.legend(fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return fig


def paired_bar_chart(labels: Sequence[str], a: Sequence[float | None],
                     b: Sequence[float | None], names: tuple[str, str], metric: str,
                     title: str) -> Figure | None:
    """Side-by-side horizontal bars of two runs per label (missing values drawn as 0 and
    marked ``n/a``); at most MAX_BARS labels."""
    if not labels:
        return None
    labels, a, b = list(labels)[:MAX_BARS], list(a)[:MAX_BARS], list(b)[:MAX_BARS]
    fig = Figure(figsize=(5.6, max(1.8, 0.45 * len(labels) + 1.0)))
    ax = fig.add_subplot()
    ys = list(range(len(labels)))
    height = 0.38
    for offset, values, color, name in ((-height / 2, a, GREY, names[0]),
                                        (height / 2, b, BLUE, names[1])):
        ax.barh([y + offset for y in ys], [v if v is not None else 0.0 for v in values],
                height=height, color=color, label=name)
        for y, v in zip(ys, values, strict=True):
            ax.text((v or 0.0) + 0.01, y + offset, "n/a" if v is None else f"{v:.2f}",
                    va="center", fontsize=7)
    ax.set_yticks(ys, [_short(x) for x in labels], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.15)
    ax.set_xlabel(metric)
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=9, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return fig
