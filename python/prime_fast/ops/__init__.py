"""Fused per-token log-probs, implicit process rewards and the reverse scan behind returns.

Public API (all inputs validated before any kernel launch; see ``docs/KERNELS_IMPL.md``):

- :func:`token_logprobs`: log-probs (and entropy) of labels from logits.
- :func:`linear_token_logprobs`: the same from hidden states, LM head fused (no ``N x V`` logits).
- :func:`linear_policy_loss`: PPO-clip (+ entropy, + KL) straight from hidden states, LM head fused,
  gradients made in the forward (three GEMMs, no recompute).
- :func:`implicit_process_rewards`: PRIME's ``beta * (logp - ref_logp)`` on valid tokens.
- :func:`prm_implicit_rewards`: the fused PRM path, ``q`` straight from PRM and reference hidden states.
- :func:`reverse_affine_scan`: ``x_t = b_t + a_t x_{t+1}`` in one launch (returns, GAE).

Dispatch: CUDA tensors run Triton kernels, CPU tensors a chunked torch path; ``PRIME_FAST_KERNELS``
(``torch`` or ``triton``) forces one. ``prime_fast.ops.reference`` holds the plain-torch semantics.
"""

from prime_fast.ops import reference
from prime_fast.ops._common import KERNELS_ENV, select_backend
from prime_fast.ops.logprobs import linear_token_logprobs, token_logprobs
from prime_fast.ops.policy_loss import linear_policy_loss
from prime_fast.ops.rewards import implicit_process_rewards, prm_implicit_rewards
from prime_fast.ops.scan import reverse_affine_scan

__all__ = [
    "KERNELS_ENV",
    "implicit_process_rewards",
    "linear_policy_loss",
    "linear_token_logprobs",
    "prm_implicit_rewards",
    "reference",
    "reverse_affine_scan",
    "select_backend",
    "token_logprobs",
]
