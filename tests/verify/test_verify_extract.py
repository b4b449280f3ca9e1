"""Answer extraction order (design.md: <answer> tags, then last \\boxed{}, then fallback) and the
paper's format check."""

from __future__ import annotations

import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from rlsd.verify.extract import (
    answer_tag,
    extract_answer,
    has_paper_format,
    last_boxed,
    matching_braces,
    paper_format,
)
from rlsd.verify.numbers import final_number_text

PAPER_REGEX = re.compile(r"\s*<thought>.*</thought>.*<answer>.*</answer>\s*", re.DOTALL)


def test_answer_tag_takes_the_last_complete_block() -> None:
    text = "<answer>1</answer> then <answer> 2 </answer> and <answer>3"
    assert answer_tag(text) == "2"
    assert answer_tag("no tags here") is None
    assert answer_tag("<answer>unclosed") is None


def test_last_boxed_balances_braces_and_reads_fbox() -> None:
    assert last_boxed(r"so \boxed{\frac{14}{3}}.") == r"\frac{14}{3}"
    assert last_boxed(r"\boxed{1} then \fbox{(3, \frac{\pi}{2})}") == r"(3, \frac{\pi}{2})"
    assert last_boxed(r"\boxed{\{1,2\}}") == r"\{1,2\}"  # escaped braces are literal
    assert last_boxed(r"\boxed 5 apples") == "5"
    # an unclosed last box falls back to the previous complete one
    assert last_boxed(r"\boxed{7} and \boxed{\frac{1}{2}") == "7"
    assert last_boxed(r"\boxedfoo{3}") is None


def test_matching_braces_pairs() -> None:
    assert matching_braces("a{b{c}d}") == {1: 7, 3: 5}
    assert matching_braces("{{{") == {}


def test_extraction_order_tags_then_boxed_then_fallback() -> None:
    both = r"\boxed{5} <answer>\boxed{7}</answer>"
    assert extract_answer(both, final_number_text) == ("7", "answer_tag")
    assert extract_answer(r"it is \boxed{5}. #### 6", final_number_text) == ("5", "boxed")
    gsm = "She sells 16 - 3 - 4 = 9 eggs, 9 * 2 = $18.\n#### 18"
    assert extract_answer(gsm, final_number_text) == ("18", "fallback")
    assert extract_answer("nothing numeric", final_number_text) == (None, None)
    # no fallback extractor: the verifier reads the whole response itself
    assert extract_answer("raw text", None) == ("raw text", "response")
    # empty answer tags are no answer, whatever else the response says
    assert extract_answer(r"\boxed{5} <answer>  </answer>", final_number_text) == (None, None)


def test_extraction_is_linear_on_hostile_responses() -> None:
    hostile = r"\boxed{" * 20_000 + "(" * 5_000 + "<answer>" * 5_000
    start = time.perf_counter()
    assert last_boxed(hostile) is None
    assert extract_answer(hostile, final_number_text) == (None, None)
    assert not has_paper_format("<thought>" + "</thought><answer>" * 20_000)
    assert time.perf_counter() - start < 2.0


def test_paper_format_hand_cases() -> None:
    assert has_paper_format("<thought>think</thought><answer>42</answer>")
    assert has_paper_format("  \n<thought>a\nb</thought>\ntext\n<answer>\n42\n</answer>\n ")
    assert has_paper_format(paper_format("x"))
    assert not has_paper_format("<thought>a</thought><answer>42</answer> trailing")
    assert not has_paper_format("preamble <thought>a</thought><answer>42</answer>")
    assert not has_paper_format("<answer>42</answer><thought>a</thought>")
    assert not has_paper_format("<thought>a<answer>42</answer>")
    assert not has_paper_format("<thought></thought></answer>")


_TOKENS = ["<thought>", "</thought>", "<answer>", "</answer>", "a", " ", "\n", "<", ">", "/"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=12).map("".join))
def test_paper_format_equals_the_regex(text: str) -> None:
    assert has_paper_format(text) == bool(PAPER_REGEX.fullmatch(text))
