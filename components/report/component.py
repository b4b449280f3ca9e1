"""The run's training report (design.md, "Reports"): :func:`rlsd.report.report_from_checkpoint`.

The pipeline runs it once, at the end, on the final policy (whose checkpoint carries every
round's metrics in ``metrics_history.jsonl``), the last round's merged tables and the base and
final evaluation folders.
"""

from kfp.dsl import HTML, Dataset, Input, Model, Output

from components._shared.image import build_component


def report(
    final_policy: Input[Model],
    training_report: Output[HTML],
    rollouts: Input[Dataset] = None,
    rewards: Input[Dataset] = None,
    scores: Input[Dataset] = None,
    base_evaluation: Input[Dataset] = None,
    final_evaluation: Input[Dataset] = None,
    eps_w: float = 0.2,
    scale_by_std: bool = True,
    responses: int = 6,
    title: str = "",
):
    """Report: one HTML page with the before/after evaluation table (base vs final policy),
    the training curves of every round (reward, accuracy, RLSD weight statistics, clip
    fractions, KL, entropy, length, λ, loss) and the token-credit view: responses of the
    round's tables with each token shaded by its RLSD weight w_t. `final_policy` must be a
    checkpoint the update component wrote; the tables are one round's merge outputs (GRPO's
    empty scores table gets a note instead of the view); the evaluations are the evaluate
    component's `results` folders. `eps_w` and `scale_by_std` must be the run's own."""
    from components._shared.model_pointer import KIND_CHECKPOINT, read_pointer
    from rlsd.report import ReportConfig, report_from_checkpoint

    pointer = read_pointer(final_policy.path)
    if pointer.kind != KIND_CHECKPOINT:
        raise ValueError(f"report: final_policy is a {pointer.kind} ({pointer.uri}), not a "
                         "checkpoint the update component wrote: it has no training metrics")
    config = ReportConfig(responses=responses, eps_w=eps_w, scale_by_std=scale_by_std,
                          title=title or None)
    counts = report_from_checkpoint(
        pointer.uri, training_report.path,
        rollouts=rollouts.path if rollouts else None,
        rewards=rewards.path if rewards else None,
        scores=scores.path if scores else None,
        eval_before=base_evaluation.path if base_evaluation else None,
        eval_after=final_evaluation.path if final_evaluation else None,
        round_label=f"round {pointer.round}", config=config)
    training_report.metadata.update({"policy": pointer.uri, "rounds": pointer.round + 1,
                                     "steps": counts["steps"],
                                     "responses_shown": counts["responses"]})
    print(f"report: {counts['steps']} optimizer steps over {pointer.round + 1} round(s), "
          f"{counts['responses']} responses shown token by token -> {training_report.path}")


component = build_component(report)
