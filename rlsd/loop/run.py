"""``run_loop``: many RLSD rounds in one resident job (every rank of a torchrun job runs it).

Per round ``r`` (design.md, "Two ways to run the rounds"; the same functions as the staged
stages, so the two modes compute the same thing):

1. **Rollout.** Rank ``k`` of ``n`` takes shard ``k`` of round ``r``'s prompt window
   (:func:`rlsd.rollout.selection.round_positions`, then ``select_prompts``) and samples
   ``G`` responses with the live policy (:func:`rlsd.rollout.generate_rollouts`, seeded by
   ``(seed, global step, shard)`` like a staged rollout task with ``n`` shards): with
   transformers ``generate`` on the training module itself, or, when vLLM is installed and a
   GPU is present, with a colocated vLLM engine that sleeps during the update and gets the
   new weights every round (:mod:`rlsd.loop.colocated_vllm`; never run yet).
2. **Verify.** Each rank grades its own responses in its node's grading pool, started once
   (:func:`rlsd.verify.verify_batch`).
3. **Score.** The teacher pass over its own responses (:func:`rlsd.score.score_rollouts`):
   the teacher is a frozen snapshot of the policy taken every ``K`` rounds
   (``algorithm.teacher_refresh_rounds``; ``K = 0``: the live policy); the behaviour pass
   runs only when ``train.steps_per_round > 1`` (as the staged pipeline decides).
4. **Merge.** The ranks' tables are gathered in rank order, as the staged merge concatenates
   its shards, and joined (:func:`rlsd.train.samples.build_round_data`).
5. **Update.** The round's optimizer steps (:func:`rlsd.train.steps.run_steps`) on the
   resident DeepSpeed engine.

A checkpoint (the staged format: HF model, DeepSpeed state, trainer state, the metric history,
manifest last) goes to ``<output>/round-NNNN`` every ``save_every`` rounds and after the last;
with ``K > 0`` it also holds the teacher snapshot (``teacher/``). A job started again with the
same ``output`` resumes from the last complete checkpoint there: optimizer state, global step
(which fixes λ and every sampling seed) and the teacher snapshot.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import torch
import torch.distributed as dist

from rlsd.algorithms import needs_teacher_logprobs
from rlsd.evaluate.evaluation import aggregate, sample_and_score
from rlsd.loop.config import LoopSettings
from rlsd.loop.layout import (
    EVALUATIONS_FILE,
    TEACHER_DIR,
    TEACHER_STATE,
    round_folder,
    tables_folder,
)
from rlsd.models import load_policy
from rlsd.models.adapter import is_adapter_folder
from rlsd.phases import phase
from rlsd.prompting import is_multimodal, tokenizer_of
from rlsd.rollout.backend import select_backend
from rlsd.rollout.generate import generate_rollouts
from rlsd.rollout.run import read_prompt_table
from rlsd.rollout.selection import round_positions
from rlsd.schemas import REWARD_SCHEMA, ROLLOUT_SCHEMA, SCORE_SCHEMA
from rlsd.score.scoring import score_rollouts
from rlsd.storage import (
    MANIFEST_NAME,
    NotFoundError,
    StorageError,
    delete,
    exists,
    is_s3,
    join,
    list_files,
    write_table,
)
from rlsd.train.checkpoint import (
    check_resume,
    read_trainer_state,
    save_round_checkpoint,
    staging_dir,
)
from rlsd.train.engine import init_distributed, on_gpu
from rlsd.train.loop import load_engine, policy_base_ref, preflight_policy, resolve_policy
from rlsd.train.lora import AdapterSnapshot, is_peft_model
from rlsd.train.metrics import HISTORY_FILE, METRICS_FILE, previous_history
from rlsd.train.plan import plan_round
from rlsd.train.resume import starting_state
from rlsd.train.run_checkpoints import ResumeError, round_checkpoints
from rlsd.train.samples import build_round_data
from rlsd.train.steps import run_steps
from rlsd.train.student_logprobs import gather_and_write
from rlsd.verify.batch import verify_batch
from rlsd.verify.tables import rewards_table, rollout_items


class LoopError(ValueError):
    """The fused loop cannot start or go on; the message names the problem."""


def resume_reference(policy: str, output: str) -> str:
    """The policy a job starts from: the last complete checkpoint under ``output`` (a job
    started again after a crash), else ``policy`` (an output that does not exist yet, or
    holds no complete checkpoint).

    Raises:
        LoopError: the output cannot be read (no credentials, a corrupt manifest, two
            checkpoints of one round): never a silent fresh start that would overwrite it.
    """
    if not is_s3(output) and not Path(output).exists():
        return policy
    if not is_s3(output) and not Path(output).is_dir():
        raise LoopError(f"--output {output} is a file, not a folder")
    try:
        found = round_checkpoints(output)
    except NotFoundError:
        return policy
    except (StorageError, ResumeError, ValueError, OSError) as exc:
        raise LoopError(f"cannot tell where to resume in {output}: {exc}; fix or move it, "
                        "or give another --output") from None
    return found[max(found)][0] if found else policy


def _clear_partial(target: str, rank: int, world_size: int) -> None:
    """Empty a round folder left by a job killed while writing it (no manifest: never a
    checkpoint), so that no stale file of it joins the new checkpoint; a complete one is
    never overwritten. Collective."""
    if rank == 0:
        if exists(join(target, MANIFEST_NAME)):
            raise LoopError(f"{target} already holds a complete checkpoint; not overwritten")
        if is_s3(target):
            for uri in list_files(target):
                delete(uri)
        elif Path(target).exists():
            shutil.rmtree(target)
    if world_size > 1:
        dist.barrier()


def _gather(obj: Any, world_size: int) -> list[Any]:
    """Every rank's ``obj``, in rank order (collective)."""
    if world_size == 1:
        return [obj]
    parts: list[Any] = [None] * world_size
    dist.all_gather_object(parts, obj)
    return parts


