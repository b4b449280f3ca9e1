"""LoRA for the RLSD update (``TrainConfig.lora_rank > 0``), through PEFT.

LoRA (Hu et al. 2021, eq. 3) trains ``h = W x + (alpha / r) B A x`` with ``W`` frozen, ``A``
(r x d_in) random and ``B`` (d_out x r) zero at the start, so the first step starts from the
base policy exactly. Only ``A`` and ``B`` train: the optimizer state, the gradients and the
checkpoint shrink to the adapter's size. The RLSD loss itself is unchanged: it is computed on
the adapted model's log-probs like on any policy.

Where adapters go: every ``torch.nn.Linear`` of the language model (``all-linear``) or those
whose name ends in one of ``lora_target_modules``; never the output head (tied to the input
embeddings in small models) and, in a vision-language model, never the vision tower (the
language tower is what RL with text rewards adapts; design choice of the issue, as in the
VLM recipes of EasyR1 and TRL).
"""

from __future__ import annotations

from typing import Any

import torch

from rlsd.config import ConfigError
from rlsd.train.config import TrainConfig

#: Module-name fragments of vision towers in the transformers VLMs we load (Qwen2/2.5/3-VL:
#: ``visual``; LLaVA-style and others: ``vision_tower``, ``vision_model``; projectors).
_VISION = ("visual", "vision_tower", "vision_model", "multi_modal_projector", "mm_projector")


def is_peft_model(model: Any) -> bool:
    """True for a ``peft.PeftModel`` (a policy with an adapter)."""
    from peft import PeftModel

    return isinstance(model, PeftModel)


def language_linear_names(model: torch.nn.Module, targets: str) -> list[str]:
    """Full names of the linear layers that get an adapter (see the module docs).

    ``targets``: ``all-linear`` or comma-separated name suffixes. Raises :class:`ConfigError`
    when nothing matches (a typo in a suffix), naming a few layers that exist.
    """
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    wanted = None if targets.strip() == "all-linear" else \
        [t.strip() for t in targets.split(",") if t.strip()]
    names, seen = [], []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or module is output or ".lora_" in name:
            continue
        # A layer that already carries an adapter keeps its linear as ``<name>.base_layer``.
        name = name.removesuffix(".base_layer")
        if any(part in _VISION for part in name.split(".")):
            continue
        seen.append(name)
        if wanted is None or any(name == t or name.endswith("." + t) for t in wanted):
            names.append(name)
    unmatched = [t for t in wanted or [] if not any(n == t or n.endswith("." + t) for n in seen)]
    if not names or unmatched:
        examples = sorted({n.rsplit(".", 1)[-1] for n in seen})[:12]
        missing = ", ".join(unmatched) if unmatched else targets
        raise ConfigError(f"lora_target_modules: {missing!r} matches no linear layer of the "
                          f"language model; its layers end in: {', '.join(examples)}")
    return names


def lora_config(model: torch.nn.Module, cfg: TrainConfig, base_ref: str) -> Any:
    """The ``peft.LoraConfig`` of ``cfg`` for ``model``; ``base_ref`` (a model reference,
    :func:`rlsd.models.resolve_model`) is recorded as ``base_model_name_or_path`` so that the
    saved adapter names a base any pod can resolve."""
    from peft import LoraConfig

    names = language_linear_names(model, cfg.lora_target_modules)
    check_rank(model, names, cfg.lora_rank)
    return LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=names, bias="none", base_model_name_or_path=base_ref)


def check_rank(model: torch.nn.Module, names: list[str], rank: int) -> None:
    """Raise :class:`ConfigError` when ``rank`` exceeds the smaller dimension of a targeted
    layer: ``B A`` (d_out x r times r x d_in) then cannot have rank r, so the extra columns
    only cost memory (a rank of 100000 would ask for billions of parameters)."""
    modules = dict(model.named_modules())
    smallest = min(names, key=lambda n: min(modules[n].in_features, modules[n].out_features))
    layer = modules[smallest]
    limit = min(layer.in_features, layer.out_features)
    if rank > limit:
        raise ConfigError(f"lora_rank={rank} exceeds what the targeted layers can use: "
                          f"{smallest} is {layer.in_features} -> {layer.out_features}, so an "
                          f"update of rank above {limit} adds parameters, not rank; use "
                          f"lora_rank <= {limit} (or full fine-tuning, lora_rank=0)")


def adapted_layer_names(model: Any) -> list[str]:
    """Full names (as :func:`language_linear_names` gives them) of the layers of a
    ``PeftModel`` that carry a LoRA adapter."""
    from peft.tuners.lora import LoraLayer

    return [name for name, module in model.get_base_model().named_modules()
            if isinstance(module, LoraLayer)]


