"""``python -m pipeline.submit``: upload the compiled pipeline as a new version, then start a
run or a recurring run (what CI does after ``python -m pipeline.compile``).

    python -m pipeline.submit --package rlsd_pipeline.yaml --experiment rlsd-nightly \\
        --param model=Qwen/Qwen3-VL-8B-Instruct --param data_source=gsm8k
    python -m pipeline.submit --package rlsd_pipeline.yaml --cron "0 0 3 * * *"   # 03:00 daily

The KFP API server comes from the environment: ``KFP_HOST`` (e.g.
``https://kubeflow.example.com/pipeline``; unset: kfp's in-cluster default), a bearer token
from ``KFP_TOKEN`` or from the file named by ``KF_PIPELINES_SA_TOKEN_PATH`` (a projected
service-account token), and ``KFP_NAMESPACE`` for multi-user Kubeflow. The token is never
printed. ``--param`` values are converted to the types the pipeline declares; an unknown name
or a bad value is an error before anything is uploaded. KFP cron expressions have SIX fields
(seconds first): ``"0 0 3 * * *"`` is 03:00 every day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PACKAGE = "rlsd_pipeline.yaml"
LAUNCHERS = ("local", "pytorchjob")  # rlsd.launch's modes
DEFAULT_EXPERIMENT = "rlsd"
CRON_FIELDS = ("second", "minute", "hour", "day-of-month", "month", "day-of-week")
# Inclusive numeric range of each field (day-of-week 0-6, Sunday = 0; 7 is not allowed).
_CRON_RANGES = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_CRON_NAMES = {4: {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV",
                   "DEC"}, 5: {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}}
_CRON_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
                     "@hourly"}
_EVERY = re.compile(r"^@every\s+(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class SubmitError(ValueError):
    """A bad argument, parameter, cron expression or package; the message names it."""


def _cron_value(token: str, index: int) -> None:
    if token.upper() in _CRON_NAMES.get(index, set()):
        return
    if not token.isdigit():
        raise SubmitError(f"'{token}' is not a number or name")
    low, high = _CRON_RANGES[index]
    if not low <= int(token) <= high:
        raise SubmitError(f"{token} is outside {low}-{high}")


def _cron_field(field: str, index: int) -> None:
    for part in field.split(","):
        base, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            raise SubmitError(f"step '/{step}' must be a positive number")
        if base in ("*", "?"):
            continue
        for token in base.split("-", 1):
            _cron_value(token, index)


def check_cron(expression: str) -> str:
    """``expression`` if KFP's scheduler (six fields, seconds first) accepts it, else
    :class:`SubmitError` saying why; ``@daily``-style descriptors and ``@every 1h`` pass."""
    text = " ".join(expression.split())
    if text.startswith("@"):
        if text in _CRON_DESCRIPTORS or _EVERY.match(text):
            return text
        raise SubmitError(f"cron descriptor {text!r} is not one of {sorted(_CRON_DESCRIPTORS)} "
                          "or '@every <duration>'")
    fields = text.split(" ") if text else []
    if len(fields) == 5:
        raise SubmitError(f"cron expression {text!r} has 5 fields, but KFP needs 6 (second "
                          f"minute hour day-of-month month day-of-week): did you mean "
                          f"'0 {text}'?")
    if len(fields) != len(CRON_FIELDS):
        raise SubmitError(f"cron expression {text!r} has {len(fields)} field(s); KFP needs 6 "
                          f"({' '.join(CRON_FIELDS)}), e.g. '0 0 3 * * *' for 03:00 daily")
    for index, (field, name) in enumerate(zip(fields, CRON_FIELDS, strict=True)):
        try:
            _cron_field(field, index)
        except SubmitError as exc:
            raise SubmitError(f"cron expression {text!r}: {name} field '{field}': {exc}") from None
    return text


def _convert(name: str, text: str, kind: str) -> Any:
    try:
        if kind == "Integer":
            return int(text)
        if kind == "Float":
            return float(text)
        if kind == "Boolean":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
    except ValueError:
        raise SubmitError(f"parameter {name} expects {kind.lower()}, got {text!r}") from None
    if kind in ("String", "Any", ""):
        return text
    import yaml  # lists and dicts

    return yaml.safe_load(text)


def parse_params(pairs: Sequence[str], pipeline: Any) -> dict[str, Any]:
    """``["name=value", ...]`` as the typed arguments of ``pipeline`` (a pipeline function or a
    component loaded from the compiled YAML); unknown names are an error listing the valid."""
    inputs = pipeline.component_spec.inputs or {}
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise SubmitError(f"parameter {pair!r} is not of the form name=value")
        if name not in inputs:
            raise SubmitError(f"the pipeline has no parameter {name!r}; it has "
                              f"{sorted(inputs)}")
        params[name] = _convert(name, text, str(inputs[name].type))
    if "launcher" in params and params["launcher"] not in LAUNCHERS:
        # Checked here: in the pipeline only the update task reads it, after a whole round.
        raise SubmitError(f"parameter launcher must be one of {list(LAUNCHERS)}, "
                          f"got {params['launcher']!r}")
    return params


def read_token(environ: Mapping[str, str]) -> str | None:
    """``KFP_TOKEN``, else the content of the file at ``KF_PIPELINES_SA_TOKEN_PATH``."""
    if environ.get("KFP_TOKEN"):
        return environ["KFP_TOKEN"].strip()
    path = environ.get("KF_PIPELINES_SA_TOKEN_PATH")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise SubmitError(f"KF_PIPELINES_SA_TOKEN_PATH={path} cannot be read: "
                              f"{exc.strerror}") from None
    return None


def make_client(environ: Mapping[str, str]) -> Any:
    """A ``kfp.Client`` for ``KFP_HOST`` with the token from the environment."""
    import kfp

    return kfp.Client(host=environ.get("KFP_HOST") or None, existing_token=read_token(environ),
                      namespace=environ.get("KFP_NAMESPACE") or "kubeflow")


def upload_version(client: Any, package: str, pipeline_name: str, version_name: str,
                   description: str = "", namespace: str | None = None) -> tuple[str, str]:
    """Upload ``package`` as version ``version_name`` of ``pipeline_name`` (creating the
    pipeline on first upload); returns ``(pipeline_id, version_id)``."""
    pipeline_id = client.get_pipeline_id(pipeline_name)
    if pipeline_id is None:
        pipeline = client.upload_pipeline(pipeline_package_path=package,
                                          pipeline_name=pipeline_name,
                                          description=description or None, namespace=namespace)
        pipeline_id = pipeline.pipeline_id
        # The first upload creates the pipeline's first version; name and id come from it.
        listing = client.list_pipeline_versions(pipeline_id=pipeline_id, page_size=1,
                                                sort_by="created_at desc")
        versions = listing.pipeline_versions or []
        if not versions:
            raise SubmitError(f"uploaded pipeline {pipeline_name!r} has no version")
        return pipeline_id, versions[0].pipeline_version_id
    version = client.upload_pipeline_version(pipeline_package_path=package,
                                             pipeline_version_name=version_name,
                                             pipeline_id=pipeline_id,
                                             description=description or None)
    return pipeline_id, version.pipeline_version_id


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.submit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", default=DEFAULT_PACKAGE,
                        help=f"compiled pipeline YAML (default: {DEFAULT_PACKAGE})")
    parser.add_argument("--pipeline-name", help="pipeline name (default: the YAML's)")
    parser.add_argument("--version-name", help="default: <pipeline name>-<UTC time>")
    parser.add_argument("--description", default="", help="version description")
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT,
                        help=f"experiment (created if missing; default: {DEFAULT_EXPERIMENT})")
    parser.add_argument("--run-name", help="run / recurring run name (default: version name)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="pipeline parameter (repeatable)")
    parser.add_argument("--cron", help="six-field cron expression: create a recurring run "
                                       "instead of one run (e.g. '0 0 3 * * *')")
    parser.add_argument("--max-concurrency", type=int, default=1,
                        help="recurring runs: at most this many at once (default 1)")
    parser.add_argument("--catchup", action="store_true",
                        help="recurring runs: also start the runs missed while paused")
    parser.add_argument("--pipeline-root", help="override the compiled pipeline root")
    parser.add_argument("--service-account", help="Kubernetes service account of the run")
    return parser


@dataclass
class SubmitPlan:
    """Everything checked before connecting: what to upload and how to run it."""

    package: str
    pipeline_name: str
    version_name: str
    run_name: str
    experiment: str
    params: dict[str, Any]
    cron: str | None = None
    max_concurrency: int = 1
    catchup: bool = False
    description: str = ""
    pipeline_root: str | None = None
    service_account: str | None = None
    namespace: str | None = None


def plan_submission(args: argparse.Namespace, environ: Mapping[str, str],
                    now: dt.datetime | None = None) -> SubmitPlan:
    """Check the package, parameters and schedule; :class:`SubmitError` on the first problem."""
    from kfp import components

    cron = check_cron(args.cron) if args.cron else None
    if args.max_concurrency < 1:
        raise SubmitError(f"--max-concurrency must be >= 1, got {args.max_concurrency}")
    package = Path(args.package)
    if not package.is_file():
        raise SubmitError(f"no compiled pipeline at {package}: run python -m pipeline.compile "
                          f"--output {package} first")
    pipeline = components.load_component_from_file(str(package))
    params = parse_params(args.param, pipeline)
    name = args.pipeline_name or pipeline.name
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%d-%H%M%S")
    version_name = args.version_name or f"{name}-{stamp}"
    return SubmitPlan(
        package=str(package), pipeline_name=name, version_name=version_name,
        run_name=args.run_name or version_name, experiment=args.experiment, params=params,
        cron=cron, max_concurrency=args.max_concurrency, catchup=args.catchup,
        description=args.description, pipeline_root=args.pipeline_root,
        service_account=args.service_account,
        namespace=environ.get("KFP_NAMESPACE") or None)


def submit(plan: SubmitPlan, client: Any) -> dict[str, str]:
    """Upload a version, ensure the experiment, start the run or the recurring run; returns
    the ids."""
    pipeline_id, version_id = upload_version(client, plan.package, plan.pipeline_name,
                                             plan.version_name, plan.description,
                                             plan.namespace)
    experiment = client.create_experiment(name=plan.experiment, namespace=plan.namespace)
    common = {"experiment_id": experiment.experiment_id, "job_name": plan.run_name,
              "params": plan.params, "pipeline_id": pipeline_id, "version_id": version_id,
              "pipeline_root": plan.pipeline_root, "service_account": plan.service_account}
    result = {"pipeline_id": pipeline_id, "version_id": version_id,
              "experiment_id": experiment.experiment_id}
    if plan.cron:
        job = client.create_recurring_run(cron_expression=plan.cron,
                                          max_concurrency=plan.max_concurrency,
                                          no_catchup=not plan.catchup, enabled=True, **common)
        result["recurring_run_id"] = job.recurring_run_id
    else:
        run = client.run_pipeline(**common)
        result["run_id"] = run.run_id
    return result


def main(argv: Sequence[str] | None = None,
         client_factory: Callable[[Mapping[str, str]], Any] = make_client) -> int:
    args = build_parser().parse_args(argv)
    try:
        plan = plan_submission(args, os.environ)  # everything checked before connecting
        result = submit(plan, client_factory(os.environ))
    except SubmitError as exc:
        print(f"pipeline.submit: error: {exc}", file=sys.stderr)
        return 2
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
