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


def make_problem(
    rng: random.Random,
    n_terms: int = 3,
    max_operand: int = 9,
    slip_prob: float = 0.0,
    slip_kind: str = "result",
) -> tuple[str, str, str]:
    """One problem: ``(question, worked_solution, answer)``.

    The question chains ``n_terms`` operands in 1..max_operand with ``+``/``-``; the worked solution
    writes each partial result, then the final answer in ``\\boxed{}``. With ``slip_prob``, each
    step slips with that probability and the chain goes on from what was written (so a slip makes the
    final answer wrong; ``answer`` is always the true one): ``slip_kind = "result"`` writes a result
    off by 1-3, ``"copy"`` starts a step (after the first) from a running value miscopied by 1-3,
    ``"habit"`` from the running value plus one (a systematic slip: above 0.5, greedy decoding of a
    model trained on it makes it every time).
    """
    values = [rng.randint(1, max_operand) for _ in range(n_terms)]
    ops = [rng.choice("+-") for _ in range(n_terms - 1)]
    question = str(values[0]) + "".join(op + str(v) for op, v in zip(ops, values[1:]))
    acc = values[0]
    steps: list[str] = []
    written = acc
    for op, v in zip(ops, values[1:]):
        acc = acc + v if op == "+" else acc - v
        lhs = written
        if slip_prob and slip_kind in ("copy", "habit") and steps and rng.random() < slip_prob:
            # miscopies the running value: by 1-3 either way, or (a habit) always one too high
            lhs += 1 if slip_kind == "habit" else rng.choice((-3, -2, -1, 1, 2, 3))
        nxt = lhs + v if op == "+" else lhs - v
        if slip_prob and slip_kind == "result" and rng.random() < slip_prob:
            nxt += rng.choice((-3, -2, -1, 1, 2, 3))
        steps.append(f"{lhs}{op}{v}={nxt}")
        written = nxt
    solution = ",".join(steps) + ".\\boxed{" + str(written) + "}"
    return question + "=?", solution, str(acc)


def is_held_out(question: str) -> bool:
    """Whether a question belongs to the held-out set (a fixed 10% of all questions, by hash)."""
    return zlib.crc32(question.encode()) % 10 == 0


def make_rows(
    n: int,
    seed: int,
    split: str,
    n_terms: int = 3,
    max_operand: int = 9,
    direct_frac: float = 0.0,
    slip_prob: float = 0.0,
    slip_kind: str = "result",
) -> list[dict[str, Any]]:
    """``n`` rows in the Eurus-2-RL-Data schema, deterministic in ``seed``.

    ``split = "val"`` draws only held-out questions (:func:`is_held_out`); any other split never
    does, so validation measures problems the model was not trained on. The worked solution is
    kept under ``extra_info.solution`` for the SFT warm-start; a ``direct_frac`` share of the rows
    get a "direct" solution instead: a quick guess with no worked steps (``\\boxed{guess}``, off by
    1-3 half of the time), like a careless annotator. The warm-start mixes both behaviours and RL
    has to find out that the worked solutions earn the reward. ``slip_prob`` makes each worked step
    slip (a result off by 1-3, the chain continuing from it) with that probability: errors inside the
    chain, at any step, that only the final answer reveals to an outcome reward.
    """
    rng = random.Random(f"{seed}-{split}")
    rows = []
    want_held_out = split == "val"
    for i in range(n):
        while True:
            q, sol, ans = make_problem(
                rng, n_terms=n_terms, max_operand=max_operand, slip_prob=slip_prob, slip_kind=slip_kind
            )
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


# ----------------------------------------------------------------------------- step labels
_BOX = "\\boxed{"


