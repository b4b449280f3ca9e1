"""Throughput of each compute stage, model FLOPs utilisation, and padding waste.

    .venv/bin/python bench/throughput.py                       # CPU: the default model
    python bench/throughput.py --model qwen2-1.5b --device cuda --dtype bfloat16 \\
        --synthetic --seq 4096 --rows 64                       # GPU: a realistic random model

Default mode (real data): samples a batch from the default policy on the synthetic task
(rollout tokens/s, transformers backend), grades it, scores it (behaviour + self-teacher
passes: scoring tokens/s) and trains on it with the trainer's own micro-batch plan and loss
(plain torch AdamW in one process, no DeepSpeed: training tokens/s and MFU). ``--synthetic``
skips sampling and scores/trains on random token sequences of ``--seq`` tokens, for GPU runs
at realistic length.

MFU = model FLOPs per second / peak FLOPs per second. Model FLOPs per token: 6N for a
training step (2N forward, 4N backward), 2N for a forward pass, plus attention
(12 · layers · hidden · context / 2 for causal attention, x3 for training). The peak is
*measured* here with a large matmul in the same dtype (CPUs have no datasheet peak we could
trust); on a GPU the datasheet dense peak is printed beside it (H100 SXM bf16: 989 TFLOP/s).

Padding waste = share of the computed token positions that are padding, for the scoring
batches (rlsd.sequences.token_budget_batches + collate) and the training micro-batches
(rlsd.train.plan + make_micro_batch). Writes bench/results/throughput[-<tag>].json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench.machine import describe  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DATASHEET_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense bf16 FLOP/s


def measured_peak_flops(device: torch.device, dtype: torch.dtype, n: int, repeats: int = 10
                        ) -> float:
    """FLOP/s of an n x n x n matmul in ``dtype`` on ``device``: the achievable peak."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    sync(device)
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - started)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def model_dims(model) -> dict:
    cfg = model.config
    return {"params": sum(p.numel() for p in model.parameters()),
            "layers": cfg.num_hidden_layers, "hidden": cfg.hidden_size}


def flops_per_token(dims: dict, context: float, training: bool) -> float:
    """2N (+ causal attention) per forward token; 3x that for a training step."""
    forward = 2 * dims["params"] + 12 * dims["layers"] * dims["hidden"] * context / 2
    return 3 * forward if training else forward


def padding_of(batches: list[tuple[int, int, int]]) -> dict:
    """(rows, padded width, real tokens) per batch -> waste share."""
    computed = sum(rows * width for rows, width, _ in batches)
    real = sum(r for _, _, r in batches)
    return {"computed_tokens": computed, "real_tokens": real,
            "padding_waste": 1 - real / computed if computed else 0.0, "batches": len(batches)}


#: Paper-like length distributions for the padding analysis (no model needed): prompt and
#: response lengths uniform in these ranges, as rows x micro-batch token budget.
PADDING_SHAPES = ((256, 8192, (100, 300), (64, 4096)), (2048, 16384, (100, 300), (64, 4096)),
                  (2048, 65536, (100, 300), (64, 4096)), (2048, 16384, (500, 1500), (64, 4096)))


def _waste(P: list[int], R: list[int], groups: list[list[int]], layout: str) -> dict:
    """Padding of ``groups`` in a batch layout of rlsd.sequences: packed right, the width is
    the longest sequence; split, the longest prompt plus the longest response."""
    from rlsd.sequences import PACKED_RIGHT

    def width(g: list[int]) -> int:
        if layout == PACKED_RIGHT:
            return max(P[i] + R[i] for i in g)
        return max(P[i] for i in g) + max(R[i] for i in g)

    return padding_of([(len(g), width(g), sum(P[i] + R[i] for i in g)) for g in groups if g])


