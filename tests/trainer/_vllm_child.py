"""Child process of test_vllm_rollout.py: drive a real vLLM engine, write what it returned as JSON.

Run as ``python _vllm_child.py MODEL_DIR NEW_WEIGHTS.safetensors OUT.json``. vLLM runs in its own
process so that its thread binding, warnings and process-group set-up stay out of pytest's process.
Steps: greedy rollout; seeded sampling with log-probs (twice, to check reproducibility); in-place
sync of the weights in NEW_WEIGHTS (read into memory, HF names) ; greedy rollout again.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    from safetensors.torch import load_file

    from prime_fast.runtime.rollout import SamplingConfig
    from prime_fast.runtime.rollout.vllm import VLLMRollout
    from prime_fast.runtime.settings import VLLMSection

    model_dir, new_weights, out_path = sys.argv[1:4]
    spec = json.loads(os.environ["PF_VLLM_SPEC"])
    prompts = spec["prompts"]
    t0 = time.perf_counter()
    engine = VLLMRollout(
        model_dir, VLLMSection(gpu_memory_utilization=0.3, dtype="float32", max_model_len=128), seed=0
    )
    t_engine = time.perf_counter() - t0
    greedy = SamplingConfig(n=2, temperature=0.0, max_tokens=spec["max_tokens"])
    sample = SamplingConfig(n=3, temperature=1.0, max_tokens=8, seed=7, logprobs=True)

    result: dict[str, object] = {}
    b = engine.generate(prompts, greedy)
    result["greedy_before"] = {"responses": b.response_ids, "truncated": b.truncated, "n": b.n}
    s1 = engine.generate(prompts, sample)
    s2 = engine.generate(prompts, sample)
    result["sample"] = {"responses": s1.response_ids, "logprobs": s1.logprobs, "truncated": s1.truncated}
    result["sample_repeat"] = s2.response_ids

    tensors = load_file(new_weights)
    t1 = time.perf_counter()
    engine.sync_weights(tensors.items())
    t_sync = time.perf_counter() - t1
    engine.sleep()  # no-op on the CPU; must not break the engine
    engine.wake_up()
    b = engine.generate(prompts, greedy)
    result["greedy_after"] = {"responses": b.response_ids, "truncated": b.truncated}
    result["timing"] = {"engine_s": t_engine, "sync_s": t_sync}
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
