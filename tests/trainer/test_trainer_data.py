"""Prompt loading, length filtering, accuracy-band filtering, the sampler and its buffer."""

from __future__ import annotations

import json
import logging

import pytest

from prime_fast.demo.task import make_rows, write_jsonl
from prime_fast.demo.tokenizer import build_tokenizer
from prime_fast.errors import ConfigError
from prime_fast.runtime.prompts import encode_rows, load_rows
from prime_fast.trainer.data import PromptSampler, filter_groups


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


@pytest.mark.parametrize(
    ("acc", "kept"),
    [
        pytest.param([0, 0, 0, 0], False, id="all-wrong"),
        pytest.param([1, 0, 0, 0], True, id="0.25"),
        pytest.param([1, 1, 0, 0], True, id="0.5"),
        pytest.param([1, 1, 1, 0], True, id="0.75"),
        pytest.param([1, 1, 1, 1], False, id="all-right"),
        pytest.param([0.2, 0.2, 0.2, 0.2], True, id="lower-edge-inclusive"),
        pytest.param([0.8, 0.8, 0.8, 0.8], True, id="upper-edge-inclusive"),
        pytest.param([0.1, 0.1, 0.1, 0.1], False, id="code-fraction-below"),
    ],
)
def test_accuracy_band(acc: list[float], kept: bool) -> None:
    assert filter_groups(acc, [False] * 4, 4, lower=0.2, upper=0.8) == [kept]


def test_filter_is_per_group_and_handles_truncation() -> None:
    acc = [1, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1]
    trunc = [False] * 8 + [False, True, False, False]
    assert filter_groups(acc, trunc, 4, lower=0.2, upper=0.8) == [True, False, True]
    assert filter_groups(acc, trunc, 4, lower=0.2, upper=0.8, filter_truncated=True) == [True, False, False]
    assert filter_groups(acc, trunc, 4, lower=0.2, upper=0.8, filter_accuracy=False) == [True, True, True]
    with pytest.raises(ValueError, match="groups of 4"):
        filter_groups(acc[:6], trunc[:6], 4, lower=0.2, upper=0.8)


def test_encode_drops_long_prompts_and_counts_them(tok) -> None:
    rows = make_rows(20, 0, "train")
    rows[3]["prompt"] = [{"role": "user", "content": "1+" * 40 + "1=?"}]
    prompts, dropped = encode_rows(rows, tok, max_prompt_length=24)
    assert dropped == 1 and len(prompts) == 19
    assert all(len(p.ids) <= 24 for p in prompts)
    assert 3 not in [p.index for p in prompts]
    # The chat template is applied: user turn marker first, generation prompt last.
    assert prompts[0].ids[0] == tok.convert_tokens_to_ids("<u>")
    assert prompts[0].ids[-1] == tok.convert_tokens_to_ids("<a>")
    assert prompts[0].ability == "math" and prompts[0].data_source == "demo_arith"


@pytest.mark.parametrize("field", ["prompt", "ability", "reward_model"])
def test_missing_fields_are_named(tok, field: str) -> None:
    rows = make_rows(3, 0, "train")
    del rows[1][field]
    with pytest.raises(ConfigError, match=f"row 1 has no field '{field}'"):
        encode_rows(rows, tok, max_prompt_length=64)


def test_missing_ground_truth(tok) -> None:
    rows = make_rows(2, 0, "train")
    rows[0]["reward_model"] = {"style": "rule"}
    with pytest.raises(ConfigError, match="row 0: reward_model must be a mapping with 'ground_truth'"):
        encode_rows(rows, tok, max_prompt_length=64)


def test_system_prompt_is_inserted(tok) -> None:
    tok2 = build_tokenizer()
    tok2.chat_template = "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
    rows = make_rows(1, 0, "train")
    with_sys, _ = encode_rows(rows, tok2, max_prompt_length=200, system_prompt="1")
    without, _ = encode_rows(rows, tok2, max_prompt_length=200)
    assert len(with_sys[0].ids) > len(without[0].ids)


def test_load_jsonl_and_parquet(tmp_path) -> None:
    rows = make_rows(7, 1, "train")
    p = write_jsonl(rows, tmp_path / "a.jsonl")
    got = load_rows([str(p)])
    assert len(got) == 7 and got[2]["reward_model"]["ground_truth"] == rows[2]["reward_model"]["ground_truth"]
    import datasets

    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "a.parquet"))
    got = load_rows([str(tmp_path / "a.parquet")])
    assert [r["prompt"] for r in got] == [r["prompt"] for r in rows]
    with pytest.raises(ConfigError, match="no such file"):
        load_rows([str(tmp_path / "missing.jsonl")])
    (tmp_path / "x.csv").write_text(json.dumps({}))
    with pytest.raises(ConfigError, match=r"expected \.jsonl/\.json or \.parquet"):
        load_rows([str(tmp_path / "x.csv")])


def test_held_out_split_is_disjoint() -> None:
    train = {r["prompt"][0]["content"] for r in make_rows(2000, 0, "train")}
    val = {r["prompt"][0]["content"] for r in make_rows(200, 0, "val")}
    assert train and val and not (train & val)


def test_sampler_epochs_buffer_and_state(tok, caplog) -> None:
    prompts, _ = encode_rows(make_rows(10, 0, "train"), tok, max_prompt_length=64)
    s = PromptSampler(prompts, seed=3)
    first = [p.index for p in s.take(6)]
    two = s.take(2)
    s.push_buffer(two[:1])
    state = s.state_dict()
    with caplog.at_level(logging.WARNING, logger="prime_fast.trainer.data"):
        rest = [p.index for p in s.take(4)]
    assert "training prompts exhausted: starting epoch 1" in caplog.text
    assert s.epoch == 1
    # The first epoch visits every prompt exactly once; the second is reshuffled.
    assert sorted(first + [p.index for p in two] + rest[:2]) == sorted(p.index for p in prompts)
    # A restored sampler continues identically; the buffer is FIFO and survives the round trip.
    s2 = PromptSampler(prompts, seed=3)
    s2.load_state_dict(state)
    assert [p.index for p in s2.take(4)] == rest
    buffered = s2.pop_buffer(5)
    assert [p.index for p in buffered] == [two[0].index]
    assert s2.pop_buffer(5) == []
