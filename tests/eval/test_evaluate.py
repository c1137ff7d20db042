"""``evaluate`` end to end on the demo's SFT model: metrics against an independent computation from
the per-sample JSONL, the generation cache, the trainer's validation path, and per-sample failures."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import pytest
from _eval_helpers import CountingBackend

from prime_fast.eval.api import evaluate

KS = (1, 2, 4)


def run_eval(backend, tok, bench_files, out, **kw):
    args = dict(n=4, temperature=1.0, top_p=0.95, max_tokens=24, seed=3, ks=KS, progress=False, batch_size=16)
    args.update(kw)
    return evaluate(
        None, {k: str(v) for k, v in bench_files.items()}, out, backend=backend, tokenizer=tok, **args
    )


def independent_metrics(samples_path: Path) -> dict[str, dict[str, float]]:
    """From samples.jsonl alone, by the formulas (math.comb for pass@k)."""
    by = defaultdict(lambda: defaultdict(list))
    for line in samples_path.read_text().splitlines():
        s = json.loads(line)
        by[(s["bench"], s["mode"])][s["problem_index"]].append(s)
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for (bench, mode), probs in by.items():
        rows = [sorted(v, key=lambda s: s["sample_index"]) for _, v in sorted(probs.items())]
        if mode == "greedy":
            out[bench]["greedy"] = sum(r[0]["correct"] for r in rows) / len(rows)
            continue
        n = len(rows[0])
        out[bench][f"avg@{n}"] = sum(s["correct"] for r in rows for s in r) / (n * len(rows))
        for k in KS:
            vals = []
            for r in rows:
                c = sum(s["correct"] for s in r)
                vals.append(1 - math.comb(n - c, k) / math.comb(n, k))
            out[bench][f"pass@{k}"] = sum(vals) / len(vals)
            maj = []
            for r in rows:
                votes: dict[int, list[int]] = defaultdict(list)
                for j, s in enumerate(r[:k]):
                    if s["answer_group"] is not None:
                        votes[s["answer_group"]].append(j)
                if not votes:
                    maj.append(0.0)
                    continue
                best = max(votes.values(), key=lambda js: (len(js), -js[0]))
                maj.append(float(r[best[0]]["correct"]))
            out[bench][f"maj@{k}"] = sum(maj) / len(maj)
    return out


def test_results_json_matches_independent_computation(counting_backend, policy, bench_files, tmp_path):
    res = run_eval(counting_backend, policy[1], bench_files, tmp_path, model_id="sft-test")
    data = json.loads((tmp_path / "results.json").read_text())
    expect = independent_metrics(tmp_path / "samples.jsonl")
    assert set(data["benchmarks"]) == {"demo", "plain"}
    for bench, metrics in expect.items():
        assert set(metrics) == set(data["benchmarks"][bench])
        for k, v in metrics.items():
            assert data["benchmarks"][bench][k] == pytest.approx(v, abs=1e-12), (bench, k)
    for k, v in data["average"].items():
        assert v == pytest.approx((expect["demo"][k] + expect["plain"][k]) / 2, abs=1e-12)
    assert any(s["correct"] for s in res.samples), "the SFT model solves some held-out problems"
    assert (tmp_path / "results.png").stat().st_size > 1000
    assert "| **Average** |" in res.table


def test_rerun_from_cache_generates_nothing(counting_backend, policy, bench_files, tmp_path):
    first = run_eval(counting_backend, policy[1], bench_files, tmp_path, model_id="sft-test")
    calls = counting_backend.calls
    assert calls > 0 and first.generated == 2 * 24 * 2  # two benchmarks x 24 prompts x (greedy, sampled)
    samples_1 = (tmp_path / "samples.jsonl").read_text()
    second = run_eval(counting_backend, policy[1], bench_files, tmp_path, model_id="sft-test")
    assert counting_backend.calls == calls, "the rerun reached the engine"
    assert second.generated == 0
    assert second.benchmarks == first.benchmarks and second.average == first.average
    assert (tmp_path / "samples.jsonl").read_text() == samples_1
    # a new metric (larger k) scores from the same cache; another seed is another cache entry
    third = run_eval(counting_backend, policy[1], bench_files, tmp_path, model_id="sft-test", ks=(3,))
    assert counting_backend.calls == calls and "pass@3" in third.benchmarks["demo"]
    run_eval(counting_backend, policy[1], bench_files, tmp_path, model_id="sft-test", seed=4)
    assert counting_backend.calls > calls


def test_greedy_pass1_equals_trainer_validation_accuracy(
    counting_backend, policy, bench_files, val_rows, tmp_path
):
    """Nothing is trained: the trainer's own greedy_accuracy and eval see the same prompts and model."""
    from prime_fast.runtime.prompts import encode_rows
    from prime_fast.trainer.config import TrainConfig
    from prime_fast.trainer.loop import Trainer

    tok = policy[1]
    cfg = TrainConfig()
    trainer = Trainer.__new__(Trainer)
    trainer.cfg, trainer.backend, trainer.tokenizer = cfg, counting_backend, tok
    prompts, _ = encode_rows(
        val_rows,
        tok,
        max_prompt_length=cfg.data.max_prompt_length,
        system_prompt=cfg.data.system_prompt,
        what="val",
    )
    acc = trainer.greedy_accuracy(prompts)
    trainer_out = list(counting_backend.outputs)
    r = cfg.rollout
    res = evaluate(
        None,
        {"demo": str(bench_files["demo"])},
        tmp_path,
        backend=counting_backend,
        tokenizer=tok,
        temperature=0.0,
        n=1,
        max_tokens=r.val_max_tokens or r.max_tokens,
        batch_size=0,
        system_prompt=cfg.data.system_prompt,
        max_prompt_length=cfg.data.max_prompt_length,
        error_score=cfg.verify.error_score,
        progress=False,
    )
    assert sum(acc) > 0, "the SFT model should solve some held-out problems greedily"
    assert counting_backend.outputs[len(trainer_out) :] == trainer_out  # same greedy responses
    assert res.benchmarks["demo"]["greedy"] == pytest.approx(sum(acc) / len(acc), abs=1e-12)
    assert [s["correct"] for s in res.samples] == [a == 1.0 for a in acc]


def test_one_failing_prompt_is_marked_not_fatal(policy, counting_backend, bench_files, val_rows, tmp_path):
    from prime_fast.eval.api import encode_problems
    from prime_fast.eval.data import load_bench
    from prime_fast.eval.templates import load_template

    tok = policy[1]
    ids = encode_problems(
        load_bench("demo", bench_files["demo"]).problems,
        tok,
        load_template("auto"),
        system_prompt="",
        max_prompt_length=0,
        what="demo",
    )
    bad = CountingBackend(counting_backend.inner, fail_on={hash(tuple(ids[5]))})
    res = evaluate(
        None,
        {"demo": str(bench_files["demo"])},
        tmp_path,
        backend=bad,
        tokenizer=tok,
        n=2,
        temperature=1.0,
        max_tokens=16,
        ks=(1, 2),
        progress=False,
        model_id="m",
    )
    marked = [s for s in res.samples if s["problem_index"] == 5]
    assert marked and all(
        s["verdict"] == "generation_error" and "engine failure" in s["error"] for s in marked
    )
    assert all(s["error"] is None for s in res.samples if s["problem_index"] != 5)
    assert len(res.samples) == 24 * 3
