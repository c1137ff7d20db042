"""A character-level tokenizer for the demo task, built in code (no download).

Every piece of the vocabulary is also an *added token* (not special, not normalized). Added tokens are
matched before any normalizer, pre-tokenizer or model runs, so a saved copy encodes the task's text
the same way whatever class ``AutoTokenizer`` picks on load: for a folder whose ``config.json`` says
``qwen2`` it picks ``Qwen2Tokenizer``, which replaces the saved pre-tokenizer and model with Qwen2's
byte-level BPE; without added tokens that one dropped ``\\boxed{`` and spaces (issue #22, defect 10).
"""

from __future__ import annotations

from typing import Any

SPECIAL = ["<pad>", "<eos>", "<u>", "<a>", "<unk>"]
CHARS = [*list("0123456789+-*=,.?() "), "\\boxed{", "}"]
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}<u>{{ m['content'] }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<a>{% endif %}"
)


def build_tokenizer() -> Any:
    """A ``PreTrainedTokenizerFast``: one token per character, ``\\boxed{`` as one token, a chat template.

    ``<pad>`` is id 0 and ``<eos>`` id 1; ``<u>``/``<a>`` open the user and assistant turns.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for piece in SPECIAL + CHARS:
        vocab.setdefault(piece, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"\\boxed\{|<u>|<a>|<eos>|<pad>|."), behavior="isolated")
    core.decoder = decoders.Fuse()
    # same ids as the vocabulary entries; see the module docstring for why
    core.add_tokens([AddedToken(piece, normalized=False, special=False) for piece in CHARS])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        eos_token="<eos>",
        unk_token="<unk>",
        additional_special_tokens=["<u>", "<a>"],
    )
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "left"
    return tok
