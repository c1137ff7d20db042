"""The execution context the one :class:`~prime_fast.trainer.loop.Trainer` runs in.

A plain run (``prime-fast train``) gets a :class:`LocalContext`: one process, world size 1. A run
under ``torchrun`` gets an :class:`FSDPContext`: the same methods for one of several ranks, with
FSDP2-sharded models and collectives over the process group. The loop calls the context for
everything that depends on the number of processes (which share of a list is this rank's,
gathering rows, sums and maxima over the ranks, metric reduction, model placement, the weights the
rollout engine loads, checkpoints) and is otherwise the same. The context only moves tensors between
ranks: algorithm steps that need the whole batch (whitening, process-reward normalisation, the
min-form temperature) live in :mod:`prime_fast.algos` and take the context's ``all_reduce``.
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch

from prime_fast.errors import ConfigError
from prime_fast.runtime.lora import is_adapter_view
from prime_fast.runtime.models import load_causal_lm, logprobs_forward
from prime_fast.trainer import distributed as D

T = TypeVar("T")


@runtime_checkable
class Context(Protocol):
    """What the loop needs from its execution context (see the module docstring)."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool: ...

    def gather(self, obj: T) -> list[T]: ...

    def share(self, n: int) -> tuple[int, int]: ...

    def all_reduce(self, t: torch.Tensor, op: str = "sum") -> torch.Tensor: ...

    def reduce_metrics(self, metrics: Mapping[str, float]) -> dict[str, float]: ...

    def prepare_model(self, model: Any, *, trainable: bool) -> Any: ...

    def rollout_model(self, policy: Any, path: str, dtype: str) -> Any: ...

    def full_named_parameters(self, model: Any) -> Iterator[tuple[str, torch.Tensor]]: ...

    def save_checkpoint(
        self, path: Path, models: Mapping[str, Any], optimizers: Mapping[str, Any]
    ) -> None: ...

    def load_checkpoint(
        self, path: Path, models: Mapping[str, Any], optimizers: Mapping[str, Any]
    ) -> None: ...

    def barrier(self) -> None: ...

    def close(self) -> None: ...


