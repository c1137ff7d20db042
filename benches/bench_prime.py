"""PRIME against outcome-only RL on the embedded task, over seeds, from one shared SFT warm-start.

Methods (each a set of config overrides on top of the task's):

- ``prime``: online implicit PRM, PRIME's RLOO on outcome + process rewards (the task config's credit form:
  ``sum`` by default, ``step`` in ``examples/demo-habit.toml``);
- ``rloo``: outcome-only RLOO (``algo.process_rewards=false``);
- ``grpo``: outcome-only GRPO;
- ``prime_frozen``: PRIME whose PRM is trained during a warm-up on the SFT policy's rollouts and then
  frozen (the paper's offline-PRM ablation);
- ``prime_min``: PRIME with PURE's min-form credit assignment (``algo.process_credit=min``);
- ``prime_self``: the policy as its own implicit PRM (``prm.mode=self``);
- the grid ``{PRM}_{CREDIT}`` (issue 21): PRM ``learned`` (online from the SFT weights), ``warm``
  (online after an 8-round warm-up), ``frozen`` (frozen after that warm-up) or ``oracle`` (perfect step
  labels, ``prm.mode=oracle``: the ceiling of dense credit) crossed with the credit form ``sum``
  (PRIME's paper form), ``min`` (PURE), ``local`` (each token its own reward) or ``step`` (each token its
  step's total); e.g. ``oracle_local``, ``warm_step``. ``--grid`` runs all 16.

Per method: final held-out greedy accuracy (mean and 95% CI over seeds), steps to reach outcome-only
RLOO's final mean accuracy, the per-seed difference to RLOO with its CI, PRM quality at the end
(pairwise accuracy, outcome AUC, first-error F1), seconds per step. A table on stdout, ``--json``, and
``--plot`` (accuracy and PRM metrics against steps, one line per method, CI bands).

    python -m benches.bench_prime --seeds 0 1 2 3 4 --steps 40 --json benches/results/prime.json \\
        --plot benches/results/prime_vs_outcome.png
    python -m benches.bench_prime --config examples/demo-habit.toml --methods rloo oracle_sum oracle_local

``--config`` is the task's TOML (default: the built-in demo). A finished run (its ``summary.json`` and
``metrics.jsonl`` in ``--workdir``) is read back instead of trained again, so several invocations can
share one workdir (in parallel, once the shared warm-start exists) and a last one tabulates them all.

``--variant NAME:key=value,key=value`` adds ablation rows (used for the investigation table in
benches/RESULTS.md); ``--set key=value`` applies to every run.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from benches._io import save_json

METHODS: dict[str, list[str]] = {
    "prime": ["algo.estimator=prime", "algo.process_rewards=true"],
    "rloo": ["algo.estimator=rloo", "algo.process_rewards=false"],
    "grpo": ["algo.estimator=grpo", "algo.process_rewards=false"],
    "prime_frozen": [
        "algo.estimator=prime",
        "algo.process_rewards=true",
        "prm.freeze=true",
        "prm.warmup_steps=8",
    ],
    "prime_min": ["algo.estimator=prime", "algo.process_rewards=true", "algo.process_credit=min"],
    "prime_self": ["algo.estimator=prime", "algo.process_rewards=true", "prm.mode=self"],
}
PRM_SETTINGS: dict[str, list[str]] = {
    "learned": [],
    "warm": ["prm.warmup_steps=8"],
    "frozen": ["prm.freeze=true", "prm.warmup_steps=8"],
    "oracle": ["prm.mode=oracle"],
}
CREDITS = ("sum", "min", "local", "step")
GRID: dict[str, list[str]] = {
    f"{prm}_{credit}": [*METHODS["prime"], f"algo.process_credit={credit}", *over]
    for prm, over in PRM_SETTINGS.items()
    for credit in CREDITS
}
METHODS |= GRID
PRM_KEYS = ("prm/pairwise_acc", "prm/auc", "prm/fe_f1", "prm/loss")
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def mean_ci(xs: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval (NaN half-width for one value)."""
    xs = [x for x in xs if not math.isnan(x)]
    if not xs:
        return math.nan, math.nan
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return m, math.nan
    return m, T95.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / math.sqrt(len(xs))


