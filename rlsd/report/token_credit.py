"""The token-credit view: how RLSD spread each response's advantage over its tokens.

design.md, "The algorithm": for response i with group advantage A_i and, per sampled token,
Δ_t = τ_t − s_t (teacher minus behaviour log-prob, from the scores table),

    w_t = exp(clamp(sign(A_i) · Δ_t, log(1 − ε_w), log(1 + ε_w)))
    Â_t = A_i · ((1 − λ) + λ · w_t)

so w_t > 1 gives the token a larger share of A_i than GRPO would, w_t < 1 a smaller one. The
view recomputes A_i with :func:`rlsd.algorithms.group_advantages` (through
:func:`rlsd.train.build_round_data`, the join training uses) and w_t with
:func:`rlsd.algorithms.rlsd_weights`, then shows each response token by token, every token a
span shaded by w_t: green for w_t > 1, red for w_t < 1, the colour's strength |w_t − 1| / ε_w.

Reading it: for a rewarded response (A > 0) green tokens are the ones the teacher, who saw the
reference answer, endorses (more credit) and red ones it would not have written (less credit).
For a penalised response (A < 0) the sign flips inside w: green tokens are the ones the
teacher would NOT have written (they take more of the blame), red ones it endorses (less blame).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import torch

from rlsd.algorithms import AlgorithmConfig, rlsd_weights
from rlsd.evaluate.html import esc
from rlsd.train import TrainSample, build_round_data

GREEN = (34, 197, 94)
RED = (239, 68, 68)
MIN_ALPHA, MAX_ALPHA = 0.12, 0.85
NEUTRAL_TOL = 1e-9  # |w − 1| below this is "no change" (exactly 1 when A = 0)


@dataclass
class RoundTables:
    """One round's rollouts, rewards and scores tables (:mod:`rlsd.schemas`), and a label."""

    rollouts: pa.Table
    rewards: pa.Table
    scores: pa.Table
    label: str = ""


@dataclass
class ResponseCredit:
    """One response with its recomputed per-token RLSD weights (all lists of equal length)."""

    round_label: str
    prompt_id: str
    sample_index: int
    reward: float
    advantage: float
    token_ids: list[int]
    weights: list[float]
    deltas: list[float]
    clipped_low: list[bool]
    clipped_high: list[bool]
    tokens: list[str] = field(default_factory=list)  # decoded, filled by decode_tokens

    @property
    def credited(self) -> int:
        """Tokens with w_t > 1."""
        return sum(w > 1.0 + NEUTRAL_TOL for w in self.weights)

    @property
    def reduced(self) -> int:
        """Tokens with w_t < 1."""
        return sum(w < 1.0 - NEUTRAL_TOL for w in self.weights)


def select_samples(samples: Sequence[TrainSample], n: int) -> list[TrainSample]:
    """Up to ``n`` responses worth looking at: from prompts whose rewards differ (A ≠ 0), the
    best and the worst response of each, prompts in order of their reward spread (widest
    first, then id); topped up with other responses when there are too few such prompts."""
    groups: dict[str, list[TrainSample]] = defaultdict(list)
    for s in samples:
        groups[s.prompt_id].append(s)
    mixed = [g for g in groups.values() if any(s.advantage != 0 for s in g)]
    mixed.sort(key=lambda g: (-(max(s.reward for s in g) - min(s.reward for s in g)),
                              g[0].prompt_id))
    chosen: list[TrainSample] = []
    taken: set[tuple[str, int]] = set()
    for group in mixed:
        ordered = sorted(group, key=lambda s: (-s.advantage, s.sample_index))
        for s in (ordered[0], ordered[-1]):
            if len(chosen) < n and (s.prompt_id, s.sample_index) not in taken:
                chosen.append(s)
                taken.add((s.prompt_id, s.sample_index))
    rest = sorted((s for s in samples if (s.prompt_id, s.sample_index) not in taken),
                  key=lambda s: (s.advantage == 0, -abs(s.advantage), s.prompt_id, s.sample_index))
    chosen += rest[: max(0, n - len(chosen))]
    return chosen


