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
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
