"""Checkpoints: policy and PRM weights (HF format), optimizers, schedulers, data/buffer position,
RNG states and the step, written atomically under ``<run_dir>/checkpoints/step_<n>``."""

from __future__ import annotations

import logging
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prime_fast.errors import ConfigError

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
    run_dir: Path, step: int, *, models: dict[str, Any], tokenizer: Any, state: dict[str, Any], keep: int = 2
) -> Path:
    """Write a checkpoint for ``step`` and point ``checkpoints/latest`` at it.

    Args:
        models: name -> HF model to save with ``save_pretrained`` (e.g. ``policy``, ``prm``).
        tokenizer: saved next to the policy so the checkpoint is a loadable model directory.
        state: everything else (optimizer/scheduler state dicts, sampler, RNG, generator, step).
        keep: most checkpoints kept (older ones are removed).
    """
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step}"
    tmp = root / f".tmp_step_{step}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    for name, model in models.items():
        model.save_pretrained(tmp / name)
        if name == "policy":
            tokenizer.save_pretrained(tmp / name)
    torch.save(state, tmp / "state.pt")
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    (root / (LATEST + ".tmp")).write_text(final.name, encoding="utf-8")
    (root / (LATEST + ".tmp")).replace(root / LATEST)
    steps = sorted((int(p.name.split("_")[1]) for p in root.glob("step_*")), reverse=True)
    for old in steps[keep:]:
        shutil.rmtree(root / f"step_{old}", ignore_errors=True)
    return final


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


def load_weights_into(model: Any, path: Path) -> None:
    """Load HF weights saved by :func:`save_checkpoint` into an existing model, in place."""
    from safetensors.torch import load_file

    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise ConfigError(f"--resume: no weights under {path}")
    sd: dict[str, torch.Tensor] = {}
    for f in files:
        sd.update(load_file(str(f)))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    # Tied embeddings are saved once; anything else missing is an error.
    missing = [k for k in missing if not k.endswith("lm_head.weight")]
    if missing or unexpected:
        raise ConfigError(
            f"--resume: weights under {path} do not match the model "
            f"(missing {missing[:5]}, unexpected {list(unexpected)[:5]})"
        )
