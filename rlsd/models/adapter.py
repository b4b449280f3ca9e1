"""LoRA adapter checkpoints: recognise, check, load over their base model, merge, export.

A LoRA policy checkpoint (written by :mod:`rlsd.train` with ``lora_rank > 0``) is a PEFT
adapter folder, not a whole model: ``adapter_config.json`` + ``adapter_model.safetensors``
(megabytes), the tokenizer/processor files, the trainer and DeepSpeed state, the manifest.
Its ``adapter_config.json`` names the base in ``base_model_name_or_path`` as a *model
reference* (``default``, ``s3://...``, ``owner/name`` or a folder; see
:func:`rlsd.models.resolve_model`), so a pod anywhere can rebuild the policy: the base is
resolved and loaded once, the adapter applied over it (PEFT, a well-kept library; LoRA is not
reimplemented here).

For sampling, scoring and evaluation the adapter is merged into the loaded base in memory
(:func:`load_adapter_policy` with ``for_training=False``): one plain model, as fast as any.
:func:`export_merged` writes that merged model as a plain Hugging Face folder that
transformers and vLLM load as is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rlsd.models.errors import IncompleteCheckpointError, InvalidModelFolderError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_PROCESSOR_FILES = ("tokenizer_config.json", "tokenizer.json", "preprocessor_config.json")


def is_adapter_folder(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a folder holding an adapter (``adapter_config.json``) and no
    whole model (``config.json``)."""
    folder = Path(path)
    return (folder / ADAPTER_CONFIG).is_file() and not (folder / "config.json").is_file()