def response_credit(samples: Sequence[TrainSample], eps_w: float, label: str = ""
                    ) -> list[ResponseCredit]:
    """w_t, Δ_t and the clip flags of every token of ``samples`` (which carry A_i and the
    behaviour/teacher log-probs), computed by :func:`rlsd.algorithms.rlsd_weights`."""
    if not samples:
        return []
    missing = [f"{s.prompt_id}#{s.sample_index}" for s in samples
               if s.old_logprobs is None or s.teacher_logprobs is None]
    if missing:
        raise ValueError(f"response(s) {missing[:5]} have no behaviour/teacher log-probs")
    width = max(len(s.response_ids) for s in samples)
    batch = len(samples)
    mask = torch.zeros(batch, width, dtype=torch.bool)  # [B, T]
    old = torch.zeros(batch, width, dtype=torch.float64)
    teacher = torch.zeros(batch, width, dtype=torch.float64)
    for i, s in enumerate(samples):
        n = len(s.response_ids)
        mask[i, :n] = True
        old[i, :n] = torch.tensor(s.old_logprobs, dtype=torch.float64)
        teacher[i, :n] = torch.tensor(s.teacher_logprobs, dtype=torch.float64)
    advantages = torch.tensor([s.advantage for s in samples], dtype=torch.float64)  # [B]
    w = rlsd_weights(advantages, mask, old, teacher, eps_w=eps_w)
    delta = teacher - old
    out = []
    for i, s in enumerate(samples):
        n = len(s.response_ids)
        out.append(ResponseCredit(
            round_label=label, prompt_id=s.prompt_id, sample_index=s.sample_index,
            reward=s.reward, advantage=s.advantage, token_ids=list(s.response_ids),
            weights=w.weights[i, :n].tolist(), deltas=delta[i, :n].tolist(),
            clipped_low=w.clipped_low[i, :n].tolist(), clipped_high=w.clipped_high[i, :n].tolist(),
        ))
    return out


def round_credit(tables: RoundTables, responses: int, eps_w: float = 0.2,
                 scale_by_std: bool = True) -> list[ResponseCredit]:
    """Join a round's tables as training does (group advantages A_i from the rewards), pick
    ``responses`` responses (:func:`select_samples`) and recompute their token weights.

    Raises :class:`rlsd.train.samples.RoundDataError` when the tables do not fit together or
    lack teacher log-probs (a GRPO run has none: there is no token credit to show).
    """
    algo = AlgorithmConfig(algorithm="rlsd", scale_by_std=scale_by_std, eps_w=eps_w)
    data = build_round_data(tables.rollouts, tables.rewards, tables.scores, algo)
    return response_credit(select_samples(data.samples, responses), eps_w, tables.label)


def decode_tokens(tokenizer: Any, token_ids: Sequence[int]) -> list[str]:
    """Each token id decoded ON ITS OWN (``convert_ids_to_tokens`` then
    ``convert_tokens_to_string``), so every span shows exactly one sampled token.

    A processor (VLM) is accepted: its ``tokenizer`` is used.
    """
    tok = tokenizer if hasattr(tokenizer, "convert_ids_to_tokens") else tokenizer.tokenizer
    pieces = tok.convert_ids_to_tokens([int(t) for t in token_ids])
    return [tok.convert_tokens_to_string([p]) if p is not None else "" for p in pieces]


def credit_color(w: float, eps_w: float) -> str | None:
    """The CSS background of a token with weight ``w``: None for w = 1, else green (w > 1) or
    red (w < 1) with opacity growing with |w − 1| / ε_w (capped at 1: the clip bound)."""
    if not math.isfinite(w) or abs(w - 1.0) <= NEUTRAL_TOL:
        return None
    strength = min(1.0, abs(w - 1.0) / eps_w)
    alpha = MIN_ALPHA + (MAX_ALPHA - MIN_ALPHA) * strength
    r, g, b = GREEN if w > 1.0 else RED
    return f"rgba({r}, {g}, {b}, {alpha:.3f})"


def _token_text(text: str) -> str:
    # Make line breaks and tabs visible; pre-wrap keeps the break itself.
    return esc(text.replace("\n", "↵\n").replace("\t", "⇥\t"))


