"""A colocated vLLM rollout engine that the trainer keeps in sync with the policy, in place.

The engine lives in the trainer's own process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``), so weights go
from the policy into vLLM's model by reference, without a disk round trip or serialisation:
:meth:`VLLMRollout.sync_weights` runs the worker's ``reload_weights`` (through ``LLM.collective_rpc``),
vLLM's in-place reload around the model's own ``load_weights``, which maps HF parameter names onto vLLM's fused ones (``q/k/v_proj`` into
``qkv_proj``, ``gate/up_proj`` into ``gate_up_proj``) and slices them for tensor parallelism.

Tensor parallelism under ``torchrun`` uses vLLM's ``external_launcher`` executor: every trainer rank
hosts one vLLM shard, ranks of a tensor-parallel group see the same prompts (they are gathered inside
the group and each rank keeps its own slice of the outputs), and every rank loads the full HF
weights, from which vLLM keeps its slice. On a GPU, vLLM's sleep mode hands the weights' and the KV
cache's memory back to the trainer between rollout phases; on the CPU, sleep and wake-up do nothing.

``vllm`` is imported only when an engine is built, so this module is cheap to import.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prime_fast.errors import ConfigError, UnsupportedInputError
from prime_fast.runtime.rollout.base import RolloutBatch, SamplingConfig
from prime_fast.runtime.settings import VLLMSection

if TYPE_CHECKING:
    import torch

__all__ = ["VLLMRollout", "make_backend", "sampling_params"]

log = logging.getLogger(__name__)


def sampling_params(
    sampling: SamplingConfig, *, prompt_index: int = 0, stop_token_ids: list[int] | None = None
) -> Any:
    """vLLM ``SamplingParams`` for one prompt of a :class:`SamplingConfig`.

    The K samples of a prompt are one request with ``n = K``; a seeded config gives prompt ``i`` the
    seed ``seed + i * n`` (vLLM then seeds its ``n`` children with ``seed + i * n + j``), so no two
    samples of a call share a random stream. Greedy decoding (temperature 0) gets ``n = 1``: vLLM
    refuses ``n > 1`` there, so :meth:`VLLMRollout.generate` repeats the prompt ``n`` times.
    """
    from vllm import SamplingParams

    if sampling.n < 1:
        raise UnsupportedInputError(f"sampling.n must be >= 1, got {sampling.n}")
    if sampling.max_tokens < 1:
        raise UnsupportedInputError(f"sampling.max_tokens must be >= 1, got {sampling.max_tokens}")
    if sampling.temperature < 0:
        raise UnsupportedInputError(f"sampling.temperature must be >= 0, got {sampling.temperature}")
    if not 0.0 < sampling.top_p <= 1.0:
        raise UnsupportedInputError(f"sampling.top_p must be in (0, 1], got {sampling.top_p}")
    seed = None if sampling.seed is None else sampling.seed + prompt_index * sampling.n
    greedy = sampling.temperature == 0
    return SamplingParams(
        # vLLM refuses n > 1 with greedy decoding: the caller sends n copies of the prompt instead.
        n=1 if greedy else sampling.n,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_tokens=sampling.max_tokens,
        seed=seed,
        logprobs=0 if sampling.logprobs else None,
        stop_token_ids=list(stop_token_ids or []),
        ignore_eos=False,
        skip_special_tokens=False,
        detokenize=False,
    )


def _read_eos_ids(model_path: str) -> list[int]:
    """EOS ids from the checkpoint's generation config, else its model config."""
    from transformers import AutoConfig, GenerationConfig

    ids: Any = None
    try:
        ids = GenerationConfig.from_pretrained(model_path).eos_token_id
    except OSError:
        ids = None
    if ids is None:
        ids = AutoConfig.from_pretrained(model_path).eos_token_id
    if ids is None:
        return []
    return [int(ids)] if isinstance(ids, int) else [int(i) for i in ids]


