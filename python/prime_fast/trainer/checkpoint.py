"""Checkpoints: one layout for one process and for any number of ``torchrun`` ranks.

Model and optimizer states as a ``torch.distributed.checkpoint`` (resharded on load onto any world
size, also without a process group), the policy and PRM as HF directories (for ``from_pretrained``
and evaluation), and ``state.pt`` (step, schedulers, data/buffer position, RNG states, history),
written atomically under ``<run_dir>/checkpoints/step_<n>``."""

from __future__ import annotations

import json
import logging
import random
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from prime_fast.errors import ConfigError

if TYPE_CHECKING:
    from prime_fast.trainer.context import Context

log = logging.getLogger(__name__)

LATEST = "latest"


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def save_checkpoint(
    ctx: Context,
    run_dir: Path,
    step: int,
    *,
    models: dict[str, Any],
    optimizers: dict[str, Any],
    tokenizer: Any,
    state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write the checkpoint of ``step`` (every rank calls this) and point ``checkpoints/latest`` at it.

    Layout of ``checkpoints/step_<n>``: ``dcp/`` (model and optimizer states, a
    ``torch.distributed.checkpoint`` that loads on any number of processes), ``state.pt`` (the rest)
    and one HF model directory per model (``policy/``, ``prm/``, each with the tokenizer), written by the
    main rank from the full weights so that ``from_pretrained`` and the evaluation tools load it.
    Written under ``.tmp_step_<n>`` and renamed; the newest ``keep`` checkpoints are kept.

    Args:
        models: name -> model (``policy``, ``prm``), FSDP-sharded or not.
        optimizers: name -> optimizer, keyed like its model.
        state: everything else (schedulers, sampler, RNG, generator, step), identical on every rank.
    """
    root = run_dir / "checkpoints"
    final, tmp = root / f"step_{step}", root / f".tmp_step_{step}"
    if ctx.is_main:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    ctx.barrier()
    ctx.save_checkpoint(tmp / "dcp", models, optimizers)
    full = {name: full_state_dict(model) for name, model in models.items()}  # collectives
    if ctx.is_main:
        for name, model in models.items():
            save_hf(model, full[name], tmp / name)
            tokenizer.save_pretrained(tmp / name)  # every model folder loads alone (eval --prm, eval-prm)
        torch.save(state, tmp / "state.pt")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        (root / (LATEST + ".tmp")).write_text(final.name, encoding="utf-8")
        (root / (LATEST + ".tmp")).replace(root / LATEST)
        steps = sorted((int(p.name.split("_")[1]) for p in root.glob("step_*")), reverse=True)
        for old in steps[keep:]:
            shutil.rmtree(root / f"step_{old}", ignore_errors=True)
    ctx.barrier()
    return final


def full_state_dict(model: Any) -> dict[str, torch.Tensor]:
    """The model's unsharded state dict on the main rank's CPU (a collective under FSDP)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    if not isinstance(model, torch.nn.Module):  # a LoRA view: its adapter's weights, gathered
        from torch.distributed.tensor import DTensor

        return {
            k: (v.full_tensor() if isinstance(v, DTensor) else v).cpu() for k, v in model.state_dict().items()
        }
    sd = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}


def save_hf(model: Any, state_dict: dict[str, torch.Tensor], path: Path) -> None:
    """``save_pretrained`` with the given full weights; the config names the model's own class
    (an FSDP2-wrapped model's class is a generated ``FSDP<name>`` subclass)."""
    model.save_pretrained(path, state_dict=state_dict)
    cfg_file = path / "config.json"
    if not cfg_file.is_file():  # a LoRA view writes a peft adapter directory
        return
    cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    cfg["architectures"] = [a.removeprefix("FSDP") for a in cfg.get("architectures") or []]
    cfg_file.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The directory of the newest complete checkpoint, or None."""
    pointer = run_dir / "checkpoints" / LATEST
    if not pointer.exists():
        return None
    path = run_dir / "checkpoints" / pointer.read_text(encoding="utf-8").strip()
    return path if (path / "state.pt").exists() else None


def load_state(ckpt: Path) -> dict[str, Any]:
    """The non-weight state of a checkpoint."""
    if not (ckpt / "state.pt").exists():
        raise ConfigError(f"--resume: {ckpt} is not a complete checkpoint (no state.pt)")
    return torch.load(ckpt / "state.pt", map_location="cpu", weights_only=False)
