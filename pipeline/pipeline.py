"""The RLSD DAG (design.md, "Rounds" and "Layout"), built for given compile-time options.

Staged mode (``mode="staged"``, the default: every stage of every round is its own task)::

    base model ─┐                     data prep (train, eval prompts)
                ▼                              │
    round r:  ParallelFor shard k:  rollout(k) → verify(k) → score(k)   (no score for GRPO)
                merge (dsl.Collected of the three; keys and digests checked)
                update (PyTorchJob or torchrun) → policy of round r+1
    evaluate(base policy), evaluate(final policy) on the same eval prompts
    report(final policy's metrics history, last round's tables, both evaluations) → HTML

Rounds are unrolled (KFP v2 carries no outputs between loop iterations). Every round's stages
take ``policy: Input[Model]``: round 0 gets the base model component's pointer, round r+1
round r's update output. The score task of round r reads the teacher from round
``floor(r / K) * K``'s policy (``K = 0``: its own policy).

Fused mode (``mode="fused"``; design.md, "Two ways to run the rounds")::

    base model ─┐                     data prep (train, eval prompts)
                ▼                              │
    job j:    fused (PyTorchJob or torchrun running python -m rlsd.loop): rounds
              j*M .. min((j+1)*M, R) - 1 with the policy resident → pointer to its last
              round's checkpoint + that round's tables
    evaluate(base policy), evaluate(final policy); report(last job's policy and tables, ...)

The ``ceil(R / M)`` jobs (``M = rounds_per_job``) are chained: job j + 1 starts from job j's
``updated_policy`` pointer. Each writes its ``round-NNNN`` checkpoints under its own
``<updated_policy>-checkpoint`` and resumes there when retried. The teacher snapshot
(``K > 0``) travels inside the checkpoints, so the rounds compute what the staged ones do.

Caching (:data:`CACHING`; every task's setting is explicit, so neither
``KFP_DISABLE_EXECUTION_CACHING_BY_DEFAULT`` nor kfp's default decides it). KFP keys a task's
cache on its input parameters, the identity of its input artifacts, and its image and
command, never on what the task reads from elsewhere. So a task may cache only when its
outputs are a pure function of exactly those: it reads nothing named by a string (an
``s3://`` file refreshed every night, an unpinned Hugging Face dataset or model, "the last
finished round" of ``resume_round=-1``), does not sample and has no side effect. Base model
and data prep read such external state, rollout, score and evaluate sample from a model
resolved at run time, and update trains and writes a checkpoint: none of them caches, so a
recurring run never reuses the first run's data split or policy. Verify, merge and report
read only their input artifacts (the report's checkpoint is the one its input pointer names,
with its files' sizes and digests) and may cache; since their inputs come from tasks that
never cache, a hit can only be the same artifacts again (a retry of the same run). The fused
task samples and trains (it is rollout, score and update in one): it never caches.
"""

# No `from __future__ import annotations`: KFP reads the pipeline signature's real types.
import importlib
import re
from collections.abc import Callable
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Markdown, Metrics
from kfp.dsl.python_component import PythonComponent

from components import COMPONENT_NAMES
from components._shared.image import build_component, component_image
from pipeline import kube, yaml_comments
from pipeline.options import DEFAULT_TRAINER_IMAGE, CompileOptions
from pipeline.params import check_parameters, pipeline_defaults, pipeline_types
from rlsd.data.prompt_format import PROMPT_TEMPLATE

# The default prompt template spans lines: keep the YAML's comment header valid (KFP #10438).
yaml_comments.install()


class Caching(NamedTuple):
    """Whether a component's tasks may come from KFP's cache, and why (module docstring)."""

    enabled: bool
    reason: str