class VLLMRollout:
    """:class:`~prime_fast.runtime.rollout.base.RolloutBackend` on a colocated ``vllm.LLM``.

    Args:
        model_path: an HF checkpoint directory (config + safetensors); vLLM loads it once.
        config: engine settings: the config's ``[vllm]`` section (:class:`~prime_fast.runtime.settings.VLLMSection`;
            ``max_model_len = 0``: the model's own limit, ``dtype = "auto"``: the checkpoint's).
        eos_token_id: id(s) that end a response (None: read from the checkpoint).
        seed: the engine's seed (per-request seeds come from :class:`SamplingConfig`).
        tp_group: the torch.distributed group of this rank's tensor-parallel peers, when
            ``tensor_parallel_size > 1`` under torchrun (None: built from consecutive ranks).
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        config: VLLMSection | None = None,
        *,
        eos_token_id: int | list[int] | None = None,
        seed: int = 0,
        tp_group: Any = None,
    ) -> None:
        self.config = config or VLLMSection()
        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"rollout model_path must be an HF checkpoint directory with config.json, got {path}"
            )
        self.model_path = str(path)
        if eos_token_id is None:
            self.eos_ids = _read_eos_ids(self.model_path)
        else:
            self.eos_ids = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        import torch
        import torch.distributed as dist
        from vllm import LLM

        self._on_cuda = torch.cuda.is_available()
        mode = self.config.sleep_mode
        if mode == "true" and not self._on_cuda:
            raise ConfigError("vllm.sleep_mode = 'true' needs CUDA; set it 'false' or 'auto' on the CPU")
        self._sleep_mode = mode == "true" or (mode == "auto" and self._on_cuda)
        # "awake" | "asleep" (weights and KV cache released) | "weights" (weights back, KV cache not)
        self._state = "awake"

        tp = self.config.tensor_parallel_size
        kwargs: dict[str, Any] = {}
        self._tp_group = None
        self._tp_rank = 0
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if distributed:
            world = dist.get_world_size()
            if world % tp:
                raise ConfigError(f"vllm.tensor_parallel_size = {tp} must divide the world size {world}")
            if not self._on_cuda:
                local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
                check_cpu_memory_share(self.config.gpu_memory_utilization, local)
            # One engine per rank; ranks of a TP group run one sharded engine together.
            kwargs["distributed_executor_backend"] = "external_launcher"
            if tp > 1:
                self._tp_group = tp_group if tp_group is not None else _consecutive_groups(tp)
                self._tp_rank = dist.get_rank() % tp
        elif tp > 1 and not self._on_cuda:
            raise ConfigError("vllm.tensor_parallel_size > 1 needs GPUs")
        if self.config.max_model_len:
            kwargs["max_model_len"] = self.config.max_model_len
        if self.config.max_num_seqs:
            kwargs["max_num_seqs"] = self.config.max_num_seqs
        self.llm: Any = LLM(
            model=self.model_path,
            skip_tokenizer_init=True,
            tensor_parallel_size=tp,
            gpu_memory_utilization=self.config.gpu_memory_utilization,
            dtype=self.config.dtype,  # type: ignore[arg-type]
            enforce_eager=self.config.enforce_eager,
            enable_sleep_mode=self._sleep_mode,
            enable_prefix_caching=self.config.enable_prefix_caching,
            logprobs_mode=self.config.logprobs_mode,
            seed=seed,
            **kwargs,
        )

    # -- RolloutBackend -------------------------------------------------------------------------
    def generate(self, prompt_ids: list[list[int]], sampling: SamplingConfig) -> RolloutBatch:
        """Sample ``sampling.n`` responses per prompt: ``P * n`` rows in contiguous prompt groups."""
        self.wake_up()  # validation may call generate between the trainer's sleep/wake_up pairs
        if not isinstance(prompt_ids, list) or any(not isinstance(p, list) or not p for p in prompt_ids):
            raise UnsupportedInputError("prompt_ids must be a list of non-empty lists of token ids")
        # (An empty list is valid: under tensor parallelism a rank with no prompts still takes part.)
        local = prompt_ids
        if self._tp_group is not None:
            local, counts, seed = self._gather_tp(prompt_ids, sampling.seed)
            # Every rank of the group must submit identical requests: the group's first rank's seed
            # (its share comes first in the gathered list, so prompt i keeps seed + i * n).
            sampling = dataclasses.replace(sampling, seed=seed)
        copies = sampling.n if sampling.temperature == 0 else 1
        prompts: Any = [{"prompt_token_ids": [int(t) for t in p]} for p in local for _ in range(copies)]
        params = [
            sampling_params(sampling, prompt_index=i, stop_token_ids=self.eos_ids)
            for i in range(len(local))
            for _ in range(copies)
        ]
        outputs = self.llm.generate(prompts, params, use_tqdm=False) if prompts else []
        responses: list[list[int]] = []
        truncated: list[bool] = []
        logprobs: list[list[float]] | None = [] if sampling.logprobs else None
        for out in outputs:
            completions = sorted(out.outputs, key=lambda c: c.index)
            if len(completions) * copies != sampling.n:
                raise RuntimeError(
                    f"vLLM returned {len(completions)} samples for a request, expected {sampling.n}"
                )
            for c in completions:
                ids = [int(t) for t in c.token_ids]
                responses.append(ids)
                truncated.append(c.finish_reason == "length" and not (ids and ids[-1] in self.eos_ids))
                if logprobs is not None:
                    if c.logprobs is None:
                        raise RuntimeError("vLLM returned no log-probs although they were asked for")
                    logprobs.append([float(step[t].logprob) for t, step in zip(ids, c.logprobs)])
        if self._tp_group is not None:
            start = sum(counts[: self._tp_rank]) * sampling.n
            stop = start + counts[self._tp_rank] * sampling.n
            responses, truncated = responses[start:stop], truncated[start:stop]
            if logprobs is not None:
                logprobs = logprobs[start:stop]
        return RolloutBatch(
            prompt_ids=[list(p) for p in prompt_ids],
            response_ids=responses,
            truncated=truncated,
            logprobs=logprobs,
        )

    def sync_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Load the policy's weights (HF names, full unsharded tensors) into the engine in place.

        While asleep, only the weights' memory is taken back first (the KV cache stays released
        until :meth:`wake_up`). Cached prefixes are dropped: their KV blocks came from old weights.
        """
        tensors = [(name, t.detach()) for name, t in named_tensors]
        if not tensors:
            raise UnsupportedInputError("sync_weights got no tensors")
        if self._state == "asleep":
            self.llm.wake_up(tags=["weights"])
            self._state = "weights"
        # vLLM's in-place reload: the model's own ``load_weights`` (HF names -> fused, TP-sliced
        # parameters) between a layer-wise reload set-up and the post-load processing (e.g. the CPU
        # backend's weight repacking). In process, the tensors travel by reference.
        self.llm.collective_rpc(
            "reload_weights", kwargs={"weights_iterator": tensors, "is_checkpoint_format": True}
        )
        self.llm.collective_rpc(_refresh_tied_lm_head)
        self.llm.reset_prefix_cache()

    def sleep(self) -> None:
        """Hand the engine's accelerator memory back (vLLM sleep mode; no-op on the CPU).

        Level 1 (default) parks the weights in host memory; level 2 drops them, and then
        :meth:`sync_weights` must run before the next :meth:`wake_up`.
        """
        if self._sleep_mode and self._state != "asleep":
            self.llm.reset_prefix_cache()
            self.llm.sleep(level=self.config.sleep_level)
            self._state = "asleep"

    def wake_up(self) -> None:
        """Take the memory back before the next rollout (no-op on the CPU, or when awake)."""
        if not self._sleep_mode or self._state == "awake":
            return
        if self._state == "weights":
            self.llm.wake_up(tags=["kv_cache"])
        else:
            if self.config.sleep_level == 2:
                raise UnsupportedInputError(
                    "VLLMRollout: the weights were dropped by a level-2 sleep; sync_weights() must come "
                    "before wake_up()"
                )
            self.llm.wake_up()
        self._state = "awake"

    def close(self) -> None:
        """Shut the engine down now (it frees its memory; under torchrun vLLM's shutdown also tears
        down the default process group, so call this after the trainer's last collective)."""
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.llm_engine.engine_core.shutdown()
            self.llm = None

    # -- helpers ----------------------------------------------------------------------------------
    def _gather_tp(
        self, prompt_ids: list[list[int]], seed: int | None
    ) -> tuple[list[list[int]], list[int], int | None]:
        import torch.distributed as dist

        size = dist.get_world_size(self._tp_group)
        parts: list[Any] = [None] * size
        dist.all_gather_object(parts, (prompt_ids, seed), group=self._tp_group)
        counts = [len(p) for p, _ in parts]
        return [q for p, _ in parts for q in p], counts, parts[0][1]


