"""The demo tokenizer, saved next to a Qwen2 config and reloaded with ``AutoTokenizer``, encodes every
text the demo task writes to the same ids as the in-memory tokenizer and decodes it back unchanged
(issue #22, defect 10: the reloaded one used to drop ``\\boxed{`` and spaces)."""

from __future__ import annotations

import random

import pytest

from prime_fast.demo.task import make_problem, make_rows
from prime_fast.demo.tokenizer import build_tokenizer


def _task_texts() -> list[str]:
    """Questions, worked solutions (with and without slips), direct answers and chat prompts."""
    tok = build_tokenizer()
    texts: list[str] = []
    rng = random.Random(7)
    for kind in ("result", "copy", "habit"):
        for n_terms in (2, 3, 5):
            for _ in range(40):
                q, sol, ans = make_problem(
                    rng, n_terms=n_terms, max_operand=99, slip_prob=0.3, slip_kind=kind
                )
                texts += [q, sol, ans, f"{q} {sol}"]
    for row in make_rows(60, 3, "sft", direct_frac=0.5) + make_rows(20, 3, "val"):
        prompt = tok.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
        texts += [prompt, prompt + row["extra_info"]["solution"] + "<eos>"]
    return texts


@pytest.fixture(scope="module")
def saved_dir(tmp_path_factory: pytest.TempPathFactory):
    """A folder as the demo writes it: the tiny Qwen2's config.json plus the saved tokenizer."""
    from prime_fast.demo.model import build_model

    tok = build_tokenizer()
    out = tmp_path_factory.mktemp("demo_tok")
    model = build_model(len(tok), seed=0, hidden_size=64, num_layers=1, num_heads=1, intermediate_size=128)
    model.config.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.mark.parametrize("loader", ["AutoTokenizer", "load_tokenizer"])
def test_reloaded_tokenizer_round_trips_task_text(saved_dir, loader: str) -> None:
    from transformers import AutoTokenizer

    from prime_fast.runtime.models import load_tokenizer

    fresh = build_tokenizer()
    reloaded = (
        AutoTokenizer.from_pretrained(saved_dir)
        if loader == "AutoTokenizer"
        else load_tokenizer(str(saved_dir))
    )
    texts = _task_texts()
    assert len(texts) > 500
    for text in texts:
        want = fresh(text, add_special_tokens=False)["input_ids"]
        got = reloaded(text, add_special_tokens=False)["input_ids"]
        assert got == want, (text, reloaded.convert_ids_to_tokens(got))
        assert reloaded.decode(got) == text
    assert reloaded.decode(reloaded("1+2=3.\\boxed{3}")["input_ids"]) == "1+2=3.\\boxed{3}"
