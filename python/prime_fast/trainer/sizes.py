"""How a run's batch sizes split over data-parallel ranks (whole K-sample groups on every rank)."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from prime_fast.errors import ConfigError
from prime_fast.trainer.schema import OptimConfig, PRMConfig, TrainConfig

S = TypeVar("S", OptimConfig, PRMConfig)


def per_rank(section: S, world: int) -> S:
    """An ``[optim]`` or ``[prm]`` section with its mini-batch split over ``world`` ranks."""
    mini = section.mini_batch_size // world
    return dataclasses.replace(
        section, mini_batch_size=mini, micro_batch_size=min(section.micro_batch_size, mini)
    )


def check_divisible(cfg: TrainConfig, world: int) -> None:
    """Batch sizes must split evenly over ``world`` ranks in whole K-sample groups (any size fits one)."""
    if world == 1:
        return
    k = cfg.rollout.n
    if cfg.eval.every and cfg.rollout.backend == "vllm" and cfg.vllm.tensor_parallel_size > 1:
        raise ConfigError(
            "eval.every > 0 runs on the main rank alone, which a tensor-parallel engine "
            f"(vllm.tensor_parallel_size = {cfg.vllm.tensor_parallel_size}) cannot; set eval.every = 0 "
            "and run `prime-fast eval` on a checkpoint"
        )
    if cfg.data.train_batch_size % world:
        raise ConfigError(
            f"data.train_batch_size = {cfg.data.train_batch_size} must be a multiple of the world size {world}"
        )
    for key, size in (("optim", cfg.optim.mini_batch_size), ("prm", cfg.prm.mini_batch_size)):
        if size % (k * world) and (key == "optim" or cfg.uses_prm):
            raise ConfigError(
                f"{key}.mini_batch_size = {size} must be a multiple of rollout.n x world size = {k * world}"
            )
    if cfg.rollout.backend == "vllm" and world % cfg.vllm.tensor_parallel_size:
        raise ConfigError(
            f"vllm.tensor_parallel_size = {cfg.vllm.tensor_parallel_size} must divide the world size {world}"
        )