def _curve(rows: list[dict[str, Any]], key: str) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r[key])) for r in rows if key in r and r[key] is not None]


def curve_area(curve: list[tuple[int, float]]) -> float:
    """Mean held-out accuracy over the validations after step 0 (a sample-efficiency summary: the
    whole run, not only its end)."""
    vals = [v for s, v in curve if s > 0]
    return statistics.fmean(vals) if vals else math.nan


def steps_to(curve: list[tuple[int, float]], level: float) -> int | None:
    """First step whose value reaches ``level`` (None: never)."""
    return next((s for s, v in curve if v >= level - 1e-9), None)


def run_one(config: str | None, overrides: list[str], run_dir: Path) -> dict[str, Any]:
    """Train one configuration (or read back a finished run in ``run_dir``); its metrics rows and wall
    time (NaN when read back)."""
    from prime_fast.demo.assets import train
    from prime_fast.trainer.config import load_config
    from prime_fast.trainer.metrics import read_metrics

    if (run_dir / "summary.json").exists() and (run_dir / "metrics.jsonl").exists():
        return {"rows": read_metrics(run_dir / "metrics.jsonl"), "wall_s": math.nan, "reused": True}
    if run_dir.exists():  # an unfinished run: start it again from nothing
        shutil.rmtree(run_dir)
    cfg = load_config(config, [*overrides, f"trainer.run_dir={run_dir}"])
    t0 = time.perf_counter()
    train(cfg, run_dir)
    return {"rows": read_metrics(run_dir / "metrics.jsonl"), "wall_s": time.perf_counter() - t0}


