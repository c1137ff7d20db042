"""``prime-fast train``: argument wiring (the trainer itself is imported only when it runs)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default=None, help="TOML or YAML config file (default: the embedded demo)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key",
    )


def run(args: argparse.Namespace) -> int:
    # The trainer is not wired yet: report the environment it would run in.
    from prime_fast import env

    return env.run(argparse.Namespace(json=False))
