"""The ``prime-fast`` command line: ``train``, ``export``, ``verify``, ``eval``, ``eval-prm``, ``bench`` and ``env``.

Each subcommand lives in the module that owns its concept and exposes ``add_arguments(parser)`` and
``run(args) -> int``; this file only wires them together and sets up logging. Those modules must be
cheap to import (no torch at module level) so that ``prime-fast --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from prime_fast.bench import BENCHES

_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "train": ("prime_fast.train_cli", "run PRIME training (default: a tiny embedded task on the CPU)"),
    "export": (
        "prime_fast.trainer.export",
        "write a run's policy as an HF model (LoRA runs: merged, or as a peft adapter)",
    ),
    "verify": ("prime_fast.verify.cli", "score a JSONL file of math answers or programs"),
    "eval": (
        "prime_fast.eval.cli",
        "evaluate a checkpoint on benchmarks (pass@1, avg@n, pass@k, maj@k, PRM)",
    ),
    "eval-prm": (
        "prime_fast.eval.steps_cli",
        "step-level evaluation of an implicit PRM (ProcessBench format)",
    ),
    "bench": ("prime_fast.bench", f"run a benchmark from benches/ ({', '.join(BENCHES)})"),
    "env": ("prime_fast.env", "print versions, hardware and the sandbox features of this machine"),
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default (``(default: 16)``) unless the text already says
    it or there is none to say (None, False, an empty list); descriptions and epilogs keep their lines."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            not text
            or "default" in text
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or default in ("", [])
            or not action.option_strings
        ):
            return action.help
        return f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prime-fast",
        description="Fast, safe PRIME-style RL for LLMs.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("PRIME_FAST_LOG_LEVEL", "INFO"),
        help="logging level (default: $PRIME_FAST_LOG_LEVEL or INFO)",
    )
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(_SUBCOMMANDS) + "}", required=True)
    for name, (module_name, help_text) in _SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=HelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=str(args.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
