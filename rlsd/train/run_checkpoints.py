"""Where to resume a stopped run: a finished round's policy checkpoint, found from the run's
root folder (local or ``s3://``) and a round number, or given directly.

Every update writes its checkpoint with ``manifest.json`` last, whose metadata says
``kind: policy``, the round and the optimizer step; a round whose upload never finished has
no manifest and is not a candidate. So "resume run R at round N" needs no bookkeeping beyond
the checkpoints themselves.
"""

from __future__ import annotations

from rlsd import storage
from rlsd.storage import MANIFEST_NAME, Manifest


class ResumeError(ValueError):
    """No (unambiguous) finished round to resume from."""


def round_checkpoints(run_root: str) -> dict[int, tuple[str, Manifest]]:
    """``{round: (checkpoint uri, manifest)}`` of every complete policy checkpoint under
    ``run_root``. Two checkpoints of one round (several runs under one root) are an error."""
    found: dict[int, tuple[str, Manifest]] = {}
    for rel in storage.list_sizes(run_root):
        if rel != MANIFEST_NAME and not rel.endswith("/" + MANIFEST_NAME):
            continue
        folder = storage.join(run_root, rel[: -len(MANIFEST_NAME)].rstrip("/")) \
            if rel != MANIFEST_NAME else run_root.rstrip("/")
        manifest = storage.read_manifest(folder)
        meta = manifest.metadata
        if meta.get("kind") != "policy" or not isinstance(meta.get("round"), int):
            continue
        if meta["round"] in found:
            raise ResumeError(
                f"{run_root} holds two checkpoints of round {meta['round']} "
                f"({found[meta['round']][0]} and {folder}): pass one run's folder, or the "
                f"checkpoint itself")
        found[meta["round"]] = (folder, manifest)
    return found


def resume_point(where: str, round_index: int = -1) -> tuple[str, Manifest]:
    """The checkpoint to resume from: ``where`` itself when it is a policy checkpoint, else
    the checkpoint of round ``round_index`` (-1: the last finished one) under run root
    ``where``; its files are verified against the manifest (sizes)."""
    where = where.strip().rstrip("/")
    try:
        manifest = storage.read_manifest(where)
    except (storage.IncompleteCheckpointError, storage.NotFoundError):
        manifest = None  # no manifest here: a run root (or a cut checkpoint, never resumed)
    if manifest is not None and manifest.metadata.get("kind") == "policy":
        if round_index not in (-1, manifest.metadata.get("round")):
            raise ResumeError(f"{where} is the checkpoint of round "
                              f"{manifest.metadata.get('round')}, not round {round_index}")
        storage.verify_manifest(where)
        return where, manifest
    if manifest is not None:
        raise ResumeError(f"{where} is a complete folder but not a policy checkpoint (its "
                          f"manifest says kind={manifest.metadata.get('kind')!r})")
    rounds = round_checkpoints(where)
    if not rounds:
        raise ResumeError(f"no finished round under {where}: no policy checkpoint with a "
                          f"manifest (an update that never finished writes none)")
    chosen = max(rounds) if round_index == -1 else round_index
    if chosen not in rounds:
        raise ResumeError(f"round {round_index} did not finish under {where}; finished "
                          f"rounds: {sorted(rounds)}")
    uri, manifest = rounds[chosen]
    storage.verify_manifest(uri)
    return uri, manifest
