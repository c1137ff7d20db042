"""Where does each credit form put the advantage? One real batch of the embedded task, split by token class.

Samples one training batch (the trainer's own collection: accuracy filter, K responses per prompt) from a
policy (default: a bench workdir's SFT warm-start), labels every response with the demo's step
labeller, and computes, on that same batch, the advantages of outcome-only RLOO and of PRIME with the
oracle's process rewards (``prm.mode = oracle``) under each credit form, normalisation and penalty size.
For the responses with a wrong answer it reports the mean advantage of the tokens before the first wrong
step, in it and after it, and the first-order push on the sampled tokens, ``sum A_t (1 - p_t)`` (the
size of ``d log p_t / d logits`` is about ``1 - p_t``: a confident token barely moves whatever its
advantage), per class; and where the policy's uncertainty ``sum (1 - p_t)`` lies in those responses.

    python -m benches.credit_split --workdir /tmp/oracle21/habit --config examples/demo-habit.toml \\
        [--policy CHECKPOINT/policy] --json out.json

Used by benches/RESULTS.md, issue 21, "Oracle weight".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from benches._io import save_json
from prime_fast import algos
from prime_fast.trainer import oracle

FORMS: list[tuple[str, str, str, float]] = [
    ("oracle sum (batch_norm)", "sum", "batch_norm", 1.0),
    ("oracle local (batch_norm)", "local", "batch_norm", 1.0),
    ("oracle step (batch_norm)", "step", "batch_norm", 1.0),
    ("oracle min (batch_norm)", "min", "batch_norm", 1.0),
    ("oracle step, norm none", "step", "none", 1.0),
    ("oracle step, norm none, penalty 3", "step", "none", 3.0),
]


def sample_batch(config: str | None, workdir: Path, policy: str, seed: int) -> Any:
    """One collected training batch from ``policy`` with the bench's shared data: ``(trainer, batch,
    old_logp, acc, mask)``."""
    from prime_fast.demo.assets import prepare_demo
    from prime_fast.trainer.config import load_config
    from prime_fast.trainer.loop import Trainer

    shared = workdir / "shared"
    run = workdir / "credit_split_run"
    over = [
        "prm.mode=oracle",
        "algo.estimator=prime",
        "algo.process_rewards=true",
        f"model.path={policy}",
        f"data.train_files={json.dumps([str(shared / 'data' / 'train.jsonl')])}",
        f"data.val_files={json.dumps([str(shared / 'data' / 'val.jsonl')])}",
        "log.progress=none",
        "log.plot=false",
        f"trainer.seed={seed}",
        f"trainer.run_dir={run}",
    ]
    tr = Trainer(load_config(config, over), run, prepare=prepare_demo)
    tr.setup()
    ro, _ = tr.collect({})
    return (tr, *tr.tensorize(ro))


def token_classes(ids: torch.Tensor, fe: torch.Tensor, m: torch.Tensor, acc: torch.Tensor) -> dict:
    """Boolean ``(B, T)`` masks: tokens of right-answer rows, and of wrong-answer rows before / in /
    after their first wrong step."""
    wrong = (fe >= 0) & (acc < 0.5)
    in_wrong = m & wrong[:, None]
    slip = in_wrong & (ids == fe[:, None])
    before = in_wrong & (ids >= 0) & (ids < fe[:, None])
    return {"right rows": m & (acc > 0.5)[:, None], "before": before, "first wrong step": slip,
            "after": in_wrong & ~slip & ~before}  # fmt: skip


def split(adv: torch.Tensor, unc: torch.Tensor, cls: dict) -> dict[str, dict[str, float]]:
    """Per class: mean advantage and ``sum A (1 - p)``."""
    return {
        k: {
            "mean_adv": float(adv[c].mean()) if c.any() else float("nan"),
            "push": float((adv * unc)[c].sum()),
        }
        for k, c in cls.items()
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", required=True, help="a bench_prime workdir (its shared/ data and SFT)")
    ap.add_argument("--config", default=None)
    ap.add_argument("--policy", default="", help="a policy checkpoint (default: the workdir's SFT)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    work = Path(args.workdir)
    policy = args.policy or str(work / "shared" / "sft")
    tr, batch, old_logp, acc, mask = sample_batch(args.config, work, policy, args.seed)
    m = mask.bool()
    labels = oracle.batch_step_labels(tr.tokenizer, batch, m.shape[1])
    if labels is None:
        raise SystemExit("the batch's data source has no step labeller")
    ids, fe = labels
    cls = token_classes(ids, fe, m, acc)
    unc = torch.where(m, 1 - old_logp.exp(), 0.0)
    k = tr.cfg.rollout.n
    n_wrong_step_right = int(((fe >= 0) & (acc > 0.5)).sum())
    wrong_tokens = cls["before"] | cls["first wrong step"] | cls["after"]
    out: dict[str, Any] = {
        "policy": policy,
        "rows": int(acc.numel()),
        "acc_mean": float(acc.float().mean()),
        "right_answer_rows_with_a_wrong_step": n_wrong_step_right,
        "uncertainty_share": {
            c: float(unc[cls[c]].sum() / unc[wrong_tokens].sum())
            for c in ("before", "first wrong step", "after")
        },
        "forms": {},
    }
    out["forms"]["rloo (outcome only)"] = split(
        algos.prime_rewards(acc, m, k, estimator="rloo").advantages, unc, cls
    )
    for name, credit, norm, pen in FORMS:
        q = oracle.oracle_scores(ids, fe, m, pen)
        r = algos.prime_rewards(acc, m, k, scores=q, credit=credit, norm=norm, step_ids=ids)
        out["forms"][name] = split(r.advantages, unc, cls)
    print(f"policy {policy}: {out['rows']} rows, accuracy {out['acc_mean']:.3f}, "
          f"right answers with a wrong step {n_wrong_step_right}")  # fmt: skip
    share = ", ".join(f"{c} {v:.2f}" for c, v in out["uncertainty_share"].items())
    print(f"wrong-answer rows, share of sum(1 - p): {share}")
    print("| form | " + " | ".join(f"{c}: mean A / sum A(1-p)" for c in cls) + " |")
    print("| --- |" + " ---: |" * len(cls))
    for name, parts in out["forms"].items():
        cells = " | ".join(f"{v['mean_adv']:+.2f} / {v['push']:+.1f}" for v in parts.values())
        print(f"| {name} | {cells} |")
    if args.json:
        save_json(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