class LocalContext:
    """One process, one device (world size 1): every collective is the local computation.

    Args:
        device: where the models live.
    """

    rank = 0
    world_size = 1

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and prints (rank 0)."""
        return self.rank == 0

    # -- collectives (the only methods FSDPContext replaces, with prepare/rollout_model) -----------
    def gather(self, obj: T) -> list[T]:
        """Every rank's ``obj`` (picklable), in rank order."""
        return [obj]

    def all_reduce(self, t: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """``t`` summed (``op="sum"``) or maxed (``"max"``) over the ranks."""
        return t

    def barrier(self) -> None:
        """Wait for every rank."""

    def prepare_model(self, model: Any, *, trainable: bool) -> Any:
        """Place (and, with several ranks, shard) a model; a LoRA view places its shared base, once
        for all the views on it (runtime/lora.py)."""
        if is_adapter_view(model):
            model.shared.prepare(self._place)
            return model
        return self._place(model)

    def _place(self, model: Any) -> Any:
        return model.to(self.device)

    def rollout_model(self, policy: Any, path: str, dtype: str) -> Any:
        """The module an in-process HF rollout engine samples from: the policy itself here."""
        return policy

    def close(self) -> None:
        """Release the process group (nothing here)."""

    # -- built on the collectives -------------------------------------------------------------------
    def share(self, n: int) -> tuple[int, int]:
        """This rank's contiguous ``[start, stop)`` share of ``n`` items (sizes differ by <= 1)."""
        base, extra = divmod(n, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (1 if self.rank < extra else 0)

    def reduce_metrics(self, metrics: Mapping[str, float]) -> dict[str, float]:
        """Mean of each metric over the ranks that report it (keys may differ between ranks)."""
        keys = sorted({k for part in self.gather(sorted(metrics)) for k in part})
        t = torch.zeros(2, len(keys), dtype=torch.float64, device=self._collective_device())
        for i, k in enumerate(keys):
            if k in metrics:
                t[0, i] = float(metrics[k])
                t[1, i] = 1.0
        t = self.all_reduce(t)
        return {k: float(t[0, i] / t[1, i]) for i, k in enumerate(keys) if t[1, i] > 0}

    def full_named_parameters(self, model: Any) -> Iterator[tuple[str, torch.Tensor]]:
        """``(HF name, full tensor)`` of every parameter (collective under FSDP: all ranks iterate)."""
        return D.full_named_parameters(model)

    def save_checkpoint(self, path: Path, models: Mapping[str, Any], optimizers: Mapping[str, Any]) -> None:
        """Write model and optimizer states as a ``torch.distributed.checkpoint`` under ``path``
        (each rank its shards; loadable on any number of processes)."""
        D.save_checkpoint(path, models, optimizers)

    def load_checkpoint(self, path: Path, models: Mapping[str, Any], optimizers: Mapping[str, Any]) -> None:
        """Load :meth:`save_checkpoint`'s output (from any world size) into the models, in place."""
        D.load_checkpoint(path, models, optimizers)

    def _collective_device(self) -> torch.device:
        return torch.device("cpu")


class FSDPContext(LocalContext):
    """One ``torchrun`` rank: FSDP2-sharded models, collectives over the process group.

    Args:
        dist_ctx: from :func:`~prime_fast.trainer.distributed.init_distributed`.
        mixed_precision: ``"auto"``, ``"true"`` or ``"false"`` (``distributed.mixed_precision``).
        reshard_after_forward: FSDP2 ZeRO-3 behaviour.
    """

    def __init__(
        self, dist_ctx: D.DistContext, *, mixed_precision: str = "auto", reshard_after_forward: bool = True
    ) -> None:
        super().__init__(dist_ctx.device)
        self.dist = dist_ctx
        self.rank = dist_ctx.rank
        self.world_size = dist_ctx.world_size
        self.mixed_precision = {"auto": None, "true": True, "false": False}[mixed_precision]
        self.reshard_after_forward = reshard_after_forward

    def gather(self, obj: T) -> list[T]:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        return D.gather_objects(obj, self.dist)

    def all_reduce(self, t: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """``t`` summed or maxed over the process group (in place; through the backend's device, so a
        CPU tensor works under NCCL too)."""
        if self.dist.distributed:
            red = torch.distributed.ReduceOp.MAX if op == "max" else torch.distributed.ReduceOp.SUM
            dev = self._collective_device()
            x = t if t.device == dev else t.to(dev)
            torch.distributed.all_reduce(x, op=red)
            if x is not t:
                t.copy_(x)
        return t

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.dist.distributed:
            torch.distributed.barrier()

    def _place(self, model: Any) -> Any:
        """Move to this rank's device and shard with FSDP2 (per decoder layer, then the root)."""
        model = D.shard_model(
            model.to(self.device),
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

    def rollout_model(self, policy: Any, path: str, dtype: str) -> Any:
        """An unsharded replica of the policy (a sharded model cannot decode a data-dependent number
        of steps in lockstep); the loop copies the policy's weights into it after every update."""
        return load_causal_lm(path, dtype, trainable=False).to(self.device)

    def close(self) -> None:
        """Tear the process group down (after a barrier)."""
        D.destroy_distributed()

    def _collective_device(self) -> torch.device:
        return self.device if self.dist.backend == "nccl" else torch.device("cpu")


def _fsdp_logprobs(model: Any, *args: Any) -> Any:
    """:func:`logprobs_forward` returning fresh tensors (FSDP2 hooks its outputs for the backward
    pass; an output that is a view could lose that hook to a later in-place op)."""
    out = logprobs_forward(model, *args)
    return tuple(o.clone() for o in out) if isinstance(out, tuple) else out.clone()


def make_context(device: str, *, backend: str, mixed_precision: str, reshard_after_forward: bool) -> Context:
    """The context of this process: :class:`FSDPContext` when launched by ``torchrun`` (``WORLD_SIZE``
    set), else :class:`LocalContext` on ``device``."""
    if "WORLD_SIZE" not in os.environ:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"trainer.device = {device!r} but CUDA is not available here")
        return LocalContext(device)
    dctx = D.init_distributed(None if backend == "auto" else backend)
    return FSDPContext(dctx, mixed_precision=mixed_precision, reshard_after_forward=reshard_after_forward)
