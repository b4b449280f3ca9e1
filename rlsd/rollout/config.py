"""Settings of rollout generation (design.md stage 2), with the paper's sampling defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlsd.config import ConfigError

BACKENDS = ("auto", "transformers", "vllm")
DTYPES = ("auto", "bf16", "fp32")


@dataclass
class RolloutConfig:
    """How many responses to sample per prompt, how, and in which batches and shards."""

    samples_per_prompt: int = field(default=8, metadata={
        "help": "G: responses sampled per prompt, one GRPO group (paper: 8)"})
    temperature: float = field(default=1.0, metadata={
        "help": "sampling temperature (paper: 1.0); 0 means greedy decoding"})
    top_p: float = field(default=1.0, metadata={
        "help": "nucleus sampling mass in (0, 1] (paper: 1.0, the full distribution)"})
    max_new_tokens: int = field(default=4096, metadata={
        "help": "longest response in tokens (paper: 4096); longer ones finish with 'length'"})
    seed: int = field(default=0, metadata={
        "help": "base seed of the sampler; with the policy step and shard it fixes every draw"})
    batch_size: int = field(default=64, metadata={
        "help": "transformers backend: most sequences (prompt x sample) per generate call"})
    max_batch_tokens: int = field(default=131072, metadata={
        "help": "transformers backend: most sequences x (longest prompt + max_new_tokens) "
                "per generate call, which bounds the KV cache"})
    backend: str = field(default="auto", metadata={
        "help": "auto (vLLM when installed and a GPU is present, else transformers), "
                "transformers or vllm"})
    dtype: str = field(default="auto", metadata={
        "help": "auto (bf16 on GPU, fp32 on CPU), bf16 or fp32"})
    max_prompts: int | None = field(default=None, metadata={
        "help": "use only the first N prompts of the table (before sharding); none = all"})
    shard_index: int = field(default=0, metadata={
        "help": "this shard k takes prompts k, k + num_shards, ... of the table"})
    num_shards: int = field(default=1, metadata={
        "help": "number of shards the prompts are split into (one per ParallelFor branch)"})

    def validate(self) -> None:
        if self.samples_per_prompt < 1:
            raise ConfigError(f"samples_per_prompt must be >= 1, got {self.samples_per_prompt}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_batch_tokens < 1:
            raise ConfigError(f"max_batch_tokens must be >= 1, got {self.max_batch_tokens}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {list(BACKENDS)}, got {self.backend!r}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {list(DTYPES)}, got {self.dtype!r}")
        if self.max_prompts is not None and self.max_prompts < 1:
            raise ConfigError(f"max_prompts must be >= 1 or none, got {self.max_prompts}")
        if self.num_shards < 1:
            raise ConfigError(f"num_shards must be >= 1, got {self.num_shards}")
        if not 0 <= self.shard_index < self.num_shards:
            raise ConfigError(f"shard_index must be in 0..{self.num_shards - 1} "
                              f"(num_shards={self.num_shards}), got {self.shard_index}")

    @property
    def greedy(self) -> bool:
        """Temperature 0: every sample of a prompt is the same argmax decoding."""
        return self.temperature == 0
