"""The RLSD DAG (design.md, "Rounds" and "Layout"), built for given compile-time options.

Both modes start with ``check settings``: it checks every parameter value the run got
(:func:`pipeline.params.check_parameters`, as compile and submit do) before anything else
starts, and hands the report the settings groups it validated.

Staged mode (``mode="staged"``, the default: every stage of every round is its own task)::

    check settings → base model ─┐    data prep (train, eval prompts)
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

    check settings → base model ─┐    data prep (train, eval prompts)
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
task samples and trains (it is rollout, score and update in one): it never caches. Check
settings is a pure function of its parameters: it may cache.

Parameters: both signatures are built from one table, :data:`pipeline.params.
PIPELINE_PARAMETERS` (name, type, default from the settings dataclasses, help, which modes),
so the two modes cannot drift apart; the help texts are the parameters' descriptions in the
YAML and the KFP UI. The settings groups (``data_settings``, ``rollout_settings``...) reach
every field of each stage's settings dataclass at run time.

Retries (:data:`RETRIES`, the ``retries`` and ``retry_backoff*`` compile options): every task
that can fail for a passing reason (a lost node, an evicted pod, an S3 outage) and is safe to
run again gets a KFP retry policy. All of them are safe: each writes its outputs whole (a
retry rewrites them), base model and data prep read again what they read, and the update and
fused tasks' training jobs are named after the run and round, replace a leftover job of that
name and skip (update) or resume (fused) the rounds whose checkpoints are complete under the
same output URI, which KFP gives a retry. Check settings is not retried: it fails only on a
bad value, which a retry would only report later.
"""

# No `from __future__ import annotations`: KFP reads the pipeline signature's real types.
import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Markdown, Metrics
from kfp.dsl.python_component import PythonComponent

from components import COMPONENT_NAMES
from components._shared.image import build_component, component_image
from pipeline import kube, yaml_comments
from pipeline.options import CompileOptions
from pipeline.params import (
    PipelineParameter,
    check_parameters,
    pipeline_defaults,
    pipeline_parameters,
    pipeline_types,
)

# The default prompt template spans lines: keep the YAML's comment header valid (KFP #10438).
yaml_comments.install()


class Caching(NamedTuple):
    """Whether a component's tasks may come from KFP's cache, and why (module docstring)."""

    enabled: bool
    reason: str


