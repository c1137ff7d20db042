"""The PRIME training loop (docs/ALGORITHM.md section 2) on one process.

Each piece is a separate method so a distributed context can extend it: :meth:`Trainer.setup`
(model construction), :meth:`Trainer.collect` (rollout rounds, verification overlapping the old
log-probs, filtering and the buffer), :meth:`Trainer.train_step` (PRM, advantages, actor),
:meth:`Trainer.validate`, :meth:`Trainer.save` / :meth:`Trainer.restore` (checkpoints).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prime_fast import algos
from prime_fast.errors import ConfigError
from prime_fast.trainer import checkpoint as ckpt
from prime_fast.trainer.actor import Actor
from prime_fast.trainer.batch import Batch, build_batch
from prime_fast.trainer.config import TrainConfig
from prime_fast.trainer.context import LocalContext
from prime_fast.trainer.data import Prompt, PromptSampler, encode_rows, filter_groups, load_rows
from prime_fast.trainer.metrics import MetricsLogger, plot_curves, truncate_metrics
from prime_fast.trainer.models import batched_logprobs, build_models
from prime_fast.trainer.optim import make_optimizer, make_scheduler
from prime_fast.trainer.prm import PRMTrainer
from prime_fast.trainer.rollout.base import SamplingConfig
from prime_fast.trainer.rollout.hf import HFRolloutBackend
from prime_fast.trainer.verification import Verifier, score_all

log = logging.getLogger(__name__)


@dataclass
class Rollouts:
    """Row-aligned rollouts of one or more generation rounds (contiguous groups of K)."""

    prompts: list[Prompt]
    responses: list[list[int]]
    truncated: list[bool]
    acc: list[float]
    old_logp: list[torch.Tensor]


def quiet_third_party() -> None:
    """Turn off the per-call progress bars of transformers and datasets (ours is the only display)."""
    import datasets
    import transformers

    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def prepare_demo(cfg: TrainConfig, run_dir: Path) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Write the demo data and build the SFT warm-start where the config asks for them.

    Returns ``(policy_path, train_files, val_files)`` with the demo paths filled in.
    """
    from prime_fast.demo.task import make_rows, write_jsonl

    d = cfg.demo
    seed = cfg.trainer.seed
    train_files, val_files = cfg.data.train_files, cfg.data.val_files
    data_dir = run_dir / "data"
    if not train_files:
        p = data_dir / "train.jsonl"
        if not p.exists():
            write_jsonl(make_rows(d.n_train, seed, "train", d.n_terms, d.max_operand), p)
        train_files = (str(p),)
        if not val_files:
            v = data_dir / "val.jsonl"
            if not v.exists():
                write_jsonl(make_rows(d.n_val, seed, "val", d.n_terms, d.max_operand), v)
            val_files = (str(v),)
    policy_path = cfg.model.path
    if policy_path == "demo":
        sft_dir = run_dir / "sft"
        if not (sft_dir / "config.json").exists():
            from prime_fast.demo.model import build_sft_checkpoint

            log.info("building the demo SFT warm-start (%d steps) in %s", d.sft_steps, sft_dir)
            t0 = time.perf_counter()
            rows = make_rows(d.n_train, seed, "sft", d.n_terms, d.max_operand, direct_frac=d.sft_direct_frac)
            build_sft_checkpoint(
                sft_dir,
                seed=seed,
                train_rows=rows,
                steps=d.sft_steps,
                batch_size=d.sft_batch_size,
                lr=d.sft_lr,
                hidden_size=d.hidden_size,
                num_layers=d.num_layers,
            )
            log.info("demo SFT warm-start built in %.1fs", time.perf_counter() - t0)
        policy_path = str(sft_dir)
    return policy_path, train_files, val_files


