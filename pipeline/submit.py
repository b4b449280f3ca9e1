"""``python -m pipeline.submit``: upload the compiled pipeline as a new version, then start a
run or a recurring run (what CI does after ``python -m pipeline.compile``).

    python -m pipeline.submit --package rlsd_pipeline.yaml --experiment rlsd-nightly \\
        --param model=Qwen/Qwen3-VL-8B-Instruct --param data_source=gsm8k
    python -m pipeline.submit --package rlsd_pipeline.yaml --cron "0 0 3 * * *"   # 03:00 daily

The KFP API server comes from the environment: ``KFP_HOST`` (e.g.
``https://kubeflow.example.com/pipeline``; unset: kfp's in-cluster default), a bearer token
from ``KFP_TOKEN`` or from the file named by ``KF_PIPELINES_SA_TOKEN_PATH`` (a projected
service-account token), and ``KFP_NAMESPACE`` for multi-user Kubeflow. The token is never
printed. ``--param`` values are converted to the types the pipeline declares and checked, with
the package's other defaults, by the rules of the settings dataclasses that read them
(:mod:`pipeline.params`); the pipeline root (``--pipeline-root`` or the package's) must be an
S3 URI the storage layer accepts. KFP cron expressions have SIX fields (seconds first):
``"0 0 3 * * *"`` is 03:00 every day. The run's caching is the compiled one (see
:mod:`pipeline.pipeline`): submit never overrides it.

A package that names a default image not published yet (``ghcr.io/rlsd-kubeflow/...``, see
:mod:`components._shared.image`) is refused before anything is sent: build and push your own
images and compile with them, give the trainer image with ``--param trainer_image=...``, or
pass ``--allow-placeholder-images`` when you pushed or mirrored images under exactly those
names.

Exit status: 0 when the run (or recurring run) was created; 2 for a bad argument, parameter,
cron expression or package (one line, nothing uploaded); 1 when the KFP API cannot be reached
or refuses a request (one line naming the host and what to check). With ``KFP_HOST`` set, the
API's health endpoint is asked once before anything else, so a wrong, unreachable or
unauthorised endpoint is reported before any upload.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import logging
import os
import re
import socket
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components._shared.image import (
    TRAINER_IMAGE_PARAMETER,
    placeholder_images,
    placeholder_references,
)
from pipeline.options import check_pipeline_root
from pipeline.params import LAUNCHERS as LAUNCHERS  # re-exported: rlsd.launch's modes
from pipeline.params import check_parameters, pipeline_defaults, pipeline_types
from rlsd.config import ConfigError

DEFAULT_PACKAGE = "rlsd_pipeline.yaml"
DEFAULT_EXPERIMENT = "rlsd"
#: What ``kfp.Client`` asks first (``get_kfp_healthz``); the preflight asks it too.
HEALTHZ_PATH = "/apis/v2beta1/healthz"
EXIT_SERVER = 1  # the KFP API is unreachable or refused a request
EXIT_USAGE = 2  # a bad argument, parameter, cron expression or package
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


class KfpServerError(RuntimeError):
    """The KFP API cannot be reached, or refused a request; the message names the host and
    what to check, never the token."""


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


def parse_params(pairs: Sequence[str], pipeline: Any,
                 base: Mapping[str, Any] | None = None,
                 job_defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``["name=value", ...]`` as the typed arguments of ``pipeline`` (a pipeline function or a
    component loaded from the compiled YAML); unknown names are an error listing the valid.
    ``base``: values already chosen over the defaults (a profile's), checked with them."""
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
    try:  # with the other defaults: some rules relate two parameters
        check_parameters({**pipeline_defaults(pipeline), **(base or {}), **params},
                         pipeline_types(pipeline), job_defaults=job_defaults)
    except ConfigError as exc:
        raise SubmitError(str(exc)) from None
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


def kfp_host(environ: Mapping[str, str]) -> str | None:
    """``KFP_HOST`` as ``kfp.Client`` will use it (``https://`` added when it has no scheme,
    no trailing slash), or None when unset (kfp's in-cluster default)."""
    host = (environ.get("KFP_HOST") or "").strip()
    if not host:
        return None
    if not host.startswith("http"):
        host = "https://" + host
    return host.rstrip("/")


def shown_host(host: str | None) -> str:
    """``host`` for a message: without user:password, query or fragment."""
    if not host:
        return "kfp's default endpoint (KFP_HOST is unset)"
    parts = urllib.parse.urlsplit(host)
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


