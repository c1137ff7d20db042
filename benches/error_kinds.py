"""What errors do trained policies still make? Greedy answers on the held-out prompts, by kind.

For every ``METHOD/seedS`` run of a ``bench_prime`` workdir, loads its last checkpoint's policy,
decodes one greedy answer per held-out prompt (as the trainer's validation) and classifies it with the
demo task's step labeller: ``faithful`` (no wrong step), ``unfaithful`` (the boxed answer is right but
some step is wrong, e.g. a miscopied running value that the next result silently corrects) or
``wrong`` (the boxed answer is wrong), and for the last two the first wrong step's kind: ``habit``
(the running value copied one too high, the SFT data's slip), ``copy`` (copied off by another amount),
``arith`` (right value copied, wrong result) or ``format``. The validation accuracy is faithful +
unfaithful; outcome-only RL is blind to the difference, step labels are not.

    python -m benches.error_kinds --workdir /tmp/oracle21/habit --config examples/demo-habit.toml \\
        --methods rloo oracle_step --seeds 0 1 2 3 4 --json out.json

Used by benches/RESULTS.md, issue 21, "Oracle weight".
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from benches._io import save_json
from benches.bench_prime import mean_ci
from prime_fast.demo.task import _step_value, first_error_step, parse_question, step_spans


def classify(question: str, response: str) -> tuple[str, str]:
    """``(verdict, kind)`` of one response (module docstring); kind is ``""`` for a faithful one."""
    parsed = parse_question(question)
    if parsed is None:
        raise ValueError(f"question must look like '7+3-5=?', got {question!r}")
    nums, ops = parsed
    value = [nums[0]]
    for op, v in zip(ops, nums[1:]):
        value.append(value[-1] + v if op == "+" else value[-1] - v)
    fe = first_error_step(question, response)
    if fe is None:
        return "faithful", ""
    verdict = "unfaithful" if response.endswith("\\boxed{" + str(value[-1]) + "}") else "wrong"
    spans = step_spans(response)
    got = _step_value(response[slice(*spans[fe])]) if fe < len(spans) and fe < len(ops) else None
    if got is None:
        return verdict, "format"
    lhs, op, b, c = got
    if lhs != value[fe]:
        return verdict, "habit" if lhs == value[fe] + 1 else "copy"
    return verdict, "arith" if (lhs + b if op == "+" else lhs - b) != c else "format"


def greedy_answers(config: str | None, workdir: Path, policy: Path) -> list[tuple[str, str]]:
    """``(question, response)`` for every held-out prompt, greedy, from ``policy``."""
    from prime_fast.demo.assets import prepare_demo
    from prime_fast.runtime.rollout.base import SamplingConfig
    from prime_fast.trainer.config import load_config
    from prime_fast.trainer.loop import Trainer

    shared, run = workdir / "shared", workdir / "error_kinds_run"
    over = [
        "algo.estimator=rloo",
        "algo.process_rewards=false",
        f"model.path={policy}",
        f"data.train_files={json.dumps([str(shared / 'data' / 'train.jsonl')])}",
        f"data.val_files={json.dumps([str(shared / 'data' / 'val.jsonl')])}",
        "log.progress=none",
        "log.plot=false",
        f"trainer.run_dir={run}",
    ]
    tr = Trainer(load_config(config, over), run, prepare=prepare_demo)
    tr.setup()
    r = tr.cfg.rollout
    sampling = SamplingConfig(n=1, temperature=0.0, max_tokens=r.val_max_tokens or r.max_tokens)
    roll = tr.backend.generate([list(p.ids) for p in tr.val_prompts], sampling)
    texts = tr.tokenizer.batch_decode(roll.response_ids, skip_special_tokens=True)
    prompts = tr.tokenizer.batch_decode([list(p.ids) for p in tr.val_prompts], skip_special_tokens=True)
    return [(q.strip().split("\n")[-1], t) for q, t in zip(prompts, texts)]


def last_policy(run_dir: Path) -> Path:
    """The policy of a run's newest ``checkpoints/step_N``."""
    steps = sorted(run_dir.glob("checkpoints/step_*/policy"), key=lambda p: int(p.parent.name.split("_")[1]))
    if not steps:
        raise SystemExit(f"{run_dir} has no checkpoints/step_N/policy")
    return steps[-1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--config", default=None)
    ap.add_argument("--methods", nargs="+", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--ref", default="rloo", help="the row per-seed differences are taken against")
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    work = Path(args.workdir)
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for method in args.methods:
        for seed in args.seeds:
            answers = greedy_answers(args.config, work, last_policy(work / method / f"seed{seed}"))
            kinds = Counter(classify(q, r) for q, r in answers)
            n = len(answers)
            rec = {
                "n": n,
                "acc": sum(v for (verdict, _), v in kinds.items() if verdict != "wrong") / n,
                "faithful": kinds[("faithful", "")] / n,
                "kinds": {f"{a}:{b}": v for (a, b), v in sorted(kinds.items()) if a != "faithful"},
            }
            runs.setdefault(method, {})[seed] = rec
            print(
                f"{method} seed {seed}: acc {rec['acc']:.3f} faithful {rec['faithful']:.3f} {rec['kinds']}",
                flush=True,
            )
    print(
        "\n| method | val acc | faithful acc | unfaithful (right answer, wrong step) | Δ faithful vs ref (per seed, CI) |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    summary = {}
    for method, by_seed in runs.items():
        acc = mean_ci([r["acc"] for r in by_seed.values()])
        faith = mean_ci([r["faithful"] for r in by_seed.values()])
        unf = statistics.fmean(r["acc"] - r["faithful"] for r in by_seed.values())
        ref = runs.get(args.ref, {})
        delta = mean_ci([r["faithful"] - ref[s]["faithful"] for s, r in by_seed.items() if s in ref])
        summary[method] = {"acc": acc, "faithful": faith, "unfaithful": unf, "faithful_delta_vs_ref": delta}
        print(f"| {method} | {acc[0]:.3f} ± {acc[1]:.3f} | {faith[0]:.3f} ± {faith[1]:.3f} | {unf:.3f} | "
              f"{delta[0]:+.3f} ± {delta[1]:.3f} |")  # fmt: skip
    if args.json:
        save_json(args.json, {"args": vars(args), "runs": runs, "summary": summary})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
