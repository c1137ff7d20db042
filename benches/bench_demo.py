"""PRIME vs outcome-only RLOO on the embedded demo task (the paper's sample-efficiency claim at toy scale).

Builds the demo SFT warm-start once, then trains PRIME (``algo.estimator=prime``, implicit PRM) and
the outcome-only baseline (``algo.estimator=rloo, algo.process_rewards=false``) for a few seeds each
from the same warm-start, with greedy validation every few steps. Reports accuracy curves, the
first step at which held-out accuracy reaches a fixed level, the share of step time per phase, and
the verification overlap: exposed verification time with the background thread vs serialised.

    python -m benches.bench_demo --steps 40 --seeds 0 1 2 --json benches/results/demo.json
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benches._io import save_json

METHODS = {
    "prime": ["algo.estimator=prime", "algo.process_rewards=true"],
    "rloo": ["algo.estimator=rloo", "algo.process_rewards=false"],
}
PHASES = ("rollout", "old_logprob", "verify_exposed", "ref", "prm", "adv", "actor", "val")


def _git_sha() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _run(base: list[str], extra: list[str], run_dir: Path) -> list[dict[str, Any]]:
    from prime_fast.demo.assets import train
    from prime_fast.trainer.config import load_config
    from prime_fast.trainer.metrics import read_metrics

    cfg = load_config(None, [*base, *extra, f"trainer.run_dir={run_dir}"])
    train(cfg, run_dir)
    return read_metrics(run_dir / "metrics.jsonl")


def steps_to(curve: list[tuple[int, float]], level: float) -> int | None:
    """First step whose validation accuracy reaches ``level`` (None: never)."""
    for step, acc in curve:
        if acc >= level:
            return step
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--test-freq", type=int, default=5)
    ap.add_argument(
        "--level", type=float, default=None, help="accuracy for 'steps to reach' (default: warm-start + 0.10)"
    )
    ap.add_argument("--overlap-steps", type=int, default=10)
    ap.add_argument("--overlap-only", action="store_true", help="only the verification-overlap measurement")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", default=None)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import torch

    from prime_fast.demo.assets import prepare_demo
    from prime_fast.trainer.config import load_config
    from prime_fast.trainer.process import quiet_third_party

    quiet_third_party()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_demo_"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cfg0 = load_config(None, args.overrides)
    if cfg0.trainer.num_threads:
        torch.set_num_threads(cfg0.trainer.num_threads)
    sft_path, train_files, val_files = prepare_demo(cfg0, work / "shared")
    sft_s = time.perf_counter() - t0
    base = [
        *args.overrides,
        f"model.path={sft_path}",
        f"data.train_files={json.dumps(list(train_files))}",
        f"data.val_files={json.dumps(list(val_files))}",
        f"trainer.total_steps={args.steps}",
        f"trainer.test_freq={args.test_freq}",
        "trainer.save_freq=0",
        "log.progress=none",
        "log.plot=false",
    ]
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
    for method, extra in () if args.overlap_only else METHODS.items():
        for seed in args.seeds:
            t = time.perf_counter()
            rows = _run(base, [*extra, f"trainer.seed={seed}"], work / f"{method}_s{seed}")
            wall = time.perf_counter() - t
            val = [(r["step"], r["val/acc"]) for r in rows if "val/acc" in r]
            train_acc = [(r["step"], r["train/acc"]) for r in rows if "train/acc" in r]
            steps = [r for r in rows if "time/step" in r]
            total = sum(r["time/step"] for r in steps)
            share = {p: sum(r.get(f"time/{p}", 0.0) for r in steps) / total for p in PHASES}
            results[method].append(
                {
                    "seed": seed,
                    "val": val,
                    "train_acc": train_acc,
                    "wall_s": wall,
                    "step_s": total / max(len(steps), 1),
                    "phase_share": share,
                }
            )
            print(
                f"  {method} seed {seed}: val {val[0][1]:.3f} -> {val[-1][1]:.3f} ({wall:.0f}s)", flush=True
            )

    if args.overlap_only:
        results = {}
    warm = statistics.mean(r["val"][0][1] for rs in results.values() for r in rs) if results else float("nan")
    level = args.level if args.level is not None else round(warm + 0.10, 2)
    summary = {}
    for method, rs in results.items():
        reach = [steps_to(r["val"], level) for r in rs]
        summary[method] = {
            "final_val_mean": statistics.mean(r["val"][-1][1] for r in rs),
            "best_val_mean": statistics.mean(max(a for _, a in r["val"]) for r in rs),
            "final_train_acc_mean": statistics.mean(
                statistics.mean(a for _, a in r["train_acc"][-5:]) for r in rs
            ),
            "steps_to_level": reach,
            "step_s_mean": statistics.mean(r["step_s"] for r in rs),
            "phase_share": {p: statistics.mean(r["phase_share"][p] for r in rs) for p in PHASES},
            "curve_mean": [
                (s, statistics.mean(r["val"][i][1] for r in rs)) for i, (s, _) in enumerate(rs[0]["val"])
            ],
        }

    # Verification overlap: the same PRIME run with the verifier in the background vs serialised.
    overlap = {}
    for mode in ("true", "false"):
        rows = _run(
            base,
            [
                *METHODS["prime"],
                f"verify.overlap={mode}",
                f"trainer.total_steps={args.overlap_steps}",
                "trainer.test_freq=0",
            ],
            work / f"overlap_{mode}",
        )
        steps = [r for r in rows if "time/step" in r]
        tot = sum(r["time/step"] for r in steps)
        overlap["background" if mode == "true" else "serialised"] = {
            "verify_s": sum(r["time/verify"] for r in steps) / len(steps),
            "verify_exposed_s": sum(r["time/verify_exposed"] for r in steps) / len(steps),
            "exposed_share": sum(r["time/verify_exposed"] for r in steps) / tot,
            "step_s": tot / len(steps),
        }

    env = {
        "machine": "2-core CPU sandbox",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "git_sha": _git_sha(),
        "cpus": torch.get_num_threads(),
    }
    print(f"\nprime-fast bench_demo | {env['machine']} | torch {env['torch']} | git {env['git_sha']}")
    if summary:
        print(
            f"SFT warm-start build: {sft_s:.1f}s; {args.steps} RL steps; seeds {args.seeds}; "
            f"steps-to-level at val acc >= {level:.2f}"
        )
        print(
            f"{'method':<8} {'warm':>6} {'final':>6} {'best':>6} {'train@end':>9} {'steps to level':>18} {'s/step':>7}"
        )
        for method, s in summary.items():
            reach = ",".join("-" if x is None else str(x) for x in s["steps_to_level"])
            print(
                f"{method:<8} {warm:>6.3f} {s['final_val_mean']:>6.3f} {s['best_val_mean']:>6.3f} "
                f"{s['final_train_acc_mean']:>9.3f} {reach:>18} {s['step_s_mean']:>7.2f}"
            )
        print("\nval accuracy (mean over seeds) by step")
        steps_axis = [st for st, _ in summary["prime"]["curve_mean"]]
        print(f"{'method':<8} " + " ".join(f"{st:>5}" for st in steps_axis))
        for method, s in summary.items():
            print(f"{method:<8} " + " ".join(f"{a:>5.2f}" for _, a in s["curve_mean"]))
        print("\nshare of step time per phase")
        print(f"{'method':<8} " + " ".join(f"{p:>14}" for p in PHASES))
        for method, s in summary.items():
            print(f"{method:<8} " + " ".join(f"{100 * s['phase_share'][p]:>13.1f}%" for p in PHASES))
    print("\nverification overlap (PRIME, mean per step)")
    print(f"{'mode':<11} {'verify s':>9} {'exposed s':>10} {'exposed %':>10} {'step s':>7}")
    for mode, o in overlap.items():
        print(
            f"{mode:<11} {o['verify_s']:>9.4f} {o['verify_exposed_s']:>10.4f} {100 * o['exposed_share']:>9.2f}% "
            f"{o['step_s']:>7.3f}"
        )
    if args.json:
        out = {
            "schema_version": 1,
            "bench": "demo",
            "env": env,
            "steps": args.steps,
            "seeds": args.seeds,
            "level": level,
            "warmstart_val_mean": warm,
            "sft_s": sft_s,
            "summary": summary,
            "runs": results,
            "overlap": overlap,
        }
        save_json(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