#: The caching decision of every component (a new component must add one).
CACHING: dict[str, Caching] = {
    "check_settings": Caching(True, "pure function of its input parameters: it reads "
                                    "nothing, samples nothing and writes only its output"),
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


class Retry(NamedTuple):
    """Whether a component's tasks get the compile options' retry policy, and why."""

    enabled: bool
    reason: str


#: The retry decision of every component (a new component must add one; module docstring).
RETRIES: dict[str, Retry] = {
    "check_settings": Retry(False, "fails only on a bad parameter value, which a retry would "
                                   "only report later"),
    "base_model": Retry(True, "writes one pointer file; resolves the same reference again"),
    "data_prep": Retry(True, "reads its source again and rewrites its splits whole (the split "
                             "is seeded)"),
    "rollout": Retry(True, "rewrites its rollouts table whole (sampling is seeded)"),
    "verify": Retry(True, "pure function of its artifacts; rewrites its rewards table"),
    "score": Retry(True, "rewrites its scores table whole"),
    "merge": Retry(True, "pure function of the shards' artifacts"),
    "update": Retry(True, "the training job is named after the run and round and replaces a "
                          "leftover of that name; a complete checkpoint at the output is kept, "
                          "not trained again"),
    "fused": Retry(True, "the training job replaces a leftover of its name and resumes from "
                         "its last complete round-NNNN checkpoint under the same output URI"),
    "evaluate": Retry(True, "rewrites its metrics, report and results whole"),
    "report": Retry(True, "pure function of its artifacts; rewrites the page"),
}


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


def retried(name: str, task: dsl.PipelineTask, options: CompileOptions) -> dsl.PipelineTask:
    """``task`` with the compile options' retry policy if :data:`RETRIES` allows it for
    component ``name`` (and ``options.retries`` > 0)."""
    if name not in RETRIES:
        raise KeyError(f"component {name!r} has no retry decision in pipeline.RETRIES")
    policy = options.retry_policy()
    return task.set_retry(**policy) if policy and RETRIES[name].enabled else task


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


#: The settings groups each stage's component takes (its input name -> the pipeline's group).
STAGE_SETTINGS: dict[str, dict[str, str]] = {
    "data_prep": {"settings": "data_settings"},
    "rollout": {"settings": "rollout_settings"},
    "verify": {"settings": "verify_settings"},
    "score": {"settings": "score_settings"},
    "update": {"train_settings": "train_settings", "job_settings": "job_settings"},
    "fused": {name: name for name in ("rollout_settings", "verify_settings", "score_settings",
                                      "train_settings", "fused_settings", "job_settings")},
    "evaluate": {"settings": "eval_settings"},
}


class _Builder:
    """What both modes share: the components, task settings, the start and the end."""

    def __init__(self, options: CompileOptions) -> None:
        self.options = options
        self.comps = stage_components(options.component_image or None)
        self.params: Mapping[str, Any] = {}

    def light(self, task: dsl.PipelineTask, title: str) -> dsl.PipelineTask:
        return kube.common_settings(task.set_display_name(title), self.options)

    def model_task(self, task: dsl.PipelineTask, title: str) -> dsl.PipelineTask:
        return kube.model_task_settings(task.set_display_name(title), self.options)

    def driver(self, task: dsl.PipelineTask, title: str) -> dsl.PipelineTask:
        """A task that launches and watches a training job (update, fused)."""
        return kube.update_task_settings(task.set_display_name(title), self.options)

    def stage(self, name: str, **arguments) -> dsl.PipelineTask:
        """A task of component ``name`` with its caching and retry decisions and its
        settings groups (:data:`STAGE_SETTINGS`) from the pipeline's parameters."""
        groups = {arg: self.params[group] for arg, group in STAGE_SETTINGS.get(name, {}).items()}
        return retried(name, cached_task(name, self.comps[name], **groups, **arguments),
                       self.options)

    def report_settings(self) -> dict:
        """The report's compile-time settings: the profile, the algorithm and the graph's
        shape (constants of the YAML)."""
        o = self.options
        shape = ({"mode": "fused", "rounds": o.rounds, "rounds_per_job": o.rounds_per_job}
                 if o.mode == "fused" else
                 {"mode": "staged", "rounds": o.rounds, "rollout_shards": o.rollout_shards})
        return {"profile": o.profile, "algorithm": o.algorithm,
                "settings": {**shape, "teacher_refresh_rounds": o.teacher_refresh_rounds}}

    def start(self) -> tuple[dsl.PipelineTask, dsl.PipelineTask, dsl.PipelineTask]:
        """The check settings task, then the base model and data prep tasks after it."""
        p = self.params
        check = self.light(self.stage("check_settings", **p, mode=self.options.mode,
                                      job_defaults=self.options.job_check_defaults()),
                           "check settings")
        base = self.light(self.stage("base_model", model=p["model"],
                                     resume_from=p["resume_from"],
                                     resume_round=p["resume_round"]), "base model")
        data = self.light(self.stage("data_prep",
            source=p["data_source"], synthetic_difficulty=p["synthetic_difficulty"],
            synthetic_n=p["synthetic_size"], n_eval=p["eval_split_size"],
            prompt_template=p["prompt_template"], seed=p["seed"]), "data prep")
        base.after(check)
        data.after(check)
        return check, base, data

    def trainer(self) -> dict[str, Any]:
        """The training job's arguments that update and fused share."""
        p = self.params
        return dict(launcher=p["launcher"], nodes=p["nodes"], gpus_per_node=p["gpus_per_node"],
                    nproc_per_node=p["nproc_per_node"], trainer_image=p["trainer_image"],
                    s3_secret=self.options.s3_secret, run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                    job_defaults=self.options.job_settings())

    def finish(self, check: dsl.PipelineTask, data: dsl.PipelineTask, base_policy,
               final_policy, tables: dsl.PipelineTask) -> PipelineOutputs:
        """Both evaluations and the report; ``tables``: the task whose ``round_rollouts``,
        ``round_rewards`` and ``round_scores`` are the last round's tables. The report lists
        the reported parameters (:attr:`pipeline.params.PipelineParameter.reported`) and the
        settings groups ``check`` validated."""
        p = self.params
        evals = {}
        for label, policy in (("base", base_policy), ("final", final_policy)):
            evals[label] = self.model_task(self.stage("evaluate",
                policy=policy, prompts=data.outputs["eval_prompts"], label=label,
                samples_per_prompt=p["eval_samples"], max_new_tokens=p["max_new_tokens"],
                temperature=p["eval_temperature"], max_prompts=p["eval_prompts"],
                seed=p["seed"]), f"evaluate {label} policy")
        reported = {q.name: p[q.name] for q in pipeline_parameters(self.options.mode)
                    if q.reported}
        report = self.light(self.stage("report",
            final_policy=final_policy, rollouts=tables.outputs["round_rollouts"],
            rewards=tables.outputs["round_rewards"],
            scores=tables.outputs["round_scores"],
            base_evaluation=evals["base"].outputs["results"],
            final_evaluation=evals["final"].outputs["results"], eps_w=p["eps_w"],
            title=f"{pipeline_name(self.options)}: training report",
            stage_settings=check.output, **self.report_settings(), **reported),
            "training report")
        return PipelineOutputs(
            base_metrics=evals["base"].outputs["metrics"],
            base_report=evals["base"].outputs["report"],
            final_metrics=evals["final"].outputs["metrics"],
            final_report=evals["final"].outputs["report"],
            training_report=report.outputs["training_report"])


def _docstring(parameters: tuple[PipelineParameter, ...]) -> str:
    """The pipeline function's docstring: KFP makes each ``Args`` line the parameter's
    description in the YAML (and the KFP UI)."""
    lines = ["RLSD pipeline.", "", "Args:"]
    lines += [f"    {q.name}: {' '.join(q.help.split())}" for q in parameters]
    return "\n".join(lines) + "\n"


def _pipeline_function(b: _Builder, name: str, body: Callable[[_Builder], PipelineOutputs]
                       ) -> Callable:
    """The ``@dsl.pipeline`` function of ``b.options.mode``: its signature is the mode's
    parameters (:func:`pipeline.params.pipeline_parameters`; KFP reads names, types and
    defaults from it), and it runs ``body`` with them in ``b.params``."""
    options = b.options
    parameters = pipeline_parameters(options.mode)
    signature = inspect.Signature(
        [inspect.Parameter(q.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=q.default,
                           annotation=q.type) for q in parameters],
        return_annotation=PipelineOutputs)

    def pipeline_func(*args: Any, **kwargs: Any) -> PipelineOutputs:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        b.params = dict(bound.arguments)
        return body(b)

    pipeline_func.__signature__ = signature
    pipeline_func.__name__ = pipeline_func.__qualname__ = name
    pipeline_func.__doc__ = _docstring(parameters)
    return dsl.pipeline(name=pipeline_name(options), description=pipeline_description(options),
                        pipeline_root=options.pipeline_root)(pipeline_func)


def build_pipeline(options: CompileOptions | None = None) -> Callable:
    """The ``@dsl.pipeline`` function for ``options`` (validated here, with the pipeline
    parameters' defaults: :func:`pipeline.params.check_parameters`): the staged graph, or the
    fused one for ``mode="fused"``."""
    options = options or CompileOptions()
    options.validate()
    b = _Builder(options)
    pipeline = (_pipeline_function(b, "rlsd_fused_pipeline", _fused_rounds)
                if options.mode == "fused" else
                _pipeline_function(b, "rlsd_pipeline", _staged_rounds))
    # The defaults written into the YAML obey the same rules as a submitted value.
    check_parameters(pipeline_defaults(pipeline), pipeline_types(pipeline),
                     job_defaults=options.job_check_defaults())
    return pipeline


def _staged_rounds(b: _Builder) -> PipelineOutputs:
    """Check settings -> base model and data prep -> R rounds of rollout / verify / score
    (fanned out over the shards) -> merge -> update -> evaluations -> report."""
    options, p = b.options, b.params
    shards = list(range(options.rollout_shards))
    model_task, light, stage = b.model_task, b.light, b.stage
    check, base, data = b.start()
    train = data.outputs["train"]
    policies = [base.outputs["policy"]]  # policies[r]: what round r samples from
    for r in range(options.rounds):
        policy, teacher = policies[r], policies[options.teacher_round(r)]
        with dsl.ParallelFor(shards) as shard:
            rollout = model_task(stage("rollout",
                policy=policy, prompts=train, round_index=r,
                prompts_per_round=p["prompts_per_round"], shard_index=shard,
                num_shards=len(shards), samples_per_prompt=p["samples_per_prompt"],
                max_new_tokens=p["max_new_tokens"], temperature=p["temperature"],
                top_p=p["top_p"], seed=p["seed"]), f"round {r}: rollout")
            verify = light(stage("verify",
                prompts=train, rollouts=rollout.outputs["rollouts"]), f"round {r}: verify")
            if options.needs_scores:
                score = model_task(stage("score",
                    policy=policy, teacher=teacher, rollouts=rollout.outputs["rollouts"],
                    prompts=train, algorithm=options.algorithm,
                    micro_batch_tokens=p["micro_batch_tokens"],
                    steps_per_round=p["steps_per_round"]), f"round {r}: score")
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
            algorithm=options.algorithm, round_index=r,
            learning_rate=p["learning_rate"], lam0=p["lam0"],
            lam_decay_steps=p["lam_decay_steps"], eps_w=p["eps_w"],
            steps_per_round=p["steps_per_round"], micro_batch_tokens=p["micro_batch_tokens"],
            seed=p["seed"], **b.trainer())
        b.driver(update, f"round {r}: update")
        policies.append(update.outputs["updated_policy"])
        last_round = merge
    return b.finish(check, data, policies[0], policies[-1], last_round)


