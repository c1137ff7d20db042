"""The trainer's configuration schema: nested frozen dataclasses, one per ``[section]`` (docs/TRAINER.md).

Defaults are the PRIME paper's values (docs/ALGORITHM.md section 12). Every value is validated in
``__post_init__``; problems raise :class:`~prime_fast.errors.ConfigError` naming the key and what is
expected. Loading files and ``--set`` overrides is :mod:`prime_fast.trainer.config`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prime_fast.constants import PRM_BETA
from prime_fast.errors import ConfigError
from prime_fast.runtime.settings import MODEL_DTYPES, LoraSettings, VLLMSection
from prime_fast.runtime.settings import check as _check
from prime_fast.runtime.settings import choice as _choice
from prime_fast.runtime.settings import positive as _pos

PRM_UPDATE_MODES = ("after", "before")
PRM_REF_TYPES = ("freeze", "policy")
PRM_GRANULARITIES = ("token", "whole")
PRM_NORMS = ("batch_norm", "none")
PRM_MODES = ("separate", "self", "oracle")
PROCESS_CREDITS = ("sum", "min", "local", "step")
LR_SCHEDULES = ("constant", "cosine", "linear")
PROGRESS = ("tqdm", "rich", "lines", "none")
ROLLOUT_BACKENDS = ("hf", "vllm")
TRAINER_ESTIMATORS = ("prime", "rloo", "grpo", "reinforce")


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Models. Policy, implicit PRM and PRM reference start from the same SFT weights by default.

    Args:
        path: HF model directory of the SFT policy, or ``"demo"`` (the embedded tiny model,
            warm-started by SFT into ``<run_dir>/sft``).
        prm_path: PRM init ("" = ``path``). Must share the policy tokenizer.
        ref_path: PRM reference init ("" = ``prm_path``), used with ``prm.ref_type = "freeze"``.
        dtype: parameter dtype of all models (float64: exact comparisons on the CPU; not with vLLM).
        gradient_checkpointing: recompute activations in the backward passes.
        lora: LoRA adapters on one shared base (:class:`LoraSettings`, off by default).
    """

    path: str = "demo"
    prm_path: str = ""
    ref_path: str = ""
    dtype: str = "float32"
    gradient_checkpointing: bool = False
    lora: LoraSettings = field(default_factory=LoraSettings)

    def __post_init__(self) -> None:
        _check(bool(self.path), "model.path", "expected a model directory or 'demo'", self.path)
        _choice("model.dtype", self.dtype, MODEL_DTYPES)
        if self.lora.enabled:
            for key, value in (("model.prm_path", self.prm_path), ("model.ref_path", self.ref_path)):
                _check(
                    not value or value == self.path,
                    key,
                    "expected empty with model.lora.rank > 0 (the policy, PRM and reference share "
                    "the base model.path)",
                    value,
                )


@dataclass(frozen=True, slots=True)
class DataConfig:
    """Prompts (Eurus-2-RL-Data schema: ``prompt`` chat list, ``ability``, ``reward_model.ground_truth``,
    ``data_source``).

    Args:
        train_files: local JSONL/parquet files (or one HF hub name where a network exists); empty
            with ``model.path = "demo"``: the embedded arithmetic task.
        val_files: held-out prompts for greedy validation (empty: none, or the demo's).
        train_batch_size: prompts per step, B.
        max_prompt_length: prompts longer than this (in tokens, after the chat template) are dropped.
        val_max_samples: validate on at most this many prompts (0: all).
        shuffle: shuffle the training prompts each epoch (seeded by ``trainer.seed``).
        system_prompt: if set, replaces (or adds) the system message of every prompt.
        oversample_factor: each generation round draws ``B * oversample_factor`` new prompts.
    """

    train_files: tuple[str, ...] = ()
    val_files: tuple[str, ...] = ()
    train_batch_size: int = 256
    max_prompt_length: int = 1024
    val_max_samples: int = 0
    shuffle: bool = True
    system_prompt: str = ""
    oversample_factor: float = 1.0

    def __post_init__(self) -> None:
        _pos("data.train_batch_size", self.train_batch_size)
        _pos("data.max_prompt_length", self.max_prompt_length)
        _pos("data.val_max_samples", self.val_max_samples, allow_zero=True)
        _check(
            self.oversample_factor >= 1.0, "data.oversample_factor", "expected >= 1", self.oversample_factor
        )


