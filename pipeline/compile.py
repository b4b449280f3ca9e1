"""``python -m pipeline.compile``: write the pipeline YAML, or every ``component.yaml``.

    python -m pipeline.compile --rounds 3 --rollout-shards 4 --output rlsd.yaml
    python -m pipeline.compile --mode fused --rounds 30 --rounds-per-job 10   # 3 chained jobs
    python -m pipeline.compile --algorithm grpo --teacher-refresh-rounds 0 \\
        --pipeline-root s3://my-bucket/kfp --s3-secret my-s3 --gpu-type NVIDIA-H100-80GB-HBM3
    python -m pipeline.compile --mode fused --profile smollm2-arithmetic   # its defaults
    python -m pipeline.compile --components        # (re)write components/*/component.yaml

Compile-time settings are the fields of :class:`pipeline.options.CompileOptions` (``--help``
lists them; ``--config file.yaml`` and ``--set name=value`` work as for every rlsd stage).
The component image is ``--component-image``, else ``$RLSD_COMPONENT_IMAGE``, else the
default. ``--profile NAME`` (:mod:`rlsd.profiles`) writes the profile's values into the YAML
as the defaults of the parameters that carry them (:mod:`pipeline.profile_defaults`; a
setting the pipeline cannot take is an error naming it) and its name into the description.
``--param name=value`` changes a pipeline parameter's default in the YAML, over the profile's
(a run can still override either). The pipeline root must be an S3 URI that
:mod:`rlsd.storage` accepts, and every parameter default obeys the rules of the settings
dataclass that reads it (:mod:`pipeline.params`), as ``pipeline.submit`` checks them again.
Bad settings: one line on stderr and exit status 2, nothing written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from kfp import compiler

from components import COMPONENT_NAMES
from components._shared.image import (
    build_component,
    component_image,
    placeholder_references,
    placeholder_warning,
)
from pipeline.options import CompileOptions
from pipeline.pipeline import build_pipeline, component_body
from pipeline.profile_defaults import profile_defaults
from pipeline.submit import parse_params
from rlsd.config import ConfigError, add_config_args, config_from_args

DEFAULT_OUTPUT = "rlsd_pipeline.yaml"
COMPONENTS_DIR = Path(__file__).resolve().parent.parent / "components"


def compile_pipeline(options: CompileOptions, output: str | Path,
                     param_defaults: Sequence[str] = ()) -> Path:
    """Compile the pipeline for ``options`` to ``output``; returns the path.

    ``options.profile``'s values replace parameter defaults in the YAML
    (:func:`pipeline.profile_defaults.profile_defaults`); ``param_defaults``: ``name=value``
    pairs that replace them too, over the profile's, typed and checked like
    ``pipeline.submit``'s ``--param``. Everything is checked before anything is written
    (:class:`ValueError` naming the problem).
    """
    pipeline = build_pipeline(options)
    profiled = profile_defaults(options, pipeline)
    defaults = {**profiled, **parse_params(param_defaults, pipeline, base=profiled,
                                           job_defaults=options.job_check_defaults())}
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline, str(target), pipeline_parameters=defaults or None)
    return target


def compile_components(directory: str | Path = COMPONENTS_DIR,
                       image: str | None = None) -> list[Path]:
    """Write ``<directory>/<name>/component.yaml`` for every component; returns the paths."""
    chosen = component_image(image)
    written = []
    for name in COMPONENT_NAMES:
        target = Path(directory) / name / "component.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        compiler.Compiler().compile(build_component(component_body(name), chosen), str(target))
        written.append(target)
    return written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.compile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=DEFAULT_OUTPUT,
                        help=f"pipeline YAML to write (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--components", action="store_true",
                        help="write every components/<name>/component.yaml instead")
    parser.add_argument("--components-dir", default=str(COMPONENTS_DIR),
                        help="where --components writes (default: this checkout's components/)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="default of a pipeline parameter in the YAML (repeatable)")
    add_config_args(parser, CompileOptions)
    return parser


def warn_placeholder_images(path: str | Path) -> bool:
    """Print a warning on stderr when the compiled ``path`` names an image that is not
    published yet (:func:`components._shared.image.placeholder_references`); returns whether
    it did."""
    import yaml

    with open(path) as stream:
        spec = next(yaml.safe_load_all(stream), None) or {}
    message = placeholder_warning(str(path), placeholder_references(spec))
    if message:
        print(f"pipeline.compile: warning: {message}", file=sys.stderr)
    return bool(message)


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI (module docstring); returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        options = config_from_args(CompileOptions, args)
        if args.components:
            paths = compile_components(args.components_dir, options.component_image or None)
            for path in paths:
                print(f"wrote {path}")
            if paths:  # one component file stands for all: they share the image
                warn_placeholder_images(paths[0])
            return 0
        path = compile_pipeline(options, args.output, args.param)
    except (ConfigError, ValueError) as exc:
        print(f"pipeline.compile: error: {exc}", file=sys.stderr)
        return 2
    shape = (f"{options.rollout_shards} rollout shard(s)" if options.mode == "staged" else
             f"fused: {len(options.fused_jobs())} chained job(s) of up to "
             f"{options.rounds_per_job} round(s)")
    profile = f", profile {options.profile}" if options.profile else ""
    print(f"wrote {path}: {options.algorithm}, {options.rounds} round(s), {shape}, teacher "
          f"refresh K={options.teacher_refresh_rounds}{profile}, pipeline root "
          f"{options.pipeline_root}")
    warn_placeholder_images(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
