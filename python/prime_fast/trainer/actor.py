"""The policy update: PPO-clip over mini-batches with gradient accumulation (docs/ALGORITHM.md section 8)."""

from __future__ import annotations

from typing import Any

import torch

from prime_fast import algos
from prime_fast.runtime.batch import Batch
from prime_fast.runtime.models import response_logprobs
from prime_fast.trainer.optim import accumulate_steps
from prime_fast.trainer.schema import AlgoConfig, OptimConfig


class Actor:
    """PPO-clip updates of the policy.

    Per RL step: ``ppo_epochs`` passes; each pass (optionally shuffled) splits the batch into
    mini-batches of ``optim.mini_batch_size`` responses, each one optimizer step accumulated over
    micro-batches of ``optim.micro_batch_size`` (the loss is the micro-batch token-mean divided by
    the number of micro-batches), grad-norm clipped.

    Args:
        model: the policy.
        optim_cfg, algo_cfg: the ``[optim]`` and ``[algo]`` sections.
        optimizer, scheduler: AdamW and its per-step schedule.
        temperature: the rollout temperature (log-probs are temperature-scaled like the rollout's).
    """

    def __init__(
        self,
        model: Any,
        optim_cfg: OptimConfig,
        algo_cfg: AlgoConfig,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        temperature: float = 1.0,
    ) -> None:
        self.model = model
        self.cfg = optim_cfg
        self.algo = algo_cfg
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.temperature = temperature
        self.loss_fn = algos.get_policy_loss(algo_cfg.policy_loss)

    def update(
        self, batch: Batch, old_logp: torch.Tensor, advantages: torch.Tensor, generator: torch.Generator
    ) -> dict[str, float]:
        """One RL step of policy updates. Returns mean metrics (``actor/*``)."""
        n = batch.size
        mini = min(self.cfg.mini_batch_size, n)
        sums: dict[str, float] = {}
        count = 0

        def micro_loss(j: torch.Tensor) -> torch.Tensor:
            nonlocal count
            sub = batch.rows(j)
            logp, ent = response_logprobs(self.model, sub, temperature=self.temperature, return_entropy=True)
            dev = logp.device
            loss, m = self.loss_fn(
                logp,
                old_logp[j].to(dev),
                advantages[j].to(dev),
                sub.response_mask.to(dev),
                clip_ratio=self.algo.clip_ratio,
                entropy=ent,
                entropy_coef=self.algo.entropy_coef,
            )
            for k, v in m.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            count += 1
            return loss

        norms: list[float] = []
        for _ in range(self.cfg.ppo_epochs):
            order = torch.randperm(n, generator=generator) if self.cfg.shuffle else torch.arange(n)
            norms += accumulate_steps(
                self.model,
                self.optimizer,
                order,
                mini=mini,
                micro=min(self.cfg.micro_batch_size, mini),
                grad_clip=self.cfg.grad_clip,
                micro_loss=micro_loss,
            )
        out = {f"actor/{k}": v / max(count, 1) for k, v in sums.items()}
        out["actor/grad_norm"] = sum(norms) / max(len(norms), 1)
        out["actor/lr"] = float(self.optimizer.param_groups[0]["lr"])
        self.scheduler.step()
        return out
