"""Tiny random Qwen2 checkpoints for the scale-out tests (vLLM, FSDP2), built offline.

head_dim is 64: vLLM's CPU attention kernel rejects smaller heads. ``initializer_range`` is large so
the logits are peaked and greedy decoding has no near-ties that float rounding could flip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

VOCAB = 256


def tiny_qwen2_config(*, eos_token_id: int = 1, layers: int = 2, tie: bool = False) -> Qwen2Config:
    """A 2-layer Qwen2 with GQA (2 query heads, 1 KV head), head_dim 64, vocab 256."""
    return Qwen2Config(
        vocab_size=VOCAB,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=64,
        max_position_embeddings=256,
        tie_word_embeddings=tie,
        eos_token_id=eos_token_id,
        bos_token_id=0,
        pad_token_id=0,
        initializer_range=0.2,
    )


def tiny_qwen2(seed: int, **kwargs: object) -> Qwen2ForCausalLM:
    """A fresh random tiny Qwen2 in eval mode (fp32)."""
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(tiny_qwen2_config(**kwargs)).eval()  # type: ignore[arg-type]


def save(model: Qwen2ForCausalLM, path: Path) -> Path:
    """Save as an HF checkpoint directory (config + safetensors)."""
    model.save_pretrained(path)
    return path


@torch.no_grad()
def hf_greedy(
    model: Qwen2ForCausalLM, prompts: list[list[int]], max_tokens: int, eos: int
) -> list[list[int]]:
    """HF greedy responses, cut after (and including) the first EOS."""
    out = []
    for p in prompts:
        ids = model.generate(
            torch.tensor([p]), max_new_tokens=max_tokens, do_sample=False, eos_token_id=eos, pad_token_id=eos
        )[0, len(p) :].tolist()
        if eos in ids:
            ids = ids[: ids.index(eos) + 1]
        out.append(ids)
    return out


@torch.no_grad()
def hf_token_logprobs(model: Qwen2ForCausalLM, prompt: list[int], response: list[int]) -> list[float]:
    """log p(response_t | prompt, response_<t) under the HF model (temperature 1)."""
    ids = torch.tensor([prompt + response])
    logits = model(ids).logits[0, len(prompt) - 1 : -1].double()
    lp = torch.log_softmax(logits, -1).gather(-1, torch.tensor(response)[:, None])[:, 0]
    return lp.tolist()


def run_vllm_child(script: str, args: list[str], spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """Run a vLLM child script of this folder (``PF_VLLM_SPEC`` = ``spec``; last argument ``out``),
    assert it succeeded and return the JSON it wrote to ``out``."""
    env = dict(os.environ, PF_VLLM_SPEC=json.dumps(spec))
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).parent / script), *args, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())
