"""Small building blocks of the self-contained HTML and Markdown reports.

Every report is ONE file: styles inline, plots as ``data:image/png;base64`` URIs, no scripts
and no network fetches, so it opens the same from a laptop, an S3 console download, or a KFP
artifact. Every text that comes from data (responses, subjects, token strings) goes through
:func:`esc`.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from matplotlib.figure import Figure

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       color: #1f2328; background: #ffffff; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 16px; margin: 20px 0 6px; }
p.sub, .muted { color: #57606a; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.up { color: #116329; background: #dafbe1; }
td.down { color: #82071e; background: #ffebe9; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.plots figure { margin: 0; border: 1px solid #d0d7de; border-radius: 6px; padding: 6px;
                box-sizing: border-box; max-width: calc(50% - 8px); }
.plots img { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 13px; color: #57606a; padding: 2px 4px; }
pre.response { white-space: pre-wrap; word-break: break-word; background: #f6f8fa;
               border: 1px solid #d0d7de; border-radius: 6px; padding: 8px; font-size: 13px;
               max-height: 320px; overflow: auto; }
.note { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 6px 10px; }
"""


def esc(value: Any) -> str:
    """HTML-escaped text of ``value`` (quotes too, so it is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _small(value: float, digits: int) -> bool:
    """Whether ``value`` is non-zero but too small to keep 2 significant figures in ``digits``
    decimals (a learning rate of 1e-6 would read ``0.0000``)."""
    return value != 0 and math.isfinite(value) and abs(value) < 10.0 ** (1 - digits)


def fmt(value: Any, digits: int = 4) -> str:
    """Numbers with ``digits`` decimals (whole numbers above 1 as integers; non-zero values
    too small for 2 significant figures there in scientific notation: ``1e-06``, ``2.5e-05``);
    ``-`` for missing or NaN."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    # Counts (4.0 items) read as integers; 0.0 and 1.0 are usually rates, so keep decimals.
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()
                                  and 1 < abs(value) < 1e15):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits - 1}g}" if _small(value, digits) else f"{value:.{digits}f}"
    return str(value)


def fmt_delta(value: float | None, digits: int = 4) -> str:
    """A signed difference (``+0.0500``; a tiny one in scientific notation, ``+1e-06``);
    ``-`` when either side is missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.{digits - 1}g}" if _small(value, digits) else f"{value:+.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
          cell_classes: Iterable[Sequence[str]] | None = None) -> str:
    """An HTML table; cells are escaped; numbers get the ``num`` class (right-aligned)."""
    classes = list(cell_classes) if cell_classes is not None else None
    out = ["<table><thead><tr>", *(f"<th>{esc(h)}</th>" for h in headers), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        out.append("<tr>")
        for j, cell in enumerate(row):
            extra = classes[i][j] if classes is not None and j < len(classes[i]) else ""
            numeric = isinstance(cell, (int, float)) and not isinstance(cell, bool)
            css = " ".join(c for c in ("num" if numeric else "", extra) if c)
            text = fmt(cell) if numeric else esc(cell)
            out.append(f'<td class="{css}">{text}</td>' if css else f"<td>{text}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def md_cell(value: Any) -> str:
    """A Markdown table cell: numbers formatted, pipes and newlines neutralised."""
    text = fmt(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else ("" if value is None else str(value))
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """Lines of a Markdown (GFM) table."""
    lines = ["| " + " | ".join(md_cell(h) for h in headers) + " |",
             "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return lines


def figure_data_uri(fig: Figure, dpi: int = 100) -> str:
    """``fig`` as a PNG ``data:`` URI (rendered by the Agg canvas; no pyplot, no display)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def figure_html(data_uri: str, alt: str, caption: str | None = None) -> str:
    """A ``<figure>`` with the inline image (``alt``: its text for screen readers and tests)
    and, when given, a caption under it (charts carry their own titles)."""
    below = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{data_uri}" alt="{esc(alt)}">{below}</figure>'


def inline_code(text: str) -> str:
    """Escaped ``text`` with Markdown-style `code` spans as ``<code>`` (titles are shared with
    the Markdown report)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(text))


def page(title: str, body: str, extra_style: str = "") -> str:
    """A complete HTML document around ``body``."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{STYLE}{extra_style}</style></head>"
            f"<body><main>{body}</main></body></html>\n")
