"""``prime-fast eval``: argument wiring for :func:`prime_fast.eval.evaluate` (cheap to import)."""

from __future__ import annotations

import argparse
import sys

from prime_fast.constants import PRM_BETA


def _ks(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--k expects comma-separated integers like 1,4,16, got {text!r}"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``prime-fast eval`` (defaults: the PRIME authors' avg@16, T 0.3, top-p 0.95)."""
    parser.add_argument("--model", required=True, help="HF checkpoint directory of the policy")
    parser.add_argument(
        "--bench",
        action="append",
        required=True,
        metavar="NAME=FILE",
        help="a benchmark: JSONL or parquet file (repeatable)",
    )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="output directory (results, samples, cache)"
    )
    parser.add_argument("--n", type=int, default=16, help="samples per problem")
    parser.add_argument(
        "--temperature", type=float, default=0.3, help="sampling temperature (0: greedy only)"
    )
    parser.add_argument("--top-p", type=float, default=0.95, help="nucleus mass")
    parser.add_argument("--max-tokens", type=int, default=1024, help="most response tokens")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument(
        "--k",
        type=_ks,
        default=[1, 4, 16],
        help="k of pass@k, maj@k, best-of-k (default: 1,4,16; those above --n are dropped)",
    )
    parser.add_argument(
        "--template", default="auto", help="auto | eurus2 | eurus2-math | eurus2-code | plain | FILE"
    )
    parser.add_argument(
        "--system-prompt", default="", help="replace (or add) the system message of every prompt"
    )
    parser.add_argument(
        "--max-prompt-length", type=int, default=0, help="skip longer prompts (tokens; 0: none)"
    )
    parser.add_argument("--no-greedy", action="store_true", help="skip the greedy pass")
    parser.add_argument("--prm", default=None, metavar="PATH", help="implicit PRM checkpoint (best-of-N)")
    parser.add_argument("--ref", default=None, metavar="PATH", help="the PRM's reference checkpoint")
    parser.add_argument(
        "--prm-beta", type=float, default=PRM_BETA, help="implicit PRM reward scale (default %(default)s)"
    )
    parser.add_argument(
        "--prm-reduce",
        choices=("sum", "min"),
        default="sum",
        help="PRM score of a response: sum over tokens, or min over steps",
    )
    parser.add_argument(
        "--prm-step-sep", default="\n\n", help="text that ends a step (default: a blank line)"
    )
    parser.add_argument("--backend", choices=("hf", "vllm"), default="hf", help="generation engine")
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=("auto", "float32", "bfloat16", "float16"),
        help="weights' dtype (auto: bfloat16 on CUDA, else float32)",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="prompts per generation call (0: all)")
    parser.add_argument("--error-score", type=float, default=0.0, help="score of a row whose verifier fails")
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="hide the progress bars (also transformers' weight loading)",
    )


def _hide_library_progress_bars() -> None:
    """Turn off transformers' own bars (\"Loading weights\", ...): ``--no-progress`` means none at all."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the markdown table; a bad input prints one line and exits with 2, a run where
    generation failed for most prompts of a pass (:data:`~prime_fast.eval.api.GENERATION_FAILURE_LIMIT`)
    prints one line and exits with 1 (the outputs are still written)."""
    from prime_fast.errors import ConfigError, UnsupportedInputError

    if args.no_progress:
        _hide_library_progress_bars()
    try:
        from prime_fast.eval.api import evaluate

        res = evaluate(
            args.model,
            args.bench,
            args.out,
            n=args.n,
            temperature=args.temperature,
            top_p=args.top_p,
            max_tokens=args.max_tokens,
            seed=args.seed,
            ks=args.k,
            greedy=not args.no_greedy,
            template=args.template,
            system_prompt=args.system_prompt,
            max_prompt_length=args.max_prompt_length,
            prm=args.prm,
            ref=args.ref,
            prm_beta=args.prm_beta,
            prm_reduce=args.prm_reduce,
            prm_step_sep=args.prm_step_sep.encode().decode("unicode_escape"),
            backend_kind=args.backend,
            dtype=args.dtype,
            batch_size=args.batch_size,
            error_score=args.error_score,
            progress=not args.no_progress,
        )
    except (ConfigError, UnsupportedInputError) as e:
        print(f"prime-fast eval: {e}", file=sys.stderr)
        return 2
    print(res.table)
    t = res.timing
    print(
        f"\ngenerated {res.generated} prompts in {t['generate']:.1f}s; verify {t['verify']:.2f}s, "
        f"PRM {t['prm']:.1f}s, total {t['total']:.1f}s; outputs in {res.out_dir}"
    )
    failure = res.generation_failure()
    if failure is not None:
        print(f"prime-fast eval: {failure} (the table measures failures, not the model)", file=sys.stderr)
        return 1
    return 0
