"""Data-parallel training under ``torchrun``: FSDP2 sharding, rank splits, reductions, DCP checkpoints.

Every rank runs the same program (SPMD). The pieces:

- :func:`init_distributed` reads torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
  ``MASTER_ADDR``/``MASTER_PORT``) and starts a process group: NCCL on GPUs, gloo on the CPU. Without
  torchrun (or with one process) it returns a single-process :class:`DistContext` and every helper
  below degrades to the local computation, so the same trainer code runs both ways.
- :func:`shard_model` applies FSDP2's ``fully_shard`` to each decoder layer and then to the root, with
  bf16 parameters / fp32 gradient reduction on GPUs (fp32 everywhere on the CPU).
- :func:`split_groups` gives each rank whole K-sample groups (a group never spans two ranks), so
  leave-one-out baselines stay rank-local; :func:`gather_objects` collects per-rank results.
- :func:`minibatch_groups` gives each rank its groups of every optimizer mini-batch, so that a run on
  ``W`` processes takes the same optimizer steps as one process.
- :func:`full_named_parameters` gathers unsharded weights (for the vLLM weight sync);
  :func:`save_checkpoint` / :func:`load_checkpoint` write and read sharded DCP checkpoints that load
  on any number of processes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from prime_fast.errors import ConfigError, UnsupportedInputError

__all__ = [
    "DistContext",
    "decoder_layers",
    "destroy_distributed",
    "full_named_parameters",
    "gather_objects",
    "init_distributed",
    "load_checkpoint",
    "save_checkpoint",
    "shard_model",
    "split_groups",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Ranked(Protocol):
    """Anything with a data-parallel position (a :class:`DistContext` or a trainer context)."""

    @property
    def rank(self) -> int: ...

    @property
    def world_size(self) -> int: ...


@dataclass(frozen=True, slots=True)
class DistContext:
    """Where this process sits in the job.

    Args:
        rank: global rank (0 .. world_size-1).
        world_size: number of processes.
        local_rank: rank on this node (selects the GPU).
        device: the device this rank computes on.
        backend: ``"nccl"``, ``"gloo"``, or ``None`` for a single process without a process group.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")  # noqa: RUF009 (immutable)
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        """True when a process group with more than one process is active."""
        return self.backend is not None and self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the rank that logs and writes single-copy files)."""
        return self.rank == 0

    def mesh(self) -> Any:
        """A 1-D device mesh over all ranks (FSDP's data-parallel dimension)."""
        from torch.distributed.device_mesh import init_device_mesh

        return init_device_mesh(self.device.type, (self.world_size,), mesh_dim_names=("dp",))


def init_distributed(backend: str | None = None) -> DistContext:
    """Start the process group described by torchrun's environment variables.

    Args:
        backend: force ``"gloo"`` or ``"nccl"``; default NCCL when CUDA is available, else gloo.

    Returns a single-process context (no process group) when ``WORLD_SIZE`` is unset or 1.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if world <= 1:
        return DistContext(rank=0, world_size=1, local_rank=0, device=device, backend=None)
    if backend is None:
        backend = "nccl" if cuda else "gloo"
    if backend not in ("nccl", "gloo"):
        raise ConfigError(f"distributed backend must be 'nccl' or 'gloo', got {backend!r}")
    if not dist.is_initialized():
        kwargs: dict[str, Any] = {"backend": backend}
        if backend == "nccl":
            kwargs["device_id"] = device
        dist.init_process_group(**kwargs)
    return DistContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=local_rank,
        device=device,
        backend=backend,
    )


def destroy_distributed(drain_s: float = 0.25) -> None:
    """Tear the process group down after a barrier (safe to call when none is active).

    The barrier keeps a rank from closing its connections while a peer is still inside a
    collective. After it, the caller sleeps ``drain_s`` seconds with the GIL released: a gloo
    worker thread wakes the waiting caller *before* it drops its last references to the finished
    work objects, and those can own tensors that Python created. Dropping them needs the GIL; if
    the interpreter is already finalizing by then, the thread exits through a ``noexcept``
    destructor and the whole process aborts ("terminate called without an active exception",
    SIGABRT at exit, about 1 run in 12 of the two-process test on a loaded 2-core machine).
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        time.sleep(drain_s)
        dist.destroy_process_group()


# -- FSDP2 ---------------------------------------------------------------------------------------------


def decoder_layers(model: nn.Module) -> list[nn.Module]:
    """The transformer blocks of an HF causal LM (each becomes one FSDP unit).

    Found through the model's ``_no_split_modules`` class names (e.g. ``Qwen2DecoderLayer``), else a
    ``model.layers`` / ``transformer.h`` ModuleList.
    """
    names = set(getattr(model, "_no_split_modules", None) or [])
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if layers:
        return layers
    for path in ("model.layers", "transformer.h", "layers"):
        obj: Any = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList):
            return list(obj)
    raise UnsupportedInputError(
        f"cannot find decoder layers in {type(model).__name__}: expected _no_split_modules or model.layers"
    )


