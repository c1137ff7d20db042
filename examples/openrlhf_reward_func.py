"""prime-fast's verifiers as OpenRLHF's reward function: pass this file as ``--reward.remote_url`` (older releases:
``--remote_rm_url``) with ``--label_key`` naming the column of references (math) or JSON tests (code)."""

from prime_fast.integrations.openrlhf import reward_func

__all__ = ["reward_func"]
