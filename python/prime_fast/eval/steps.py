"""Step-level evaluation of an implicit PRM on ProcessBench-format data (``prime-fast eval-prm``).

Each row: ``problem``, ``steps`` (a list of step texts), ``label`` (index of the first wrong step,
-1 when every step is right), optionally ``subset`` / ``source``. The response is the steps joined
by a blank line; each step is tokenised on its own (with its separator), so token-to-step
alignment is exact. A step's score is ``beta * sum`` of the implicit reward over its tokens
(:func:`prime_fast.algos.step_scores`); the predicted first error is the first step whose score is
below a threshold (:func:`prime_fast.algos.predict_first_error`), scored with ProcessBench's rule
(:func:`prime_fast.algos.first_error_f1`: accuracy on erroneous rows, on correct rows, their F1).

Threshold rule: a given ``threshold`` is used on every row; otherwise the rows are shuffled with
``seed`` and a ``threshold_split`` share of them is held out to fit the threshold
(:func:`prime_fast.algos.fit_threshold`, the F1-maximising midpoint of observed step scores); the
metrics are reported on the other rows only, so the threshold is never fitted on what is reported.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from prime_fast.constants import PRM_BETA
from prime_fast.errors import ConfigError
from prime_fast.eval.data import read_rows
from prime_fast.eval.templates import load_template


@dataclass(frozen=True, slots=True)
class StepRow:
    """One ProcessBench row."""

    problem: str
    steps: tuple[str, ...]
    label: int
    subset: str


def load_processbench(path: str | Path) -> list[StepRow]:
    """Rows of a ProcessBench JSONL/parquet file (ConfigError naming file, line and field)."""
    out = []
    for where, row in read_rows(path):
        for f in ("problem", "steps", "label"):
            if row.get(f) is None:
                raise ConfigError(f"{where}: no field {f!r} (ProcessBench rows: problem, steps, label)")
        steps = row["steps"]
        if not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps):
            raise ConfigError(f"{where}: field 'steps' must be a non-empty list of strings")
        label = row["label"]
        if isinstance(label, bool) or not isinstance(label, int) or not -1 <= label < len(steps):
            raise ConfigError(
                f"{where}: field 'label' must be -1 or a step index < {len(steps)}, got {label!r}"
            )
        subset = str(row.get("subset") or row.get("source") or Path(path).stem)
        out.append(StepRow(str(row["problem"]), tuple(steps), label, subset))
    return out


def encode_steps(tokenizer: Any, steps: tuple[str, ...], sep: str) -> tuple[list[int], list[int]]:
    """Response ids of the joined steps and the step index of each token."""
    ids: list[int] = []
    step_of: list[int] = []
    for i, s in enumerate(steps):
        text = s + (sep if i < len(steps) - 1 else "")
        t = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += t
        step_of += [i] * len(t)
    return ids, step_of


def step_score_table(
    prm_model: Any, tokenizer: Any, rows: list[StepRow], *, template: str = "eurus2-math", chunk: int = 16
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scores, step_mask)``, ``(B, S)``: every row's step scores (padded to the longest row)."""
    from prime_fast import algos
    from prime_fast.eval.prm import token_q

    tpl = load_template(template)
    pad, eos = int(tokenizer.pad_token_id), int(tokenizer.eos_token_id)
    smax = max(len(r.steps) for r in rows)
    scores = torch.zeros(len(rows), smax)
    mask = torch.zeros(len(rows), smax, dtype=torch.bool)
    for s in range(0, len(rows), chunk):
        part = rows[s : s + chunk]
        prompts = [
            list(
                tokenizer.apply_chat_template(
                    tpl.messages(r.problem, "math"),
                    add_generation_prompt=True,
                    tokenize=True,
                    return_dict=True,
                )["input_ids"]
            )
            for r in part
        ]
        enc = [encode_steps(tokenizer, r.steps, prm_model.step_sep) for r in part]
        q, tok_mask = token_q(prm_model, prompts, [e[0] for e in enc], pad=pad, eos=eos)
        sid = torch.full(q.shape, -1, dtype=torch.long)
        for j, (_, st) in enumerate(enc):
            sid[j, : len(st)] = torch.tensor(st)
        sid = torch.where(tok_mask, sid, torch.full_like(sid, -1))
        sc, sm = algos.step_scores(q, sid, reduce="sum")
        scores[s : s + len(part), : sc.shape[1]] = sc.float()
        mask[s : s + len(part), : sm.shape[1]] = sm
    return scores, mask