@dataclass(frozen=True, slots=True)
class RolloutConfig:
    """Sampling (docs/ALGORITHM.md section 3).

    Args:
        backend: ``hf`` (batched HF generate, in process) or ``vllm``.
        n: samples per prompt K (contiguous rows).
        temperature, top_p: sampling parameters (validation is always greedy).
        max_tokens: most response tokens T.
        val_max_tokens: response limit for validation (0: ``max_tokens``).
    """

    backend: str = "hf"
    n: int = 4
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 3072
    val_max_tokens: int = 0

    def __post_init__(self) -> None:
        _choice("rollout.backend", self.backend, ROLLOUT_BACKENDS)
        _check(self.n >= 2, "rollout.n", "expected >= 2 samples per prompt (leave-one-out needs two)", self.n)
        _check(
            self.temperature > 0,
            "rollout.temperature",
            "expected > 0 for training rollouts",
            self.temperature,
        )
        _check(0 < self.top_p <= 1, "rollout.top_p", "expected in (0, 1]", self.top_p)
        _pos("rollout.max_tokens", self.max_tokens)
        _pos("rollout.val_max_tokens", self.val_max_tokens, allow_zero=True)


@dataclass(frozen=True, slots=True)
class PRMConfig:
    """Implicit PRM (docs/ALGORITHM.md section 6).

    Args:
        update: ``after`` (single forward: score, then step; the paper's default) or ``before``
            (update first, then a fresh no-grad forward scores; double forward).
        ref_type: ``freeze`` (frozen SFT reference) or ``policy`` (the rollout policy's old log-probs).
        granularity: ``token`` (every valid token) or ``whole`` (the row sum at the last token).
        norm: ``batch_norm`` (divide by the max absolute reverse-cumulative return) or ``none``.
        beta_train: beta of the implicit reward in the BCE loss.
        loss: PRM loss name in ``prime_fast.algos.PRM_LOSSES``.
        lr, weight_decay, grad_clip: AdamW and grad-norm clipping of the PRM.
        mini_batch_size: responses per PRM optimizer step (a multiple of ``rollout.n``).
        micro_batch_size: responses per forward/backward (gradient accumulation in between).
        mode: ``separate`` (a PRM model of its own, updated online) or ``self`` (the policy is its own
            implicit PRM: ``q_t = log pi_old - log pi_ref`` on the rollout, no PRM model or update;
            needs ``ref_type = freeze``) or ``oracle`` (the process rewards of perfect step labels from
            each data source's step labeller replace the PRM's: ``-1`` spread evenly over the tokens of
            the first wrong step, 0 elsewhere; ``trainer/oracle.py``). A runtime error names any data
            source without a labeller.
        oracle_learned: with ``mode = oracle``, keep a learned implicit PRM alongside: it trains (and
            logs its metrics) as in ``separate`` mode, but its scores are not used.
        oracle_penalty: with ``mode = oracle``, the size ``p`` of the oracle's penalty (``-p`` spread
            over the first wrong step in place of ``-1``): the dense term's weight against the outcome
            term. Needs ``norm = none`` (``batch_norm`` divides any scale out); 1 otherwise.
        freeze: never update the PRM during RL (after ``warmup_steps``): the offline-PRM ablation.
        warmup_steps: generation rounds before RL that only train the PRM, on the warm-start
            policy's rollouts (0: none).
    """

    update: str = "after"
    ref_type: str = "freeze"
    granularity: str = "token"
    norm: str = "batch_norm"
    beta_train: float = PRM_BETA
    loss: str = "ce"
    lr: float = 1e-6
    weight_decay: float = 0.0
    grad_clip: float = 10.0
    mini_batch_size: int = 256
    micro_batch_size: int = 8
    mode: str = "separate"
    oracle_learned: bool = False
    oracle_penalty: float = 1.0
    freeze: bool = False
    warmup_steps: int = 0

    @property
    def has_model(self) -> bool:
        """Whether a PRM model of its own is built and trained (``separate``, or ``oracle`` with a
        learned PRM kept)."""
        return self.mode == "separate" or (self.mode == "oracle" and self.oracle_learned)

    @property
    def needs_ref(self) -> bool:
        """Whether a frozen reference model is built (``ref_type = freeze`` and a PRM that scores)."""
        return self.ref_type == "freeze" and (self.mode != "oracle" or self.oracle_learned)

    def __post_init__(self) -> None:
        _choice("prm.update", self.update, PRM_UPDATE_MODES)
        _choice("prm.mode", self.mode, PRM_MODES)
        _check(
            self.mode == "oracle" or not self.oracle_learned,
            "prm.oracle_learned",
            "expected false unless prm.mode = 'oracle'",
            self.oracle_learned,
        )
        _pos("prm.oracle_penalty", self.oracle_penalty)
        _check(
            self.oracle_penalty == 1.0 or (self.mode == "oracle" and self.norm == "none"),
            "prm.oracle_penalty",
            "expected 1 unless prm.mode = 'oracle' and prm.norm = 'none' (batch_norm divides the scale out)",
            self.oracle_penalty,
        )
        _pos("prm.warmup_steps", self.warmup_steps, allow_zero=True)
        _choice("prm.ref_type", self.ref_type, PRM_REF_TYPES)
        _choice("prm.granularity", self.granularity, PRM_GRANULARITIES)
        _choice("prm.norm", self.norm, PRM_NORMS)
        _pos("prm.beta_train", self.beta_train)
        _pos("prm.lr", self.lr, allow_zero=True)
        _pos("prm.weight_decay", self.weight_decay, allow_zero=True)
        _pos("prm.grad_clip", self.grad_clip)
        _pos("prm.mini_batch_size", self.mini_batch_size)
        _pos("prm.micro_batch_size", self.micro_batch_size)


