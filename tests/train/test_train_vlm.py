"""Vision-language RLSD end to end on a tiny Qwen2-VL: rollout, scoring with the images in the
teacher prompt, and a DeepSpeed update that reads the images back from the prompts table."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from rlsd.data import PROMPT_SCHEMA
from rlsd.models import load_policy
from rlsd.models.tiny import build_tiny_vlm
from rlsd.prompting import encode_teacher_prompt
from rlsd.rollout import RolloutConfig, generate_rollouts
from rlsd.schemas import REWARD_SCHEMA
from rlsd.score import ScoreConfig, score_rollouts

pytestmark = pytest.mark.integration


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (56, 56), color).save(buf, format="PNG")
    return buf.getvalue()


def test_vlm_round(tmp_path):
    folder = build_tiny_vlm(tmp_path / "policy", seed=0)
    model, processor = load_policy(folder, device="cpu")
    rows = [dict(id=f"img{i}", prompt=f"Which colour is shown? ({i})", messages=None,
                 answer=name, solution=None, images=[_png(rgb)], verifier="exact",
                 source="test", meta=None)
            for i, (name, rgb) in enumerate([("red", (255, 0, 0)), ("blue", (0, 0, 255))])]
    prompts_path = tmp_path / "prompts.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=PROMPT_SCHEMA), prompts_path)

    rollouts = generate_rollouts(model, processor, rows,
                                 RolloutConfig(samples_per_prompt=2, max_new_tokens=6, seed=0))
    pq.write_table(rollouts, tmp_path / "rollouts.parquet")
    rewards = [dict(prompt_id=r["prompt_id"], sample_index=r["sample_index"],
                    reward=float(r["sample_index"] == 0), accuracy=float(r["sample_index"] == 0),
                    format=0.0, reason="test") for r in rollouts.to_pylist()]
    pq.write_table(pa.Table.from_pylist(rewards, schema=REWARD_SCHEMA), tmp_path / "rewards.parquet")

    # The teacher prompt keeps the image: same image tokens, plus the hint.
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    teacher = encode_teacher_prompt(processor, rows[0])
    assert teacher.input_ids.count(image_pad) == 4 and "pixel_values" in teacher.vision
    assert "red" in processor.tokenizer.decode(teacher.input_ids)

    scores = score_rollouts(model, processor, rollouts, {r["id"]: r for r in rows}, ScoreConfig(),
                            progress=False)
    for s in scores.to_pylist():
        assert len(s["old_logprobs"]) == len(s["teacher_logprobs"]) == s["response_length"]
        assert all(lp <= 0 for lp in s["old_logprobs"] + s["teacher_logprobs"])
    # The hint changes the context, so the teacher's log-probs differ from the student's.
    first = scores.to_pylist()[0]
    assert first["old_logprobs"] != pytest.approx(first["teacher_logprobs"], abs=1e-6)
    pq.write_table(scores, tmp_path / "scores.parquet")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MASTER_PORT": str(port), "RLSD_NO_PROGRESS": "1"}
    out = tmp_path / "updated"
    result = subprocess.run(
        [sys.executable, "-m", "rlsd.train", "--policy", str(folder), "--prompts", str(prompts_path),
         "--rollouts", str(tmp_path / "rollouts.parquet"), "--rewards", str(tmp_path / "rewards.parquet"),
         "--scores", str(tmp_path / "scores.parquet"), "--output", str(out), "--learning-rate", "1e-3"],
        capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    before, after = load_file(folder / "model.safetensors"), load_file(out / "model.safetensors")
    vision_changed = [k for k in before if "visual" in k and not torch.equal(before[k], after[k])]
    assert vision_changed, "the vision tower receives gradient too"
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 1
    # The output reloads as a VLM with its processor, ready for the next rollout.
    reloaded, reproc = load_policy(out, device="cpu")
    assert getattr(reproc, "image_processor", None) is not None