def _concat(parts: list[pa.Table], schema: pa.Schema) -> pa.Table:
    tables = [t for t in parts if t is not None and t.num_rows]
    if not tables:
        return schema.empty_table()
    return pa.concat_tables([t.cast(schema) for t in tables])


class _Teacher:
    """The frozen teacher snapshot (K > 0) or the live policy (K = 0).

    A LoRA policy's snapshot is its adapter's weights only (:class:`AdapterSnapshot`): the
    teacher runs on the same base weights, never on a second copy of the model.
    """

    def __init__(self, refresh_rounds: int) -> None:
        self.k = refresh_rounds
        self.model: torch.nn.Module | None = None
        self.adapter: AdapterSnapshot | None = None
        self.step = 0

    def for_round(self, round_index: int, policy: torch.nn.Module, global_step: int
                  ) -> tuple[torch.nn.Module | None, int]:
        """``(teacher model or None for the policy itself, the step it was taken at)``.

        The staged pipeline scores round ``r`` with the policy round ``floor(r / K) * K``
        sampled from: at every such round the snapshot is refreshed from the live policy.
        """
        if self.k == 0:
            return None, global_step
        if is_peft_model(policy):
            if self.adapter is None:
                self.adapter, self.step = AdapterSnapshot(policy), global_step
            elif round_index % self.k == 0:
                self.adapter.refresh()
                self.step = global_step
            return self.adapter.as_teacher(), self.step
        if self.model is None or round_index % self.k == 0:
            snapshot = copy.deepcopy(policy).eval().requires_grad_(False)
            for param in snapshot.parameters():
                param.grad = None  # the copy needs the weights only
            self.model, self.step = snapshot, global_step
        return self.model, self.step

    def load(self, folder: Path, device: torch.device, policy: torch.nn.Module) -> None:
        """Restore the snapshot a checkpoint carries."""
        self.step = int(json.loads((folder / TEACHER_DIR / TEACHER_STATE).read_text())["step"])
        if is_peft_model(policy):
            self.adapter = AdapterSnapshot(policy)
            self.adapter.load(folder / TEACHER_DIR)
            return
        model, _ = load_policy(folder / TEACHER_DIR, dtype="float32", device=device)
        self.model = model.eval().requires_grad_(False)

    def save(self, staging: Path, processor: Any) -> None:
        """Write the snapshot as a complete model folder (loadable, evaluable) into the
        checkpoint being staged (for LoRA, an adapter folder); nothing for K = 0."""
        if self.adapter is not None:
            self.adapter.save(staging / TEACHER_DIR, processor)
            (staging / TEACHER_DIR / TEACHER_STATE).write_text(json.dumps({"step": self.step}))
            return
        if self.model is None:
            return
        self.model.save_pretrained(str(staging / TEACHER_DIR), safe_serialization=True)
        processor.save_pretrained(str(staging / TEACHER_DIR))
        (staging / TEACHER_DIR / TEACHER_STATE).write_text(json.dumps({"step": self.step}))


