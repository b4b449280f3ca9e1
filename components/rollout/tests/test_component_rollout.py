"""Rollout, score and evaluate on a tiny random model under kfp.local, chained as in a round.

The three stages that load a model share one test pipeline to pay the subprocess start-ups
once. The default model end to end is ``tests/pipeline/test_pipeline_run_local.py``.
"""

# No `from __future__ import annotations`: KFP reads the test pipeline's real types.
import json
from pathlib import Path

import pytest
from kfp import dsl
from kfp.dsl import Dataset

from components.base_model.component import component as base_model
from components.evaluate.component import component as evaluate
from components.rollout.component import component as rollout
from components.score.component import component as score
from rlsd.schemas import response_digest
from rlsd.storage import read_table


@pytest.mark.slow
def test_round_window_rollout_then_score_then_evaluate(kfp_local, tiny_model_dir,
                                                       prompts_file):
    prompts = prompts_file(["0", "1", "2", "3", "4"])

    @dsl.pipeline
    def tiny_round() -> Dataset:
        policy = base_model(model=str(tiny_model_dir)).outputs["policy"]
        table = dsl.importer(artifact_uri=str(prompts), artifact_class=Dataset).output
        sampled = rollout(policy=policy, prompts=table, round_index=1, prompts_per_round=2,
                          samples_per_prompt=2, max_new_tokens=4, seed=7)
        score(policy=policy, teacher=policy, rollouts=sampled.outputs["rollouts"],
              prompts=table)
        evaluate(policy=policy, prompts=table, label="tiny", max_prompts=3,
                 max_new_tokens=4)
        return sampled.outputs["rollouts"]

    out = tiny_round().output
    run_dir = Path(out.path).parents[1]
    rollouts = read_table(out.path)
    # Round 1 of 2 prompts per round: table rows 2 and 3, two samples each.
    assert sorted(set(rollouts["prompt_id"].to_pylist())) == ["p2", "p3"]
    assert rollouts.num_rows == 4 and max(rollouts["response_length"].to_pylist()) <= 4
    assert out.metadata["samples"] == 4 and out.metadata["policy_step"] == 0
    assert rollouts["response_digest"].to_pylist() == [
        response_digest(ids) for ids in rollouts["response_token_ids"].to_pylist()]

    scores = read_table(run_dir / "score" / "scores")
    assert scores["response_digest"].to_pylist() == rollouts["response_digest"].to_pylist()
    assert [len(x) for x in scores["teacher_logprobs"].to_pylist()] \
        == rollouts["response_length"].to_pylist()

    results = json.loads((run_dir / "evaluate" / "results" / "results.json").read_text())
    assert [r["prompt_id"] for r in results] == ["p0", "p1", "p2"]
    assert (run_dir / "evaluate" / "report").read_text().startswith(
        f"**tiny** policy `{tiny_model_dir}` (trainer round -1, step 0)")
