"""The PRIME loop on several processes (``torchrun``): FSDP2 models, rank-split rollouts, DCP checkpoints.

:class:`DistributedTrainer` extends the single-process :class:`~prime_fast.trainer.loop.Trainer`:

- **Models.** Policy, PRM and reference are wrapped with FSDP2 (``fully_shard`` per decoder layer
  + root; bf16 params / fp32 reduce on GPU) through :class:`FSDPContext`.
- **Rollouts.** Each generation round's prompt list is identical on every rank (same sampler and
  buffer state); rank ``r`` generates, verifies and scores old log-probs for its contiguous share,
  and the rows are gathered back so that filtering, the buffer and the batch cut run identically
  on every rank. Generation runs on an engine holding the full weights: vLLM (``rollout.backend =
  "vllm"``), or an unsharded HF replica of the policy (``hf``), because a sharded model cannot
  decode a data-dependent number of steps in lockstep. Sampling is seeded per prompt from its
  global position, so the samples do not depend on the number of processes.
- **Update.** The kept groups are split over ranks so that each optimizer mini-batch covers the
  same groups as on one process (:func:`~prime_fast.trainer.distributed.minibatch_groups`); K-sample
  groups never span ranks. Advantages are whitened over the whole batch; PRIME's process-reward
  ``batch_norm`` is per rank (as the authors) or global (``distributed.prm_norm_scope``). The new
  weights are gathered (one parameter at a time) into the rollout engine after every step.
- **Validation.** Each rank greedy-decodes and scores a contiguous share of the held-out prompts;
  the scores are gathered, so every rank reports the same ``val/acc`` metrics.
- **Checkpoints.** Sharded DCP (model + optimizer states, resharded on load onto any number of
  processes) plus ``state.pt`` (step, schedulers, sampler/buffer, RNG, history) from rank 0.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
import types
import zlib
from pathlib import Path
from typing import Any

import torch

from prime_fast import algos
from prime_fast.errors import ConfigError
from prime_fast.trainer import checkpoint as ckpt
from prime_fast.trainer import distributed as D
from prime_fast.trainer.actor import Actor
from prime_fast.trainer.batch import build_batch
from prime_fast.trainer.config import TrainConfig
from prime_fast.trainer.loop import Rollouts, Trainer, prepare_demo
from prime_fast.trainer.metrics import truncate_metrics
from prime_fast.trainer.models import batched_logprobs, load_causal_lm, logprobs_forward
from prime_fast.trainer.prm import PRMTrainer
from prime_fast.trainer.rollout.base import RolloutBatch, SamplingConfig
from prime_fast.trainer.rollout.hf import HFRolloutBackend

log = logging.getLogger(__name__)

__all__ = ["DistributedTrainer", "FSDPContext", "SeededHFBackend", "train_distributed"]


class FSDPContext:
    """The loop's execution context for one torchrun rank (see ``trainer/context.py``).

    Args:
        dist_ctx: from :func:`~prime_fast.trainer.distributed.init_distributed`.
        mixed_precision: ``"auto"``, ``"true"`` or ``"false"``.
        reshard_after_forward: FSDP2 ZeRO-3 behaviour.
    """

    def __init__(
        self, dist_ctx: D.DistContext, *, mixed_precision: str = "auto", reshard_after_forward: bool = True
    ) -> None:
        self.dist = dist_ctx
        self.device = dist_ctx.device
        self.rank = dist_ctx.rank
        self.world_size = dist_ctx.world_size
        self.mixed_precision = {"auto": None, "true": True, "false": False}[mixed_precision]
        self.reshard_after_forward = reshard_after_forward

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files and prints."""
        return self.rank == 0

    def prepare_model(self, model: Any, *, trainable: bool) -> Any:
        """Move to this rank's device and shard with FSDP2 (per decoder layer, then the root)."""
        model = model.to(self.device)
        model = D.shard_model(
            model,
            self.dist,
            mixed_precision=self.mixed_precision,
            reshard_after_forward=self.reshard_after_forward,
        )
        if self.dist.distributed:
            # The log-prob pass calls the decoder and reads the LM head directly: register it as an
            # FSDP forward method so the root's parameters are gathered around it.
            from torch.distributed.fsdp import register_fsdp_forward_method

            model.prime_fast_logprobs = types.MethodType(_fsdp_logprobs, model)
            register_fsdp_forward_method(model, "prime_fast_logprobs")
        return model

    def reduce_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        """Mean of each metric over the ranks that report it (keys may differ between ranks)."""
        if not self.dist.distributed:
            return dict(metrics)
        keys = sorted({k for part in D.gather_objects(sorted(metrics), self.dist) for k in part})
        t = torch.zeros(
            2, len(keys), dtype=torch.float64, device=self.device if self.dist.backend == "nccl" else "cpu"
        )
        for i, k in enumerate(keys):
            if k in metrics:
                t[0, i] = float(metrics[k])
                t[1, i] = 1.0
        torch.distributed.all_reduce(t)
        return {k: float(t[0, i] / t[1, i]) for i, k in enumerate(keys) if t[1, i] > 0}

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.dist.distributed:
            torch.distributed.barrier()


