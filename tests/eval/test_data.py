"""Benchmark adapters, templates and bad-input errors (file, line and field named)."""

from __future__ import annotations

import base64
import json
import pickle
import zlib

import pytest
from _eval_helpers import write_jsonl

from prime_fast.errors import ConfigError
from prime_fast.eval.data import load_bench, parse_bench_spec
from prime_fast.eval.templates import EURUS2_SYSTEM, load_template


def test_math_formats(tmp_path):
    rows = [
        {"problem": "1+1?", "answer": "2", "unique_id": "test/algebra/1.json"},  # MATH-500
        {"id": 60, "problem": "AIME?", "answer": 204, "url": "..."},  # AIME (int answer)
        {"question": "Olympiad?", "final_answer": ["$\\frac{1}{2}$", "0.5"], "id": 7},  # OlympiadBench
        {"problem": "Minerva?", "solution": "so it is \\boxed{3 \\times 10^8}."},  # Minerva Math
    ]
    b = load_bench("m", write_jsonl(tmp_path / "m.jsonl", rows))
    p = b.problems
    assert [x.pid for x in p] == ["test/algebra/1.json", "60", "7", "3"]
    assert [x.ability for x in p] == ["math"] * 4
    assert p[1].ground_truth == "204" and p[2].ground_truth == ["$\\frac{1}{2}$", "0.5"]
    assert p[3].ground_truth == "3 \\times 10^8"
    assert len(b.digest) == 64


def test_code_formats(tmp_path):
    private = base64.b64encode(
        zlib.compress(pickle.dumps(json.dumps([{"input": "3\n", "output": "6\n", "testtype": "stdin"}])))
    ).decode()
    rows = [
        {
            "task_id": "lc/1",
            "prompt_sft": "Add.",
            "test": "def check(candidate):\n    assert candidate(1) == 2\n",
            "entry_point": "f",
        },
        {
            "question_id": "abc1",
            "question_content": "Double it.",
            "starter_code": "",
            "public_test_cases": json.dumps([{"input": "2\n", "output": "4\n", "testtype": "stdin"}]),
            "private_test_cases": private,
            "metadata": "{}",
        },
        {
            "question_id": "lc2",
            "question_content": "Sum.",
            "starter_code": "class Solution:\n    def s(self, a): ...",
            "public_test_cases": json.dumps([{"input": "[1, 2]", "output": "3", "testtype": "functional"}]),
            "metadata": json.dumps({"func_name": "s"}),
        },
        {
            "problem_id": 9,
            "question": "APPS",
            "input_output": json.dumps({"inputs": ["1\n"], "outputs": ["1\n"]}),
        },
    ]
    p = load_bench("c", write_jsonl(tmp_path / "c.jsonl", rows)).problems
    assert all(x.ability == "code" for x in p)
    assert p[0].ground_truth == {"test": rows[0]["test"], "entry_point": "f"}
    assert p[1].ground_truth == {"inputs": ["2\n", "3\n"], "outputs": ["4\n", "6\n"]}
    assert p[2].ground_truth == {"inputs": ["[1, 2]"], "outputs": [3], "fn_name": "s"}
    assert "starter code" in p[2].question and p[3].ground_truth["inputs"] == ["1\n"]


def test_parquet_and_trainer_schema(tmp_path, val_rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "b.parquet"
    pq.write_table(
        pa.Table.from_pylist([{"problem": "q", "answer": "1"}, {"problem": "r", "answer": "2"}]), path
    )
    assert [x.ground_truth for x in load_bench("b", path).problems] == ["1", "2"]
    p = load_bench("d", write_jsonl(tmp_path / "d.jsonl", val_rows[:2])).problems
    assert p[0].messages == (("user", val_rows[0]["prompt"][0]["content"]),)


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ({"answer": "2"}, r"b\.jsonl: line 2: no question field"),
        ({"problem": "x"}, r"b\.jsonl: line 2: no answer field"),
        (
            {"prompt": [{"role": "user", "content": "x"}], "ability": "math"},
            r"line 2: no field 'reward_model'",
        ),
        ({"question_content": "x", "metadata": "{}"}, r"line 2: no field 'public_test_cases'"),
    ],
)
def test_missing_field_names_file_line_and_field(tmp_path, line, pattern):
    path = write_jsonl(tmp_path / "b.jsonl", [{"problem": "ok", "answer": "1"}, line])
    with pytest.raises(ConfigError, match=pattern):
        load_bench("b", path)


def test_empty_file_bad_json_and_bad_specs(tmp_path):
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match=r"e\.jsonl: the file is empty"):
        load_bench("e", empty)
    bad = tmp_path / "j.jsonl"
    bad.write_text('{"problem": "a", "answer": "1"}\n{oops\n')
    with pytest.raises(ConfigError, match=r"j\.jsonl: line 2: not JSON"):
        load_bench("j", bad)
    with pytest.raises(ConfigError, match="no such benchmark file"):
        load_bench("x", tmp_path / "missing.jsonl")
    with pytest.raises(ConfigError, match="NAME=FILE"):
        parse_bench_spec("=x.jsonl")
    assert parse_bench_spec("aime=/d/a.jsonl") == ("aime", "/d/a.jsonl")


