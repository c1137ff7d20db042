"""Run by ``test_trl_prime.py`` under ``torch.distributed.run`` (2 CPU processes, gloo): each rank calls
``PrimeGRPOTrainer.prime_step`` on its half of one fixed batch whose middle group spans the two ranks, and saves
its advantages, PRM loss and the PRM's gradients. Usage: ``python -m torch.distributed.run --nproc_per_node 2
_prime_dist_child.py OUT_DIR``."""

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


def trainer() -> object:
    from _trl_setup import demo_dataset, grpo_config, tiny_model

    from prime_fast.integrations.trl import PrimeConfig, PrimeGRPOTrainer, math_reward

    world = int(os.environ.get("WORLD_SIZE", "1"))
    model, tok = tiny_model(seed=0)
    prm, _ = tiny_model(seed=7)
    return PrimeGRPOTrainer(
        model=model,
        reward_funcs=[math_reward],
        args=grpo_config(tempfile.mkdtemp(), per_device_train_batch_size=K // world, num_generations=K),
        train_dataset=demo_dataset(8),
        processing_class=tok,
        prm_model=prm,
        prime=PrimeConfig(lr=1e-3),
    )


def run(tr: object, rows: slice) -> dict[str, object]:
    p_ids, p_mask, c_ids, c_mask, outcome = fixed_batch(tr.model.config.vocab_size)  # type: ignore[attr-defined]
    adv, metrics = tr.prime_step(p_ids[rows], p_mask[rows], c_ids[rows], c_mask[rows], outcome)  # type: ignore[attr-defined]
    grads = {n: p.grad.clone() for n, p in tr.prm_model.named_parameters() if p.grad is not None}  # type: ignore[attr-defined]
    return {"adv": adv, "metrics": metrics, "grads": grads}


def main(out: str) -> None:
    tr = trainer()
    rank = tr.accelerator.process_index  # type: ignore[attr-defined]
    assert tr.accelerator.num_processes == 2  # type: ignore[attr-defined]
    half = ROWS // 2
    torch.save(run(tr, slice(rank * half, (rank + 1) * half)), Path(out) / f"rank{rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1])
