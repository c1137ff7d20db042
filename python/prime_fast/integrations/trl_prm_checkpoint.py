"""``PrimeGRPOTrainer``'s PRM in TRL's checkpoints: saved beside the policy, restored on resume.

TRL's checkpoints (``Trainer._save_checkpoint``) hold the policy, its optimizer and scheduler, the RNG and the
trainer state, but not the implicit PRM that ``PrimeGRPOTrainer`` trains with its own AdamW. Each checkpoint
folder therefore gets one more file, :data:`PRM_STATE_FILE` (``prime_prm.pt``), written by the main process
(every rank holds the same PRM) just before TRL writes its own files there (so a Hub push of the folder has it):

- ``weights``: the PRM's tensors by name: the PRM model's ``state_dict()`` (a separate ``prm_model``, or the
  copy of the policy), or with ``PrimeConfig(prm_adapter=True)`` the PRM adapter's tensors only (peft's names);
- ``optimizer``: the PRM's AdamW ``state_dict()`` (``exp_avg``, ``exp_avg_sq``, ``step``); None when the PRM does
  not learn (``PrimeConfig(update=False)``) or with TRL's ``save_only_model=True`` (TRL then saves no optimizer
  either);
- ``format``: :data:`FORMAT`.

On resume every process reads the file after TRL has restored the policy and its optimizer; the weights are copied into the
live PRM tensors (the PRM's AdamW keeps its parameter references) and the AdamW state loaded. A checkpoint
without the file (a plain ``GRPOTrainer``'s, or one written before this module) gives a warning naming the
folder, and the PRM keeps the weights it has; one without AdamW state, a warning (the weights are restored,
the AdamW starts afresh); names or shapes that differ from the current PRM's raise a
``ConfigError`` naming the checkpoint and the first difference.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import torch

from prime_fast.errors import ConfigError

__all__ = ["FORMAT", "PRM_STATE_FILE", "load_prm_state", "save_prm_state"]

PRM_STATE_FILE = "prime_prm.pt"
FORMAT = 1


def save_prm_state(
    folder: str, weights: Mapping[str, torch.Tensor], optimizer: torch.optim.Optimizer | None
) -> str:
    """Write the PRM's ``weights`` and its ``optimizer``'s state to ``folder/prime_prm.pt``; returns the path."""
    state = {
        "format": FORMAT,
        "weights": {name: t.detach() for name, t in weights.items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
    }
    path = os.path.join(folder, PRM_STATE_FILE)
    torch.save(state, path)
    return path


def load_prm_state(
    folder: str, weights: Mapping[str, torch.Tensor], optimizer: torch.optim.Optimizer | None
) -> bool:
    """Restore the PRM from ``folder/prime_prm.pt`` into the live tensors ``weights`` (copied in place) and its
    ``optimizer``; returns False, with a warning, when the checkpoint has no PRM state (and warns when it has
    the weights but no AdamW state while ``optimizer`` is not None).

    Raises:
        ConfigError: the file's tensor names or shapes (weights or AdamW state) differ from the current PRM's,
            or it is not a PRM state this version can read.
    """
    path = os.path.join(folder, PRM_STATE_FILE)
    if not os.path.isfile(path):
        warnings.warn(
            f"PrimeGRPOTrainer: the checkpoint {folder} has no PRM state ({PRM_STATE_FILE}; written by a plain "
            "GRPOTrainer or an older prime-fast): the implicit PRM keeps the weights it has now (its initial "
            "weights, or with prm_adapter those transformers loaded into the PRM adapter) and its AdamW starts "
            "from scratch",
            UserWarning,
            stacklevel=2,
        )
        return False
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ConfigError(f"{path}: not a PrimeGRPOTrainer PRM state of format {FORMAT} (found {found!r})")
    saved, saved_optimizer = state["weights"], state["optimizer"]
    _check_weights(path, saved, weights)
    if optimizer is not None and saved_optimizer is not None:
        _check_optimizer(path, saved_optimizer, optimizer)
    with torch.no_grad():
        for name, live in weights.items():
            live.copy_(saved[name])
    if optimizer is None:
        return True
    if saved_optimizer is None:
        warnings.warn(
            f"PrimeGRPOTrainer: {path} holds the PRM's weights without its AdamW state (saved with "
            "save_only_model=True, or by a PRM that did not learn, PrimeConfig(update=False)): the PRM's weights "
            "are restored, its AdamW starts from scratch",
            UserWarning,
            stacklevel=2,
        )
    else:
        optimizer.load_state_dict(saved_optimizer)
    return True


def _check_weights(path: str, saved: Mapping[str, torch.Tensor], live: Mapping[str, torch.Tensor]) -> None:
    """ConfigError naming the first tensor missing from either side or of another shape."""
    for name, t in live.items():
        if name not in saved:
            raise ConfigError(
                f"{path}: the saved PRM has no tensor {name!r} that the current PRM has (saved: "
                f"{_some(saved)}); resume with the PRM this checkpoint was written with"
            )
        if tuple(saved[name].shape) != tuple(t.shape):
            raise ConfigError(
                f"{path}: PRM tensor {name!r} was saved with shape {tuple(saved[name].shape)}, the current PRM's "
                f"is {tuple(t.shape)}"
            )
    extra = [name for name in saved if name not in live]
    if extra:
        raise ConfigError(
            f"{path}: the saved PRM has tensor {extra[0]!r} that the current PRM does not have (current: "
            f"{_some(live)}); resume with the PRM this checkpoint was written with"
        )


def _check_optimizer(path: str, saved: dict[str, Any], optimizer: torch.optim.Optimizer) -> None:
    """ConfigError when the saved AdamW state does not fit ``optimizer``'s parameters (count and shapes)."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    ids = [i for group in saved["param_groups"] for i in group["params"]]
    if len(ids) != len(params) or len(saved["param_groups"]) != len(optimizer.param_groups):
        raise ConfigError(
            f"{path}: the saved PRM optimizer holds {len(ids)} parameters in {len(saved['param_groups'])} "
            f"groups, the current one {len(params)} in {len(optimizer.param_groups)}"
        )
    for index, param in zip(ids, params, strict=True):
        for key, value in saved["state"].get(index, {}).items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != param.shape:
                raise ConfigError(
                    f"{path}: the saved PRM optimizer's {key} of parameter {index} has shape "
                    f"{tuple(value.shape)}, the current parameter's is {tuple(param.shape)}"
                )


def _some(names: Mapping[str, Any]) -> str:
    shown = list(names)[:3]
    return ", ".join(repr(n) for n in shown) + (f", ... ({len(names)} in all)" if len(names) > 3 else "")