def run_loop(policy: str, prompts: str, output: str, settings: LoopSettings,
             eval_prompts: str | None = None) -> dict[str, Any]:
    """Run ``settings.loop.rounds`` rounds from ``policy`` (or from the last checkpoint under
    ``output``); returns the last step's metrics (rank 0's view).

    ``policy``: ``"default"``, a model folder, an ``s3://`` checkpoint or a hub id;
    ``prompts``: a prompts table (data prep's ``train.parquet``); ``output``: a folder or
    ``s3://`` prefix that receives ``round-NNNN`` checkpoints and, with ``keep_tables``,
    ``tables/round-NNNN``; ``eval_prompts``: an optional held-out prompts table (data prep's
    ``eval.parquet``) evaluated with the ``evaluate`` section's sampling before a fresh run's
    first round, every ``loop.eval_every`` rounds and after the last. Each evaluation is
    printed and kept, for the whole run, in the checkpoint's ``evaluations.jsonl``
    (:data:`rlsd.loop.layout.EVALUATIONS_FILE`).

    Raises:
        ConfigError: a setting is invalid, alone or with the others.
        LoopError, RolloutError: the prompts cannot be used (before any model loads), or the
            policy is of a kind the loop does not run yet (a VLM).
        ModelError, StorageError: the starting policy cannot be found or loaded.
    """
    settings.validate()
    if settings.algorithm.teacher_refresh_rounds and settings.train.zero_stage == 3:
        what = ("copies the adapter's weights" if settings.train.lora_rank
                else "is a full copy of the policy")
        raise LoopError(f"a frozen teacher snapshot (teacher_refresh_rounds > 0) {what}, which "
                        "ZeRO-3 partitions across ranks; use zero_stage <= 2 or K = 0")
    loop, algo, train = settings.loop, settings.algorithm, settings.train
    prompt_table = read_prompt_table(prompts)
    rows = prompt_table.to_pylist()
    eval_rows = read_prompt_table(eval_prompts).to_pylist() if eval_prompts else []
    if settings.evaluate.max_prompts is not None:
        eval_rows = eval_rows[:settings.evaluate.max_prompts]
    # The job's last round counts from the policy it was asked to start from, so that a job
    # started again after a crash finishes the same rounds rather than adding more.
    last_round = int(starting_state(policy)["round"]) + loop.rounds
    if not is_s3(policy) and Path(policy).is_file():
        raise LoopError(f"--policy {policy} is a file; give a model folder, an s3:// "
                        "checkpoint, a hub id or 'default'")
    start_ref = resume_reference(policy, output)
    preflight_policy(start_ref)

    rank, world_size, local_rank = init_distributed()
    with phase("resolve"):
        policy_dir = resolve_policy(start_ref, local_rank, world_size)
    state = read_trainer_state(policy_dir)
    try:
        check_resume(policy_dir, world_size, train.lora_rank, "loop")
    except ValueError as exc:
        raise LoopError(str(exc)) from None
    first_round = int(state["round"]) + 1
    if first_round > last_round:
        if rank == 0:
            print(f"loop: rounds up to {last_round} are already complete at {start_ref}; "
                  "nothing to do", flush=True)
        return {}
    device = torch.device("cuda", local_rank) if on_gpu() else torch.device("cpu")
    torch.manual_seed(train.seed)
    with phase("load"):
        engine, processor, global_step = load_engine(
            policy_dir, train, device, world_size, 1, state,
            base_ref=policy_base_ref(start_ref, policy_dir))
    if is_multimodal(processor):
        raise LoopError("the fused loop runs text models so far; use the staged mode for a "
                        "vision-language policy")
    model = engine.module
    pad_id = tokenizer_of(processor).pad_token_id
    teacher = _Teacher(algo.teacher_refresh_rounds)
    if algo.teacher_refresh_rounds and first_round % algo.teacher_refresh_rounds != 0:
        snapshot = policy_dir / TEACHER_DIR
        # A full model's snapshot cannot be a new adapter's teacher (and the reverse).
        if snapshot.is_dir() and is_adapter_folder(snapshot) == is_peft_model(model):
            teacher.load(policy_dir, device, model)  # resume: the snapshot of the last refresh
        elif rank == 0:
            kind = "n adapter" if is_peft_model(model) else " full model"
            print(f"loop: {start_ref} carries no teacher snapshot for a{kind}; the teacher "
                  f"is refreshed from it now (round {first_round})", flush=True)
    with_teacher = needs_teacher_logprobs(algo.algorithm)
    # The behaviour pass only off-policy (several steps per round), as the staged pipeline.
    score_cfg = _replaced(settings.score, behaviour_logprobs=train.steps_per_round > 1)
    rollout_cfg = _replaced(settings.rollout, shard_index=rank, num_shards=world_size,
                            max_prompts=None)
    # The staged rollout's rule: vLLM when installed and a GPU is present (or when asked).
    colocated = None
    # LoRA: the colocated vLLM engine cannot take the adapter's weights yet (the settings
    # refuse backend=vllm with LoRA), so "auto" samples with transformers.
    if not is_peft_model(model) and select_backend(rollout_cfg.backend) == "vllm":
        if train.zero_stage == 3:
            raise LoopError("colocated vLLM loads full weights from every rank; ZeRO-3 "
                            "partitions them: use zero_stage <= 2 or rollout.backend=transformers")
        from rlsd.loop.colocated_vllm import ColocatedVllm

        with phase("load"):
            colocated = ColocatedVllm(policy_dir, rollout_cfg, loop.vllm_memory_fraction)
    if rank == 0 and start_ref != policy:
        before = state.get("algorithm")
        if before and before != algo.algorithm:
            print(f"loop: warning: {start_ref} was trained with {before}; these rounds run "
                  f"{algo.algorithm}", flush=True)
        print(f"loop: resuming from {start_ref}; --policy {policy} is where this job first "
              "started", flush=True)
    if rank == 0:
        print(f"loop: rounds {first_round}..{last_round} of "
              f"{algo.algorithm} from step {global_step} on {world_size} rank(s)"
              f"{' (resumed from ' + start_ref + ')' if start_ref != policy else ''}", flush=True)

    history = _history_text(policy_dir)
    evaluations = _evaluations_text(policy_dir)
    job_records: list[dict[str, Any]] = []

    def held_out(round_index: int) -> None:
        """Evaluate the live policy on the held-out prompts (each rank its shard)."""
        nonlocal evaluations
        started = time.perf_counter()
        model.eval()
        model.config.use_cache = True
        with phase("compute"), torch.no_grad():
            mine = sample_and_score(model, processor, eval_rows[rank::world_size],
                                    settings.evaluate, settings.verify)
        model.config.use_cache = False
        samples = [s for part in _gather(mine, world_size) for s in part]
        metrics = aggregate(samples, settings.evaluate.k_values)
        n = settings.evaluate.samples_per_prompt
        entry = {"round": round_index, "step": global_step, "accuracy": metrics[f"mean@{n}"],
                 **metrics, "seconds": time.perf_counter() - started}
        evaluations += json.dumps(entry, sort_keys=True) + "\n"
        if rank == 0:
            print("loop: eval " + json.dumps({k: entry[k] for k in (
                "round", "step", "accuracy", "format", "truncation_rate", "prompts")}),
                flush=True)

    if eval_rows and first_round == 0:
        held_out(-1)  # the starting policy, on the same prompts: the curve's first point
    record: dict[str, Any] = {}
    for r in range(first_round, last_round + 1):
        round_started = time.perf_counter()
        times: dict[str, float] = {}  # this round's seconds per part: the profile
        positions = round_positions(len(rows), r, loop.prompts_per_round)
        window = prompt_table.take(positions)
        window_rows = [rows[i] for i in positions]
        by_id = {row["id"]: row for row in window_rows}
        model.eval()
        if colocated is not None:
            with _part(times, "rollout"):
                sampler = colocated.wake_with(model)
                mine = generate_rollouts(sampler, processor, window_rows, rollout_cfg,
                                         global_step)
                colocated.sleep()
        else:
            model.config.use_cache = True  # generation wants the KV cache (training: off)
            with _part(times, "rollout"), torch.no_grad():
                mine = generate_rollouts(model, processor, window_rows, rollout_cfg,
                                         global_step)
            model.config.use_cache = False
        with _part(times, "verify"):
            keys, items = rollout_items(mine, window, settings.verify)
            my_rewards = rewards_table(keys, verify_batch(items, settings.verify))
        my_scores = None
        if with_teacher or score_cfg.behaviour_logprobs:
            teacher_model, teacher_step = teacher.for_round(r, model, global_step)
            with _part(times, "score"), torch.no_grad():
                my_scores = score_rollouts(model, processor, mine, by_id, score_cfg,
                                           teacher=teacher_model, with_teacher=with_teacher,
                                           teacher_step=teacher_step, progress=False) \
                    if mine.num_rows else SCORE_SCHEMA.empty_table()
        with _part(times, "merge"):
            parts = _gather((mine, my_rewards, my_scores), world_size)
            rollouts = _concat([p[0] for p in parts], ROLLOUT_SCHEMA)
            rewards = _concat([p[1] for p in parts], REWARD_SCHEMA)
            scores = _concat([p[2] for p in parts], SCORE_SCHEMA) \
                if my_scores is not None else None
        if loop.keep_tables and rank == 0:
            with phase("write"):
                _write_tables(tables_folder(output, r), rollouts, rewards, scores)
        data = build_round_data(rollouts, rewards, scores, algo)
        keep_student = algo.needs_teacher and not data.behaviour_logprobs
        student: dict = {}
        if data.samples:
            plan = plan_round(data.samples, train.steps_per_round, world_size, rank,
                              train.micro_batch_tokens, train.seed + global_step)
            model.train()
            with _part(times, "update"):
                result = run_steps(engine, data, plan, algo, global_step=global_step,
                                   round_index=r, learning_rate=train.learning_rate,
                                   pad_id=pad_id, device=device, world_size=world_size,
                                   keep_student=keep_student)
            global_step, record, student = result.global_step, result.record, result.student
            # The whole round, generation to update (not the checkpoint write): what a
            # benchmark compares with a peer's step.
            record["round_s"] = time.perf_counter() - round_started
            record.update({f"time_{name}_s": seconds for name, seconds in times.items()})
            job_records.extend(result.records)  # every optimizer step's record
            if rank == 0:
                print("loop: " + json.dumps({k: record[k] for k in (
                    "round", "step", "reward_mean", "accuracy_mean", "loss", "grad_norm",
                    "round_s")
                    if k in record}), flush=True)
        elif rank == 0:
            print(f"loop: round {r}: every group had equal rewards; no update", flush=True)
        if eval_rows and (r == last_round or (loop.eval_every and (r + 1) % loop.eval_every == 0)):
            held_out(r)
        if (r + 1) % loop.save_every == 0 or r == last_round:
            trainer_state = {"global_step": global_step, "round": r,
                             "algorithm": algo.algorithm, "parent": start_ref, "mode": "fused"}
            target = round_folder(output, r)
            _clear_partial(target, rank, world_size)
            staging = staging_dir(target)
            with phase("write"):
                if rank == 0:
                    _write_history(staging, history, job_records)
                    if evaluations:
                        (staging / EVALUATIONS_FILE).write_text(evaluations)
                    teacher.save(staging, processor)
                if keep_student:
                    gather_and_write(student, staging, rank, world_size)
                save_round_checkpoint(engine, processor, target, staging, trainer_state, rank,
                                      world_size)
            model.config.use_cache = False  # the save turned it on for the saved config
    return record


