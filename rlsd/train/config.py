"""Settings of the RLSD update, with the paper's optimisation defaults (design.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlsd.config import ConfigError


@dataclass
class TrainConfig:
    """How one round's rollouts become optimizer steps (the algorithm is AlgorithmConfig)."""

    learning_rate: float = field(default=1e-6, metadata={"help": "AdamW learning rate (paper 1e-6)"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (paper 0.01)"})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW β1"})
    adam_beta2: float = field(default=0.999, metadata={"help": "AdamW β2"})
    adam_eps: float = field(default=1e-8, metadata={"help": "AdamW ε"})
    grad_clip: float = field(default=1.0, metadata={"help": "global gradient-norm clip (paper 1.0)"})
    steps_per_round: int = field(default=1, metadata={
        "help": "optimizer steps per rollout batch; the batch is split into this many "
                "mini-batches (paper: 1)"})
    micro_batch_tokens: int = field(default=8192, metadata={
        "help": "padded tokens (rows x longest prompt+response) per micro-batch on one rank"})
    zero_stage: int = field(default=2, metadata={"help": "DeepSpeed ZeRO stage: 2 or 3"})
    precision: str = field(default="auto", metadata={
        "help": "auto (bf16 with fp32 master weights on GPU, fp32 on CPU), bf16 or fp32"})
    gradient_checkpointing: bool = field(default=True, metadata={
        "help": "recompute activations in backward to save memory"})
    seed: int = field(default=0, metadata={"help": "seed of mini-batch shuffling"})
    deepspeed_config: str | None = field(default=None, metadata={
        "help": "a DeepSpeed JSON/YAML file merged over the generated config"})
    tensorboard: bool = field(default=True, metadata={"help": "also write TensorBoard events"})
    lora_rank: int = field(default=0, metadata={
        "help": "LoRA rank r (PEFT); 0: full fine-tuning. With r > 0 only the adapter trains "
                "and a checkpoint holds the adapter and its optimizer state"})
    lora_alpha: float = field(default=32.0, metadata={
        "help": "LoRA alpha: the update is scaled by alpha / r"})
    lora_dropout: float = field(default=0.0, metadata={
        "help": "dropout on the adapter's input; 0 keeps the policy deterministic, so the "
                "trainer's log-probs match the sampler's"})
    lora_target_modules: str = field(default="all-linear", metadata={
        "help": "which linear layers get an adapter: all-linear, or comma-separated name "
                "suffixes (q_proj,v_proj); only in the language tower of a vision-language "
                "model, never the output head"})

    def validate(self) -> None:
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.steps_per_round < 1:
            raise ConfigError(f"steps_per_round must be >= 1, got {self.steps_per_round}")
        if self.micro_batch_tokens < 1:
            raise ConfigError(f"micro_batch_tokens must be >= 1, got {self.micro_batch_tokens}")
        if self.zero_stage not in (0, 1, 2, 3):
            raise ConfigError(f"zero_stage must be 0, 1, 2 or 3, got {self.zero_stage}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ConfigError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")
        if self.grad_clip < 0:
            raise ConfigError(f"grad_clip must be >= 0 (0 disables), got {self.grad_clip}")
        if self.lora_rank < 0:
            raise ConfigError(f"lora_rank must be >= 0 (0: full fine-tuning), got {self.lora_rank}")
        if self.lora_rank and self.lora_alpha <= 0:
            raise ConfigError(f"lora_alpha must be > 0, got {self.lora_alpha}")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        targets = [t.strip() for t in self.lora_target_modules.split(",")]
        if not all(targets) or ("all-linear" in targets and len(targets) > 1):
            raise ConfigError("lora_target_modules must be all-linear or comma-separated layer "
                              f"names, got {self.lora_target_modules!r}")
