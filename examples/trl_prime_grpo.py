"""PRIME inside TRL on a CPU: the embedded arithmetic task, its SFT warm-start, ``PrimeGRPOTrainer``.

Builds the same assets as ``prime-fast train`` (the demo data and the 600-step SFT warm-start of the tiny
Qwen2 model, in ``--out``), measures held-out greedy accuracy, trains with TRL's ``GRPOTrainer`` subclass
``PrimeGRPOTrainer`` (implicit PRM + PRIME's per-token advantages; ``--baseline`` for plain ``GRPOTrainer``
with ``math_reward``), and measures again. Prints one JSON line with the accuracies. ``--lora R`` trains the
policy as a LoRA adapter of rank ``R`` (TRL's ``peft_config``, every linear layer) and puts the implicit PRM on
the same base as a second adapter (``PrimeConfig(prm_adapter=True)``); adapters want larger learning rates.

    python examples/trl_prime_grpo.py --out runs/trl-prime --steps 40
    python examples/trl_prime_grpo.py --out runs/trl-grpo --steps 40 --baseline
    python examples/trl_prime_grpo.py --out runs/trl-prime-lora --steps 40 --lora 16 --lr 5e-4 --prm-lr 2e-3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def demo_assets(out: Path) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """The demo's SFT checkpoint and its train / held-out rows (built once in ``out``)."""
    from prime_fast.demo.assets import prepare_demo
    from prime_fast.trainer.config import load_config

    policy, train_files, val_files = prepare_demo(load_config(None, []), out)

    def rows(files: tuple[str, ...]) -> list[dict[str, Any]]:
        return [json.loads(line) for f in files for line in Path(f).read_text().splitlines() if line.strip()]

    return policy, rows(train_files), rows(val_files)


def as_trl(rows: list[dict[str, Any]]) -> Any:
    """Eurus-2-RL-Data rows as a TRL conversational dataset: ``prompt``, ``ground_truth``, ``ability``."""
    from datasets import Dataset

    return Dataset.from_list(
        [
            {
                "prompt": r["prompt"],
                "ground_truth": r["reward_model"]["ground_truth"],
                "ability": r["ability"],
            }
            for r in rows
        ]
    )


def held_out_accuracy(model: Any, tok: Any, rows: list[dict[str, Any]], max_new_tokens: int = 32) -> float:
    """Greedy accuracy on ``rows`` scored by ``math_reward``."""
    import torch

    from prime_fast.integrations.trl import math_reward

    model.eval()
    texts = []
    for i in range(0, len(rows), 64):
        chunk = rows[i : i + 64]
        enc = tok.apply_chat_template(
            [r["prompt"] for r in chunk],
            add_generation_prompt=True,
            padding=True,
            return_tensors="pt",
            return_dict=True,
        )
        with torch.no_grad():
            gen = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
            )
        texts += tok.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    scores = math_reward(completions=texts, ground_truth=[r["reward_model"]["ground_truth"] for r in rows])
    return sum(s or 0.0 for s in scores) / len(rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/trl-prime")
    p.add_argument("--steps", type=int, default=40, help="RL steps (one generation batch each)")
    p.add_argument("--prompts", type=int, default=32, help="prompts per step")
    p.add_argument("--k", type=int, default=4, help="samples per prompt")
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--prm-lr", type=float, default=5e-4)
    p.add_argument("--n-val", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baseline", action="store_true", help="plain GRPOTrainer with math_reward")
    p.add_argument(
        "--lora", type=int, default=0, help="LoRA rank of the policy (and of the PRM adapter); 0: off"
    )
    a = p.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from prime_fast.integrations.trl import PrimeConfig, PrimeGRPOTrainer, math_reward

    torch.set_num_threads(1)
    out = Path(a.out)
    policy_path, train_rows, val_rows = demo_assets(out)
    tok = AutoTokenizer.from_pretrained(policy_path)
    model = AutoModelForCausalLM.from_pretrained(policy_path, dtype=torch.float32)
    val_rows = val_rows[: a.n_val]
    before = held_out_accuracy(model, tok, val_rows)
    rows = a.prompts * a.k
    args = GRPOConfig(
        output_dir=str(out / "trl"),
        use_cpu=True,
        per_device_train_batch_size=rows
        // 2,  # two optimizer steps per generation batch, like the demo preset
        steps_per_generation=2,
        num_generations=a.k,
        max_completion_length=32,
        max_steps=2 * a.steps,
        learning_rate=a.lr,
        lr_scheduler_type="constant",
        beta=0.0,
        logging_steps=2,
        report_to="none",
        save_strategy="no",
        seed=a.seed,
        bf16=False,
        disable_tqdm=True,
    )
    common = {"model": model, "reward_funcs": [math_reward], "args": args, "processing_class": tok}
    if a.lora:
        from peft import LoraConfig

        common["peft_config"] = LoraConfig(
            r=a.lora, lora_alpha=2 * a.lora, target_modules="all-linear", task_type="CAUSAL_LM"
        )
    dataset = as_trl(train_rows)
    if a.baseline:
        trainer: Any = GRPOTrainer(train_dataset=dataset, **common)
    else:
        prime = PrimeConfig(lr=a.prm_lr, prm_adapter=a.lora > 0)
        trainer = PrimeGRPOTrainer(train_dataset=dataset, prime=prime, **common)
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    after = held_out_accuracy(trainer.model, tok, val_rows)
    result = {
        "trainer": "GRPOTrainer" if a.baseline else "PrimeGRPOTrainer",
        "steps": a.steps,
        "lora": a.lora,
        "held_out_before": before,
        "held_out_after": after,
        "gain": after - before,
        "train_seconds": seconds,
        "n_val": len(val_rows),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