#: The caching decision of every component (a new component must add one).
CACHING: dict[str, Caching] = {
    "base_model": Caching(False, "resolves resume_from / resume_round=-1 (the last finished "
                                 "round) and checks an s3:// model's manifest at run time"),
    "data_prep": Caching(False, "reads a data source named by a string: an s3:// file or a "
                                "Hugging Face dataset can change between runs"),
    "rollout": Caching(False, "samples from a policy resolved at run time"),
    "verify": Caching(True, "pure function of its prompts and rollouts artifacts"),
    "score": Caching(False, "runs a policy resolved at run time"),
    "merge": Caching(True, "pure function of the shards' artifacts"),
    "update": Caching(False, "trains: launches a PyTorchJob and writes a checkpoint"),
    "fused": Caching(False, "samples from its policy and trains: launches a PyTorchJob that "
                            "runs many rounds and writes checkpoints"),
    "evaluate": Caching(False, "samples from a policy resolved at run time"),
    "report": Caching(True, "pure function of its artifacts and the checkpoint its pointer "
                            "names (sizes and digests in the pointer)"),
}
#: Tasks whose outputs must never come from the cache.
UNCACHED_COMPONENTS = tuple(name for name, c in CACHING.items() if not c.enabled)


def component_body(name: str) -> Callable:
    """The Python function of ``components/<name>/component.py``."""
    return getattr(importlib.import_module(f"components.{name}.component"), name)


def stage_components(image: str | None = None) -> dict[str, PythonComponent]:
    """Every component, built for ``image`` (default: :func:`component_image`)."""
    chosen = component_image(image)
    return {name: build_component(component_body(name), chosen) for name in COMPONENT_NAMES}


def cached_task(name: str, component: PythonComponent, **arguments) -> dsl.PipelineTask:
    """A task of component ``name`` with its :data:`CACHING` decision set explicitly."""
    if name not in CACHING:
        raise KeyError(f"component {name!r} has no caching decision in pipeline.CACHING")
    return component(**arguments).set_caching_options(CACHING[name].enabled)


def pipeline_name(options: CompileOptions) -> str:
    """E.g. ``rlsd-rlsd-2-rounds``, ``rlsd-grpo-opsd-3-rounds``, ``rlsd-rlsd-30-rounds-fused``."""
    algo = re.sub(r"[^a-z0-9]+", "-", options.algorithm.lower()).strip("-")
    return f"rlsd-{algo}-{options.rounds}-rounds" + ("-fused" if options.mode == "fused" else "")


def pipeline_description(options: CompileOptions) -> str:
    """What the pipeline was compiled for (the KFP UI shows it): algorithm, rounds, shape,
    teacher refresh and the training profile whose values are the parameter defaults."""
    k = options.teacher_refresh_rounds
    shape = (f"rollout shards={options.rollout_shards}" if options.mode == "staged" else
             f"mode=fused ({len(options.fused_jobs())} chained job(s) of up to "
             f"{options.rounds_per_job} rounds)")
    return (f"RLSD on Kubeflow (arXiv:2604.03128). Compiled for algorithm={options.algorithm}, "
            f"rounds={options.rounds}, {shape}, teacher "
            f"refresh K={k}{' (live policy)' if k == 0 else ''}"
            + (f", profile={options.profile} (its values are the parameter defaults)"
               if options.profile else "")
            + "; recompile (python -m pipeline.compile) to change these.")


class PipelineOutputs(NamedTuple):
    base_metrics: Metrics
    base_report: Markdown
    final_metrics: Metrics
    final_report: Markdown
    training_report: HTML


