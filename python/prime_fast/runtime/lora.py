"""LoRA on one shared frozen base: the policy and the implicit PRM are two ``peft`` adapters, the PRM
reference is the base with the adapters switched off (``model.lora``; docs/TRAINER.md, "LoRA").

:class:`SharedBase` injects the adapters into one HF causal LM (in place) and hands out
:class:`AdapterView` objects, module-like stand-ins for the three models of a PRIME run. Every entry
point of a view (``__call__``, ``generate``, ``get_decoder``, ``get_output_embeddings``) first
switches the shared layers to the view's adapter (the reference view: adapters off), so the
trainer's code paths (``response_logprobs``, ``batched_logprobs``, HF ``generate``, optimizers over
``view.parameters()``) run unchanged. The switch is sticky (the last view used stays active);
autograd is unaffected because a forward's graph holds the adapter tensors it used, and under
gradient checkpointing the recomputation in the backward re-activates the adapter of its forward.

Only adapter parameters require gradients: a view's ``parameters()`` are the frozen base's plus its
own adapter's, so an optimizer built from it holds state for that adapter only. ``save_pretrained``
/ ``state_dict`` / ``load_state_dict`` of a view are its adapter's (peft's adapter directory and key
names), so checkpoints hold adapters only. :class:`MergedAdapterSync` gives an engine that loads
plain HF weights (vLLM, or the unsharded HF replica under FSDP) the merged policy
``W + (alpha / r) * B @ A`` under the base's names.

Under ``torchrun`` the execution context shards the one base with FSDP2 (:meth:`SharedBase.prepare`):
frozen base weights and trainable adapters are sharded alike, only the adapters get gradients (FSDP2
reduce-scatters only parameters that have one) and optimizer state, and every view follows the
sharded parameters.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from prime_fast.errors import ConfigError
from prime_fast.runtime.models import enable_activation_checkpointing, peft_wrapping
from prime_fast.runtime.settings import LORA_ALL_LINEAR, LoraSettings

POLICY = "policy"
PRM = "prm"
ADAPTER_FILE = "adapter_model.safetensors"
# ``<layer>.lora_A.<adapter>.weight`` / ``lora_B``: a linear adapter's factors; any ``.lora_*.`` name
# is some adapter's tensor.
LORA_FACTOR = re.compile(r"^(.*)\.lora_([AB])\.([^.]+)\.weight$")
LORA_TENSOR = re.compile(r"\.lora_[A-Za-z_]+\.")


def linear_layer_names(model: Any) -> list[str]:
    """Sorted leaf names of the model's ``nn.Linear`` layers, the LM head excluded (what
    ``model.lora.target_modules`` may name)."""
    head = model.get_output_embeddings()
    names = {
        name.rsplit(".", 1)[-1]
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and m is not head
    }
    return sorted(names)


def resolve_targets(model: Any, settings: LoraSettings) -> list[str]:
    """The layer names that get adapters; ConfigError naming ``model.lora.target_modules`` for a name
    the model does not have."""
    have = linear_layer_names(model)
    if tuple(settings.target_modules) == (LORA_ALL_LINEAR,):
        return have
    unknown = [t for t in settings.target_modules if t not in have]
    if unknown:
        raise ConfigError(
            f"model.lora.target_modules: {', '.join(map(repr, unknown))} not in the model "
            f"({type(model).__name__}); its linear layers are {', '.join(have)}; valid values: any of "
            f"those, or {LORA_ALL_LINEAR!r} alone"
        )
    return list(settings.target_modules)


class SharedBase:
    """One frozen HF causal LM carrying named LoRA adapters (``peft``), switched per view.

    Args:
        model: the base model (adapters are injected into it in place; its own weights are frozen).
        settings: the ``model.lora`` section (``rank > 0``).
        adapters: adapter names (``("policy", "prm")``; ``("policy",)`` without a PRM or in a
            self-PRM setup, where the policy is scored against the reference view).
        base_path: the base's model directory, recorded in the saved adapters (for export).
        gradient_checkpointing: recompute activations in the backward (adapter-aware).
    """

    def __init__(
        self,
        model: Any,
        settings: LoraSettings,
        adapters: tuple[str, ...] = (POLICY, PRM),
        *,
        base_path: str | None = None,
        gradient_checkpointing: bool = False,
    ) -> None:
        import peft

        if not settings.enabled:
            raise ConfigError("model.lora.rank: expected > 0 to build LoRA adapters, got 0")
        if not adapters or len(set(adapters)) != len(adapters):
            raise ValueError(f"adapters: expected distinct names, got {adapters!r}")
        model.requires_grad_(False)
        if base_path:  # peft records the model's own name_or_path (relative if loaded so) for export
            model.name_or_path = str(Path(base_path).resolve())
        lc = peft.LoraConfig(
            r=settings.rank,
            lora_alpha=settings.alpha,  # type: ignore[arg-type]  # peft scales by alpha / r, floats work
            lora_dropout=settings.dropout,
            target_modules=resolve_targets(model, settings),
            bias="none",
            task_type="CAUSAL_LM",
            base_model_name_or_path=str(Path(base_path).resolve()) if base_path else None,
        )
        with peft_wrapping():
            self.peft = peft.get_peft_model(model, lc, adapter_name=adapters[0])
        for name in adapters[1:]:
            self.peft.add_adapter(name, lc)
        self.model = model
        self.adapters = adapters
        self.prepared = False
        self.layer_by_name: dict[str, Any] = {
            name: m for name, m in model.named_modules() if isinstance(m, peft.tuners.lora.LoraLayer)
        }
        self.layers = list(self.layer_by_name.values())
        self._collect_parameters()
        self.active: str | None = None
        self.activate(adapters[0])
        if gradient_checkpointing:
            enable_activation_checkpointing(
                model, {"use_reentrant": False, "context_fn": self._checkpoint_contexts}
            )
            model.config.use_cache = False

    def _collect_parameters(self) -> None:
        """Index each adapter's parameters (again after sharding: FSDP2 registers new ones)."""
        self._own: dict[str, list[tuple[str, torch.nn.Parameter]]] = {a: [] for a in self.adapters}
        names = "|".join(map(re.escape, self.adapters))
        pattern = re.compile(r"\.lora_[A-Za-z_]+\.(" + names + r")(\.|$)")
        for pname, p in self.model.named_parameters():
            m = pattern.search(pname)
            if m:
                self._own[m.group(1)].append((pname, p))
        self._adapter_ids = {id(p) for ps in self._own.values() for _, p in ps}

    def prepare(self, place: Callable[[Any], Any]) -> None:
        """Place (and shard) the base once, however many views ask: ``place(model)`` moves or wraps
        the model in place (FSDP2's ``fully_shard``), then the adapters' parameters are indexed
        anew and made trainable."""
        if self.prepared:
            return
        self.model = place(self.model)
        self._collect_parameters()
        self.activate(self.active if self.active is not None else self.adapters[0])
        self.prepared = True

    # ------------------------------------------------------------------ switching
    def activate(self, adapter: str | None) -> None:
        """Route every LoRA layer through ``adapter`` (None: adapters off, the plain base).

        peft's switches also flip ``requires_grad``; every adapter's parameters are made trainable
        again right after, so optimizers and views keep their parameter sets.
        """
        if adapter is not None and adapter not in self.adapters:
            raise ValueError(f"unknown adapter {adapter!r}; this base has {', '.join(self.adapters)}")
        for layer in self.layers:
            if adapter is None:
                layer.enable_adapters(False)
            else:
                layer.enable_adapters(True)
                layer.set_adapter(adapter)
        for params in self._own.values():
            for _, p in params:
                p.requires_grad_(True)
        self.active = adapter

    @contextlib.contextmanager
    def using(self, adapter: str | None) -> Iterator[None]:
        """Activate ``adapter`` for a block, then restore the previous one."""
        before = self.active
        self.activate(adapter)
        try:
            yield
        finally:
            self.activate(before)

    def _checkpoint_contexts(self) -> tuple[Any, Any]:
        """``torch.utils.checkpoint`` context_fn: the recomputation runs with the forward's adapter."""
        return contextlib.nullcontext(), self.using(self.active)

    # ------------------------------------------------------------------ views and parameters
    def view(self, adapter: str) -> AdapterView:
        """The module-like view of one adapter (the policy or the PRM)."""
        if adapter not in self.adapters:
            raise ValueError(f"unknown adapter {adapter!r}; this base has {', '.join(self.adapters)}")
        return AdapterView(self, adapter)

    def reference(self) -> AdapterView:
        """The base with the adapters off (PRIME's frozen reference / SFT model)."""
        return AdapterView(self, None)

    def named_parameters(self, adapter: str | None) -> Iterator[tuple[str, torch.nn.Parameter]]:
        """The base's (frozen) parameters and ``adapter``'s, under the HF model's names."""
        mine = {id(p) for _, p in self._own.get(adapter or "", [])}
        for name, p in self.model.named_parameters():
            if id(p) not in self._adapter_ids or id(p) in mine:
                yield name, p

    def adapter_parameters(self, adapter: str) -> list[tuple[str, torch.nn.Parameter]]:
        """Only ``adapter``'s parameters (the trainable ones)."""
        return list(self._own[adapter])

    # ------------------------------------------------------------------ adapter state
    def adapter_state(self, adapter: str) -> dict[str, torch.Tensor]:
        """``adapter``'s weights under peft's saved names (adapter name stripped)."""
        from peft import get_peft_model_state_dict

        return {k: v.detach() for k, v in get_peft_model_state_dict(self.peft, adapter_name=adapter).items()}

    def load_adapter_state(
        self, adapter: str, state: dict[str, torch.Tensor], *, strict: bool = True
    ) -> tuple[list[str], list[str]]:
        """Copy saved weights into ``adapter`` in place (optimizers keep their parameters).

        Returns ``(missing, unexpected)`` in peft's saved names; ``strict`` raises on either.
        """
        from peft import set_peft_model_state_dict

        expected = set(self.adapter_state(adapter))
        missing = sorted(expected - set(state))
        unexpected = sorted(set(state) - expected)
        if strict and (missing or unexpected):
            raise ConfigError(
                f"adapter {adapter!r}: saved weights do not match (missing {missing[:5]}, "
                f"unexpected {unexpected[:5]})"
            )
        known = {k: v for k, v in state.items() if k in expected}
        set_peft_model_state_dict(self.peft, known, adapter_name=adapter)
        return missing, unexpected

    def save_adapter(
        self, adapter: str, directory: str | Path, state: dict[str, torch.Tensor] | None = None
    ) -> None:
        """A peft adapter directory (``adapter_config.json`` + ``adapter_model.safetensors``).

        Args:
            state: the adapter's full weights (default: :meth:`adapter_state`; under FSDP2 pass the
                gathered tensors, as the checkpoint writer does).
        """
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.peft.peft_config[adapter].save_pretrained(str(out))
        src = self.adapter_state(adapter) if state is None else state
        state = {k: v.contiguous() for k, v in src.items()}
        save_file(state, str(out / ADAPTER_FILE), metadata={"format": "pt"})

    # ------------------------------------------------------------------ merged weights
    def merged_named_weights(
        self, adapter: str, named: Iterable[tuple[str, torch.Tensor]] | None = None
    ) -> Iterator[tuple[str, torch.Tensor]]:
        """The base's tensors with ``adapter`` merged (``W + scale * B @ A``), under the base model's
        own names (``...q_proj.weight``), one target layer at a time.

        The merge is computed from the tensors of ``named`` themselves, so a stream of gathered full
        tensors (FSDP2: :func:`~prime_fast.trainer.distributed.full_named_parameters`) merges
        like local ones; a layer's base weight waits until its ``lora_A``/``lora_B`` arrive.

        Args:
            named: this base's named parameters with ``adapter``'s tensors among them (default:
                the view's own, :meth:`named_parameters`); other adapters' tensors are skipped,
                LoRA-wrapped base tensors (``<layer>.base_layer.<p>``) are renamed to ``<layer>.<p>``.
        """
        pending: dict[str, dict[str, torch.Tensor]] = {}
        for name, t in named if named is not None else self.named_parameters(adapter):
            m = LORA_FACTOR.match(name)
            if m is None and LORA_TENSOR.search(name):
                continue  # another adapter's parameter (embedding/magnitude kinds are not built here)
            if m is not None:
                if m.group(3) != adapter:
                    continue
                layer_name, part = m.group(1), m.group(2)
            elif ".base_layer." in name:
                layer_name, leaf = name.rsplit(".base_layer.", 1)
                if leaf != "weight":
                    yield f"{layer_name}.{leaf}", t
                    continue
                part = "W"
            else:
                yield name, t
                continue
            parts = pending.setdefault(layer_name, {})
            parts[part] = t.detach()
            if len(parts) == 3:
                del pending[layer_name]
                yield f"{layer_name}.weight", self._merge(layer_name, adapter, parts)
        if pending:
            raise ValueError(
                f"merged_named_weights: incomplete LoRA layers {sorted(pending)[:3]} (each needs its "
                f"base_layer.weight and {adapter!r}'s lora_A and lora_B)"
            )

    def _merge(self, layer_name: str, adapter: str, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """``W + scaling * B @ A`` (transposed for fan-in-fan-out layers), in W's dtype."""
        layer = self.layer_by_name[layer_name]
        w, a, b = parts["W"], parts["A"], parts["B"]
        with torch.no_grad():
            delta = (b.float() @ a.float()) * float(layer.scaling[adapter])
            if getattr(layer, "fan_in_fan_out", False):
                delta = delta.T
            return (w.float() + delta).to(w.dtype)


class AdapterView:
    """A module-like view of a :class:`SharedBase` with one adapter active (None: the reference).

    Stands in for a separate model wherever the trainer uses one: forwards and ``generate`` run
    with this view's adapter, ``parameters()`` are the base's (frozen) and this adapter's,
    ``save_pretrained`` / ``state_dict`` / ``load_state_dict`` are the adapter's. Other attributes
    (``config``, ``name_or_path``, ``device`` ...) are the base model's.
    """

    def __init__(self, shared: SharedBase, adapter: str | None) -> None:
        self.shared = shared
        self.adapter = adapter

    def __repr__(self) -> str:
        what = f"adapter {self.adapter!r}" if self.adapter else "adapters off (reference)"
        return f"AdapterView({what} on {type(self.shared.model).__name__})"

    def _on(self) -> Any:
        self.shared.activate(self.adapter)
        return self.shared.model

    # forward entry points: each activates the view's adapter
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The base model's forward with this view's adapter."""
        return self._on()(*args, **kwargs)

    forward = __call__

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        """HF ``generate`` with this view's adapter."""
        return self._on().generate(*args, **kwargs)

    def get_decoder(self) -> Any:
        """The decoder, with this view's adapter active for the forward that follows."""
        return self._on().get_decoder()

    def get_output_embeddings(self) -> Any:
        """The (shared, frozen) LM head."""
        return self._on().get_output_embeddings()

    @property
    def prime_fast_logprobs(self) -> Callable[..., Any]:
        """The sharded base's registered log-prob forward (FSDPContext), run with this view's
        adapter; AttributeError on an unsharded base (the plain forward is used then)."""
        forward = getattr(self.shared.model, "prime_fast_logprobs", None)
        if forward is None:
            raise AttributeError("prime_fast_logprobs")

        def run(*args: Any) -> Any:
            self._on()
            return forward(*args)

        return run

    # nn.Module-like surface
    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]:
        """The frozen base's parameters and this view's adapter's (trainable) ones."""
        for _, p in self.named_parameters():
            yield p

    def named_parameters(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, torch.nn.Parameter]]:
        """:meth:`parameters` with the HF model's names (adapter tensors named ``...lora_A.<adapter>...``)."""
        return self.shared.named_parameters(self.adapter)

    def to(self, *args: Any, **kwargs: Any) -> AdapterView:
        """Move the shared base (and every adapter)."""
        self.shared.model.to(*args, **kwargs)
        return self

    def train(self, mode: bool = True) -> AdapterView:
        """Train/eval mode of the shared base (LoRA dropout is the only mode-dependent part)."""
        self.shared.model.train(mode)
        return self

    def eval(self) -> AdapterView:
        """Eval mode of the shared base."""
        return self.train(False)

    @property
    def training(self) -> bool:
        """Whether the shared base is in train mode."""
        return bool(self.shared.model.training)

    def _need_adapter(self, what: str) -> str:
        if self.adapter is None:
            raise ValueError(f"{what}: the reference view has no adapter (it is the frozen base)")
        return self.adapter

    def state_dict(self) -> dict[str, torch.Tensor]:
        """This view's adapter weights (peft's saved names)."""
        return self.shared.adapter_state(self._need_adapter("state_dict"))

    def load_state_dict(
        self, state: dict[str, torch.Tensor], strict: bool = True
    ) -> tuple[list[str], list[str]]:
        """Load adapter weights in place; returns ``(missing, unexpected)`` like ``nn.Module``."""
        return self.shared.load_adapter_state(self._need_adapter("load_state_dict"), state, strict=strict)

    def save_pretrained(
        self, directory: str | Path, state_dict: dict[str, torch.Tensor] | None = None, **_: Any
    ) -> None:
        """Write this view's adapter as a peft adapter directory (adapters only, no base weights);
        ``state_dict``: its full weights, if not this process's own tensors (FSDP2)."""
        self.shared.save_adapter(self._need_adapter("save_pretrained"), directory, state_dict)

    def merged_named_weights(
        self, named: Iterable[tuple[str, torch.Tensor]] | None = None
    ) -> Iterator[tuple[str, torch.Tensor]]:
        """The merged model's weights under the base's names (see :meth:`SharedBase.merged_named_weights`)."""
        return self.shared.merged_named_weights(self._need_adapter("merged_named_weights"), named)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not defined here: the base model's (config, name_or_path, ...).
        if name in ("shared", "adapter", "prime_fast_logprobs"):
            raise AttributeError(name)
        return getattr(self.shared.model, name)


