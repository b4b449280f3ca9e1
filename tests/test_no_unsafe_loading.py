"""Nothing from a data set or S3 is executed or unpickled: the project's own code never calls
eval/exec, pickle/marshal/dill loaders, torch.load, an unsafe yaml loader, or transformers'
trust_remote_code. (Tables are parquet, weights safetensors; verifier plug-ins come only from
entry points or an operator's --plugin path, tested in tests/verify.)

DeepSpeed's own optimizer state would be a pickle (torch.save / torch.load(weights_only=False)
inside DeepSpeed); rlsd.train.safe_state stores it as safetensors + JSON instead
(tests/train/test_safe_state.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for folder in ("rlsd", "components", "pipeline")
                 for p in (ROOT / folder).rglob("*.py") if "tests" not in p.parts)

BANNED_CALLS = {"eval", "exec", "compile", "__import__"}
BANNED_ATTRS = {("pickle", "load"), ("pickle", "loads"), ("marshal", "loads"),
                ("marshal", "load"), ("dill", "load"), ("dill", "loads"), ("torch", "load"),
                ("cloudpickle", "loads"), ("joblib", "load"), ("numpy", "load"), ("np", "load")}


def _problems(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Name) and fn.id in BANNED_CALLS:
                found.append(f"line {node.lineno}: {fn.id}()")
            if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name) \
                    and (fn.value.id, fn.attr) in BANNED_ATTRS:
                found.append(f"line {node.lineno}: {fn.value.id}.{fn.attr}()")
            if isinstance(fn, ast.Attribute) and fn.attr == "load" \
                    and isinstance(fn.value, ast.Name) and fn.value.id == "yaml":
                loader = {k.arg: k.value for k in node.keywords}.get("Loader")
                if loader is None or "Safe" not in ast.unparse(loader):
                    found.append(f"line {node.lineno}: yaml.load without a safe loader")
            for keyword in node.keywords:
                if keyword.arg == "trust_remote_code" and not (
                        isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                    found.append(f"line {node.lineno}: trust_remote_code")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(
                node, ast.ImportFrom) and node.module else [])
            if any(n.split(".")[0] in ("pickle", "marshal", "dill", "cloudpickle", "shelve")
                   for n in names):
                found.append(f"line {node.lineno}: imports {names}")
    return found


def test_the_scan_finds_what_it_looks_for():
    bad = ("import pickle\nx = eval('1')\ntorch.load(p)\nyaml.load(t)\n"
           "AutoModel.from_pretrained(p, trust_remote_code=True)\n")
    assert len(_problems(ast.parse(bad))) == 5
    good = "yaml.load(t, Loader=yaml.SafeLoader)\nast.literal_eval(s)\nmodel.eval()\n"
    assert _problems(ast.parse(good)) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_code_or_pickle_is_loaded_from_data(path: Path):
    assert _problems(ast.parse(path.read_text())) == []
