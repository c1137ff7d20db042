"""The generation engine of a checkpoint for ``prime-fast eval``: HF ``generate`` or a colocated vLLM engine
(both :mod:`prime_fast.runtime.rollout` backends), built on first use, and the checkpoint's cache identity."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from prime_fast.errors import ConfigError


def model_fingerprint(path: str | Path) -> str:
    """Path, config and weight files' sizes and mtimes: changes when the checkpoint changes."""
    p = Path(path).resolve()
    h = hashlib.sha256(str(p).encode())
    for f in sorted(p.glob("*")):
        if f.suffix in (".json", ".safetensors", ".bin", ".model", ".txt"):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return f"{p}@{h.hexdigest()[:16]}"


def check_model_dir(model: str | Path, kind: str) -> str:
    """``model`` as a path, checked to be an HF checkpoint directory for an ``hf`` or ``vllm`` engine."""
    if kind not in ("hf", "vllm"):
        raise ConfigError(f"--backend must be hf or vllm, got {kind!r}")
    path = str(model)
    if not (Path(path) / "config.json").is_file():
        raise ConfigError(f"--model {path}: not an HF checkpoint directory (no config.json)")
    return path


def build_backend(
    model: str | Path, tokenizer: Any, *, kind: str = "hf", dtype: str = "auto", max_model_len: int = 0
) -> Any:
    """The rollout backend of a checkpoint directory: HF ``generate`` or a colocated vLLM engine."""
    import torch

    from prime_fast.runtime.models import load_causal_lm

    path = check_model_dir(model, kind)
    cuda = torch.cuda.is_available()
    if dtype == "auto":
        dtype = "bfloat16" if cuda else "float32"
    if kind == "vllm":
        try:
            from prime_fast.runtime.rollout.vllm import VLLMRollout
            from prime_fast.runtime.settings import VLLMSection
        except ImportError as e:
            raise ConfigError(f"--backend vllm is not available here: {e}") from None
        cfg = VLLMSection(
            dtype=dtype, max_model_len=max_model_len or 0, gpu_memory_utilization=0.85 if cuda else 0.3
        )
        return VLLMRollout(path, cfg, eos_token_id=int(tokenizer.eos_token_id))
    from prime_fast.runtime.rollout.hf import HFRolloutBackend

    lm = load_causal_lm(path, dtype, trainable=False)
    if cuda:
        lm = lm.cuda()
    return HFRolloutBackend(
        lm, eos_token_id=int(tokenizer.eos_token_id), pad_token_id=int(tokenizer.pad_token_id)
    )


class LazyBackend:
    """Builds the engine on the first ``generate``: a run served from the cache loads no model."""

    def __init__(self, build: Any) -> None:
        self._build = build
        self.engine: Any = None

    def generate(self, prompt_ids: list[list[int]], sampling: Any) -> Any:
        """Build the engine if needed, then generate."""
        if self.engine is None:
            self.engine = self._build()
        return self.engine.generate(prompt_ids, sampling)

    def sync_weights(self, named_tensors: Any) -> None:
        """Forwarded to the engine (built if needed)."""
        if self.engine is None:
            self.engine = self._build()
        self.engine.sync_weights(named_tensors)

    def sleep(self) -> None:
        """Forwarded when the engine exists."""
        if self.engine is not None:
            self.engine.sleep()

    def wake_up(self) -> None:
        """Forwarded when the engine exists."""
        if self.engine is not None:
            self.engine.wake_up()


__all__ = ["LazyBackend", "build_backend", "check_model_dir", "model_fingerprint"]
