"""The implicit PRM: per-token process scores and the online BCE update (docs/ALGORITHM.md section 6).

Modes: ``after`` (single forward: the training forward's scores, taken before each mini-batch's
optimizer step) and ``before`` (all mini-batch updates first, then a fresh no-grad forward).
Reference: ``freeze`` (a frozen SFT copy) or ``policy`` (the rollout policy's old log-probs).
Granularity ``token``/``whole`` shapes the returned scores; the BCE loss always uses
``beta * sum_t m q``. Credit form and normalisation come after, in :func:`prime_fast.algos.prime_rewards`.
"""

from __future__ import annotations

from typing import Any

import torch

from prime_fast import algos
from prime_fast.ops import implicit_process_rewards
from prime_fast.runtime.batch import Batch
from prime_fast.runtime.models import batched_logprobs, response_logprobs
from prime_fast.trainer.optim import accumulate_steps
from prime_fast.trainer.schema import PRMConfig


class PRMTrainer:
    """Scores a filtered batch with the implicit PRM and updates it on the verifier's labels.

    Args:
        model: the trainable PRM (an HF causal LM); None with ``prm.mode = "self"``.
        ref: the frozen reference model (``ref_type = freeze``) or None (``policy``).
        cfg: the ``[prm]`` section.
        n_samples: K (mini-batches keep whole groups).
        optimizer, scheduler: the PRM's AdamW and schedule (None without a PRM model).
    """

    def __init__(
        self,
        model: Any | None,
        ref: Any | None,
        cfg: PRMConfig,
        n_samples: int,
        optimizer: torch.optim.Optimizer | None = None,
        scheduler: Any = None,
    ) -> None:
        self.model = model
        self.ref = ref
        self.cfg = cfg
        self.n = n_samples
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.loss_fn = algos.get_prm_loss(cfg.loss)

    def ref_logprobs(self, batch: Batch, old_logp: torch.Tensor) -> torch.Tensor:
        """``log pi_ref`` on the responses: the frozen model's, or the rollout policy's old log-probs."""
        if self.cfg.ref_type == "policy" or self.ref is None:
            return old_logp
        return batched_logprobs(self.ref, batch, self.cfg.micro_batch_size)

    def _scores(
        self, q: torch.Tensor, logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        if self.cfg.granularity == "token":
            return q.detach()
        return implicit_process_rewards(logp.detach(), ref_logp, mask, granularity="whole")

    def step(
        self,
        batch: Batch,
        acc: torch.Tensor,
        ref_logp: torch.Tensor,
        old_logp: torch.Tensor | None = None,
        *,
        update: bool = True,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Score (and, with ``update`` and a trainable PRM, update). Returns the ``(N, T)`` raw process
        scores (un-normalised) and metrics: ``prm/loss``, ``prm/acc_before`` (pairwise accuracy of the
        scores the PRM gave before its update on each row) and, when it updated, ``prm/grad_norm``,
        ``prm/lr`` (and ``prm/acc_after`` in ``before`` mode).

        Without a PRM model (``prm.mode = "self"``) the scores are the rollout policy's own implicit
        rewards ``old_logp - ref_logp``; with ``prm.freeze`` (or ``update=False``) the PRM only scores.
        """
        if self.model is None or not update:
            return self._score_only(batch, acc, ref_logp, old_logp)
        return self._score_and_update(batch, acc, ref_logp)

    def _score_only(
        self, batch: Batch, acc: torch.Tensor, ref_logp: torch.Tensor, old_logp: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        mask = batch.response_mask.bool()
        if self.model is None:
            if old_logp is None:
                raise ValueError("prm.mode = 'self' scores need the rollout policy's old log-probs")
            logp = old_logp
        else:
            with torch.no_grad():
                logp = batched_logprobs(self.model, batch, self.cfg.micro_batch_size)
        q = implicit_process_rewards(logp.float(), ref_logp.float(), batch.response_mask)
        scores = self._scores(q, logp, ref_logp, batch.response_mask).float()
        loss = self.loss_fn(q, batch.response_mask, acc, beta=self.cfg.beta_train)
        return scores, {
            "prm/loss": float(loss),
            "prm/acc_before": float(algos.prm_pairwise_accuracy(scores, acc, self.n, mask)),
        }

    def _score_and_update(
        self, batch: Batch, acc: torch.Tensor, ref_logp: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        model, optimizer = self.model, self.optimizer
        assert model is not None and optimizer is not None
        mask = batch.response_mask.bool()
        n_rows = batch.size
        mini = min(self.cfg.mini_batch_size, n_rows)
        micro = min(self.cfg.micro_batch_size, mini)
        scores_before = torch.zeros(batch.responses.shape, dtype=torch.float32)
        losses: list[float] = []

        def micro_loss(j: torch.Tensor) -> torch.Tensor:
            sub = batch.rows(j)
            logp = response_logprobs(model, sub)
            dev = logp.device
            ref_mb, mask_mb = ref_logp[j].to(dev), sub.response_mask.to(dev)
            q = implicit_process_rewards(logp, ref_mb, mask_mb)
            loss = self.loss_fn(q, mask_mb, acc[j].to(dev), beta=self.cfg.beta_train)
            losses.append(float(loss.detach()) * len(j))
            scores_before[j] = self._scores(q, logp, ref_mb, mask_mb).float().cpu()
            return loss

        norms = accumulate_steps(
            model,
            optimizer,
            torch.arange(n_rows),
            mini=mini,
            micro=micro,
            grad_clip=self.cfg.grad_clip,
            micro_loss=micro_loss,
        )
        metrics = {
            "prm/loss": sum(losses) / n_rows,
            "prm/acc_before": float(algos.prm_pairwise_accuracy(scores_before, acc, self.n, mask)),
            "prm/grad_norm": sum(norms) / len(norms),
            "prm/lr": float(optimizer.param_groups[0]["lr"]),
        }
        self.scheduler.step()
        if self.cfg.update == "after":
            return scores_before, metrics
        logp = batched_logprobs(model, batch, micro)
        q = implicit_process_rewards(logp, ref_logp, batch.response_mask)
        scores = self._scores(q, logp, ref_logp, batch.response_mask).float()
        metrics["prm/acc_after"] = float(algos.prm_pairwise_accuracy(scores, acc, self.n, mask))
        return scores, metrics
