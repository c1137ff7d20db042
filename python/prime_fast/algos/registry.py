"""Name -> function registries for advantage estimators, policy losses and PRM losses.

Names are what configs use (``algo.estimator = "prime"``, ``algo.policy_loss``, ``prm.loss``); each
registry is typed by the call form its functions share (advantage estimators:
:class:`~prime_fast.algos.estimator.AdvantageEstimator`). Unknown names raise
:class:`~prime_fast.errors.ConfigError` listing the valid ones; registering a taken name raises too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from prime_fast.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


class Registry(Generic[F]):
    """A named set of callables of one call form ``F`` with strict registration and lookup."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, F] = {}

    def register(self, name: str, fn: F) -> F:
        """Add ``fn`` under ``name``; raises ConfigError if the name is taken or not a string."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{self.kind} names must be non-empty strings, got {name!r}")
        if name in self._items:
            raise ConfigError(f"{self.kind} {name!r} is already registered")
        if not callable(fn):
            raise ConfigError(f"{self.kind} {name!r} must be callable, got {type(fn).__name__}")
        self._items[name] = fn
        return fn

    def get(self, name: str) -> F:
        """The function registered as ``name``; ConfigError listing the valid names otherwise."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ConfigError(
                f"unknown {self.kind} {name!r}; valid names: {', '.join(sorted(self._items))}"
            ) from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, name: str) -> F:
        return self.get(name)
