"""The loop's collection phase: accuracy-band filter over rounds, first-B groups kept, surplus
prompts buffered and regenerated first at the next step, epochs wrapping with a warning."""

from __future__ import annotations

import logging

from prime_fast.demo.assets import prepare_demo
from prime_fast.runtime.rollout.base import RolloutBatch, SamplingConfig
from prime_fast.trainer.config import load_config
from prime_fast.trainer.loop import Trainer


class ScriptedBackend:
    """A rollout backend whose K answers to prompt ``p`` are right for the first ``c(p)`` samples,
    with ``c`` cycling through 0..K by the prompt's dataset index (real text, scored by the verifier)."""

    def __init__(self, trainer: Trainer) -> None:
        self.tok = trainer.tokenizer
        self.by_ids = {p.ids: p for p in trainer.train_prompts}
        self.calls: list[list[int]] = []

    def correct(self, index: int, k: int) -> int:
        return index % (k + 1)

    def generate(self, prompt_ids: list[list[int]], sampling: SamplingConfig) -> RolloutBatch:
        self.calls.append([self.by_ids[tuple(p)].index for p in prompt_ids])
        out = []
        for ids in prompt_ids:
            p = self.by_ids[tuple(ids)]
            right = self.correct(p.index, sampling.n)
            for j in range(sampling.n):
                ans = int(p.ground_truth) + (0 if j < right else 1)
                out.append(self.tok("\\boxed{" + str(ans) + "}", add_special_tokens=False)["input_ids"] + [1])
        return RolloutBatch([list(p) for p in prompt_ids], out, [False] * len(out))

    def sync_weights(self, named_tensors) -> None:
        pass

    def sleep(self) -> None:
        pass

    def wake_up(self) -> None:
        pass


def test_collect_filters_keeps_first_groups_and_buffers_surplus(tmp_path, tiny_overrides, caplog) -> None:
    cfg = load_config(
        None,
        [
            *tiny_overrides(str(tmp_path / "r"), steps=3),
            "algo.accuracy_lower_bound=0.2",
            "data.train_batch_size=2",
            "data.oversample_factor=3",
            "demo.n_train=12",
        ],
    )
    tr = Trainer(cfg, tmp_path / "r", prepare=prepare_demo)
    tr.setup()
    backend = tr.backend = ScriptedBackend(tr)
    k = cfg.rollout.n
    ro, m = tr.collect({})
    # Exactly B groups, contiguous, each inside the band.
    assert len(ro) == 2 * k
    for g in range(2):
        idx = {s.prompt.index for s in ro[g * k : (g + 1) * k]}
        assert len(idx) == 1
        assert 0.2 <= sum(s.acc for s in ro[g * k : (g + 1) * k]) / k <= 0.8
    drawn = backend.calls[0]
    passing = [i for i in drawn if 1 <= backend.correct(i, k) <= 3]
    assert [ro[0].prompt.index, ro[k].prompt.index] == passing[:2]
    assert m["filter/pass_rate"] == len(passing) / len(drawn)
    # Surplus passing prompts wait in the buffer and are generated first at the next collect.
    assert [tr.sampler.prompts[i].index for i in tr.sampler.buffer] == passing[2:]
    before_epoch = tr.sampler.epoch
    with caplog.at_level(logging.WARNING, logger="prime_fast.trainer.data"):
        for _ in range(4):
            tr.collect({})
    assert backend.calls[1][: len(passing) - 2] == passing[2:]
    # 12 prompts, 6 drawn per round: the data ran out and a new epoch started, with a warning.
    assert tr.sampler.epoch > before_epoch
    assert "starting epoch" in caplog.text