def summarize(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-method aggregates over seeds."""
    finals = [_curve(r["rows"], "val/acc")[-1][1] for r in runs]
    out: dict[str, Any] = {"method": name, "final": finals, "final_mean_ci": mean_ci(finals)}
    out["area"] = [curve_area(_curve(r["rows"], "val/acc")) for r in runs]
    for key in PRM_KEYS:
        tails = []
        for r in runs:
            c = _curve(r["rows"], key)[-5:]
            tails.append(statistics.fmean(v for _, v in c) if c else math.nan)
        out[key] = mean_ci(tails)
    step_s = [statistics.fmean(float(x["time/step"]) for x in r["rows"] if "time/step" in x) for r in runs]
    out["s_per_step"] = statistics.fmean(step_s)
    return out


def print_table(summaries: list[dict[str, Any]], ref: str | None) -> None:
    """The per-method table (markdown) on stdout."""
    print(
        "| method | final val (mean ± 95% CI) | Δ vs "
        + (ref or "-")
        + " (per-seed, CI) | Δ mean val over the run (per-seed, CI) | steps to ref final | PRM pairwise"
        " | PRM AUC | first-error F1 | s/step |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for s in summaries:
        m, h = s["final_mean_ci"]
        d = s.get("delta_vs_ref", (math.nan, math.nan))
        a = s.get("area_delta_vs_ref", (math.nan, math.nan))
        reach = s.get("steps_to_ref", [])
        print(
            f"| {s['method']} ({len(s.get('seeds', s['final']))} seeds) | {m:.3f} ± {h:.3f} | {d[0]:+.3f} ± {d[1]:.3f} | {a[0]:+.3f} ± {a[1]:.3f} | "
            f"{', '.join('-' if x is None else str(x) for x in reach)} | "
            f"{s['prm/pairwise_acc'][0]:.3f} | {s['prm/auc'][0]:.3f} | {s['prm/fe_f1'][0]:.3f} | "
            f"{s['s_per_step']:.2f} |"
        )


def plot(results: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Accuracy and PRM metrics against steps, one line per method, 95% CI bands over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [("val/acc", "held-out greedy accuracy"), *[(k, k) for k in PRM_KEYS[:3]]]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4))
    cmap = plt.get_cmap("tab20")
    colors = {name: cmap(i % 20) for i, name in enumerate(results)}  # one colour per method in every panel
    for ax, (key, title) in zip(axes, keys):
        for name, runs in results.items():
            curves = [dict(_curve(r["rows"], key)) for r in runs]
            steps = sorted(set().union(*[c.keys() for c in curves])) if curves else []
            if not steps:
                continue
            mids, lo, hi = [], [], []
            for s in steps:
                m, h = mean_ci([c[s] for c in curves if s in c])
                h = 0.0 if math.isnan(h) else h
                mids.append(m)
                lo.append(m - h)
                hi.append(m + h)
            ax.plot(steps, mids, label=name, color=colors[name])
            ax.fill_between(steps, lo, hi, alpha=0.15, color=colors[name])
        ax.set_title(title)
        ax.set_xlabel("RL step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def paired(results: dict[str, list[dict[str, Any]]], a: str, b: str) -> dict[str, Any]:
    """Per-seed differences ``a - b`` (final and mean-over-the-run held-out accuracy) over shared seeds."""
    by_seed = {r["seed"]: r for r in results.get(b, [])}
    pairs = [(r, by_seed[r["seed"]]) for r in results.get(a, []) if r["seed"] in by_seed]
    fin = [_curve(x["rows"], "val/acc")[-1][1] - _curve(y["rows"], "val/acc")[-1][1] for x, y in pairs]
    area = [
        curve_area(_curve(x["rows"], "val/acc")) - curve_area(_curve(y["rows"], "val/acc")) for x, y in pairs
    ]
    return {"seeds": [x["seed"] for x, _ in pairs], "final": mean_ci(fin), "area": mean_ci(area)}


def print_comparison(results: dict[str, list[dict[str, Any]]], a: str, b: str) -> None:
    """One line: ``a - b`` per seed (``--compare A:B``)."""
    p = paired(results, a, b)
    print(
        f"{a} - {b} over seeds {p['seeds']}: final {p['final'][0]:+.3f} ± {p['final'][1]:.3f}, "
        f"mean over the run {p['area'][0]:+.3f} ± {p['area'][1]:.3f}"
    )


def print_curves(results: dict[str, list[dict[str, Any]]]) -> None:
    """Held-out greedy accuracy by validation step, mean over each method's seeds (markdown)."""
    steps = sorted({s for rs in results.values() for r in rs for s, _ in _curve(r["rows"], "val/acc")})
    print("\n| method | " + " | ".join(str(s) for s in steps) + " |")
    print("| --- |" + " ---: |" * len(steps))
    for name, rs in results.items():
        curves = [dict(_curve(r["rows"], "val/acc")) for r in rs]
        cells = [statistics.fmean(c[s] for c in curves if s in c) for s in steps]
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")


def plot_deltas(summaries: list[dict[str, Any]], path: Path) -> None:
    """Per-seed final difference to RLOO (mean and 95% CI) of each method, one bar each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [s for s in summaries if "delta_vs_ref" in s and s["method"] != "rloo"]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(rows) + 2), 4))
    means = [s["delta_vs_ref"][0] for s in rows]
    errs = [0.0 if math.isnan(s["delta_vs_ref"][1]) else s["delta_vs_ref"][1] for s in rows]
    ax.bar(range(len(rows)), means, yerr=errs, capsize=3, color=["C3" if m < 0 else "C2" for m in means])
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(range(len(rows)), [s["method"] for s in rows], rotation=45, ha="right")
    ax.set_ylabel("final val acc − RLOO, per seed (95% CI)")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_variants(specs: list[str]) -> dict[str, list[str]]:
    """``NAME:key=value,key=value`` -> {NAME: [key=value, ...]} (on top of the ``prime`` method)."""
    out = {}
    for spec in specs:
        name, _, body = spec.partition(":")
        if not name or not body:
            raise SystemExit(f"--variant must look like NAME:key=value[,key=value], got {spec!r}")
        out[name] = METHODS["prime"] + [kv for kv in body.split(",") if kv]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", nargs="+", default=["prime", "rloo", "grpo", "prime_frozen", "prime_min"])
    ap.add_argument("--grid", action="store_true", help="add the 16 {PRM}_{CREDIT} rows (and rloo)")
    ap.add_argument(
        "--tabulate-only", action="store_true", help="only read back finished runs (train nothing)"
    )
    ap.add_argument("--compare", action="append", default=[], metavar="A:B", help="per-seed A - B")
    ap.add_argument("--config", default=None, help="the task's TOML (default: the built-in demo)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:key=value,...")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--test-freq", type=int, default=5)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--workdir", default="/tmp/bench_prime")
    ap.add_argument("--json", default="")
    ap.add_argument("--plot", default="")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from prime_fast.demo.assets import prepare_demo
    from prime_fast.trainer.config import load_config
    from prime_fast.trainer.process import quiet_third_party

    quiet_third_party()
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"unknown method(s) {unknown}; choose from {sorted(METHODS)}")
    methods = [*args.methods, *(["rloo", *GRID] if args.grid else [])]
    runs_spec = {m: METHODS[m] for m in dict.fromkeys(methods)} | parse_variants(args.variant)
    work = Path(args.workdir)
    base = [*args.overrides, f"trainer.total_steps={args.steps}", f"trainer.test_freq={args.test_freq}"]
    base += ["trainer.save_freq=0", "log.progress=none", "log.plot=false"]
    # One shared SFT warm-start and data set for every method and seed.
    shared = work / "shared"
    cfg0 = load_config(args.config, [*base, f"trainer.run_dir={shared}"])
    policy, train_files, val_files = prepare_demo(cfg0, shared)
    base += [f"model.path={policy}", f"data.train_files={json.dumps(list(train_files))}"]
    base += [f"data.val_files={json.dumps(list(val_files))}"]
    results: dict[str, list[dict[str, Any]]] = {}
    for name, over in runs_spec.items():
        for seed in args.seeds:
            t0 = time.perf_counter()
            run_dir = work / name / f"seed{seed}"
            if args.tabulate_only and not (run_dir / "summary.json").exists():
                continue
            r = run_one(args.config, [*base, *over, f"trainer.seed={seed}"], run_dir)
            r["seed"] = seed
            results.setdefault(name, []).append(r)
            fin = _curve(r["rows"], "val/acc")[-1][1]
            print(f"{name} seed {seed}: final val {fin:.3f} ({time.perf_counter() - t0:.0f}s)", flush=True)
    summaries = [summarize(n, rs) | {"seeds": [r["seed"] for r in rs]} for n, rs in results.items()]
    ref = "rloo" if "rloo" in results else None
    if ref:
        ref_runs = results[ref]
        level = statistics.fmean(_curve(r["rows"], "val/acc")[-1][1] for r in ref_runs)
        for s in summaries:
            runs = results[s["method"]]
            s["steps_to_ref"] = [steps_to(_curve(r["rows"], "val/acc"), level) for r in runs]
            # per-seed differences over the seeds both have
            ref_by_seed = {r["seed"]: r for r in ref_runs}
            pairs = [(r, ref_by_seed[r["seed"]]) for r in runs if r["seed"] in ref_by_seed]
            s["paired_seeds"] = [r["seed"] for r, _ in pairs]
            fin = [
                _curve(a["rows"], "val/acc")[-1][1] - _curve(b["rows"], "val/acc")[-1][1] for a, b in pairs
            ]
            s["delta_vs_ref"] = mean_ci(fin)
            area = [
                curve_area(_curve(a["rows"], "val/acc")) - curve_area(_curve(b["rows"], "val/acc"))
                for a, b in pairs
            ]
            s["area_delta_vs_ref"] = mean_ci(area)
        print(f"\nreference level (rloo final mean): {level:.3f}")
    print_table(summaries, ref)
    for spec in args.compare:
        print_comparison(results, *spec.split(":", 1))
    print_curves(results)
    if args.plot:
        plot(results, Path(args.plot))
        plot_deltas(summaries, Path(args.plot).with_name(Path(args.plot).stem + "_deltas.png"))
    if args.json:
        payload = {
            "args": vars(args),
            "machine": platform.platform(),
            "summaries": summaries,
            "curves": {
                n: [{k: _curve(r["rows"], k) for k in ("val/acc", *PRM_KEYS)} for r in rs]
                for n, rs in results.items()
            },
        }
        save_json(args.json, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
