"""TRL reward functions backed by prime-fast's verifiers (TRL's reward-function contract).

TRL calls each reward function as ``f(prompts=..., completions=..., completion_ids=..., **columns)``, where
``columns`` holds every other dataset column (one value per completion) plus TRL's own keywords
(``trainer_state``, ``log_extra``, ``log_metric``), and takes back one ``float | None`` per completion
(``None``: not this function's kind of row). Completions are strings, or chat message lists for
conversational datasets.

- :func:`math_reward`: 1.0 when the completion's final answer equals the reference, else 0.0; rows whose
  ``ability`` column says code get ``None``, and so do rows whose reference cannot be read.
- :func:`code_reward`: PRIME's partial credit of the program in the completion against its tests (sandboxed);
  rows whose ``ability`` says math get ``None``.
- :func:`make_math_reward` / :func:`make_code_reward`: the same with the columns named (and a name for TRL's
  logs). The returned objects are picklable.

Every call makes one batched call into the Rust verifiers (never a process per completion): math runs on the
native thread pool with a per-item deadline, code on one pool of sandboxed workers under
:class:`~prime_fast.verify.Limits` (time, memory, processes), so a completion built to hang, a fork bomb or
``os.kill(-1, 9)`` costs at most its budget and never reaches the trainer's process. This module imports
neither TRL nor torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prime_fast.errors import UnsupportedInputError
from prime_fast.integrations.rows import (
    REFERENCE_COLUMNS,
    TESTS_COLUMNS,
    completion_text,
    find_column,
    kind_of,
    per_row,
    reference_of,
    score_texts,
)

__all__ = [
    "VerifierReward",
    "code_reward",
    "make_code_reward",
    "make_math_reward",
    "math_reward",
    "trl_reward",
]

#: TRL's own keywords, never dataset columns.
_TRL_KEYWORDS = frozenset({"trainer_state", "log_extra", "log_metric", "environments"})


@dataclass(frozen=True)
class VerifierReward:
    """A TRL reward function scoring one kind of row (``math`` or ``code``) with prime-fast's verifiers.

    Attributes:
        kind: ``"math"`` or ``"code"``.
        reference: the dataset column holding the reference answer (math) or the tests (code); None reads
            the first present of :data:`~prime_fast.integrations.rows.REFERENCE_COLUMNS` (math) or
            :data:`~prime_fast.integrations.rows.TESTS_COLUMNS` (code).
        ability: the column naming each row's kind; rows of the other kind get ``None``. Without that
            column every row is scored as ``kind``.
        error_score: the reward of a row the verifier cannot judge (unreadable reference, malformed
            tests); None lets TRL ignore the row for this function.
        name: the name TRL logs the reward under (``rewards/<name>/mean``).
    """

    kind: str
    reference: str | None = None
    ability: str = "ability"
    error_score: float | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("math", "code"):
            raise UnsupportedInputError(f"kind must be 'math' or 'code', got {self.kind!r}")
        if not self.name:
            object.__setattr__(self, "name", f"{self.kind}_reward")

    @property
    def __name__(self) -> str:  # TRL names reward functions by ``__name__``
        return self.name

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Any] | None = None,
        **columns: Any,
    ) -> list[float | None]:
        """One reward (or None) per completion; see the module docstring."""
        if completions is None or isinstance(completions, str) or not isinstance(completions, Sequence):
            raise UnsupportedInputError(
                f"{self.name}: completions must be a list (one per row), got {type(completions).__name__}"
            )
        n = len(completions)
        data = {k: v for k, v in columns.items() if k not in _TRL_KEYWORDS}
        candidates = REFERENCE_COLUMNS if self.kind == "math" else TESTS_COLUMNS
        col = find_column(data, self.reference, candidates, self.name)
        refs = [reference_of(r) for r in per_row(data[col], n, col)]
        kinds = [kind_of(a, self.kind) for a in per_row(data.get(self.ability), n, self.ability)]
        mine = [i for i, k in enumerate(kinds) if k == self.kind]
        texts = [completion_text(completions[i], self.name) for i in mine]
        scores = score_texts(texts, [refs[i] for i in mine], self.kind, error_score=self.error_score)
        out: list[float | None] = [None] * n
        for i, s in zip(mine, scores, strict=True):
            out[i] = s
        return out


def make_math_reward(
    reference: str | None = None,
    *,
    ability: str = "ability",
    error_score: float | None = None,
    name: str = "math_reward",
) -> VerifierReward:
    """A math reward function reading the reference from column ``reference`` (see :class:`VerifierReward`)."""
    return VerifierReward("math", reference, ability, error_score, name)


def make_code_reward(
    tests: str | None = None,
    *,
    ability: str = "ability",
    error_score: float | None = None,
    name: str = "code_reward",
) -> VerifierReward:
    """A code reward function reading the tests from column ``tests`` (see :class:`VerifierReward`)."""
    return VerifierReward("code", tests, ability, error_score, name)


#: Math reward with the default columns: ``f(prompts=..., completions=..., ground_truth=[...], ...)``.
math_reward = make_math_reward()
#: Code reward with the default columns: ``f(prompts=..., completions=..., tests=[...], ...)``.
code_reward = make_code_reward()


def trl_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """One TRL reward function for math and code rows together (by the ``ability`` column, default math;
    the first reward adapter of prime-fast, formerly ``prime_fast.verify.rewards.trl_reward``): math rows
    1.0/0.0 (None where the reference cannot be read), code rows PRIME's
    passing fraction; an ability other than math or code raises ``UnsupportedInputError``."""
    if isinstance(completions, str) or not isinstance(completions, Sequence):
        raise UnsupportedInputError(
            f"trl_reward: completions must be a list, got {type(completions).__name__}"
        )
    col = find_column(kwargs, None, REFERENCE_COLUMNS, "trl_reward")
    abilities = per_row(kwargs.get("ability", "math"), len(completions), "ability")
    for a in abilities:
        if not kind_of(a, "math"):
            raise UnsupportedInputError(f"trl_reward: unknown ability {a!r}; expected math, code or coding")
    math = VerifierReward("math", col)(completions=completions, **kwargs)
    if all(kind_of(a, "math") == "math" for a in abilities):
        return math
    code = VerifierReward("code", col)(completions=completions, **kwargs)
    return [m if kind_of(a, "math") == "math" else c for m, c, a in zip(math, code, abilities)]
