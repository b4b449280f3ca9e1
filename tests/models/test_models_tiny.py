"""Tiny random LM and VLM: realistic tokenizer, forward, generate, per-token log-probs."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

from rlsd.models import InvalidModelFolderError
from rlsd.models.tiny import build_tiny_causal_lm, load_tiny_vlm_processor


def test_tiny_lm_has_the_default_vocabulary_and_chat_template(tiny_lm_dir, default_tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_dir)
    reference = AutoTokenizer.from_pretrained(default_tokenizer_dir)
    assert len(tokenizer) == len(reference) == 49152
    assert tokenizer.chat_template == reference.chat_template
    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir)
    config = model.config
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads,
            config.num_key_value_heads, config.intermediate_size) == (64, 2, 4, 2, 128)
    assert config.vocab_size == 49152


def test_tiny_lm_forward_and_generate(tiny_lm_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_dir)
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2+3?"}],
                                           add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    length = inputs["input_ids"].shape[1]
    with torch.no_grad():
        logits = model(**inputs).logits
        out = model.generate(**inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert logits.shape == (1, length, 49152)
    assert torch.isfinite(logits).all()
    assert out.shape == (1, length + 5)
    assert torch.equal(out[0, :length], inputs["input_ids"][0])


def test_same_seed_same_weights_other_seed_other_weights(tmp_path, tiny_lm_dir):
    again = load_file(build_tiny_causal_lm(tmp_path / "again", seed=0) / "model.safetensors")
    other = load_file(build_tiny_causal_lm(tmp_path / "other", seed=1) / "model.safetensors")
    first = load_file(tiny_lm_dir / "model.safetensors")
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    key = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(first[key], other[key])


def test_build_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="is not empty"):
        build_tiny_causal_lm(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


# --- tiny VLM ---------------------------------------------------------------------------


def _image(color) -> Image.Image:
    return Image.new("RGB", (56, 56), color)


def _prompts(processor, questions):
    return [processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]}],
        add_generation_prompt=True, tokenize=False) for q in questions]


def test_vlm_processor_expands_one_56px_image_to_four_tokens(tiny_vlm_dir):
    processor = load_tiny_vlm_processor(tiny_vlm_dir)
    (text,) = _prompts(processor, ["What colour is it?"])
    assert text == ("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
                    "What colour is it?<|im_end|>\n<|im_start|>assistant\n")
    enc = processor(text=[text], images=[_image((200, 10, 10))], return_tensors="pt")
    # 56 px / 14 px patches = 4 x 4 grid; 2 x 2 merge -> 4 LLM tokens.
    assert enc["image_grid_thw"].tolist() == [[1, 4, 4]]
    assert enc["pixel_values"].shape == (16, 3 * 2 * 14 * 14)
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    is_image = enc["input_ids"][0] == image_id
    assert is_image.sum().item() == 4
    assert torch.equal(enc["mm_token_type_ids"][0].bool(), is_image)


def test_vlm_config_carries_the_vision_token_ids(tiny_vlm_dir):
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm_dir)
    tokenizer = load_tiny_vlm_processor(tiny_vlm_dir).tokenizer
    ids = tokenizer.convert_tokens_to_ids
    assert model.config.image_token_id == ids("<|image_pad|>") == 49154
    assert model.config.vision_start_token_id == ids("<|vision_start|>") == 49152
    assert model.config.vision_end_token_id == ids("<|vision_end|>")
    assert model.config.video_token_id == ids("<|video_pad|>")
    assert model.config.get_text_config().vocab_size == len(tokenizer) == 49156


def test_vlm_batched_left_padded_generation_matches_single(tiny_vlm_dir):
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm_dir).eval()
    processor = load_tiny_vlm_processor(tiny_vlm_dir)
    processor.tokenizer.padding_side = "left"
    texts = _prompts(processor, ["Colour?", "Describe this picture in a few more words, please."])
    images = [_image((200, 10, 10)), _image((10, 10, 200))]
    batch = processor(text=texts, images=images, return_tensors="pt", padding=True)
    assert (batch["attention_mask"][0] == 0).any()  # the shorter prompt really is padded
    assert batch["attention_mask"][0, -1] == 1  # ... on the left
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=4, min_new_tokens=4, do_sample=False)
        width = batch["input_ids"].shape[1]
        for i in range(2):
            single = processor(text=[texts[i]], images=[images[i]], return_tensors="pt")
            alone = model.generate(**single, max_new_tokens=4, min_new_tokens=4, do_sample=False)
            assert torch.equal(out[i, width:], alone[0, single["input_ids"].shape[1]:])


def _response_logprobs(model, enc, response: torch.Tensor) -> torch.Tensor:
    """log p(response_t | prompt, response_<t) for each response token, shape [B, R].

    The response is appended to the (left-padded) prompt; ``mm_token_type_ids`` grows by
    zeros and the same pixels are passed again (notes/tiny-vlm.md).
    """
    batch, prompt_len = enc["input_ids"].shape
    resp = response.expand(batch, -1)  # [B, R]
    inputs = dict(enc)
    inputs["input_ids"] = torch.cat([enc["input_ids"], resp], dim=1)
    inputs["attention_mask"] = torch.cat([enc["attention_mask"], torch.ones_like(resp)], dim=1)
    inputs["mm_token_type_ids"] = torch.cat(
        [enc["mm_token_type_ids"], torch.zeros_like(resp)], dim=1)
    logits = model(**inputs).logits[:, prompt_len - 1:-1]  # [B, R, V]: position t predicts t+1
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, resp.unsqueeze(-1)).squeeze(-1)


def test_vlm_response_logprobs_under_two_prompts_are_finite(tiny_vlm_dir):
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm_dir).eval()
    processor = load_tiny_vlm_processor(tiny_vlm_dir)
    processor.tokenizer.padding_side = "left"
    image = _image((30, 160, 30))
    student, teacher = _prompts(processor, [
        "What is 2+3?",
        "What is 2+3?\nHere is a reference solution: 5\nSolve it in your own way.",
    ])
    response = processor.tokenizer("<answer>5</answer>", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        both = _response_logprobs(model, processor(
            text=[student, teacher], images=[image, image], return_tensors="pt", padding=True),
            response)
        alone = _response_logprobs(model, processor(
            text=[student], images=[image], return_tensors="pt"), response)
    assert both.shape == (2, response.shape[1])
    assert torch.isfinite(both).all() and (both <= 0).all()
    assert not torch.allclose(both[0], both[1])  # the hint changes the teacher's view
    # The left-padded student row equals the unpadded computation.
    torch.testing.assert_close(both[0], alone[0], atol=1e-5, rtol=1e-5)


def test_processor_rebuild_refuses_other_folders(tmp_path, tiny_lm_dir, tiny_vlm_dir):
    with pytest.raises(InvalidModelFolderError, match="not a tiny Qwen2-VL folder"):
        load_tiny_vlm_processor(tiny_lm_dir)
    (tmp_path / "config.json").write_bytes((tiny_vlm_dir / "config.json").read_bytes())
    with pytest.raises(InvalidModelFolderError, match="has no image processor"):
        load_tiny_vlm_processor(tmp_path)