@dataclass(frozen=True, slots=True)
class AlgoConfig:
    """Advantage estimator, policy loss and prompt filter.

    Args:
        estimator: name in ``prime_fast.algos.ADVANTAGE_ESTIMATORS`` (``prime``: PRIME's RLOO on
            outcome and process rewards; ``rloo``, ``grpo``, ``reinforce``).
        process_rewards: feed the implicit PRM's rewards to the estimator (false: outcome only,
            no PRM is built or trained).
        policy_loss: name in ``prime_fast.algos.POLICY_LOSSES``.
        gamma_process, gamma_outcome: discounts of the two reward sources.
        whiten: whiten advantages over the valid tokens of the batch.
        clip_ratio: PPO epsilon.
        entropy_coef: entropy bonus weight.
        filter_accuracy: keep only prompt groups with accuracy in the band (inclusive).
        accuracy_lower_bound, accuracy_upper_bound: the band (0.2, 0.8).
        filter_truncated: drop groups where any response hit ``rollout.max_tokens``.
        process_credit: how process rewards become returns (``prime_fast.algos.PROCESS_CREDITS``):
            ``sum`` (PRIME: the sum of future rewards, discount ``gamma_process``), ``min`` (PURE's
            min-form credit, arXiv 2504.15275: each row's rewards are reweighted by
            ``softmax(-q / (T * std))`` first, so a row's return tends to its worst token), ``local``
            (each token its own reward: ``sum`` with ``gamma_process = 0``) or ``step`` (each token its
            step's summed reward; needs a step labeller for every data source).
        process_credit_temperature: ``T`` of the min-form reweighting, in units of the batch's
            standard deviation of ``q`` (smaller: closer to the minimum).
    """

    estimator: str = "prime"
    process_rewards: bool = True
    policy_loss: str = "ppo_clip"
    gamma_process: float = 1.0
    gamma_outcome: float = 1.0
    whiten: bool = True
    clip_ratio: float = 0.2
    entropy_coef: float = 0.0
    filter_accuracy: bool = True
    accuracy_lower_bound: float = 0.2
    accuracy_upper_bound: float = 0.8
    filter_truncated: bool = False
    process_credit: str = "sum"
    process_credit_temperature: float = 0.1

    def __post_init__(self) -> None:
        _choice("algo.process_credit", self.process_credit, PROCESS_CREDITS)
        _pos("algo.process_credit_temperature", self.process_credit_temperature)
        _check(0 <= self.gamma_process <= 1, "algo.gamma_process", "expected in [0, 1]", self.gamma_process)
        _check(0 <= self.gamma_outcome <= 1, "algo.gamma_outcome", "expected in [0, 1]", self.gamma_outcome)
        _pos("algo.clip_ratio", self.clip_ratio)
        _pos("algo.entropy_coef", self.entropy_coef, allow_zero=True)
        lo, hi = self.accuracy_lower_bound, self.accuracy_upper_bound
        _check(
            0 <= lo <= hi <= 1,
            "algo.accuracy_lower_bound/accuracy_upper_bound",
            "expected 0 <= lower <= upper <= 1",
            (lo, hi),
        )


