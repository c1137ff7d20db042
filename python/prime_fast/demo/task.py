"""Procedural multi-step arithmetic: ``7+3-5`` with a worked answer ``7+3=10,10-5=5.\\boxed{5}``.

Rows follow the Eurus-2-RL-Data schema (``prompt`` chat list, ``ability``, ``reward_model.ground_truth``,
``data_source``, ``extra_info``) so the demo goes through the same data path as real datasets.
This module does not import torch.
"""

from __future__ import annotations

import json
import random
import zlib
from pathlib import Path
from typing import Any

DATA_SOURCE = "demo_arith"


def make_problem(rng: random.Random, n_terms: int = 3, max_operand: int = 9) -> tuple[str, str, str]:
    """One problem: ``(question, worked_solution, answer)``.

    The question chains ``n_terms`` operands in 1..max_operand with ``+``/``-``; the worked solution
    writes each partial result, then the final answer in ``\\boxed{}``.
    """
    values = [rng.randint(1, max_operand) for _ in range(n_terms)]
    ops = [rng.choice("+-") for _ in range(n_terms - 1)]
    question = str(values[0]) + "".join(op + str(v) for op, v in zip(ops, values[1:]))
    acc = values[0]
    steps = []
    for op, v in zip(ops, values[1:]):
        nxt = acc + v if op == "+" else acc - v
        steps.append(f"{acc}{op}{v}={nxt}")
        acc = nxt
    solution = ",".join(steps) + ".\\boxed{" + str(acc) + "}"
    return question + "=?", solution, str(acc)


def is_held_out(question: str) -> bool:
    """Whether a question belongs to the held-out set (a fixed 10% of all questions, by hash)."""
    return zlib.crc32(question.encode()) % 10 == 0


def make_rows(
    n: int, seed: int, split: str, n_terms: int = 3, max_operand: int = 9, direct_frac: float = 0.0
) -> list[dict[str, Any]]:
    """``n`` rows in the Eurus-2-RL-Data schema, deterministic in ``seed``.

    ``split = "val"`` draws only held-out questions (:func:`is_held_out`); any other split never
    does, so validation measures problems the model was not trained on. The worked solution is
    kept under ``extra_info.solution`` for the SFT warm-start; a ``direct_frac`` share of the rows
    get a "direct" solution instead: a quick guess with no worked steps (``\\boxed{guess}``, off by
    1-3 half of the time), like a careless annotator. The warm-start mixes both behaviours and RL
    has to find out that the worked solutions earn the reward.
    """
    rng = random.Random(f"{seed}-{split}")
    rows = []
    want_held_out = split == "val"
    for i in range(n):
        while True:
            q, sol, ans = make_problem(rng, n_terms=n_terms, max_operand=max_operand)
            if is_held_out(q) == want_held_out:
                break
        if direct_frac and rng.random() < direct_frac:
            guess = int(ans) + (rng.choice((-3, -2, -1, 1, 2, 3)) if rng.random() < 0.5 else 0)
            sol = "\\boxed{" + str(guess) + "}"
        rows.append(
            {
                "data_source": DATA_SOURCE,
                "prompt": [{"role": "user", "content": q}],
                "ability": "math",
                "reward_model": {"style": "rule", "ground_truth": ans},
                "extra_info": {"split": split, "index": i, "solution": sol},
            }
        )
    return rows


def write_jsonl(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write rows as JSON lines; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return path
