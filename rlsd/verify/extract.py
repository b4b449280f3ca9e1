"""Finding the final answer in a response, and the paper's format check.

design.md ("The algorithm"): verifiers take the answer from ``<answer>`` tags first, then the
last ``\\boxed{}``, then the verifier's own fallback (e.g. ``#### N``). The format reward is 1
when the whole response matches ``<thought>.*</thought>.*<answer>.*</answer>`` (DOTALL,
surrounding whitespace allowed).

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

#: Where an extracted answer came from; ``"response"`` means the whole response was handed to
#: the verifier because it has no fallback extractor of its own.
AnswerSource = Literal["answer_tag", "boxed", "fallback", "response"]

# ``\boxed`` or ``\fbox`` as a whole control word (not ``\boxedfoo``).
_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
# ``\boxed 5``: the one-token form LaTeX also accepts.
_BOX_TOKEN = re.compile(r"\s+([0-9A-Za-z.+\-]+)")
_SPACES = re.compile(r"\s*")


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


def last_boxed(text: str) -> str | None:
    """The content of the last complete ``\\boxed{...}`` / ``\\fbox{...}``, stripped, or None.

    Braces are balanced (``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``); a box whose brace
    never closes is skipped in favour of the previous complete one.
    """
    starts = [m.end() for m in _BOX_COMMAND.finditer(text)]
    if not starts:
        return None
    pairs = matching_braces(text)
    for pos in reversed(starts):
        brace = _SPACES.match(text, pos).end()  # type: ignore[union-attr]
        if brace < len(text) and text[brace] == "{":
            close = pairs.get(brace)
            if close is not None:
                return text[brace + 1 : close].strip()
            continue
        token = _BOX_TOKEN.match(text, pos)
        if token:
            return token.group(1)
    return None


def extract_answer(
    response: str, fallback: Callable[[str], str | None] | None = None
) -> tuple[str | None, AnswerSource | None]:
    """Find the final answer: ``<answer>`` tags, else the last ``\\boxed{}``, else ``fallback``.

    A ``\\boxed{}`` inside the answer tags is unwrapped (``<answer>\\boxed{5}</answer>`` gives
    ``5``). With ``fallback=None`` the whole response is returned (source ``"response"``),
    so a plug-in verifier without an extractor of its own can read it. Returns
    ``(None, None)`` when nothing is found, or when the answer tags hold nothing.
    """
    tagged = answer_tag(response)
    if tagged is not None:
        inner = last_boxed(tagged)
        answer = inner if inner is not None else tagged
        return (answer, "answer_tag") if answer else (None, None)
    boxed = last_boxed(response)
    if boxed is not None:
        return boxed, "boxed"
    if fallback is None:
        return response, "response"
    found = fallback(response)
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
