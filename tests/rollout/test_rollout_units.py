"""Rollout pieces that need no model: settings, EOS rule, sharding, seeds, padding, summary."""

from __future__ import annotations

import pyarrow as pa
import pytest
import torch

from rlsd.config import ConfigError, from_dict
from rlsd.prompting import EncodedPrompt
from rlsd.rollout import (
    BackendUnavailableError,
    RolloutConfig,
    RolloutError,
    choose_backend,
    eos_token_ids,
    select_backend,
    select_prompts,
    summarize,
    trim_at_eos,
    vllm_installed,
)
from rlsd.rollout.responses import SampledResponse, build_rollout_table, sampler_seed
from rlsd.rollout.selection import check_images_supported, check_prompt_rows
from rlsd.rollout.transformers_backend import left_pad_prompts, sampling_kwargs
from rlsd.schemas import ROLLOUT_SCHEMA, response_digest

# --- settings -------------------------------------------------------------------------------


def test_defaults_are_the_papers():
    cfg = RolloutConfig()
    assert (cfg.samples_per_prompt, cfg.temperature, cfg.top_p, cfg.max_new_tokens) == (
        8, 1.0, 1.0, 4096)
    assert (cfg.backend, cfg.shard_index, cfg.num_shards, cfg.max_prompts) == ("auto", 0, 1, None)


@pytest.mark.parametrize(("values", "needle"), [
    ({"shard_index": 3, "num_shards": 3}, "shard_index must be in 0..2"),
    ({"shard_index": -1}, "shard_index"),
    ({"num_shards": 0}, "num_shards"),
    ({"samples_per_prompt": 0}, "samples_per_prompt"),
    ({"temperature": -0.5}, "temperature"),
    ({"top_p": 0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"backend": "tgi"}, "backend must be one of"),
    ({"dtype": "int8"}, "dtype"),
    ({"max_prompts": 0}, "max_prompts"),
    ({"max_batch_tokens": 0}, "max_batch_tokens"),
])
def test_invalid_settings_name_the_setting(values, needle):
    with pytest.raises(ConfigError, match=needle):
        from_dict(RolloutConfig, values)


def test_settings_from_strings_as_kfp_and_cli_pass_them():
    cfg = from_dict(RolloutConfig, {"samples_per_prompt": "4", "temperature": "0.7",
                                    "max_prompts": "none", "num_shards": 4.0, "shard_index": "3"})
    assert (cfg.samples_per_prompt, cfg.temperature, cfg.max_prompts) == (4, 0.7, None)
    assert (cfg.shard_index, cfg.num_shards) == (3, 4)


# --- EOS rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(("ids", "eos", "expected"), [
    ([5, 8, 2, 2, 2], {2}, ([5, 8, 2], "stop")),        # batch padding after EOS dropped
    ([2, 7, 7], {2}, ([2], "stop")),                     # immediate stop keeps the EOS
    ([5, 8, 9], {2}, ([5, 8, 9], "length")),
    ([4, 9, 2, 9], {2, 9}, ([4, 9], "stop")),            # any of several EOS ids
    ([3, 4, 5, 2], {2}, ([3, 4, 5, 2], "stop")),         # EOS on the last allowed position
    ([], {2}, ([], "length")),
])
def test_trim_at_eos(ids, eos, expected):
    assert trim_at_eos(ids, eos) == expected


class _Tok:
    def __init__(self, eos):
        self.eos_token_id = eos


def test_eos_ids_merge_generation_config_and_tokenizer():
    assert eos_token_ids(_Tok(151645), [151645, 151643]) == [151645, 151643]
    assert eos_token_ids(_Tok(2), 7) == [7, 2]
    assert eos_token_ids(_Tok(2), None) == [2]
    with pytest.raises(ValueError, match="no EOS token"):
        eos_token_ids(_Tok(None), None)


# --- prompt selection -----------------------------------------------------------------------


