"""ChatML chat templates (Jinja) for the default model and the tiny test models.

SmolLM2-Instruct, Qwen2-VL and Qwen3-VL all speak ChatML: every turn is
``<|im_start|>{role}\\n{content}<|im_end|>\\n`` and generation starts after
``<|im_start|>assistant\\n``. The templates live here so that the default model (when a GGUF
file lacks one) and the tiny models render prompts exactly as the real models do.
"""

from __future__ import annotations

# SmolLM2-135M-Instruct's own template: a default system turn when the caller gives none.
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Qwen-VL style: content is a string or a list of parts; an image part becomes the vision
# span that the processor later expands to one <|image_pad|> per merged image patch.
VISION_CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# The special tokens a Qwen-VL model needs in its vocabulary.
VISION_SPECIAL_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
