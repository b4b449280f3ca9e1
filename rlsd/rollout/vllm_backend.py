"""Rollout with vLLM (GPU hosts with the ``vllm`` extra installed).

Same inputs and outputs as :mod:`rlsd.rollout.transformers_backend`: prompts go in as the
exact token ids :func:`rlsd.prompting.encode_student_prompt` made (``TokensPrompt``), so the
ids in the rollouts table are the ids the trainer and scorer use; images go in as
``multi_modal_data``. One ``SamplingParams(n=G)`` per prompt carries a per-prompt seed (mixed
from the base seed, the policy step and the prompt's position in the table), so a prompt's
samples do not depend on how vLLM batches or how the pipeline shards. ``logprobs=0`` makes
vLLM report the log-prob of each sampled token (its default ``raw_logprobs`` mode: the
model's own distribution, before temperature and top-p), stored as ``sampler_logprobs``.

vLLM is imported only here and only when this backend runs. Not exercised by the CPU test
suite (vLLM needs a GPU); the backend selection and the missing-install error are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlsd.prompting import EncodedPrompt, decode_images
from rlsd.rollout.backend import VLLM_EXTRA_HINT
from rlsd.rollout.config import RolloutConfig
from rlsd.rollout.errors import BackendUnavailableError
from rlsd.rollout.responses import SampledResponse, sampler_seed, trim_at_eos

_VLLM_DTYPES = {"auto": "auto", "bf16": "bfloat16", "fp32": "float32"}


@dataclass
class VllmPolicy:
    """A policy loaded into a vLLM engine, plus the EOS ids of its generation config and its
    transformers config (what :func:`rlsd.prompting.context_window` reads)."""

    llm: Any  # vllm.LLM
    model_dir: Path
    generation_eos: list[int] = field(default_factory=list)
    config: Any = None  # transformers PretrainedConfig of model_dir


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend 'vllm' needs vLLM, which failed to import ({exc}): {VLLM_EXTRA_HINT}"
        ) from exc
    return vllm


def load_vllm_policy(model_dir: Path, config: RolloutConfig, max_images: int = 0) -> VllmPolicy:
    """Start a vLLM engine on ``model_dir`` (a complete local model folder)."""
    from transformers import AutoConfig, GenerationConfig

    vllm = _import_vllm()
    kwargs: dict[str, Any] = {"model": str(model_dir), "seed": config.seed,
                              "dtype": _VLLM_DTYPES[config.dtype]}
    if max_images > 1:
        kwargs["limit_mm_per_prompt"] = {"image": max_images}
    llm = vllm.LLM(**kwargs)
    try:
        eos = GenerationConfig.from_pretrained(model_dir).eos_token_id
    except OSError:  # no generation_config.json: the tokenizer's EOS is all there is
        eos = None
    generation_eos = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
    return VllmPolicy(llm=llm, model_dir=Path(model_dir), generation_eos=generation_eos,
                      config=AutoConfig.from_pretrained(model_dir))


def generate_with_vllm(
    policy: VllmPolicy,
    prompts: Sequence[EncodedPrompt],
    rows: Sequence[Mapping[str, Any]],
    table_positions: Sequence[int],
    config: RolloutConfig,
    eos_ids: Sequence[int],
    seed_parts: Sequence[int],
    progress: bool = False,
) -> list[list[SampledResponse]]:
    """G responses per prompt, as :func:`generate_with_transformers` returns them.

    ``table_positions[i]`` is prompt ``i``'s row position in the whole table (its seed key);
    ``seed_parts`` are the base seed and the policy step. ``progress`` shows vLLM's own bar.
    """
    vllm = _import_vllm()
    from vllm.inputs import TokensPrompt

    requests = []
    params = []
    for prompt, row, position in zip(prompts, rows, table_positions, strict=True):
        request: dict[str, Any] = {"prompt_token_ids": list(prompt.input_ids)}
        if prompt.vision and row.get("images"):
            request["multi_modal_data"] = {"image": decode_images(row["images"])}
        requests.append(TokensPrompt(**request))
        params.append(vllm.SamplingParams(
            n=config.samples_per_prompt,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.max_new_tokens,
            seed=sampler_seed(*seed_parts, position),
            logprobs=0,
            stop_token_ids=list(eos_ids),
            detokenize=False,  # the text is decoded from the ids, like the other backend
        ))
    outputs = policy.llm.generate(requests, params, use_tqdm=progress)
    eos_set = set(eos_ids)
    results: list[list[SampledResponse]] = []
    for output in outputs:
        group = []
        for completion in sorted(output.outputs, key=lambda c: c.index):
            ids, reason = trim_at_eos(list(completion.token_ids), eos_set)
            logprobs = None
            if completion.logprobs:
                # One {token id: Logprob} mapping per generated position, holding the sampled id.
                logprobs = [float(completion.logprobs[t][tok].logprob)
                            for t, tok in enumerate(ids)]
            group.append(SampledResponse(ids, reason, logprobs))
        results.append(group)
    return results
