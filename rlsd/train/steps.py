"""The optimizer steps of one round on a built engine: what the staged trainer and the fused
loop both run (one code path; design.md, "Two ways to run the rounds").

For each step of the plan (:mod:`rlsd.train.plan`): λ from the schedule at the global step,
micro-batch losses that add up to the token-mean loss of the mini-batch over all ranks
(:func:`rlsd.train.loss.micro_batch_loss`), one optimizer step, one metrics record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from rlsd.algorithms import AlgorithmConfig
from rlsd.prompting import EncodedPrompt
from rlsd.train.loss import make_micro_batch, micro_batch_loss
from rlsd.train.metrics import MetricsWriter, reduce_weighted
from rlsd.train.plan import RoundPlan
from rlsd.train.samples import RoundData

#: Per-token metrics averaged over the mini-batch's valid tokens (all ranks).
STEP_METRICS = ("clip_frac", "clip_frac_low", "clip_frac_high", "dual_clip_frac", "approx_kl",
                "ratio_mean", "entropy", "abs_token_advantage", "rlsd_weight_mean",
                "rlsd_weight_clip_low", "rlsd_weight_clip_high", "teacher_logprob_gap")
_RLSD_ONLY = ("rlsd_weight_mean", "rlsd_weight_clip_low", "rlsd_weight_clip_high",
              "teacher_logprob_gap")

Key = tuple[str, int]


@dataclass
class StepsResult:
    """What a round's steps leave behind: the last step's record, the global step after
    them, and (when asked) the trainer's own s_t per response, ``{key: (ids, logprobs)}``."""

    record: dict[str, Any]
    global_step: int
    student: dict[Key, tuple[list[int], list[float]]] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)  # every step's, in order


def set_micro_batches(engine: Any, micro_batches_per_step: int, world_size: int) -> None:
    """Point DeepSpeed's gradient accumulation at this round's micro-batches per step (the
    plan's width varies from round to round in a resident engine)."""
    if engine.gradient_accumulation_steps() != micro_batches_per_step:
        engine.set_train_batch_size(micro_batches_per_step * world_size)


def run_steps(
    engine: Any,
    data: RoundData,
    plan: RoundPlan,
    algo: AlgorithmConfig,
    *,
    global_step: int,
    round_index: int,
    learning_rate: float,
    pad_id: int,
    device: torch.device,
    world_size: int,
    vlm_prompts: dict[str, EncodedPrompt] | None = None,
    writer: MetricsWriter | None = None,
    keep_student: bool = False,
) -> StepsResult:
    """Take the round's optimizer steps on this rank (every rank calls it: collective).

    ``global_step`` is the step count before the round (λ's schedule reads it); every step's
    record (reward, accuracy, loss, grad norm, clip fractions, RLSD weights, tokens/s) goes
    to ``writer`` (rank 0's) and the last one is returned. ``keep_student`` records the
    trainer's own s_t of every response this rank trains on (on-policy RLSD without a
    behaviour pass keeps them for the report).
    """
    set_micro_batches(engine, plan.micro_batches_per_step, world_size)
    M = plan.micro_batches_per_step
    record: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    student: dict[Key, tuple[list[int], list[float]]] = {}
    for step_plan in plan.steps:
        lam = algo.lam_at(global_step)
        started = time.perf_counter()
        sums: dict[str, float] = {}
        loss_sum = 0.0
        weight_total = 0.0
        tokens_seen = 0
        for indices in step_plan.micro_batches:
            real = bool(indices)
            # An empty micro-batch still runs forward and backward (weight 0) so that every
            # rank makes the same collective calls.
            batch_samples = [data.samples[i] for i in indices] if real else [data.samples[0]]
            prompts = [vlm_prompts[s.prompt_id] for s in batch_samples] if vlm_prompts else None
            mb = make_micro_batch(batch_samples, pad_id, prompts)
            mb.batch = mb.batch.to(device)
            loss, metrics = micro_batch_loss(engine, mb, algo, lam,
                                             num_tokens=max(1, step_plan.global_tokens))
            # DeepSpeed divides by gradient_accumulation_steps and averages over ranks;
            # undo both so the step's gradient is the token-mean over the whole mini-batch.
            engine.backward(loss * (world_size * M if real else 0.0))
            engine.step()
            if real and keep_student:
                for row, s in zip(mb.current_logprobs.float().cpu(), batch_samples, strict=True):
                    student[(s.prompt_id, s.sample_index)] = (
                        s.response_ids, row[: len(s.response_ids)].tolist())
            if real:
                n = float(mb.batch.response_mask.sum())
                weight_total += n
                tokens_seen += int(mb.batch.attention_mask.sum())
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0.0) + v * n
                loss_sum += loss.item()  # partial sums of the mini-batch's token-mean loss
        global_step += 1
        local = {k: v / weight_total for k, v in sums.items()} if weight_total else {}
        merged = reduce_weighted({k: local.get(k, 0.0) for k in STEP_METRICS}, weight_total,
                                 world_size)
        totals = torch.tensor([float(tokens_seen), loss_sum], dtype=torch.float64)
        if world_size > 1:
            dist.all_reduce(totals)
        elapsed = time.perf_counter() - started
        grad_norm = engine.get_global_grad_norm()
        record = {
            "step": global_step, "round": round_index, "lambda": lam,
            "reward_mean": data.reward_mean, "accuracy_mean": data.accuracy_mean,
            "zero_advantage_group_fraction": data.zero_advantage_group_fraction,
            "grad_norm": float(grad_norm) if grad_norm is not None else float("nan"),
            "loss": float(totals[1]),
            "tokens_per_s": float(totals[0]) / max(elapsed, 1e-9),
            "learning_rate": learning_rate, "samples": len(data.samples),
            **merged,
        }
        if not algo.needs_teacher:
            for k in _RLSD_ONLY:
                record.pop(k, None)
        records.append(record)
        if writer is not None:
            writer.write(record)
    return StepsResult(record, global_step, student, records)
