"""The loss of one micro-batch: token advantages (design.md) into the PPO surrogate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from rlsd.algorithms import AlgorithmConfig, policy_loss, rlsd_weights, token_advantages
from rlsd.prompting import EncodedPrompt
from rlsd.sequences import SequenceBatch, collate, response_logprobs
from rlsd.train.samples import TrainSample


def _padded(rows: Sequence[Sequence[float] | None], width: int) -> torch.Tensor:
    out = torch.zeros((len(rows), width), dtype=torch.float32)
    for i, row in enumerate(rows):
        if row:
            out[i, : len(row)] = torch.tensor(row, dtype=torch.float32)
    return out


@dataclass
class MicroBatch:
    batch: SequenceBatch
    advantages: torch.Tensor  # [B] group advantages A_i
    old_logprobs: torch.Tensor | None  # [B, R]
    teacher_logprobs: torch.Tensor | None  # [B, R]
    # Set by micro_batch_loss: the current policy's log-probs, detached ([B, R]); with one
    # optimizer step per round these are the behaviour log-probs s_t.
    current_logprobs: torch.Tensor | None = None


def make_micro_batch(
    samples: Sequence[TrainSample],
    pad_id: int,
    prompts: Sequence[EncodedPrompt] | None = None,
) -> MicroBatch:
    """Pad samples into model inputs. ``prompts`` (with image tensors) replaces the stored
    prompt ids for VLMs; text models rebuild prompts from the rollout's token ids."""
    encoded = list(prompts) if prompts is not None else [
        EncodedPrompt(input_ids=s.prompt_ids) for s in samples]
    batch = collate(encoded, [s.response_ids for s in samples], pad_id)
    width = batch.response_ids.shape[1]
    has_old = all(s.old_logprobs is not None for s in samples)
    has_teacher = all(s.teacher_logprobs is not None for s in samples)
    return MicroBatch(
        batch=batch,
        advantages=torch.tensor([s.advantage for s in samples], dtype=torch.float32),
        old_logprobs=_padded([s.old_logprobs for s in samples], width) if has_old else None,
        teacher_logprobs=_padded([s.teacher_logprobs for s in samples], width) if has_teacher else None,
    )


def micro_batch_loss(
    model: torch.nn.Module,
    mb: MicroBatch,
    algo: AlgorithmConfig,
    lam: float,
    num_tokens: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Σ_tokens(per-token PPO loss) / ``num_tokens`` for this micro-batch, and its metrics.

    With ``num_tokens`` the valid tokens of the whole mini-batch (all micro-batches, all
    ranks), the micro-batch losses add up to the token-mean loss of the mini-batch.
    When the scores table carries no behaviour log-probs (GRPO with scoring skipped) the
    update is on-policy and the current log-probs, detached, stand in for them.
    """
    batch = mb.batch
    logprobs, entropy = response_logprobs(model, batch, with_entropy=True)
    mb.current_logprobs = logprobs.detach()
    mask = batch.response_mask.bool()
    old = mb.old_logprobs.to(logprobs.device) if mb.old_logprobs is not None else logprobs.detach()
    teacher = mb.teacher_logprobs.to(logprobs.device) if mb.teacher_logprobs is not None else None
    adv = mb.advantages.to(logprobs.device)
    token_adv = token_advantages(
        algo.algorithm, adv, mask,
        student_logprobs=old if algo.needs_teacher else None,
        teacher_logprobs=teacher if algo.needs_teacher else None,
        lam=lam, eps_w=algo.eps_w, beta=algo.beta,
    )
    loss, stats = policy_loss(logprobs, old, token_adv, mask, clip_low=algo.clip_low,
                              clip_high=algo.clip_high, dual_clip=algo.dual_clip,
                              num_tokens=num_tokens)
    metrics = stats.as_floats()
    n = max(1.0, float(mask.sum()))
    metrics["entropy"] = float((entropy * mask).sum()) / n if entropy is not None else 0.0
    metrics["abs_token_advantage"] = float((token_adv.abs() * mask).sum()) / n
    if teacher is not None:
        w = rlsd_weights(adv, mask, old, teacher, eps_w=algo.eps_w)
        metrics["rlsd_weight_mean"] = float((w.weights * mask).sum()) / n
        metrics["rlsd_weight_clip_low"] = float(w.clipped_low.sum()) / n
        metrics["rlsd_weight_clip_high"] = float(w.clipped_high.sum()) / n
        # How much likelier the privileged teacher finds the sampled tokens than the student
        # (nats per token): the signal RLSD's magnitudes come from; near 0, w_t is near 1.
        metrics["teacher_logprob_gap"] = float(((teacher - old) * mask).sum()) / n
    return loss, metrics
