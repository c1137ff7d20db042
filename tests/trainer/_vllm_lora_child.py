"""Child process of test_lora.py's vLLM test: a real vLLM engine fed merged LoRA weights.

Run as ``python _vllm_lora_child.py MODEL_DIR ADAPTER_DIR OUT.json``. Builds the engine on the base
checkpoint, a LoRA policy view on the same base with the saved adapter, and the trainer's wrapper
(``wrap_rollout_engine``); greedy rollout, ``sync_weights(policy.named_parameters())`` (what the
trainer sends), greedy rollout again; writes both as JSON.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    from pathlib import Path

    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from prime_fast.runtime.lora import build_lora_views, wrap_rollout_engine
    from prime_fast.runtime.rollout import SamplingConfig
    from prime_fast.runtime.rollout.vllm import VLLMRollout
    from prime_fast.runtime.settings import LoraSettings, VLLMSection

    model_dir, adapter_dir, out_path = sys.argv[1:4]
    spec = json.loads(os.environ["PF_VLLM_SPEC"])
    engine = VLLMRollout(
        model_dir, VLLMSection(gpu_memory_utilization=0.3, dtype="float32", max_model_len=128), seed=0
    )
    base = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    policy, _, _ = build_lora_views(
        base, LoraSettings(**spec["lora"]), with_prm=True, with_ref=False, base_path=model_dir
    )
    policy.load_state_dict(load_file(str(Path(adapter_dir) / "adapter_model.safetensors")))
    backend = wrap_rollout_engine(engine, policy)
    greedy = SamplingConfig(n=1, temperature=0.0, max_tokens=spec["max_tokens"])
    result = {"before": backend.generate(spec["prompts"], greedy).response_ids}
    backend.sync_weights(policy.named_parameters())
    result["after"] = backend.generate(spec["prompts"], greedy).response_ids
    result["wrapped"] = type(backend).__name__
    Path(out_path).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