class SeededHFBackend(HFRolloutBackend):
    """HF ``generate`` on an unsharded replica, seeded per prompt when ``sampling.seed`` is set.

    Prompt ``i`` of a call is sampled alone, under ``torch.manual_seed(seed + i * n)`` inside a
    forked RNG, so its samples depend only on its seed (not on which other prompts share the call
    or the rank), matching :class:`~prime_fast.trainer.rollout.vllm.VLLMRollout`'s seeding.
    """

    def generate(self, prompt_ids: list[list[int]], sampling: SamplingConfig) -> RolloutBatch:
        """See :meth:`HFRolloutBackend.generate`; per-prompt seeding when ``sampling.seed`` is set."""
        if not prompt_ids:
            return RolloutBatch([], [], [])
        if sampling.seed is None or sampling.temperature == 0:
            return super().generate(prompt_ids, sampling)
        responses: list[list[int]] = []
        truncated: list[bool] = []
        for i, p in enumerate(prompt_ids):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sampling.seed + i * sampling.n)
                one = super().generate([p], sampling)
            responses += one.response_ids
            truncated += one.truncated
        return RolloutBatch([list(p) for p in prompt_ids], responses, truncated)


def _fsdp_logprobs(model: Any, *args: Any) -> Any:
    """:func:`logprobs_forward` returning fresh tensors (FSDP2 hooks its outputs for the backward
    pass; an output that is a view could lose that hook to a later in-place op)."""
    out = logprobs_forward(model, *args)
    return tuple(o.clone() for o in out) if isinstance(out, tuple) else out.clone()


