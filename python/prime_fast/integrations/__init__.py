"""prime-fast inside other trainers: TRL, verl and OpenRLHF (docs/INTEGRATIONS.md).

- :mod:`prime_fast.integrations.trl`: reward functions (``math_reward``, ``code_reward`` and their
  factories), the fused log-prob mixin and ``PrimeGRPOTrainer`` (implicit PRM + PRIME advantages);
- :mod:`prime_fast.integrations.verl`: ``compute_score`` for verl's reward managers and ``install()``, a Ray
  ``worker_process_setup_hook`` that points verl's fused log-prob hook and the PRIME recipe at prime-fast;
- :mod:`prime_fast.integrations.openrlhf`: ``reward_func`` for OpenRLHF's ``--reward.remote_url`` file.

Each adapter imports its trainer lazily: importing this package (or ``prime_fast``) never needs them. The
reward adapters share :mod:`prime_fast.integrations.rows` (one batched verifier call per call).
"""

from __future__ import annotations

__all__: list[str] = []