def test_templates(tmp_path):
    t = load_template("eurus2")
    math_msgs = t.messages("What is 1+1?", "math")
    assert math_msgs[0] == {"role": "system", "content": EURUS2_SYSTEM}
    assert (
        math_msgs[1]["content"] == "What is 1+1?\n\nPresent the answer in LaTex format: \\boxed{Your answer}"
    )
    assert t.messages("Q", "code")[1]["content"].endswith("```python\nYour code\n```\nat the end.")
    with pytest.raises(ConfigError, match="not a known template"):
        load_template("eurus3")
    f = tmp_path / "t.json"
    f.write_text(json.dumps({"system": "S", "user": "Solve: {question}"}))
    assert load_template(str(f)).messages("x", "math") == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Solve: x"},
    ]
    txt = tmp_path / "t.txt"
    txt.write_text("no placeholder")
    with pytest.raises(ConfigError, match=r"t\.txt.*\{question\}"):
        load_template(str(txt))
    (tmp_path / "e.txt").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_template(str(tmp_path / "e.txt"))


def test_unknown_template_and_empty_bench_through_evaluate(tmp_path, counting_backend, policy):
    from prime_fast.eval.api import evaluate

    good = write_jsonl(tmp_path / "g.jsonl", [{"problem": "1+1=?", "answer": "2"}])
    with pytest.raises(ConfigError, match="not a known template"):
        evaluate(None, {"g": str(good)}, None, backend=counting_backend, tokenizer=policy[1], template="nope")
    (tmp_path / "z.jsonl").write_text("")
    with pytest.raises(ConfigError, match=r"z\.jsonl: the file is empty"):
        evaluate(None, [f"z={tmp_path / 'z.jsonl'}"], None, backend=counting_backend, tokenizer=policy[1])
    kw = {"backend": counting_backend, "tokenizer": policy[1]}
    for bad, pattern in (
        ({"n": 0}, "--n must be >= 1"),
        ({"top_p": 0.0}, "--top-p"),
        ({"ks": (0, 2)}, "--k values"),
        ({"greedy": False, "temperature": 0.0}, "nothing to evaluate"),
        ({"prm": "some/dir"}, "--prm needs --ref"),
        ({"prm_reduce": "mean"}, "--prm-reduce"),
    ):
        with pytest.raises(ConfigError, match=pattern):
            evaluate(None, {"g": str(good)}, None, **kw, **bad)
    with pytest.raises(ConfigError, match="benchmark names must be unique"):
        evaluate(None, [f"g={good}", f"g={good}"], None, **kw)
    assert counting_backend.calls == 0


def test_code_adapters_score_in_the_sandbox():
    """LiveCodeBench functional/stdin and LeetCode rows, adapted, judged by the real sandbox."""
    from prime_fast.eval.data import adapt_row
    from prime_fast.verify.batch import score_rows

    functional = adapt_row(
        {
            "question_id": "f",
            "question_content": "Sum.",
            "starter_code": "class Solution:\n    def s(self, a, b): ...",
            "public_test_cases": json.dumps(
                [
                    {"input": "1\n2", "output": "3", "testtype": "functional"},
                    {"input": "[1]\n[2]", "output": "[1, 2]", "testtype": "functional"},
                ]
            ),
            "metadata": json.dumps({"func_name": "s"}),
        },
        "f.jsonl: line 1",
        0,
    )
    stdin = adapt_row(
        {
            "question_id": "s",
            "question_content": "Double.",
            "public_test_cases": json.dumps([{"input": "2\n", "output": "4\n", "testtype": "stdin"}]),
            "metadata": "{}",
        },
        "s.jsonl: line 1",
        1,
    )
    leetcode = adapt_row(
        {
            "prompt_sft": "Add one.",
            "test": "def check(candidate):\n    assert candidate(1) == 2\n",
            "entry_point": "f",
        },
        "l.jsonl: line 1",
        2,
    )
    probs = [functional, stdin, leetcode]
    right = [
        "```python\nclass Solution:\n    def s(self, a, b):\n        return a + b\n```",
        "Read it.\n```python\nprint(int(input()) * 2)\n```",
        "```python\ndef f(x):\n    return x + 1\n```",
    ]
    wrong = [r.replace("a + b", "0").replace("* 2", "* 3").replace("x + 1", "x") for r in right]
    gts, abilities = [p.ground_truth for p in probs], [p.ability for p in probs]
    assert [v.correct for v in score_rows(right, gts, abilities)] == [True, True, True]
    got = score_rows(wrong, gts, abilities)
    assert [(v.correct, v.status) for v in got] == [(False, "wrong_answer")] * 3
    # tests the verifier cannot read: that row is marked and scores the error score, the others stand
    broken = score_rows(right[:2], [{"inputs": "nope"}, gts[1]], ["code", "code"], error_score=0.25)
    assert (broken[0].status, broken[0].score, broken[0].error is not None) == ("invalid_input", 0.25, True)
    assert broken[1].correct
