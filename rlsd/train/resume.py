"""Never recompute a finished round: if ``--output`` already holds the complete, verified
checkpoint this round would write (same starting policy, next round number), the trainer
returns it instead of training again. A retried pipeline step or a re-run command after a
crash therefore resumes where the last complete round ended; an output that holds some other
complete checkpoint is refused, so nothing already written is overwritten by mistake.
"""

from __future__ import annotations

import json
from typing import Any

from rlsd import storage
from rlsd.models.adapter import ADAPTER_CONFIG
from rlsd.storage import IntegrityError, Manifest, NotFoundError, StorageError
from rlsd.train.checkpoint import BASE_MODEL_STATE, TRAINER_STATE
from rlsd.train.samples import RoundDataError


def starting_state(policy_ref: str) -> dict[str, Any]:
    """The trainer state of the policy a round starts from: a checkpoint's
    ``trainer_state.json`` (local or ``s3://``), or round -1, step 0 for a base model."""
    if policy_ref == "default" or ("://" not in policy_ref and not storage.exists(policy_ref)):
        return dict(BASE_MODEL_STATE)  # "default" or a hub id
    uri = storage.join(policy_ref, TRAINER_STATE)
    try:
        return json.loads(storage.read_bytes(uri))
    except NotFoundError:
        return dict(BASE_MODEL_STATE)


def finished_round(policy_ref: str, output: str, lora_rank: int | None = None
                   ) -> Manifest | None:
    """The manifest of ``output`` when it already holds this round's complete checkpoint
    (trained from ``policy_ref``, sizes verified), else None (train). Raises
    :class:`RoundDataError` when ``output`` holds a complete checkpoint of another round or
    another starting policy, or (``lora_rank`` given) a full model where this round trains a
    LoRA adapter (``lora_rank > 0``) or the reverse."""
    try:
        manifest = storage.read_manifest(output)
    except (NotFoundError, IntegrityError):
        return None  # nothing there, or an incomplete upload: train (and overwrite it)
    except StorageError as exc:
        raise RoundDataError(f"cannot read the output folder {output}: {exc}") from exc
    meta = manifest.metadata
    expected = int(starting_state(policy_ref).get("round", -1)) + 1
    if meta.get("kind") != "policy" or meta.get("round") != expected \
            or meta.get("parent") not in (None, policy_ref):
        raise RoundDataError(
            f"{output} already holds a complete checkpoint (round {meta.get('round')}, step "
            f"{meta.get('step')}, trained from {meta.get('parent', 'an unknown policy')}), not "
            f"round {expected} from {policy_ref}: choose another --output or remove it first")
    if lora_rank is not None:
        adapter = any(f.path == ADAPTER_CONFIG for f in manifest.files)
        if adapter != (lora_rank > 0):
            held, asked = ("a LoRA adapter", "full fine-tuning (lora_rank=0)") if adapter \
                else ("a fully fine-tuned model", f"a LoRA adapter (lora_rank={lora_rank})")
            raise RoundDataError(
                f"{output} already holds this round's checkpoint as {held}; this run asks for "
                f"{asked}: choose another --output or remove it first")
    try:
        storage.verify_manifest(output)
    except (IntegrityError, StorageError):
        return None  # damaged since: train again
    return manifest
