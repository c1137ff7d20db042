"""Answer groups for majority voting: which samples of a problem gave equivalent answers.

``prime_fast.verify.group_equivalent`` is used when the installed verifier provides it; otherwise
:func:`group_answers_fallback` groups with the verifier itself: answers with the same normalised
form share a group, then every pair of distinct forms of one problem is compared with the math
verifier (``extract=False``, all pairs of all problems in one parallel native call) and equivalent
forms are merged (union-find).
"""

from __future__ import annotations

from collections.abc import Sequence


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def group_answers_fallback(problems: Sequence[Sequence[str | None]]) -> list[list[int | None]]:
    """FALLBACK (until prime_fast.verify.group_equivalent exists): group ids per sample, per problem.

    ``problems[p][j]`` is sample ``j``'s answer key (normalised answer; None = no answer). Group ids
    are the index of the group's first sample within its problem.
    """
    from prime_fast.verify import verify_math_batch

    forms: list[list[str]] = []
    pairs: list[tuple[int, int, int]] = []
    preds: list[str] = []
    golds: list[str] = []
    for p, answers in enumerate(problems):
        distinct = list(dict.fromkeys(a for a in answers if a is not None))
        forms.append(distinct)
        for a in range(len(distinct)):
            for b in range(a + 1, len(distinct)):
                pairs.append((p, a, b))
                preds.append(distinct[b])
                golds.append(distinct[a])
    parents = [list(range(len(f))) for f in forms]
    if pairs:
        for (p, a, b), v in zip(pairs, verify_math_batch(preds, golds, extract=False), strict=True):
            if v.correct:
                ra, rb = _find(parents[p], a), _find(parents[p], b)
                parents[p][max(ra, rb)] = min(ra, rb)
    out: list[list[int | None]] = []
    for p, answers in enumerate(problems):
        pos = {f: i for i, f in enumerate(forms[p])}
        first_sample: dict[int, int] = {}
        row: list[int | None] = []
        for j, ans in enumerate(answers):
            if ans is None:
                row.append(None)
                continue
            root = _find(parents[p], pos[ans])
            row.append(first_sample.setdefault(root, j))
        out.append(row)
    return out


def group_answers(problems: Sequence[Sequence[str | None]]) -> list[list[int | None]]:
    """Answer groups per problem: the verifier's ``group_equivalent`` when present, else the fallback."""
    import prime_fast.verify as verify

    native = getattr(verify, "group_equivalent", None)
    if native is None:
        return group_answers_fallback(problems)
    out: list[list[int | None]] = []
    for answers in problems:
        present = [a for a in answers if a is not None]
        ids = list(native(present)) if present else []
        if len(ids) != len(present):
            return group_answers_fallback(problems)
        it = iter(ids)
        first: dict[object, int] = {}
        row: list[int | None] = []
        for j, a in enumerate(answers):
            row.append(None if a is None else first.setdefault(next(it), j))
        out.append(row)
    return out