class Trainer:
    """One PRIME run.

    Args:
        cfg: the resolved configuration.
        run_dir: the run directory (created).
        ctx: execution context (one process by default).
        resume: continue from the newest checkpoint in ``run_dir``.
    """

    def __init__(
        self, cfg: TrainConfig, run_dir: Path, *, ctx: LocalContext | None = None, resume: bool = False
    ) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.ctx = ctx or LocalContext()
        self.resume = resume
        self.step = 0
        self.history: dict[str, list[tuple[int, float]]] = {}

    # ----------------------------------------------------------------------------- setup
    def setup(self) -> None:
        """Demo assets, models, data, rollout backend, optimizers, PRM and actor; restore on resume."""
        cfg = self.cfg
        quiet_third_party()
        if cfg.trainer.num_threads:
            torch.set_num_threads(cfg.trainer.num_threads)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.ctx.is_main and not self.resume:
            cfg.save(self.run_dir / "config.json")
        seed_everything(cfg.trainer.seed)
        policy_path, train_files, val_files = prepare_demo(cfg, self.run_dir)
        seed_everything(cfg.trainer.seed)
        self.models = build_models(cfg, policy_path)
        tok = self.tokenizer = self.models.tokenizer
        self.policy = self.ctx.prepare_model(self.models.policy, trainable=True)
        self.prm_model = (
            self.ctx.prepare_model(self.models.prm, trainable=True) if self.models.prm is not None else None
        )
        self.ref_model = (
            self.ctx.prepare_model(self.models.ref, trainable=False) if self.models.ref is not None else None
        )
        self.eos = int(tok.eos_token_id)
        self.pad = int(tok.pad_token_id)

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
            vrows = load_rows(val_files, "data.val_files")
            self.val_prompts, _vdrop = encode_rows(
                vrows,
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

        self.backend = self.make_backend()
        o = cfg.optim
        self.actor_opt = make_optimizer(self.policy, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
        self.actor_sched = make_scheduler(
            self.actor_opt, schedule=o.lr_schedule, warmup_ratio=o.warmup_ratio, total_steps=self.total_steps
        )
        self.actor = Actor(
            self.policy, o, cfg.algo, self.actor_opt, self.actor_sched, temperature=cfg.rollout.temperature
        )
        self.prm: PRMTrainer | None = None
        if self.prm_model is not None:
            p = cfg.prm
            self.prm_opt = make_optimizer(self.prm_model, lr=p.lr, weight_decay=p.weight_decay)
            self.prm_sched = make_scheduler(
                self.prm_opt, schedule="constant", warmup_ratio=0.0, total_steps=self.total_steps
            )
            self.prm = PRMTrainer(
                self.prm_model, self.ref_model, p, cfg.rollout.n, self.prm_opt, self.prm_sched
            )
        self.estimator = algos.get_advantage_estimator(cfg.algo.estimator)
        self.verifier = Verifier(overlap=cfg.verify.overlap, error_score=cfg.verify.timeout_score)
        self.shuffle_gen = torch.Generator().manual_seed(cfg.trainer.seed)
        if self.resume:
            self.restore()

    def make_backend(self) -> Any:
        """The rollout engine (HF generate sharing the policy module; ``vllm`` from trainer.rollout.vllm)."""
        if self.cfg.rollout.backend == "vllm":
            try:
                from prime_fast.trainer.rollout import vllm as vllm_backend  # type: ignore[attr-defined]
            except ImportError as e:
                raise ConfigError(f"rollout.backend = 'vllm' is not available here: {e}") from None
            return vllm_backend.make_backend(self.cfg, self.policy, self.tokenizer)
        return HFRolloutBackend(self.policy, eos_token_id=self.eos, pad_token_id=self.pad)

    # ----------------------------------------------------------------------------- collect
    def generate_round(self, prompts: list[Prompt], timings: dict[str, float]) -> Rollouts:
        """Generate K samples per prompt, then compute old log-probs while the verifier runs."""
        r = self.cfg.rollout
        t0 = time.perf_counter()
        self.backend.wake_up()
        roll = self.backend.generate(
            [list(p.ids) for p in prompts],
            SamplingConfig(n=r.n, temperature=r.temperature, top_p=r.top_p, max_tokens=r.max_tokens),
        )
        self.backend.sleep()
        t1 = time.perf_counter()
        row_prompts = [prompts[i // r.n] for i in range(len(roll.response_ids))]
        texts = self.tokenizer.batch_decode(roll.response_ids, skip_special_tokens=True)
        t1b = time.perf_counter()
        fut = self.verifier.submit(
            texts, [p.ground_truth for p in row_prompts], [p.ability for p in row_prompts]
        )
        t2 = time.perf_counter()
        batch = build_batch(
            [list(p.ids) for p in row_prompts],
            roll.response_ids,
            pad_token_id=self.pad,
            eos_token_id=self.eos,
        )
        old = batched_logprobs(self.policy, batch, self.cfg.optim.micro_batch_size, temperature=r.temperature)
        t3 = time.perf_counter()
        acc, verify_s = fut.result()
        t4 = time.perf_counter()
        lengths = batch.response_mask.sum(1).tolist()
        timings["rollout"] = timings.get("rollout", 0.0) + (t1 - t0)
        timings["decode"] = timings.get("decode", 0.0) + (t1b - t1)
        timings["old_logprob"] = timings.get("old_logprob", 0.0) + (t3 - t2)
        timings["verify"] = timings.get("verify", 0.0) + verify_s
        # What the step waits for verification: the inline call when serialised (t2 - t1b), only
        # the final wait when it runs in the background while the old log-probs are computed.
        exposed = (t2 - t1b) + (t4 - t3)
        timings["verify_exposed"] = timings.get("verify_exposed", 0.0) + exposed
        timings["gen_tokens"] = timings.get("gen_tokens", 0.0) + float(sum(lengths))
        return Rollouts(
            row_prompts,
            roll.response_ids,
            roll.truncated,
            acc,
            [old[i, : int(n)].clone() for i, n in enumerate(lengths)],
        )

    def collect(self, timings: dict[str, float]) -> tuple[Rollouts, dict[str, float]]:
        """Rounds of generation until B prompt groups pass the filter; surplus prompts go to the buffer."""
        cfg = self.cfg
        b, k = cfg.data.train_batch_size, cfg.rollout.n
        kept = Rollouts([], [], [], [], [])
        all_acc: list[float] = []
        by_ability: dict[str, list[float]] = {}
        n_groups = n_pass = 0
        lengths: list[int] = []
        trunc = 0
        rounds = 0
        prompts = self.sampler.pop_buffer(b)
        while len(kept.responses) < b * k:
            prompts = prompts + self.sampler.take(math.ceil(b * cfg.data.oversample_factor))
            ro = self.generate_round(prompts, timings)
            rounds += 1
            all_acc += ro.acc
            for p, a in zip(ro.prompts, ro.acc):
                by_ability.setdefault(p.ability, []).append(a)
            lengths += [len(x) for x in ro.responses]
            trunc += sum(ro.truncated)
            keep = filter_groups(
                ro.acc,
                ro.truncated,
                k,
                lower=cfg.algo.accuracy_lower_bound,
                upper=cfg.algo.accuracy_upper_bound,
                filter_accuracy=cfg.algo.filter_accuracy,
                filter_truncated=cfg.algo.filter_truncated,
            )
            n_groups += len(keep)
            n_pass += sum(keep)
            for g, ok in enumerate(keep):
                if not ok:
                    continue
                sl = slice(g * k, (g + 1) * k)
                kept.prompts += ro.prompts[sl]
                kept.responses += ro.responses[sl]
                kept.truncated += ro.truncated[sl]
                kept.acc += ro.acc[sl]
                kept.old_logp += ro.old_logp[sl]
            prompts = []
            if rounds >= cfg.trainer.max_rounds_per_step and kept.responses:
                log.warning(
                    "step %d: only %d of %d prompt groups passed the filter after %d rounds; "
                    "training on them",
                    self.step + 1,
                    len(kept.responses) // k,
                    b,
                    rounds,
                )
                break
            if rounds >= 4 * cfg.trainer.max_rounds_per_step:
                raise RuntimeError(
                    f"no prompt group passed the accuracy filter in {rounds} generation rounds; "
                    "widen algo.accuracy_lower_bound/upper_bound or set algo.filter_accuracy=false"
                )
        if len(kept.responses) > b * k:
            surplus = kept.prompts[b * k :: k]
            self.sampler.push_buffer(surplus)
            cut = b * k
            kept = Rollouts(
                kept.prompts[:cut],
                kept.responses[:cut],
                kept.truncated[:cut],
                kept.acc[:cut],
                kept.old_logp[:cut],
            )
        m: dict[str, float] = {
            "train/acc": float(np.mean(all_acc)),
            "filter/pass_rate": n_pass / max(n_groups, 1),
            "filter/rounds": float(rounds),
            "filter/buffer_size": float(len(self.sampler.buffer)),
            "response/length_mean": float(np.mean(lengths)),
            "response/length_max": float(np.max(lengths)),
            "response/truncated_frac": trunc / max(len(lengths), 1),
            "data/epoch": float(self.sampler.epoch),
        }
        for ab, vals in sorted(by_ability.items()):
            m[f"train/acc/{ab}"] = float(np.mean(vals))
        return kept, m

    # ----------------------------------------------------------------------------- step
    def estimate(
        self, acc: torch.Tensor, mask: torch.Tensor, process: torch.Tensor | None, *, whiten: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(advantages, returns)`` of the configured estimator from ``prime_fast.algos``."""
        a = self.cfg.algo
        k = self.cfg.rollout.n
        if a.estimator == "prime":
            return self.estimator(
                acc,
                mask,
                k,
                process_rewards=process,
                gamma_process=a.gamma_process,
                gamma_outcome=a.gamma_outcome,
                whiten=whiten,
            )
        return self.estimator(acc, mask, k, process_rewards=process, gamma=a.gamma_process, whiten=whiten)

    def advantages(self, acc: torch.Tensor, mask: torch.Tensor, process: torch.Tensor | None) -> torch.Tensor:
        """The configured estimator on outcome (and process) rewards, whitened per ``algo.whiten``."""
        adv, _ = self.estimate(acc, mask, process, whiten=self.cfg.algo.whiten)
        return adv

    def tensorize(
        self, ro: Rollouts, rows: Sequence[int]
    ) -> tuple[Batch, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(batch, old_logp, acc, mask)`` for the given rows of a step's rollouts."""
        batch = build_batch(
            [list(ro.prompts[i].ids) for i in rows],
            [ro.responses[i] for i in rows],
            pad_token_id=self.pad,
            eos_token_id=self.eos,
        )
        old_logp = torch.zeros(batch.responses.shape, dtype=torch.float32)
        for j, i in enumerate(rows):
            old_logp[j, : ro.old_logp[i].shape[0]] = ro.old_logp[i]
        acc = torch.tensor([ro.acc[i] for i in rows], dtype=torch.float32)
        batch.extra["data_source"] = [ro.prompts[i].data_source for i in rows]
        return batch, old_logp, acc, batch.response_mask.bool()

    def normalize_process(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Process-reward normalisation (``prm.norm``) of the PRM's token scores."""
        return algos.normalize_process_rewards(scores, mask, self.cfg.prm.norm)

    def score_process(
        self,
        batch: Batch,
        old_logp: torch.Tensor,
        acc: torch.Tensor,
        mask: torch.Tensor,
        metrics: dict[str, Any],
        timings: dict[str, float],
    ) -> torch.Tensor | None:
        """Reference log-probs, PRM scoring and update; the normalised process rewards (None without a PRM)."""
        if self.prm is None:
            return None
        t0 = time.perf_counter()
        ref_logp = self.prm.ref_logprobs(batch, old_logp)
        t1 = time.perf_counter()
        scores, pm = self.prm.step(batch, acc, ref_logp)
        timings["ref"] = t1 - t0
        timings["prm"] = time.perf_counter() - t1
        metrics.update(pm)
        metrics.update(self.prm_quality(batch, scores, acc, mask))
        metrics["prm/process_reward_mean"] = float(algos.masked_mean(scores, mask))
        return self.normalize_process(scores, mask)

    def prm_quality(
        self, batch: Batch, scores: torch.Tensor, acc: torch.Tensor, mask: torch.Tensor
    ) -> dict[str, float]:
        """Outcome AUC, pairwise accuracy and (with step labels) first-error F1 of the PRM's scores."""
        from prime_fast.trainer.prm_quality import prm_quality, step_labels

        tok = self.tokenizer
        resp = [
            row[: int(n)] for row, n in zip(batch.responses.tolist(), batch.response_mask.sum(1).tolist())
        ]
        texts = tok.batch_decode(resp, skip_special_tokens=True)
        prompts = tok.batch_decode(batch.input_ids[:, : batch.prompt_len], skip_special_tokens=True)
        labels = step_labels(tok, prompts, texts, resp, batch.extra.get("data_source", []), scores.shape[1])
        return prm_quality(scores, mask, acc, self.cfg.rollout.n, labels)

    @staticmethod
    def finish_metrics(
        metrics: dict[str, Any], timings: dict[str, float], t_start: float, *, response_len: int
    ) -> None:
        """Add the phase timings, step time and throughput to a step's metrics."""
        metrics["batch/response_len"] = float(response_len)
        gen_tokens = timings.pop("gen_tokens", 0.0)
        step_s = time.perf_counter() - t_start
        for key, v in timings.items():
            metrics[f"time/{key}"] = v
        metrics["time/step"] = step_s
        metrics["perf/gen_tokens_per_s"] = gen_tokens / max(timings.get("rollout", 1e-9), 1e-9)
        metrics["perf/verify_exposed_frac"] = timings.get("verify_exposed", 0.0) / step_s

    def train_step(self) -> dict[str, Any]:
        """One PRIME step: collect, PRM score + update, advantages, PPO update. Returns the step's metrics."""
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        ro, metrics = self.collect(timings)
        batch, old_logp, acc, mask = self.tensorize(ro, range(len(ro.responses)))
        process = self.score_process(batch, old_logp, acc, mask, metrics, timings)
        t0 = time.perf_counter()
        adv = self.advantages(acc, mask, process)
        timings["adv"] = time.perf_counter() - t0
        metrics["adv/mean"] = float(algos.masked_mean(adv, mask))
        t0 = time.perf_counter()
        metrics.update(self.actor.update(batch, old_logp, adv, self.shuffle_gen))
        self.backend.sync_weights(self.policy.named_parameters())
        timings["actor"] = time.perf_counter() - t0
        metrics["batch/responses"] = float(batch.size)
        self.finish_metrics(metrics, timings, t_start, response_len=batch.responses.shape[1])
        return metrics

    # ----------------------------------------------------------------------------- validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Greedy pass@1 on the held-out prompts, overall and per data source."""
        if not self.val_prompts:
            return {}
        return self.val_metrics(self.val_prompts, self.greedy_accuracy(self.val_prompts))

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
        acc, _ = score_all(
            texts,
            [p.ground_truth for p in prompts],
            [p.ability for p in prompts],
            error_score=self.cfg.verify.timeout_score,
        )
        return [float(a) for a in acc]

    @staticmethod
    def val_metrics(prompts: list[Prompt], acc: list[float]) -> dict[str, float]:
        """``val/acc`` and ``val/acc/<data source>`` from per-prompt scores."""
        out = {"val/acc": float(np.mean(acc))}
        by_src: dict[str, list[float]] = {}
        for p, a in zip(prompts, acc):
            by_src.setdefault(p.data_source, []).append(a)
        for src, vals in sorted(by_src.items()):
            out[f"val/acc/{src}"] = float(np.mean(vals))
        return out

    # ----------------------------------------------------------------------------- checkpoints
    def state(self) -> dict[str, Any]:
        """Everything but the weights needed to continue exactly."""
        st: dict[str, Any] = {
            "step": self.step,
            "actor_optimizer": self.actor_opt.state_dict(),
            "actor_scheduler": self.actor_sched.state_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": ckpt.rng_state(),
            "shuffle_gen": self.shuffle_gen.get_state(),
            "history": self.history,
        }
        if self.prm is not None:
            st["prm_optimizer"] = self.prm_opt.state_dict()
            st["prm_scheduler"] = self.prm_sched.state_dict()
        return st

    def save(self) -> Path:
        """Write a checkpoint of the current step."""
        models = {"policy": self.policy}
        if self.prm_model is not None:
            models["prm"] = self.prm_model
        return ckpt.save_checkpoint(
            self.run_dir, self.step, models=models, tokenizer=self.tokenizer, state=self.state()
        )

    def restore(self) -> None:
        """Load the newest checkpoint of the run directory."""
        path = ckpt.latest_checkpoint(self.run_dir)
        if path is None:
            raise ConfigError(f"--resume: no checkpoint under {self.run_dir / 'checkpoints'}")
        st = ckpt.load_state(path)
        ckpt.load_weights_into(self.policy, path / "policy")
        self.actor_opt.load_state_dict(st["actor_optimizer"])
        self.actor_sched.load_state_dict(st["actor_scheduler"])
        if self.prm is not None:
            ckpt.load_weights_into(self.prm_model, path / "prm")
            self.prm_opt.load_state_dict(st["prm_optimizer"])
            self.prm_sched.load_state_dict(st["prm_scheduler"])
        self.sampler.load_state_dict(st["sampler"])
        self.shuffle_gen.set_state(st["shuffle_gen"])
        ckpt.set_rng_state(st["rng"])
        self.step = int(st["step"])
        self.history = st.get("history", {})
        truncate_metrics(self.run_dir / "metrics.jsonl", self.step)
        log.info("resumed from %s at step %d", path, self.step)

    # ----------------------------------------------------------------------------- fit
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
    cfg: TrainConfig, run_dir: Path, *, resume: bool = False, ctx: LocalContext | None = None
) -> dict[str, Any]:
    """Build a :class:`Trainer`, run it, return its summary."""
    if ctx is None:
        if cfg.trainer.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"trainer.device = {cfg.trainer.device!r} but CUDA is not available here")
        ctx = LocalContext(device=torch.device(cfg.trainer.device))
    trainer = Trainer(cfg, run_dir, ctx=ctx, resume=resume)
    trainer.setup()
    return trainer.fit()


def default_run_dir() -> Path:
    """``runs/<UTC timestamp>``."""
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S", time.gmtime())


__all__ = ["Batch", "Trainer", "default_run_dir", "prepare_demo", "train"]
