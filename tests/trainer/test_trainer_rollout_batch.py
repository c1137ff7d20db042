"""HF rollout backend: contiguous groups, EOS cuts; the padded batch layout and masks."""

from __future__ import annotations

import torch

from prime_fast.runtime.batch import build_batch
from prime_fast.runtime.rollout.base import RolloutBackend, SamplingConfig
from prime_fast.runtime.rollout.hf import HFRolloutBackend, cut_at_eos


def test_cut_at_eos() -> None:
    assert cut_at_eos([4, 5, 1, 6, 1], 1, 5) == ([4, 5, 1], False)
    assert cut_at_eos([4, 5, 6], 1, 3) == ([4, 5, 6], True)


def test_build_batch_layout_and_mask() -> None:
    prompts = [[7, 8, 9], [7]]
    responses = [[5, 1], [5, 6, 6, 6]]  # the second is truncated (no EOS)
    b = build_batch(prompts, responses, pad_token_id=0, eos_token_id=1)
    assert b.prompt_len == 3 and b.responses.shape == (2, 4)
    assert b.input_ids.tolist() == [[7, 8, 9, 5, 1, 0, 0], [0, 0, 7, 5, 6, 6, 6]]
    assert b.attention_mask.tolist() == [[1, 1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1, 1]]
    assert b.position_ids[1, 2:].tolist() == [0, 1, 2, 3, 4]
    assert b.position_ids[0, :5].tolist() == [0, 1, 2, 3, 4]
    assert b.response_mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]


def test_hf_backend_groups_are_contiguous(tiny_model, tok) -> None:
    backend = HFRolloutBackend(tiny_model, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    assert isinstance(backend, RolloutBackend)
    prompts = [[2, 7, 15, 8, 3], [2, 9, 3], [2, 12, 16, 6, 13, 3]]
    greedy = backend.generate(prompts, SamplingConfig(n=3, temperature=0.0, max_tokens=6))
    assert len(greedy.response_ids) == 9 and greedy.n == 3
    # Greedy samples of a prompt are identical and equal to that prompt generated alone: rows
    # [3i, 3i+3) belong to prompt i, whatever the left padding.
    for i, p in enumerate(prompts):
        alone = backend.generate([p], SamplingConfig(n=1, temperature=0.0, max_tokens=6)).response_ids[0]
        assert greedy.response_ids[3 * i : 3 * i + 3] == [alone] * 3
        assert greedy.prompt_index(3 * i + 2) == i
    for r, t in zip(greedy.response_ids, greedy.truncated):
        assert len(r) <= 6
        assert t == (tok.eos_token_id not in r)
        if not t:
            assert r.index(tok.eos_token_id) == len(r) - 1
    torch.manual_seed(0)
    sampled = backend.generate(prompts, SamplingConfig(n=4, temperature=1.0, max_tokens=6))
    assert len(sampled.response_ids) == 12 and len(sampled.truncated) == 12


def test_hf_backend_seeds_each_prompt_alone(tiny_model, tok) -> None:
    # Prompt i samples under seed + i * n whatever else shares the call (so a rank's share, or one
    # process's whole list, gives the same samples), and the global RNG is left untouched.
    backend = HFRolloutBackend(tiny_model, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    prompts = [[2, 7, 15, 8, 3], [2, 9, 3], [2, 12, 16, 6, 13, 3]]
    seeded = SamplingConfig(n=4, temperature=1.0, max_tokens=8, seed=100)
    rng = torch.get_rng_state()
    whole = backend.generate(prompts, seeded).response_ids
    assert torch.equal(torch.get_rng_state(), rng)
    tail = backend.generate(prompts[1:], SamplingConfig(n=4, temperature=1.0, max_tokens=8, seed=104))
    assert tail.response_ids == whole[4:]
    assert len({tuple(r) for r in whole[:4]}) > 1  # K distinct samples of one prompt
    other = backend.generate(prompts, SamplingConfig(n=4, temperature=1.0, max_tokens=8, seed=7))
    assert other.response_ids != whole
    assert backend.generate([], seeded).response_ids == []


def test_sync_weights_copies_into_a_separate_model(tiny_model, tok) -> None:
    from prime_fast.demo.model import build_model

    other = build_model(len(tok), seed=1, hidden_size=64, num_layers=1, num_heads=1, intermediate_size=64)
    backend = HFRolloutBackend(other, eos_token_id=1, pad_token_id=0)
    backend.sync_weights(tiny_model.named_parameters())
    for (n, a), (_, b) in zip(tiny_model.named_parameters(), other.named_parameters()):
        assert torch.equal(a, b), n
