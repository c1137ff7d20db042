"""OpenRLHF integration: ``reward_func(queries, prompts, labels)`` for ``--reward.remote_url`` (``--remote_rm_url``).

OpenRLHF loads a Python file given as the remote reward URL (``importlib.util.spec_from_file_location`` under
the name ``reward_func``), takes its top-level ``reward_func`` and calls it as
``reward_func(queries, prompts, labels)``: ``queries`` are the decoded prompt + response texts, ``prompts`` the
prompts, ``labels`` the ``--label_key`` column. It reads back a dict: ``rewards`` (a float tensor, one per
query, used for the advantages), ``scores`` (a tensor in [0, 1], used by dynamic filtering) and ``extra_logs``
(a dict of tensors logged per sample).

This file is such a file itself: pass ``python -c "import prime_fast.integrations.openrlhf as m; print(m.__file__)"``
as the URL (or ``examples/openrlhf_reward_func.py``). A label that is a JSON object of tests
(``{"inputs": [...], "outputs": [...]}``, ``fn_name``, ``test``/``entry_point`` or ``test_list``) is scored as code in
prime-fast's sandbox, any other label as a math reference; all rows of a call go through one batched
verifier call per kind. A row the verifier cannot judge gets 0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from prime_fast.integrations.rows import score_texts

__all__ = ["label_kind", "response_text", "reward_func"]

_TEST_KEYS = ("inputs", "fn_name", "test", "test_list", "input_output")


def label_kind(label: Any) -> str:
    """``"code"`` for a label holding tests (a dict or its JSON string), else ``"math"``."""
    value = label
    if isinstance(label, str) and label.lstrip().startswith("{"):
        try:
            value = json.loads(label)
        except ValueError:
            return "math"
    return "code" if isinstance(value, dict) and any(k in value for k in _TEST_KEYS) else "math"


def response_text(query: str, prompt: str) -> str:
    """The response part of an OpenRLHF query (the prompt + response text): the query without its prompt."""
    if prompt and query.startswith(prompt):
        return query[len(prompt) :]
    return query


def reward_func(
    queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any], **kwargs: Any
) -> dict[str, Any]:
    """OpenRLHF's reward function: ``{"rewards": (N,) tensor, "scores": (N,) tensor, "extra_logs": {...}}``."""
    import torch

    if not len(queries) == len(prompts) == len(labels):
        raise ValueError(
            "reward_func: queries, prompts and labels must have one entry per sample, got "
            f"{len(queries)}, {len(prompts)} and {len(labels)}"
        )
    texts = [response_text(str(q), str(p)) for q, p in zip(queries, prompts)]
    kinds = [label_kind(lab) for lab in labels]
    rewards = [0.0] * len(texts)
    for kind in ("math", "code"):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        scores = score_texts([texts[i] for i in idx], [labels[i] for i in idx], kind, error_score=0.0)
        for i, s in zip(idx, scores, strict=True):
            rewards[i] = float(s or 0.0)
    r = torch.tensor(rewards, dtype=torch.float32)
    return {
        "rewards": r,
        "scores": r.clamp(0.0, 1.0),
        "extra_logs": {"prime_fast/is_code": torch.tensor([k == "code" for k in kinds], dtype=torch.float32)},
    }
