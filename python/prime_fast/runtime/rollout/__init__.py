"""Rollout backends: sample K responses per prompt (HF generate on the CPU, vLLM for real runs)."""

from prime_fast.runtime.rollout.base import RolloutBackend, RolloutBatch, SamplingConfig

__all__ = ["RolloutBackend", "RolloutBatch", "SamplingConfig"]