class _Builder:
    """What both modes share: the components, task settings, the start and the end."""

    def __init__(self, options: CompileOptions) -> None:
        self.options = options
        self.comps = stage_components(options.component_image or None)

    def light(self, task: dsl.PipelineTask, title: str) -> dsl.PipelineTask:
        return kube.common_settings(task.set_display_name(title), self.options)

    def model_task(self, task: dsl.PipelineTask, title: str) -> dsl.PipelineTask:
        return kube.model_task_settings(task.set_display_name(title), self.options)

    def driver(self, task: dsl.PipelineTask, title: str) -> dsl.PipelineTask:
        """A task that launches and watches a training job (update, fused)."""
        return kube.update_task_settings(task.set_display_name(title), self.options)

    def stage(self, name: str, **arguments) -> dsl.PipelineTask:
        return cached_task(name, self.comps[name], **arguments)

    def report_settings(self) -> dict:
        """The report's compile-time settings: the profile, the algorithm and the graph's
        shape (constants of the YAML)."""
        o = self.options
        shape = ({"mode": "fused", "rounds": o.rounds, "rounds_per_job": o.rounds_per_job}
                 if o.mode == "fused" else
                 {"mode": "staged", "rounds": o.rounds, "rollout_shards": o.rollout_shards})
        return {"profile": o.profile, "algorithm": o.algorithm,
                "settings": {**shape, "teacher_refresh_rounds": o.teacher_refresh_rounds}}

    def start(self, model, resume_from, resume_round, data_source, synthetic_difficulty,
              synthetic_size, eval_split_size, prompt_template, seed
              ) -> tuple[dsl.PipelineTask, dsl.PipelineTask]:
        """The base model and data prep tasks."""
        base = self.light(self.stage("base_model", model=model, resume_from=resume_from,
                                     resume_round=resume_round), "base model")
        data = self.light(self.stage("data_prep",
            source=data_source, synthetic_difficulty=synthetic_difficulty,
            synthetic_n=synthetic_size, n_eval=eval_split_size,
            prompt_template=prompt_template, seed=seed), "data prep")
        return base, data

    def finish(self, data: dsl.PipelineTask, base_policy, final_policy,
               tables: dsl.PipelineTask, *, max_new_tokens, eval_samples, eval_prompts,
               eval_temperature, seed, eps_w, run_settings: dict) -> PipelineOutputs:
        """Both evaluations and the report; ``tables``: the task whose ``round_rollouts``,
        ``round_rewards`` and ``round_scores`` are the last round's tables;
        ``run_settings``: the pipeline parameters that reach training, which the report
        lists (:meth:`report_settings`)."""
        evals = {}
        for label, policy in (("base", base_policy), ("final", final_policy)):
            evals[label] = self.model_task(self.stage("evaluate",
                policy=policy, prompts=data.outputs["eval_prompts"], label=label,
                samples_per_prompt=eval_samples, max_new_tokens=max_new_tokens,
                temperature=eval_temperature, max_prompts=eval_prompts, seed=seed),
                f"evaluate {label} policy")
        report = self.light(self.stage("report",
            final_policy=final_policy, rollouts=tables.outputs["round_rollouts"],
            rewards=tables.outputs["round_rewards"],
            scores=tables.outputs["round_scores"],
            base_evaluation=evals["base"].outputs["results"],
            final_evaluation=evals["final"].outputs["results"], eps_w=eps_w,
            title=f"{pipeline_name(self.options)}: training report",
            **self.report_settings(), **run_settings), "training report")
        return PipelineOutputs(
            base_metrics=evals["base"].outputs["metrics"],
            base_report=evals["base"].outputs["report"],
            final_metrics=evals["final"].outputs["metrics"],
            final_report=evals["final"].outputs["report"],
            training_report=report.outputs["training_report"])


def build_pipeline(options: CompileOptions | None = None) -> Callable:
    """The ``@dsl.pipeline`` function for ``options`` (validated here, with the pipeline
    parameters' defaults: :func:`pipeline.params.check_parameters`): the staged graph, or the
    fused one for ``mode="fused"``."""
    options = options or CompileOptions()
    options.validate()
    build = _fused_pipeline if options.mode == "fused" else _staged_pipeline
    pipeline = build(_Builder(options))
    # The defaults written into the YAML obey the same rules as a submitted value.
    check_parameters(pipeline_defaults(pipeline), pipeline_types(pipeline))
    return pipeline


