"""Run by ``test_verl.py`` in a fresh interpreter: ``install()`` takes effect on verl's fused log-prob hook and on
the PRIME recipe, whether their modules are imported before or after it. Prints one JSON report.

Usage: ``python _verl_install_child.py before|after`` (when the modules are imported relative to ``install()``).
"""

from __future__ import annotations

import importlib
import json
import sys

import torch


def _recipe() -> object | None:
    try:
        return importlib.import_module("recipe.prime.prime_core_algos")
    except ImportError:
        return None


def _fused_forward_check() -> float:
    """Largest gap between verl's Triton-backend forward (now on prime-fast's op) and eager log-softmax."""
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from verl.models.transformers.monkey_patch import patch_forward_with_backends

    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        tie_word_embeddings=False,
    )
    eager = Qwen2ForCausalLM(cfg).float().eval()
    ids = torch.randint(0, 97, (2, 9))
    with torch.no_grad():
        logits = eager(input_ids=ids).logits
    want = (
        torch.log_softmax(logits.float() / 0.7, -1)
        .gather(-1, torch.roll(ids, -1, -1).unsqueeze(-1))
        .squeeze(-1)
    )
    patch_forward_with_backends(eager, use_fused_kernels=True, fused_kernels_backend="triton")
    with torch.no_grad():
        out = eager(input_ids=ids, temperature=0.7, return_dict=True)
    return float((out.log_probs - want).abs().max())


def _recipe_check(pca: object, originals: dict[str, object]) -> dict[str, float]:
    """The recipe's original advantage and loss vs what install() put in their place, on one random batch."""
    from omegaconf import OmegaConf
    from verl import DataProto

    torch.manual_seed(1)
    b, t, p, k = 8, 7, 3, 4
    lengths = torch.tensor([7, 5, 1, 6, 7, 2, 4, 3])
    resp_mask = (torch.arange(t)[None] < lengths[:, None]).long()
    attn = torch.cat([torch.ones(b, p, dtype=torch.long), resp_mask], 1)
    acc = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    rm = torch.randn(b, t) * resp_mask
    data = DataProto.from_dict(
        {"prompts": torch.zeros(b, p, dtype=torch.long), "attention_mask": attn, "acc": acc, "rm_scores": rm}
    )
    cfg = OmegaConf.create({"algorithm": {"reward_dpo_coef": 5.0, "reward_gt_coef": 5.0}})
    a0, r0 = originals["compute_rloo_advantage_return"](data, resp_mask, k, cfg)
    a1, r1 = pca.compute_rloo_advantage_return(data, resp_mask, k, cfg)
    q = torch.randn(b, t, requires_grad=True)
    l0 = originals["compute_ce_dpo_loss_rm"](q, acc, resp_mask, 0.05)
    l1 = pca.compute_ce_dpo_loss_rm(q, acc, resp_mask, 0.05)
    (g0,) = torch.autograd.grad(l0, q)
    (g1,) = torch.autograd.grad(l1, q)
    m = resp_mask.bool()  # the recipe whitens padding too; verl masks it out wherever advantages are used
    return {
        "adv_gap": float((a0 - a1)[m].abs().max()),
        "ret_gap": float((r0 - r1)[m].abs().max()),
        "loss_gap": float((l0 - l1).detach().abs()),
        "grad_gap": float((g0 - g1).abs().max()),
    }


def main(order: str) -> None:
    from prime_fast.integrations import verl_patches
    from prime_fast.integrations.verl import install

    originals: dict[str, object] = {}
    if order == "before":
        import verl.utils.kernel.linear_cross_entropy  # noqa: F401

        pca = _recipe()
        if pca is not None:
            originals = {
                n: getattr(pca, n) for n in ("compute_rloo_advantage_return", "compute_ce_dpo_loss_rm")
            }
    install()
    import verl.utils.kernel.linear_cross_entropy as lce

    pca = _recipe()
    report: dict[str, object] = {
        "lce_is_prime_fast": lce.linear_cross_entropy is verl_patches.linear_cross_entropy,
        "fused_gap": _fused_forward_check(),
        "recipe": pca is not None,
    }
    if pca is not None:
        report["recipe_is_prime_fast"] = (
            pca.compute_rloo_advantage_return is verl_patches.compute_rloo_advantage_return
            and pca.compute_ce_dpo_loss_rm is verl_patches.compute_ce_dpo_loss_rm
        )
        if originals:
            report.update(_recipe_check(pca, originals))
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