_TOKEN_HINT = ("check the token (KFP_TOKEN, or the file named by KF_PIPELINES_SA_TOKEN_PATH) "
               "and, for multi-user Kubeflow, KFP_NAMESPACE")
_HOST_HINT = ("check KFP_HOST: it must be the KFP API endpoint, e.g. "
              "https://kubeflow.example.com/pipeline, or http://localhost:8888 through "
              "'kubectl port-forward -n kubeflow svc/ml-pipeline 8888'")


def _status_error(host: str | None, status: int, reason: str, what: str,
                  detail: str = "") -> KfpServerError:
    """The one-line error for an HTTP ``status`` answered to ``what``."""
    where = shown_host(host)
    tail = f" ({detail})" if detail else ""
    if status in (401, 403):
        return KfpServerError(f"the KFP API at {where} refused {what}: HTTP {status} {reason}"
                              f"{tail}; {_TOKEN_HINT}")
    if status == 404:
        return KfpServerError(f"the KFP API at {where} answered HTTP 404 Not Found to {what}; "
                              f"{_HOST_HINT}")
    if 300 <= status < 400:
        return KfpServerError(f"{where} redirects {what}{tail}, as a login page does, so "
                              f"the request carried no valid token; {_TOKEN_HINT}")
    return KfpServerError(f"the KFP API at {where} failed {what}: HTTP {status} {reason}{tail}; "
                          "check that the KFP API server is healthy")


def _unreachable(host: str | None, reason: str) -> KfpServerError:
    return KfpServerError(f"cannot reach the KFP API at {shown_host(host)}: {reason}; "
                          f"{_HOST_HINT}, and that the server is up and reachable from here")


def _os_reason(exc: BaseException) -> str:
    """A short reason for a failed connection: 'connection refused', 'timed out'..."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "no answer (timed out)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({getattr(exc, 'reason', None) or exc})"
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^'\])]+)", text)
    if found:
        return found.group(1).strip().lower()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _server_detail(body: Any) -> str:
    """The server's own message from an error body (JSON ``message``), short; else ''."""
    try:
        data = json.loads(body) if body else {}
    except (TypeError, ValueError):
        return ""
    message = data.get("message") or data.get("error") if isinstance(data, dict) else None
    return " ".join(str(message).split())[:200] if message else ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # report a redirect (a login page) instead of following it


