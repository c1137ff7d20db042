"""``prime-fast eval --backend vllm`` with the real vLLM CPU engine (slow tier)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from prime_fast.eval.api import evaluate


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "prime_fast", "--log-level", "WARNING", "eval", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


@pytest.mark.slow
@pytest.mark.vllm
def test_vllm_backend_greedy_matches_hf_and_rerun_loads_no_engine(sft_dir, bench_files, policy, tmp_path):
    pytest.importorskip("vllm")
    out = tmp_path / "vllm"
    args = [
        "--backend",
        "vllm",
        "--model",
        str(sft_dir),
        "--bench",
        f"demo={bench_files['demo']}",
        "--out",
        str(out),
        "--n",
        "4",
        "--temperature",
        "1.0",
        "--k",
        "1,4",
        "--max-tokens",
        "24",
        "--no-progress",
    ]
    first = cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "generated 48 prompts" in first.stdout
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    greedy_vllm = [s["response"] for s in samples if s["mode"] == "greedy"]
    hf = evaluate(
        None,
        {"demo": str(bench_files["demo"])},
        None,
        backend=_hf(policy),
        tokenizer=policy[1],
        temperature=0.0,
        n=1,
        max_tokens=24,
        progress=False,
    )
    assert greedy_vllm == [s["response"] for s in hf.samples]
    res = json.loads((out / "results.json").read_text())
    assert res["benchmarks"]["demo"]["greedy"] == hf.benchmarks["demo"]["greedy"]
    # the rerun is served from the cache: no engine is built, nothing generated, same results
    second = cli(*args)
    assert second.returncode == 0 and "generated 0 prompts" in second.stdout
    assert json.loads((out / "results.json").read_text())["benchmarks"] == res["benchmarks"]


def _hf(policy):
    from prime_fast.runtime.rollout.hf import HFRolloutBackend

    model, tok = policy
    return HFRolloutBackend(model, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
