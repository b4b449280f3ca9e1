"""``python -m rlsd.models.export``: a LoRA policy checkpoint merged into a plain model folder.

    python -m rlsd.models.export --policy s3://bucket/run/round-0009/policy-checkpoint \\
        --output ./merged

The checkpoint's adapter (``adapter_config.json`` naming its base as a model reference) is
applied to its base and merged (:func:`rlsd.models.adapter.export_merged`); the folder holds
``config.json``, ``model.safetensors`` and the tokenizer, and loads in transformers and vLLM
as is. ``--output`` must not exist yet or be an empty folder: a merged model written over an
earlier export or a checkpoint would leave a folder mixing two models. Exit codes: 0 written,
2 the input is not a LoRA policy or cannot be resolved, or the output is not empty.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rlsd.models.adapter import export_merged, is_adapter_folder
from rlsd.models.errors import ModelError
from rlsd.models.resolve import resolve_model
from rlsd.storage import StorageError


def check_output(output: str) -> None:
    """Raise :class:`ModelError` unless ``output`` is a new or empty local folder."""
    path = Path(output)
    if path.exists() and not path.is_dir():
        raise ModelError(f"--output {output} is a file; give a new folder")
    if path.is_dir() and any(path.iterdir()):
        raise ModelError(f"--output {output} is not empty; give a new folder (a merged model "
                         "written over other files would mix two models)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlsd.models.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True,
                        help="a LoRA policy checkpoint: a folder or an s3:// prefix")
    parser.add_argument("--output", required=True, help="the folder to write the merged model to")
    parser.add_argument("--dtype", default="float32", help="float32 (default) or bfloat16")
    args = parser.parse_args(argv)
    try:
        check_output(args.output)
        folder = resolve_model(args.policy)
        if not is_adapter_folder(folder):
            raise ModelError(f"{args.policy} is a whole model, not a LoRA adapter: it loads as is")
        target = export_merged(folder, args.output, dtype=args.dtype)
    except (ModelError, StorageError, ValueError) as exc:
        print(f"rlsd.models.export: error: {exc}", file=sys.stderr)
        return 2
    print(f"export: merged {args.policy} into {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
