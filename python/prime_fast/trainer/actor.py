"""The policy update: PPO-clip over mini-batches with gradient accumulation (docs/ALGORITHM.md section 8)."""

from __future__ import annotations

from typing import Any

import torch

from prime_fast import algos, ops
from prime_fast.runtime.batch import Batch
from prime_fast.runtime.models import response_hidden, response_logprobs
from prime_fast.trainer.optim import accumulate_steps
from prime_fast.trainer.schema import AlgoConfig, OptimConfig


class Actor:
    """PPO-clip updates of the policy.

    Per RL step: ``ppo_epochs`` passes; each pass (optionally shuffled) splits the batch into
    mini-batches of ``optim.mini_batch_size`` responses, each one optimizer step accumulated over
    micro-batches of ``optim.micro_batch_size`` (the loss is the micro-batch token-mean divided by
    the number of micro-batches), grad-norm clipped.

    With ``optim.fused_loss`` (default) and where it applies (:func:`fused_loss_applies`), each
    micro-batch's loss is :func:`prime_fast.ops.linear_policy_loss` on the decoder's hidden states:
    the same loss and metrics as log-probs + ``algos.ppo_clip_loss``, with the LM head's gradients
    made in the forward (no recomputed logits).

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

    def _fused_loss(
        self, sub: Batch, old_logp: torch.Tensor, advantages: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The micro-batch's PPO-clip loss and metrics from hidden states (:func:`ops.linear_policy_loss`)."""
        hidden, weight, labels = response_hidden(self.model, sub)
        dev = hidden.device
        return ops.linear_policy_loss(
            hidden,
            weight,
            labels,
            old_logp.to(dev),
            advantages.to(dev),
            sub.response_mask.to(dev),
            clip_ratio=self.algo.clip_ratio,
            entropy_coef=self.algo.entropy_coef,
            temperature=self.temperature,
        )

    def update(
        self, batch: Batch, old_logp: torch.Tensor, advantages: torch.Tensor, generator: torch.Generator
    ) -> dict[str, float]:
        """One RL step of policy updates. Returns mean metrics (``actor/*``)."""
        n = batch.size
        mini = min(self.cfg.mini_batch_size, n)
        sums: dict[str, float] = {}
        count = 0

        fused = self.cfg.fused_loss and fused_loss_applies(self.model, self.algo)

        def micro_loss(j: torch.Tensor) -> torch.Tensor:
            nonlocal count
            sub = batch.rows(j)
            if fused:
                loss, m = self._fused_loss(sub, old_logp[j], advantages[j])
            else:
                logp, ent = response_logprobs(
                    self.model, sub, temperature=self.temperature, return_entropy=True
                )
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


def fused_loss_applies(model: Any, algo_cfg: AlgoConfig) -> bool:
    """Whether ``optim.fused_loss`` can replace log-probs + the policy loss for ``model``.

    It needs the ``ppo_clip`` loss and a plain HF causal LM (or an unsharded LoRA view, whose LM head
    is frozen: only the hidden states get a gradient). An FSDP2-sharded policy computes its log-probs
    in a registered forward method (``prime_fast_logprobs``) that gathers the root parameters (LM
    head included) around it; the fused loss does not go through that method, so sharded runs keep
    the unfused path.
    """
    return (
        algo_cfg.policy_loss == "ppo_clip"
        and getattr(model, "prime_fast_logprobs", None) is None
        and hasattr(model, "get_decoder")
        and hasattr(model, "get_output_embeddings")
    )