def _staged_pipeline(b: _Builder) -> Callable:
    options = b.options
    shards = list(range(options.rollout_shards))
    job_settings = options.job_settings()
    model_task, light, stage = b.model_task, b.light, b.stage

    @dsl.pipeline(name=pipeline_name(options), description=pipeline_description(options),
                  pipeline_root=options.pipeline_root)
    def rlsd_pipeline(
        model: str = "default",
        resume_from: str = "",
        resume_round: int = -1,
        data_source: str = "synthetic",
        synthetic_difficulty: int = 1,
        synthetic_size: int = 100,
        eval_split_size: int = 0,
        prompt_template: str = PROMPT_TEMPLATE,
        samples_per_prompt: int = 8,
        prompts_per_round: int = 256,
        max_new_tokens: int = 4096,
        temperature: float = 1.0,
        top_p: float = 1.0,
        learning_rate: float = 1e-6,
        lam0: float = 0.5,
        lam_decay_steps: int = 60,
        eps_w: float = 0.2,
        steps_per_round: int = 1,
        micro_batch_tokens: int = 8192,
        nodes: int = 1,
        gpus_per_node: int = 1,
        nproc_per_node: int = 0,
        trainer_image: str = DEFAULT_TRAINER_IMAGE,
        launcher: str = "pytorchjob",
        eval_samples: int = 1,
        eval_prompts: int = 0,
        eval_temperature: float = 0.0,
        seed: int = 0,
    ) -> PipelineOutputs:
        base, data = b.start(model, resume_from, resume_round, data_source,
                             synthetic_difficulty, synthetic_size, eval_split_size,
                             prompt_template, seed)
        run_settings = dict(
            samples_per_prompt=samples_per_prompt, prompts_per_round=prompts_per_round,
            temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
            learning_rate=learning_rate, steps_per_round=steps_per_round,
            prompt_template=prompt_template)
        train = data.outputs["train"]
        policies = [base.outputs["policy"]]  # policies[r]: what round r samples from
        for r in range(options.rounds):
            policy, teacher = policies[r], policies[options.teacher_round(r)]
            with dsl.ParallelFor(shards) as shard:
                rollout = model_task(stage("rollout",
                    policy=policy, prompts=train, round_index=r,
                    prompts_per_round=prompts_per_round, shard_index=shard,
                    num_shards=len(shards), samples_per_prompt=samples_per_prompt,
                    max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                    seed=seed), f"round {r}: rollout")
                verify = light(stage("verify",
                    prompts=train, rollouts=rollout.outputs["rollouts"]), f"round {r}: verify")
                if options.needs_scores:
                    score = model_task(stage("score",
                        policy=policy, teacher=teacher, rollouts=rollout.outputs["rollouts"],
                        prompts=train, algorithm=options.algorithm,
                        micro_batch_tokens=micro_batch_tokens,
                        steps_per_round=steps_per_round), f"round {r}: score")
            collected = {"rollouts": dsl.Collected(rollout.outputs["rollouts"]),
                         "rewards": dsl.Collected(verify.outputs["rewards"])}
            if options.needs_scores:
                collected["scores"] = dsl.Collected(score.outputs["scores"])
            merge = light(stage("merge", **collected, algorithm=options.algorithm),
                          f"round {r}: merge")
            scores = {"scores": merge.outputs["round_scores"]} if options.needs_scores else {}
            update = stage("update",
                policy=policy, rollouts=merge.outputs["round_rollouts"],
                rewards=merge.outputs["round_rewards"], prompts=train, **scores,
                algorithm=options.algorithm, round_index=r, launcher=launcher,
                learning_rate=learning_rate, lam0=lam0, lam_decay_steps=lam_decay_steps,
                eps_w=eps_w, steps_per_round=steps_per_round,
                micro_batch_tokens=micro_batch_tokens, seed=seed, nodes=nodes,
                gpus_per_node=gpus_per_node, nproc_per_node=nproc_per_node,
                trainer_image=trainer_image, s3_secret=options.s3_secret,
                run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER, job_settings=job_settings)
            b.driver(update, f"round {r}: update")
            policies.append(update.outputs["updated_policy"])
            last_round = merge

        return b.finish(data, policies[0], policies[-1], last_round,
                        max_new_tokens=max_new_tokens, eval_samples=eval_samples,
                        eval_prompts=eval_prompts, eval_temperature=eval_temperature,
                        seed=seed, eps_w=eps_w, run_settings=run_settings)

    return rlsd_pipeline


