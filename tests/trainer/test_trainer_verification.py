"""The trainer's verifier thread (the batch scorer itself is tested in tests/verify/test_verify_batch.py)."""

from __future__ import annotations

import json

from prime_fast.trainer.verification import Verifier


def test_background_and_inline_agree() -> None:
    texts = [f"\\boxed{{{i % 7}}}" for i in range(64)]
    golds = [str(i % 5) for i in range(64)]
    abilities = ["math"] * 64
    bg, inline = Verifier(overlap=True), Verifier(overlap=False)
    try:
        a = bg.submit(texts, golds, abilities).result()[0]
        b = inline.submit(texts, golds, abilities).result()[0]
    finally:
        bg.close()
        inline.close()
    assert a == b == [1.0 if i % 7 == i % 5 else 0.0 for i in range(64)]


def test_majority_reward_trains_without_references(tmp_path, tiny_overrides) -> None:
    """With ``verify.reward = majority`` the references are never read: the same run on training rows
    whose references are replaced by garbage gives the same step, metric for metric."""
    from prime_fast.demo.assets import train
    from prime_fast.trainer.config import load_config

    first = tmp_path / "with_refs"
    train(load_config(None, [*tiny_overrides(str(first), steps=1), "verify.reward=majority"]), first)
    rows = [json.loads(line) for line in (first / "data" / "train.jsonl").read_text().splitlines()]
    blank = tmp_path / "no_refs.jsonl"
    blank.write_text("".join(json.dumps({**r, "ground_truth": "unknowable"}) + "\n" for r in rows))
    second = tmp_path / "without_refs"
    overrides = [
        *tiny_overrides(str(second), steps=1),
        "verify.reward=majority",
        f"model.path={first / 'sft'}",
        f"data.train_files={json.dumps([str(blank)])}",
        f"data.val_files={json.dumps([str(first / 'data' / 'val.jsonl')])}",
    ]
    train(load_config(None, overrides), second)

    def step_metrics(run):
        row = json.loads((run / "metrics.jsonl").read_text().splitlines()[1])
        return {k: v for k, v in row.items() if not k.startswith(("time/", "perf/"))}

    a, b = step_metrics(first), step_metrics(second)
    assert a == b
    assert 0.0 < a["train/acc"] < 1.0  # the majority reward separates responses
