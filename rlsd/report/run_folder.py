"""The run-folder conventions ``python -m rlsd.report --run DIR`` reads (a local folder).

::

    DIR/
      round-0/                  one folder per round: round-<N>, round_<N> or round<N>
        rollouts.parquet        the round's tables (rlsd.schemas); all three are needed for
        rewards.parquet         the token-credit view of that round, which is skipped
        scores.parquet          without them
        policy/metrics.jsonl    the update's per-step metrics, in the checkpoint folder
                                rlsd.train writes (round-<N>/metrics.jsonl also accepted)
        policy/tokenizer*       the checkpoint's tokenizer files: decode the token view
      round-1/ ...
      eval-base/                rlsd.evaluate output of the base policy   (optional)
      eval-final/               rlsd.evaluate output of the final policy  (optional)

This is the layout ``python -m rlsd.demo`` writes (``round-0/{rollouts,rewards,scores}.parquet``
and ``round-0/policy``). Rounds are ordered by their number. Folders on S3 are not listed:
download the run first, or call :func:`rlsd.report.build_training_report` with explicit
metrics files and tables (it reads ``s3://`` URIs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from rlsd.report.errors import ReportError
from rlsd.report.from_checkpoint import with_trainer_logprobs
from rlsd.report.token_credit import RoundTables
from rlsd.storage import read_table

ROUND_DIR = re.compile(r"round[-_]?(\d+)")
TABLE_FILES = {"rollouts": "rollouts.parquet", "rewards": "rewards.parquet",
               "scores": "scores.parquet"}
METRICS_PLACES = ("policy/metrics.jsonl", "metrics.jsonl")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
EVAL_BEFORE, EVAL_AFTER = "eval-base", "eval-final"


@dataclass
class RoundFolder:
    """One round of the run: its number, folder, metrics file and tables (when present)."""

    index: int
    path: Path
    metrics: Path | None
    tables: dict[str, Path] = field(default_factory=dict)

    @property
    def has_tables(self) -> bool:
        return set(self.tables) == set(TABLE_FILES)


@dataclass
class RunLayout:
    """What :func:`discover_run` found in a run folder."""

    root: Path
    rounds: list[RoundFolder]
    eval_before: Path | None
    eval_after: Path | None
    tokenizer_dir: Path | None

    @property
    def metrics_files(self) -> list[Path]:
        return [r.metrics for r in self.rounds if r.metrics is not None]


def discover_run(run_dir: str | Path) -> RunLayout:
    """Find the rounds, metrics, tables, evaluations and tokenizer of a run folder.

    Raises :class:`ReportError` when the folder does not exist or holds no round folder.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise ReportError(f"run folder {root} does not exist")
    rounds = []
    for child in root.iterdir():
        match = ROUND_DIR.fullmatch(child.name)
        if not (child.is_dir() and match):
            continue
        metrics = next((child / p for p in METRICS_PLACES if (child / p).is_file()), None)
        tables = {k: child / f for k, f in TABLE_FILES.items() if (child / f).is_file()}
        rounds.append(RoundFolder(int(match.group(1)), child, metrics, tables))
    if not rounds:
        raise ReportError(f"{root} holds no round folder (round-<N>/); see rlsd.report.run_folder "
                          "for the layout")
    rounds.sort(key=lambda r: r.index)
    tokenizer_dir = None
    for r in reversed(rounds):
        policy = r.path / "policy"
        if any((policy / f).is_file() for f in TOKENIZER_FILES):
            tokenizer_dir = policy
            break
    before, after = root / EVAL_BEFORE, root / EVAL_AFTER
    return RunLayout(root, rounds, before if (before / "metrics.json").is_file() else None,
                     after if (after / "metrics.json").is_file() else None, tokenizer_dir)


def load_round_tables(round_folder: RoundFolder) -> RoundTables:
    """The rollouts, rewards and scores tables of a round (all three must exist)."""
    if not round_folder.has_tables:
        missing = sorted(set(TABLE_FILES) - set(round_folder.tables))
        raise ReportError(f"{round_folder.path} lacks {[TABLE_FILES[m] for m in missing]}")
    tables = {k: read_table(str(p)) for k, p in round_folder.tables.items()}
    policy = round_folder.path / "policy"
    if policy.is_dir():  # s_t the trainer kept when scoring skipped the behaviour pass
        tables["scores"] = with_trainer_logprobs(tables["scores"], str(policy))
    return RoundTables(tables["rollouts"], tables["rewards"], tables["scores"],
                       label=f"round {round_folder.index}")
