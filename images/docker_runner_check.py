"""Run pipeline components in the built component image with kfp.local's ``DockerRunner``.

    DOCKER_HOST=unix:///run/podman/podman.sock \\
        python images/docker_runner_check.py --image localhost/rlsd-component:check
    python images/docker_runner_check.py --image IMAGE --what small-run   # the whole pipeline

``DockerRunner`` starts one container per task through a Docker Engine API (``DOCKER_HOST``,
else the default socket): Docker's, or podman's (``podman system service --time=0
unix:///run/podman/podman.sock``; ``images/check.sh --docker-runner`` starts one). The
pipeline root is a host folder the runner mounts into every container at the same path, so
the outputs are read back here and checked.

``--what components`` (default): a three-task pipeline on the image, no model needed:
``data_prep`` (the repository's component, on the built-in synthetic data) -> a rollouts table
made from its train split (sample 0 right, sample 1 wrong, a small component defined here on
the same image) -> ``verify`` (the repository's component); checks the rewards it wrote.
``--what small-run``: the whole pipeline (staged, 1 round, ``pipeline.run_local``'s
``--small`` parameters, launcher=local inside the update's container).

Prints ``RLSD_DOCKER_RUNNER {json}`` (what ran, seconds, rewards) and exits 0, or
``RLSD_DOCKER_RUNNER_FAILED <reason>`` and exits 1.

Each container is started as kfp.local starts it except that it is removed only after its exit
status was read (:func:`run_container_keeping_exit_code`; ``--kfp-container-handling`` turns
that off): through podman, kfp.local's own handling reports a failed task as a success.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kfp.dsl import Dataset, Input, Output

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

#: Reward of a wrong answer in the right format (the default format weight).
FORMAT_ONLY_REWARD = 0.1


def run_container_keeping_exit_code(client: Any, image: str, command: list[str],
                                    volumes: dict[str, Any], **run_args: Any) -> int:
    """Replaces ``kfp.local.docker_task_handler.run_docker_container``: the same container,
    without auto-removal, so that its exit status is read before it is removed.

    kfp.local starts every task with ``auto_remove=True`` and reads the status with ``wait``;
    podman's Docker API (4.3) answers ``wait`` on a container it already removed with
    ``{"StatusCode": 0, "Error": {"Message": "container has already been removed"}}``, so a
    task that fails is reported as SUCCESS (measured: images/README.md).
    """
    run_args.pop("auto_remove", None)
    reference = image if ":" in image.rsplit("/", 1)[-1] else f"{image}:latest"
    container = client.containers.run(image=reference, command=command, detach=True,
                                      stdout=True, stderr=True, volumes=volumes, **run_args)
    try:
        for chunk in container.logs(stream=True, follow=True):
            print(chunk.decode(errors="replace"), end="", flush=True)
        answer = container.wait()
        return int(answer.get("StatusCode", 1)) if not answer.get("Error") else 1
    finally:
        container.remove(force=True)


def right_and_wrong_rollouts(prompts: Input[Dataset], rollouts: Output[Dataset]):
    """Sample 0: the reference answer; sample 1: a wrong one; the first 3 prompts, in the
    paper's format. (A component body: kfp copies its source into the container.)"""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = pq.read_table(prompts.path).slice(0, 3).to_pylist()
    ids, samples, texts = [], [], []
    for row in rows:
        right = str(row["answer"]).strip()
        wrong = str(int(float(right)) + 1) if right.lstrip("-").isdigit() else right + "0"
        for index, answer in enumerate((right, wrong)):
            ids.append(row["id"])
            samples.append(index)
            texts.append(f"<thought>I work it out.</thought><answer>{answer}</answer>")
    pq.write_table(pa.table({"prompt_id": pa.array(ids, pa.string()),
                             "sample_index": pa.array(samples, pa.int32()),
                             "response_text": pa.array(texts, pa.string())}),
                   rollouts.path)


