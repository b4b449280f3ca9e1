"""Tiny policies and prompt tables for the rollout tests (built once per session).

- ``tiny_lm_dir``: :func:`rlsd.models.tiny.build_tiny_causal_lm` (random 2-layer Llama with
  the default model's real tokenizer).
- ``lively_policy``: that model with its layer weights scaled up x20. At the default init
  (std 0.02) the layers barely move the residual stream and the tied head makes greedy
  decoding echo the last prompt token forever; scaled, greedy outputs vary by prompt and
  position, so batching and sharding comparisons test something.
- ``eos_policy``: that model with an untied output row for EOS pushed along the mean
  direction of its final hidden states (measured on random tokens that follow a chat
  prompt, i.e. where responses are generated), so EOS gets a
  sizeable probability at every step: sampled responses stop at varied lengths, some run to
  ``max_new_tokens``. A real model, just one that likes to stop.
"""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from rlsd.data import PROMPT_SCHEMA, format_prompt, generate_arithmetic
from rlsd.models import ensure_default_tokenizer, load_policy
from rlsd.models.tiny import build_tiny_causal_lm, build_tiny_vlm
from rlsd.prompting import encode_student_prompt

LIVELY_SCALE = 20.0
EOS_PUSH = 2.2  # chosen so that, at seed 0, both finish reasons occur at max_new_tokens 8


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory) -> Path:
    ensure_default_tokenizer()
    return build_tiny_causal_lm(tmp_path_factory.mktemp("rollout-models") / "tiny-lm", seed=0)


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory) -> Path:
    ensure_default_tokenizer()
    return build_tiny_vlm(tmp_path_factory.mktemp("rollout-models") / "tiny-vlm", seed=0)


@pytest.fixture(scope="session")
def lively_policy(tiny_lm_dir):
    model, tokenizer = load_policy(tiny_lm_dir, device="cpu")
    with torch.no_grad():
        for layer in model.model.layers:
            for weight in layer.parameters():
                if weight.dim() == 2:
                    weight.mul_(LIVELY_SCALE)
    return model, tokenizer


@pytest.fixture(scope="session")
def eos_policy(tiny_lm_dir):
    model, tokenizer = load_policy(tiny_lm_dir, device="cpu")
    eos = tokenizer.eos_token_id
    generator = torch.Generator().manual_seed(0)
    prefix = encode_student_prompt(tokenizer, {"prompt": "Say something."}).input_ids
    probe = torch.cat([torch.tensor([prefix] * 4),
                       torch.randint(3, model.config.vocab_size, (4, 24), generator=generator)], 1)
    with torch.no_grad():
        out = model(input_ids=probe, output_hidden_states=True)
        hidden = out.hidden_states[-1][:, len(prefix):]  # [4, 24, H], after the final norm
        direction = hidden.reshape(-1, hidden.shape[-1]).mean(0)
        direction = direction / direction.norm()
        head = model.model.embed_tokens.weight.detach().clone()
        head[eos] += EOS_PUSH * direction
    model.lm_head.weight = torch.nn.Parameter(head, requires_grad=False)  # untie from inputs
    model.config.tie_word_embeddings = False
    return model, tokenizer


def _arithmetic_rows(n: int, seed: int = 0) -> list[dict]:
    rows = []
    for row in generate_arithmetic(n, difficulty=3, seed=seed):
        full = {name: None for name in PROMPT_SCHEMA.names}
        full.update(row)
        full["prompt"] = format_prompt(row["prompt"])
        rows.append(full)
    return rows


def _png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (56, 56)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def arithmetic_rows():
    """``make(n, seed=0)``: n synthetic prompt-schema rows (prompt template applied)."""
    return _arithmetic_rows


@pytest.fixture
def prompts_parquet(tmp_path):
    """``write(rows, name="prompts.parquet")``: the rows as a prompt-schema parquet file."""

    def write(rows: list[dict], name: str = "prompts.parquet") -> Path:
        path = tmp_path / name
        pq.write_table(pa.Table.from_pylist(rows, schema=PROMPT_SCHEMA), path)
        return path

    return write


@pytest.fixture
def png_bytes():
    """``make(color, size=(56, 56))``: a real PNG image."""
    return _png_bytes