def _few(names: list[str], shown: int = 3) -> str:
    if not names:
        return "none"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def apply_lora(model: torch.nn.Module, cfg: TrainConfig, base_ref: str) -> torch.nn.Module:
    """The model to train: ``model`` itself for full fine-tuning; for LoRA a ``PeftModel``
    with a fresh adapter over ``model``, or ``model`` as loaded when it already carries the
    adapter of an earlier round (resumed, settings checked).

    Raises:
        ConfigError: a LoRA policy with ``lora_rank = 0``, or an adapter whose rank, alpha or
            layers differ from ``cfg`` (its optimizer state would not fit).
    """
    if is_peft_model(model):
        if not cfg.lora_rank:
            raise ConfigError("the policy is a LoRA adapter checkpoint: train it with the same "
                              "lora_rank (or export it merged with python -m rlsd.models.export "
                              "and train that in full)")
        saved = model.peft_config["default"]
        if (saved.r, float(saved.lora_alpha)) != (cfg.lora_rank, float(cfg.lora_alpha)):
            raise ConfigError(f"the policy's adapter has rank {saved.r}, alpha "
                              f"{saved.lora_alpha}; this round asks for rank {cfg.lora_rank}, "
                              f"alpha {cfg.lora_alpha}: keep the adapter's settings")
        layers = set(language_linear_names(model.get_base_model(), cfg.lora_target_modules))
        # The layers that carry the adapter, not the saved config's ``target_modules``: PEFT
        # saves a list of 20 or more layers as the set of their name endings.
        adapted = set(adapted_layer_names(model))
        if adapted != layers:
            extra, missing = sorted(adapted - layers), sorted(layers - adapted)
            raise ConfigError(f"the policy's adapter covers other layers than "
                              f"lora_target_modules={cfg.lora_target_modules!r} selects "
                              f"(only in the adapter: {_few(extra)}; only selected: "
                              f"{_few(missing)}): keep the adapter's target modules")
        if float(saved.lora_dropout) != float(cfg.lora_dropout):
            raise ConfigError(f"the policy's adapter was trained with lora_dropout "
                              f"{saved.lora_dropout}; this round asks for {cfg.lora_dropout}")
        return model
    if not cfg.lora_rank:
        return model
    from peft import get_peft_model

    wrapped = get_peft_model(model, lora_config(model, cfg, base_ref))
    set_base_ref(wrapped, base_ref)  # PEFT replaces it with the loaded folder's path
    return wrapped


def set_base_ref(model: Any, base_ref: str) -> None:
    """Record ``base_ref`` as the base of the adapter that ``model`` will save."""
    if is_peft_model(model):
        for config in model.peft_config.values():
            config.base_model_name_or_path = base_ref


def adapter_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The adapter's parameters of a ``PeftModel``, by parameter name (live tensors)."""
    return {name: param for name, param in model.named_parameters() if "lora_" in name}


class AdapterSnapshot:
    """A frozen copy of a LoRA policy's adapter: the self-teacher with ``K > 0``.

    The teacher of the fused loop is the policy as it was at the last refresh. With LoRA
    only the adapter changes, so the snapshot keeps the adapter's weights (megabytes), never
    a second copy of the base model: :meth:`as_teacher` returns a module whose forward swaps
    the snapshot into the live adapter, runs the policy and swaps the live weights back
    (exactly: the tensors are copied, not recomputed). ZeRO-2 keeps whole parameters on every
    rank, which the swap needs; ZeRO-3 partitions them (the loop refuses K > 0 there).
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.weights: dict[str, torch.Tensor] = {}
        self.refresh()

    def refresh(self) -> None:
        """Take the snapshot from the live adapter now."""
        self.weights = {n: p.detach().clone() for n, p in adapter_weights(self.model).items()}

    def swap(self) -> None:
        """Exchange the live adapter's values and the snapshot's (twice restores both)."""
        with torch.no_grad():
            for name, param in adapter_weights(self.model).items():
                kept = param.detach().clone()
                param.copy_(self.weights[name])
                self.weights[name] = kept

    def as_teacher(self) -> torch.nn.Module:
        """A module for :func:`rlsd.score.score_rollouts`'s ``teacher``."""
        return _SnapshotTeacher(self)

    def save(self, folder: Any, processor: Any) -> None:
        """Write the snapshot as a LoRA adapter folder (loadable like any LoRA policy)."""
        self.swap()
        try:
            self.model.save_pretrained(str(folder), safe_serialization=True,
                                       save_embedding_layers=False, state_dict={
                n: p.detach().to("cpu") for n, p in adapter_weights(self.model).items()})
        finally:
            self.swap()
        processor.save_pretrained(str(folder))

    def load(self, folder: Any) -> None:
        """Restore a snapshot written by :meth:`save`."""
        from peft.utils import load_peft_weights

        saved = load_peft_weights(str(folder), device="cpu")
        live = adapter_weights(self.model)
        weights = {}
        for name, param in live.items():
            key = name.replace(".default.", ".")  # PEFT saves without the adapter's name
            if key not in saved:
                raise ConfigError(f"the teacher snapshot in {folder} has no weight {key}: it "
                                  "was saved for another adapter")
            weights[name] = saved[key].to(device=param.device, dtype=param.dtype)
        self.weights = weights


class _SnapshotTeacher(torch.nn.Module):
    """The policy with the snapshot's adapter swapped in for the length of each forward."""

    def __init__(self, snapshot: AdapterSnapshot) -> None:
        super().__init__()
        object.__setattr__(self, "_snapshot", snapshot)  # not a submodule: no second registry

    @property
    def config(self) -> Any:
        return self._snapshot.model.config

    def parameters(self, recurse: bool = True):  # noqa: D102 - the policy's own
        return self._snapshot.model.parameters(recurse)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self._snapshot.swap()
        try:
            return self._snapshot.model(*args, **kwargs)
        finally:
            self._snapshot.swap()
