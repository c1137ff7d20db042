"""A PRM800K/PRIME-style sympy grader, written for the benchmark as a baseline.

It follows the published behaviour of those graders (see docs/VERIFY_MATH.md and the shared
docs/VERIFIERS.md): take the last ``\\boxed{}``, normalise with fixed string rules, compare strings,
split tuples/intervals element-wise (same brackets required), require literal fractions to match
literally and integers to match integers, and otherwise ask sympy whether ``simplify(a - b) == 0``
unless the expression looks dangerous (more than two unknown letters, ``^{``/``^(`` exponents, long
digit exponents). There is no timeout, as upstream; the corpus has no adversarial items.
"""

from __future__ import annotations

import re

import sympy
from sympy.parsing.sympy_parser import (
    implicit_multiplication_application,
    parse_expr,
    standard_transformations,
)

_TRANSFORMS = (*standard_transformations, implicit_multiplication_application)
_UNITS = (
    "degree",
    "cm",
    "centimeter",
    "meter",
    "mile",
    "second",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "year",
    "foot",
    "feet",
    "inch",
    "yard",
    "liter",
    "unit",
    "dollar",
    "cent",
    "way",
)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (brace-matched), or ``None``."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None


def _brace_arg(s: str, i: int) -> tuple[str, int]:
    """The argument starting at ``s[i]``: a brace group or one character."""
    if i < len(s) and s[i] == "{":
        depth = 0
        for j in range(i, len(s)):
            if s[j] == "{":
                depth += 1
            elif s[j] == "}":
                depth -= 1
                if depth == 0:
                    return s[i + 1 : j], j + 1
        return s[i + 1 :], len(s)
    if i < len(s):
        return s[i], i + 1
    return "", i


def latex_to_text(s: str) -> str:
    """A small LaTeX-to-plain-text conversion (fractions, roots, constants, operators)."""
    out = []
    i = 0
    while i < len(s):
        if s.startswith("\\frac", i):
            a, i = _brace_arg(s, i + 5)
            b, i = _brace_arg(s, i)
            ta, tb = latex_to_text(a), latex_to_text(b)
            simple = re.fullmatch(r"-?\w+", ta) and re.fullmatch(r"\w+", tb)
            # Like pylatexenc: `\frac{5}{2}` reads `5/2`; compound parts keep parentheses.
            out.append(f"{ta}/{tb}" if simple else f"(({ta})/({tb}))")
        elif s.startswith("\\sqrt", i):
            j = i + 5
            root = None
            if j < len(s) and s[j] == "[":
                k = s.find("]", j)
                root, j = s[j + 1 : k], k + 1
            a, i = _brace_arg(s, j)
            inner = latex_to_text(a)
            out.append(f"sqrt({inner})" if root is None else f"(({inner})**(1/({root})))")
        else:
            out.append(s[i])
            i += 1
    t = "".join(out)
    for a, b in (
        ("\\pi", "pi"),
        ("\\cdot", "*"),
        ("\\times", "*"),
        ("\\infty", "oo"),
        ("{", "("),
        ("}", ")"),
    ):
        t = t.replace(a, b)
    t = t.replace("^", "**").replace("\\", "")
    return t


def strip_string(s: str) -> str:
    """Hendrycks-style normalisation used for the first (string) comparison."""
    s = s.replace("\n", "").replace("\\!", "").replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac")
    s = s.replace("\\left", "").replace("\\right", "")
    s = (
        s.replace("^{\\circ}", "")
        .replace("^\\circ", "")
        .replace("\\$", "")
        .replace("\\%", "")
        .replace("%", "")
    )
    s = re.sub(r"\\text\{\s*([^}]*)\}", r"\1", s)
    s = re.sub(r"\\mbox\{\s*([^}]*)\}", r"\1", s)
    if s.startswith("."):
        s = "0" + s
    s = re.sub(r"^\s*[a-zA-Z]{1,2}\s*=\s*", "", s)
    s = re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)
    s = s.replace(" ", "")
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    if s == "0.5":
        s = "\\frac{1}{2}"
    m = re.fullmatch(r"(-?\d+)/(\d+)", s)
    if m:
        s = f"\\frac{{{m.group(1)}}}{{{m.group(2)}}}"
    return s


def normalize(s: str) -> str:
    """The second normalisation: units, commas, LaTeX to text, mixed numbers, case."""
    s = re.sub(r"\\text\{\s*([^}]*)\}", r"\1", s)
    s = s.replace("$", "").replace("\\%", "").replace("%", "").replace("\\$", "")
    s = s.replace(" or ", ",").replace(" and ", ",")
    for unit in _UNITS:
        s = re.sub(rf"(\d|\}})\s*{unit}(es|s)?(\^[0-9]+)?\s*$", r"\1", s)
    s = re.sub(r"\^\s*\{\\circ\}|\^\s*\\circ", "", s)
    s = s.replace("{,}", "")
    s = re.sub(r"(\d),(\d\d\d)($|[^\d])", r"\1\2\3", s)
    s = re.sub(r"^(\d+)\s+(\d+)/(\d+)$", r"\1+\2/\3", s)
    s = latex_to_text(s)
    s = s.replace(" ", "").lower()
    if re.fullmatch(r"-?\d+\.0+", s):
        s = s.split(".")[0]
    return s


def _allow_sympy(expr: str) -> bool:
    letters = set(re.findall(r"[a-z]", expr.replace("sqrt", "").replace("pi", "").replace("frac", "")))
    if len(letters) > 2:
        return False
    return not any(b in expr for b in ("^{", "^(", "**(")) and not re.search(r"\*\*\d\d+|\^\d\d+", expr)


def _sympy_equal(a: str, b: str) -> bool:
    try:
        ea = parse_expr(a, transformations=_TRANSFORMS)
        eb = parse_expr(b, transformations=_TRANSFORMS)
        return bool(sympy.simplify(ea - eb) == 0)
    except Exception:
        return False


def _split(s: str) -> tuple[str, list[str], str]:
    inner_brackets = any(ch in s[1:-1] for ch in "()[]")
    if len(s) > 2 and s[0] in "([" and s[-1] in ")]" and not inner_brackets:
        return s[0], [p.strip() for p in s[1:-1].split(",")], s[-1]
    return "", [s], ""


def grade(pred: str, gold: str) -> bool:
    """Whether ``pred`` (an extracted answer) matches ``gold`` under PRM800K-style rules."""
    if strip_string(pred) == strip_string(gold):
        return True
    p, g = normalize(pred), normalize(gold)
    if p == g:
        return True
    po, pitems, pc = _split(p)
    go, gitems, gc = _split(g)
    if (po, pc) != (go, gc) or len(pitems) != len(gitems):
        return False
    for a, b in zip(pitems, gitems):
        if a == b:
            continue
        frac = r"\(*\(?-?\d+\)?/\(?\d+\)?\)*"
        if re.fullmatch(frac, a) and re.fullmatch(frac, b):
            return False  # unreduced fractions must match literally
        if bool(re.fullmatch(r"-?\d+", a)) != bool(re.fullmatch(r"-?\d+", b)):
            return False  # an integer answer needs an integer prediction
        if not (_allow_sympy(a) and _allow_sympy(b)) or not _sympy_equal(a, b):
            return False
    return True


def grade_response(response: str, gold: str) -> bool:
    """Extract the last box of ``response`` and grade it against ``gold``."""
    pred = last_boxed(response)
    if pred is None:
        return False
    return grade(pred, gold)
