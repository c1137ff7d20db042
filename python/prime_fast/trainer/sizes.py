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


def exactly_on_policy(cfg: TrainConfig) -> bool:
    """Whether the actor's update runs on exactly the weights that generated the step's responses, so
    the old log-probs equal the update's own log-probs (ratio 1) and need no forward of their own:
    one PPO epoch, one optimizer step over the whole batch (``optim.mini_batch_size`` >= the step's
    responses), and nothing else reads them (a PRM whose reference is the rollout policy,
    ``prm.ref_type = policy``, or the self-PRM). TRL and verl skip the same forward in this case."""
    o, rows = cfg.optim, cfg.data.train_batch_size * cfg.rollout.n
    prm_reads = cfg.uses_prm and (cfg.prm.ref_type == "policy" or cfg.prm.mode == "self")
    return o.ppo_epochs == 1 and o.mini_batch_size >= rows and not prm_reads


def old_logprobs_in_round(cfg: TrainConfig) -> bool:
    """Whether each generation round computes the old log-probs of all its rows while the verifier
    scores them (``verify.overlap``), rather than the step computing them for the rows it trains on.

    Only when every generated row is trained on: no accuracy or truncation filter and no
    oversampling. Otherwise rows that the filter drops (or that overflow the batch) would cost a
    forward for nothing: with PRIME's filter and ``data.oversample_factor = 4`` (the paper's), most
    of them. Never when the update is exactly on-policy (no old-log-prob forward at all)."""
    a = cfg.algo
    every_row_used = not (a.filter_accuracy or a.filter_truncated) and cfg.data.oversample_factor == 1.0
    return cfg.verify.overlap and every_row_used and not exactly_on_policy(cfg)
