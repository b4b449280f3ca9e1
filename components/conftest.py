"""Fixtures of the component tests: kfp.local and tiny, hand-built stage tables.

``kfp_local`` initialises kfp.local with ``SubprocessRunner(use_venv=False)`` (each task is a
subprocess of this interpreter, the way ``python -m pipeline.run_local`` runs them) under a
fresh pipeline root. kfp.local cannot pass a file to a component's input artifact directly,
so a test wraps the component in a small pipeline and brings files in with ``dsl.importer``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa
import pytest

from rlsd.data import PROMPT_SCHEMA
from rlsd.schemas import REWARD_SCHEMA, ROLLOUT_SCHEMA, SCORE_SCHEMA, response_digest
from rlsd.storage import write_table


@pytest.fixture
def kfp_local(tmp_path: Path) -> Path:
    """kfp.local on this interpreter; returns the pipeline root."""
    from kfp import local

    warnings.filterwarnings("ignore", message=r".*have no effect in the current local runner")
    warnings.filterwarnings("ignore", message=r".*non-Python base image")
    root = tmp_path / "kfp"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    return root


def _prompt_rows(answers: Sequence[str], verifier: str) -> list[dict]:
    return [{"id": f"p{i}", "prompt": f"What is {a} + 0?", "messages": None, "answer": a,
             "solution": None, "images": None, "verifier": verifier, "meta": None,
             "source": "test"} for i, a in enumerate(answers)]


@pytest.fixture
def prompts_file(tmp_path: Path) -> Callable[..., Path]:
    """``prompts_file(["5", "7"], verifier="numeric")`` -> a prompt table p0, p1, ..."""
    def make(answers: Sequence[str], verifier: str = "numeric", name: str = "prompts") -> Path:
        path = tmp_path / f"{name}.parquet"
        write_table(pa.Table.from_pylist(_prompt_rows(answers, verifier), schema=PROMPT_SCHEMA),
                    path)
        return path
    return make


def _rollout_row(prompt_id: str, sample_index: int, text: str, tokens: Sequence[int]) -> dict:
    return {"prompt_id": prompt_id, "sample_index": sample_index,
            "prompt_token_ids": [1, 2, 3], "response_token_ids": list(tokens),
            "response_text": text, "finish_reason": "stop", "prompt_length": 3,
            "response_length": len(tokens), "sampler_logprobs": None,
            "response_digest": response_digest(tokens), "policy_step": 0}


@pytest.fixture
def rollout_row() -> Callable[[str, int, str, Sequence[int]], dict]:
    """``rollout_row(prompt_id, sample_index, text, token_ids)`` -> a ROLLOUT_SCHEMA row."""
    return _rollout_row


@pytest.fixture
def table_file(tmp_path: Path) -> Callable[[str, list[dict], pa.Schema], Path]:
    """``table_file(name, rows, schema)`` -> a parquet file under tmp_path."""
    def make(name: str, rows: list[dict], schema: pa.Schema) -> Path:
        path = tmp_path / f"{name}.parquet"
        write_table(pa.Table.from_pylist(rows, schema=schema), path)
        return path
    return make


@pytest.fixture
def round_shard(table_file) -> Callable[..., dict[str, Path]]:
    """``round_shard(name, {prompt_id: [reward, ...]})`` -> rollouts, rewards and scores files
    of one shard: sample i of prompt p has tokens [10 + i, 20 + i] (digests consistent)."""
    def make(name: str, groups: dict[str, list[float]]) -> dict[str, Path]:
        rollouts, rewards, scores = [], [], []
        for pid, group in groups.items():
            for i, reward in enumerate(group):
                tokens = [10 + i, 20 + i]
                rollouts.append(_rollout_row(pid, i, f"answer {i}", tokens))
                rewards.append({"prompt_id": pid, "sample_index": i, "reward": reward,
                                "accuracy": float(reward >= 0.9), "format": 1.0,
                                "reason": "test"})
                scores.append({"prompt_id": pid, "sample_index": i,
                               "response_digest": response_digest(tokens),
                               "response_length": 2, "old_logprobs": [-1.0, -2.0],
                               "teacher_logprobs": [-0.5, -1.5], "teacher_step": 0})
        return {"rollouts": table_file(f"{name}-rollouts", rollouts, ROLLOUT_SCHEMA),
                "rewards": table_file(f"{name}-rewards", rewards, REWARD_SCHEMA),
                "scores": table_file(f"{name}-scores", scores, SCORE_SCHEMA)}
    return make


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama with the default model's tokenizer (rlsd.models.tiny)."""
    from rlsd.models import ensure_default_tokenizer
    from rlsd.models.tiny import build_tiny_causal_lm

    ensure_default_tokenizer()
    return build_tiny_causal_lm(tmp_path_factory.mktemp("component-models") / "tiny-lm", seed=0)
