"""The prompt template shared by data prep, rollout and evaluation (one place, design.md).

design.md, "The algorithm": the model thinks inside ``<thought> </thought>`` and puts the final
answer inside ``<answer> </answer>``; verifiers read ``<answer>`` first and the format reward
checks ``<thought>.*</thought>.*<answer>.*</answer>``. The instruction below asks for exactly
that shape.
"""

from __future__ import annotations

from rlsd.prompting import check_template as check_slots
from rlsd.prompting import render_template

QUESTION_SLOT = "{question}"

FORMAT_INSTRUCTION = (
    "Think step by step inside <thought></thought>, then put only the final answer "
    "inside <answer></answer>."
)

#: Default template: the question, a blank line, the format instruction. Rendered by
#: :func:`rlsd.prompting.render_template`, the one renderer of every template (student,
#: teacher, evaluation): only ``{question}`` is filled, other braces (``\boxed{}``) are text.
PROMPT_TEMPLATE = QUESTION_SLOT + "\n\n" + FORMAT_INSTRUCTION


def check_template(template: str) -> None:
    """Raise ``ValueError`` (:class:`rlsd.prompting.PromptError`) unless ``template`` holds the
    ``{question}`` slot exactly once and no other free-standing ``{name}`` placeholder."""
    check_slots(template, ("question",), "prompt template")


def format_prompt(question: str, template: str = PROMPT_TEMPLATE) -> str:
    """Put ``question`` into ``template``; text already in that template is returned unchanged.

    Idempotent on purpose: prepared prompts already carry the template, and a later stage that
    formats again must not stack a second instruction onto them.
    """
    check_template(template)
    prefix, suffix = template.split(QUESTION_SLOT)
    if (prefix or suffix) and question.startswith(prefix) and question.endswith(suffix) and (
        len(question) >= len(prefix) + len(suffix)
    ):
        return question
    return render_template(template, {"question": question}, "prompt template")