def shard_model(
    model: nn.Module,
    ctx: DistContext,
    *,
    mixed_precision: bool | None = None,
    reshard_after_forward: bool = True,
    mesh: Any = None,
) -> nn.Module:
    """Wrap ``model`` with FSDP2: ``fully_shard`` on every decoder layer, then on the root.

    Args:
        model: an HF causal LM on ``ctx.device`` (policy, PRM or frozen reference).
        ctx: the :class:`DistContext`; a single process returns ``model`` unchanged.
        mixed_precision: bf16 parameters with fp32 gradient reduction; default on for CUDA only
            (fp32 master weights stay sharded either way).
        reshard_after_forward: free gathered parameters after each layer's forward (ZeRO-3).
        mesh: a device mesh (default ``ctx.mesh()``).
    """
    if not ctx.distributed:
        return model
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    if mixed_precision is None:
        mixed_precision = ctx.device.type == "cuda"
    mp = (
        MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        if mixed_precision
        else MixedPrecisionPolicy()
    )
    mesh = mesh if mesh is not None else ctx.mesh()
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh, mp_policy=mp, reshard_after_forward=reshard_after_forward)
    fully_shard(model, mesh=mesh, mp_policy=mp, reshard_after_forward=reshard_after_forward)
    return model


def full_named_parameters(
    model: nn.Module, *, dtype: torch.dtype | None = None
) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield ``(HF name, full tensor)`` for every parameter, un-sharding FSDP2 DTensors one at a time.

    Every rank must iterate to the end in the same order (each DTensor gather is a collective).
    FSDP2 keeps HF parameter names, so the names can go straight into a vLLM ``load_weights``.
    """
    from torch.distributed.tensor import DTensor

    for name, param in model.named_parameters():
        t = param.detach()
        if isinstance(t, DTensor):
            t = t.full_tensor()
        yield name, (t.to(dtype) if dtype is not None else t)


# -- splitting and reductions ------------------------------------------------------------------------------


def split_groups(items: Sequence[T], group_size: int, ctx: Ranked) -> list[T]:
    """This rank's contiguous share of ``items``, made of whole groups of ``group_size``.

    ``items`` holds ``G * group_size`` entries (e.g. the ``P * K`` responses of a rollout, or prompts
    with ``group_size=1``); ``G`` must be divisible by the world size so every rank runs the same
    number of FSDP forward/backward calls. Rank ``r`` gets groups ``[r*G/W, (r+1)*G/W)``.
    """
    if group_size < 1:
        raise UnsupportedInputError(f"group_size must be >= 1, got {group_size}")
    if len(items) % group_size:
        raise UnsupportedInputError(f"len(items)={len(items)} is not a multiple of group_size={group_size}")
    groups = len(items) // group_size
    if groups % ctx.world_size:
        raise ConfigError(
            f"{groups} groups cannot be split evenly over {ctx.world_size} ranks: make the number of prompts "
            "per step a multiple of the world size"
        )
    per = groups // ctx.world_size * group_size
    return list(items[ctx.rank * per : (ctx.rank + 1) * per])


def minibatch_groups(n_groups: int, n_minibatches: int, ctx: Ranked) -> list[list[int]]:
    """Group indices this rank trains on in each optimizer mini-batch.

    Mini-batch ``j`` is the same set of groups whatever the world size (the ``j``-th contiguous
    block of ``n_groups / n_minibatches`` groups), and that block is then split over the ranks.
    So a run on ``W`` processes takes the same optimizer steps as one process would. The rank's
    whole share of the batch is the concatenation of its lists (that order is its local row order).
    """
    if n_minibatches < 1 or n_groups % n_minibatches:
        raise ConfigError(f"{n_groups} groups cannot form {n_minibatches} equal mini-batches")
    per_mini = n_groups // n_minibatches
    if per_mini % ctx.world_size:
        raise ConfigError(
            f"a mini-batch of {per_mini} groups cannot be split evenly over {ctx.world_size} ranks: make the "
            "groups per mini-batch a multiple of the world size"
        )
    share = per_mini // ctx.world_size
    return [
        list(range(j * per_mini + ctx.rank * share, j * per_mini + (ctx.rank + 1) * share))
        for j in range(n_minibatches)
    ]


def gather_objects(obj: T, ctx: DistContext) -> list[T]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


# -- checkpoints ---------------------------------------------------------------------------------------------


def _state(
    models: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer]
) -> dict[str, Any]:
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    state: dict[str, Any] = {}
    for name, model in models.items():
        module = _module_of(model)
        # A LoRA view saves its adapter only; its optimizer's state is keyed by the shared base's names.
        state[f"model.{name}"] = model.state_dict() if module is not model else get_model_state_dict(model)
        if name in optimizers:
            state[f"optim.{name}"] = get_optimizer_state_dict(module, optimizers[name])
    return state


def _module_of(model: Any) -> nn.Module:
    """The ``nn.Module`` that owns ``model``'s parameters: the model, or a LoRA view's shared base."""
    if isinstance(model, nn.Module):
        return model
    shared = getattr(model, "shared", None)
    if shared is None or not isinstance(shared.model, nn.Module):
        raise UnsupportedInputError(
            f"cannot checkpoint {type(model).__name__}: not an nn.Module or a LoRA view"
        )
    return shared.model


@contextlib.contextmanager
def _single_process_quiet() -> Iterator[None]:
    """DCP warns on every save/load without a process group; one process is a supported case here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled", category=UserWarning)
        yield


