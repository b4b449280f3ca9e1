"""DeepSpeed's checkpoint files (optimizer moments, fp32 partitions, engine state) written as
safetensors with a JSON description of the surrounding structure: never pickled, so loading a
checkpoint from S3 runs no code.

DeepSpeed's own engine writes each state dict with ``torch.save`` and reads it back with
``torch.load(weights_only=False)``, which unpickles whatever the file holds. This engine is
installed on every training engine (:func:`install`): tensors go into the safetensors body,
everything else into a JSON tree in its metadata. Plain values (None, bool, int, float, str,
lists, tuples, dicts with str/int keys, torch sizes and dtypes) round-trip; the few DeepSpeed
objects found in its state (loss scalers, fragment addresses) are rebuilt only from an
explicit allow-list, from their plain attributes. Anything else is an error when saving, so
an unknown object can never be written, let alone loaded. A pickled file from before this
format is refused with a message.
"""

from __future__ import annotations

import importlib
import json
from collections import OrderedDict
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

TREE_KEY = "rlsd.state-tree"
FORMAT = "rlsd.train/safe-state-1"

#: DeepSpeed classes whose instances appear in its state dicts, rebuilt from attributes.
ALLOWED_OBJECTS = frozenset({
    "deepspeed.runtime.fp16.loss_scaler.LossScaler",
    "deepspeed.runtime.fp16.loss_scaler.DynamicLossScaler",
    "deepspeed.utils.tensor_fragment.fragment_address",
})


class UnsafeStateError(TypeError):
    """A state dict holds something this format does not write, or a file is a pickle."""


def _qualname(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def encode(value: Any, tensors: dict[str, torch.Tensor], seen: dict[tuple, str],
           where: str = "state") -> Any:
    """The JSON node of ``value``; tensors are moved into ``tensors`` (shared ones once)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, float):
        return {"float": repr(value)}  # repr keeps inf, nan and every bit of precision
    if isinstance(value, torch.Tensor):
        t = value.detach()
        key = (t.data_ptr(), tuple(t.shape), tuple(t.stride()), t.dtype) if t.numel() else None
        if key is not None and key in seen:
            return {"tensor": seen[key]}
        name = f"t{len(tensors)}"
        tensors[name] = t.contiguous().clone() if t.numel() else t.clone()
        if key is not None:
            seen[key] = name
        return {"tensor": name}
    if isinstance(value, torch.Size):
        return {"size": list(value)}
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if isinstance(value, dict):
        kind = "odict" if isinstance(value, OrderedDict) else "dict"
        items = []
        for k, v in value.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise UnsafeStateError(f"{where}: dict key {k!r} is not a str or int")
            items.append([k if isinstance(k, str) else {"int": k},
                          encode(v, tensors, seen, f"{where}[{k!r}]")])
        return {kind: items}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        name = _qualname(value)
        if name not in ALLOWED_OBJECTS:
            raise UnsafeStateError(f"{where}: {name} is not an allowed object")
        return {"namedtuple": name, "fields": [encode(v, tensors, seen, f"{where}.{f}")
                                               for f, v in zip(value._fields, value,
                                                               strict=True)]}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [encode(v, tensors, seen, f"{where}[{i}]") for i, v in enumerate(value)]}
    name = _qualname(value)
    if name in ALLOWED_OBJECTS:
        return {"object": name, "attrs": encode(dict(vars(value)), tensors, seen, where)}
    raise UnsafeStateError(f"{where}: cannot store a {name} without pickling it")


def _allowed_class(name: str) -> type:
    if name not in ALLOWED_OBJECTS:
        raise UnsafeStateError(f"the state file names {name}, which is not an allowed object")
    module, _, cls = name.rpartition(".")
    return getattr(importlib.import_module(module), cls)


def decode(node: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The value of a JSON node written by :func:`encode`."""
    if node is None or isinstance(node, (bool, str)):
        return node
    (kind, body), *rest = node.items()
    if kind == "int":
        return int(body)
    if kind == "float":
        return float(body)
    if kind == "tensor":
        return tensors[body]
    if kind == "size":
        return torch.Size(body)
    if kind == "dtype":
        dtype = getattr(torch, body, None)
        if not isinstance(dtype, torch.dtype):
            raise UnsafeStateError(f"unknown dtype {body!r}")
        return dtype
    if kind in ("dict", "odict"):
        out = OrderedDict() if kind == "odict" else {}
        for k, v in body:
            out[decode(k, tensors)] = decode(v, tensors)
        return out
    if kind == "list":
        return [decode(v, tensors) for v in body]
    if kind == "tuple":
        return tuple(decode(v, tensors) for v in body)
    if kind == "namedtuple":
        return _allowed_class(body)._make(decode(v, tensors) for v in dict(rest)["fields"])
    if kind == "object":
        obj = object.__new__(_allowed_class(body))
        obj.__dict__.update(decode(dict(rest)["attrs"], tensors))
        return obj
    raise UnsafeStateError(f"unknown node kind {kind!r}")


def save_state(state: Any, path: str) -> None:
    """Write ``state`` to ``path`` as safetensors + JSON tree."""
    tensors: dict[str, torch.Tensor] = {}
    tree = encode(state, tensors, {})
    save_file(tensors, path, metadata={TREE_KEY: json.dumps(tree), "format": FORMAT})


def load_state(path: str, map_location: Any = None) -> Any:
    """Read a file :func:`save_state` wrote; a pickle (older checkpoints) is refused."""
    with open(path, "rb") as f:
        head = f.read(2)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise UnsafeStateError(
            f"{path} is a pickled DeepSpeed state (a checkpoint from before rlsd stored it as "
            "safetensors); it is not loaded, since unpickling runs code. Start from the "
            "checkpoint's model weights instead (a fresh optimizer state)")
    device = "cpu" if map_location is None or callable(map_location) else str(map_location)
    with safe_open(path, "pt", device=device) as f:
        meta = f.metadata() or {}
        if meta.get("format") != FORMAT or TREE_KEY not in meta:
            raise UnsafeStateError(f"{path} is not a {FORMAT} file")
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not iterable)
    return decode(json.loads(meta[TREE_KEY]), tensors)


def install(engine: Any) -> None:
    """Make ``engine`` (a DeepSpeed engine) save and load its state with this format."""
    from deepspeed.runtime.checkpoint_engine.torch_checkpoint_engine import (
        TorchCheckpointEngine,
    )

    class SafetensorsCheckpointEngine(TorchCheckpointEngine):
        def save(self, state_dict: Any, path: str) -> None:
            save_state(state_dict, path)

        def load(self, path: str, map_location: Any = None) -> Any:
            return load_state(path, map_location)

    current = engine.checkpoint_engine
    safe = SafetensorsCheckpointEngine.__new__(SafetensorsCheckpointEngine)
    safe.__dict__.update(vars(current))
    engine.checkpoint_engine = safe
