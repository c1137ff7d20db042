"""``prime-fast export``: a run's policy as a standalone HF model directory, or as a peft adapter.

A full-weight run's checkpoint already holds the policy as an HF model (+ tokenizer): it is copied.
A LoRA run's checkpoint holds the policy adapter only (``model.lora``, runtime/lora.py): ``--merge``
loads the base it was trained on (recorded in ``adapter_config.json``), merges
``W + (alpha / r) * B @ A`` and saves a plain HF model; without ``--merge`` the adapter directory
(loadable with ``peft.PeftModel.from_pretrained(base, PATH)``) is copied. Torch is imported only
when the command runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from prime_fast.errors import ConfigError

ADAPTER_CONFIG = "adapter_config.json"


def find_checkpoint(run_dir: str | Path, step: int | None = None) -> Path:
    """``<run_dir>/checkpoints/step_<step>``, or the newest complete checkpoint when ``step`` is None."""
    run = Path(run_dir)
    root = run / "checkpoints"
    if step is not None:
        path = root / f"step_{step}"
        if not (path / "state.pt").exists():
            have = sorted(p.name for p in root.glob("step_*")) if root.is_dir() else []
            raise ConfigError(f"--step {step}: no complete checkpoint {path}; {run} has {have or 'none'}")
        return path
    from prime_fast.trainer.checkpoint import latest_checkpoint

    latest = latest_checkpoint(run)
    if latest is None:
        raise ConfigError(f"--run: no checkpoint under {root} (not a run directory, or nothing saved yet)")
    return latest


def export_policy(checkpoint_dir: str | Path, out: str | Path, *, merge: bool) -> Path:
    """Write the policy of one checkpoint to ``out`` (a new or empty directory); returns ``out``.

    Args:
        checkpoint_dir: a ``checkpoints/step_<n>`` directory of a run.
        out: where to write.
        merge: for a LoRA policy, merge the adapter into its base and write a plain HF model;
            otherwise write the peft adapter directory. Full-weight policies are copied either way.
    """
    src = Path(checkpoint_dir) / "policy"
    dst = Path(out)
    if not src.is_dir():
        raise ConfigError(f"--run: {checkpoint_dir} has no policy directory (not a checkpoint)")
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise ConfigError(f"--out: {dst} exists and is not an empty directory")
    if not (src / ADAPTER_CONFIG).exists() or not merge:
        shutil.copytree(src, dst, dirs_exist_ok=True)
        return dst
    _merge_adapter(src, dst)
    return dst


def _merge_adapter(src: Path, dst: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from prime_fast.runtime.models import load_tokenizer, peft_wrapping

    base_path = json.loads((src / ADAPTER_CONFIG).read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base_path or not (Path(base_path) / "config.json").is_file():
        raise ConfigError(
            f"--merge: the adapter's base model {base_path!r} (adapter_config.json of {src}) is not an HF "
            "model directory here; export without --merge to get the adapter alone"
        )
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype="auto")
    with peft_wrapping():
        merged = PeftModel.from_pretrained(base, str(src)).merge_and_unload()
    merged.save_pretrained(dst)
    load_tokenizer(str(src)).save_pretrained(dst)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--run DIR``, ``--out PATH``, ``--merge``, ``--step N``."""
    parser.add_argument(
        "--run", required=True, metavar="DIR", help="the run directory (from prime-fast train)"
    )
    parser.add_argument("--out", required=True, metavar="PATH", help="output directory (new or empty)")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="LoRA runs: merge the policy adapter into its base and write a plain HF model "
        "(default: write the peft adapter directory); full-weight runs are copied either way",
    )
    parser.add_argument(
        "--step", type=int, default=None, metavar="N", help="export checkpoint step_N (default: the newest)"
    )


def run(args: argparse.Namespace) -> int:
    """Export; a ConfigError prints one line and returns exit code 2."""
    try:
        ckpt = find_checkpoint(args.run, args.step)
        out = export_policy(ckpt, args.out, merge=args.merge)
    except ConfigError as e:
        print(f"prime-fast export: {e}", file=sys.stderr)
        return 2
    kind = "adapter" if (out / ADAPTER_CONFIG).exists() else "HF model"
    print(f"exported the policy of {ckpt} to {out} ({kind})")
    return 0
