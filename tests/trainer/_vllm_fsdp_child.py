"""Child of test_vllm_rollout.py, run by ``torchrun --nproc_per_node 2``: an FSDP2-sharded policy
synced into per-rank vLLM engines (``external_launcher``; tensor parallel over both ranks when
TP=2), checked against HF greedy decoding with the same, gathered weights.

Usage: ``_vllm_fsdp_child.py OUT_DIR TP [lora]``. Each rank writes ``rank<r>.json``. With ``lora``
the policy is a LoRA view of one base sharded by the trainer's ``FSDPContext``; one optimizer step
moves its adapter only, and the engine (wrapped as the trainer wraps it) receives the merged
weights computed from the gathered base and adapter tensors.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    import torch
    from _scale_models import VOCAB, hf_greedy, save, tiny_qwen2

    from prime_fast.runtime.rollout import SamplingConfig
    from prime_fast.runtime.rollout.vllm import VLLMRollout
    from prime_fast.runtime.settings import VLLMSection
    from prime_fast.trainer import distributed as D

    out_dir, tp = Path(sys.argv[1]), int(sys.argv[2])
    lora = sys.argv[3:] == ["lora"]
    ctx = D.init_distributed("gloo")
    eos = VOCAB - 1
    model_dir = out_dir / "policy"
    if ctx.is_main:
        save(tiny_qwen2(0, eos_token_id=eos), model_dir)
    torch.distributed.barrier()

    if lora:
        from prime_fast.runtime.lora import build_lora_views, wrap_rollout_engine
        from prime_fast.runtime.settings import LoraSettings
        from prime_fast.trainer.context import FSDPContext

        view, _, _ = build_lora_views(
            tiny_qwen2(0, eos_token_id=eos), LoraSettings(rank=4, alpha=8.0), with_prm=True, with_ref=True
        )
        policy = FSDPContext(ctx).prepare_model(view, trainable=True)
    else:
        policy = D.shard_model(tiny_qwen2(0, eos_token_id=eos).train(), ctx)
    engine = VLLMRollout(
        model_dir,
        VLLMSection(tensor_parallel_size=tp, gpu_memory_utilization=0.3, dtype="float32", max_model_len=64),
    )
    if lora:
        engine = wrap_rollout_engine(engine, policy)
    g = torch.Generator().manual_seed(5)
    prompts = torch.randint(2, VOCAB - 1, (4, 5), generator=g).tolist()
    mine = D.split_groups(prompts, 1, ctx)
    greedy = SamplingConfig(n=1, temperature=0.0, max_tokens=12)
    before = engine.generate(mine, greedy).response_ids

    # One optimizer step on the sharded policy changes every trainable weight (LoRA: two, as B
    # starts at zero and A's first gradient is zero).
    opt = torch.optim.SGD([p for p in policy.parameters() if p.requires_grad], lr=5.0 if lora else 0.5)
    ids = torch.tensor(prompts)
    for _ in range(2 if lora else 1):
        loss = policy(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    full = dict(D.full_named_parameters(policy))  # LoRA: base_layer and this adapter's tensors
    engine.sync_weights(full.items())
    after = engine.generate(mine, greedy).response_ids

    reference = tiny_qwen2(0, eos_token_id=eos)
    if lora:  # the merge in float64 from the gathered tensors, as the expected weights
        for name, t in list(full.items()):
            if ".lora_A.policy." in name:
                layer = name.split(".lora_A.")[0]
                scale = 8.0 / 4
                b = full[f"{layer}.lora_B.policy.weight"].double()
                w = full[f"{layer}.base_layer.weight"].double()
                full[f"{layer}.weight"] = (w + scale * b @ t.double()).float()
        full = {
            k.replace(".base_layer.", "."): v
            for k, v in full.items()
            if ".lora_" not in k and not k.endswith(".base_layer.weight")
        }
        assert set(full) == {n for n, _ in reference.named_parameters()}, sorted(full)[:4]
    reference.load_state_dict(full, strict=False)  # a tied/absent lm_head key is fine here
    expect_before = hf_greedy(tiny_qwen2(0, eos_token_id=eos), mine, 12, eos)
    expect_after = hf_greedy(reference, mine, 12, eos)
    (out_dir / f"rank{ctx.rank}.json").write_text(
        json.dumps(
            {"before": before, "after": after, "expect_before": expect_before, "expect_after": expect_after}
        )
    )
    torch.distributed.barrier()
    engine.close()
    D.destroy_distributed()


if __name__ == "__main__":
    main()
