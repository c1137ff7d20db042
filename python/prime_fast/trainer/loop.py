"""The PRIME training loop (docs/ALGORITHM.md section 2), one class for one process and for
``torchrun`` ranks: every method is rank-aware and calls its :class:`~prime_fast.trainer.context.Context`
(a :class:`~prime_fast.trainer.context.LocalContext` by default, an
:class:`~prime_fast.trainer.context.FSDPContext` under ``torchrun``; docs/SCALE.md).

- **Rollouts.** Each generation round's prompt list is identical on every rank (same sampler and
  buffer state); rank ``r`` generates, verifies and scores old log-probs for its contiguous share
  (all of it with one process), and the rows are gathered back so that filtering, the buffer and the
  batch cut run identically everywhere. Sampling is seeded per prompt from its position in the round,
  so the samples do not depend on the number of processes.
- **Update.** The kept groups are split over ranks so that each optimizer mini-batch covers the same
  groups as on one process (:func:`~prime_fast.trainer.distributed.minibatch_groups`); K-sample groups
  never span ranks. Advantages are whitened over the whole batch; PRIME's process-reward ``batch_norm``
  is per rank (as the authors) or global (``distributed.prm_norm_scope``). The new weights go into the
  rollout engine after every step (one parameter at a time under FSDP).
- **Validation.** Each rank greedy-decodes and scores a contiguous share of the held-out prompts;
  the scores are gathered, so every rank reports the same ``val/acc`` metrics.
- **Checkpoints.** One layout for any world size (``trainer/checkpoint.py``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
import zlib
from pathlib import Path
from typing import Any

import torch

from prime_fast import algos
from prime_fast.errors import ConfigError
from prime_fast.runtime.batch import Batch, build_batch
from prime_fast.runtime.lora import wrap_rollout_engine
from prime_fast.runtime.models import batched_logprobs
from prime_fast.runtime.prompts import Prompt, encode_rows, load_rows
from prime_fast.runtime.rollout.base import SamplingConfig
from prime_fast.runtime.rollout.hf import HFRolloutBackend
from prime_fast.trainer import checkpoint as ckpt
from prime_fast.trainer import distributed as D
from prime_fast.trainer import oracle
from prime_fast.trainer.actor import Actor
from prime_fast.trainer.context import Context, LocalContext, make_context
from prime_fast.trainer.data import PromptSampler, filter_groups
from prime_fast.trainer.hooks import AssetPreparer, BenchmarkEvaluator, eval_options, given_assets
from prime_fast.trainer.metrics import (
    MetricsLogger,
    add_step_timings,
    plot_curves,
    truncate_metrics,
    validation_metrics,
)
from prime_fast.trainer.models import build_models
from prime_fast.trainer.optim import make_optimizer, make_scheduler
from prime_fast.trainer.prm import PRMTrainer
from prime_fast.trainer.prm_quality import prm_quality
from prime_fast.trainer.process import quiet_third_party, seed_everything
from prime_fast.trainer.rollouts import Rollouts, rollout_metrics, round_samples, step_batch
from prime_fast.trainer.schema import TrainConfig
from prime_fast.trainer.sizes import check_divisible, exactly_on_policy, old_logprobs_in_round, per_rank
from prime_fast.trainer.verification import Verifier
from prime_fast.verify.batch import score_batch

log = logging.getLogger(__name__)


class Trainer:
    """One PRIME run, on one process or on one ``torchrun`` rank (every rank runs the same methods).

    Args:
        cfg: the resolved configuration.
        run_dir: the run directory (created; the same path on every rank).
        ctx: execution context (a :class:`LocalContext` on ``trainer.device`` by default).
        resume: continue from the newest checkpoint in ``run_dir`` (written by any world size).
    """

    def __init__(
        self,
        cfg: TrainConfig,
        run_dir: Path,
        *,
        ctx: Context | None = None,
        resume: bool = False,
        prepare: AssetPreparer | None = None,
        evaluator: BenchmarkEvaluator | None = None,
    ) -> None:
        self.ctx: Context = ctx or LocalContext(cfg.trainer.device)
        if cfg.eval.benches and evaluator is None:
            raise ConfigError(
                "eval.benches is set but no evaluator was given: `prime-fast train` passes "
                "prime_fast.eval.training.evaluate_in_training; library callers pass it as train(..., evaluator=...)"
            )
        self.prepare: AssetPreparer = prepare or given_assets
        self.evaluator = evaluator
        if not self.ctx.is_main:  # one progress display, one tensorboard writer, one plot
            cfg = dataclasses.replace(
                cfg, log=dataclasses.replace(cfg.log, progress="none", tensorboard=False, plot=False)
            )
        check_divisible(cfg, self.ctx.world_size)
        self.cfg = cfg
        self.run_dir = run_dir
        self.resume = resume
        self.step = 0
        self.round = 0
        self.history: dict[str, list[tuple[int, float]]] = {}

    # ----------------------------------------------------------------------------- setup
    def setup(self) -> None:
        """Demo assets (main rank first), models, data, rollout backend, optimizers, PRM and actor;
        restore on resume."""
        cfg, ctx = self.cfg, self.ctx
        quiet_third_party()
        if cfg.trainer.num_threads:
            torch.set_num_threads(cfg.trainer.num_threads)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if ctx.is_main and not self.resume:
            cfg.save(self.run_dir / "config.json")
        if not ctx.is_main:
            ctx.barrier()  # the main rank builds the demo assets first; the others then read them
        seed_everything(cfg.trainer.seed)
        policy_path, train_files, val_files = self.prepare(cfg, self.run_dir)
        if ctx.is_main:
            ctx.barrier()
        seed_everything(cfg.trainer.seed)
        self.models = build_models(cfg, policy_path)
        tok = self.tokenizer = self.models.tokenizer
        self.policy = ctx.prepare_model(self.models.policy, trainable=True)
        self.prm_model = (
            ctx.prepare_model(self.models.prm, trainable=True) if self.models.prm is not None else None
        )
        self.ref_model = (
            ctx.prepare_model(self.models.ref, trainable=False) if self.models.ref is not None else None
        )
        self.eos = int(tok.eos_token_id)
        self.pad = int(tok.pad_token_id)
        self.load_data(train_files, val_files)
        self.backend = self.make_backend(policy_path)
        self.build_updates()
        self.verifier = Verifier(
            overlap=cfg.verify.overlap,
            error_score=cfg.verify.error_score,
            reward=cfg.verify.reward,
            n_samples=cfg.rollout.n,
        )
        self.shuffle_gen = torch.Generator().manual_seed(cfg.trainer.seed)
        if self.resume:
            self.restore()

    def build_updates(self) -> None:
        """Optimizers and schedulers (over this rank's shards), the actor and the PRM trainer; each
        global mini-batch is split evenly over the ranks."""
        cfg, w = self.cfg, self.ctx.world_size
        o = cfg.optim
        self.on_policy = exactly_on_policy(cfg)
        self.round_logprobs = old_logprobs_in_round(cfg)
        self.actor_opt = make_optimizer(self.policy, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
        self.actor_sched = make_scheduler(
            self.actor_opt, schedule=o.lr_schedule, warmup_ratio=o.warmup_ratio, total_steps=self.total_steps
        )
        self.actor = Actor(
            self.policy,
            per_rank(o, w),
            cfg.algo,
            self.actor_opt,
            self.actor_sched,
            temperature=cfg.rollout.temperature,
        )
        self.prm: PRMTrainer | None = None
        if self.prm_model is not None:
            p = cfg.prm
            self.prm_opt = make_optimizer(self.prm_model, lr=p.lr, weight_decay=p.weight_decay)
            self.prm_sched = make_scheduler(
                self.prm_opt, schedule="constant", warmup_ratio=0.0, total_steps=self.total_steps
            )
            self.prm = PRMTrainer(
                self.prm_model, self.ref_model, per_rank(p, w), cfg.rollout.n, self.prm_opt, self.prm_sched
            )
        elif cfg.uses_prm:  # mode self (the policy's own rewards) or oracle: nothing to train
            self.prm = PRMTrainer(None, self.ref_model, per_rank(cfg.prm, w), cfg.rollout.n)

    def load_data(self, train_files: tuple[str, ...], val_files: tuple[str, ...]) -> None:
        """Encode the training and held-out prompts; the sampler and the number of steps."""
        cfg, tok = self.cfg, self.tokenizer
        rows = load_rows(train_files, "data.train_files")
        self.train_prompts, dropped = encode_rows(
            rows, tok, max_prompt_length=cfg.data.max_prompt_length, system_prompt=cfg.data.system_prompt
        )
        if dropped:
            log.warning(
                "dropped %d of %d training prompts longer than data.max_prompt_length = %d",
                dropped,
                len(rows),
                cfg.data.max_prompt_length,
            )
        self.prompts_dropped = dropped
        self.val_prompts: list[Prompt] = []
        if val_files:
            self.val_prompts, _ = encode_rows(
                load_rows(val_files, "data.val_files"),
                tok,
                max_prompt_length=cfg.data.max_prompt_length,
                system_prompt=cfg.data.system_prompt,
                what="data.val_files",
            )
            if cfg.data.val_max_samples:
                self.val_prompts = self.val_prompts[: cfg.data.val_max_samples]
        self.sampler = PromptSampler(self.train_prompts, seed=cfg.trainer.seed, shuffle=cfg.data.shuffle)
        b = cfg.data.train_batch_size
        self.total_steps = cfg.trainer.total_steps or max(
            1, cfg.trainer.epochs * len(self.train_prompts) // b
        )

    def make_backend(self, policy_path: str) -> Any:
        """The rollout engine: ``vllm`` (runtime/rollout/vllm.py) on the policy's checkpoint directory,
        or HF generate on the context's rollout model (the policy itself on one process, an
        unsharded replica under FSDP)."""
        if self.cfg.rollout.backend == "vllm":
            try:
                from prime_fast.runtime.rollout import vllm as vllm_backend
            except ImportError as e:
                raise ConfigError(f"rollout.backend = 'vllm' is not available here: {e}") from None
            return vllm_backend.make_backend(self.cfg, self.policy, self.tokenizer, model_path=policy_path)
        model = self.ctx.rollout_model(self.policy, policy_path, self.cfg.model.dtype)
        engine = HFRolloutBackend(model, eos_token_id=self.eos, pad_token_id=self.pad)
        # A replica of a LoRA policy (FSDP) loads the merged weights; the policy itself needs no sync.
        return engine if model is self.policy else wrap_rollout_engine(engine, self.policy)

    def sync_rollout_weights(self) -> None:
        """Put the policy's current weights into the rollout engine (all ranks: a collective under FSDP)."""
        self.backend.sync_weights(self.ctx.full_named_parameters(self.policy))

    # ----------------------------------------------------------------------------- collect
    def generate_round(self, prompts: list[Prompt], timings: dict[str, float]) -> Rollouts:
        """Generate K samples for this rank's share of ``prompts``, compute their old log-probs while
        the verifier scores them; return every rank's samples, in prompt order."""
        r, ctx = self.cfg.rollout, self.ctx
        self.round += 1
        base_seed = zlib.crc32(f"{self.cfg.trainer.seed}/{self.round}".encode()) & 0x3FFFFFFF
        start, stop = ctx.share(len(prompts))
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
        t1b = time.perf_counter()
        fut = self.verifier.submit(
            texts, [p.ground_truth for p in row_prompts], [p.ability for p in row_prompts]
        )
        t2 = time.perf_counter()
        # Old log-probs on the (sharded) policy: every rank runs the same number of micro-batches, so
        # shorter shares are padded with copies of a row (dropped afterwards).
        most = -(-len(prompts) // ctx.world_size) * r.n
        fill = most - len(row_prompts)
        batch = build_batch(
            [list(p.ids) for p in row_prompts + (row_prompts[:1] or [prompts[0]]) * fill],
            roll.response_ids + (roll.response_ids[:1] or [[self.eos]]) * fill,
            pad_token_id=self.pad,
            eos_token_id=self.eos,
        )
        old = self.old_logprobs(batch) if self.round_logprobs else None  # else: the step's rows only
        t3 = time.perf_counter()
        acc, verify_s = fut.result() if mine else ([], 0.0)
        t4 = time.perf_counter()
        local = round_samples(row_prompts, roll.response_ids, list(roll.truncated), list(acc), batch, old)
        timings["rollout"] = timings.get("rollout", 0.0) + (t1 - t0)
        timings["decode"] = timings.get("decode", 0.0) + (t1b - t1)
        timings["old_logprob"] = timings.get("old_logprob", 0.0) + (t3 - t2)
        timings["verify"] = timings.get("verify", 0.0) + verify_s
        # What the step waits for verification: the inline call when serialised (t2 - t1b), only
        # the final wait when it runs in the background while the old log-probs are computed.
        timings["verify_exposed"] = timings.get("verify_exposed", 0.0) + (t2 - t1b) + (t4 - t3)
        timings["gen_tokens"] = timings.get("gen_tokens", 0.0) + float(sum(len(x) for x in roll.response_ids))
        return [s for part in ctx.gather(local) for s in part]

    def collect(self, timings: dict[str, float]) -> tuple[Rollouts, dict[str, float]]:
        """Rounds of generation until B prompt groups pass the filter; surplus prompts go to the buffer."""
        cfg = self.cfg
        b, k = cfg.data.train_batch_size, cfg.rollout.n
        kept: Rollouts = []
        seen: Rollouts = []
        n_groups = n_pass = rounds = 0
        prompts = self.sampler.pop_buffer(b)
        while len(kept) < b * k:
            prompts = prompts + self.sampler.take(math.ceil(b * cfg.data.oversample_factor))
            ro = self.generate_round(prompts, timings)
            rounds += 1
            seen += ro
            keep = filter_groups(
                [s.acc for s in ro],
                [s.truncated for s in ro],
                k,
                lower=cfg.algo.accuracy_lower_bound,
                upper=cfg.algo.accuracy_upper_bound,
                filter_accuracy=cfg.algo.filter_accuracy,
                filter_truncated=cfg.algo.filter_truncated,
            )
            n_groups += len(keep)
            n_pass += sum(keep)
            kept += [s for g, ok in enumerate(keep) if ok for s in ro[g * k : (g + 1) * k]]
            prompts = []
            if rounds >= cfg.trainer.max_rounds_per_step and kept:
                log.warning(
                    "step %d: only %d of %d prompt groups passed the filter after %d rounds; training on them",
                    self.step + 1,
                    len(kept) // k,
                    b,
                    rounds,
                )
                break
            if rounds >= 4 * cfg.trainer.max_rounds_per_step:
                raise RuntimeError(
                    f"no prompt group passed the accuracy filter in {rounds} generation rounds; "
                    "widen algo.accuracy_lower_bound/upper_bound or set algo.filter_accuracy=false"
                )
        if len(kept) > b * k:
            self.sampler.push_buffer([s.prompt for s in kept[b * k :: k]])
            kept = kept[: b * k]
        m = rollout_metrics(seen, n_groups, n_pass, rounds)
        m["filter/buffer_size"] = float(len(self.sampler.buffer))
        m["data/epoch"] = float(self.sampler.epoch)
        return kept, m

    # ----------------------------------------------------------------------------- step
    def local_rows(self, n_groups: int) -> list[int]:
        """This rank's rows of a batch of ``n_groups`` kept groups (whole groups, mini-batch aligned;
        all rows in order on one process)."""
        cfg, k = self.cfg, self.cfg.rollout.n
        mini = min(cfg.optim.mini_batch_size, cfg.prm.mini_batch_size if self.prm is not None else 10**12)
        big = max(cfg.optim.mini_batch_size, cfg.prm.mini_batch_size if self.prm is not None else 0)
        n_mini = (n_groups * k) // mini if (n_groups * k) % mini == 0 and big % mini == 0 else 1
        try:
            groups = D.minibatch_groups(n_groups, n_mini, self.ctx)
        except ConfigError:
            groups = [D.split_groups(list(range(n_groups)), 1, self.ctx)]
        return [g * k + j for part in groups for g in part for j in range(k)]

    def advantages(
        self, acc: torch.Tensor, mask: torch.Tensor, scores: torch.Tensor | None, step_ids: Any = None
    ) -> algos.PrimeRewards:
        """PRIME's reward path (:func:`prime_fast.algos.prime_rewards`) on this rank's groups: credit
        form, normalisation, the configured estimator and whitening, each over the whole batch through
        the context's ``all_reduce``."""
        a, cfg = self.cfg.algo, self.cfg
        return algos.prime_rewards(
            acc,
            mask,
            cfg.rollout.n,
            scores=scores,
            credit=a.process_credit,
            credit_temperature_rel=a.process_credit_temperature,
            norm=cfg.prm.norm,
            norm_scope=cfg.distributed.prm_norm_scope,
            estimator=a.estimator,
            gamma_process=a.gamma_process,
            gamma_outcome=a.gamma_outcome,
            whiten=a.whiten,
            all_reduce=self.ctx.all_reduce,
            step_ids=step_ids,
        )

    def old_logprobs(self, batch: Batch) -> torch.Tensor:
        """The rollout policy's log-probs of the responses (zeros when exactly on-policy: unused)."""
        if self.on_policy:
            return torch.zeros(batch.responses.shape)
        o, r = self.cfg.optim, self.cfg.rollout
        return batched_logprobs(self.policy, batch, o.micro_batch_size, temperature=r.temperature)

    def tensorize(
        self, ro: Rollouts, timings: dict[str, float]
    ) -> tuple[Batch, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(batch, old_logp, acc, mask)`` of the samples (``rollouts.step_batch``); old log-probs made here if needed."""
        batch, old_logp, acc, mask = step_batch(ro, pad_token_id=self.pad)
        if old_logp is None:
            t0 = time.perf_counter()
            old_logp = self.old_logprobs(batch)
            timings["old_logprob"] = timings.get("old_logprob", 0.0) + time.perf_counter() - t0
        return batch, old_logp, acc, mask

    def score_process(
        self,
        batch: Batch,
        old_logp: torch.Tensor,
        acc: torch.Tensor,
        mask: torch.Tensor,
        metrics: dict[str, Any],
        timings: dict[str, float],
        *,
        update: bool | None = None,
    ) -> torch.Tensor | None:
        """Reference log-probs, PRM scoring and update (``update``: default ``not prm.freeze``), the PRM's
        metrics (outcome AUC, pairwise accuracy, first-error F1 with step labels): the scores the credit
        form takes (the PRM's ``q``, or the oracle's, ``trainer/oracle.py``; None without process
        rewards). Step ids for ``step`` credit go to ``batch.extra["step_ids"]``."""
        if self.prm is None:
            return None
        t0 = time.perf_counter()
        ref_logp = self.prm.ref_logprobs(batch, old_logp)
        t1 = time.perf_counter()
        do_update = not self.cfg.prm.freeze if update is None else update
        scores, pm = self.prm.step(batch, acc, ref_logp, old_logp, update=do_update)
        timings["ref"] = t1 - t0
        timings["prm"] = time.perf_counter() - t1
        labels = oracle.batch_step_labels(self.tokenizer, batch, scores.shape[1])
        if oracle.learned_prm_metrics(self.cfg):
            metrics.update(pm)
            metrics.update(prm_quality(scores, mask, acc, self.cfg.rollout.n, labels))
        scores, batch.extra["step_ids"] = oracle.reward_inputs(self.cfg, scores, labels, batch)
        return scores

    def train_step(self) -> dict[str, Any]:
        """One PRIME step: collect (every rank's rows), keep this rank's groups, PRM score + update,
        advantages, PPO update, rollout-engine sync. Returns this rank's metrics."""
        k, w = self.cfg.rollout.n, self.ctx.world_size
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        ro, metrics = self.collect(timings)
        n_groups = len(ro) // k
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
        batch, old_logp, acc, mask = self.tensorize([ro[i] for i in self.local_rows(usable)], timings)
        scores = self.score_process(batch, old_logp, acc, mask, metrics, timings)
        t0 = time.perf_counter()
        rewards = self.advantages(acc, mask, scores, batch.extra.get("step_ids"))
        adv = rewards.advantages
        timings["adv"] = time.perf_counter() - t0
        metrics.update(rewards.metrics)
        metrics["adv/abs_sum"] = float(adv.abs().sum()) * w  # x world: the mean over ranks is the global sum
        t0 = time.perf_counter()
        metrics.update(self.actor.update(batch, None if self.on_policy else old_logp, adv, self.shuffle_gen))
        self.sync_rollout_weights()
        timings["actor"] = time.perf_counter() - t0
        metrics["batch/responses"] = float(usable * k)
        add_step_timings(metrics, timings, t_start, response_len=batch.responses.shape[1])
        return metrics

    # ----------------------------------------------------------------------------- validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Greedy pass@1 on the held-out prompts, overall and per data source: each rank decodes and
        scores a contiguous share, the scores are gathered, every rank returns the same metrics."""
        if not self.val_prompts:
            return {}
        start, stop = self.ctx.share(len(self.val_prompts))
        parts = self.ctx.gather(self.greedy_accuracy(self.val_prompts[start:stop]))
        return validation_metrics(self.val_prompts, [a for part in parts for a in part])

    def evaluate_benchmarks(self) -> dict[str, float]:
        """``eval.benches`` through the run's :class:`BenchmarkEvaluator` on the live rollout engine (main
        rank; the others wait): ``eval/<bench>/<metric>`` metrics, files under ``run_dir/eval/step_N``."""
        t0 = time.perf_counter()
        out: dict[str, float] = {}
        if self.ctx.is_main and self.evaluator is not None:
            out = self.evaluator(
                backend=self.backend,
                tokenizer=self.tokenizer,
                out_dir=self.run_dir / "eval" / f"step_{self.step}",
                options=eval_options(self.cfg),
            )
            out["time/eval"] = time.perf_counter() - t0
        self.ctx.barrier()
        return out

    def greedy_accuracy(self, prompts: list[Prompt]) -> list[float]:
        """Generate one greedy response per prompt and score it (calls the engine even with none)."""
        r = self.cfg.rollout
        roll = self.backend.generate(
            [list(p.ids) for p in prompts],
            SamplingConfig(n=1, temperature=0.0, max_tokens=r.val_max_tokens or r.max_tokens),
        )
        if not prompts:
            return []
        texts = self.tokenizer.batch_decode(roll.response_ids, skip_special_tokens=True)
        acc, _ = score_batch(
            texts,
            [p.ground_truth for p in prompts],
            [p.ability for p in prompts],
            error_score=self.cfg.verify.error_score,
        )
        return [float(a) for a in acc]

    # ----------------------------------------------------------------------------- checkpoints
    def models_and_optimizers(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The trained models and their optimizers, keyed ``policy`` (and ``prm``)."""
        models: dict[str, Any] = {"policy": self.policy}
        optims: dict[str, Any] = {"policy": self.actor_opt}
        if self.prm_model is not None:
            models["prm"] = self.prm_model
            optims["prm"] = self.prm_opt
        return models, optims

    def state(self) -> dict[str, Any]:
        """Everything but the model and optimizer states needed to continue exactly (the same on every rank)."""
        st: dict[str, Any] = {
            "step": self.step,
            "round": self.round,
            "world_size": self.ctx.world_size,
            "actor_scheduler": self.actor_sched.state_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": ckpt.rng_state(),
            "shuffle_gen": self.shuffle_gen.get_state(),
            "history": self.history,
        }
        if self.prm_model is not None:
            st["prm_scheduler"] = self.prm_sched.state_dict()
        return st

    def save(self) -> Path:
        """Write a checkpoint of the current step (every rank)."""
        models, optims = self.models_and_optimizers()
        return ckpt.save_checkpoint(
            self.ctx,
            self.run_dir,
            self.step,
            models=models,
            optimizers=optims,
            tokenizer=self.tokenizer,
            state=self.state(),
        )

    def restore(self) -> None:
        """Load the newest checkpoint of the run directory (written by any world size) and re-sync
        the rollout engine."""
        path = ckpt.latest_checkpoint(self.run_dir)
        if path is None:
            raise ConfigError(f"--resume: no checkpoint under {self.run_dir / 'checkpoints'}")
        st = ckpt.load_state(path)
        models, optims = self.models_and_optimizers()
        self.ctx.load_checkpoint(path / "dcp", models, optims)
        self.actor_sched.load_state_dict(st["actor_scheduler"])
        if self.prm_model is not None:
            self.prm_sched.load_state_dict(st["prm_scheduler"])
        self.sampler.load_state_dict(st["sampler"])
        self.shuffle_gen.set_state(st["shuffle_gen"])
        ckpt.set_rng_state(st["rng"])
        self.step = int(st["step"])
        self.round = int(st["round"])
        self.history = st["history"]
        if self.ctx.is_main:
            truncate_metrics(self.run_dir / "metrics.jsonl", self.step)
        self.sync_rollout_weights()
        log.info(
            "resumed from %s at step %d (saved by %d processes, now %d)",
            path,
            self.step,
            st["world_size"],
            self.ctx.world_size,
        )

    # ----------------------------------------------------------------------------- fit
    def warmup_prm(self, logger: MetricsLogger) -> None:
        """``prm.warmup_steps`` generation rounds on the warm-start policy that train only the PRM."""
        k, w = self.cfg.rollout.n, self.ctx.world_size
        last: dict[str, Any] = {}
        for _ in range(self.cfg.prm.warmup_steps):
            timings: dict[str, float] = {}
            ro, last = self.collect(timings)
            usable = len(ro) // k - (len(ro) // k) % w
            batch, old_logp, acc, mask = self.tensorize([ro[i] for i in self.local_rows(usable)], timings)
            self.score_process(batch, old_logp, acc, mask, last, timings, update=True)
        last = self.ctx.reduce_metrics(last)
        logger.message(
            f"PRM warm-up ({self.cfg.prm.warmup_steps} rounds): loss {last.get('prm/loss', float('nan')):.3f}, "
            f"pairwise accuracy {last.get('prm/pairwise_acc', float('nan')):.3f}, "
            f"AUC {last.get('prm/auc', float('nan')):.3f}"
        )

    def fit(self) -> dict[str, Any]:
        """Run to ``total_steps``; returns a summary (also written to ``summary.json``)."""
        cfg = self.cfg
        t_run = time.perf_counter()
        logger = MetricsLogger(
            self.run_dir,
            total_steps=self.total_steps,
            progress=cfg.log.progress,
            tensorboard=cfg.log.tensorboard,
            start_step=self.step,
        )
        summary: dict[str, Any] = {"run_dir": str(self.run_dir)}
        try:
            if self.step == 0 and cfg.prm.warmup_steps and self.prm is not None:
                self.warmup_prm(logger)
            if self.step == 0:
                v0 = self.validate()
                if v0:
                    self.history["val/acc"] = [(0, v0["val/acc"])]
                    logger.message(f"warm-start greedy accuracy (held out): {v0['val/acc']:.3f}")
                    if self.ctx.is_main:
                        logger.log(0, dict(v0), advance=False)
            while self.step < self.total_steps:
                metrics = self.train_step()
                self.step += 1
                last = self.step == self.total_steps
                freq = cfg.trainer.test_freq
                if (freq and self.step % freq == 0) or last:
                    t0 = time.perf_counter()
                    v = self.validate()
                    if v:
                        metrics.update(v)
                        metrics["time/val"] = time.perf_counter() - t0
                        self.history.setdefault("val/acc", []).append((self.step, v["val/acc"]))
                ev = cfg.eval.every
                if ev and (self.step % ev == 0 or last):
                    metrics.update(self.evaluate_benchmarks())
                metrics = self.ctx.reduce_metrics(metrics)
                if self.ctx.is_main:
                    logger.log(self.step, metrics)
                sf = cfg.trainer.save_freq
                if (sf and self.step % sf == 0) or last:
                    self.save()
        finally:
            logger.close()
            self.verifier.close()
        val = self.history.get("val/acc", [])
        summary.update(
            {
                "steps": self.step,
                "warmstart_val_acc": val[0][1] if val and val[0][0] == 0 else None,
                "final_val_acc": val[-1][1] if val else None,
                "wall_s": time.perf_counter() - t_run,
            }
        )
        if self.ctx.is_main:
            if cfg.log.plot:
                plot_curves(
                    self.run_dir / "metrics.jsonl",
                    self.run_dir / "curves.png",
                    title=f"{cfg.algo.estimator} process_rewards={cfg.algo.process_rewards}",
                )
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        return summary


def train(
    cfg: TrainConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    ctx: Context | None = None,
    prepare: AssetPreparer | None = None,
    evaluator: BenchmarkEvaluator | None = None,
) -> dict[str, Any]:
    """Build a :class:`Trainer` in the context of this process (``torchrun``'s environment: an
    :class:`FSDPContext`, else a :class:`LocalContext`), run it, return its summary.

    ``prepare`` gives the run its model and data paths (default: the config's own, :func:`given_assets`;
    the embedded demo's builder is :func:`prime_fast.demo.assets.prepare_demo`); ``evaluator`` runs
    ``eval.benches`` during training (``prime-fast train`` passes
    :func:`prime_fast.eval.training.evaluate_in_training`)."""
    own = ctx is None
    if ctx is None:
        d = cfg.distributed
        ctx = make_context(
            cfg.trainer.device,
            backend=d.backend,
            mixed_precision=d.mixed_precision,
            reshard_after_forward=d.reshard_after_forward,
        )
    try:
        run_dir = Path(ctx.gather(str(run_dir))[0])  # the main rank's choice (default names hold a time)
        trainer = Trainer(cfg, run_dir, ctx=ctx, resume=resume, prepare=prepare, evaluator=evaluator)
        trainer.setup()
        summary = trainer.fit()
        ctx.barrier()
        close = getattr(trainer.backend, "close", None)
        if close is not None:  # vLLM: shut down while its process groups still exist
            close()
        return summary
    finally:
        if own:
            ctx.close()


__all__ = ["Trainer", "train"]
