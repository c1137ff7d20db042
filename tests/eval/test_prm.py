"""Implicit PRM scores and best-of-N against a float64 reference computed here, and ``eval-prm`` on a
small synthetic ProcessBench file."""

from __future__ import annotations

import json
import math
from collections import defaultdict

import pytest
import torch
from _eval_helpers import write_jsonl

from prime_fast.errors import ConfigError
from prime_fast.eval.api import evaluate

BETA = 0.5


@pytest.fixture(scope="module")
def ref_dir(tmp_path_factory, policy):
    """A randomly initialised reference of the same shape and tokenizer as the SFT model."""
    from prime_fast.demo.model import build_model

    tok = policy[1]
    out = tmp_path_factory.mktemp("ref")
    build_model(
        len(tok), seed=1, hidden_size=64, num_layers=1, num_heads=1, intermediate_size=128
    ).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def f64_token_logps(path, prompt_ids, response_ids):
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float64).eval()
    out = []
    with torch.no_grad():
        for p, r in zip(prompt_ids, response_ids):
            ids = torch.tensor([p + r])
            logp = torch.log_softmax(m(input_ids=ids).logits[0].double(), -1)
            out.append([float(logp[len(p) - 1 + t, tok]) for t, tok in enumerate(r)])
    return out


def reference_inputs(samples, tok, val_rows):
    prompts, responses = [], []
    for s in samples:
        row = val_rows[s["problem_index"]]
        p = tok.apply_chat_template(
            row["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True
        )
        r = tok(s["response"], add_special_tokens=False)["input_ids"] + (
            [] if s["truncated"] else [tok.eos_token_id]
        )
        prompts.append(list(p["input_ids"]))
        responses.append(r)
    return prompts, responses


@pytest.mark.parametrize("reduce", ["sum", "min"])
def test_prm_scores_and_best_of_n_match_reference(
    reduce, sft_dir, ref_dir, policy, counting_backend, bench_files, val_rows, tmp_path
):
    ks = (1, 2, 4)
    res = evaluate(
        None,
        {"demo": str(bench_files["demo"])},
        tmp_path,
        backend=counting_backend,
        tokenizer=policy[1],
        n=4,
        temperature=1.0,
        max_tokens=24,
        seed=5,
        ks=ks,
        prm=str(sft_dir),
        ref=str(ref_dir),
        prm_beta=BETA,
        prm_reduce=reduce,
        prm_step_sep=",",
        progress=False,
    )
    samples = [json.loads(x) for x in (tmp_path / "samples.jsonl").read_text().splitlines()]
    sampled = [s for s in samples if s["mode"] == "sample"]
    assert all(s["prm_score"] is None for s in samples if s["mode"] == "greedy")
    prompts, responses = reference_inputs(sampled, policy[1], val_rows)
    lp = f64_token_logps(sft_dir, prompts, responses)
    lr = f64_token_logps(ref_dir, prompts, responses)
    for s, r, a, b in zip(sampled, responses, lp, lr):
        q = [BETA * (x - y) for x, y in zip(a, b)]
        if reduce == "sum":
            want = sum(q)
        else:  # steps end with the token that holds the separator ","
            steps, cur, open_step = [], 0.0, False
            for t, v in zip(r, q):
                cur, open_step = cur + v, True
                if policy[1].decode([t]) == ",":
                    steps.append(cur)
                    cur, open_step = 0.0, False
            want = min(steps + ([cur] if open_step else []))
        assert s["prm_score"] == pytest.approx(want, rel=1e-4, abs=1e-4)
    by = defaultdict(list)
    for s in sampled:
        by[s["problem_index"]].append(s)
    for k in ks:
        bon, wbon = [], []
        for rows in by.values():
            rows = sorted(rows, key=lambda s: s["sample_index"])[:k]
            best = max(range(len(rows)), key=lambda j: (rows[j]["prm_score"], -j))
            bon.append(rows[best]["correct"])
            weight = defaultdict(float)
            first = {}
            for j, s in enumerate(rows):
                if s["answer_group"] is not None:
                    weight[s["answer_group"]] += 1 / (1 + math.exp(-s["prm_score"]))
                    first.setdefault(s["answer_group"], j)
            win = max(weight, key=lambda g: (weight[g], -first[g])) if weight else None
            wbon.append(rows[first[win]]["correct"] if win is not None else False)
        assert res.benchmarks["demo"][f"prm_bon@{k}"] == pytest.approx(sum(bon) / len(bon), abs=1e-12)
        assert res.benchmarks["demo"][f"prm_wbon@{k}"] == pytest.approx(sum(wbon) / len(wbon), abs=1e-12)


def processbench_rows(val_rows):
    """Worked demo solutions split at ',' (label -1) and copies with one corrupted step (label = that step)."""
    import random

    from prime_fast.demo.task import make_problem

    rng = random.Random(0)
    rows = []
    for i in range(16):
        q, sol, _ = make_problem(rng)
        steps = sol.split(",")
        steps = [s + "," for s in steps[:-1]] + [steps[-1]]
        rows.append(
            {
                "problem": q,
                "steps": [s.rstrip(",") for s in steps],
                "label": -1,
                "subset": "a" if i % 2 else "b",
            }
        )
        bad = list(rows[-1]["steps"])
        j = i % len(bad)
        bad[j] = bad[j].replace("=", "=1", 1)
        rows.append({"problem": q, "steps": bad, "label": j, "subset": "a" if i % 2 else "b"})
    return rows


def test_eval_prm_on_synthetic_processbench(sft_dir, ref_dir, policy, val_rows, tmp_path):
    from prime_fast.eval.steps import evaluate_prm_steps

    rows = processbench_rows(val_rows)
    path = write_jsonl(tmp_path / "pb.jsonl", rows)
    tok = policy[1]
    # independent step scores: float64 forward, steps joined by ','
    prompts, responses, step_of = [], [], []
    for r in rows:
        p = tok.apply_chat_template(
            [{"role": "user", "content": r["problem"]}],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
        )["input_ids"]
        ids, st = [], []
        for i, s in enumerate(r["steps"]):
            t = tok(s + ("," if i < len(r["steps"]) - 1 else ""), add_special_tokens=False)["input_ids"]
            ids += t
            st += [i] * len(t)
        prompts.append(list(p))
        responses.append(ids)
        step_of.append(st)
    lp = f64_token_logps(sft_dir, prompts, responses)
    lr = f64_token_logps(ref_dir, prompts, responses)
    scores = []
    for a, b, st in zip(lp, lr, step_of):
        per = defaultdict(float)
        for x, y, s in zip(a, b, st):
            per[s] += BETA * (x - y)
        scores.append([per[s] for s in sorted(per)])
    thr = sorted(v for s in scores for v in s)[len(rows)]  # some observed score

    def first_below(sc):
        return next((i for i, v in enumerate(sc) if v < thr), -1)

    res = evaluate_prm_steps(sft_dir, ref_dir, path, beta=BETA, threshold=thr, template="plain", step_sep=",")
    assert res["threshold_rule"] == "given" and res["reported_rows"] == len(rows)
    for subset in ("a", "b"):
        sel = [i for i, r in enumerate(rows) if r["subset"] == subset]
        err = [i for i in sel if rows[i]["label"] >= 0]
        ok = [i for i in sel if rows[i]["label"] == -1]
        acc_e = sum(first_below(scores[i]) == rows[i]["label"] for i in err) / len(err)
        acc_c = sum(first_below(scores[i]) == -1 for i in ok) / len(ok)
        f1 = 0.0 if acc_e == 0 or acc_c == 0 else 2 * acc_e * acc_c / (acc_e + acc_c)
        got = res["subsets"][subset]
        assert (got["acc_error"], got["acc_correct"]) == (pytest.approx(acc_e), pytest.approx(acc_c))
        assert got["f1"] == pytest.approx(f1)
    assert "all" in res["subsets"]
    # held-out threshold: fitted on 50% of the rows, reported on the other half only
    split = evaluate_prm_steps(
        sft_dir, ref_dir, path, beta=BETA, threshold_split=0.5, template="plain", step_sep=","
    )
    assert split["reported_rows"] == len(rows) // 2 and "held-out" in split["threshold_rule"]
    n_rep = sum(m["n_error"] + m["n_correct"] for k, m in split["subsets"].items() if k != "all")
    assert n_rep == len(rows) // 2


def test_eval_prm_bad_input(tmp_path, sft_dir, ref_dir):
    from prime_fast.eval.steps import evaluate_prm_steps

    path = write_jsonl(tmp_path / "pb.jsonl", [{"problem": "1+1=?", "steps": ["1+1=2"], "label": 3}])
    with pytest.raises(ConfigError, match=r"pb\.jsonl: line 1: field 'label'"):
        evaluate_prm_steps(sft_dir, ref_dir, path)
    path = write_jsonl(tmp_path / "pc.jsonl", [{"problem": "1+1=?", "label": -1}])
    with pytest.raises(ConfigError, match=r"pc\.jsonl: line 1: no field 'steps'"):
        evaluate_prm_steps(sft_dir, ref_dir, path)
