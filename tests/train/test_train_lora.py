"""LoRA (``train.lora_rank > 0``): the adapter's gradient, its checkpoints, resume, export.

- The trainer's gradient on the adapter equals the gradient of the hand-written RLSD loss
  (tests/train/test_train_gradient.py's reference), and the base weights get none.
- A round under torchrun with 2 processes (ZeRO-2 and ZeRO-3) writes an adapter checkpoint
  (no full weights anywhere in it); the next round resumes the adapter and its optimizer
  state (Adam's step count continues); the merged export's logits equal base + adapter's.
- Mistakes fail early: a LoRA checkpoint trained with another rank, a typo in the target
  layers; a vision-language model's vision tower gets no adapter.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from rlsd.algorithms import AlgorithmConfig
from rlsd.config import ConfigError
from rlsd.models import load_policy
from rlsd.models.adapter import adapter_base, is_adapter_folder, load_adapter_pair
from rlsd.models.export import main as export_main
from rlsd.models.tiny import build_tiny_causal_lm, build_tiny_vlm
from rlsd.storage import read_manifest
from rlsd.train.config import TrainConfig
from rlsd.train.lora import AdapterSnapshot, apply_lora, language_linear_names
from rlsd.train.loss import make_micro_batch, micro_batch_loss
from rlsd.train.safe_state import load_state
from rlsd.train.samples import build_round_data
from tests.train.roundtables import make_round
from tests.train.test_train_gradient import _hand_loss, _perturb_scores

LORA = TrainConfig(lora_rank=4, lora_alpha=8.0)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "policy", seed=1)


def test_adapter_gradient_equals_hand_written_loss(tiny_folder) -> None:
    model, tokenizer = load_policy(tiny_folder, dtype="float32", device="cpu", for_training=True)
    model = apply_lora(model, LORA, "default")
    # The saved adapter names its base as a reference any pod resolves, not a local path.
    assert model.peft_config["default"].base_model_name_or_path == "default"
    torch.manual_seed(0)
    with torch.no_grad():  # B starts at 0, which would leave A without gradient
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)
    roll, rew, sco = make_round(3, 4, seed=7, vocab=(10, len(tokenizer) - 10))
    algo = AlgorithmConfig(algorithm="rlsd")
    data = build_round_data(roll, rew, sco, algo)
    _perturb_scores(model, data, seed=0)
    lam = algo.lam_at(5)

    def adapter_grads() -> dict[str, torch.Tensor]:
        grads = {n: p.grad.detach().double().clone() for n, p in model.named_parameters()
                 if p.grad is not None}
        assert grads and all("lora_" in n for n in grads), "only the adapter gets gradients"
        return grads

    model.zero_grad()
    _hand_loss(model, data.samples, algo, lam).backward()
    expected = adapter_grads()
    model.zero_grad()
    total = sum(len(s.response_ids) for s in data.samples)
    for part in (data.samples[:5], data.samples[5:]):  # two padded micro-batches
        loss, _ = micro_batch_loss(model, make_micro_batch(part, tokenizer.pad_token_id), algo,
                                   lam, num_tokens=total)
        loss.backward()
    got = adapter_grads()
    assert got.keys() == expected.keys()
    assert any(n.endswith("lora_A.default.weight") for n in got)
    assert max(g.abs().max() for g in expected.values()) > 1e-5  # not vacuous
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-3, atol=1e-7)


def test_vision_tower_gets_no_adapter_and_typos_fail(tmp_path) -> None:
    vlm, _ = load_policy(build_tiny_vlm(tmp_path / "vlm", seed=0), dtype="float32",
                         for_training=True)
    names = language_linear_names(vlm, "all-linear")
    all_linear = [n for n, m in vlm.named_modules() if isinstance(m, torch.nn.Linear)]
    vision = [n for n in all_linear if "visual" in n.split(".")]
    assert vision and names  # the tiny VLM has both towers
    assert not set(names) & set(vision)
    assert not [n for n in names if n.endswith("lm_head")]
    assert language_linear_names(vlm, "q_proj,v_proj") == [
        n for n in names if n.endswith(("q_proj", "v_proj"))]
    with pytest.raises(ConfigError, match="matches no linear layer"):
        language_linear_names(vlm, "qproj")


def test_lora_settings_are_checked() -> None:
    for bad, message in (({"lora_rank": -1}, "lora_rank"), ({"lora_dropout": 1.0}, "dropout"),
                         ({"lora_target_modules": "all-linear,q_proj"}, "lora_target_modules"),
                         ({"lora_rank": 4, "lora_alpha": 0}, "lora_alpha")):
        with pytest.raises(ConfigError, match=message):
            TrainConfig(**bad).validate()


def test_resume_checks_the_layers_that_carry_the_adapter(tiny_folder) -> None:
    """PEFT saves a list of 20 or more target layers as the set of their name endings (the
    default model's 210 layers become 7 suffixes): resuming compares the layers that carry
    the adapter, not that saved list."""
    from peft import LoraConfig, get_peft_model

    model, _ = load_policy(tiny_folder, dtype="float32", for_training=True)
    names = language_linear_names(model, "all-linear")
    suffixes = sorted({n.rsplit(".", 1)[-1] for n in names})
    adapted = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=suffixes))
    assert set(adapted.peft_config["default"].target_modules) == set(suffixes)  # not names
    assert apply_lora(adapted, LORA, "default") is adapted

    model, _ = load_policy(tiny_folder, dtype="float32", for_training=True)
    only_q = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"]))
    with pytest.raises(ConfigError, match=r"covers other layers .*only in the adapter: none; "
                       r"only selected: model\.layers\.0\.mlp"):
        apply_lora(only_q, LORA, "default")


def test_a_rank_above_the_layers_dimensions_is_refused(tiny_folder) -> None:
    model, _ = load_policy(tiny_folder, dtype="float32", for_training=True)
    smallest = min(min(m.in_features, m.out_features) for n, m in model.named_modules()
                   if n in set(language_linear_names(model, "all-linear")))
    with pytest.raises(ConfigError, match=rf"lora_rank=100000 exceeds .* lora_rank <= {smallest}"):
        apply_lora(model, TrainConfig(lora_rank=100000), "default")
    assert apply_lora(model, TrainConfig(lora_rank=smallest), "default") is not model


def test_a_finished_round_of_the_other_kind_is_refused(tiny_folder, tmp_path) -> None:
    from rlsd.storage import write_manifest
    from rlsd.train.resume import finished_round
    from rlsd.train.samples import RoundDataError

    full = tmp_path / "full"
    full.mkdir()
    (full / "model.safetensors").write_bytes(b"weights")
    write_manifest(full, {"kind": "policy", "round": 0, "step": 1})
    assert finished_round(str(tiny_folder), str(full), 0) is not None
    with pytest.raises(RoundDataError, match=r"as a fully fine-tuned model; this run asks for "
                                             r"a LoRA adapter \(lora_rank=16\)"):
        finished_round(str(tiny_folder), str(full), 16)


def test_export_refuses_an_output_that_holds_files(tmp_path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "model.safetensors").write_bytes(b"x")
    # Checked first, before the policy is even resolved.
    assert export_main(["--policy", str(tmp_path / "none"), "--output", str(taken)]) == 2
    assert (taken / "model.safetensors").read_bytes() == b"x"


# -- rounds under torchrun --------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _train(policy: Path | str, tables: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RLSD_NO_PROGRESS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
         str(_free_port()), "-m", "rlsd.train", "--policy", str(policy),
         "--rollouts", str(tables / "r.parquet"), "--rewards", str(tables / "w.parquet"),
         "--scores", str(tables / "s.parquet"), "--output", str(out), "--learning-rate", "1e-3",
         "--micro-batch-tokens", "256", "--set", "tensorboard=false", *extra],
        capture_output=True, text=True, env=env, timeout=600)


def _adam_steps(ckpt: Path) -> list[float]:
    steps = []
    for rank in (0, 1):
        state = load_state(str(ckpt / "deepspeed" / "state" /
                               f"zero_pp_rank_{rank}_mp_rank_00_optim_states.pt"))
        opt = state["optimizer_state_dict"]
        inner = opt.get("base_optimizer_state") or opt.get("optimizer_state_dict") or opt
        steps.append(float(next(iter(inner["state"].values()))["step"]))
    return steps


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("zero_stage", [2, 3])
def test_lora_rounds_checkpoint_the_adapter_resume_and_export(tiny_folder, tmp_path,
                                                              zero_stage) -> None:
    roll, rew, sco = make_round(2, 4, seed=1)
    for name, table in (("r", roll), ("w", rew), ("s", sco)):
        pq.write_table(table, tmp_path / f"{name}.parquet")
    settings = ["--set", "lora_rank=4", "--set", "lora_alpha=8", "--set",
                f"zero_stage={zero_stage}"]
    r1, r2 = tmp_path / "round-1", tmp_path / "round-2"
    first = _train(tiny_folder, tmp_path, r1, *settings)
    assert first.returncode == 0, first.stderr[-3000:]

    # An adapter checkpoint: no full weights, in the model files or in the DeepSpeed state.
    assert is_adapter_folder(r1) and adapter_base(r1) == str(tiny_folder)
    files = {e.path: e.size for e in read_manifest(str(r1)).files}
    assert "adapter_model.safetensors" in files and "model.safetensors" not in files
    model_bytes = (tiny_folder / "model.safetensors").stat().st_size
    state_bytes = sum(size for path, size in files.items() if path.startswith("deepspeed/"))
    assert state_bytes < model_bytes / 20, (state_bytes, model_bytes)
    assert files["adapter_model.safetensors"] < model_bytes / 50

    resumed = _train(r1, tmp_path, r2, *settings)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    state = json.loads((r2 / "trainer_state.json").read_text())
    assert (state["global_step"], state["round"]) == (2, 1)
    assert adapter_base(r2) == str(tiny_folder)  # the base, not the parent adapter
    if zero_stage == 2:
        assert _adam_steps(r1) == [1.0, 1.0] and _adam_steps(r2) == [2.0, 2.0]

    if zero_stage == 3:
        return  # the export and the checks below do not depend on the ZeRO stage
    # The merged export computes what base + adapter computes.
    merged = tmp_path / "merged"
    assert export_main(["--policy", str(r2), "--output", str(merged)]) == 0
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base, _ = load_policy(tiny_folder, dtype="float32")
    with_adapter = PeftModel.from_pretrained(base, str(r2)).eval()
    plain = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval()
    ids = torch.tensor([[1, 520, 33, 1147, 2, 100, 200, 300]])
    with torch.no_grad():
        expected, got = with_adapter(input_ids=ids).logits, plain(input_ids=ids).logits
        original = load_policy(tiny_folder, dtype="float32")[0](input_ids=ids).logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert (got - original).abs().max() > 1e-3  # the adapter changed the policy

    # Resuming with another rank is refused before any step.
    wrong = _train(r2, tmp_path, tmp_path / "round-3", "--set", "lora_rank=8", "--set",
                   "lora_alpha=8", "--set", f"zero_stage={zero_stage}")
    assert wrong.returncode != 0
    assert "adapter has rank 4" in wrong.stderr + wrong.stdout


@pytest.mark.integration
@pytest.mark.slow
def test_a_new_adapter_starts_over_a_fully_fine_tuned_checkpoint(tiny_folder, tmp_path) -> None:
    """LoRA from a full checkpoint: that checkpoint is the adapter's base, its optimizer state
    (for every weight) is left behind, and the step count carries on."""
    roll, rew, sco = make_round(2, 4, seed=2)
    for name, table in (("r", roll), ("w", rew), ("s", sco)):
        pq.write_table(table, tmp_path / f"{name}.parquet")
    full, lora = tmp_path / "full", tmp_path / "lora"
    first = _train(tiny_folder, tmp_path, full)
    assert first.returncode == 0, first.stderr[-3000:]
    second = _train(full, tmp_path, lora, "--set", "lora_rank=4", "--set", "lora_alpha=8")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "a new LoRA adapter starts over its weights" in second.stdout
    assert is_adapter_folder(lora) and adapter_base(lora) == str(full)
    state = json.loads((lora / "trainer_state.json").read_text())
    assert (state["global_step"], state["round"]) == (2, 1)
    assert _adam_steps(lora) == [1.0, 1.0]  # a fresh optimizer, one step old


def test_adapter_snapshot_is_the_k_teacher_on_the_same_base(tiny_folder, tmp_path) -> None:
    """The fused loop's frozen teacher with LoRA: the adapter as it was, over the live base
    weights (no copy of them), the live adapter restored exactly after each forward."""
    model, tokenizer = load_policy(tiny_folder, dtype="float32", device="cpu", for_training=True)
    model = apply_lora(model, LORA, "default").eval()
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)
    ids = torch.tensor([[1, 520, 33, 1147, 2, 100, 200]])
    with torch.no_grad():
        before = model(input_ids=ids).logits
        snapshot = AdapterSnapshot(model)
        teacher = snapshot.as_teacher()
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.add_(0.05 * torch.randn_like(param))  # the policy moves on
        live = model(input_ids=ids).logits
        torch.testing.assert_close(teacher(input_ids=ids).logits, before)
        torch.testing.assert_close(model(input_ids=ids).logits, live)  # restored
        assert (live - before).abs().max() > 1e-4
    assert all(a is b for a, b in zip(teacher.parameters(), model.parameters(), strict=True))
    assert teacher.config is model.config

    snapshot.save(tmp_path / "teacher", tokenizer)
    assert is_adapter_folder(tmp_path / "teacher")
    restored = AdapterSnapshot(model)
    restored.load(tmp_path / "teacher")
    with torch.no_grad():
        torch.testing.assert_close(restored.as_teacher()(input_ids=ids).logits, before)


@pytest.mark.integration
@pytest.mark.slow
def test_fused_loop_with_lora_keeps_and_resumes_the_adapter_teacher(tiny_folder, tmp_path) -> None:
    """rlsd.loop with LoRA and K = 3 on 2 processes: checkpoints are adapters with the
    teacher snapshot as an adapter; the next chained job starts mid-period and restores it."""
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "rlsd.data", "--output", str(data), "--synthetic-n",
                    "12", "--n-eval", "4"], check=True, capture_output=True)

    def job(rounds: int, policy: Path, out: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
             "--master-port", str(_free_port()), "-m", "rlsd.loop", "--policy", str(policy),
             "--prompts", str(data / "train.parquet"), "--output", str(out),
             "--rounds", str(rounds), "--prompts-per-round", "4",
             "--set", "rollout.samples_per_prompt=4", "--set", "rollout.max_new_tokens=8",
             "--set", "train.micro_batch_tokens=256", "--set", "train.tensorboard=false",
             "--set", "train.lora_rank=4", "--set", "algorithm.teacher_refresh_rounds=3"],
            capture_output=True, text=True, env={**os.environ, "RLSD_NO_PROGRESS": "1"},
            timeout=600)

    first = job(2, tiny_folder, tmp_path / "job-1")
    assert first.returncode == 0, first.stderr[-3000:]
    ckpt = tmp_path / "job-1" / "round-0001"
    assert is_adapter_folder(ckpt) and is_adapter_folder(ckpt / "teacher")
    assert not (ckpt / "model.safetensors").exists()
    # The next chained job starts at round 2, inside the teacher's period: it loads the
    # snapshot the checkpoint carries instead of refreshing it from the policy.
    second = job(1, ckpt, tmp_path / "job-2")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "carries no teacher snapshot" not in second.stdout
    assert "rounds 2..2" in second.stdout
    final = tmp_path / "job-2" / "round-0002"
    assert json.loads((final / "trainer_state.json").read_text())["round"] == 2
    assert json.loads((final / "teacher" / "teacher_state.json").read_text())["step"] == 0


def test_two_adapters_of_one_base_share_it(tiny_folder, tmp_path) -> None:
    """The staged K-teacher under LoRA: policy and teacher are adapters of one base, loaded
    over one copy of it, each computing what it computes alone."""
    folders = []
    for seed in (0, 1):
        model, tokenizer = load_policy(tiny_folder, dtype="float32", for_training=True)
        model = apply_lora(model, LORA, str(tiny_folder))
        torch.manual_seed(seed)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_B" in name:
                    param.normal_(0, 0.05)
        folder = tmp_path / f"adapter-{seed}"
        model.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))
        folders.append(folder)
    policy, teacher, _ = load_adapter_pair(folders[0], folders[1], dtype="float32")
    assert {id(p) for p in policy.parameters()} == {id(p) for p in teacher.parameters()}
    ids = torch.tensor([[1, 520, 33, 1147, 2, 100]])
    with torch.no_grad():
        for view, folder in ((policy, folders[0]), (teacher, folders[1]), (policy, folders[0])):
            alone, _ = load_policy(folder, dtype="float32")
            torch.testing.assert_close(view(input_ids=ids).logits, alone(input_ids=ids).logits)
    # Before the first refresh the teacher is the base model itself: still one base.
    policy, base_view, _ = load_adapter_pair(folders[0], tiny_folder, dtype="float32")
    plain, _ = load_policy(tiny_folder, dtype="float32")
    with torch.no_grad():
        torch.testing.assert_close(base_view(input_ids=ids).logits, plain(input_ids=ids).logits)
        alone, _ = load_policy(folders[0], dtype="float32")
        torch.testing.assert_close(policy(input_ids=ids).logits, alone(input_ids=ids).logits)
    other = build_tiny_causal_lm(tmp_path / "other", seed=5)
    assert load_adapter_pair(folders[0], other) is None  # another model: load them apart


def test_resumed_adapter_settings_must_match(tiny_folder, tmp_path) -> None:
    """Every adapter setting that shapes the optimizer state or the policy is checked on
    resume, and each target suffix must match a layer."""
    model, tokenizer = load_policy(tiny_folder, dtype="float32", for_training=True)
    adapted = apply_lora(model, TrainConfig(lora_rank=4, lora_alpha=8.0,
                                            lora_target_modules="q_proj,v_proj"),
                         str(tiny_folder))
    adapted.save_pretrained(str(tmp_path / "adapter"))
    tokenizer.save_pretrained(str(tmp_path / "adapter"))
    resumed, _ = load_policy(tmp_path / "adapter", dtype="float32", for_training=True)
    same = TrainConfig(lora_rank=4, lora_alpha=8.0, lora_target_modules="q_proj,v_proj")
    assert apply_lora(resumed, same, "default") is resumed
    for changed, message in ((TrainConfig(lora_rank=4, lora_alpha=8.0), "other layers"),
                             (TrainConfig(lora_rank=4, lora_alpha=8.0, lora_dropout=0.1,
                                          lora_target_modules="q_proj,v_proj"), "lora_dropout")):
        with pytest.raises(ConfigError, match=message):
            apply_lora(resumed, changed, "default")
    with pytest.raises(ConfigError, match="'typo_proj' matches no linear layer"):
        language_linear_names(model, "q_proj,typo_proj")