def evaluate_prm_steps(
    model: str | Path | None,
    ref: str | Path | None,
    data: str | Path,
    *,
    beta: float = PRM_BETA,
    threshold: float | None = None,
    threshold_split: float = 0.5,
    seed: int = 0,
    template: str = "eurus2-math",
    dtype: str = "auto",
    step_sep: str = "\n\n",
    prm_model: Any = None,
    tokenizer: Any = None,
) -> dict[str, Any]:
    """ProcessBench metrics per subset and overall, with the threshold and how it was set."""
    from prime_fast import algos

    rows = load_processbench(data)
    if prm_model is None or tokenizer is None:
        if model is None or ref is None:
            raise ConfigError("eval-prm needs --model (the PRM) and --ref (its reference)")
        prm_model, tokenizer = _load(str(model), str(ref), beta, dtype, step_sep)
    scores, mask = step_score_table(prm_model, tokenizer, rows, template=template)
    labels = torch.tensor([r.label for r in rows], dtype=torch.long)
    order = list(range(len(rows)))
    if threshold is None:
        if not 0 < threshold_split < 1:
            raise ConfigError(f"--threshold-split must be in (0, 1), got {threshold_split}")
        random.Random(seed).shuffle(order)
        n_fit = max(1, min(len(rows) - 1, round(threshold_split * len(rows))))
        fit, report_idx = sorted(order[:n_fit]), sorted(order[n_fit:])
        if not fit or not report_idx:
            raise ConfigError(f"{data}: too few rows ({len(rows)}) to fit a threshold on a held-out split")
        fi = torch.tensor(fit)
        threshold = float(algos.fit_threshold(scores[fi], mask[fi], labels[fi]))
        rule = f"fit on a held-out {threshold_split:.0%} of the rows (seed {seed}), reported on the rest"
    else:
        report_idx = order
        rule = "given"
    ri = torch.tensor(report_idx)
    pred = algos.predict_first_error(scores[ri], mask[ri], threshold)
    lab = labels[ri]
    subsets = [rows[i].subset for i in report_idx]
    per: dict[str, dict[str, float]] = {}
    for name in sorted(set(subsets)):
        sel = torch.tensor([s == name for s in subsets])
        per[name] = {k: float(v) for k, v in algos.first_error_f1(pred[sel], lab[sel]).items()}
    if len(per) > 1:
        per["all"] = {k: float(v) for k, v in algos.first_error_f1(pred, lab).items()}
    return {
        "threshold": threshold,
        "threshold_rule": rule,
        "rows": len(rows),
        "reported_rows": len(report_idx),
        "beta": beta,
        "subsets": per,
    }


def _load(model: str, ref: str, beta: float, dtype: str, step_sep: str) -> tuple[Any, Any]:
    from prime_fast.eval.prm import load_implicit_prm
    from prime_fast.runtime.models import load_tokenizer

    tok = load_tokenizer(model)
    if dtype == "auto":
        dtype = "bfloat16" if torch.cuda.is_available() else "float32"
    return load_implicit_prm(model, ref, dtype=dtype, tokenizer=tok, beta=beta, step_sep=step_sep), tok


def markdown(result: dict[str, Any]) -> str:
    """The per-subset table (percent)."""
    lines = [
        "| Subset | acc (erroneous) | acc (correct) | F1 | n_error | n_correct |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in result["subsets"].items():
        lines.append(
            f"| {name} | {100 * m['acc_error']:.1f} | {100 * m['acc_correct']:.1f} | {100 * m['f1']:.1f} | "
            f"{int(m['n_error'])} | {int(m['n_correct'])} |"
        )
    return "\n".join(lines)
