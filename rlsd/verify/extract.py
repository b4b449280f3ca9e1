"""Finding the final answer in a response, and the paper's format check.

design.md ("The algorithm"): verifiers take the answer from ``<answer>`` tags first, then the
last ``\\boxed{}``, then the verifier's own fallback (e.g. ``#### N``). The format reward is 1
when the whole response matches ``<thought>.*</thought>.*<answer>.*</answer>`` (DOTALL,
surrounding whitespace allowed).

Only the *final region* is graded: what follows the last closing reasoning tag
(``</think>`` or ``</thought>``). A candidate inside the reasoning ("maybe \\boxed{4}? no") is
thinking, not an answer, and a reasoning block that never closes (cut off by the token limit)
has no final answer at all (:func:`final_region`). Inside the final region, an "answer is" /
"Answer:" phrase states the answer: the clause right after the last such phrase is the answer,
not a later letter or number (:func:`stated_answer`). Markdown emphasis (``**21**``) is not
part of an answer (:func:`strip_emphasis`).

Responses are untrusted model output and may be hostile (thousands of unclosed braces, tags
repeated thousands of times). Every function here runs in time linear in the response length:
no regular expression with nested or multiple unbounded wildcards, no rescanning per
candidate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

ANSWER_OPEN = "<answer>"
ANSWER_CLOSE = "</answer>"
THOUGHT_OPEN = "<thought>"
THOUGHT_CLOSE = "</thought>"

#: Where an extracted answer came from; ``"response"`` means the final region was handed to
#: the verifier because it has no fallback extractor of its own; ``"unclosed_reasoning"`` comes
#: with answer None when a reasoning block never closes.
AnswerSource = Literal["answer_tag", "boxed", "fallback", "response", "unclosed_reasoning"]

#: Reasoning blocks whose content is never graded: ``<think>``, ``<thinking>``, ``<thought>``,
#: in any case, with spaces inside the brackets.
_REASONING_OPEN = re.compile(r"<\s*(?:think|thinking|thought)\s*>", re.IGNORECASE)
_REASONING_CLOSE = re.compile(r"<\s*/\s*(?:think|thinking|thought)\s*>", re.IGNORECASE)

# ``\boxed`` or ``\fbox`` as a whole control word (not ``\boxedfoo``).
_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
# ``\boxed 5``: the one-token form LaTeX also accepts.
_BOX_TOKEN = re.compile(r"\s+([0-9A-Za-z.+\-]+)")
_SPACES = re.compile(r"\s*")
# Markdown strong / emphasis around text on one line: ``**21**``, ``__D__``, ``*D*``. Not
# preceded or followed by a word character, so ``2**3`` (a power) is left alone; the span is
# bounded so that a response full of unclosed markers stays linear.
_EMPHASIS = re.compile(r"(?<![\w*\\])(\*\*|__|\*)(?=\S)([^\n*]{1,200}?)(?<=\S)\1(?![\w*])")
# "The answer is", "Final answer:", "the correct option is", "answer = ": a phrase that states
# the answer. "Choice A is tempting" is not one: option/choice only count before is/:/=.
ANSWER_PHRASE = re.compile(
    r"(?<![A-Za-z])(?:final\s+answer|answer|(?:correct|right)\s+(?:option|choice|one)|option|choice)"
    r"(?:\s+(?:is|would\s+be|should\s+be)\b\s*:?|\s*[:=])",
    re.IGNORECASE,
)
# Where the stated answer's clause ends: a sentence end (a full stop followed by a space or the
# end, so "3.5" survives), a semicolon, a comma followed by a word (", since"), an opening
# parenthesis after something ("40 (8 boxes of 5)"), or a connective word.
_CLAUSE_END = re.compile(
    r"[.;!?](?=\s|$)|,\s+(?=[A-Za-z]{2})|(?<=\S)\s+\((?!\s*\))"
    r"|\s+(?:because|since|which|as|so|but|where|given|from|for|with|after|using)\b",
    re.IGNORECASE,
)
_QUOTES = re.compile(r'^(?:\\?["\'`])+|(?:\\?["\'`])+$')
# In tagged answers only a connective or a parenthetical ends the answer ("<answer>C, since
# option B double counts</answer>", "<answer>40 (8 boxes of 5)</answer>"); a bare comma does
# not ("Paris, France", "x = 1, y = 2").
_TAG_CLAUSE_END = re.compile(
    r",?\s+(?:because|since|which|as|but|where|given|using)\b|(?<=\S)\s+\((?!\s*\))",
    re.IGNORECASE,
)
_AND_OR = re.compile(r"\s*\\text\{\s*(?:and|or)\s*\}\s*|\s+(?:and|or)\s+")
# A top-level comma that separates parts (not a thousands separator such as "1,234").
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def final_region(response: str) -> str | None:
    """The part of ``response`` that may hold the final answer: what follows the last closing
    reasoning tag (``</think>``, ``</thinking>``, ``</thought>``, any case), or the whole
    response when it has none.

    Returns None when a reasoning block opens and never closes (a response cut off mid-thought
    has no final answer). A response that starts inside the block (the opening tag sat in the
    prompt, as Qwen3's template does) and closes it is read after the close. Linear time.
    """
    last_close = None
    for last_close in _REASONING_CLOSE.finditer(response):  # noqa: B007 - the last one
        pass
    cut = last_close.end() if last_close is not None else 0
    if _REASONING_OPEN.search(response, cut) is not None:
        return None  # opened (again) after the last close: never closed
    return response[cut:]


def strip_emphasis(text: str) -> str:
    """``text`` with Markdown emphasis markers removed (``**Answer:** **D**`` -> ``Answer: D``)."""
    for _ in range(3):  # "***x***" nests one marker in another; a bound keeps it linear
        stripped = _EMPHASIS.sub(r"\2", text)
        if stripped == text:
            break
        text = stripped
    return text


def stated_answer(text: str) -> str | None:
    """The answer an "answer is" / "Answer:" phrase states: the clause after the last phrase.

    ``"The answer is 12, which took 3 steps."`` gives ``"12"``; ``"Answer: 40 (8 boxes of 5
    each)."`` gives ``"40"``; ``"Final answer:\\n42"`` gives ``"42"``. Emphasis is removed first.
    None when the text has no such phrase or nothing follows it.
    """
    text = strip_emphasis(text)
    last = None
    for last in ANSWER_PHRASE.finditer(text):  # noqa: B007 - we want the last phrase
        pass
    if last is None:
        return None
    tail = text[last.end() :]
    line = next((line.strip() for line in tail.splitlines() if line.strip()), "")
    end = _CLAUSE_END.search(line)
    clause = (line[: end.start()] if end else line).strip()
    clause = _QUOTES.sub("", clause).strip()  # 'The final answer is "$12$ and $13$".'
    return clause or None


def lists_several_parts(gold: str) -> bool:
    """True when a reference answer lists several parts: ``2, -3``, ``\\{-1, 4\\}``,
    ``(1, 2), (3, 4)``, ``x = 1, y = 2``; False for one value, a tuple ``(1, 2)``, an interval,
    or a number with thousands separators (``1,234``)."""
    text = _THOUSANDS_COMMA.sub("", gold.strip().strip("$").strip())
    text = text.replace("\\left", "").replace("\\right", "")
    text = _AND_OR.sub(",", text)  # "2 and 3", "2 \\text{ and } 3" list their parts too
    if text.startswith(("\\{", "\\lbrace", "{")) and text.endswith(("\\}", "\\rbrace", "}")):
        return "," in text  # a set literal: its elements are the parts
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            return True
        i += 1
    return False


def answer_tag(text: str) -> str | None:
    """The content of the last complete ``<answer>...</answer>`` block, stripped, or None."""
    end = text.rfind(ANSWER_CLOSE)
    if end < 0:
        return None
    start = text.rfind(ANSWER_OPEN, 0, end)
    if start < 0:
        return None
    return text[start + len(ANSWER_OPEN) : end].strip()


def matching_braces(text: str) -> dict[int, int]:
    """Map the index of every balanced ``{`` to the index of its ``}`` (one linear pass).

    A backslash escapes the next character, so ``\\{`` and ``\\}`` (literal braces in LaTeX)
    are not grouping braces.
    """
    pairs: dict[int, int] = {}
    stack: list[int] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            pairs[stack.pop()] = i
        i += 1
    return pairs


def all_boxed(text: str) -> list[str]:
    """The contents of every complete ``\\boxed{...}`` / ``\\fbox{...}`` in order, stripped.

    Braces are balanced (``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``); a box whose brace
    never closes is skipped; a box nested inside another box is part of the outer one.
    """
    return [content for content, _end in _boxes(text)]


def _boxes(text: str) -> list[tuple[str, int]]:
    """``(content, end index)`` of every complete outermost box (see :func:`all_boxed`)."""
    pairs: dict[int, int] | None = None
    found: list[tuple[str, int]] = []
    covered = -1  # end of the last box taken: boxes starting before it are nested in it
    for match in _BOX_COMMAND.finditer(text):
        pos = match.end()
        if match.start() < covered:
            continue
        brace = _SPACES.match(text, pos).end()  # type: ignore[union-attr]
        if brace < len(text) and text[brace] == "{":
            if pairs is None:
                pairs = matching_braces(text)
            close = pairs.get(brace)
            if close is not None:
                found.append((text[brace + 1 : close].strip(), close + 1))
                covered = close
            continue
        token = _BOX_TOKEN.match(text, pos)
        if token:
            found.append((token.group(1), token.end()))
    return found


def last_boxed(text: str) -> str | None:
    """The content of the last complete ``\\boxed{...}`` / ``\\fbox{...}``, stripped, or None.

    A box whose brace never closes is skipped in favour of the previous complete one.
    """
    boxes = all_boxed(text)
    return boxes[-1] if boxes else None


def extract_answer(
    response: str,
    fallback: Callable[[str], str | None] | None = None,
    *,
    join_boxes: bool = False,
) -> tuple[str | None, AnswerSource | None]:
    """Find the final answer in the final region (:func:`final_region`) of ``response``:
    ``<answer>`` tags, else the last ``\\boxed{}``, else ``fallback``.

    A ``\\boxed{}`` inside the answer tags is unwrapped (``<answer>\\boxed{5}</answer>`` gives
    ``5``); tagged text ends at a connective or a parenthetical (``<answer>12, which took 3
    steps</answer>`` gives ``12``). ``join_boxes`` (for a reference answer that lists several parts) joins every box
    with ``", "``: ``x = \\boxed{2} or \\boxed{-3}`` gives ``2, -3``. An answer phrase after
    the last box ("... The final answer is 7") sends the response to ``fallback`` instead. With ``fallback=None``
    the final region is returned (source ``"response"``), so a plug-in verifier without an
    extractor of its own can read it. Returns ``(None, None)`` when nothing is found or the
    answer tags hold nothing, and ``(None, "unclosed_reasoning")`` when a reasoning block
    never closes.
    """
    region = final_region(response)
    if region is None:
        return None, "unclosed_reasoning"
    tagged = answer_tag(region)
    if tagged is not None:
        boxes = all_boxed(tagged)
        if boxes:
            answer = ", ".join(boxes) if join_boxes else boxes[-1]
        elif (stated := stated_answer(tagged)) is not None:
            answer = stated  # "<answer>The answer is (C)</answer>"
        else:
            end = _TAG_CLAUSE_END.search(tagged)
            answer = tagged[: end.start()].strip() if end else tagged
        return (answer, "answer_tag") if answer else (None, None)
    spans = _boxes(region)
    # An answer phrase after the last box restates the answer ("\\boxed{200} ... The final
    # answer is $10,455$"): the statement wins, read by the fallback.
    restated = spans and ANSWER_PHRASE.search(region, spans[-1][1]) is not None
    if spans and not restated:
        boxes = [content for content, _end in spans]
        return (", ".join(boxes) if join_boxes else boxes[-1]), "boxed"
    if fallback is None:
        return (region, "response") if region.strip() else (None, None)
    found = fallback(region)
    if found is None or not found.strip():
        return None, None
    return found.strip(), "fallback"


def has_paper_format(response: str) -> bool:
    """True when the whole response matches ``<thought>.*</thought>.*<answer>.*</answer>``.

    Same answer as ``re.fullmatch(r"\\s*<thought>.*</thought>.*<answer>.*</answer>\\s*",
    response, re.DOTALL)``, computed with three ``find`` calls: taking the earliest
    ``</thought>`` and then the earliest ``<answer>`` after it leaves the most room for the
    rest, so if any split matches this one does. The regex backtracks polynomially on
    responses that repeat the tags.
    """
    text = response.strip()
    if not (text.startswith(THOUGHT_OPEN) and text.endswith(ANSWER_CLOSE)):
        return False
    final_close = len(text) - len(ANSWER_CLOSE)
    thought_end = text.find(THOUGHT_CLOSE, len(THOUGHT_OPEN))
    if thought_end < 0:
        return False
    answer_start = text.find(ANSWER_OPEN, thought_end + len(THOUGHT_CLOSE))
    return answer_start >= 0 and answer_start + len(ANSWER_OPEN) <= final_close


def paper_format(answer: str, thought: str = "self-check") -> str:
    """A response in the paper's format holding ``answer`` (used by the gold self-check)."""
    return f"{THOUGHT_OPEN}{thought}{THOUGHT_CLOSE}{ANSWER_OPEN}{answer}{ANSWER_CLOSE}"