def padding_at_shapes(world_size: int = 8) -> list[dict]:
    """Padding waste of the scoring batches and the training micro-batches (with the trainer's
    own plan over ``world_size`` ranks) for random lengths of realistic spread."""
    import random

    from rlsd.sequences import PACKED_RIGHT, SPLIT, token_budget_batches
    from rlsd.train.plan import plan_round
    from rlsd.train.samples import TrainSample

    out = []
    for rows, budget, (p_lo, p_hi), (r_lo, r_hi) in PADDING_SHAPES:
        rng = random.Random(0)
        P = [rng.randint(p_lo, p_hi) for _ in range(rows)]
        R = [rng.randint(r_lo, r_hi) for _ in range(rows)]

        scoring = token_budget_batches([p + r for p, r in zip(P, R, strict=True)], budget)
        samples = [TrainSample(f"p{i}", 0, [1] * P[i], [1] * R[i], 0.0, 0.0, None, None)
                   for i in range(rows)]
        groups = [g for rank in range(world_size) for g in
                  plan_round(samples, 1, world_size, rank, budget, seed=0).steps[0].micro_batches]
        out.append({"rows": rows, "micro_batch_tokens": budget, "prompt_len": [p_lo, p_hi],
                    "response_len": [r_lo, r_hi], "train_ranks": world_size,
                    **{f"{stage}_padding_waste_{layout}": _waste(P, R, g, layout)["padding_waste"]
                       for stage, g in (("scoring", scoring), ("training", groups))
                       for layout in (PACKED_RIGHT, SPLIT)}})
    return out


def real_batch(args, model, processor):
    """Rollouts, rewards and prompt rows of a real sampled round (default policy)."""

    import subprocess
    import tempfile

    from rlsd.rollout import RolloutConfig, generate_rollouts
    from rlsd.storage import read_table
    from rlsd.verify import VerifyConfig, verify_batch
    from rlsd.verify.tables import rewards_table, rollout_items

    with tempfile.TemporaryDirectory() as tmp:  # the data prep stage's own prompts
        subprocess.run([sys.executable, "-m", "rlsd.data", "--output", tmp, "--set",
                        f"synthetic_difficulty={args.difficulty}"], check=True,
                       stdout=subprocess.DEVNULL)
        prompts = read_table(f"{tmp}/train.parquet")
    rows = prompts.to_pylist()[: args.prompts]
    config = RolloutConfig(samples_per_prompt=args.samples, max_new_tokens=args.max_new_tokens,
                           seed=0)
    started = time.perf_counter()
    rollouts = generate_rollouts(model, processor, rows, config)
    seconds = time.perf_counter() - started
    generated = sum(rollouts["response_length"].to_pylist())
    keys, items = rollout_items(rollouts, prompts, VerifyConfig())
    rewards = rewards_table(keys, verify_batch(items, VerifyConfig()))
    return rows, rollouts, rewards, {"tokens": generated, "seconds": seconds,
                                     "tokens_per_s": generated / seconds, "backend": "transformers"}


