"""The implicit PRM as a second LoRA adapter on the TRL policy's own ``PeftModel`` (one set of base weights).

When TRL trains the policy with LoRA (``GRPOTrainer(peft_config=...)``, so the trainer's model is a
``peft.PeftModel`` with one adapter, ``"default"``), :class:`PolicyAdapterPRM` adds a second adapter, ``"prm"``,
to the same ``PeftModel``: the same frozen base tensors serve the policy, the PRM and the PRM's reference, as in
prime-fast's own trainer (docs/TRAINER.md, "LoRA"; :mod:`prime_fast.runtime.lora`):

- the PRM adapter gets the policy adapter's ``LoraConfig`` (rank, alpha, dropout, target modules) and peft's
  initialisation (``B = 0``), so at the start the PRM equals the base model, the SFT model PRIME starts from;
- PRM log-probs run with the ``"prm"`` adapter active, the PRM's reference with every adapter disabled (the base);
- only the PRM adapter's parameters go to the PRM's AdamW, and they require gradients only inside
  :meth:`PolicyAdapterPRM.using` ``("prm")``: outside it they are frozen, so TRL's optimizer (built by
  ``Trainer.create_optimizer`` over the parameters that require gradients) and DDP (which registers the
  parameters that require gradients when it wraps the model) see the policy adapter only.

peft's ``set_adapter`` and ``disable_adapter`` flip ``requires_grad`` (the active adapter trainable, the others
frozen); :meth:`PolicyAdapterPRM.using` records every parameter's flag and the active adapter and restores both
on exit, exceptions included.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Iterator
from typing import Any

import torch

from prime_fast.errors import ConfigError
from prime_fast.runtime.lora import PRM

__all__ = ["PRM", "PolicyAdapterPRM", "is_peft_model"]


def is_peft_model(model: Any) -> bool:
    """Whether ``model`` is a ``peft.PeftModel`` (False when peft is not installed)."""
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


class PolicyAdapterPRM:
    """The implicit PRM as LoRA adapter ``name`` on the policy's ``PeftModel`` (module docstring).

    Args:
        peft_model: the policy, a ``peft.PeftModel`` whose active adapter is the policy's (TRL's ``"default"``).
        name: the PRM adapter's name; it must not exist yet.

    Attributes:
        peft_model: the shared ``PeftModel``.
        policy_adapter: the policy adapter's name (the active adapter when built; restored after each use).
        adapter: the PRM adapter's name.
    """

    def __init__(self, peft_model: Any, name: str = PRM) -> None:
        if not is_peft_model(peft_model):
            raise ConfigError(
                f"PrimeConfig.prm_adapter needs the policy to be a peft.PeftModel, got {type(peft_model).__name__}"
            )
        policy = peft_model.active_adapter
        if not isinstance(policy, str):
            raise ConfigError(
                f"PrimeConfig.prm_adapter: the policy must have one active adapter, it has {policy!r}"
            )
        if name in peft_model.peft_config:
            raise ConfigError(
                f"PrimeConfig.prm_adapter_name: the policy already has an adapter named {name!r} "
                f"(adapters: {', '.join(peft_model.peft_config)}); pick another name"
            )
        config = copy.deepcopy(peft_model.peft_config[policy])
        config.inference_mode = False
        self.peft_model = peft_model
        self.policy_adapter = policy
        self.adapter = name
        with self._restoring():
            peft_model.add_adapter(name, config)
        own = re.compile(r"\." + re.escape(name) + r"(\.|$)")
        self._params = [(n, p) for n, p in peft_model.named_parameters() if own.search(n)]
        if not self._params:
            raise ConfigError(f"PrimeConfig.prm_adapter: peft added no parameters for adapter {name!r}")
        for _, p in self._params:
            p.requires_grad_(False)  # trainable only inside using(adapter)

    def named_parameters(self) -> Iterator[tuple[str, torch.nn.Parameter]]:
        """The PRM adapter's parameters (peft's names, e.g. ``...q_proj.lora_A.prm.weight``)."""
        return iter(self._params)

    def parameters(self) -> Iterator[torch.nn.Parameter]:
        """The PRM adapter's parameters: what the PRM's optimizer holds."""
        return (p for _, p in self._params)

    @contextlib.contextmanager
    def _restoring(self) -> Iterator[None]:
        """Restore the active adapter and every parameter's ``requires_grad`` after the block."""
        flags = [(p, p.requires_grad) for p in self.peft_model.parameters()]
        try:
            yield
        finally:
            self.peft_model.set_adapter(self.policy_adapter)
            for p, flag in flags:
                p.requires_grad_(flag)

    @contextlib.contextmanager
    def using(self, adapter: str | None) -> Iterator[Any]:
        """Run a block on the shared ``PeftModel`` with ``adapter`` active (None: every adapter disabled, the
        PRM's reference); yields the ``PeftModel``. Inside ``using(self.adapter)`` only the PRM adapter requires
        gradients; on exit the policy adapter is active again and every ``requires_grad`` flag is as before."""
        with self._restoring():
            if adapter is None:
                with self.peft_model.disable_adapter():
                    yield self.peft_model
            else:
                self.peft_model.set_adapter(adapter)  # peft: this adapter trainable, the others frozen
                yield self.peft_model

    def broadcast_from_first_process(self) -> None:
        """Give every process rank 0's PRM adapter (its random ``lora_A`` initialisation)."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            with torch.no_grad():
                for _, p in self._params:
                    dist.broadcast(p.data, src=0)

    def __repr__(self) -> str:
        n = sum(p.numel() for _, p in self._params)
        return (
            f"PolicyAdapterPRM(adapter {self.adapter!r} beside {self.policy_adapter!r} on "
            f"{type(self.peft_model.get_base_model()).__name__}, {n} parameters)"
        )