def save_checkpoint(
    path: str | os.PathLike[str],
    models: Mapping[str, nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
) -> Path:
    """Write a sharded ``torch.distributed.checkpoint`` checkpoint (every rank writes its shards).

    Args:
        path: checkpoint directory (created).
        models: e.g. ``{"policy": ..., "prm": ...}`` (FSDP2-wrapped or plain).
        optimizers: optimizers keyed like their models.

    The checkpoint stores global tensor shapes, so :func:`load_checkpoint` reshards it onto any
    number of processes (including one, without a process group).
    """
    import torch.distributed.checkpoint as dcp

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    with _single_process_quiet():
        dcp.save(_state(models, optimizers or {}), checkpoint_id=str(out), no_dist=not dist.is_initialized())
    return out


def load_checkpoint(
    path: str | os.PathLike[str],
    models: Mapping[str, nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
) -> None:
    """Load a checkpoint written by :func:`save_checkpoint` into the given models and optimizers in place.

    Works on a different number of processes than the one that saved. Optimizers must have the
    same parameter groups as at save time (build them the same way).
    """
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    src = Path(path)
    if not (src / ".metadata").is_file():
        raise ConfigError(f"not a DCP checkpoint directory (no .metadata): {src}")
    optimizers = optimizers or {}
    state = _state(models, optimizers)
    with _single_process_quiet():
        dcp.load(state, checkpoint_id=str(src), no_dist=not dist.is_initialized())
    for name, model in models.items():
        module = _module_of(model)
        if module is model:
            set_model_state_dict(model, state[f"model.{name}"])
        else:  # a LoRA view: DCP loaded into its adapter tensors; copy them in (also sets in place)
            model.load_state_dict(state[f"model.{name}"])
        if name in optimizers:
            set_optimizer_state_dict(module, optimizers[name], state[f"optim.{name}"])