def _fused_pipeline(b: _Builder) -> Callable:
    """Data prep -> base model -> ceil(R / M) chained fused jobs -> evaluations -> report.
    The parameters are the staged pipeline's, plus ``save_every`` (without
    ``rollout_shards``' ParallelFor: the job shards over its own ranks)."""
    options = b.options
    job_settings = options.job_settings()

    @dsl.pipeline(name=pipeline_name(options), description=pipeline_description(options),
                  pipeline_root=options.pipeline_root)
    def rlsd_fused_pipeline(
        model: str = "default",
        resume_from: str = "",
        resume_round: int = -1,
        data_source: str = "synthetic",
        synthetic_difficulty: int = 1,
        synthetic_size: int = 100,
        eval_split_size: int = 0,
        prompt_template: str = PROMPT_TEMPLATE,
        samples_per_prompt: int = 8,
        prompts_per_round: int = 256,
        max_new_tokens: int = 4096,
        temperature: float = 1.0,
        top_p: float = 1.0,
        learning_rate: float = 1e-6,
        lam0: float = 0.5,
        lam_decay_steps: int = 60,
        eps_w: float = 0.2,
        steps_per_round: int = 1,
        micro_batch_tokens: int = 8192,
        save_every: int = 10,
        nodes: int = 1,
        gpus_per_node: int = 1,
        nproc_per_node: int = 0,
        trainer_image: str = DEFAULT_TRAINER_IMAGE,
        launcher: str = "pytorchjob",
        eval_samples: int = 1,
        eval_prompts: int = 0,
        eval_temperature: float = 0.0,
        seed: int = 0,
    ) -> PipelineOutputs:
        base, data = b.start(model, resume_from, resume_round, data_source,
                             synthetic_difficulty, synthetic_size, eval_split_size,
                             prompt_template, seed)
        run_settings = dict(
            samples_per_prompt=samples_per_prompt, prompts_per_round=prompts_per_round,
            temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
            learning_rate=learning_rate, steps_per_round=steps_per_round,
            prompt_template=prompt_template)
        policy = base.outputs["policy"]
        for first, count in options.fused_jobs():
            job = b.stage("fused",
                policy=policy, prompts=data.outputs["train"], rounds=count,
                algorithm=options.algorithm,
                teacher_refresh_rounds=options.teacher_refresh_rounds, round_index=first,
                launcher=launcher, prompts_per_round=prompts_per_round,
                samples_per_prompt=samples_per_prompt, max_new_tokens=max_new_tokens,
                temperature=temperature, top_p=top_p, learning_rate=learning_rate, lam0=lam0,
                lam_decay_steps=lam_decay_steps, eps_w=eps_w, steps_per_round=steps_per_round,
                micro_batch_tokens=micro_batch_tokens, seed=seed, save_every=save_every,
                nodes=nodes, gpus_per_node=gpus_per_node, nproc_per_node=nproc_per_node,
                trainer_image=trainer_image, s3_secret=options.s3_secret,
                run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER, job_settings=job_settings)
            b.driver(job, fused_title(first, count))
            policy = job.outputs["updated_policy"]

        return b.finish(data, base.outputs["policy"], policy, job,
                        max_new_tokens=max_new_tokens, eval_samples=eval_samples,
                        eval_prompts=eval_prompts, eval_temperature=eval_temperature,
                        seed=seed, eps_w=eps_w, run_settings=run_settings)

    return rlsd_fused_pipeline


def fused_title(first: int, count: int) -> str:
    """The display name of the fused job that runs rounds ``first`` .. ``first + count - 1``."""
    return f"fused round {first}" if count == 1 else f"fused rounds {first}-{first + count - 1}"
