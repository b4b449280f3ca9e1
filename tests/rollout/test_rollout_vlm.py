"""Rollout with the tiny Qwen2-VL: images travel with their prompts through batching."""

from __future__ import annotations

from rlsd.models import load_policy
from rlsd.prompting import encode_student_prompt
from rlsd.rollout import RolloutConfig, generate_rollouts
from rlsd.schemas import ROLLOUT_SCHEMA


def test_vlm_generates_for_image_prompts(tiny_vlm_dir, png_bytes):
    model, processor = load_policy(tiny_vlm_dir, device="cpu")
    rows = [
        {"id": "red", "prompt": "What colour is this?", "images": [png_bytes((255, 0, 0))]},
        {"id": "blue", "prompt": "Describe the picture in a few words, please.",
         "images": [png_bytes((0, 0, 255))]},
    ]
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    sampled = generate_rollouts(model, processor, rows,
                                RolloutConfig(samples_per_prompt=2, max_new_tokens=5, seed=0))
    assert sampled.schema.equals(ROLLOUT_SCHEMA)
    assert sampled["prompt_id"].to_pylist() == ["red", "red", "blue", "blue"]
    for r in sampled.to_pylist():
        row = next(x for x in rows if x["id"] == r["prompt_id"])
        assert r["prompt_token_ids"] == encode_student_prompt(processor, row).input_ids
        # A 56x56 image is a 4x4 patch grid merged 2x2: four image tokens in the prompt.
        assert r["prompt_token_ids"].count(image_pad) == 4
        assert r["response_text"] == processor.tokenizer.decode(r["response_token_ids"],
                                                                skip_special_tokens=True)
        assert 1 <= r["response_length"] <= 5

    # Greedy decoding one prompt at a time and both in one left-padded batch (with the two
    # images concatenated in row order) must agree: the images stay with their prompts.
    greedy = [generate_rollouts(model, processor, rows,
                                RolloutConfig(samples_per_prompt=1, max_new_tokens=5,
                                              temperature=0, batch_size=b)) for b in (1, 2)]
    assert greedy[0]["response_token_ids"].to_pylist() == greedy[1]["response_token_ids"].to_pylist()
    swapped = generate_rollouts(model, processor,
                                [dict(rows[0], images=rows[1]["images"]), rows[1]],
                                RolloutConfig(samples_per_prompt=1, max_new_tokens=5,
                                              temperature=0))
    # The image matters: the red prompt with the blue image decodes differently.
    assert (swapped["response_token_ids"].to_pylist()[0]
            != greedy[0]["response_token_ids"].to_pylist()[0])