def _shares(n: int, world: int) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` shares of ``n`` items over ``world`` ranks (sizes differ by <= 1)."""
    base, extra = divmod(n, world)
    out, start = [], 0
    for r in range(world):
        size = base + (1 if r < extra else 0)
        out.append((start, start + size))
        start += size
    return out


class DistributedTrainer(Trainer):
    """:class:`~prime_fast.trainer.loop.Trainer` on ``torchrun`` ranks (also runs on one process).

    Args:
        cfg: the resolved configuration.
        run_dir: the run directory (the same path on every rank).
        ctx: the rank's :class:`FSDPContext`.
        resume: continue from the newest checkpoint (any number of processes may have written it).
    """

    def __init__(self, cfg: TrainConfig, run_dir: Path, *, ctx: FSDPContext, resume: bool = False) -> None:
        if not ctx.is_main:  # one progress display, one tensorboard writer, one plot
            cfg = dataclasses.replace(
                cfg, log=dataclasses.replace(cfg.log, progress="none", tensorboard=False, plot=False)
            )
        check_divisible(cfg, ctx.world_size)
        super().__init__(cfg, run_dir, ctx=ctx, resume=False)  # type: ignore[arg-type]
        self.fctx = ctx
        self.dctx = ctx.dist
        self._resume_requested = resume
        self._round = 0
        self.replica: Any = None

    # ----------------------------------------------------------------------------- setup
    def setup(self) -> None:
        """Rank 0 prepares demo assets first; then models (sharded), engines, per-rank optimizers."""
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.fctx.is_main:
            self._policy_path = prepare_demo(cfg, self.run_dir)[0]
        self.fctx.barrier()
        if not self.fctx.is_main:
            self._policy_path = prepare_demo(cfg, self.run_dir)[0]
        super().setup()
        w = self.fctx.world_size
        # Per-rank mini-batches: each global mini-batch is split evenly over the ranks.
        o = dataclasses.replace(
            cfg.optim,
            mini_batch_size=cfg.optim.mini_batch_size // w,
            micro_batch_size=min(cfg.optim.micro_batch_size, cfg.optim.mini_batch_size // w),
        )
        self.actor = Actor(
            self.policy, o, cfg.algo, self.actor_opt, self.actor_sched, temperature=cfg.rollout.temperature
        )
        if self.prm is not None:
            p = dataclasses.replace(
                cfg.prm,
                mini_batch_size=cfg.prm.mini_batch_size // w,
                micro_batch_size=min(cfg.prm.micro_batch_size, cfg.prm.mini_batch_size // w),
            )
            self.prm = PRMTrainer(
                self.prm_model, self.ref_model, p, cfg.rollout.n, self.prm_opt, self.prm_sched
            )
        if self._resume_requested:
            self.resume = True
            self.restore()

    def make_backend(self) -> Any:
        """vLLM on the checkpoint directory, or an unsharded HF replica of the policy."""
        if self.cfg.rollout.backend == "vllm":
            from prime_fast.trainer.rollout import vllm as vllm_backend

            return vllm_backend.make_backend(
                self.cfg, self.policy, self.tokenizer, model_path=self._policy_path
            )
        self.replica = load_causal_lm(self._policy_path, self.cfg.model.dtype, trainable=False).to(
            self.fctx.device
        )
        return SeededHFBackend(self.replica, eos_token_id=self.eos, pad_token_id=self.pad)

    def sync_rollout_weights(self) -> None:
        """Gather the sharded policy one parameter at a time into the rollout engine (all ranks)."""
        self.backend.sync_weights(D.full_named_parameters(self.policy))

    # ----------------------------------------------------------------------------- collect
    def generate_round(self, prompts: list[Any], timings: dict[str, float]) -> Rollouts:
        """Generate/verify/score this rank's share of ``prompts``; return every rank's rows, in order."""
        r = self.cfg.rollout
        w, rank = self.fctx.world_size, self.fctx.rank
        self._round += 1
        base_seed = zlib.crc32(f"{self.cfg.trainer.seed}/{self._round}".encode()) & 0x3FFFFFFF
        shares = _shares(len(prompts), w)
        start, stop = shares[rank]
        mine = prompts[start:stop]
        t0 = time.perf_counter()
        self.backend.wake_up()
        # Called even with no prompts: tensor-parallel vLLM peers gather their prompts inside.
        roll = self.backend.generate(
            [list(p.ids) for p in mine],
            SamplingConfig(
                n=r.n,
                temperature=r.temperature,
                top_p=r.top_p,
                max_tokens=r.max_tokens,
                seed=base_seed + start * r.n,
            ),
        )
        self.backend.sleep()
        t1 = time.perf_counter()
        row_prompts = [mine[i // r.n] for i in range(len(roll.response_ids))]
        texts = self.tokenizer.batch_decode(roll.response_ids, skip_special_tokens=True) if mine else []
        fut = self.verifier.submit(
            texts, [p.ground_truth for p in row_prompts], [p.ability for p in row_prompts]
        )
        t2 = time.perf_counter()
        # Old log-probs on the sharded policy: every rank runs the same number of micro-batches,
        # so shorter shares are padded with copies of a row (dropped afterwards).
        most = max(b - a for a, b in shares) * r.n
        pad_src = row_prompts[:1] or [prompts[0]]
        pad_resp = roll.response_ids[:1] or [[self.eos]]
        fill = most - len(row_prompts)
        batch = build_batch(
            [list(p.ids) for p in row_prompts + pad_src * fill],
            roll.response_ids + pad_resp * fill,
            pad_token_id=self.pad,
            eos_token_id=self.eos,
        )
        old = batched_logprobs(self.policy, batch, self.cfg.optim.micro_batch_size, temperature=r.temperature)
        assert isinstance(old, torch.Tensor)
        t3 = time.perf_counter()
        acc, verify_s = fut.result() if mine else ([], 0.0)
        t4 = time.perf_counter()
        lengths = [len(x) for x in roll.response_ids]
        local = (
            roll.response_ids,
            roll.truncated,
            list(acc),
            [old[i, :n].clone() for i, n in enumerate(lengths)],
        )
        parts = D.gather_objects(local, self.dctx)
        timings["rollout"] = timings.get("rollout", 0.0) + (t1 - t0)
        timings["old_logprob"] = timings.get("old_logprob", 0.0) + (t3 - t2)
        timings["verify"] = timings.get("verify", 0.0) + verify_s
        exposed = (t4 - t3) + (t2 - t1) if self.verifier.overlap else (t2 - t1) + (t4 - t3)
        timings["verify_exposed"] = timings.get("verify_exposed", 0.0) + exposed
        timings["gen_tokens"] = timings.get("gen_tokens", 0.0) + float(sum(lengths))
        out = Rollouts([prompts[i // r.n] for i in range(len(prompts) * r.n)], [], [], [], [])
        for resp, trunc, a, lp in parts:
            out.responses += resp
            out.truncated += trunc
            out.acc += a
            out.old_logp += lp
        return out

    def validate(self) -> dict[str, float]:
        """Greedy pass@1 on the held-out prompts: each rank generates and scores a contiguous
        share, the scores are gathered, and every rank returns the same metrics."""
        if not self.val_prompts:
            return {}
        start, stop = _shares(len(self.val_prompts), self.fctx.world_size)[self.fctx.rank]
        parts = D.gather_objects(self.greedy_accuracy(self.val_prompts[start:stop]), self.dctx)
        return self.val_metrics(self.val_prompts, [a for part in parts for a in part])

    # ----------------------------------------------------------------------------- step
    def local_rows(self, n_groups: int) -> list[int]:
        """This rank's rows of a batch of ``n_groups`` kept groups (whole groups, mini-batch aligned)."""
        cfg, k = self.cfg, self.cfg.rollout.n
        mini = min(cfg.optim.mini_batch_size, cfg.prm.mini_batch_size if self.prm is not None else 10**12)
        big = max(cfg.optim.mini_batch_size, cfg.prm.mini_batch_size if self.prm is not None else 0)
        n_mini = (n_groups * k) // mini if (n_groups * k) % mini == 0 and big % mini == 0 else 1
        try:
            groups = D.minibatch_groups(n_groups, n_mini, self.dctx)
        except ConfigError:
            groups = [D.split_groups(list(range(n_groups)), 1, self.dctx)]
        return [g * k + j for part in groups for g in part for j in range(k)]

    def normalize_process(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``batch_norm`` per rank (as the authors) or over all ranks (``distributed.prm_norm_scope``)."""
        cfg = self.cfg
        if cfg.prm.norm == "batch_norm" and cfg.distributed.prm_norm_scope == "global":
            return D.process_reward_norm(scores, mask, self.dctx, scope="global")
        return super().normalize_process(scores, mask)

    def advantages(self, acc: torch.Tensor, mask: torch.Tensor, process: torch.Tensor | None) -> torch.Tensor:
        """The configured estimator on this rank's groups, whitened over the whole batch."""
        a = self.cfg.algo
        _, ret = self.estimate(acc, mask, process, whiten=False)
        if not a.whiten:
            return ret
        return torch.where(mask, D.masked_whiten(ret, mask, self.dctx), torch.zeros_like(ret))

    def train_step(self) -> dict[str, Any]:
        """Collect (global rows), keep this rank's groups, PRM + advantages + PPO, sync the engine."""
        cfg = self.cfg
        k, w = cfg.rollout.n, self.fctx.world_size
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        ro, metrics = self.collect(timings)
        n_groups = len(ro.responses) // k
        usable = n_groups - n_groups % w
        if usable == 0:
            raise RuntimeError(f"only {n_groups} prompt groups passed the filter: fewer than the {w} ranks")
        if usable < n_groups:
            log.warning(
                "step %d: training on %d of %d kept prompt groups (a multiple of the %d ranks)",
                self.step + 1,
                usable,
                n_groups,
                w,
            )
        rows = self.local_rows(usable)
        batch, old_logp, acc, mask = self.tensorize(ro, rows)
        process = self.score_process(batch, old_logp, acc, mask, metrics, timings)
        t0 = time.perf_counter()
        adv = self.advantages(acc, mask, process)
        timings["adv"] = time.perf_counter() - t0
        metrics["adv/mean"] = float(algos.masked_mean(adv, mask))
        metrics["adv/abs_sum"] = float(adv.abs().sum()) * w  # x world: the mean over ranks is the global sum
        t0 = time.perf_counter()
        metrics.update(self.actor.update(batch, old_logp, adv, self.shuffle_gen))
        self.sync_rollout_weights()
        timings["actor"] = time.perf_counter() - t0
        metrics["batch/responses"] = float(usable * k)
        self.finish_metrics(metrics, timings, t_start, response_len=batch.responses.shape[1])
        return metrics

    # ----------------------------------------------------------------------------- checkpoints
    def state(self) -> dict[str, Any]:
        """Non-weight state (identical on every rank); optimizer states live in the DCP shards."""
        st = super().state()
        st.pop("actor_optimizer", None)
        st.pop("prm_optimizer", None)
        st["round"] = self._round
        st["world_size"] = self.fctx.world_size
        return st

    def _models_and_optims(self) -> tuple[dict[str, Any], dict[str, Any]]:
        models: dict[str, Any] = {"policy": self.policy}
        optims: dict[str, Any] = {"policy": self.actor_opt}
        if self.prm is not None:
            models["prm"] = self.prm_model
            optims["prm"] = self.prm_opt
        return models, optims

    def save(self, keep: int = 2) -> Path:
        """Sharded DCP checkpoint (every rank) + ``state.pt`` and the ``latest`` pointer (rank 0)."""
        root = self.run_dir / "checkpoints"
        final = root / f"step_{self.step}"
        if self.fctx.is_main and final.exists():
            shutil.rmtree(final)
        self.fctx.barrier()
        models, optims = self._models_and_optims()
        D.save_checkpoint(final / "dcp", models, optims, extra={"step": self.step})
        state = self.state()  # collective-free; identical on every rank
        self.fctx.barrier()
        if self.fctx.is_main:
            torch.save(state, final / ".state.pt.tmp")
            (final / ".state.pt.tmp").replace(final / "state.pt")
            (root / (ckpt.LATEST + ".tmp")).write_text(final.name, encoding="utf-8")
            (root / (ckpt.LATEST + ".tmp")).replace(root / ckpt.LATEST)
            steps = sorted((int(p.name.split("_")[1]) for p in root.glob("step_*")), reverse=True)
            for old in steps[keep:]:
                shutil.rmtree(root / f"step_{old}", ignore_errors=True)
        self.fctx.barrier()
        return final

    def restore(self) -> None:
        """Load the newest checkpoint (written by any number of processes) and re-sync the engine."""
        path = ckpt.latest_checkpoint(self.run_dir)
        if path is None or not (path / "dcp").is_dir():
            raise ConfigError(
                f"--resume: no distributed (DCP) checkpoint under {self.run_dir / 'checkpoints'}"
            )
        st = ckpt.load_state(path)
        models, optims = self._models_and_optims()
        extra = D.load_checkpoint(path / "dcp", models, optims, extra={"step": 0})
        self.actor_sched.load_state_dict(st["actor_scheduler"])
        if self.prm is not None:
            self.prm_sched.load_state_dict(st["prm_scheduler"])
        self.sampler.load_state_dict(st["sampler"])
        self.shuffle_gen.set_state(st["shuffle_gen"])
        ckpt.set_rng_state(st["rng"])
        self.step = int(extra["step"])
        self._round = int(st.get("round", 0))
        self.history = st.get("history", {})
        if self.fctx.is_main:
            truncate_metrics(self.run_dir / "metrics.jsonl", self.step)
        self.sync_rollout_weights()
        log.info(
            "resumed from %s at step %d (saved by %s processes, now %d)",
            path,
            self.step,
            st.get("world_size", "?"),
            self.fctx.world_size,
        )


def check_divisible(cfg: TrainConfig, world: int) -> None:
    """Batch sizes must split evenly over ``world`` ranks in whole K-sample groups."""
    k = cfg.rollout.n
    if cfg.data.train_batch_size % world:
        raise ConfigError(
            f"data.train_batch_size = {cfg.data.train_batch_size} must be a multiple of the "
            f"world size {world}"
        )
    if cfg.optim.mini_batch_size % (k * world):
        raise ConfigError(
            f"optim.mini_batch_size = {cfg.optim.mini_batch_size} must be a multiple of "
            f"rollout.n x world size = {k * world}"
        )
    if cfg.uses_prm and cfg.prm.mini_batch_size % (k * world):
        raise ConfigError(
            f"prm.mini_batch_size = {cfg.prm.mini_batch_size} must be a multiple of "
            f"rollout.n x world size = {k * world}"
        )
    if cfg.rollout.backend == "vllm" and world % cfg.vllm.tensor_parallel_size:
        raise ConfigError(
            f"vllm.tensor_parallel_size = {cfg.vllm.tensor_parallel_size} must divide the world size {world}"
        )


def train_distributed(cfg: TrainConfig, run_dir: Path, *, resume: bool = False) -> dict[str, Any]:
    """Initialise the process group from torchrun's environment, train, tear down. Returns the summary."""
    backend = None if cfg.distributed.backend == "auto" else cfg.distributed.backend
    dctx = D.init_distributed(backend)
    try:
        run_dir = Path(D.gather_objects(str(run_dir), dctx)[0])  # rank 0's choice (default names hold a time)
        ctx = FSDPContext(
            dctx,
            mixed_precision=cfg.distributed.mixed_precision,
            reshard_after_forward=cfg.distributed.reshard_after_forward,
        )
        trainer = DistributedTrainer(cfg, run_dir, ctx=ctx, resume=resume)
        trainer.setup()
        summary = trainer.fit()
        ctx.barrier()
        close = getattr(trainer.backend, "close", None)
        if close is not None:  # vLLM: shut down while its process groups still exist
            close()
        return summary
    finally:
        D.destroy_distributed()
