"""Helpers of the eval tests (importable from test modules)."""

from __future__ import annotations

from typing import Any


class CountingBackend:
    """The real HF rollout backend, counting the generate calls that reach it (no fake engine)."""

    def __init__(self, inner: Any, fail_on: set[int] | None = None) -> None:
        self.inner = inner
        self.calls = 0
        self.prompts = 0
        self.fail_on = fail_on or set()
        self.outputs: list[list[int]] = []

    def generate(self, prompt_ids: list[list[int]], sampling: Any) -> Any:
        self.calls += 1
        self.prompts += len(prompt_ids)
        for p in prompt_ids:
            if hash(tuple(p)) in self.fail_on:
                raise RuntimeError("engine failure on this prompt")
        roll = self.inner.generate(prompt_ids, sampling)
        self.outputs += roll.response_ids
        return roll

    def sync_weights(self, named_tensors: Any) -> None:
        self.inner.sync_weights(named_tensors)

    def sleep(self) -> None:
        self.inner.sleep()

    def wake_up(self) -> None:
        self.inner.wake_up()


def write_jsonl(path: Any, rows: list[dict[str, Any]]) -> Any:
    """Write rows as JSON lines; returns the path."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