def parse_question(question: str) -> tuple[list[int], list[str]] | None:
    """``(operands, operators)`` of a question such as ``"7+3-5=?"``; None if it is not one."""
    q = question.strip()
    if q.endswith("=?"):
        q = q[:-2]
    nums: list[int] = []
    ops: list[str] = []
    cur = ""
    for ch in q:
        if ch.isdigit():
            cur += ch
        elif ch in "+-" and cur:
            nums.append(int(cur))
            ops.append(ch)
            cur = ""
        else:
            return None
    if not cur:
        return None
    nums.append(int(cur))
    return nums, ops


def step_spans(response: str) -> list[tuple[int, int]]:
    """Character spans ``[start, end)`` of a response's steps, in order.

    A step is a comma-separated chain segment (``"7+3=10"``); the final answer (``".\\boxed{5}"`` or
    a bare ``"\\boxed{5}"``, up to its closing brace or the end of the text) is the last step. Text that
    follows no step format becomes one step of its own, so every character is in exactly one span.
    """
    if not response:
        return []
    box = response.find(_BOX)
    chain_end = box if box >= 0 else len(response)
    if box > 0 and response[box - 1] == ".":
        chain_end = box - 1
    spans: list[tuple[int, int]] = []
    start = 0
    for i, ch in enumerate(response[:chain_end]):
        if ch == ",":
            spans.append((start, i + 1))  # the comma closes its step
            start = i + 1
    if start < chain_end:
        spans.append((start, chain_end))
    if chain_end < len(response):
        close = response.find("}", box) if box >= 0 else -1
        end = close + 1 if close >= 0 else len(response)
        spans.append((chain_end, end))
        if end < len(response):
            spans.append((end, len(response)))
    return spans


def _step_value(text: str) -> tuple[int, str, int, int] | None:
    """``(a, op, b, c)`` of a step ``"a op b = c"`` (optional trailing comma); None if malformed."""
    body = text[:-1] if text.endswith(",") else text
    lhs, eq, rhs = body.partition("=")
    if not eq or not rhs.lstrip("-").isdigit():
        return None
    for i in range(1, len(lhs)):
        if lhs[i] in "+-" and lhs[:i].lstrip("-").isdigit() and lhs[i + 1 :].isdigit():
            return int(lhs[:i]), lhs[i], int(lhs[i + 1 :]), int(rhs)
    return None


def first_error_step(question: str, response: str) -> int | None:
    """Index (into :func:`step_spans`) of the first wrong step of ``response``; None when no step is wrong.

    A chain step is right when it applies the next operator and operand of the question to the true
    running value and writes the true result. The answer step is right when it boxes the question's
    answer (a chain that stops early and boxes the right answer has no wrong step; a direct answer is
    judged by its value). A step that leaves the format (unparsable text, an extra step, text after
    the answer, no answer at all) is wrong where it starts. Never raises: an unparsable question makes
    every response wrong at step 0.
    """
    try:
        parsed = parse_question(question)
        spans = step_spans(response)
        if parsed is None or not spans:
            return 0
        nums, ops = parsed
        answer = nums[0]
        for op, v in zip(ops, nums[1:]):
            answer = answer + v if op == "+" else answer - v
        acc = nums[0]
        for i, (s, e) in enumerate(spans):
            text = response[s:e]
            if text.startswith(".") or text.startswith(_BOX):  # the answer step
                if i != len(spans) - 1:
                    return i + 1  # text after the answer
                inner = text[text.find(_BOX) + len(_BOX) :] if _BOX in text else ""
                ok = inner.endswith("}") and inner[:-1].lstrip("-").isdigit() and int(inner[:-1]) == answer
                return None if ok and text in (f".{_BOX}{inner}", f"{_BOX}{inner}") else i
            if i >= len(ops):
                return i  # more chain steps than the question has operators
            got = _step_value(text)
            want = acc + nums[i + 1] if ops[i] == "+" else acc - nums[i + 1]
            if got is None or got != (acc, ops[i], nums[i + 1], want):
                return i
            acc = want
        return len(spans) - 1 if spans else 0  # the chain never gave an answer
    except Exception:  # a verdict for any text, never an exception
        return 0