def run_components(image: str) -> dict[str, Any]:
    """data_prep -> rollouts -> verify, each in its own container; returns the findings."""
    import pyarrow.parquet as pq
    from kfp import dsl

    from components._shared.image import build_component
    from pipeline.pipeline import component_body

    data_prep = build_component(component_body("data_prep"), image)
    verify = build_component(component_body("verify"), image)
    make_rollouts = dsl.component(right_and_wrong_rollouts, base_image=image,
                                  install_kfp_package=False)

    @dsl.pipeline(name="rlsd-image-check")
    def check_pipeline() -> dsl.Dataset:
        data = data_prep(source="synthetic", synthetic_n=100, seed=0)
        rollouts = make_rollouts(prompts=data.outputs["train"])
        graded = verify(prompts=data.outputs["train"], rollouts=rollouts.output)
        return graded.outputs["rewards"]

    task = check_pipeline()
    rewards_path = Path(task.output.path)
    if not rewards_path.is_file():  # DockerRunner counts a vanished container as a success
        raise RuntimeError(f"verify reported success but wrote no rewards at {rewards_path}")
    rewards = pq.read_table(rewards_path).to_pylist()
    expected = [1.0, FORMAT_ONLY_REWARD] * 3
    got = [round(r["reward"], 4) for r in sorted(rewards, key=lambda r: (r["prompt_id"],
                                                                         r["sample_index"]))]
    if len(got) != len(expected) or any(abs(a - b) > 1e-4 for a, b in
                                        zip(sorted(got), sorted(expected), strict=True)):
        raise RuntimeError(f"verify in the container wrote rewards {got}, expected 3 x "
                           f"[1.0, {FORMAT_ONLY_REWARD}]")
    return {"tasks": ["data_prep", "right_and_wrong_rollouts", "verify"], "rewards": got,
            "rewards_path": str(rewards_path)}


def run_small_pipeline(image: str) -> dict[str, Any]:
    """The whole pipeline (staged, 1 round, the ``--small`` parameters, one update process)
    with every task in ``image``; returns the final metrics."""
    from pipeline.options import CompileOptions
    from pipeline.pipeline import build_pipeline
    from pipeline.run_local import SMALL_PARAMS, numbers

    options = CompileOptions(rounds=1, component_image=image)
    task = build_pipeline(options)(**{**SMALL_PARAMS, "nproc_per_node": 1})
    out = task.outputs
    return {"tasks": "whole pipeline, 1 round",
            "base_metrics": numbers(out["base_metrics"].metadata),
            "final_metrics": numbers(out["final_metrics"].metadata)}


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI (module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python images/docker_runner_check.py",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", required=True, help="the built component image")
    parser.add_argument("--what", choices=("components", "small-run"), default="components")
    parser.add_argument("--root", help="pipeline root folder (default: a temporary one)")
    parser.add_argument("--kfp-container-handling", action="store_true",
                        help="start the containers exactly as kfp.local does (auto-removed: "
                             "through podman a failed task then counts as a success)")
    args = parser.parse_args(argv)

    from kfp import local
    from kfp.local import docker_task_handler

    warnings.filterwarnings("ignore", message=r".*have no effect in the current local runner")
    with tempfile.TemporaryDirectory(prefix="rlsd-docker-runner-") as scratch:
        root = Path(args.root or scratch).resolve()
        root.mkdir(parents=True, exist_ok=True)
        print(f"kfp.local DockerRunner via DOCKER_HOST={os.environ.get('DOCKER_HOST', '')!r}, "
              f"image {args.image}, pipeline root {root}", flush=True)
        started = time.perf_counter()
        try:
            if not args.kfp_container_handling:
                docker_task_handler.run_docker_container = run_container_keeping_exit_code
            local.init(runner=local.DockerRunner(), pipeline_root=str(root))
            found = (run_components if args.what == "components" else
                     run_small_pipeline)(args.image)
        except Exception as exc:  # report kfp's, docker-py's or ours in one line
            text = " ".join(str(exc).split())[:1500]
            print(f"RLSD_DOCKER_RUNNER_FAILED {type(exc).__name__}: {text}", flush=True)
            return 1
        found["seconds"] = round(time.perf_counter() - started, 1)
    print("RLSD_DOCKER_RUNNER " + json.dumps(found, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