@pytest.mark.parametrize("num_shards", [1, 2, 3, 5, 13])
def test_shards_partition_the_prompts_exactly(num_shards):
    rows = [{"id": f"p{i}"} for i in range(11)]
    shards = [[i for i, _ in select_prompts(rows, None, k, num_shards)] for k in range(num_shards)]
    for k, positions in enumerate(shards):
        assert positions == list(range(k, 11, num_shards))
    flat = sorted(i for shard in shards for i in shard)
    assert flat == list(range(11))  # every prompt in exactly one shard


def test_max_prompts_cuts_before_sharding():
    rows = [{"id": f"p{i}"} for i in range(10)]
    assert [i for i, _ in select_prompts(rows, 7, 1, 3)] == [1, 4]
    assert [r["id"] for _, r in select_prompts(rows, 3)] == ["p0", "p1", "p2"]
    assert select_prompts(rows, None, 4, 20) == [(4, rows[4])]
    assert select_prompts(rows, None, 15, 20) == []


@pytest.mark.parametrize(("rows", "needle"), [
    ([], "has no rows"),
    ([{"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"}], r"duplicate prompt id\(s\) \['a'\]"),
    ([{"id": "", "prompt": "x"}], "have no prompt id"),
    ([{"id": "a", "prompt": None, "messages": [{"role": "system", "content": "hi"}]}],
     "neither a prompt text nor a user message"),
])
def test_unusable_prompt_rows_are_named(rows, needle):
    with pytest.raises(RolloutError, match=needle):
        check_prompt_rows(rows)


def test_chat_rows_pass_the_check():
    check_prompt_rows([{"id": "a", "prompt": None,
                        "messages": [{"role": "user", "content": "2+2?"}]}])


def test_images_for_a_text_model_are_an_error():
    rows = [{"id": "a", "prompt": "x", "images": [b"png"]}, {"id": "b", "prompt": "y"}]
    check_images_supported(rows, multimodal=True)
    with pytest.raises(RolloutError, match=r"prompt\(s\) \['a'\] have images"):
        check_images_supported(rows, multimodal=False)


# --- backend selection ----------------------------------------------------------------------


@pytest.mark.parametrize(("requested", "vllm", "gpu", "expected"), [
    ("auto", True, True, "vllm"),
    ("auto", True, False, "transformers"),
    ("auto", False, True, "transformers"),
    ("auto", False, False, "transformers"),
    ("transformers", True, True, "transformers"),
    ("vllm", True, False, "vllm"),
])
def test_choose_backend(requested, vllm, gpu, expected):
    assert choose_backend(requested, vllm, gpu) == expected


def test_explicit_vllm_without_vllm_names_the_extra():
    with pytest.raises(BackendUnavailableError, match=r"pip install 'rlsd-kubeflow\[vllm\]'"):
        choose_backend("vllm", vllm_available=False, gpu_available=True)


@pytest.mark.skipif(vllm_installed() or torch.cuda.is_available(),
                    reason="checks the CPU-only host without vLLM")
def test_this_host_falls_back_to_transformers():
    assert select_backend("auto") == "transformers"
    with pytest.raises(BackendUnavailableError, match="vLLM is not installed"):
        select_backend("vllm")


# --- seeds, padding, sampler arguments ------------------------------------------------------


def test_sampler_seeds_are_stable_and_distinct():
    assert sampler_seed(0, 0, 0, 0) == sampler_seed(0, 0, 0, 0)
    seeds = {sampler_seed(s, step, shard, batch)
             for s in range(3) for step in range(3) for shard in range(3) for batch in range(3)}
    assert len(seeds) == 81
    assert all(0 <= s < 2**63 for s in seeds)


