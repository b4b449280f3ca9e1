"""One RLSD update round end to end as a TrainJob: ``launch_training("trainjob")`` through the
real ``kubernetes`` client to the fake API server, whose two nodes really run
``torchrun -m rlsd.train`` (1 process each, gloo, rendezvous through the PET_* variables the
``torch-distributed`` runtime injects). The round's tables and the new checkpoint are on a
real S3-protocol server; the nodes get the S3 keys only through the Secret reference in the
TrainJob (the fake cluster resolves it; the test process's keys are not inherited).
"""

from __future__ import annotations

import io
import os

import pyarrow.parquet as pq
import pytest

from rlsd.launch import TrainingJobSpec, launch_training
from rlsd.models.tiny import build_tiny_causal_lm
from rlsd.storage import read_manifest, write_bytes
from rlsd.train.run_checkpoints import round_checkpoints
from tests.launch.fake_apiserver import FakeKubeAPI
from tests.launch.k8s_reference import trainjob_validator_or_skip
from tests.train.roundtables import make_round

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _upload(table, uri: str) -> str:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    write_bytes(sink.getvalue(), uri)
    return uri


def test_an_update_round_runs_as_a_trainjob(fake_api: FakeKubeAPI, api_client, s3_root,
                                            tmp_path) -> None:
    trainjob_validator_or_skip()  # the server then checks the body against the v2.3.0 CRD
    fake_api.secrets[("team-a", "rlsd-s3")] = {
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"]}
    policy = build_tiny_causal_lm(tmp_path / "policy", seed=0)
    rollouts, rewards, scores = make_round(n_prompts=2, group=4, seed=1)
    tables = {name: _upload(table, f"{s3_root}/r0/{name}.parquet")
              for name, table in (("rollouts", rollouts), ("rewards", rewards),
                                  ("scores", scores))}
    output = f"{s3_root}/r1/policy-checkpoint"
    spec = TrainingJobSpec(
        image="registry.example/rlsd-trainer:test", namespace="team-a",
        kfp_run_id="3f1c", round_index=0, nodes=2, gpus_per_node=0, nproc_per_node=1,
        cpu="1", memory="4Gi", shm_size="256Mi", s3_secret="rlsd-s3",
        # Reuse this machine's caches (the converted default model, compiled DeepSpeed ops)
        # instead of the pod's empty /tmp.
        env={"RLSD_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1",
             **{k: os.environ[k] for k in ("RLSD_CACHE", "TORCH_EXTENSIONS_DIR")
                if k in os.environ}})
    sink = io.StringIO()
    result = launch_training(
        "trainjob", ["--policy", str(policy), "--rollouts", tables["rollouts"],
                     "--rewards", tables["rewards"], "--scores", tables["scores"],
                     "--output", output, "--learning-rate", "1e-3",
                     "--micro-batch-tokens", "256"],
        spec, api_client=api_client, sink=sink, poll_interval_s=0.2, timeout_s=600)

    log = sink.getvalue()
    assert result.mode == "trainjob" and result.target == "team-a/rlsd-3f1c-r0"
    posted = fake_api.posted[0][1]
    assert posted["kind"] == "TrainJob" and posted["spec"]["trainer"]["numNodes"] == 2
    manifest = read_manifest(output)  # a complete checkpoint on S3
    assert (manifest.metadata["round"], manifest.metadata["step"]) == (0, 1)
    names = {entry.path for entry in manifest.files}
    # both nodes' ranks saved their ZeRO optimizer shards: the job really ran on 2 nodes
    assert {f"deepspeed/state/zero_pp_rank_{r}_mp_rank_00_optim_states.pt" for r in (0, 1)} \
        <= names, sorted(names)
    assert '"round": 0' in log, log[-2000:]
    assert fake_api.jobs == {}  # deleted after success


def test_a_fused_loop_job_runs_as_a_trainjob(fake_api: FakeKubeAPI, api_client, s3_root,
                                             tmp_path) -> None:
    """The fused mode's job (``python -m rlsd.loop``: rollout, verify, score and update with
    the policy resident) under the same launcher: one round on 2 nodes, the prompts read from
    S3 and the round's checkpoint written there."""
    import subprocess
    import sys

    trainjob_validator_or_skip()
    fake_api.secrets[("team-a", "rlsd-s3")] = {
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"]}
    policy = build_tiny_causal_lm(tmp_path / "policy", seed=0)
    subprocess.run([sys.executable, "-m", "rlsd.data", "--output", str(tmp_path / "data"),
                    "--synthetic-n", "12", "--n-eval", "4"], check=True, capture_output=True)
    prompts = f"{s3_root}/data/train.parquet"
    write_bytes((tmp_path / "data" / "train.parquet").read_bytes(), prompts)
    output = f"{s3_root}/fused/policy-checkpoint"
    spec = TrainingJobSpec(
        image="registry.example/rlsd-trainer:test", namespace="team-a", module="rlsd.loop",
        kfp_run_id="3f1c", round_index=0, nodes=2, gpus_per_node=0, nproc_per_node=1,
        cpu="1", memory="4Gi", shm_size="256Mi", s3_secret="rlsd-s3",
        env={"RLSD_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1",
             **{k: os.environ[k] for k in ("RLSD_CACHE", "TORCH_EXTENSIONS_DIR")
                if k in os.environ}})
    sink = io.StringIO()
    launch_training(
        "trainjob", ["--policy", str(policy), "--prompts", prompts, "--output", output,
                     "--rounds", "1", "--prompts-per-round", "4",
                     "--set", "rollout.samples_per_prompt=2", "--set", "rollout.max_new_tokens=8",
                     "--set", "train.micro_batch_tokens=256", "--set", "train.tensorboard=false"],
        spec, api_client=api_client, sink=sink, poll_interval_s=0.2, timeout_s=600)
    assert fake_api.posted[0][1]["spec"]["trainer"]["args"][:2] == ["-m", "rlsd.loop"]
    checkpoints = round_checkpoints(output)
    assert len(checkpoints) == 1, checkpoints
    (_, manifest), = checkpoints.values()
    assert manifest.metadata["step"] == 1  # one round, one optimizer step
    names = {entry.path for entry in manifest.files}
    assert {f"deepspeed/state/zero_pp_rank_{r}_mp_rank_00_optim_states.pt" for r in (0, 1)} \
        <= names, sorted(names)
    assert fake_api.jobs == {}
