"""``prime-fast eval-prm``: argument wiring for :func:`prime_fast.eval.steps.evaluate_prm_steps`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from prime_fast.constants import PRM_BETA


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model PRM --ref REF --data FILE [--beta] [--threshold X | --threshold-split FRAC]``."""
    parser.add_argument("--model", required=True, help="the implicit PRM checkpoint")
    parser.add_argument("--ref", required=True, help="its reference checkpoint")
    parser.add_argument(
        "--data", required=True, help="ProcessBench-format JSONL/parquet (problem, steps, label)"
    )
    parser.add_argument(
        "--beta", type=float, default=PRM_BETA, help="implicit reward scale (default %(default)s)"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--threshold", type=float, default=None, help="a fixed step-score threshold")
    group.add_argument(
        "--threshold-split",
        type=float,
        default=0.5,
        help="share of rows held out to fit the threshold; metrics on the rest (default 0.5)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out split")
    parser.add_argument("--template", default="eurus2-math", help="prompt template of the problem")
    parser.add_argument("--step-sep", default="\n\n", help="text joining the steps (default a blank line)")
    parser.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"))
    parser.add_argument("--out", default=None, help="write the result JSON here")


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the per-subset table; bad input prints one line and exits with 2."""
    from prime_fast.errors import ConfigError, UnsupportedInputError

    try:
        from prime_fast.eval.steps import evaluate_prm_steps, markdown

        res = evaluate_prm_steps(
            args.model,
            args.ref,
            args.data,
            beta=args.beta,
            threshold=args.threshold,
            threshold_split=args.threshold_split,
            seed=args.seed,
            template=args.template,
            dtype=args.dtype,
            step_sep=args.step_sep.encode().decode("unicode_escape"),
        )
    except (ConfigError, UnsupportedInputError) as e:
        print(f"prime-fast eval-prm: {e}", file=sys.stderr)
        return 2
    print(markdown(res))
    print(
        f"\nthreshold {res['threshold']:.4g} ({res['threshold_rule']}); {res['reported_rows']} of {res['rows']} rows"
    )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0
