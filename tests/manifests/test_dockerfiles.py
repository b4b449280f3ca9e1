"""images/*/Dockerfile: structural checks (no image can be built here: no Docker engine, no
registry to pull base images from).

A small parser reads the Dockerfiles the way Docker's frontend does for what is checked:
parser directives and comments, backslash line continuations, one instruction per logical
line, ``ARG``s before the first ``FROM``.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"
DOCKERFILES = sorted(IMAGES.glob("*/Dockerfile"))
SECRET_NAME = re.compile(r"(SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|ACCESS_KEY|API_KEY)", re.I)
SECRET_VALUE = re.compile(r"AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY|hf_[A-Za-z0-9]{30,}"
                          r"|ghp_[A-Za-z0-9]{30,}|aws_secret_access_key", re.I)


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions of a Dockerfile, continuation lines joined (comments dropped)."""
    out: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continuation are skipped by Docker too
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        logical = (pending + stripped).strip()
        pending = ""
        keyword, _, args = logical.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
    assert not pending, "the Dockerfile ends inside a line continuation"
    return out


def _args_declared(instructions: list[Instruction]) -> dict[str, str]:
    declared = {}
    for ins in instructions:
        if ins.keyword == "ARG":
            name, _, default = ins.args.partition("=")
            declared[name] = default.strip('"')
    return declared


def test_parser_joins_continuations_and_skips_comments() -> None:
    text = "# syntax=docker/dockerfile:1\nARG A=1\nFROM x:${A}\nRUN a \\\n  # note\n  && b\n"
    assert parse_dockerfile(text) == [Instruction("ARG", "A=1", 2),
                                      Instruction("FROM", "x:${A}", 3),
                                      Instruction("RUN", "a && b", 4)]


