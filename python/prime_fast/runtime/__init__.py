"""What the trainer and the eval command both run on, below both of them (neither imports the other):

- :mod:`~prime_fast.runtime.batch`: the padded prompt + response batch (``Batch``, ``build_batch``);
- :mod:`~prime_fast.runtime.models`: loading models and tokenizers, the teacher-forced log-prob forward
  through the fused LM head (``response_logprobs``, ``batched_logprobs``);
- :mod:`~prime_fast.runtime.prompts`: loading rows and encoding prompts with the chat template;
- :mod:`~prime_fast.runtime.rollout`: generation backends (HF ``generate``, vLLM) behind one interface;
- :mod:`~prime_fast.runtime.lora`: LoRA adapters on one shared base (policy, PRM, reference = adapters off);
- :mod:`~prime_fast.runtime.settings`: the ``[vllm]`` and ``[model.lora]`` settings and the checks every
  config section uses.

Imports point down only: ``runtime -> ops -> kernels``; nothing here imports ``trainer``, ``eval`` or ``demo``.
"""
