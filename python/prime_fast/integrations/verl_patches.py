"""The functions :func:`prime_fast.integrations.verl.install` puts in place of verl's and the PRIME recipe's.

Each keeps the signature and return of the function it replaces:

- :func:`linear_cross_entropy` for ``verl.utils.kernel.linear_cross_entropy.linear_cross_entropy`` (the
  ``use_fused_kernels`` + ``fused_kernels_backend=triton`` hook of verl's model forwards): per-token
  log-probs and entropies of the labels from the last hidden state and the LM head, through
  :func:`prime_fast.ops.linear_token_logprobs` (fused Triton on CUDA, row chunks on the CPU);
- :func:`compute_rloo_advantage_return` for the PRIME recipe's ``prime_core_algos.compute_rloo_advantage_return``
  (leave-one-out on the PRM's ``rm_scores`` and the verifier's ``acc``, returns, whitening), through
  :func:`prime_fast.algos.prime_rewards`;
- :func:`compute_ce_dpo_loss_rm` for the recipe's PRM loss, through :func:`prime_fast.algos.prm_bce_loss`
  (the same cross-entropy on logits, stable where the recipe's sigmoid-then-BCE saturates).
"""

from __future__ import annotations

from typing import Any

import torch

from prime_fast.errors import UnsupportedInputError

__all__ = ["compute_ce_dpo_loss_rm", "compute_rloo_advantage_return", "linear_cross_entropy"]


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 1.0,
    reduction: str = "none",
    dist_process_group: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """verl's ``linear_cross_entropy``: ``(log_probs, entropy)`` of ``labels`` under ``hidden @ weight.T / T``.

    Only ``reduction="none"`` (what verl's model forwards use) and an unsplit vocabulary
    (``dist_process_group=None``) are supported.
    """
    from prime_fast.ops import linear_token_logprobs

    if str(reduction).lower() != "none":
        raise UnsupportedInputError(
            f"linear_cross_entropy: prime-fast supports reduction='none' (verl's forwards), got {reduction!r}"
        )
    if dist_process_group is not None:
        raise UnsupportedInputError(
            "linear_cross_entropy: a vocabulary split over a process group is not supported by prime-fast's op"
        )
    if weight.dtype != hidden.dtype:
        weight = weight.to(hidden.dtype)
    logp, entropy = linear_token_logprobs(
        hidden, weight, labels, temperature=float(temperature), return_entropy=True
    )
    return logp, entropy


def _cfg(config: Any, key: str, default: float) -> float:
    algo = getattr(config, "algorithm", None)
    if algo is None and isinstance(config, dict):
        algo = config.get("algorithm")
    if algo is None:
        return default
    value = algo.get(key, default) if hasattr(algo, "get") else getattr(algo, key, default)
    return float(value)


def compute_rloo_advantage_return(
    data: Any, response_mask: torch.Tensor, n_samples: int, config: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """The PRIME recipe's advantage: leave-one-out on ``rm_scores`` (times ``algorithm.reward_dpo_coef``) and
    on ``acc`` at each row's last token (times ``algorithm.reward_gt_coef``), summed, returns, whitened."""
    from prime_fast.algos import prime_rewards

    batch = data.batch
    mask = response_mask.bool()
    dpo_coef = _cfg(config, "reward_dpo_coef", 5.0)
    gt_coef = _cfg(config, "reward_gt_coef", 5.0)
    scores = None
    if "rm_scores" in batch.keys() and dpo_coef != 0.0:  # noqa: SIM118 (TensorDict has no `in`)
        scores = batch["rm_scores"].float() * dpo_coef
    if "acc" in batch.keys() and gt_coef != 0.0:  # noqa: SIM118
        outcome = batch["acc"].float() * gt_coef
    else:
        outcome = torch.zeros(mask.shape[0], device=mask.device)
    out = prime_rewards(
        outcome, mask, int(n_samples), scores=scores, norm="none", credit="sum", form="code", whiten=True
    )
    return out.advantages, out.returns


def compute_ce_dpo_loss_rm(
    token_level_scores: torch.Tensor, acc: torch.Tensor, response_mask: torch.Tensor, beta: float
) -> torch.Tensor:
    """The PRIME recipe's PRM loss ``BCE(sigmoid(beta * sum_t m q), acc)`` (mean over rows)."""
    from prime_fast.algos import prm_bce_loss

    return prm_bce_loss(token_level_scores, response_mask, acc, beta=float(beta))