def _refresh_tied_lm_head(worker: Any) -> bool:
    """Runs in a vLLM worker after a reload: re-process an LM head tied to the input embeddings.

    With ``tie_word_embeddings`` the checkpoint (and the HF policy) has no ``lm_head.weight``, so the
    reload never touches the LM head layer; its parameter is the embedding's (updated in place), but
    a backend that derived kernel data from it at load time (the CPU backend packs it for its GEMM)
    would keep using the old values. Returns whether a tied head was refreshed.
    """
    model = worker.get_model()
    head = getattr(model, "lm_head", None)
    inner = getattr(model, "model", None)
    embed = getattr(inner, "embed_tokens", None)
    if head is None or embed is None or getattr(head, "weight", None) is not getattr(embed, "weight", None):
        return False
    method = getattr(head, "quant_method", None)
    if method is not None:
        method.process_weights_after_loading(head)
    return True


CPU_MEMORY_BUDGET = 0.9


def check_cpu_memory_share(utilization: float, local_ranks: int) -> None:
    """On the CPU every rank's engine takes ``vllm.gpu_memory_utilization`` of the node's memory
    for itself (weights and KV cache), so the ranks on one node must stay within
    :data:`CPU_MEMORY_BUDGET` together; beyond it the kernel kills a rank while it allocates."""
    if local_ranks * utilization > CPU_MEMORY_BUDGET:
        raise ConfigError(
            f"vllm.gpu_memory_utilization = {utilization}: on the CPU each of the {local_ranks} ranks on "
            f"this node reserves that share of its memory, {local_ranks * utilization:.0%} in all; set it "
            f"to at most {CPU_MEMORY_BUDGET / local_ranks:.2f}"
        )


