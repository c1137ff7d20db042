"""A tiny Qwen2-style causal LM for the demo and its short SFT warm-start."""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def build_model(
    vocab_size: int,
    *,
    seed: int,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int = 256,
    max_positions: int = 128,
) -> Any:
    """A randomly initialised ``Qwen2ForCausalLM`` (head_dim = hidden_size / num_heads = 64 by default)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=1,
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    return model.float()


def sft_warmstart(
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> list[float]:
    """Teacher-forced SFT on the worked solutions of ``rows`` (loss on response tokens only).

    Cosine schedule with 10% warmup, AdamW. Returns the loss per step.
    """
    import torch

    rng = random.Random(seed)
    eos = tokenizer.eos_token_id
    examples = []
    for row in rows:
        p = tokenizer.apply_chat_template(
            row["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        r = tokenizer(row["extra_info"]["solution"], add_special_tokens=False)["input_ids"] + [eos]
        examples.append((list(p), r))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    warm = max(1, steps // 10)

    def lr_at(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    losses = []
    for _ in range(steps):
        batch = [examples[rng.randrange(len(examples))] for _ in range(batch_size)]
        width = max(len(p) + len(r) for p, r in batch)
        ids = torch.full((batch_size, width), tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((batch_size, width), -100, dtype=torch.long)
        attn = torch.zeros((batch_size, width), dtype=torch.long)
        for i, (p, r) in enumerate(batch):
            seq = p + r
            ids[i, : len(seq)] = torch.tensor(seq)
            attn[i, : len(seq)] = 1
            labels[i, len(p) : len(seq)] = torch.tensor(r)
        out = model(input_ids=ids, attention_mask=attn, labels=labels)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(out.loss.detach()))
        if len(losses) % 100 == 0:
            log.info("demo SFT warm-start: step %d/%d, loss %.3f", len(losses), steps, losses[-1])
    model.eval()
    return losses


def build_sft_checkpoint(
    out_dir: str | Path,
    *,
    seed: int,
    train_rows: list[dict[str, Any]],
    steps: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    hidden_size: int = 128,
    num_layers: int = 2,
) -> Path:
    """Build tokenizer + tiny model, run the SFT warm-start, save both (HF format) under ``out_dir``."""
    from prime_fast.demo.tokenizer import build_tokenizer

    out_dir = Path(out_dir)
    tok = build_tokenizer()
    model = build_model(
        len(tok),
        seed=seed,
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=hidden_size // 64,
        intermediate_size=2 * hidden_size,
    )
    losses = sft_warmstart(model, tok, train_rows, steps=steps, batch_size=batch_size, lr=lr, seed=seed)
    log.info("demo SFT warm-start: %d steps, loss %.3f -> %.3f", steps, losses[0], losses[-1])
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir
