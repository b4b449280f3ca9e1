"""``python -m rlsd.launch``: run ``python -m rlsd.train`` locally, as a PyTorchJob or as a
Kubeflow Trainer v2 TrainJob.

Everything after ``--`` goes to the trainer. Examples::

    # here, 2 processes
    python -m rlsd.launch --mode local --nproc-per-node 2 -- --policy runs/r0/policy ...

    # print the PyTorchJob instead of submitting it (no cluster needed)
    python -m rlsd.launch --mode pytorchjob --render --image REGISTRY/rlsd-trainer:TAG \\
        --nodes 2 --gpus-per-node 8 --kfp-run-id RUN --round-index 0 -- --policy s3://...

    # the same as a TrainJob on the stock torch-distributed runtime
    python -m rlsd.launch --mode trainjob --render --image REGISTRY/rlsd-trainer:TAG \\
        --nodes 2 --gpus-per-node 8 --kfp-run-id RUN --round-index 0 -- --policy s3://...

    # submit, relay the lead pod's log, wait, delete
    python -m rlsd.launch --mode pytorchjob --config launch.yaml -- --policy s3://...

Exit codes: 0 success, 1 the training failed or timed out, 2 invalid settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import yaml

from rlsd.config import ConfigError, add_config_args, configs_from_args
from rlsd.launch.entry import MODES, build_job, launch_training
from rlsd.launch.errors import LaunchError
from rlsd.launch.spec import TrainingJobSpec


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rlsd.launch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=MODES, default="local", help="launcher (default local)")
    parser.add_argument("--render", action="store_true",
                        help="print the PyTorchJob/TrainJob YAML of --mode and exit (no "
                        "cluster needed)")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="stop (and delete the job) after S seconds")
    parser.add_argument("--poll-interval", type=float, default=10.0, metavar="S",
                        help="seconds between job status polls (default 10)")
    parser.add_argument("--keep-on-failure", action="store_true",
                        help="keep a failed job for debugging")
    parser.add_argument("--crd", metavar="PATH",
                        help="the mode's CRD YAML: validate the body before submitting")
    parser.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig (default: in-cluster, "
                        "else $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context")
    add_config_args(parser, TrainingJobSpec)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, train_args = argv[:cut], argv[cut + 1:]
    args = _parser().parse_args(argv)
    try:
        (spec,) = configs_from_args(args, TrainingJobSpec)
        if args.render:
            spec = dataclasses.replace(spec, args=[*spec.args, *train_args])
            mode = "pytorchjob" if args.mode == "local" else args.mode
            sys.stdout.write(yaml.safe_dump(build_job(mode, spec), sort_keys=False))
            return 0
        result = launch_training(args.mode, train_args, spec, timeout_s=args.timeout,
                                 poll_interval_s=args.poll_interval,
                                 keep_on_failure=args.keep_on_failure, kubeconfig=args.kubeconfig,
                                 context=args.context, crd_path=args.crd)
    except (ConfigError, FileNotFoundError) as exc:  # TrainingJobSpecError is a ConfigError
        print(f"rlsd.launch: error: {exc}", file=sys.stderr)
        return 2
    except LaunchError as exc:  # failed, timed out, rejected by the API, no kubeconfig
        print(f"rlsd.launch: error: {exc}", file=sys.stderr)
        return 1
    print(f"rlsd.launch: {result.mode} training finished in {result.duration_s:.1f} s "
          f"({result.target})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