def synthetic_batch(args, vocab: int):
    """Random prompts/responses of ``--seq`` tokens (prompt 1/8), with alternating rewards."""
    import pyarrow as pa

    from rlsd.schemas import REWARD_SCHEMA, ROLLOUT_SCHEMA, response_digest

    g = torch.Generator().manual_seed(0)
    prompt_len = max(8, args.seq // 8)
    rollouts, rewards, rows = [], [], []
    for i in range(args.rows):
        pid = f"p{i // args.samples}"
        # Lengths vary like real responses: uniform in [1/2, 1] of the budget.
        r_len = int(torch.randint((args.seq - prompt_len) // 2, args.seq - prompt_len + 1, (1,),
                                  generator=g))
        prompt = torch.randint(10, vocab, (prompt_len,), generator=g).tolist()
        response = torch.randint(10, vocab, (r_len,), generator=g).tolist()
        rollouts.append({"prompt_id": pid, "sample_index": i % args.samples,
                         "prompt_token_ids": prompt, "response_token_ids": response,
                         "response_text": "", "finish_reason": "length",
                         "prompt_length": prompt_len, "response_length": r_len,
                         "sampler_logprobs": None, "response_digest": response_digest(response),
                         "policy_step": 0})
        rewards.append({"prompt_id": pid, "sample_index": i % args.samples,
                        "reward": float(i % 2), "accuracy": float(i % 2), "format": 1.0,
                        "reason": "synthetic"})
        if i % args.samples == 0:
            rows.append({"id": pid, "prompt": "What is 1 + 1?", "messages": None, "answer": "2",
                         "solution": None, "images": None, "verifier": "numeric", "meta": None,
                         "source": "synthetic"})
    return (rows, pa.Table.from_pylist(rollouts, schema=ROLLOUT_SCHEMA),
            pa.Table.from_pylist(rewards, schema=REWARD_SCHEMA))


def measure_scoring(model, processor, rows, rollouts, dims, device, micro_batch_tokens):
    from rlsd.score import ScoreConfig
    from rlsd.score.scoring import score_rollouts
    from rlsd.sequences import default_layout, token_budget_batches

    cfg = ScoreConfig(micro_batch_tokens=micro_batch_tokens)
    prompt_rows = {r["id"]: r for r in rows}
    sync(device)
    started = time.perf_counter()
    scores = score_rollouts(model, processor, rollouts, prompt_rows, cfg, progress=False)
    sync(device)
    seconds = time.perf_counter() - started
    # Padding of the student-prompt batches in this version's layout (teacher batches pad
    # the same way).
    plen = rollouts["prompt_length"].to_pylist()
    rlen = rollouts["response_length"].to_pylist()
    groups = token_budget_batches([p + r for p, r in zip(plen, rlen, strict=True)],
                                  micro_batch_tokens)
    pad = {**_waste(plen, rlen, groups, default_layout()), "layout": default_layout()}
    tokens = 2 * pad["real_tokens"]  # behaviour + teacher pass (teacher prompts are longer)
    context = pad["real_tokens"] / len(plen)
    flops = 2 * pad["real_tokens"] * flops_per_token(dims, context, training=False)
    return scores, {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds,
                    "model_flops_per_s": flops / seconds, **pad}


def measure_training(model, processor, rollouts, rewards, scores, dims, device,
                     micro_batch_tokens, steps):
    from rlsd.algorithms import AlgorithmConfig
    from rlsd.train import build_round_data
    from rlsd.train.loss import make_micro_batch, micro_batch_loss
    from rlsd.train.plan import plan_round

    algo = AlgorithmConfig(algorithm="rlsd")
    data = build_round_data(rollouts, rewards, scores, algo)
    plan = plan_round(data.samples, 1, 1, 0, micro_batch_tokens, seed=0)
    tokenizer = getattr(processor, "tokenizer", processor)
    model.train()
    for p in model.parameters():  # loaded for inference (sampling, scoring) first
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    batches, real, seconds = [], 0, 0.0
    for step in range(steps + 1):  # the first step warms up (allocations, kernels)
        sync(device)
        started = time.perf_counter()
        for indices in plan.steps[0].micro_batches:
            mb = make_micro_batch([data.samples[i] for i in indices], tokenizer.pad_token_id)
            mb.batch = mb.batch.to(device)
            loss, _ = micro_batch_loss(model, mb, algo, 0.5,
                                       num_tokens=plan.steps[0].global_tokens)
            loss.backward()
            if step == 0:
                mask = mb.batch.attention_mask
                batches.append((mask.shape[0], mask.shape[1], int(mask.sum())))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        if step > 0:
            seconds += time.perf_counter() - started
    pad = padding_of(batches)
    real = pad["real_tokens"] * steps
    context = pad["real_tokens"] / len(data.samples)
    flops = real * flops_per_token(dims, context, training=True)
    return {"tokens": real, "seconds": seconds, "tokens_per_s": real / seconds,
            "model_flops_per_s": flops / seconds, "steps_timed": steps, **pad}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default",
                        help="default (SmolLM2-135M-Instruct) or a random shape: teacher-4x, "
                             "qwen2-0.5b, qwen2-1.5b")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--difficulty", type=int, default=1)
    parser.add_argument("--synthetic", action="store_true",
                        help="random token sequences instead of a sampled round")
    parser.add_argument("--seq", type=int, default=2048, help="--synthetic: sequence length")
    parser.add_argument("--rows", type=int, default=32, help="--synthetic: sequences")
    parser.add_argument("--micro-batch-tokens", type=int, default=8192)
    parser.add_argument("--train-steps", type=int, default=2, help="timed optimizer steps")
    parser.add_argument("--matmul", type=int, default=2048, help="peak-FLOPs matmul size")
    parser.add_argument("--tag", default="", help="suffix of the result file")
    args = parser.parse_args(argv)

    from rlsd.models import load_policy

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    if args.model == "default":
        from rlsd.models import ensure_default_model

        folder = ensure_default_model()
    else:
        from bench.scaled_models import ensure_random_model

        folder = ensure_random_model(args.model)
    model, processor = load_policy(folder, dtype=dtype, device=device)
    dims = model_dims(model)
    peak = measured_peak_flops(device, dtype, args.matmul)
    print(f"model {args.model}: {dims['params'] / 1e6:.0f}M parameters on {device} "
          f"({args.dtype}); measured matmul peak {peak / 1e9:.0f} GFLOP/s", flush=True)

    result = {"benchmark": "throughput", "machine": describe(), "model": args.model,
              "dims": dims, "device": args.device, "dtype": args.dtype,
              "peak_flops_measured": peak}
    if device.type == "cuda":
        name = torch.cuda.get_device_name(0)
        result["peak_flops_datasheet"] = next(
            (v for k, v in DATASHEET_PEAK.items() if k in name), None)
    if args.synthetic:
        vocab = model.config.vocab_size
        rows, rollouts, rewards = synthetic_batch(args, vocab)
        result["batch"] = {"synthetic": True, "rows": args.rows, "seq": args.seq}
    else:
        model.eval()
        rows, rollouts, rewards, rollout = real_batch(args, model, processor)
        result["rollout"] = rollout
        result["batch"] = {"prompts": args.prompts, "samples_per_prompt": args.samples,
                           "max_new_tokens": args.max_new_tokens}
        print(f"rollout: {rollout['tokens_per_s']:.1f} generated tokens/s", flush=True)
    model.eval()
    scores, scoring = measure_scoring(model, processor, rows, rollouts, dims, device,
                                      args.micro_batch_tokens)
    scoring["mfu"] = scoring["model_flops_per_s"] / peak
    result["scoring"] = scoring
    print(f"scoring: {scoring['tokens_per_s']:.0f} tokens/s, MFU {scoring['mfu']:.1%}, "
          f"padding {scoring['padding_waste']:.1%}", flush=True)
    training = measure_training(model, processor, rollouts, rewards, scores, dims, device,
                                args.micro_batch_tokens, args.train_steps)
    training["mfu"] = training["model_flops_per_s"] / peak
    if result.get("peak_flops_datasheet"):
        training["mfu_datasheet"] = training["model_flops_per_s"] / result["peak_flops_datasheet"]
    result["training"] = training
    print(f"training: {training['tokens_per_s']:.0f} tokens/s, MFU {training['mfu']:.1%} of the "
          f"measured peak, padding {training['padding_waste']:.1%}", flush=True)
    result["padding_at_shapes"] = padding_at_shapes()
    for row in result["padding_at_shapes"]:
        print(f"padding at {row['rows']} rows, budget {row['micro_batch_tokens']}, prompts "
              f"{row['prompt_len']}, responses {row['response_len']}: scoring "
              f"{row['scoring_padding_waste_packed-right']:.1%} (split layout "
              f"{row['scoring_padding_waste_split']:.1%}), training "
              f"{row['training_padding_waste_packed-right']:.1%} (split "
              f"{row['training_padding_waste_split']:.1%})")
    out = REPO / "bench" / "results" / f"throughput{'-' + args.tag if args.tag else ''}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
