"""The prompt rules every stage shares (rlsd.prompting), checked without a model:

- one BOS whatever the chat template and the tokenizer/processor do (Gemma-3 style templates
  write ``{{ bos_token }}`` and their tokenizer adds one too), text and VLM paths alike;
- templates render placeholders only (literal braces such as ``\\boxed{}`` stay text);
- the context window is read from the model config, and over-long prompts are refused with
  a count, the longest one and what to change.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image
from transformers import (
    AutoTokenizer,
    Gemma3Config,
    GPT2Config,
    LlamaConfig,
    PretrainedConfig,
    Qwen2Config,
    Qwen2VLConfig,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from rlsd.models import ensure_default_tokenizer
from rlsd.models.chat_templates import VISION_CHATML_TEMPLATE, VISION_SPECIAL_TOKENS
from rlsd.models.tiny import (
    MAX_PIXELS,
    MERGE_SIZE,
    MIN_PIXELS,
    PATCH_SIZE,
    TEMPORAL_PATCH_SIZE,
    TinyQwen2VLProcessor,
)
from rlsd.prompting import (
    TEACHER_SLOTS,
    ContextLengthError,
    PromptError,
    check_context_fits,
    check_template,
    context_window,
    encode_student_prompt,
    encode_teacher_prompt,
    render_template,
    teacher_messages,
)

BOS = "<bos>"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (56, 56), (255, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


ROW = {"id": "q1", "prompt": "What is 2 + 3?", "answer": "5", "images": None}
IMAGE_ROW = {**ROW, "id": "q2", "images": [_png()]}


def _quirky(template_writes_bos: bool, tokenizer_adds_bos: bool):
    """A tiny Qwen-VL processor (and its tokenizer) built offline, Gemma-3 style when both
    flags are set: the chat template starts with ``{{ bos_token }}`` and the tokenizer adds
    its BOS ``<bos>`` to plain text."""
    tokenizer = AutoTokenizer.from_pretrained(ensure_default_tokenizer())
    tokenizer.add_special_tokens({"additional_special_tokens": list(VISION_SPECIAL_TOKENS),
                                  "bos_token": BOS})
    tokenizer.add_bos_token = tokenizer_adds_bos
    template = ("{{ bos_token }}" if template_writes_bos else "") + VISION_CHATML_TEMPLATE
    tokenizer.chat_template = template
    assert (tokenizer("a")["input_ids"][0] == tokenizer.bos_token_id) == tokenizer_adds_bos
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}, patch_size=PATCH_SIZE,
        merge_size=MERGE_SIZE, temporal_patch_size=TEMPORAL_PATCH_SIZE)
    processor = TinyQwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                     chat_template=template)
    return processor, tokenizer


QUIRKS = [(True, True), (True, False), (False, True), (False, False)]


@pytest.fixture(scope="module")
def quirky():
    return {quirk: _quirky(*quirk) for quirk in QUIRKS}


@pytest.mark.parametrize("quirk", QUIRKS, ids=lambda q: f"template_bos={q[0]}-adds_bos={q[1]}")
@pytest.mark.parametrize("encode", [encode_student_prompt, encode_teacher_prompt],
                         ids=["student", "teacher"])
def test_one_bos_whatever_the_template_and_the_processor_do(quirky, quirk, encode):
    processor, tokenizer = quirky[quirk]
    bos = tokenizer.bos_token_id
    plain, _ = quirky[(False, False)]  # neither writes nor adds BOS: the bare prompt
    expected_bos = 1 if any(quirk) else 0  # a model that never uses BOS gets none
    for row in (ROW, IMAGE_ROW):
        vlm = encode(processor, row)
        assert vlm.input_ids.count(bos) == expected_bos, vlm.input_ids[:4]
        # Only the BOS differs from the bare prompt: nothing else was added or dropped.
        assert vlm.input_ids[expected_bos:] == encode(plain, row).input_ids
        assert len(vlm.mm_token_type_ids) == len(vlm.input_ids)
        image_pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
        assert vlm.mm_token_type_ids == [int(t == image_pad) for t in vlm.input_ids]
    assert encode(processor, IMAGE_ROW).mm_token_type_ids.count(1) == 4  # 56x56: 4 tokens
    # The text-only path, with the same template quirk, gives the same ids as the processor.
    text = encode(tokenizer, ROW)
    assert text.input_ids == encode(processor, ROW).input_ids
    assert text.mm_token_type_ids is None and text.vision == {}


def test_a_chatml_prompt_is_what_the_tokenizer_chat_template_gives():
    tokenizer = AutoTokenizer.from_pretrained(ensure_default_tokenizer())
    messages = [{"role": "user", "content": ROW["prompt"]}]
    reference = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                              tokenize=True, return_dict=True)["input_ids"]
    assert encode_student_prompt(tokenizer, ROW).input_ids == list(reference)


# --- templates ------------------------------------------------------------------------------

BOXED = "Put the final answer in \\boxed{}.\n{question}\nReference: {hint}"


def test_literal_braces_render_as_text():
    [message] = teacher_messages(ROW, BOXED)
    assert message["content"] == "Put the final answer in \\boxed{}.\nWhat is 2 + 3?\nReference: 5"
    latex = "Use \\frac{a}{b}, x^{n}, \\text{cm} and \\{set\\}: {question} / {hint}"
    assert render_template(latex, {"question": "Q", "hint": "H"}) == (
        "Use \\frac{a}{b}, x^{n}, \\text{cm} and \\{set\\}: Q / H")


def test_values_are_inserted_as_is():
    # One pass: a question that itself says {hint} is not filled in a second time.
    out = render_template("{question} | {hint}", {"question": "Why {hint}?", "hint": "4"})
    assert out == "Why {hint}? | 4"


@pytest.mark.parametrize(("template", "needle"), [
    ("{question}", "must contain {hint} exactly once, found 0"),
    ("{hint}", "must contain {question} exactly once, found 0"),
    ("{question} {hint} {hint}", "must contain {hint} exactly once, found 2"),
    ("{question} Reference: {answer}", "unknown placeholder {answer}"),
    ("{question}\n{hint}\n{hnit}", "unknown placeholder {hnit}"),
])
def test_bad_templates_are_named(template, needle):
    with pytest.raises(PromptError, match="teacher_template") as error:
        check_template(template, TEACHER_SLOTS, "teacher_template")
    assert needle in str(error.value) and "\n" not in str(error.value)


# --- context window -------------------------------------------------------------------------


class _Tokenizer:
    def __init__(self, limit: int):
        self.model_max_length = limit


@pytest.mark.parametrize(("config", "tokenizer", "expected"), [
    (LlamaConfig(max_position_embeddings=4096), None, 4096),
    # The config is trusted over a tokenizer that claims more (or less).
    (LlamaConfig(max_position_embeddings=4096), _Tokenizer(8192), 4096),
    (LlamaConfig(max_position_embeddings=4096), _Tokenizer(1024), 4096),
    # A VLM's window is its text model's.
    (Qwen2VLConfig(text_config={"max_position_embeddings": 1234}), None, 1234),
    (GPT2Config(n_positions=512), None, 512),
    # YaRN extends the window (as vLLM counts it); llama3's field is already the extended one.
    (Qwen2Config(max_position_embeddings=32768, rope_scaling={
        "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}),
     None, 131072),
    (LlamaConfig.from_dict({"max_position_embeddings": 131072, "rope_scaling": {
        "rope_type": "llama3", "factor": 8.0, "original_max_position_embeddings": 8192,
        "low_freq_factor": 1.0, "high_freq_factor": 4.0}}), None, 131072),
    (Gemma3Config(text_config={"max_position_embeddings": 8192}), None, 8192),
    # No window in the config: the tokenizer's, unless it is transformers' "unknown" 1e30.
    (PretrainedConfig(), _Tokenizer(2048), 2048),
    (PretrainedConfig(), _Tokenizer(int(1e30)), None),
    (PretrainedConfig(), None, None),
])
def test_context_window(config, tokenizer, expected):
    assert context_window(config, tokenizer) == expected


def test_prompts_that_fit_exactly_pass():
    check_context_fits(["prompt 'a'", "prompt 'b'"], [96, 100], 28, 128, "rollout", "fix")
    check_context_fits(["a"], [10**6], 10, None, "rollout", "fix")  # unknown window: no check


def test_a_generation_budget_that_overflows_is_refused_with_counts():
    with pytest.raises(ContextLengthError) as error:
        check_context_fits(["prompt 'a'", "prompt 'b'", "prompt 'c'"], [90, 120, 101], 28, 128,
                           "rollout", "lower max_new_tokens")
    assert str(error.value) == (
        "rollout: 2 of 3 sequences exceed the model's context window of 128 tokens; the "
        "longest, prompt 'b', has 120 prompt + 28 new = 148 tokens; at most 8 new tokens fit "
        "every prompt; lower max_new_tokens")


def test_per_row_response_lengths_and_a_prompt_that_alone_fills_the_window():
    with pytest.raises(ContextLengthError, match=(
            r"^teacher scoring: 1 of 2 sequences .* window of 64 tokens; the longest, "
            r"prompt 'x' sample 1, has 40 prompt \+ 30 new = 70 tokens; shorten$")):
        check_context_fits(["prompt 'x' sample 0", "prompt 'x' sample 1"], [40, 40], [20, 30],
                           64, "teacher scoring", "shorten")
    with pytest.raises(ContextLengthError, match="the longest prompt alone fills the window"):
        check_context_fits(["prompt 'a'"], [70], 1, 64, "rollout", "fix")
    with pytest.raises(ValueError, match="must agree"):
        check_context_fits(["a", "b"], [1], 1, 64, "rollout", "fix")
