"""Settings of the fused loop: its own (rounds, checkpoints) plus every stage's, by section."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlsd.algorithms import AlgorithmConfig
from rlsd.config import ConfigError
from rlsd.evaluate.config import EvalConfig
from rlsd.rollout.config import RolloutConfig
from rlsd.score.config import ScoreConfig
from rlsd.train.config import TrainConfig
from rlsd.verify.settings import VerifyConfig


@dataclass
class LoopConfig:
    """How many rounds this job runs, which prompts each round takes, when it checkpoints."""

    rounds: int = field(default=1, metadata={
        "help": "rounds this job runs, from the starting policy's next round"})
    prompts_per_round: int = field(default=256, metadata={
        "help": "prompts each round samples: a fresh window of the table per round, "
                "wrapping around (0 = all); the paper's 256"})
    save_every: int = field(default=10, metadata={
        "help": "write a checkpoint after every round r with (r + 1) % N == 0, and after the "
                "job's last round"})
    vllm_memory_fraction: float = field(default=0.3, metadata={
        "help": "colocated vLLM (GPU + vllm installed): share of the GPU its weights and KV "
                "cache may take while awake (vLLM's gpu_memory_utilization)"})
    eval_every: int = field(default=0, metadata={
        "help": "with --eval-prompts: evaluate the policy on them (the evaluate section's "
                "sampling, greedy by default) before the first round of a fresh run and after "
                "every N rounds and the job's last; 0 = only with --eval-prompts, after the "
                "last round"})
    keep_tables: bool = field(default=True, metadata={
        "help": "write each round's rollouts, rewards and scores tables under "
                "<output>/tables/round-NNNN (small; the report and debugging read them)"})

    def validate(self) -> None:
        if self.rounds < 1:
            raise ConfigError(f"setting 'rounds' must be >= 1, got {self.rounds}")
        if self.eval_every < 0:
            raise ConfigError(f"setting 'eval_every' must be >= 0, got {self.eval_every}")
        if self.save_every < 1:
            raise ConfigError(f"setting 'save_every' must be >= 1, got {self.save_every}")
        if not 0 < self.vllm_memory_fraction < 1:
            raise ConfigError("setting 'vllm_memory_fraction' must be in (0, 1), got "
                              f"{self.vllm_memory_fraction}")
        if self.prompts_per_round < 0:
            raise ConfigError("setting 'prompts_per_round' must be >= 0 (0 = all), got "
                              f"{self.prompts_per_round}")


#: The sections of a fused-loop settings file, and the dataclass each fills.
SECTIONS: dict[str, type] = {"loop": LoopConfig, "rollout": RolloutConfig,
                             "verify": VerifyConfig, "score": ScoreConfig,
                             "train": TrainConfig, "algorithm": AlgorithmConfig,
                             "evaluate": EvalConfig}


@dataclass
class LoopSettings:
    """Every setting of a fused job, one dataclass per stage (the staged CLIs' own)."""

    loop: LoopConfig = field(default_factory=LoopConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)

    def validate(self) -> None:
        """Each section's own rules, then what the loop needs of them together."""
        for name in SECTIONS:
            getattr(self, name).validate()
        if self.algorithm.algorithm == "opd":
            raise ConfigError("the fused loop runs the self-teacher algorithms (rlsd, opsd, "
                              "grpo, grpo+opsd); OPD's separate teacher needs the staged mode")
        if self.algorithm.kl_coef > 0:
            raise ConfigError("kl_coef > 0 needs reference-policy log-probs, which neither mode "
                              "computes yet; keep kl_coef = 0 (the paper's choice)")
        if self.train.lora_rank and self.rollout.backend == "vllm":
            raise ConfigError("rollout.backend=vllm with train.lora_rank > 0: the colocated "
                              "vLLM engine cannot take a LoRA policy's weights yet; use "
                              "rollout.backend=transformers (auto picks it for LoRA)")
        owned = {"shard_index": 0, "num_shards": 1, "max_prompts": None}
        changed = [f"rollout.{k}" for k, v in owned.items() if getattr(self.rollout, k) != v]
        if changed:
            raise ConfigError(f"{', '.join(changed)}: the loop sets these itself (one shard per "
                              "rank; loop.prompts_per_round picks each round's prompts)")
        if self.rollout.samples_per_prompt < 2:
            raise ConfigError("rollout.samples_per_prompt must be >= 2: group advantages of a "
                              "single sample are all 0")
