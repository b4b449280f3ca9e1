"""The token-credit view: w_t recomputed from a round's tables, checked against hand values,
and each token's shade checked against its w_t."""

import math
import re

import pyarrow as pa
import pytest
from transformers import AutoTokenizer

from rlsd.models import ensure_default_tokenizer
from rlsd.report import RoundTables, credit_color, decode_tokens, round_credit
from rlsd.report.token_credit import response_card, select_samples
from rlsd.schemas import SCORE_SCHEMA
from rlsd.train import TrainSample
from rlsd.train.samples import RoundDataError
from tests.report.round_fixtures import ADVANTAGE, round_tables


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(str(ensure_default_tokenizer()))


def _credits(extra_prompts=0, responses=6):
    tables = RoundTables(*round_tables([[10, 11, 12], [13, 14]], extra_prompts=extra_prompts),
                         label="round 0")
    return round_credit(tables, responses, eps_w=0.2)


def test_weights_by_hand():
    right, wrong = _credits()
    assert (right.sample_index, right.reward) == (0, 1.0)
    assert right.advantage == pytest.approx(ADVANTAGE) and wrong.advantage == pytest.approx(-ADVANTAGE)
    # A > 0: Δ = +1 → exp(min(1, log 1.2)) = 1.2 (clipped high); Δ = −0.1 → e^−0.1; Δ = 0 → 1.
    assert right.weights == pytest.approx([1.2, math.exp(-0.1), 1.0], abs=1e-6)
    assert right.clipped_high == [True, False, False] and right.clipped_low == [False] * 3
    assert right.deltas == pytest.approx([1.0, -0.1, 0.0], abs=1e-6)
    # A < 0 flips the sign: Δ = +1 → exp(max(−1, log 0.8)) = 0.8 (clipped low); Δ = −0.05 → e^0.05.
    assert wrong.weights == pytest.approx([0.8, math.exp(0.05)], abs=1e-6)
    assert wrong.clipped_low == [True, False] and wrong.clipped_high == [False, False]
    assert (right.credited, right.reduced, wrong.credited, wrong.reduced) == (1, 1, 1, 1)


def test_shade_follows_w():
    assert credit_color(1.0, 0.2) is None
    # |w − 1| / ε_w = 1 at the clip bound: the strongest shade.
    assert credit_color(1.2, 0.2) == "rgba(34, 197, 94, 0.850)"
    assert credit_color(0.8, 0.2) == "rgba(239, 68, 68, 0.850)"
    # e^−0.1 = 0.904837: strength 0.095163 / 0.2 = 0.475813 → alpha 0.12 + 0.73 · 0.4758.
    assert credit_color(math.exp(-0.1), 0.2) == f"rgba(239, 68, 68, {0.12 + 0.73 * 0.475813:.3f})"
    assert credit_color(5.0, 0.2) == credit_color(1.2, 0.2)  # capped at the bound


def test_card_spans_carry_w_and_shade(tokenizer):
    right, wrong = _credits()
    ids = tokenizer.encode("The answer is 42", add_special_tokens=False)[:3]
    right.token_ids = ids
    right.tokens = decode_tokens(tokenizer, ids)
    assert "".join(right.tokens) == tokenizer.decode(ids)
    html = response_card(right, eps_w=0.2, max_tokens=100)
    spans = re.findall(r'<span class="tok" data-w="([\d.]+)" data-delta="([-\d.]+)" '
                       r'title="([^"]*)"(?: style="background:([^"]+)")?>([^<]*)</span>', html)
    assert [float(s[0]) for s in spans] == pytest.approx([1.2, 0.9048, 1.0], abs=1e-4)
    assert spans[0][3] == "rgba(34, 197, 94, 0.850)"  # Δ = +1, A > 0: credit, full green
    assert spans[1][3].startswith("rgba(239, 68, 68,")  # Δ < 0: less credit, red
    assert spans[2][3] == ""  # w = 1: no shade
    assert [s[4] for s in spans] == right.tokens
    assert "clipped high" in spans[0][2]
    assert "reward 1.000, A = +0.707" in html
    assert "A &gt; 0 (rewarded)" in html


def test_token_text_is_escaped_and_newlines_visible(tokenizer):
    right, _ = _credits()
    right.token_ids = tokenizer.encode("<b>&\n", add_special_tokens=False)
    right.tokens = decode_tokens(tokenizer, right.token_ids)
    assert right.tokens == ["<", "b", ">", "&", "\n"]  # one span per token
    n = len(right.tokens)
    right.weights, right.deltas = [1.0] * n, [0.0] * n
    right.clipped_low = right.clipped_high = [False] * n
    html = response_card(right, eps_w=0.2, max_tokens=100)
    texts = re.findall(r'<span class="tok"[^>]*>([^<]*)</span>', html)
    assert texts == ["&lt;", "b", "&gt;", "&amp;", "↵\n"]


def test_long_responses_are_cut_with_a_note():
    right, _ = _credits()
    right.tokens = ["a", "b", "c"]
    html = response_card(right, eps_w=0.2, max_tokens=2)
    assert html.count('class="tok"') == 2 and "1 more tokens not shown" in html


def test_selection_prefers_mixed_groups():
    def s(pid, i, reward, adv):
        return TrainSample(pid, i, [1], [2], reward, adv, [0.0], [0.0])

    samples = [s("a", 0, 1.0, 0.0), s("a", 1, 1.0, 0.0),  # equal rewards: A = 0
               s("b", 0, 1.0, 0.7), s("b", 1, 0.0, -0.7), s("b", 2, 0.0, -0.7),
               s("c", 0, 0.5, 0.7), s("c", 1, 0.0, -0.7)]
    chosen = [(x.prompt_id, x.sample_index) for x in select_samples(samples, 5)]
    # b (spread 1.0) before c (0.5): best and worst of each, then the largest |A| left.
    assert chosen == [("b", 0), ("b", 2), ("c", 0), ("c", 1), ("b", 1)]


def test_round_without_teacher_logprobs_is_an_error():
    rollouts, rewards, scores = round_tables([[10, 11, 12], [13, 14]])
    rows = [{**r, "teacher_logprobs": None} for r in scores.to_pylist()]  # a GRPO round
    scores = pa.Table.from_pylist(rows, schema=SCORE_SCHEMA)
    with pytest.raises(RoundDataError, match="lacks teacher log-probs"):
        round_credit(RoundTables(rollouts, rewards, scores), 2)