def is_adapter_view(model: Any) -> bool:
    """Whether ``model`` is a LoRA :class:`AdapterView`."""
    return isinstance(model, AdapterView)


class MergedAdapterSync:
    """A rollout engine that loads plain HF weights (vLLM), fed from a LoRA policy view.

    :meth:`sync_weights` takes the policy view's ``named_parameters()`` (what the trainer sends)
    and passes on the merged weights ``W + (alpha / r) * B @ A`` under the base model's names, one
    layer at a time; everything else is the engine's.
    """

    def __init__(self, engine: Any, policy: AdapterView) -> None:
        self.engine = engine
        self.policy = policy

    def sync_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Merge the policy adapter into the given base tensors and load them into the engine."""
        self.engine.sync_weights(self.policy.merged_named_weights(named_tensors))

    def __getattr__(self, name: str) -> Any:
        if name in ("engine", "policy"):
            raise AttributeError(name)
        return getattr(self.engine, name)


def wrap_rollout_engine(engine: Any, policy: Any) -> Any:
    """``engine`` itself, or a :class:`MergedAdapterSync` around it when ``policy`` is a LoRA view."""
    return MergedAdapterSync(engine, policy) if is_adapter_view(policy) else engine


def build_lora_views(
    model: Any,
    settings: LoraSettings,
    *,
    with_prm: bool,
    with_ref: bool,
    base_path: str | None = None,
    gradient_checkpointing: bool = False,
) -> tuple[AdapterView, AdapterView | None, AdapterView | None]:
    """``(policy, prm, ref)`` views of one shared base (``prm``/``ref`` None when not asked for).

    The base is placed (and, under ``torchrun``, FSDP2-sharded) by the execution context's
    ``prepare_model`` on the first view it gets (:meth:`SharedBase.prepare`)."""
    adapters = (POLICY, PRM) if with_prm else (POLICY,)
    shared = SharedBase(
        model, settings, adapters, base_path=base_path, gradient_checkpointing=gradient_checkpointing
    )
    prm = shared.view(PRM) if with_prm else None
    ref = shared.reference() if with_ref else None
    return shared.view(POLICY), prm, ref
