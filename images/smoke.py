"""What ``images/check.sh`` runs inside the built component image (fed on stdin to
``python -``, so the image needs nothing but what it was built with).

1. data prep on the built-in synthetic data: ``python -m rlsd.data --output DIR``; checks that
   train.parquet, eval.parquet and summary.json are there, the train split is not empty and
   nothing was rejected;
2. one verification: writes a rollouts table for the first train prompts (sample 0 the right
   answer in the paper's format, sample 1 a wrong one), runs ``python -m rlsd.verify
   --prompts train.parquet --rollouts rollouts.parquet --output rewards.parquet`` and checks
   every reward (right: 1.0, wrong answer in the right format: the format weight, 0.1).

Prints the stages' own output, then one line ``RLSD_IMAGE_CHECK {json}`` with what it found
(versions inside the image, row counts, rewards, seconds per stage). Exit status 0 when every
check passed, 1 otherwise (the message says which). Runs on the host too:
``python images/smoke.py [WORKDIR]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: How many train prompts get a right and a wrong rollout.
PROMPTS = 3
#: Reward of a wrong answer in the right format: the format weight of the default settings.
FORMAT_ONLY_REWARD = 0.1


class CheckFailed(RuntimeError):
    """One check inside the image failed; the message says which and what was found."""


def run_stage(name: str, argv: list[str], timings: dict[str, float]) -> None:
    """Run ``python -m <argv>``, echo its output, record its seconds; :class:`CheckFailed`
    when it exits non-zero."""
    command = [sys.executable, "-m", *argv]
    print(f"+ {' '.join(command)}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, check=False)
    timings[name] = round(time.perf_counter() - started, 2)
    if done.returncode != 0:
        raise CheckFailed(f"{name} ({' '.join(argv[:1])}) exited with status {done.returncode}")


def versions() -> dict[str, str]:
    """Versions of the packages the components need, as installed here."""
    import importlib.metadata as md

    found = {"python": sys.version.split()[0]}
    for package in ("rlsd-kubeflow", "torch", "deepspeed", "transformers", "kfp", "pyarrow"):
        try:
            found[package] = md.version(package)
        except md.PackageNotFoundError:
            found[package] = "missing"
    return found


def write_rollouts(prompts: Any, path: Path) -> list[tuple[str, int, float]]:
    """A rollouts table for the first :data:`PROMPTS` prompts; returns the expected
    ``(prompt_id, sample_index, reward)`` of each row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = prompts.slice(0, PROMPTS).to_pylist()
    if len(rows) < PROMPTS:
        raise CheckFailed(f"train split has {len(rows)} prompt(s), expected >= {PROMPTS}")
    ids, samples, texts, expected = [], [], [], []
    for row in rows:
        right = str(row["answer"]).strip()
        wrong = str(int(float(right)) + 1) if right.lstrip("-").isdigit() else right + "0"
        for index, (answer, reward) in enumerate(((right, 1.0), (wrong, FORMAT_ONLY_REWARD))):
            ids.append(row["id"])
            samples.append(index)
            texts.append(f"<thought>I work it out.</thought><answer>{answer}</answer>")
            expected.append((row["id"], index, reward))
    table = pa.table({"prompt_id": pa.array(ids, pa.string()),
                      "sample_index": pa.array(samples, pa.int32()),
                      "response_text": pa.array(texts, pa.string())})
    pq.write_table(table, path)
    return expected


def check(workdir: Path) -> dict[str, Any]:
    """Run both stages under ``workdir``; returns the findings or raises :class:`CheckFailed`."""
    import pyarrow.parquet as pq

    timings: dict[str, float] = {}
    data = workdir / "data"
    run_stage("data_prep", ["rlsd.data", "--output", str(data)], timings)
    for name in ("train.parquet", "eval.parquet", "summary.json"):
        if not (data / name).is_file():
            raise CheckFailed(f"data prep wrote no {name} in {data}")
    summary = json.loads((data / "summary.json").read_text())
    train = pq.read_table(data / "train.parquet")
    evaluation = pq.read_table(data / "eval.parquet")
    if train.num_rows == 0 or evaluation.num_rows == 0:
        raise CheckFailed(f"data prep wrote {train.num_rows} train and {evaluation.num_rows} "
                          "eval rows; both must be > 0")
    rejects = data / "rejects.jsonl"
    rejected = len(rejects.read_text().splitlines()) if rejects.is_file() else 0
    if rejected:
        raise CheckFailed(f"data prep rejected {rejected} row(s) of the built-in data "
                          f"({rejects})")

    rollouts = workdir / "rollouts.parquet"
    expected = write_rollouts(train, rollouts)
    rewards_path = workdir / "rewards.parquet"
    run_stage("verify", ["rlsd.verify", "--prompts", str(data / "train.parquet"),
                         "--rollouts", str(rollouts), "--output", str(rewards_path)], timings)
    rewards = pq.read_table(rewards_path).to_pylist()
    got = {(r["prompt_id"], r["sample_index"]): r for r in rewards}
    wrong = []
    for prompt_id, index, reward in expected:
        row = got.get((prompt_id, index))
        if row is None or abs(row["reward"] - reward) > 1e-6:
            wrong.append(f"{prompt_id}#{index}: expected {reward}, got "
                         f"{None if row is None else (row['reward'], row['reason'])}")
    if wrong or len(rewards) != len(expected):
        raise CheckFailed(f"verify: {len(rewards)} reward row(s) for {len(expected)} "
                          f"rollouts; wrong: {wrong}")
    return {"versions": versions(), "train_rows": train.num_rows,
            "eval_rows": evaluation.num_rows, "rejected": rejected,
            "summary_keys": sorted(summary),
            "rewards": [round(r["reward"], 4) for r in rewards],
            "seconds": timings}


def main(argv: list[str]) -> int:
    """Run the checks (in ``argv[0]`` if given, else a temporary folder); exit status."""
    with tempfile.TemporaryDirectory(prefix="rlsd-image-check-") as scratch:
        workdir = Path(argv[0]) if argv else Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            found = check(workdir)
        except CheckFailed as exc:
            print(f"RLSD_IMAGE_CHECK_FAILED {exc}", flush=True)
            return 1
    print("RLSD_IMAGE_CHECK " + json.dumps(found, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
