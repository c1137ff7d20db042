"""Issue 23: ``PrimeGRPOTrainer``'s implicit PRM as copies of the policy vs as a LoRA adapter on its base.

The policy is trained with LoRA in TRL (``peft_config``: rank ``--rank``, alpha ``2 * rank``, every linear layer)
in both setups:

    copy     the PRM and its reference are copies of the policy's base (``PrimeGRPOTrainer``'s default); the PRM
             learns all its weights (AdamW over the full copy).
    adapter  ``PrimeConfig(prm_adapter=True)``: the PRM is a second adapter ``"prm"`` on the policy's PeftModel,
             its reference the base with adapters disabled.

Each setup runs in a fresh subprocess (``MALLOC_MMAP_THRESHOLD_=131072``, so freed tensors leave the resident set)
on a random fp32 model of Qwen2.5-0.5B's shape (hidden 896, 14 heads, 2 KV heads, intermediate 4864, vocab 151936,
tied embeddings; ``--layers`` of its 24): building the trainer, then one ``prime_step`` (reference and PRM
log-probs, the PRM's BCE update, PRIME's advantages) on ``--rows`` completions of ``--new-tokens`` tokens after
``--prompt-len`` prompt tokens. Reported: the parameters the trainer holds (policy, PRM and reference, each tensor
counted once), the PRM's trainable parameters, and the peak resident set from after the imports to the end of the
step, minus the resident set after the imports (the models, the PRM's gradients and AdamW states, activations).

    python -m benches.bench_trl_prm_adapter --json benches/cpu/trl-prm-adapter.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benches._io import save_json

SETUPS = ("copy", "adapter")
SHAPE = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "tie_word_embeddings": True,
    "max_position_embeddings": 4096,
}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _trainer(setup: str, args: argparse.Namespace) -> Any:
    import peft
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from trl import GRPOConfig

    from prime_fast.demo.task import make_rows
    from prime_fast.demo.tokenizer import build_tokenizer
    from prime_fast.integrations.trl import PrimeConfig, PrimeGRPOTrainer, math_reward

    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(num_hidden_layers=args.layers, **SHAPE)).float()  # type: ignore[arg-type]
    from datasets import Dataset

    rows = make_rows(8, 0, "train")
    data = Dataset.from_list(
        [{"prompt": r["prompt"], "ground_truth": r["reward_model"]["ground_truth"]} for r in rows]
    )
    cfg = GRPOConfig(
        output_dir=tempfile.mkdtemp(),
        use_cpu=True,
        per_device_train_batch_size=args.rows,
        num_generations=args.rows // 2,
        report_to="none",
        save_strategy="no",
        bf16=False,
    )
    lora = peft.LoraConfig(
        r=args.rank, lora_alpha=2 * args.rank, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    return PrimeGRPOTrainer(
        model=model,
        reward_funcs=[math_reward],
        args=cfg,
        train_dataset=data,
        processing_class=build_tokenizer(),
        peft_config=lora,
        prime=PrimeConfig(lr=1e-4, prm_adapter=setup == "adapter"),
    )


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One setup in this process: build, one ``prime_step``; returns its measurements."""
    import torch

    torch.set_num_threads(args.threads)
    base_kib = _status_kib("VmHWM")
    t0 = time.perf_counter()
    tr = _trainer(args.child, args)
    t_build = time.perf_counter() - t0
    held: dict[int, Any] = {}
    for m in (tr.model, tr.prm_model, tr.prm_ref_model):
        if m is not None:
            held.update({id(p): p for p in m.parameters()})
    prm_trainable = sum(p.numel() for group in tr.prm_optimizer.param_groups for p in group["params"])
    g = torch.Generator().manual_seed(0)
    n, p_len, t = args.rows, args.prompt_len, args.new_tokens
    prompt_ids = torch.randint(2, SHAPE["vocab_size"], (n, p_len), generator=g)
    completion_ids = torch.randint(2, SHAPE["vocab_size"], (n, t), generator=g)
    outcome = torch.tensor([float(i % 2) for i in range(n)])
    t1 = time.perf_counter()
    _, metrics = tr.prime_step(
        prompt_ids, torch.ones_like(prompt_ids), completion_ids, torch.ones_like(completion_ids), outcome
    )
    return {
        "setup": args.child,
        "layers": args.layers,
        "params_held": sum(p.numel() for p in held.values()),
        "prm_trainable": prm_trainable,
        "peak_mib": (_status_kib("VmHWM") - base_kib) / 1024,
        "build_s": t_build,
        "step_s": time.perf_counter() - t1,
        "prm_loss": metrics["prm/loss"],
    }


def run_child(args: argparse.Namespace, setup: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benches.bench_trl_prm_adapter", "--child", setup]
    cmd += ["--layers", str(args.layers), "--rank", str(args.rank), "--rows", str(args.rows)]
    cmd += [
        "--prompt-len",
        str(args.prompt_len),
        "--new-tokens",
        str(args.new_tokens),
        "--threads",
        str(args.threads),
    ]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    with tempfile.TemporaryDirectory() as result:
        out = subprocess.run([*cmd, "--result", result], capture_output=True, text=True, check=False, env=env)
        if out.returncode != 0:
            raise RuntimeError(f"{setup} failed:\n{out.stderr[-3000:]}")
        return json.loads((Path(result) / "result.json").read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--child", choices=SETUPS, default=None)
    ap.add_argument("--result", default=None)
    args = ap.parse_args(argv)
    if args.child:
        save_json(Path(args.result) / "result.json", child(args))
        return 0
    results = [run_child(args, s) for s in SETUPS]
    copy_ = results[0]
    print(f"{'setup':8} {'params held':>14} {'PRM trainable':>14} {'peak MiB':>9} {'step s':>7}")
    for r in results:
        print(
            f"{r['setup']:8} {r['params_held']:>14,} {r['prm_trainable']:>14,} {r['peak_mib']:>9.0f} "
            f"{r['step_s']:>7.2f}  ({r['peak_mib'] / copy_['peak_mib']:.3f}x memory of copy)"
        )
    if args.json:
        machine = (
            f"{platform.machine()}, {os.cpu_count()} CPUs (2-core CPU VM, shared with other jobs, indicative)"
        )
        save_json(
            args.json, {"machine": machine, "args": {k: v for k, v in vars(args).items()}, "results": results}
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
