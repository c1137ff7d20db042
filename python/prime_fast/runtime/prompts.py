"""Prompts: loading rows (HF ``datasets`` from JSONL/JSON/parquet, Eurus-2-RL-Data schema), chat templates
and length filtering (the trainer's and the eval command's prompts alike)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prime_fast.errors import ConfigError

REQUIRED_FIELDS = ("prompt", "ability", "reward_model")


@dataclass(frozen=True, slots=True)
class Prompt:
    """One encoded prompt.

    Args:
        index: position in the loaded dataset (stable across resumes).
        ids: prompt token ids after the chat template (generation prompt appended).
        ground_truth: ``reward_model.ground_truth``.
        ability: verifier selector (``math``/``code``).
        data_source: for per-source metrics.
    """

    index: int
    ids: tuple[int, ...]
    ground_truth: Any
    ability: str
    data_source: str


def load_rows(files: tuple[str, ...] | list[str], what: str = "data.train_files") -> list[dict[str, Any]]:
    """Read rows from local JSONL/JSON/parquet files (or one HF hub dataset name) with ``datasets``."""
    if not files:
        raise ConfigError(f"{what}: expected at least one file")
    local = [Path(f) for f in files]
    if all(p.exists() for p in local):
        suffixes = {p.suffix.lower() for p in local}
        if suffixes <= {".jsonl", ".json"}:
            kind = "json"
        elif suffixes <= {".parquet"}:
            kind = "parquet"
        else:
            raise ConfigError(
                f"{what}: expected .jsonl/.json or .parquet files (one kind), got {sorted(suffixes)}"
            )
        import datasets

        ds = datasets.load_dataset(kind, data_files=[str(p) for p in local], split="train")
    else:
        missing = [str(p) for p in local if not p.exists()]
        if len(files) != 1 or "/" not in files[0] or files[0].startswith((".", "/")):
            raise ConfigError(f"{what}: no such file(s): {', '.join(missing)}")
        import datasets

        try:
            ds = datasets.load_dataset(files[0], split="train")
        except Exception as e:  # no network, unknown name
            raise ConfigError(f"{what}: cannot load {files[0]!r} as a file or hub dataset: {e}") from None
    return [dict(r) for r in ds]


def _messages(row: dict[str, Any], i: int, system_prompt: str, what: str) -> list[dict[str, str]]:
    prompt = row["prompt"]
    if isinstance(prompt, str):
        msgs = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list) and all(
        isinstance(m, dict) and "role" in m and "content" in m for m in prompt
    ):
        msgs = [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]
    else:
        raise ConfigError(f"{what}: row {i}: 'prompt' must be a chat list of {{role, content}} or a string")
    if system_prompt:
        if msgs and msgs[0]["role"] == "system":
            msgs[0] = {"role": "system", "content": system_prompt}
        else:
            msgs.insert(0, {"role": "system", "content": system_prompt})
    return msgs


def encode_rows(
    rows: list[dict[str, Any]],
    tokenizer: Any,
    *,
    max_prompt_length: int,
    system_prompt: str = "",
    what: str = "data.train_files",
) -> tuple[list[Prompt], int]:
    """Apply the chat template to every row and drop prompts longer than ``max_prompt_length``.

    Returns ``(prompts, dropped)``. Raises ConfigError naming the row and field when a required
    field (``prompt``, ``ability``, ``reward_model.ground_truth``) is missing.
    """
    out: list[Prompt] = []
    dropped = 0
    for i, row in enumerate(rows):
        for f in REQUIRED_FIELDS:
            if f not in row or row[f] is None:
                raise ConfigError(
                    f"{what}: row {i} has no field {f!r}; expected the Eurus-2-RL-Data schema "
                    "(prompt, ability, reward_model.ground_truth, data_source)"
                )
        rm = row["reward_model"]
        if not isinstance(rm, dict) or "ground_truth" not in rm:
            raise ConfigError(f"{what}: row {i}: reward_model must be a mapping with 'ground_truth'")
        msgs = _messages(row, i, system_prompt, what)
        enc = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True)
        ids = tuple(int(t) for t in enc["input_ids"])
        if len(ids) > max_prompt_length:
            dropped += 1
            continue
        out.append(
            Prompt(
                index=i,
                ids=ids,
                ground_truth=rm["ground_truth"],
                ability=str(row["ability"]),
                data_source=str(row.get("data_source", "unknown")),
            )
        )
    if not out:
        raise ConfigError(
            f"{what}: all {len(rows)} prompts are longer than data.max_prompt_length = "
            f"{max_prompt_length} tokens"
        )
    return out, dropped