def check_endpoint(host: str, token: str | None, timeout_s: float = 10.0) -> None:
    """Ask ``host``'s KFP health endpoint once, as ``kfp.Client`` does first; raise
    :class:`KfpServerError` saying what to check when it cannot be reached, redirects, refuses
    the token or is not a KFP API. Like kfp's client, it ignores proxy variables."""
    request = urllib.request.Request(host + HEALTHZ_PATH, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    what = f"GET {HEALTHZ_PATH}"
    try:
        with opener.open(request, timeout=timeout_s) as response:
            body = response.read(65536)
    except urllib.error.HTTPError as exc:
        location = exc.headers.get("Location", "") if exc.headers else ""
        if location and 300 <= exc.code < 400:
            target = shown_host(urllib.parse.urljoin(host + "/", location))
            raise _status_error(host, exc.code, exc.reason, f"{what} to {target}") from None
        raise _status_error(host, exc.code, exc.reason, what,
                            _server_detail(exc.read(4096))) from None
    except urllib.error.URLError as exc:
        reason = exc.reason if isinstance(exc.reason, BaseException) else OSError(exc.reason)
        raise _unreachable(host, _os_reason(reason)) from None
    except (OSError, http.client.HTTPException) as exc:  # reset, timeout while reading...
        raise _unreachable(host, _os_reason(exc)) from None
    try:
        json.loads(body)
    except ValueError:
        raise KfpServerError(f"{shown_host(host)} answered {what} with something that is not "
                             f"the KFP API (not JSON: a login page or another service?); "
                             f"{_HOST_HINT}") from None


def translate_error(exc: BaseException, host: str | None, what: str) -> KfpServerError | None:
    """The one-line :class:`KfpServerError` for an error of kfp's client while doing
    ``what``, or None for an error that is not about reaching the server."""
    import kfp_server_api
    import urllib3

    if isinstance(exc, kfp_server_api.ApiException):
        if not exc.status:  # kfp_server_api's SSL errors
            return _unreachable(host, f"TLS error ({exc.reason})")
        return _status_error(host, exc.status, exc.reason or "", what, _server_detail(exc.body))
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        return _unreachable(host, _os_reason(exc.reason or exc))
    if isinstance(exc, TimeoutError) and "healthz" in str(exc):  # kfp.Client's retry loop
        return _unreachable(host, "no healthy answer after kfp's retries")
    if isinstance(exc, (urllib3.exceptions.HTTPError, http.client.HTTPException,
                        ConnectionError, TimeoutError, socket.gaierror, ssl.SSLError)):
        return _unreachable(host, _os_reason(exc))
    return None  # e.g. a local file error: not about the server


@contextlib.contextmanager
def kfp_errors(host: str | None, what: str) -> Iterator[None]:
    """Turn errors of kfp's client inside the block into :class:`KfpServerError`."""
    try:
        yield
    except Exception as exc:
        translated = translate_error(exc, host, what)
        if translated is None:
            raise
        raise translated from None


def make_client(environ: Mapping[str, str]) -> Any:
    """A ``kfp.Client`` for ``KFP_HOST`` with the token from the environment; with
    ``KFP_HOST`` set, the endpoint is checked first (:func:`check_endpoint`)."""
    import kfp

    host, token = kfp_host(environ), read_token(environ)
    if host:
        check_endpoint(host, token)
    with warnings.catch_warnings(), kfp_errors(host, "the health check"):
        # kfp warns about server versions, and logs each failed health check with a traceback
        # before retrying; the outcome is reported here in one line instead.
        warnings.simplefilter("ignore", FutureWarning)
        logging.disable(logging.ERROR)
        try:
            return kfp.Client(host=host, existing_token=token,
                              namespace=environ.get("KFP_NAMESPACE") or "kubeflow")
        finally:
            logging.disable(logging.NOTSET)


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
    parser.add_argument("--allow-placeholder-images", action="store_true",
                        help="submit a package that names the default images although they "
                             "are not published yet: only when you pushed or mirrored images "
                             "under exactly those names")
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
    try:
        pipeline = components.load_component_from_file(str(package))
        compiled_root = package_pipeline_root(package)
    except Exception as exc:  # kfp and yaml raise many kinds for a file that is not a pipeline
        raise SubmitError(f"{package} is not a compiled pipeline ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200] if str(exc) else ''}): run python "
                          f"-m pipeline.compile --output {package}") from None
    try:  # the storage layer's rules, as at compile time (an older package may predate them)
        if args.pipeline_root is not None:
            check_pipeline_root(args.pipeline_root, "--pipeline-root")
        elif compiled_root:
            check_pipeline_root(compiled_root, f"the pipeline root compiled into {package}")
    except ConfigError as exc:
        raise SubmitError(str(exc)) from None
    params = parse_params(args.param, pipeline, job_defaults=package_job_defaults(package))
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


def package_spec(package: str | Path) -> dict[str, Any]:
    """The pipeline spec of ``package`` (its first YAML document; ``{}`` if it is not a
    mapping)."""
    import yaml

    with open(package) as stream:
        spec = next(yaml.safe_load_all(stream), None)
    return spec if isinstance(spec, dict) else {}


def package_job_defaults(package: str | Path) -> dict[str, Any] | None:
    """The training jobs' compiled settings (the ``check settings`` task's ``job_defaults``
    constant: trainer settings, node selector, tolerations, the S3 Secret's name), or None
    for a package without that task."""
    tasks = ((package_spec(package).get("root") or {}).get("dag") or {}).get("tasks") or {}
    parameter = (((tasks.get("check-settings") or {}).get("inputs") or {}).get("parameters")
                 or {}).get("job_defaults") or {}
    constant = (parameter.get("runtimeValue") or {}).get("constant")
    return dict(constant) if isinstance(constant, Mapping) else None


def package_pipeline_root(package: str | Path) -> str | None:
    """The ``defaultPipelineRoot`` compiled into ``package`` (None if it has none)."""
    return package_spec(package).get("defaultPipelineRoot")


def _compiled_default(spec: Mapping[str, Any], name: str) -> Any:
    """The default compiled into ``spec`` for pipeline parameter ``name`` (None if none)."""
    parameters = (((spec.get("root") or {}).get("inputDefinitions") or {})
                  .get("parameters") or {})
    return (parameters.get(name) or {}).get("defaultValue")


def check_images(package: str | Path, spec: Mapping[str, Any],
                 params: Mapping[str, Any]) -> None:
    """:class:`SubmitError` when the run would use an image that is not published yet
    (:func:`components._shared.image.placeholder_references`): a component image compiled
    into ``spec``, or a parameter default (``trainer_image``) that ``params`` does not
    override with another image."""
    placeholders = set(placeholder_images())
    used: dict[str, str] = {}
    launcher = params.get("launcher", _compiled_default(spec, "launcher"))
    for where, image in placeholder_references(spec).items():
        kind, _, name = where.partition(" ")
        if kind == "parameter" and name in params and str(params[name]).strip() not in \
                placeholders:
            continue  # this run names another image
        if kind == "parameter" and name == TRAINER_IMAGE_PARAMETER and launcher == "local":
            continue  # launcher local trains in the component's own pod: no trainer pod
        shown = "every component" if kind == "executor" else f"parameter {name}"
        used.setdefault(image, shown)
    for name, value in params.items():  # --param trainer_image=<the placeholder itself>
        if isinstance(value, str) and value.strip() in placeholders:
            used.setdefault(value.strip(), f"parameter {name}")
    if not used:
        return
    named = ", ".join(f"{image} ({where})" for image, where in used.items())
    raise SubmitError(
        f"{package} names image(s) that are not published yet: {named}; a cluster cannot "
        f"pull them (the run's pods would wait in ImagePullBackOff). Build and push your own "
        f"(make images-push IMAGE_REGISTRY=REGISTRY/PROJECT IMAGE_TAG=TAG; images/README.md), "
        f"then recompile with --component-image REGISTRY/PROJECT/rlsd-component:TAG and "
        f"--param {TRAINER_IMAGE_PARAMETER}=REGISTRY/PROJECT/rlsd-trainer:TAG (or pass that "
        f"--param here); if you pushed or mirrored images under exactly these names, pass "
        f"--allow-placeholder-images")


def submit(plan: SubmitPlan, client: Any, host: str | None = None) -> dict[str, str]:
    """Upload a version, ensure the experiment, start the run or the recurring run; returns
    the ids. An error of the KFP API becomes :class:`KfpServerError` naming ``host`` and the
    step (and what was already created). Caching is never overridden (``enable_caching`` is
    left unset): each task's compiled setting applies."""
    with kfp_errors(host, f"uploading pipeline {plan.pipeline_name!r}"):
        pipeline_id, version_id = upload_version(client, plan.package, plan.pipeline_name,
                                                 plan.version_name, plan.description,
                                                 plan.namespace)
    done = f"after uploading version {version_id} of pipeline {pipeline_id}"
    with kfp_errors(host, f"creating experiment {plan.experiment!r} ({done})"):
        experiment = client.create_experiment(name=plan.experiment, namespace=plan.namespace)
    common = {"experiment_id": experiment.experiment_id, "job_name": plan.run_name,
              "params": plan.params, "pipeline_id": pipeline_id, "version_id": version_id,
              "pipeline_root": plan.pipeline_root, "service_account": plan.service_account}
    result = {"pipeline_id": pipeline_id, "version_id": version_id,
              "experiment_id": experiment.experiment_id}
    if plan.cron:
        with kfp_errors(host, f"creating the recurring run ({done})"):
            job = client.create_recurring_run(cron_expression=plan.cron,
                                              max_concurrency=plan.max_concurrency,
                                              no_catchup=not plan.catchup, enabled=True,
                                              **common)
        result["recurring_run_id"] = job.recurring_run_id
    else:
        with kfp_errors(host, f"starting the run ({done})"):
            run = client.run_pipeline(**common)
        result["run_id"] = run.run_id
    return result


def main(argv: Sequence[str] | None = None,
         client_factory: Callable[[Mapping[str, str]], Any] = make_client) -> int:
    """The CLI; returns the exit status (module docstring)."""
    args = build_parser().parse_args(argv)
    try:
        plan = plan_submission(args, os.environ)  # everything checked before connecting
        if not args.allow_placeholder_images:
            check_images(plan.package, package_spec(plan.package), plan.params)
        host = kfp_host(os.environ)
        result = submit(plan, client_factory(os.environ), host)
    except SubmitError as exc:
        print(f"pipeline.submit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KfpServerError as exc:
        print(f"pipeline.submit: error: {exc}", file=sys.stderr)
        return EXIT_SERVER
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
