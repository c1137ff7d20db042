"""Can the implicit PRM learn on the demo task at all? Offline probe on fixed, labelled rollouts.

Builds (or reuses) the demo SFT warm-start, samples K responses per prompt from it, labels each with
the verifier (outcome) and :func:`prime_fast.demo.task.first_error_step` (process), then trains a PRM
(initialised from the SFT weights; reference = the frozen SFT model) with PRIME's BCE loss on the
training rollouts for some epochs and reports, on held-out rollouts: pairwise accuracy, outcome AUC
of the summed implicit reward and ProcessBench first-error F1 (threshold fitted on half of the held-out
rollouts, reported on the other half).

    python -m benches.prm_probe --lr 1e-3 --beta 0.05 --epochs 4 --json out.json

This isolates the PRM's inputs (masking, shifts, EOS) and its optimisation from the RL loop.
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from pathlib import Path
from typing import Any

import torch

from benches._io import save_json
from prime_fast import algos
from prime_fast.demo.task import first_error_step, make_rows, step_spans
from prime_fast.ops import implicit_process_rewards
from prime_fast.runtime.batch import Batch, build_batch
from prime_fast.runtime.models import batched_logprobs, response_logprobs
from prime_fast.verify import verify_math_batch


def token_step_ids(tokenizer: Any, response_ids: list[int], text: str) -> list[int]:
    """Step index of each response token (-1 for tokens after the text, e.g. EOS)."""
    spans = step_spans(text)
    out, pos = [], 0
    for t in response_ids:
        piece = tokenizer.decode([t], skip_special_tokens=True)
        if not piece:
            out.append(-1)
            continue
        sid = next((i for i, (s, e) in enumerate(spans) if s <= pos < e), -1)
        out.append(sid)
        pos += len(piece)
    return out


def sample_rollouts(
    model: Any, tok: Any, rows: list[dict[str, Any]], k: int, seed: int, max_tokens: int = 32
) -> dict[str, Any]:
    """K sampled responses per row from ``model`` with labels."""
    from prime_fast.runtime.rollout.base import SamplingConfig
    from prime_fast.runtime.rollout.hf import HFRolloutBackend

    torch.manual_seed(seed)
    be = HFRolloutBackend(model, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    prompts = [
        tok.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True)[
            "input_ids"
        ]
        for r in rows
    ]
    roll = be.generate(
        [list(p) for p in prompts], SamplingConfig(n=k, temperature=1.0, max_tokens=max_tokens)
    )
    texts = tok.batch_decode(roll.response_ids, skip_special_tokens=True)
    rrows = [rows[i // k] for i in range(len(texts))]
    gts = [r["reward_model"]["ground_truth"] for r in rrows]
    acc = [float(v.correct) for v in verify_math_batch(texts, gts)]
    qs = [r["prompt"][0]["content"] for r in rrows]
    fe = [first_error_step(q, t) for q, t in zip(qs, texts)]
    batch = build_batch(
        [list(prompts[i // k]) for i in range(len(texts))],
        roll.response_ids,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    steps = torch.full(batch.responses.shape, -1, dtype=torch.long)
    for i, (ids, t) in enumerate(zip(roll.response_ids, texts)):
        sid = token_step_ids(tok, ids, t)
        steps[i, : len(sid)] = torch.tensor(sid, dtype=torch.long)
    return {
        "batch": batch,
        "acc": torch.tensor(acc),
        "label": torch.tensor([-1 if f is None else f for f in fe]),
        "steps": steps,
        "texts": texts,
    }


def prm_quality(
    prm: Any, ref_logp: torch.Tensor, data: dict[str, Any], k: int, beta: float
) -> dict[str, float]:
    """Pairwise accuracy, outcome AUC and first-error F1 (threshold from the first half) of ``prm``."""
    b: Batch = data["batch"]
    logp = batched_logprobs(prm, b, 64)
    q = implicit_process_rewards(logp, ref_logp, b.response_mask) * beta
    mask = b.response_mask.bool()
    total = torch.where(mask, q, 0.0).sum(1)
    scores, smask = algos.step_scores(q, data["steps"], "sum")
    n = b.size // 2 // k * k
    thr = algos.fit_threshold(scores[:n], smask[:n], data["label"][:n])
    f1 = algos.first_error_f1(algos.predict_first_error(scores[n:], smask[n:], thr), data["label"][n:])
    direct = torch.tensor([t.startswith("\\boxed{") for t in data["texts"]])
    return {
        "auc_direct": algos.outcome_auc(total[direct], data["acc"][direct]),
        "auc_worked": algos.outcome_auc(total[~direct], data["acc"][~direct]),
        "direct_frac": float(direct.float().mean()),
        "acc_direct": float(data["acc"][direct].mean()),
        "acc_worked": float(data["acc"][~direct].mean()),
        "pairwise_acc": float(algos.prm_pairwise_accuracy(q, data["acc"], k, mask)),
        "auc": algos.outcome_auc(total, data["acc"]),
        "fe_f1": f1["f1"],
        "fe_acc_error": f1["acc_error"],
        "fe_acc_correct": f1["acc_correct"],
    }


def train_prm(
    prm: Any, ref_logp: torch.Tensor, data: dict[str, Any], *, lr: float, beta: float, epochs: int, mini: int
) -> list[float]:
    """PRIME's BCE on ``sigmoid(beta * sum q)`` against the outcomes, Adam, shuffled mini-batches."""
    b: Batch = data["batch"]
    opt = torch.optim.AdamW(prm.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    losses = []
    prm.train()
    for _ in range(epochs):
        order = torch.randperm(b.size, generator=gen)
        for s in range(0, b.size, mini):
            idx = order[s : s + mini]
            sub = b.rows(idx)
            logp = response_logprobs(prm, sub)
            q = implicit_process_rewards(logp, ref_logp[idx], sub.response_mask)
            loss = algos.prm_bce_loss(q, sub.response_mask, data["acc"][idx], beta=beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(prm.parameters(), 10.0)
            opt.step()
            losses.append(float(loss.detach()))
    prm.eval()
    return losses


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default="/tmp/prm_probe", help="cache directory (SFT model, rollouts)")
    ap.add_argument("--n-terms", type=int, default=3)
    ap.add_argument("--max-operand", type=int, default=9)
    ap.add_argument("--sft-steps", type=int, default=600)
    ap.add_argument("--direct-frac", type=float, default=0.6)
    ap.add_argument("--slip", type=float, default=0.0)
    ap.add_argument("--slip-kind", default="result", choices=["result", "copy", "habit"])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=256, help="training prompts (x K responses)")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--lr", type=float, nargs="+", default=[5e-4])
    ap.add_argument("--beta", type=float, nargs="+", default=[0.05])
    ap.add_argument("--epochs", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--mini", type=int, default=64)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from prime_fast.demo.model import build_sft_checkpoint
    from prime_fast.runtime.models import load_causal_lm, load_tokenizer

    size = f"_h{args.hidden}l{args.layers}" if (args.hidden, args.layers) != (128, 2) else ""
    key = f"t{args.n_terms}_m{args.max_operand}_d{args.direct_frac}_p{args.slip}{args.slip_kind[0]}_s{args.sft_steps}{size}"
    work = Path(args.work) / key
    sft = work / "sft"
    if not (sft / "config.json").exists():
        t0 = time.perf_counter()
        rows = make_rows(
            4000,
            0,
            "sft",
            args.n_terms,
            args.max_operand,
            direct_frac=args.direct_frac,
            slip_prob=args.slip,
            slip_kind=args.slip_kind,
        )
        build_sft_checkpoint(
            sft,
            seed=0,
            train_rows=rows,
            steps=args.sft_steps,
            hidden_size=args.hidden,
            num_layers=args.layers,
        )
        print(f"SFT built in {time.perf_counter() - t0:.0f}s")
    tok = load_tokenizer(str(sft))
    policy = load_causal_lm(str(sft), "float32", trainable=False)
    train = sample_rollouts(
        policy,
        tok,
        make_rows(args.prompts, 1, "train", args.n_terms, args.max_operand),
        args.k,
        1,
        args.max_tokens,
    )
    held = sample_rollouts(
        policy, tok, make_rows(128, 2, "val", args.n_terms, args.max_operand), args.k, 2, args.max_tokens
    )
    ref_tr = batched_logprobs(policy, train["batch"], 64)
    ref_ho = batched_logprobs(policy, held["batch"], 64)
    frac_correct = float(train["acc"].mean())
    frac_wrong_but_ok = float(((train["acc"] > 0.5) & (train["label"] >= 0)).float().mean())
    print(
        f"rollouts: {train['batch'].size} train / {held['batch'].size} held out; outcome acc {frac_correct:.3f}; "
        f"correct answer with a wrong step {frac_wrong_but_ok:.3f}"
    )
    results = []
    for lr in args.lr:
        for beta in args.beta:
            prm = copy.deepcopy(policy).requires_grad_(True)
            done = 0
            for ep in sorted(args.epochs):
                t0 = time.perf_counter()
                losses = train_prm(prm, ref_tr, train, lr=lr, beta=beta, epochs=ep - done, mini=args.mini)
                done = ep
                m = prm_quality(prm, ref_ho, held, args.k, beta)
                row = {
                    "lr": lr,
                    "beta": beta,
                    "epochs": ep,
                    "final_loss": losses[-1] if losses else math.nan,
                    **m,
                }
                row["train_s"] = time.perf_counter() - t0
                results.append(row)
                print(
                    f"lr {lr:g} beta {beta:g} epochs {ep}: loss {row['final_loss']:.3f} pairwise {m['pairwise_acc']:.3f} "
                    f"auc {m['auc']:.3f} fe_f1 {m['fe_f1']:.3f} (err {m['fe_acc_error']:.2f} ok {m['fe_acc_correct']:.2f}) "
                    f"| direct {m['direct_frac']:.2f} acc {m['acc_direct']:.2f} auc {m['auc_direct']:.3f}; "
                    f"worked acc {m['acc_worked']:.2f} auc {m['auc_worked']:.3f}",
                    flush=True,
                )
    if args.json:
        save_json(args.json, {"args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
