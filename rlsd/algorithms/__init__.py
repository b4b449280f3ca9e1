"""The exact math of RLSD and its baselines (design.md, "The algorithm"), in torch.

- :mod:`~rlsd.algorithms.advantages`: group advantages A_i (GRPO / Dr.GRPO), zero-advantage groups
- :mod:`~rlsd.algorithms.token_credit`: Δ_t, RLSD weights w_t, token advantages Â_t (registry)
- :mod:`~rlsd.algorithms.schedule`: the λ schedule
- :mod:`~rlsd.algorithms.losses`: PPO clip-higher / dual-clip policy loss, k3 KL penalty
- :mod:`~rlsd.algorithms.logprobs`: token log-probs and entropies from logits
- :mod:`~rlsd.algorithms.config`: :class:`AlgorithmConfig` with the paper's defaults
"""

from rlsd.algorithms.advantages import (
    group_advantages,
    informative_sample_mask,
    zero_advantage_fraction,
    zero_advantage_groups,
)
from rlsd.algorithms.config import AlgorithmConfig
from rlsd.algorithms.errors import AlgorithmInputError
from rlsd.algorithms.logprobs import token_entropy, token_logprobs
from rlsd.algorithms.losses import PolicyLossStats, kl_penalty_k3, policy_loss
from rlsd.algorithms.schedule import rlsd_lambda
from rlsd.algorithms.token_credit import (
    TOKEN_ADVANTAGES,
    RLSDWeights,
    TokenAdvantageEstimator,
    TokenCreditInputs,
    get_token_advantage_estimator,
    needs_teacher_logprobs,
    register_token_advantage,
    rlsd_weights,
    self_distillation_delta,
    token_advantages,
    uses_group_advantage,
)

__all__ = [
    "TOKEN_ADVANTAGES",
    "AlgorithmConfig",
    "AlgorithmInputError",
    "PolicyLossStats",
    "RLSDWeights",
    "TokenAdvantageEstimator",
    "TokenCreditInputs",
    "get_token_advantage_estimator",
    "group_advantages",
    "informative_sample_mask",
    "kl_penalty_k3",
    "needs_teacher_logprobs",
    "uses_group_advantage",
    "policy_loss",
    "register_token_advantage",
    "rlsd_lambda",
    "rlsd_weights",
    "self_distillation_delta",
    "token_advantages",
    "token_entropy",
    "token_logprobs",
    "zero_advantage_fraction",
    "zero_advantage_groups",
]
