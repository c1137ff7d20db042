"""Run by ``test_trl_prime.py`` under ``torch.distributed.run`` (2 CPU processes, gloo): each rank calls
``PrimeGRPOTrainer.prime_step`` on its half of one fixed batch whose middle group spans the two ranks, and saves
its advantages, PRM loss and the PRM's gradients. With ``adapter`` the PRM is a LoRA adapter on the LoRA policy's
``PeftModel`` (``PrimeConfig(prm_adapter=True)``). Each rank then also runs one real DDP training step through the
mixin's fused log-probs and fused policy loss and saves the trained weights. Usage: ``python -m torch.distributed.run --nproc_per_node 2 _prime_dist_child.py OUT_DIR
[adapter]``."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

K = 4
ROWS = 12  # three groups of K; rank 0 holds rows 0-5, rank 1 rows 6-11: the second group spans both


def fixed_batch(vocab: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(11)
    prompt_ids = torch.randint(5, vocab, (ROWS, 4), generator=g)
    prompt_mask = torch.ones_like(prompt_ids)
    completion_ids = torch.randint(5, vocab, (ROWS, 9), generator=g)
    lengths = torch.tensor([9, 4, 7, 2, 9, 5, 1, 8, 6, 9, 3, 7])
    completion_mask = (torch.arange(9)[None] < lengths[:, None]).long()
    outcome = torch.tensor([1.0, 0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0])
    return prompt_ids, prompt_mask, completion_ids, completion_mask, outcome


def trainer(adapter: bool = False) -> object:
    from _trl_setup import demo_dataset, grpo_config, tiny_model

    from prime_fast.integrations.trl import PrimeConfig, PrimeGRPOTrainer, math_reward

    world = int(os.environ.get("WORLD_SIZE", "1"))
    model, tok = tiny_model(seed=0)
    args = grpo_config(
        tempfile.mkdtemp(), per_device_train_batch_size=K // world, num_generations=K, max_steps=1
    )
    common = {
        "reward_funcs": [math_reward],
        "args": args,
        "train_dataset": demo_dataset(8),
        "processing_class": tok,
    }
    if not adapter:
        prm, _ = tiny_model(seed=7)
        return PrimeGRPOTrainer(model=model, prm_model=prm, prime=PrimeConfig(lr=1e-3), **common)
    import peft

    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    tr = PrimeGRPOTrainer(
        model=model, peft_config=lora, prime=PrimeConfig(lr=1e-3, prm_adapter=True), **common
    )
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():  # non-zero B factors (peft starts them at 0), the same on every rank
        for name, p in tr.model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
    return tr


def run(tr: object, rows: slice) -> dict[str, object]:
    p_ids, p_mask, c_ids, c_mask, outcome = fixed_batch(tr.model.config.vocab_size)  # type: ignore[attr-defined]
    adv, metrics = tr.prime_step(p_ids[rows], p_mask[rows], c_ids[rows], c_mask[rows], outcome)  # type: ignore[attr-defined]
    grads = {n: p.grad.clone() for n, p in tr.prm_model.named_parameters() if p.grad is not None}  # type: ignore[attr-defined]
    return {"adv": adv, "metrics": metrics, "grads": grads}


def launch(out: Path, *args: str) -> list[dict[str, object]]:
    """Run this file under ``torch.distributed.run`` on 2 CPU processes; each rank's saved results."""
    import socket
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    with socket.socket() as sock:  # a free port (torchrun's static rendezvous does not take port 0)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port)]
    proc = subprocess.run(
        [*cmd, __file__, str(out), *args], capture_output=True, text=True, timeout=500, env=env
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in (0, 1)]


def train_one_step(tr: object, adapter: bool) -> dict[str, object]:
    """One real ``train()`` step (the policy in DDP) with the mixin's fused log-probs and fused policy loss
    forced on (their CPU dispatch would pick TRL's helpers at this size); the trained weights after it (the
    adapters, or every policy weight) and what TRL logged. DDP averages the policy's gradients only if its own
    forward ran: the mixin runs it whenever gradients are on."""
    tr.fused_logprobs = "prime_fast"  # type: ignore[attr-defined]
    tr.fused_policy_loss = "prime_fast"  # type: ignore[attr-defined]
    before = {n: p.detach().clone() for n, p in tr.model.named_parameters()}  # type: ignore[attr-defined]
    tr.train()  # type: ignore[attr-defined]
    held = {id(p) for group in tr.optimizer.param_groups for p in group["params"]}  # type: ignore[attr-defined]
    named = dict(tr.model.named_parameters())  # type: ignore[attr-defined]
    return {
        "ddp": type(tr.model_wrapped).__name__,  # type: ignore[attr-defined]
        "loss_path": tr.policy_loss_path,  # type: ignore[attr-defined]
        "optimizer_holds": sorted(n for n, p in named.items() if id(p) in held),
        "weights": {n: p.detach().clone() for n, p in named.items() if not adapter or ".lora_" in n},
        "moved": max(float((p.detach() - before[n]).abs().max()) for n, p in named.items()),
        "logs": [h for h in tr.state.log_history if "prm/loss" in h],  # type: ignore[attr-defined]
    }


def main(out: str, mode: str = "") -> None:
    adapter = mode == "adapter"
    tr = trainer(adapter)
    rank = tr.accelerator.process_index  # type: ignore[attr-defined]
    assert tr.accelerator.num_processes == 2  # type: ignore[attr-defined]
    half = ROWS // 2
    res = run(tr, slice(rank * half, (rank + 1) * half))
    res["train"] = train_one_step(tr, adapter)
    torch.save(res, Path(out) / f"rank{rank}.pt")


if __name__ == "__main__":
    main(*sys.argv[1:])
