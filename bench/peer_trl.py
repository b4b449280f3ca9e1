"""The peer: TRL's ``GRPOTrainer`` on the same model, task and batch as our fused GRPO round.

    .venv/bin/pip install -e ".[bench]"        # trl: an optional bench extra, never needed to run
    .venv/bin/python bench/peer_trl.py --steps 4 --output bench/results/peer_trl.json

Settings (issue 12's comparison): the built-in default policy (SmolLM2-135M-Instruct) in fp32
on the CPU, the synthetic task's prompts rendered by our data prep, 8 prompts x 4 generations
per step, ``max_completion_length`` 64, temperature 1.0, no reference model (``beta = 0``),
one optimizer step per generation batch, learning rate 1e-6. Rewards come from our own
verifier (:func:`rlsd.verify.verify_batch`, the grading pool our loop uses), so both sides pay
the same grading cost. Each step's wall time is measured by a trainer callback (generation,
grading and the update are all inside a TRL step); the first step (warm-up) is reported but
left out of the median. Peak memory is this process's ``VmHWM``.

Run by ``bench/step_cost.py --mode fused`` when ``trl`` is installed; prints one JSON line.

``--learning`` is the learning benchmark's peer arm (``bench/learning.py --trl``): the named
profile's sampling, batch (prompts x G), response budget and learning rate, TRL's defaults
otherwise (its DAPO-style token-mean loss, linear learning-rate decay, ``beta = 0`` as ours),
and held-out greedy accuracy measured before the first step and every ``--eval-every`` steps
with our own evaluation (:func:`rlsd.evaluate.evaluation.sample_and_score`) on the trainer's
live model, so both sides are scored by one function.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts-table", required=True, help="data prep's train.parquet")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--output", help="write the result JSON here too")
    parser.add_argument("--learning", action="store_true",
                        help="the learning benchmark's arm: profile settings and evaluations")
    parser.add_argument("--profile", default="smollm2-arithmetic")
    parser.add_argument("--eval-table", help="held-out prompts (data prep's eval.parquet)")
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--eval-prompts", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.learning:
        return learning(args)

    import pyarrow.parquet as pq
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from bench.scaled_models import student_dir
    from rlsd.phases import peak_rss_bytes
    from rlsd.verify import VerifyConfig, VerifyItem, verify_batch

    rows = pq.read_table(args.prompts_table).to_pylist()
    answers = {row["prompt"]: row["answer"] for row in rows}
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": row["prompt"]}]}
                                 for row in rows])
    verify_config = VerifyConfig()

    def reward(prompts, completions, **_kwargs):  # TRL's reward-function contract
        items = [VerifyItem(completion[-1]["content"], answers[prompt[-1]["content"]])
                 for prompt, completion in zip(prompts, completions, strict=True)]
        return [r.reward for r in verify_batch(items, verify_config)]

    step_times: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *_args, **_kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, *_args, **_kwargs):
            step_times.append(time.perf_counter() - self.started)

    batch = args.prompts * args.generations
    config = GRPOConfig(
        output_dir=str(Path(".cache") / "bench" / "peer_trl"), use_cpu=True, bf16=False,
        per_device_train_batch_size=batch, gradient_accumulation_steps=1,
        num_generations=args.generations, max_completion_length=args.max_new_tokens,
        temperature=1.0, learning_rate=1e-6, beta=0.0, num_iterations=1,
        max_steps=args.steps, logging_steps=1, save_strategy="no", report_to=[],
        disable_tqdm=True, seed=0, dataloader_num_workers=0)
    started = time.perf_counter()
    trainer = GRPOTrainer(model=str(student_dir()), reward_funcs=reward, args=config,
                          train_dataset=dataset, callbacks=[StepTimer()])
    load_s = time.perf_counter() - started
    trainer.train()
    steady = step_times[1:] or step_times
    result = {
        "peer": "trl", "trl_version": __import__("trl").__version__,
        "steps": len(step_times), "step_s": step_times,
        "median_step_s": statistics.median(steady), "load_s": load_s,
        "peak_rss_mb": peak_rss_bytes() / 2**20,
        "batch": {"prompts": args.prompts, "generations": args.generations,
                  "max_new_tokens": args.max_new_tokens},
    }
    line = json.dumps(result)
    print(line)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, indent=1))
    return 0


def learning(args: argparse.Namespace) -> int:
    """TRL's GRPOTrainer under the profile, with held-out evaluations (the benchmark's arm)."""
    import pyarrow.parquet as pq
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rlsd.evaluate.config import EvalConfig
    from rlsd.evaluate.evaluation import aggregate, sample_and_score
    from rlsd.models import resolve_model
    from rlsd.profiles import get_profile
    from rlsd.verify import VerifyConfig, VerifyItem, verify_batch

    profile = get_profile(args.profile)
    rollout, train = profile.section("rollout"), profile.section("train")
    verify_config = VerifyConfig(**profile.section("verify"))
    eval_config = EvalConfig(**profile.section("evaluate"))
    rows = pq.read_table(args.prompts_table).to_pylist()
    eval_rows = pq.read_table(args.eval_table).to_pylist()[:args.eval_prompts]
    answers = {row["prompt"]: row["answer"] for row in rows}
    # The rows in their table order, as our loop takes its prompt windows (no shuffling).
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": row["prompt"]}]}
                                 for row in rows])

    def reward(prompts, completions, **_kwargs):  # TRL's reward-function contract
        items = [VerifyItem(completion[-1]["content"], answers[prompt[-1]["content"]])
                 for prompt, completion in zip(prompts, completions, strict=True)]
        return [r.reward for r in verify_batch(items, verify_config)]

    evaluations: list[dict] = []
    step_logs: list[dict] = []

    class HeldOut(TrainerCallback):
        def evaluate(self, model, step):
            started = time.perf_counter()
            was_training = model.training
            model.eval()
            with torch.no_grad():
                samples = sample_and_score(model, trainer.processing_class, eval_rows,
                                           eval_config, verify_config)
            model.train(was_training)
            metrics = aggregate(samples, eval_config.k_values)
            evaluations.append({"step": step, "round": step - 1, "accuracy": metrics["mean@1"], **metrics,
                                "seconds": time.perf_counter() - started})
            print(f"trl: eval step {step}: accuracy {metrics['mean@1']:.3f}", flush=True)

        def on_train_begin(self, _args, state, _control, model=None, **_kwargs):
            self.evaluate(model, 0)

        def on_step_end(self, _args, state, _control, model=None, **_kwargs):
            if state.global_step % args.eval_every == 0 or state.global_step == args.steps:
                self.evaluate(model, state.global_step)

        def on_log(self, _args, state, _control, logs=None, **_kwargs):
            if logs:
                step_logs.append({"step": state.global_step, **{
                    k: v for k, v in logs.items() if isinstance(v, int | float)}})

    prompts_per_step = profile.section("loop").get("prompts_per_round", 8)
    generations = rollout.get("samples_per_prompt", 8)
    config = GRPOConfig(
        output_dir=str(Path(".cache") / "bench" / "peer_trl_learning"), use_cpu=True,
        bf16=False, per_device_train_batch_size=prompts_per_step * generations,
        gradient_accumulation_steps=1, num_generations=generations,
        max_completion_length=rollout.get("max_new_tokens", 64),
        temperature=rollout.get("temperature", 1.0), top_p=rollout.get("top_p", 1.0), top_k=0,
        learning_rate=train.get("learning_rate", 1e-6), beta=0.0, num_iterations=1,
        max_steps=args.steps, logging_steps=1, save_strategy="no", report_to=[],
        disable_tqdm=True, seed=args.seed, dataloader_num_workers=0, shuffle_dataset=False)
    started = time.perf_counter()
    trainer = GRPOTrainer(model=str(resolve_model("default")), reward_funcs=reward,
                          args=config, train_dataset=dataset, callbacks=[HeldOut()])
    trainer.train()
    result = {"algorithm": "trl", "seed": args.seed, "trl_version": __import__("trl").__version__,
              "seconds": time.perf_counter() - started, "evaluations": evaluations,
              "steps": [{"step": r["step"], "reward_mean": r["reward"]} for r in step_logs
                        if "reward" in r]}
    Path(args.output).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