def test_left_padding_aligns_prompts_on_the_right():
    batch = left_pad_prompts([EncodedPrompt([11, 12, 13]), EncodedPrompt([14])], pad_id=0)
    assert batch["input_ids"].tolist() == [[11, 12, 13], [0, 0, 14]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert set(batch) == {"input_ids", "attention_mask"}


def test_left_padding_of_vlm_prompts_keeps_image_markers_and_tensors():
    a = EncodedPrompt([1, 50, 50, 2], vision={"pixel_values": torch.ones(4, 3),
                                             "image_grid_thw": torch.tensor([[1, 2, 2]])},
                      mm_token_type_ids=[0, 1, 1, 0])
    b = EncodedPrompt([1, 50, 2, 3, 4, 5], vision={"pixel_values": torch.zeros(2, 3),
                                                  "image_grid_thw": torch.tensor([[1, 1, 2]])},
                      mm_token_type_ids=[0, 1, 0, 0, 0, 0])
    batch = left_pad_prompts([a, b], pad_id=9)
    assert batch["input_ids"].tolist() == [[9, 9, 1, 50, 50, 2], [1, 50, 2, 3, 4, 5]]
    assert batch["mm_token_type_ids"].tolist() == [[0, 0, 0, 1, 1, 0], [0, 1, 0, 0, 0, 0]]
    assert batch["pixel_values"].shape == (6, 3)
    assert batch["pixel_values"][:4].eq(1).all() and batch["pixel_values"][4:].eq(0).all()
    assert batch["image_grid_thw"].tolist() == [[1, 2, 2], [1, 1, 2]]


def test_sampling_arguments_neutralise_checkpoint_defaults():
    sampled = sampling_kwargs(RolloutConfig(temperature=0.7, top_p=0.9), [2, 7], pad_id=0)
    assert sampled["do_sample"] is True
    assert (sampled["temperature"], sampled["top_p"], sampled["top_k"]) == (0.7, 0.9, 0)
    assert sampled["repetition_penalty"] == 1.0 and sampled["eos_token_id"] == [2, 7]
    greedy = sampling_kwargs(RolloutConfig(temperature=0), [2], pad_id=0)
    assert greedy["do_sample"] is False and "temperature" not in greedy


# --- table and summary ----------------------------------------------------------------------


class _Decoder:
    def decode(self, ids, skip_special_tokens=False):
        return " ".join(str(i) for i in ids if not (skip_special_tokens and i == 2))


def test_table_rows_and_summary_by_hand():
    groups = [[SampledResponse([5, 6, 2], "stop"), SampledResponse([7, 8, 9, 10], "length")],
              [SampledResponse([2], "stop"), SampledResponse([3, 3, 3, 3], "length")]]
    table = build_rollout_table(["a", "b"], [[1, 2, 3], [4]], groups, _Decoder(), policy_step=5)
    assert table.schema.equals(ROLLOUT_SCHEMA)
    rows = table.to_pylist()
    assert [(r["prompt_id"], r["sample_index"]) for r in rows] == [
        ("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert rows[0]["response_text"] == "5 6" and rows[2]["response_text"] == ""
    assert [r["response_length"] for r in rows] == [3, 4, 1, 4]
    assert [r["prompt_length"] for r in rows] == [3, 3, 1, 1]
    assert rows[1]["response_digest"] == response_digest([7, 8, 9, 10])
    assert {r["policy_step"] for r in rows} == {5}
    summary = summarize(table, seconds=2.0)
    assert (summary.prompts, summary.samples, summary.generated_tokens) == (2, 4, 12)
    assert summary.stop_fraction == 0.5 and summary.mean_response_length == 3.0
    assert summary.tokens_per_second == 6.0
    assert summary.line() == ("rollout: 2 prompts x 2 = 4 samples, 12 tokens in 2.0 s "
                              "(6 tok/s), 50.0% stopped at EOS, mean length 3.0 tokens")


def test_summary_of_an_empty_shard():
    summary = summarize(pa.Table.from_pylist([], schema=ROLLOUT_SCHEMA), 0.0)
    assert (summary.prompts, summary.samples, summary.tokens_per_second) == (0, 0, 0.0)
    assert summary.line().startswith("rollout: 0 prompts x 0 = 0 samples")