def test_both_images_exist() -> None:
    assert [p.parent.name for p in DOCKERFILES] == ["component", "trainer"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_structure(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("# syntax=docker/dockerfile:1\n")
    instructions = parse_dockerfile(text)
    keywords = [i.keyword for i in instructions]
    known = {"ARG", "FROM", "ENV", "RUN", "WORKDIR", "COPY", "CMD", "ENTRYPOINT", "USER",
             "LABEL", "EXPOSE", "SHELL", "HEALTHCHECK", "VOLUME", "STOPSIGNAL", "ONBUILD"}
    assert set(keywords) <= known
    first_from = keywords.index("FROM")
    assert set(keywords[:first_from]) <= {"ARG"}, "only ARGs may come before the first FROM"
    assert keywords.count("FROM") == 1
    # Every ${VAR} in FROM is an ARG declared before it, with a default.
    pre = _args_declared(instructions[:first_from])
    base = instructions[first_from].args
    for var in re.findall(r"\$\{(\w+)\}", base):
        assert pre.get(var), f"FROM uses ${{{var}}} without an ARG default before it"
    resolved = base
    for _ in range(5):  # a default may name another ARG (BASE_IMAGE -> ${CUDA_IMAGE})
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: pre[m.group(1)], resolved)
    assert ":" in resolved and not resolved.endswith(":latest"), f"unpinned base {resolved}"
    assert "ADD" not in keywords  # COPY only: no remote URLs or implicit tar extraction
    # CMD/ENTRYPOINT in exec form (a JSON array of strings): signals reach the process.
    for ins in instructions:
        if ins.keyword in ("CMD", "ENTRYPOINT"):
            value = json.loads(ins.args)
            assert isinstance(value, list) and value and all(isinstance(v, str) for v in value)
    assert keywords[-1] == "CMD"
    # Every build argument is documented in the header comment.
    header = text.split("\nARG ", 1)[0]
    for name in _args_declared(instructions):
        assert f"#   {name}" in header, f"build arg {name} is not documented in the header"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_no_secrets(path: Path) -> None:
    text = path.read_text()
    assert not SECRET_VALUE.findall(text)
    for ins in parse_dockerfile(text):
        if ins.keyword in ("ENV", "ARG"):
            names = [tok.split("=", 1)[0] for tok in shlex.split(ins.args)]
            assert not [n for n in names if SECRET_NAME.search(n)], ins
        if ins.keyword == "RUN":
            assert "--password" not in ins.args and "pip.conf" not in ins.args


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_torch_comes_first_from_its_own_index(path: Path) -> None:
    runs = [i.args for i in parse_dockerfile(path.read_text()) if i.keyword == "RUN"]
    torch_at = next(n for n, r in enumerate(runs) if '"torch==${TORCH_VERSION}"' in r)
    package_at = next(n for n, r in enumerate(runs) if re.search(r"pip install \.( |$)", r))
    assert torch_at < package_at
    assert '--index-url "${TORCH_INDEX_URL}"' in runs[torch_at]


def test_component_image_is_slim_python_with_cpu_torch() -> None:
    instructions = parse_dockerfile((IMAGES / "component" / "Dockerfile").read_text())
    args = _args_declared(instructions)
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    # BASE_IMAGE lets a machine without registry access build on a local base.
    assert next(i.args for i in instructions if i.keyword == "FROM") == "${BASE_IMAGE}"
    assert args["BASE_IMAGE"] == "python:${PYTHON_VERSION}-slim"


def test_trainer_image_prebuilds_deepspeed_on_cuda_devel() -> None:
    instructions = parse_dockerfile((IMAGES / "trainer" / "Dockerfile").read_text())
    args = _args_declared(instructions)
    assert "-devel-" in args["CUDA_IMAGE"] and args["CUDA_IMAGE"].startswith("nvidia/cuda:")
    assert args["DS_BUILD_FUSED_ADAM"] == "1" and args["INSTALL_VLLM"] == "false"
    runs = [i.args for i in instructions if i.keyword == "RUN"]
    (ds,) = [r for r in runs if "deepspeed==" in r]
    assert args["DS_ACCELERATOR"] == "cuda" and args["BASE_IMAGE"] == "${CUDA_IMAGE}"
    for needed in ('DS_ACCELERATOR="${DS_ACCELERATOR}"',
                   'DS_BUILD_FUSED_ADAM="${DS_BUILD_FUSED_ADAM}"',
                   "--no-build-isolation", 'TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST}"'):
        assert needed in ds
    vllm_at = next(n for n, r in enumerate(runs) if "vllm==" in r)
    assert vllm_at < runs.index(ds)  # ops are built against the torch vLLM leaves behind
    assert 'if [ "${INSTALL_VLLM}" = "true" ]' in runs[vllm_at]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name)
def test_build_context_is_an_allowlist(path: Path) -> None:
    ignore = path.with_name("Dockerfile.dockerignore")
    patterns = [p.strip() for p in ignore.read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*"  # everything out, then the sources back in
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "rlsd", "components", "pipeline"}
    for needed in ("pyproject.toml", "README.md", "rlsd"):
        assert (ROOT / needed).exists()


def test_trainer_image_runs_as_the_uid_the_pytorchjob_expects() -> None:
    """The PyTorchJob pods run as non-root UID 1000 (rlsd.launch run_as_user): the trainer
    image's last USER must be that UID, set after everything is installed."""
    from rlsd.launch import TrainingJobSpec

    steps = parse_dockerfile((IMAGES / "trainer" / "Dockerfile").read_text())
    users = [(n, i.args) for n, i in enumerate(steps) if i.keyword == "USER"]
    assert users and users[-1][1].split(":")[0] == str(TrainingJobSpec().run_as_user)
    last_install = max(n for n, i in enumerate(steps)
                       if i.keyword == "RUN" and "pip install" in i.args)
    assert users[-1][0] > last_install
    assert any(i.keyword == "RUN" and "useradd --uid 1000" in i.args for i in steps)