def _consecutive_groups(tp: int) -> Any:
    """Tensor-parallel groups of ``tp`` consecutive ranks; returns this rank's group."""
    import torch.distributed as dist

    world, rank = dist.get_world_size(), dist.get_rank()
    mine = None
    for start in range(0, world, tp):
        group = dist.new_group(list(range(start, start + tp)))
        if start <= rank < start + tp:
            mine = group
    return mine


def make_backend(cfg: Any, policy: Any, tokenizer: Any, *, model_path: str | None = None) -> Any:
    """The trainer's hook: a :class:`VLLMRollout` on the policy's checkpoint directory.

    ``model_path`` defaults to the directory the policy was loaded from (``policy.name_or_path``);
    the trainer pushes its current weights with ``sync_weights`` after every update. A LoRA
    policy view (``model.lora``) gets the engine wrapped so that it receives merged weights.
    """
    path = model_path or getattr(policy, "name_or_path", "")
    if not path or not (Path(path) / "config.json").is_file():
        raise ConfigError(
            f"rollout.backend = 'vllm' needs the policy's HF checkpoint directory; got {path!r} "
            "(load the policy with from_pretrained from a local directory)"
        )
    v = cfg.vllm
    engine_cfg = dataclasses.replace(
        v,
        max_model_len=v.max_model_len or (cfg.data.max_prompt_length + cfg.rollout.max_tokens),
        dtype=v.dtype if v.dtype != "auto" else cfg.model.dtype,
    )
    from prime_fast.runtime.lora import wrap_rollout_engine

    engine = VLLMRollout(path, engine_cfg, eos_token_id=int(tokenizer.eos_token_id), seed=cfg.trainer.seed)
    return wrap_rollout_engine(engine, policy)  # a LoRA policy syncs merged weights