def token_spans(credit: ResponseCredit, eps_w: float, max_tokens: int) -> str:
    """The response as one ``<span class="tok">`` per token, shaded by w_t, with w_t, Δ_t and
    the token id in the hover title and ``data-w`` / ``data-delta`` attributes."""
    parts = []
    tokens = credit.tokens or [str(t) for t in credit.token_ids]
    shown = min(len(tokens), max_tokens)
    for i in range(shown):
        w, delta = credit.weights[i], credit.deltas[i]
        clip = " (clipped high)" if credit.clipped_high[i] else \
            " (clipped low)" if credit.clipped_low[i] else ""
        title = (f"token {credit.token_ids[i]} {tokens[i]!r}: w = {w:.3f}, "
                 f"Δ = {delta:+.3f}{clip}")
        color = credit_color(w, eps_w)
        style = f' style="background:{color}"' if color else ""
        parts.append(f'<span class="tok" data-w="{w:.4f}" data-delta="{delta:.4f}" '
                     f'title="{esc(title)}"{style}>{_token_text(tokens[i])}</span>')
    if shown < len(tokens):
        parts.append(f'<span class="cut"> … {len(tokens) - shown} more tokens not shown</span>')
    return "".join(parts)


def _reading(advantage: float) -> str:
    if advantage > 0:
        return ("A > 0 (rewarded): green = the teacher endorses the token (more credit), "
                "red = the teacher would not have written it (less credit)")
    if advantage < 0:
        return ("A < 0 (penalised): green = the teacher would not have written the token "
                "(more blame), red = the teacher endorses it (less blame)")
    return "A = 0 (all responses to this prompt got the same reward): no gradient, w = 1"


def response_card(credit: ResponseCredit, eps_w: float, max_tokens: int,
                  show_round: bool = True) -> str:
    """One response: a title with reward and A, counts, the reading of the colours, tokens
    (``show_round``: start the title with the round label)."""
    n = len(credit.weights)
    mean_w = sum(credit.weights) / n if n else 1.0
    round_label = credit.round_label + " · " if show_round and credit.round_label else ""
    head = (f"{esc(round_label)}prompt "
            f"<code>{esc(credit.prompt_id)}</code> · sample {credit.sample_index} — "
            f"reward {credit.reward:.3f}, A = {credit.advantage:+.3f}")
    stats = (f"{n} tokens: {credit.credited} with w &gt; 1, {credit.reduced} with w &lt; 1, "
             f"{sum(credit.clipped_high)} clipped high, {sum(credit.clipped_low)} clipped low; "
             f"mean w {mean_w:.3f}")
    return (f'<div class="card"><h3>{head}</h3><p class="muted">{stats}<br>'
            f"{esc(_reading(credit.advantage))}</p>"
            f'<div class="tokens">{token_spans(credit, eps_w, max_tokens)}</div></div>')


def legend_html(eps_w: float) -> str:
    """The colour scale: swatches for w at 1 − ε_w … 1 … 1 + ε_w."""
    steps = [1 - eps_w, 1 - eps_w / 2, 1.0, 1 + eps_w / 2, 1 + eps_w]
    swatches = "".join(
        f'<span class="swatch" style="background:{credit_color(w, eps_w) or "#ffffff"}">'
        f"w = {w:.2f}</span>" for w in steps)
    return (f'<div class="legend">{swatches}</div>'
            f'<p class="muted">w_t = exp(clamp(sign(A)·Δ_t, log(1 − ε_w), log(1 + ε_w))), '
            f"ε_w = {eps_w:g}; Δ_t = teacher − behaviour log-prob of the sampled token. "
            "Â_t = A · ((1 − λ) + λ · w_t): green tokens get a larger share of the response's "
            "advantage A than under GRPO, red ones a smaller share. Hover a token for w_t, "
            "Δ_t and its id.</p>")


TOKEN_STYLE = """
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 12px; margin: 12px 0; }
.card h3 { margin: 4px 0; font-size: 15px; }
.tokens { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px;
          line-height: 1.9; white-space: pre-wrap; word-break: break-word; }
.tok { border-radius: 3px; padding: 1px 0; box-shadow: inset -1px 0 0 rgba(255, 255, 255, 0.9); }
.cut { color: #57606a; font-style: italic; }
.legend { display: flex; gap: 0; margin: 8px 0 4px; }
.swatch { font-size: 12px; padding: 4px 12px; border: 1px solid #d0d7de; }
"""
