"""verl integration: ``compute_score`` for verl's reward managers and ``install()`` for its workers.

- :func:`compute_score` (``custom_reward_function.path=<this file>``, ``custom_reward_function.name=compute_score``):
  verl's ``compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> float``, a
  picklable top-level function (verl's ``prime`` reward manager ships it to a process pool). Rows of verl's
  code data sources (``codecontests``, ``apps``, ``codeforces``, ``taco``, and any source naming code) run in
  prime-fast's sandbox, all others are math, as in verl's default scorer; ``extra_info["ability"]`` overrides.
  Called with the ``batch`` reward manager's plural keywords (``data_sources``, ``solution_strs``,
  ``ground_truths``, ``extra_infos``) it scores the whole batch in one verifier call and returns a list.
- :func:`install`: a Ray ``worker_process_setup_hook`` (``ray_kwargs.ray_init.runtime_env.worker_process_setup_hook=
  prime_fast.integrations.verl.install``) that points verl's fused linear-cross-entropy hook (used with
  ``actor_rollout_ref.model.use_fused_kernels=True`` and ``fused_kernels_backend=triton``) at
  :func:`prime_fast.ops.linear_token_logprobs`, and the PRIME recipe's advantage and PRM loss at
  :mod:`prime_fast.algos` (:mod:`prime_fast.integrations.verl_patches`). Modules imported later are patched
  when they are imported.

Importing this module imports neither verl nor torch.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import logging
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from prime_fast.integrations.rows import score_texts

log = logging.getLogger(__name__)

__all__ = ["CODE_SOURCES", "PATCHES", "compute_score", "install", "installed"]

#: Data sources scored as code (verl's default scorer's list, plus any source containing one of these).
CODE_SOURCES = ("codecontests", "apps", "codeforces", "taco", "code", "leetcode", "livecodebench")

#: ``module -> {attribute: replacement}``: what :func:`install` patches (``{recipe}`` is the recipe package).
PATCHES: dict[str, dict[str, str]] = {
    "verl.utils.kernel.linear_cross_entropy": {"linear_cross_entropy": "linear_cross_entropy"},
    "{recipe}.prime_core_algos": {
        "compute_rloo_advantage_return": "compute_rloo_advantage_return",
        "compute_ce_dpo_loss_rm": "compute_ce_dpo_loss_rm",
    },
    # prime_dp_rm binds the loss by name at import (``from .prime_core_algos import compute_ce_dpo_loss_rm``)
    "{recipe}.prime_dp_rm": {"compute_ce_dpo_loss_rm": "compute_ce_dpo_loss_rm"},
}


def _ability(data_source: Any, extra_info: Any) -> str:
    if isinstance(extra_info, dict) and extra_info.get("ability"):
        a = str(extra_info["ability"]).lower()
        return "code" if a in ("code", "coding") else "math"
    src = str(data_source or "").lower()
    return "code" if any(s in src for s in CODE_SOURCES) else "math"


def _score_many(
    data_sources: Sequence[Any], solutions: Sequence[str], ground_truths: Sequence[Any], extras: Sequence[Any]
) -> list[float]:
    kinds = [_ability(s, e) for s, e in zip(data_sources, extras, strict=True)]
    out = [0.0] * len(solutions)
    for kind in ("math", "code"):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        scores = score_texts(
            [solutions[i] for i in idx], [ground_truths[i] for i in idx], kind, error_score=0.0
        )
        for i, s in zip(idx, scores, strict=True):
            out[i] = float(s or 0.0)
    return out


def compute_score(
    data_source: Any = None,
    solution_str: str | None = None,
    ground_truth: Any = None,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> float | list[float]:
    """verl's ``compute_score``: the outcome reward of one response (0.0 when the reference is unreadable).

    With ``data_sources=``, ``solution_strs=``, ``ground_truths=`` (and optionally ``extra_infos=``), as verl's
    ``batch`` reward manager calls it: one reward per row, in one batched verifier call. Other keywords verl
    passes (``sandbox_fusion_url``, ``memory_limit_mb``, ...) are accepted and ignored: code always runs in
    prime-fast's sandbox.
    """
    if "solution_strs" in kwargs:
        sols = list(kwargs["solution_strs"])
        n = len(sols)
        sources = list(kwargs.get("data_sources", [None] * n))
        golds = list(kwargs.get("ground_truths", [None] * n))
        extras = kwargs.get("extra_infos")
        extras = [None] * n if extras is None else list(extras)
        return _score_many(sources, sols, golds, extras)
    if not isinstance(solution_str, str):
        raise TypeError(f"compute_score: solution_str must be a str, got {type(solution_str).__name__}")
    return _score_many([data_source], [solution_str], [ground_truth], [extra_info])[0]


_installed: dict[str, str] = {}


def _patch(module: ModuleType, names: dict[str, str]) -> None:
    from prime_fast.integrations import verl_patches

    for attr, repl in names.items():
        setattr(module, attr, getattr(verl_patches, repl))
        _installed[f"{module.__name__}.{attr}"] = f"prime_fast.integrations.verl_patches.{repl}"


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the real loader of a watched module so the patch runs after it executes."""

    def __init__(self, targets: dict[str, dict[str, str]]) -> None:
        self.targets = targets

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        names = self.targets.get(fullname)
        if names is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader, names)
                return spec
        return None


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, inner: Any, names: dict[str, str]) -> None:
        self.inner = inner
        self.names = names

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        _patch(module, self.names)


def install(recipe: str = "recipe.prime") -> dict[str, str]:
    """Point verl's fused log-prob hook and the PRIME recipe at prime-fast (module docstring).

    Usable as a Ray ``worker_process_setup_hook`` (called with no argument in each worker process). Modules
    already imported are patched now, the others when they are imported. Idempotent.

    Args:
        recipe: the package of the PRIME recipe (``recipe.prime`` when verl-recipe is checked out as verl's
            ``recipe/`` folder).

    Returns:
        ``{patched attribute: replacement}`` so far (see :func:`installed`).
    """
    targets = {mod.format(recipe=recipe): names for mod, names in PATCHES.items()}
    pending: dict[str, dict[str, str]] = {}
    for mod, names in targets.items():
        if mod in sys.modules:
            _patch(sys.modules[mod], names)
        else:
            pending[mod] = names
    if pending and not any(isinstance(f, _PatchAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchAfterImport(pending))
    elif pending:
        for f in sys.meta_path:
            if isinstance(f, _PatchAfterImport):
                f.targets.update(pending)
    log.info("prime-fast installed into verl: %s", sorted(targets))
    return dict(_installed)


def installed() -> dict[str, str]:
    """What :func:`install` has patched in this process so far (``{attribute: replacement}``)."""
    return dict(_installed)
