"""The training report: training curves, the token-credit view, the before/after evaluation.

    build_training_report(metrics_files, round_tables, tokenizer, output_html,
                          eval_before=None, eval_after=None, config=None) -> dict[str, int]

CLI: ``python -m rlsd.report --run DIR`` (layout in :mod:`rlsd.report.run_folder`). The
token-credit view recomputes the RLSD weights w_t of a few responses per round from the
round's rollouts, rewards and scores (:mod:`rlsd.report.token_credit`).
"""

from rlsd.report.config import ReportConfig
from rlsd.report.curves import PANELS, read_metrics
from rlsd.report.errors import ReportError
from rlsd.report.from_checkpoint import checkpoint_metrics, report_from_checkpoint
from rlsd.report.run_folder import RunLayout, discover_run, load_round_tables
from rlsd.report.token_credit import (
    ResponseCredit,
    RoundTables,
    credit_color,
    decode_tokens,
    response_credit,
    round_credit,
)
from rlsd.report.tokenizer import fetch_checkpoint_tokenizer, load_tokenizer
from rlsd.report.training import REPORT_FILE, build_training_report

__all__ = [
    "PANELS", "REPORT_FILE", "ReportConfig", "ReportError", "ResponseCredit", "RoundTables",
    "RunLayout", "build_training_report", "checkpoint_metrics", "credit_color", "decode_tokens",
    "discover_run", "fetch_checkpoint_tokenizer", "load_round_tables", "load_tokenizer",
    "read_metrics", "report_from_checkpoint", "response_credit", "round_credit",
]
