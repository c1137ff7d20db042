"""Benchmarks from local JSONL or parquet files, with adapters for the public formats.

Every row becomes a :class:`Problem`. The adapter is chosen per row by its fields:

- the trainer's schema (Eurus-2-RL-Data: a chat ``prompt``, ``ability``, ``reward_model.ground_truth``):
  kept as chat messages, so the evaluation sees exactly the trainer's validation prompts;
- LiveCodeBench (``question_content`` with ``public_test_cases`` / ``private_test_cases``, ``metadata``
  with ``func_name`` for functional problems; compressed private tests are decoded);
- LeetCode / HumanEval-style (``test`` + ``entry_point``, the question in ``prompt_sft``, ``query``,
  ``problem_description`` or ``prompt``);
- APPS-style code (``input_output`` or ``tests``: ``{"inputs", "outputs"[, "fn_name"]}``);
- math problem/answer (MATH-500, AIME, AMC, Minerva Math, OlympiadBench): the question in
  ``problem`` / ``question``, the reference in ``answer`` / ``final_answer`` / ``expected_answer`` /
  ``ground_truth`` (a list is a set of acceptable answers), else the last ``\\boxed{}`` of ``solution``.

Errors name the file, the line (JSONL) or row (parquet) and the missing field. Nothing is downloaded.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prime_fast.errors import ConfigError

QUESTION_FIELDS = ("problem", "question", "Problem", "Question")
ANSWER_FIELDS = ("answer", "final_answer", "expected_answer", "ground_truth", "gt", "Answer")
ID_FIELDS = ("id", "unique_id", "idx", "task_id", "question_id", "problem_id", "ID")
CODE_QUESTION_FIELDS = ("prompt_sft", "query", "problem_description", "question", "problem", "prompt")


@dataclass(frozen=True, slots=True)
class Problem:
    """One benchmark problem.

    Args:
        pid: the row's id field, else its 0-based position.
        ability: ``"math"`` or ``"code"`` (selects the verifier).
        ground_truth: the math reference (str or list of str) or the code tests (dict).
        question: the problem text (None when ``messages`` is given).
        messages: chat messages from the row itself (trainer schema), else None.
        where: ``file:line`` of the row, for messages.
    """

    pid: str
    ability: str
    ground_truth: Any
    question: str | None = None
    messages: tuple[tuple[str, str], ...] | None = None
    where: str = ""


@dataclass(frozen=True, slots=True)
class Bench:
    """A loaded benchmark: its name, file, content hash and problems."""

    name: str
    path: str
    digest: str
    problems: list[Problem]


def parse_bench_spec(spec: str) -> tuple[str, str]:
    """``NAME=FILE`` (``FILE`` alone: the file's stem is the name)."""
    name, sep, path = spec.partition("=")
    if not sep:
        return Path(spec).stem, spec
    if not name or not path:
        raise ConfigError(f"--bench {spec!r}: expected NAME=FILE")
    return name, path


def read_rows(path: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """``(where, row)`` pairs of a JSONL / JSON-lines or parquet file (``where`` = ``file:line N``)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such benchmark file")
    if p.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            records = pq.read_table(p).to_pylist()
        except Exception as e:  # pyarrow raises several types for a bad file
            raise ConfigError(f"{p}: cannot read as parquet ({e})") from None
        rows = [(f"{p}: row {i}", r) for i, r in enumerate(records)]
    else:
        rows = []
        with p.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ConfigError(f"{p}: line {lineno}: not JSON ({e.msg})") from None
                if not isinstance(obj, dict):
                    raise ConfigError(f"{p}: line {lineno}: expected a JSON object, got {type(obj).__name__}")
                rows.append((f"{p}: line {lineno}", obj))
    if not rows:
        raise ConfigError(f"{p}: the file is empty (no rows)")
    return rows


def load_bench(name: str, path: str | Path) -> Bench:
    """Read a benchmark file and adapt every row (ConfigError naming file, line and field)."""
    p = Path(path)
    rows = read_rows(p)
    problems = [adapt_row(row, where, i) for i, (where, row) in enumerate(rows)]
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    return Bench(name=name, path=str(p), digest=digest, problems=problems)


def _first(row: dict[str, Any], fields: tuple[str, ...]) -> str | None:
    return next((f for f in fields if row.get(f) not in (None, "", [])), None)


def _pid(row: dict[str, Any], index: int) -> str:
    f = _first(row, ID_FIELDS)
    return str(row[f]) if f else str(index)


def adapt_row(row: dict[str, Any], where: str, index: int) -> Problem:
    """One row as a :class:`Problem` (the adapter is picked from the row's fields)."""
    pid = _pid(row, index)
    if "reward_model" in row or isinstance(row.get("prompt"), list):
        return _trainer_row(row, where, pid)
    if "question_content" in row:
        return _livecodebench_row(row, where, pid)
    if "test" in row and "entry_point" in row:
        q = _first(row, CODE_QUESTION_FIELDS)
        if q is None:
            raise ConfigError(
                f"{where}: no question field (expected one of {', '.join(CODE_QUESTION_FIELDS)})"
            )
        gt = {"test": str(row["test"]), "entry_point": str(row["entry_point"])}
        return Problem(pid, "code", gt, question=str(row[q]), where=where)
    if "input_output" in row or "tests" in row:
        return _apps_row(row, where, pid)
    return _math_row(row, where, pid)


def _trainer_row(row: dict[str, Any], where: str, pid: str) -> Problem:
    for f in ("prompt", "ability", "reward_model"):
        if row.get(f) is None:
            raise ConfigError(f"{where}: no field {f!r} (trainer schema: prompt, ability, reward_model)")
    rm = row["reward_model"]
    if not isinstance(rm, dict) or "ground_truth" not in rm:
        raise ConfigError(f"{where}: field 'reward_model' must be a mapping with 'ground_truth'")
    prompt = row["prompt"]
    if isinstance(prompt, str):
        msgs: tuple[tuple[str, str], ...] = (("user", prompt),)
    elif isinstance(prompt, list) and all(
        isinstance(m, dict) and "role" in m and "content" in m for m in prompt
    ):
        msgs = tuple((str(m["role"]), str(m["content"])) for m in prompt)
    else:
        raise ConfigError(f"{where}: field 'prompt' must be a chat list of {{role, content}} or a string")
    ability = str(row["ability"]).lower()
    gt = rm["ground_truth"]
    if ability in ("code", "coding") and isinstance(gt, str):
        gt = _json_field(gt, where, "reward_model.ground_truth")
    return Problem(pid, "code" if ability in ("code", "coding") else ability, gt, messages=msgs, where=where)


def _json_field(value: Any, where: str, field: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{where}: field {field!r} is not valid JSON ({e.msg})") from None


def _math_row(row: dict[str, Any], where: str, pid: str) -> Problem:
    q = _first(row, QUESTION_FIELDS)
    if q is None:
        raise ConfigError(
            f"{where}: no question field (expected one of {', '.join(QUESTION_FIELDS)}; code rows need "
            "test+entry_point, input_output/tests, or LiveCodeBench's question_content)"
        )
    a = _first(row, ANSWER_FIELDS)
    if a is not None:
        ans = row[a]
        gt: Any = [str(x) for x in ans] if isinstance(ans, (list, tuple)) else str(ans)
    elif isinstance(row.get("solution"), str):
        from prime_fast.verify import extract_answer

        boxed = extract_answer(row["solution"], extract_order="boxed")
        if boxed is None:
            raise ConfigError(f"{where}: no answer field and field 'solution' has no \\boxed{{}} answer")
        gt = boxed
    else:
        raise ConfigError(
            f"{where}: no answer field (expected one of {', '.join(ANSWER_FIELDS)} or solution)"
        )
    return Problem(pid, str(row.get("ability", "math")).lower(), gt, question=str(row[q]), where=where)


def _apps_row(row: dict[str, Any], where: str, pid: str) -> Problem:
    field = "input_output" if "input_output" in row else "tests"
    tests = _json_field(row[field], where, field)
    if not isinstance(tests, dict):
        raise ConfigError(f"{where}: field {field!r} must be an object (or its JSON string)")
    q = _first(row, CODE_QUESTION_FIELDS)
    if q is None:
        raise ConfigError(f"{where}: no question field (expected one of {', '.join(CODE_QUESTION_FIELDS)})")
    return Problem(pid, "code", tests, question=str(row[q]), where=where)


class _StrOnlyUnpickler(pickle.Unpickler):
    """LiveCodeBench pickles a JSON string; refuse anything that would import or build objects."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a benchmark file")


def decode_lcb_tests(value: Any, where: str, field: str) -> list[dict[str, Any]]:
    """LiveCodeBench test cases: a JSON list, or base64(zlib(pickle(JSON string))) for private tests."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where}: field {field!r} must be a JSON string or a list")
    try:
        return list(json.loads(value))
    except json.JSONDecodeError:
        pass
    try:
        raw = zlib.decompress(base64.b64decode(value))
        text = _StrOnlyUnpickler(io.BytesIO(raw)).load()
        return list(json.loads(text))
    except Exception as e:
        raise ConfigError(
            f"{where}: field {field!r} is neither JSON nor LiveCodeBench's compressed form ({e})"
        ) from None


def _livecodebench_row(row: dict[str, Any], where: str, pid: str) -> Problem:
    cases: list[dict[str, Any]] = []
    for f in ("public_test_cases", "private_test_cases"):
        if row.get(f):
            cases += decode_lcb_tests(row[f], where, f)
    if not cases:
        raise ConfigError(f"{where}: no field 'public_test_cases' or 'private_test_cases' with tests")
    meta = _json_field(row.get("metadata") or "{}", where, "metadata")
    fn_name = meta.get("func_name") if isinstance(meta, dict) else None
    functional = any(c.get("testtype") == "functional" for c in cases)
    tests: dict[str, Any] = {"inputs": [str(c["input"]) for c in cases]}
    if functional:
        if not fn_name:
            raise ConfigError(f"{where}: functional tests need 'metadata.func_name'")
        tests["outputs"] = [json.loads(c["output"]) for c in cases]
        tests["fn_name"] = fn_name
    else:
        tests["outputs"] = [str(c["output"]) for c in cases]
    question = str(row["question_content"])
    starter = row.get("starter_code") or ""
    if starter.strip():
        question += f"\n\nUse the following starter code:\n```python\n{starter}\n```"
    return Problem(pid, "code", tests, question=question, where=where)