def adapter_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The adapter's ``adapter_config.json`` as a dict.

    Raises:
        InvalidModelFolderError: it is not JSON, not a LoRA adapter, or names no base.
    """
    file = Path(path) / ADAPTER_CONFIG
    try:
        config = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidModelFolderError(f"{file} is not a readable adapter config ({exc})") from None
    if config.get("peft_type") != "LORA":
        raise InvalidModelFolderError(f"{file}: peft_type {config.get('peft_type')!r} is not "
                                      "LORA (only LoRA adapters are supported)")
    if not str(config.get("base_model_name_or_path") or "").strip():
        raise InvalidModelFolderError(f"{file} names no base model (base_model_name_or_path)")
    return config


def check_adapter_folder(path: str | os.PathLike[str]) -> Path:
    """``path`` as a ``Path`` if it is a complete LoRA adapter folder (config naming a base,
    weights present and as long as their header says).

    Raises:
        InvalidModelFolderError: see :func:`adapter_config`.
        IncompleteCheckpointError: the adapter weights are missing or truncated.
    """
    from rlsd.models.checkpoint import check_safetensors_length

    folder = Path(path)
    adapter_config(folder)
    weights = folder / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise IncompleteCheckpointError(f"incomplete adapter checkpoint {folder}: no "
                                        f"{ADAPTER_WEIGHTS}")
    check_safetensors_length(weights)
    return folder


def adapter_base(path: str | os.PathLike[str]) -> str:
    """The base model reference the adapter in ``path`` was trained on."""
    return str(adapter_config(path)["base_model_name_or_path"]).strip()


def load_adapter_policy(path: str | os.PathLike[str], dtype: Any = None, device: Any = None,
                        for_training: bool = False) -> tuple[Any, Any]:
    """``(model, tokenizer_or_processor)`` of the LoRA policy in ``path``: its base resolved
    and loaded once (:func:`rlsd.models.load_policy`), the adapter applied over it.

    ``for_training=False``: the adapter merged into the base weights (a plain transformers
    model in eval mode, gradients off). ``True``: a ``peft.PeftModel`` whose adapter weights
    are trainable and base weights frozen. The tokenizer comes from the adapter folder when it
    holds one (the trainer saves it there), else from the base.

    Raises:
        InvalidModelFolderError: the base is itself an adapter (adapters do not stack here).
        ModelNotFoundError and the like: the base cannot be resolved.
    """
    from peft import PeftModel

    from rlsd.models.loading import load_policy
    from rlsd.models.resolve import resolve_model

    folder = check_adapter_folder(path)
    base_dir = resolve_model(adapter_base(folder))
    if is_adapter_folder(base_dir):
        raise InvalidModelFolderError(f"the base of adapter {folder} is itself an adapter "
                                      f"({base_dir}); export it merged first")
    base, processor = load_policy(base_dir, dtype=dtype, device=device,
                                  for_training=for_training)
    processor = _adapter_processor(folder, processor)
    model = PeftModel.from_pretrained(base, str(folder), is_trainable=for_training)
    if for_training:
        return model, processor
    merged = model.merge_and_unload()
    merged.eval()
    merged.requires_grad_(False)
    return merged, processor


def _adapter_processor(folder: Path, base_processor: Any) -> Any:
    """The tokenizer/processor saved with the adapter (the trainer saves it there), padded
    like the base's; the base's own when the folder holds none."""
    from rlsd.models.loading import load_tokenizer_or_processor

    if not any((folder / name).is_file() for name in _PROCESSOR_FILES):
        return base_processor
    return _with_padding_of(load_tokenizer_or_processor(folder), base_processor)


def _with_padding_of(processor: Any, reference: Any) -> Any:
    """``processor`` with the pad token and side that :func:`load_policy` set on
    ``reference`` (the base's)."""
    tokenizer = getattr(processor, "tokenizer", processor)
    ref_tokenizer = getattr(reference, "tokenizer", reference)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = ref_tokenizer.pad_token
    tokenizer.padding_side = ref_tokenizer.padding_side
    return processor


def export_merged(adapter: str | os.PathLike[str], output: str | os.PathLike[str],
                  dtype: Any = "float32") -> Path:
    """Merge the LoRA policy in ``adapter`` into its base and write a plain Hugging Face
    model folder (safetensors, config, tokenizer) to ``output``; returns it.

    The merged weights are ``W + (alpha / r) * B @ A`` per adapted layer (Hu et al. 2021,
    eq. 3), computed by PEFT's ``merge_and_unload``.
    """
    model, processor = load_adapter_policy(adapter, dtype=dtype, device="cpu")
    target = Path(output)
    target.mkdir(parents=True, exist_ok=True)
    if getattr(model.config, "use_cache", None) is False:
        model.config.use_cache = True
    model.save_pretrained(str(target), safe_serialization=True)
    processor.save_pretrained(str(target))
    return target


class AdapterView:
    """One adapter of a multi-adapter ``PeftModel`` (or, with ``adapter_name=None``, its base
    with the adapters off), usable where a policy model is: calling it activates the adapter,
    then runs the shared model (:func:`load_adapter_pair`)."""

    def __init__(self, model: Any, adapter_name: str | None) -> None:
        self.model, self.adapter_name = model, adapter_name

    @property
    def config(self) -> Any:
        return self.model.config

    def parameters(self, recurse: bool = True) -> Any:
        return self.model.parameters(recurse)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.adapter_name is None:  # the base model itself
            with self.model.disable_adapter():
                return self.model(*args, **kwargs)
        self.model.set_adapter(self.adapter_name)
        return self.model(*args, **kwargs)


def load_adapter_pair(policy: str | os.PathLike[str], teacher: str | os.PathLike[str],
                      dtype: Any = None, device: Any = None
                      ) -> tuple[AdapterView, AdapterView, Any] | None:
    """The policy and a frozen teacher that are two LoRA adapters of the same base, or the
    adapter's base itself (the staged pipeline's RLSD teacher with K > 0 under LoRA, before
    and after the first refresh), over **one** copy of the base: ``(policy view, teacher
    view, processor)``; None otherwise (load them separately then)."""
    from peft import PeftModel

    from rlsd.models.loading import load_policy
    from rlsd.models.resolve import resolve_model

    if not is_adapter_folder(policy):
        return None
    base_dir = resolve_model(adapter_base(policy))
    if is_adapter_folder(teacher):
        if adapter_base(teacher) != adapter_base(policy):
            return None
    elif Path(teacher).resolve() != Path(base_dir).resolve():
        return None  # a whole model that is not the policy's base
    base, processor = load_policy(base_dir, dtype=dtype, device=device)
    processor = _adapter_processor(Path(policy), processor)
    model = PeftModel.from_pretrained(base, str(policy), adapter_name="policy")
    teacher_name = None  # the base itself (rounds before the first refresh)
    if is_adapter_folder(teacher):
        model.load_adapter(str(teacher), adapter_name="teacher")
        teacher_name = "teacher"
    model.eval()
    model.requires_grad_(False)
    return AdapterView(model, "policy"), AdapterView(model, teacher_name), processor