@dataclass(frozen=True, slots=True)
class OptimConfig:
    """Policy optimisation (PPO-clip, docs/ALGORITHM.md section 8).

    Args:
        lr: AdamW learning rate (5e-7 in PRIME).
        betas: AdamW betas.
        weight_decay: AdamW weight decay.
        grad_clip: grad-norm clip.
        lr_schedule: ``constant``, ``cosine`` or ``linear`` decay over ``trainer.total_steps``.
        warmup_ratio: linear warmup as a fraction of the total steps.
        mini_batch_size: responses per optimizer step (ppo_mini_batch_size).
        micro_batch_size: responses per forward/backward.
        ppo_epochs: passes over the batch per RL step.
        shuffle: shuffle responses into mini-batches (advantages are computed before).
        fused_loss: compute the policy loss with :func:`prime_fast.ops.linear_policy_loss` (LM head,
            log-probs, PPO-clip and entropy fused, gradients made in the forward) where it applies
            (``ppo_clip`` on an unsharded policy, see ``trainer.actor.fused_loss_applies``);
            false: log-probs, then ``algos.ppo_clip_loss``. Same loss and metrics either way.
    """

    lr: float = 5e-7
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    lr_schedule: str = "constant"
    warmup_ratio: float = 0.0
    mini_batch_size: int = 256
    micro_batch_size: int = 8
    ppo_epochs: int = 1
    shuffle: bool = True
    fused_loss: bool = True

    def __post_init__(self) -> None:
        _pos("optim.lr", self.lr)
        _check(
            len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
            "optim.betas",
            "expected two numbers in [0, 1)",
            self.betas,
        )
        _pos("optim.weight_decay", self.weight_decay, allow_zero=True)
        _pos("optim.grad_clip", self.grad_clip)
        _choice("optim.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _check(0 <= self.warmup_ratio < 1, "optim.warmup_ratio", "expected in [0, 1)", self.warmup_ratio)
        _pos("optim.mini_batch_size", self.mini_batch_size)
        _pos("optim.micro_batch_size", self.micro_batch_size)
        _pos("optim.ppo_epochs", self.ppo_epochs)


@dataclass(frozen=True, slots=True)
class TrainerConfig:
    """The run.

    Args:
        total_steps: RL steps (0: ``epochs`` passes over the training prompts).
        epochs: passes over the data when ``total_steps`` is 0.
        seed: seed of data order, sampling and initialisation.
        run_dir: output directory ("" = ``runs/<timestamp>``).
        save_freq: checkpoint every this many steps (0: only at the end).
        test_freq: greedy validation every this many steps (0: only before and after training).
        max_rounds_per_step: generation rounds after which a step gives up filling its batch
            with a warning and trains on what it has.
        device: where the models live in a one-process run (``cpu``, ``cuda`` or ``cuda:N``).
        num_threads: torch intra-op threads (0: torch's default). Tiny models on a shared CPU run
            faster on one thread than on oversubscribed cores.
    """

    total_steps: int = 0
    epochs: int = 1
    seed: int = 0
    run_dir: str = ""
    save_freq: int = 16
    test_freq: int = 16
    max_rounds_per_step: int = 64
    num_threads: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        _pos("trainer.total_steps", self.total_steps, allow_zero=True)
        _pos("trainer.epochs", self.epochs)
        _pos("trainer.save_freq", self.save_freq, allow_zero=True)
        _pos("trainer.test_freq", self.test_freq, allow_zero=True)
        _pos("trainer.max_rounds_per_step", self.max_rounds_per_step)
        _pos("trainer.num_threads", self.num_threads, allow_zero=True)
        dev = self.device
        ok = dev in ("cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())
        _check(ok, "trainer.device", "expected cpu, cuda or cuda:N", dev)


@dataclass(frozen=True, slots=True)
class VerifyConfig:
    """Outcome verification (``prime_fast.verify.score`` by ability).

    Args:
        overlap: verify in a background thread while the log-probs are computed (false: serialised).
        error_score: reward of a row that cannot be scored: its verifier raised, its reference is
            unparseable or its code tests are malformed (PRIME's rows score 0 then). A program that
            times out is not an error: it gets its tests' partial credit.
        reward: ``verifier`` (the reference answer or tests decide) or ``majority`` (label-free, as
            TTRL: a math response earns 1 when its answer is in its K-group's majority answer cluster;
            references are not read).
    """

    overlap: bool = True
    error_score: float = 0.0
    reward: str = "verifier"

    def __post_init__(self) -> None:
        _choice("verify.reward", self.reward, ("verifier", "majority"))
        _check(0 <= self.error_score <= 1, "verify.error_score", "expected in [0, 1]", self.error_score)


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """Benchmark evaluation during training (``prime_fast.eval``; docs/EVAL.md).

    Args:
        every: evaluate every this many RL steps and after the last (0: never).
        benches: ``NAME=FILE`` benchmarks (local JSONL/parquet in any format ``prime-fast eval`` reads).
        n: samples per problem (avg@n, pass@k, maj@k), besides the greedy one.
        temperature, top_p: sampling of the ``n`` samples (the authors' avg@16 setting: 0.3, 0.95).
        max_tokens: new tokens per response (0: ``rollout.max_tokens``).
        ks: the k of pass@k and maj@k.
        template: a named prompt template or a template file (``auto``: the row's own chat prompt).
    """

    every: int = 0
    benches: tuple[str, ...] = ()
    n: int = 4
    temperature: float = 0.3
    top_p: float = 0.95
    max_tokens: int = 0
    ks: tuple[int, ...] = (1, 4)
    template: str = "auto"

    def __post_init__(self) -> None:
        _pos("eval.every", self.every, allow_zero=True)
        _pos("eval.n", self.n)
        _pos("eval.max_tokens", self.max_tokens, allow_zero=True)
        for b in self.benches:
            name, _, path = b.partition("=")
            _check(
                bool(name and path),
                "eval.benches",
                "expected NAME=FILE items",
                b,
            )
        _check(
            not self.every or bool(self.benches),
            "eval.benches",
            "expected at least one NAME=FILE with eval.every > 0",
            self.benches,
        )
        for k in self.ks:
            _check(isinstance(k, int) and k >= 1, "eval.ks", "expected positive integers", self.ks)


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Logging sinks.

    Args:
        progress: live display: ``tqdm``, ``rich``, ``lines`` (one line per step) or ``none``.
        tensorboard: also write tensorboard events under ``<run_dir>/tb``.
        plot: write ``curves.png`` at the end.
    """

    progress: str = "tqdm"
    tensorboard: bool = False
    plot: bool = True

    def __post_init__(self) -> None:
        _choice("log.progress", self.progress, PROGRESS)


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """The embedded task (used when ``data.train_files`` is empty and/or ``model.path = "demo"``).

    Args:
        n_train, n_val: generated training / held-out problems.
        n_terms, max_operand: problem shape (``n_terms`` operands in 1..max_operand, ``+``/``-``).
        sft_steps, sft_batch_size, sft_lr: the SFT warm-start.
        sft_direct_frac: share of SFT examples answering directly (``\\boxed{}`` only, no worked
            steps): the shortcut behaviour the warm-start mixes in and RL learns to avoid.
        sft_slip_prob: per-step probability that an SFT worked solution slips (a result off by 1-3,
            the chain continuing from it): errors inside the chain that RL learns to avoid.
        sft_slip_kind: ``result`` (a wrong result), ``copy`` (a step starting from a running value
            miscopied by 1-3) or ``habit`` (starting from the running value plus one, every time it slips).
        hidden_size, num_layers: the tiny Qwen2 model (head_dim 64).
    """

    n_train: int = 4000
    n_val: int = 200
    n_terms: int = 3
    max_operand: int = 9
    sft_steps: int = 600
    sft_batch_size: int = 64
    sft_lr: float = 3e-3
    sft_direct_frac: float = 0.6
    sft_slip_prob: float = 0.0
    sft_slip_kind: str = "result"
    hidden_size: int = 128
    num_layers: int = 2

    def __post_init__(self) -> None:
        for name in ("n_train", "n_val", "sft_batch_size", "hidden_size", "num_layers"):
            _pos(f"demo.{name}", getattr(self, name))
        _pos("demo.sft_steps", self.sft_steps, allow_zero=True)
        _check(
            0 <= self.sft_direct_frac < 1, "demo.sft_direct_frac", "expected in [0, 1)", self.sft_direct_frac
        )
        _check(self.n_terms >= 2, "demo.n_terms", "expected >= 2", self.n_terms)
        _check(0 <= self.sft_slip_prob < 1, "demo.sft_slip_prob", "expected in [0, 1)", self.sft_slip_prob)
        _choice("demo.sft_slip_kind", self.sft_slip_kind, ("result", "copy", "habit"))
        _check(
            self.hidden_size % 64 == 0,
            "demo.hidden_size",
            "expected a multiple of 64 (head_dim 64)",
            self.hidden_size,
        )


@dataclass(frozen=True, slots=True)
class DistributedConfig:
    """Data parallelism under ``torchrun`` (FSDP2; see docs/SCALE.md).

    Args:
        backend: ``auto`` (NCCL with CUDA, else gloo), ``nccl`` or ``gloo``.
        mixed_precision: ``auto`` (bf16 params / fp32 reduce on GPU, fp32 on CPU), ``true``, ``false``.
        prm_norm_scope: ``rank`` (PRIME's batch_norm over each rank's rows, as the authors) or
            ``global`` (over the whole batch: the same result on any number of processes).
        reshard_after_forward: free gathered parameters after each layer's forward (ZeRO-3).
    """

    backend: str = "auto"
    mixed_precision: str = "auto"
    prm_norm_scope: str = "rank"
    reshard_after_forward: bool = True

    def __post_init__(self) -> None:
        _choice("distributed.backend", self.backend, ("auto", "nccl", "gloo"))
        _choice("distributed.mixed_precision", self.mixed_precision, ("auto", "true", "false"))
        _choice("distributed.prm_norm_scope", self.prm_norm_scope, ("rank", "global"))


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """The whole configuration (see docs/TRAINER.md for every key)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    prm: PRMConfig = field(default_factory=PRMConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    log: LogConfig = field(default_factory=LogConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
    vllm: VLLMSection = field(default_factory=VLLMSection)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)

    def __post_init__(self) -> None:
        k = self.rollout.n
        for key, v in (
            ("prm.mini_batch_size", self.prm.mini_batch_size),
            ("optim.mini_batch_size", self.optim.mini_batch_size),
        ):
            _check(v % k == 0, key, f"expected a multiple of rollout.n = {k} (groups stay whole)", v)
        _check(
            self.prm.mini_batch_size % self.prm.micro_batch_size == 0,
            "prm.micro_batch_size",
            f"expected a divisor of prm.mini_batch_size = {self.prm.mini_batch_size}",
            self.prm.micro_batch_size,
        )
        _check(
            self.optim.mini_batch_size % self.optim.micro_batch_size == 0,
            "optim.micro_batch_size",
            f"expected a divisor of optim.mini_batch_size = {self.optim.mini_batch_size}",
            self.optim.micro_batch_size,
        )
        _check(
            not (self.model.dtype == "float64" and self.rollout.backend == "vllm"),
            "model.dtype",
            "expected float32, bfloat16 or float16 with rollout.backend = 'vllm' (vLLM has no float64)",
            self.model.dtype,
        )
        # Algorithm names are checked against the algos registries.
        from prime_fast import algos

        algos.get_advantage_estimator(self.algo.estimator)
        if self.algo.estimator not in TRAINER_ESTIMATORS:
            raise ConfigError(
                f"algo.estimator: {self.algo.estimator!r} needs a critic, which this trainer does not "
                f"build; expected one of {', '.join(TRAINER_ESTIMATORS)}"
            )
        algos.get_policy_loss(self.algo.policy_loss)
        algos.get_prm_loss(self.prm.loss)
        if self.prm.mode == "self" and self.algo.process_rewards:
            _check(
                self.prm.ref_type == "freeze",
                "prm.ref_type",
                "expected 'freeze' with prm.mode = 'self' (against the policy's own old log-probs every q is 0)",
                self.prm.ref_type,
            )
            _check(
                self.optim.lr > 0,
                "optim.lr",
                "expected > 0 with prm.mode = 'self' (a frozen policy gives a PRM that never learns)",
                self.optim.lr,
            )

    @property
    def uses_prm(self) -> bool:
        """Whether an implicit PRM is built and trained."""
        return self.algo.process_rewards

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready nested dict."""
        return _to_plain(dataclasses.asdict(self))

    def save(self, path: str | Path) -> None:
        """Write the resolved config as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _to_plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _to_plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_to_plain(v) for v in x]
    return x