def _fused_rounds(b: _Builder) -> PipelineOutputs:
    """Check settings -> base model and data prep -> ceil(R / M) chained fused jobs ->
    evaluations -> report. The parameters are the staged pipeline's, plus ``save_every`` and
    ``fused_settings`` (without ``rollout_shards``' ParallelFor: the job shards over its own
    ranks)."""
    options, p = b.options, b.params
    check, base, data = b.start()
    policy = base.outputs["policy"]
    for first, count in options.fused_jobs():
        job = b.stage("fused",
            policy=policy, prompts=data.outputs["train"], rounds=count,
            algorithm=options.algorithm,
            teacher_refresh_rounds=options.teacher_refresh_rounds, round_index=first,
            prompts_per_round=p["prompts_per_round"],
            samples_per_prompt=p["samples_per_prompt"], max_new_tokens=p["max_new_tokens"],
            temperature=p["temperature"], top_p=p["top_p"], learning_rate=p["learning_rate"],
            lam0=p["lam0"], lam_decay_steps=p["lam_decay_steps"], eps_w=p["eps_w"],
            steps_per_round=p["steps_per_round"], micro_batch_tokens=p["micro_batch_tokens"],
            seed=p["seed"], save_every=p["save_every"], **b.trainer())
        b.driver(job, fused_title(first, count))
        policy = job.outputs["updated_policy"]
    return b.finish(check, data, base.outputs["policy"], policy, job)


def fused_title(first: int, count: int) -> str:
    """The display name of the fused job that runs rounds ``first`` .. ``first + count - 1``."""
    return f"fused round {first}" if count == 1 else f"fused rounds {first}-{first + count - 1}"
