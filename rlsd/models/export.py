"""``python -m rlsd.models.export``: a LoRA policy checkpoint merged into a plain model folder.

    python -m rlsd.models.export --policy s3://bucket/run/round-0009/policy-checkpoint \\
        --output ./merged

The checkpoint's adapter (``adapter_config.json`` naming its base as a model reference) is
applied to its base and merged (:func:`rlsd.models.adapter.export_merged`); the folder holds
``config.json``, ``model.safetensors`` and the tokenizer, and loads in transformers and vLLM
as is. Exit codes: 0 written, 2 the input is not a LoRA policy or cannot be resolved.
"""

from __future__ import annotations

import argparse
import sys

from rlsd.models.adapter import export_merged, is_adapter_folder
from rlsd.models.errors import ModelError
from rlsd.models.resolve import resolve_model
from rlsd.storage import StorageError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlsd.models.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True,
                        help="a LoRA policy checkpoint: a folder or an s3:// prefix")
    parser.add_argument("--output", required=True, help="the folder to write the merged model to")
    parser.add_argument("--dtype", default="float32", help="float32 (default) or bfloat16")
    args = parser.parse_args(argv)
    try:
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
