"""The embedded default task of ``prime-fast train``: everything is built offline, in code.

- :mod:`prime_fast.demo.task`: procedurally generated multi-step arithmetic problems whose answers
  are written in ``\\boxed{}`` and checked by the Rust math verifier, as Eurus-2-RL-Data rows;
- :mod:`prime_fast.demo.tokenizer`: a character-level ``PreTrainedTokenizerFast`` with a chat template;
- :mod:`prime_fast.demo.model`: a tiny Qwen2-style model (random init) and its short SFT warm-start.
"""
