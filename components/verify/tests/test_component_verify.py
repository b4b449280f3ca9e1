"""The verify component under kfp.local on hand-written responses."""

# No `from __future__ import annotations`: KFP reads the test pipelines' real types.
import pytest
from kfp import dsl
from kfp.dsl import Dataset

from components.verify.component import component as verify
from rlsd.schemas import ROLLOUT_SCHEMA
from rlsd.storage import read_table


def test_rewards_are_accuracy_and_format(kfp_local, prompts_file, table_file, rollout_row):
    prompts = prompts_file(["5", "12"])
    rollouts = table_file("rollouts", [
        rollout_row("p0", 0, "<thought>2+3</thought><answer>5</answer>", [1]),  # right, format
        rollout_row("p0", 1, "<answer>5</answer>", [2]),  # right, no <thought>
        rollout_row("p1", 0, "<thought>hm</thought><answer>13</answer>", [3]),  # wrong, format
        rollout_row("p1", 1, "no idea", [4]),  # nothing to grade
    ], ROLLOUT_SCHEMA)

    @dsl.pipeline
    def verify_only() -> Dataset:
        p = dsl.importer(artifact_uri=str(prompts), artifact_class=Dataset)
        r = dsl.importer(artifact_uri=str(rollouts), artifact_class=Dataset)
        return verify(prompts=p.output, rollouts=r.output).outputs["rewards"]

    out = verify_only().output
    rewards = read_table(out.path).to_pylist()
    got = {(r["prompt_id"], r["sample_index"]): round(r["reward"], 4) for r in rewards}
    assert got == {("p0", 0): 1.0, ("p0", 1): 0.9, ("p1", 0): 0.1, ("p1", 1): 0.0}
    assert out.metadata["items"] == 4
    assert out.metadata["reward_mean"] == pytest.approx(0.5)
    assert out.metadata["accuracy_mean"] == pytest.approx(0.5)


def test_unknown_verifier_fails_before_grading(kfp_local, prompts_file, table_file,
                                               rollout_row, capsys):
    prompts = prompts_file(["5"], verifier="chemistry")
    rollouts = table_file("rollouts", [rollout_row("p0", 0, "<answer>5</answer>", [1])],
                          ROLLOUT_SCHEMA)

    @dsl.pipeline
    def verify_only():
        p = dsl.importer(artifact_uri=str(prompts), artifact_class=Dataset)
        r = dsl.importer(artifact_uri=str(rollouts), artifact_class=Dataset)
        verify(prompts=p.output, rollouts=r.output)

    with pytest.raises(RuntimeError):
        verify_only()
    assert "unknown verifier(s) ['chemistry']" in capsys.readouterr().out