@contextmanager
def _part(times: dict[str, float], name: str) -> Iterator[None]:
    """Time one part of a round (the round's profile) as the job's ``compute`` phase."""
    started = time.perf_counter()
    with phase("compute"):
        yield
    times[name] = times.get(name, 0.0) + time.perf_counter() - started


def _replaced(obj: Any, **changes: Any) -> Any:
    """A copy of dataclass ``obj`` with ``changes`` (``dataclasses.replace`` runs no
    validation; these changes are the loop's own)."""
    import dataclasses

    return dataclasses.replace(obj, **changes)


def _history_text(policy_dir: Path) -> str:
    path = previous_history(policy_dir)
    text = path.read_text() if path is not None else ""
    return text if not text or text.endswith("\n") else text + "\n"


def _evaluations_text(policy_dir: Path) -> str:
    path = policy_dir / EVALUATIONS_FILE
    return path.read_text() if path.is_file() else ""


def _write_history(folder: Path, earlier: str, records: list[dict[str, Any]]) -> None:
    """The checkpoint's ``metrics.jsonl`` (this job's steps) and ``metrics_history.jsonl``
    (the whole run's), as the staged trainer writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    (folder / METRICS_FILE).write_text(lines)
    (folder / HISTORY_FILE).write_text(earlier + lines)


def _write_tables(folder: str, rollouts: pa.Table, rewards: pa.Table,
                  scores: pa.Table | None) -> None:
    write_table(rollouts, join(folder, "rollouts.parquet"), schema=ROLLOUT_SCHEMA)
    write_table(rewards, join(folder, "rewards.parquet"), schema=REWARD_SCHEMA)
    if scores is not None:
        write_table(scores, join(folder, "scores.parquet"), schema=SCORE_SCHEMA)

