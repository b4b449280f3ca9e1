"""The shared log-prob forward (rlsd.sequences): both batch layouts give each response token
the log-prob of an unpadded forward, and packing right pads less than the split layout."""

import pytest
import torch

from rlsd.models import load_policy
from rlsd.models.tiny import build_tiny_causal_lm
from rlsd.prompting import EncodedPrompt
from rlsd.sequences import PACKED_RIGHT, SPLIT, collate, default_layout, response_logprobs


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = build_tiny_causal_lm(tmp_path_factory.mktemp("layouts") / "policy", seed=3)
    return load_policy(folder, dtype="float32", device="cpu")


# Prompt and response lengths that differ in opposite ways: the split layout pads both.
PROMPTS = [[5, 6, 7, 8, 9, 10, 11], [12, 13], [14, 15, 16, 17]]
RESPONSES = [[20, 21], [22, 23, 24, 25, 26, 27], [28, 29, 30]]


def _alone(model, prompt, response):
    ids = torch.tensor([prompt + response])
    logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1]
    return torch.log_softmax(logits.double(), -1).gather(-1, torch.tensor(response)[:, None])[:, 0]


@pytest.mark.parametrize("layout", [PACKED_RIGHT, SPLIT])
def test_each_layout_matches_an_unpadded_forward(tiny, layout):
    model, tokenizer = tiny
    batch = collate([EncodedPrompt(p) for p in PROMPTS], RESPONSES, tokenizer.pad_token_id,
                    layout=layout)
    with torch.no_grad():
        logprobs, entropy = response_logprobs(model, batch, with_entropy=True)
        for i, (prompt, response) in enumerate(zip(PROMPTS, RESPONSES, strict=True)):
            torch.testing.assert_close(logprobs[i, : len(response)].double(),
                                       _alone(model, prompt, response), rtol=0, atol=1e-5)
    assert batch.response_mask.sum(1).tolist() == [len(r) for r in RESPONSES]
    assert entropy is not None and entropy.shape == logprobs.shape


def test_packing_right_pads_less(tiny):
    _, tokenizer = tiny
    prompts = [EncodedPrompt(p) for p in PROMPTS]
    packed = collate(prompts, RESPONSES, tokenizer.pad_token_id, layout=PACKED_RIGHT)
    split = collate(prompts, RESPONSES, tokenizer.pad_token_id, layout=SPLIT)
    real = sum(len(p) + len(r) for p, r in zip(PROMPTS, RESPONSES, strict=True))
    assert packed.input_ids.shape == (3, 9) and split.input_ids.shape == (3, 13)
    assert packed.padding == pytest.approx(1 - real / 27)
    assert split.padding == pytest.approx(1 - real / 39)
    assert packed.response_starts.tolist() == [7, 2, 4]
    assert split.response_starts.tolist() == [7, 7, 7]


def test_this_transformers_takes_per_row_positions():
    assert default_layout() == PACKED_RIGHT


def test_bad_layout_is_named():
    with pytest.raises(ValueError, match="unknown layout 'diagonal'"):
        collate([EncodedPrompt([1])], [[2]], 0, layout="diagonal")
