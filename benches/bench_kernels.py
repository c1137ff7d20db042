"""Benchmark of the fused ops: token_logprobs, linear_token_logprobs, the advantage scan.

For each op, forward and forward+backward, every provider in the same run: prime-fast (Triton on
CUDA, the chunked torch path on CPU), PyTorch eager, ``torch.compile`` of the eager code and
Liger-Kernel when installed; for the LM head also the bare GEMMs (``h @ W.T``, and ``dX``, ``dW``)
that bound it. Each provider's result is checked against ``prime_fast.ops.reference`` first, at the
precision of the provider's output dtype (Liger's ``cross_entropy`` returns the per-token loss in
the logits' dtype, so on bf16 logits it is judged at bf16 rounding and the note says so).

    python -m benches.bench_kernels                 # picks the preset from the machine
    python -m benches.bench_kernels --preset gpu --json out.json
    python -m benches.bench_kernels --preset gpu-check   # the short set of benches/gpu_check.sh
    python -m benches.bench_kernels --only scan
    python -m benches.bench_kernels --only policy --providers fused,eager   # issue 25's loss, two providers

``policy`` (issue 25): the PPO-clip policy loss with entropy from hidden states, fwd+bwd, side by
side: ``ops.linear_policy_loss`` (fused), ``linear_token_logprobs`` + ``algos.ppo_clip_loss``
(unfused), eager (full logits, log_softmax, gather, entropy, the same loss), ``torch.compile`` of
eager, Liger's ``LigerFusedLinearGRPOLoss`` (sequence-level advantages: its only mode) and Liger's
per-token ``LigerFusedLinearScaledCrossEntropyFunction`` + the same loss where installed, and the
bare three GEMMs. Each provider's loss is checked against the float64 loss first. The CPU preset's
second policy shape (N = 4096, V = 151936) takes minutes per provider on two cores: ``--policy-n 512``
skips it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import torch

from benches._harness import (
    Row,
    default_json_path,
    env_info,
    is_oom,
    measure,
    peak_mib,
    print_table,
    sync,
    write_json,
)
from prime_fast import ops
from prime_fast.ops import reference

# ------------------------------------------------------------------------------------------------
# providers
# ------------------------------------------------------------------------------------------------


def eager_token_logprobs(x: torch.Tensor, lab: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The usual PyTorch code: upcast, log_softmax, gather (TRL/verl style)."""
    return torch.log_softmax(x.float() / temperature, dim=-1).gather(-1, lab.unsqueeze(-1)).squeeze(-1)


def eager_linear_logprobs(
    h: torch.Tensor, w: torch.Tensor, lab: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    return eager_token_logprobs(h @ w.T, lab, temperature)


def liger_token_logprobs() -> Callable[..., torch.Tensor] | None:
    # Liger's cross_entropy stores the per-token loss in the logits' dtype (bf16 here) and, when the
    # logits require grad, overwrites them with the gradient during the forward; so it runs last.
    try:
        from liger_kernel.transformers.functional import liger_cross_entropy
    except ImportError:
        return None

    def f(x: torch.Tensor, lab: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        return -liger_cross_entropy(x, lab, reduction="none")

    return f


def liger_linear_logprobs() -> Callable[..., torch.Tensor] | None:
    try:
        from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy
    except ImportError:
        return None

    def f(h: torch.Tensor, w: torch.Tensor, lab: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        return -liger_fused_linear_cross_entropy(h, w, lab, reduction="none")

    return f


def _compiled(fn: Callable[..., Any]) -> Callable[..., Any]:
    return torch.compile(fn, dynamic=False)


# ------------------------------------------------------------------------------------------------
# cases
# ------------------------------------------------------------------------------------------------


def _max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


#: Relative rounding bound (half an ulp) of a low-precision output dtype.
_OUT_ROUNDING = {torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}


def _judge(out: torch.Tensor, ref: torch.Tensor, tol: float) -> tuple[bool, str]:
    """``|out - ref| <= tol + u |ref|`` elementwise, ``u`` the rounding of ``out``'s dtype (0 for
    float32/float64): a provider returning bf16 is judged at bf16 precision, and the note says so."""
    o, r = out.detach().double(), ref.detach().double()
    err = (o - r).abs()
    u = _OUT_ROUNDING.get(out.dtype, 0.0)
    ok = bool((err <= tol + u * r.abs()).all())
    note = f"max|err|={float(err.max()):.1e}"
    if u:
        dt = str(out.dtype).replace("torch.", "").replace("bfloat16", "bf16").replace("float", "fp")
        note += f" ({dt} output, judged at {dt} rounding)"
    return ok, note


class _Interrupted(Exception):
    """Raised in the main thread on SIGTERM."""


@contextlib.contextmanager
def _env(name: str, value: str | None):
    old = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if value is not None:
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _run_provider(
    rows: list[Row],
    *,
    case: str,
    provider: str,
    shape: str,
    dtype: torch.dtype,
    device: torch.device,
    fwd: Callable[[], torch.Tensor],
    check: Callable[[torch.Tensor], tuple[bool, str]],
    leaves: list[torch.Tensor],
    bytes_fwd: float | None,
    bytes_bwd: float | None,
    flops_fwd: float | None,
    flops_bwd: float | None,
    out_bytes_bwd: float = 0.0,
    modes: tuple[str, ...] = ("fwd", "fwd+bwd"),
    rep_ms: float,
) -> None:
    dt = str(dtype).replace("torch.", "").replace("bfloat16", "bf16").replace("float", "fp")
    try:
        with torch.no_grad():
            out = fwd()
        ok, note = check(out)
        del out
    except Exception as exc:
        if not is_oom(exc):
            raise
        for mode in modes:
            rows.append(Row(case, provider, shape, dt, mode, note="OOM"))
        torch.cuda.empty_cache()
        return
    for mode in modes:
        row = Row(case, provider, shape, dt, mode, correct=ok, note=note)
        rows.append(row)
        if not ok:
            continue
        if mode == "fwd":

            def fn():
                with torch.no_grad():
                    return fwd()

            nbytes, flops = bytes_fwd, flops_fwd
        else:
            g = None

            def fn():
                nonlocal g
                out = fwd()
                if g is None:
                    g = torch.randn(out.shape, device=out.device, dtype=out.dtype)
                out.backward(g)

            nbytes, flops = bytes_bwd, flops_bwd
        try:
            fn()  # warm-up: compilation, autotuning and one-time allocations stay out of the peak
            for t in leaves:
                t.grad = None
            row.peak_mib = peak_mib(fn, device)
            if row.peak_mib is not None:
                outs = out_bytes_bwd if mode == "fwd+bwd" else 0.0
                row.extra_mib = max(0.0, row.peak_mib - outs / 2**20)
            for t in leaves:
                t.grad = None
            timing = measure(fn, device, rep_ms=rep_ms, grad_to_none=leaves if mode != "fwd" else None)
        except Exception as exc:
            if not is_oom(exc):
                raise
            row.note = "OOM"
            torch.cuda.empty_cache()
            continue
        finally:
            for t in leaves:
                t.grad = None
        timing.fill(row)
        p50 = timing.p50
        if nbytes:
            row.gbps = nbytes / (p50 * 1e-3) / 1e9
        if flops:
            row.tflops = flops / (p50 * 1e-3) / 1e12


def _policy_ratios(rows: list[Row]) -> None:
    """Note each policy-loss row's time and extra memory as multiples of eager's and the bare GEMMs'."""
    by = {(r.shape, r.provider): r for r in rows if r.case == "policy_loss" and r.mode == "fwd+bwd"}
    for (shape, provider), r in by.items():
        for base in ("eager", "bare-gemm"):
            b = by.get((shape, base))
            if provider == base or b is None or not (b.ms_p50 and r.ms_p50):
                continue
            r.extra[f"time_vs_{base}"] = r.ms_p50 / b.ms_p50
            note = f"{r.ms_p50 / b.ms_p50:.2f}x {base} time"
            if base == "eager" and b.extra_mib and r.extra_mib is not None:
                r.extra["extra_mem_vs_eager"] = r.extra_mib / b.extra_mib
                note += f", {r.extra_mib / b.extra_mib:.3f}x its extra memory"
            r.note = f"{r.note}; {note}" if r.note else note


def _speedups(rows: list[Row], base_provider: str = "eager") -> None:
    base = {(r.case, r.shape, r.mode): r.ms_p50 for r in rows if r.provider == base_provider and r.ms_p50}
    for r in rows:
        b = base.get((r.case, r.shape, r.mode))
        if b and r.ms_p50:
            r.speedup = b / r.ms_p50


def bench_token_logprobs(rows, device, n, vocab, dtype, providers, rep_ms):
    gen = torch.Generator(device=device).manual_seed(0)
    x = (torch.randn((n, vocab), device=device, generator=gen) * 2).to(dtype).requires_grad_(True)
    lab = torch.randint(0, vocab, (n,), device=device, generator=gen)
    m = min(n, 1024)
    ref = reference.token_logprobs(x[:m].detach().double(), lab[:m])
    shape = f"N={n} V={vocab}"
    elem = x.element_size()
    bytes_fwd = n * vocab * elem + n * 8 + n * 4
    bytes_bwd = bytes_fwd + 2 * n * vocab * elem  # forward read, backward read + write

    def check(out):
        return _judge(out[:m], ref, 2e-3)

    impls: dict[str, Callable[[], torch.Tensor]] = {"prime-fast": lambda: ops.token_logprobs(x, lab)}
    if "eager" in providers:
        impls["eager"] = lambda: eager_token_logprobs(x, lab)
    if "compile" in providers:
        c = _compiled(eager_token_logprobs)
        impls["torch.compile"] = lambda: c(x, lab)
    lig = liger_token_logprobs() if "liger" in providers else None
    if lig is not None:
        impls["liger"] = lambda: lig(x, lab)
    for name, f in impls.items():
        _run_provider(
            rows,
            case="token_logprobs",
            provider=name,
            shape=shape,
            dtype=dtype,
            device=device,
            fwd=f,
            check=check,
            leaves=[x],
            bytes_fwd=bytes_fwd,
            bytes_bwd=bytes_bwd,
            flops_fwd=None,
            flops_bwd=None,
            out_bytes_bwd=n * vocab * elem,
            rep_ms=rep_ms,
        )


def bench_linear(rows, device, n, hidden, vocab, dtype, providers, rep_ms):
    gen = torch.Generator(device=device).manual_seed(1)
    h = torch.randn((n, hidden), device=device, generator=gen).to(dtype).requires_grad_(True)
    w = (
        (torch.randn((vocab, hidden), device=device, generator=gen) / hidden**0.5)
        .to(dtype)
        .requires_grad_(True)
    )
    lab = torch.randint(0, vocab, (n,), device=device, generator=gen)
    m = min(n, 1024)
    ref = reference.linear_token_logprobs(h[:m].detach().double(), w.detach().double(), lab[:m])
    shape = f"N={n} H={hidden} V={vocab}"
    flops_fwd = 2.0 * n * hidden * vocab
    flops_bwd = 3 * flops_fwd  # useful FLOPs of fwd+bwd (6NHV), what the bare GEMMs do
    grads_bytes = (n * hidden + vocab * hidden) * h.element_size()

    def check(out):
        return _judge(out[:m], ref, 2e-2 if dtype != torch.float32 else 2e-3)

    impls: dict[str, Callable[[], torch.Tensor]] = {
        "prime-fast": lambda: ops.linear_token_logprobs(h, w, lab)
    }
    # The first launch layout (PRIME_FAST_LINEAR_IMPL=v1), for comparison with the default.
    env_of = {"prime-fast v1": "v1"}
    if "v1" in providers:
        impls["prime-fast v1"] = lambda: ops.linear_token_logprobs(h, w, lab)
    if "eager" in providers:
        impls["eager"] = lambda: eager_linear_logprobs(h, w, lab)
    if "compile" in providers:
        c = _compiled(eager_linear_logprobs)
        impls["torch.compile"] = lambda: c(h, w, lab)
    lig = liger_linear_logprobs() if "liger" in providers else None
    if lig is not None:
        impls["liger"] = lambda: lig(h, w, lab)
    for name, f in impls.items():
        with _env("PRIME_FAST_LINEAR_IMPL", env_of.get(name)):
            _run_provider(
                rows,
                case="linear_token_logprobs",
                provider=name,
                shape=shape,
                dtype=dtype,
                device=device,
                fwd=f,
                check=check,
                leaves=[h, w],
                bytes_fwd=None,
                bytes_bwd=None,
                flops_fwd=flops_fwd,
                flops_bwd=flops_bwd,
                out_bytes_bwd=grads_bytes,
                rep_ms=rep_ms,
            )
    if "gemm" in providers:
        _bare_gemms(rows, device, h, w, shape, dtype, flops_fwd, grads_bytes, rep_ms)


def _bare_gemms(rows, device, h, w, shape, dtype, flops_fwd, grads_bytes, rep_ms):
    """The LM-head GEMMs alone: ``h @ W.T`` forward; plus ``dX = G W``, ``dW = G^T h`` backward."""
    dt = str(dtype).replace("torch.", "").replace("bfloat16", "bf16").replace("float", "fp")
    hd, wd = h.detach(), w.detach()
    try:
        fwd = lambda: hd @ wd.T  # noqa: E731
        fwd()
        p = peak_mib(fwd, device)
        t = measure(fwd, device, rep_ms=rep_ms)
        rows.append(
            Row(
                "linear_token_logprobs",
                "bare-gemm",
                shape,
                dt,
                "fwd",
                tflops=flops_fwd / (t.p50 * 1e-3) / 1e12,
                peak_mib=p,
                correct=True,
                note="h@W.T only",
            )
        )
        t.fill(rows[-1])
        g = torch.randn((hd.shape[0], wd.shape[0]), device=device, dtype=dtype)

        def fb():
            _ = hd @ wd.T
            return g @ wd, g.T @ hd

        fb()
        p = peak_mib(fb, device)
        t = measure(fb, device, rep_ms=rep_ms)
        extra = None if p is None else max(0.0, p - grads_bytes / 2**20)
        rows.append(
            Row(
                "linear_token_logprobs",
                "bare-gemm",
                shape,
                dt,
                "fwd+bwd",
                tflops=3 * flops_fwd / (t.p50 * 1e-3) / 1e12,
                peak_mib=p,
                extra_mib=extra,
                correct=True,
                note="3 GEMMs, G given",
            )
        )
        t.fill(rows[-1])
    except Exception as exc:
        if not is_oom(exc):
            raise
        rows.append(Row("linear_token_logprobs", "bare-gemm", shape, dt, "fwd", note="OOM"))
        torch.cuda.empty_cache()


def bench_scan(rows, device, b, t, rep_ms):
    """Discounted returns over (B, T): one launch vs the usual Python loop over T."""
    from prime_fast.ops.scan import _torch_scan

    gen = torch.Generator(device=device).manual_seed(2)
    r = torch.randn((b, t), device=device, generator=gen)
    gamma = 0.99
    ref = reference.discounted_returns(r.double().cpu(), gamma)
    shape = f"B={b} T={t}"

    def loop():
        out = torch.empty_like(r)
        running = torch.zeros(b, device=device)
        for i in reversed(range(t)):
            running = r[:, i] + gamma * running
            out[:, i] = running
        return out

    impls = {"prime-fast": lambda: ops.reverse_affine_scan(r, gamma), "python-loop": loop}
    if device.type == "cuda":
        impls["torch-logdepth"] = lambda: _torch_scan(r, None, gamma)
    nbytes = 2 * b * t * 4
    for name, f in impls.items():
        out = f()
        err = _max_err(out.cpu(), ref)
        ok = err < 1e-3 * max(1.0, float(ref.abs().max()))
        row = Row("discounted_returns", name, shape, "fp32", "fwd", correct=ok, note=f"max|err|={err:.1e}")
        rows.append(row)
        if ok:
            measure(f, device, rep_ms=rep_ms if name != "python-loop" else 2 * rep_ms).fill(row)
            row.gbps = nbytes / (row.ms_p50 * 1e-3) / 1e9
    base = next(
        (
            x.ms_p50
            for x in rows
            if x.case == "discounted_returns" and x.provider == "python-loop" and x.shape == shape
        ),
        None,
    )
    for x in rows:
        if x.case == "discounted_returns" and x.shape == shape and x.ms_p50 and base:
            x.speedup = base / x.ms_p50


def authors_rloo_returns(acc, scores, mask, k, gamma_p=1.0, gamma_o=1.0):
    """PRIME's ``compute_rloo_returns`` re-typed: per-group Python loops with boolean-mask indexing
    (host synchronisations) and a Python loop over T, then verl's ``masked_whiten``."""
    b, t = scores.shape
    lengths = mask.sum(-1)
    total = torch.zeros_like(scores)
    for src, gamma in (("rm", gamma_p), ("gt", gamma_o)):
        if src == "rm":
            rmask, r = mask.clone(), scores.clone()
        else:
            rmask = torch.zeros_like(mask)
            rmask[torch.arange(b, device=mask.device), lengths - 1] = True
            r = torch.zeros_like(scores)
            r[torch.arange(b, device=mask.device), lengths - 1] = acc
        r[~rmask] = 0
        for s0 in range(0, b, k):
            means = torch.cat(
                [r[p : p + 1][rmask[p : p + 1]].mean(0, keepdim=True) for p in range(s0, s0 + k)]
            )
            base = means.sum() / (k - 1)
            sl = r[s0 : s0 + k]
            sl[rmask[s0 : s0 + k]] = sl[rmask[s0 : s0 + k]] * (k / (k - 1)) - base
        disc = torch.zeros_like(r)
        for i in reversed(range(t)):
            disc[:, i] = r[:, i] if i == t - 1 else r[:, i] + gamma * disc[:, i + 1]
        total += disc
    m = mask.float()
    mean = (total * m).sum() / m.sum()
    var = (((total - mean) ** 2) * m).sum() / (m.sum() - 1)
    return (total - mean) * torch.rsqrt(var + 1e-8)


def bench_prime_advantages(rows, device, b, t, k, rep_ms):
    """The whole PRIME advantage (RLOO on both sources, returns, whitening) vs the authors' loops."""
    from prime_fast import algos

    gen = torch.Generator(device=device).manual_seed(3)
    lengths = torch.randint(1, t + 1, (b,), device=device, generator=gen)
    mask = torch.arange(t, device=device)[None, :] < lengths[:, None]
    acc = torch.randint(0, 2, (b,), device=device, generator=gen).float()
    scores = torch.randn((b, t), device=device, generator=gen)
    ref = authors_rloo_returns(acc, scores, mask, k)
    shape = f"B={b} T={t} K={k}"
    impls = {
        "prime-fast": lambda: algos.prime_advantages(acc, mask, k, process_rewards=scores)[0],
        "authors-loop": lambda: authors_rloo_returns(acc, scores, mask, k),
    }
    for name, f in impls.items():
        out = f()
        err = float((torch.where(mask, out, 0) - torch.where(mask, ref, 0)).abs().max())
        row = Row(
            "prime_advantages", name, shape, "fp32", "fwd", correct=err < 1e-3, note=f"max|err|={err:.1e}"
        )
        rows.append(row)
        if row.correct:
            measure(f, device, rep_ms=rep_ms).fill(row)
    base = next(
        (
            x.ms_p50
            for x in rows
            if x.case == "prime_advantages" and x.provider == "authors-loop" and x.shape == shape
        ),
        None,
    )
    for x in rows:
        if x.case == "prime_advantages" and x.shape == shape and x.ms_p50 and base:
            x.speedup = base / x.ms_p50


# ------------------------------------------------------------------------------------------------
# policy loss (issue 25)
# ------------------------------------------------------------------------------------------------

#: Options of the benchmarked loss: PPO-clip with an entropy bonus, token-mean (PRIME's).
POLICY_KW: dict[str, Any] = {"clip_ratio": 0.2, "entropy_coef": 0.01}


def eager_policy_loss(h, w, lab, old, adv, mask):
    """The usual PyTorch code: full logits, log_softmax, gather, entropy, then PPO-clip."""
    from prime_fast import algos

    logq = torch.log_softmax((h @ w.T).float(), dim=-1)
    logp = logq.gather(-1, lab.unsqueeze(-1)).squeeze(-1)
    ent = -(logq.exp() * logq).sum(-1)
    return algos.ppo_clip_loss(logp, old, adv, mask, entropy=ent, **POLICY_KW)[0]


def unfused_policy_loss(h, w, lab, old, adv, mask):
    """prime-fast's LM-head op (log-probs + entropy; its backward recomputes the logits) + the loss."""
    from prime_fast import algos

    logp, ent = ops.linear_token_logprobs(h, w, lab, return_entropy=True)
    return algos.ppo_clip_loss(logp, old, adv, mask, entropy=ent, **POLICY_KW)[0]


def fused_policy_loss(h, w, lab, old, adv, mask):
    return ops.linear_policy_loss(h, w, lab, old, adv, mask, **POLICY_KW)[0]


def liger_policy_providers() -> dict[str, Callable[..., torch.Tensor]]:
    """Liger's two LM-head ops where ``liger_kernel`` is importable (else nothing)."""
    out: dict[str, Callable[..., torch.Tensor]] = {}
    try:
        from liger_kernel.chunked_loss import LigerFusedLinearGRPOLoss
    except ImportError:
        LigerFusedLinearGRPOLoss = None
    if LigerFusedLinearGRPOLoss is not None:
        grpo = LigerFusedLinearGRPOLoss(beta=0.0, use_ref_model=False, loss_type="bnpo", epsilon_low=0.2)

        def liger_grpo(h, w, lab, old, adv, mask):
            # Sequence-level advantages (one per row: Liger's only mode), the row means of ours.
            seq_adv = adv.sum(-1) / mask.sum(-1).clamp(min=1)
            return grpo(h, w, lab, mask.float(), seq_adv, old_per_token_logps=old)[0]

        out["liger-grpo"] = liger_grpo
    try:
        from liger_kernel.ops import LigerFusedLinearScaledCrossEntropyFunction as Lsce
    except ImportError:
        Lsce = None
    if Lsce is not None:
        from prime_fast import algos

        def liger_per_token(h, w, lab, old, adv, mask):
            nll, ent = Lsce.apply(h.reshape(-1, h.shape[-1]), w, lab.reshape(-1), 1.0, -100, 1, True)
            logp, ent = -nll.float().view(lab.shape), ent.float().view(lab.shape)
            return algos.ppo_clip_loss(logp, old, adv, mask, entropy=ent, **POLICY_KW)[0]

        out["liger-per-token"] = liger_per_token
    return out


def _policy_inputs(device, n, hidden, vocab, dtype):
    """``(B, T, H)`` hidden states (T = 128 or 256), LM head, labels, a ragged mask, old log-probs
    scattered around the current ones (clipping active on part of the tokens), advantages."""
    t = 128 if n <= 512 else 256
    b = max(1, n // t)
    gen = torch.Generator(device=device).manual_seed(3)
    h = torch.randn((b, t, hidden), device=device, generator=gen).to(dtype).requires_grad_(True)
    w = (torch.randn((vocab, hidden), device=device, generator=gen) / hidden**0.5).to(dtype)
    w.requires_grad_(True)
    lab = torch.randint(0, vocab, (b, t), device=device, generator=gen)
    lengths = torch.randint(t // 2, t + 1, (b,), device=device, generator=gen)
    mask = torch.arange(t, device=device).unsqueeze(0) < lengths.unsqueeze(1)
    with torch.no_grad():
        cur = ops.linear_token_logprobs(h.detach(), w.detach(), lab)
    old = cur + 0.3 * torch.randn((b, t), device=device, generator=gen)
    adv = torch.randn((b, t), device=device, generator=gen)
    return h, w, lab, old, adv, mask


def _reference_policy_loss(h, w, lab, old, adv, mask) -> float:
    """The float64 loss (chunked float64 log-probs, no N x V tensor) for the correctness check."""
    from prime_fast import algos

    with torch.no_grad(), _env("PRIME_FAST_KERNELS", "torch"):
        logp, ent = ops.linear_token_logprobs(h.double(), w.double(), lab, return_entropy=True)
        loss, _ = algos.ppo_clip_loss(logp, old.double(), adv.double(), mask, entropy=ent, **POLICY_KW)
    return float(loss)


def _time_policy(fn, leaves, device, rep_ms: float) -> tuple[float, float, float, float | None]:
    """``(p50, p20, p80, peak MiB)`` of fwd+bwd: one warm-up (compilation, first allocations), then
    at least 2 timed runs within ``rep_ms`` (at most 20), each also measuring its peak memory."""
    import statistics
    import time

    from benches import _harness

    def run():
        fn().backward()
        sync(device)

    run()
    clock = (
        time.process_time if _harness.CPU_CLOCK == "process" and device.type == "cpu" else time.perf_counter
    )
    times, peaks = [], []
    start = time.perf_counter()
    while len(times) < 2 or (time.perf_counter() - start < rep_ms / 1e3 and len(times) < 20):
        for t in leaves:
            t.grad = None
        t0 = clock()
        p = peak_mib(run, device)
        times.append((clock() - t0) * 1e3)
        peaks.append(p)
    for t in leaves:
        t.grad = None
    times.sort()
    lo, hi = times[len(times) // 5], times[(4 * len(times)) // 5 - (1 if len(times) % 5 == 0 else 0)]
    peak = None if any(p is None for p in peaks) else max(p for p in peaks if p is not None)
    return statistics.median(times), lo, hi, peak


def bench_policy_loss(rows, device, n, hidden, vocab, dtype, providers, rep_ms):
    """fwd+bwd of the policy loss from hidden states, every provider on the same inputs."""
    h, w, lab, old, adv, mask = _policy_inputs(device, n, hidden, vocab, dtype)
    b, t = lab.shape
    shape = f"N={b * t} H={hidden} V={vocab}"
    dt = str(dtype).replace("torch.", "").replace("bfloat16", "bf16").replace("float", "fp")
    grads_bytes = (h.numel() + w.numel()) * h.element_size()
    flops = 6.0 * b * t * hidden * vocab
    ref = _reference_policy_loss(h.detach(), w.detach(), lab, old, adv, mask)
    impls: dict[str, Callable[..., torch.Tensor]] = {}
    if "fused" in providers:
        impls["prime-fast fused"] = fused_policy_loss
    if "unfused" in providers:
        impls["prime-fast unfused"] = unfused_policy_loss
    if "eager" in providers:
        impls["eager"] = eager_policy_loss
    if "compile" in providers:
        impls["torch.compile"] = _compiled(eager_policy_loss)
    liger = liger_policy_providers() if "liger" in providers else {}
    impls.update(liger)
    if "liger" in providers and not liger:
        rows.append(Row("policy_loss", "liger", shape, dt, "fwd+bwd", note="liger_kernel not installed"))
    args = (h, w, lab, old, adv, mask)
    for name, f in impls.items():
        row = Row("policy_loss", name, shape, dt, "fwd+bwd")
        rows.append(row)
        try:
            with torch.no_grad():
                val = float(f(*args))
            want = ref
            if name == "liger-grpo":  # its loss has sequence-level advantages: its own reference
                seq = (adv.sum(-1) / mask.sum(-1).clamp(min=1)).unsqueeze(-1).expand_as(adv)
                want = _reference_policy_loss(h.detach(), w.detach(), lab, old, seq, mask)
                row.note = "sequence-level advantages (its only mode); "
            err = abs(val - want)
            row.correct = (
                err <= 1e-5 * abs(want) + 1e-6 if dtype == torch.float32 else err <= 2e-2 * abs(want)
            )
            row.note += f"|loss-ref|={err:.1e}"
            if not row.correct:
                continue
            p50, p20, p80, peak = _time_policy(lambda f=f: f(*args), [h, w], device, rep_ms)
        except _Interrupted:
            raise
        except Exception as exc:
            # torch.compile and Liger (not installed here, untested) report their failures as rows
            if not is_oom(exc) and name != "torch.compile" and not name.startswith("liger"):
                raise
            row.note = "OOM" if is_oom(exc) else f"{name} failed: {type(exc).__name__}: {exc}"[:200]
            row.correct = None
            torch.cuda.empty_cache()
            continue
        row.ms_p50, row.ms_p20, row.ms_p80 = p50, p20, p80
        row.tflops = flops / (p50 * 1e-3) / 1e12
        row.peak_mib = peak
        row.extra_mib = None if peak is None else max(0.0, peak - grads_bytes / 2**20)
    if "gemm" in providers:
        _bare_gemms(
            rows, device, h.detach().reshape(b * t, hidden), w, shape, dtype, flops / 6, grads_bytes, rep_ms
        )
        for r in rows[-2:]:
            r.case = "policy_loss"
    for r in rows:
        if r.case == "policy_loss" and r.shape == shape:
            r.extra["loss_ref_fp64"] = ref


PRESETS: dict[str, dict[str, Any]] = {
    # Modest CPU sizes: the chunked torch path vs eager (Triton only runs on GPUs).
    "cpu": {
        "token": [(256, 151936, torch.float32)],
        "linear": [(512, 256, 32000, torch.float32)],
        "scan": [(64, 4096)],
        "advantages": [(64, 1024, 4)],
        # issue 25's CPU targets; the second shape takes minutes per provider on 2 cores
        "policy": [(512, 256, 32000, torch.float32), (4096, 256, 151936, torch.float32)],
        "providers": {"eager", "gemm", "fused", "unfused", "compile", "liger"},
        "rep_ms": 300.0,
    },
    # The target sizes on one H100.
    "gpu": {
        "token": [(16384, 152064, torch.bfloat16), (32768, 152064, torch.bfloat16)],
        "linear": [(8192, 3584, 152064, torch.bfloat16), (32768, 3584, 152064, torch.bfloat16)],
        "scan": [(256, 4096), (64, 32768)],
        "advantages": [(256, 4096, 4)],
        "policy": [
            (32768, 3584, 152064, torch.bfloat16, {"fused", "unfused", "liger", "gemm"}),
            (8192, 3584, 152064, torch.bfloat16),
        ],
        "providers": {"eager", "compile", "liger", "gemm", "v1", "fused", "unfused"},
        "rep_ms": 200.0,
    },
    # benches/gpu_check.sh's short set (about 2 minutes on one H100, compilation included): a
    # case's optional last element names the providers it runs (intersected with --providers).
    "gpu-check": {
        "token": [
            (16384, 152064, torch.bfloat16, {"eager", "liger"}),
            (32768, 152064, torch.bfloat16, set()),
        ],
        "linear": [  # 32k first: the target rows survive a timeout during torch.compile
            (32768, 3584, 152064, torch.bfloat16, {"gemm", "v1"}),
            (8192, 3584, 152064, torch.bfloat16, {"eager", "compile", "liger", "gemm", "v1"}),
        ],
        "scan": [(256, 4096), (64, 32768)],
        "advantages": [(256, 4096, 4)],
        # issue 25's GPU target: fused loss vs the bare GEMMs and Liger's two ops at N=32k
        "policy": [(32768, 3584, 152064, torch.bfloat16, {"fused", "unfused", "liger", "gemm"})],
        "providers": {"eager", "compile", "liger", "gemm", "v1", "fused", "unfused"},
        "rep_ms": 100.0,
    },
}


def _case_providers(case: tuple, providers: set[str], n: int, eager_max_tokens: int) -> set[str]:
    if len(case) > 4 or (len(case) == 4 and isinstance(case[-1], set)):
        return set(case[-1]) & providers
    return providers if n <= eager_max_tokens else providers & {"gemm", "v1"}


def _cpu_defaults(args: argparse.Namespace, device: torch.device) -> None:
    """On a CPU run, one torch thread and the process clock unless given: on a shared machine the wall
    time of several threads swings by 10-100x with the other jobs (issue #22: 7-520 ms for the scan)."""
    if args.cpu_clock is None:
        args.cpu_clock = "process" if device.type == "cpu" else "wall"
    if args.threads is None and device.type == "cpu":
        args.threads = 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--preset", choices=sorted(PRESETS), default=None, help="default: gpu with CUDA, else cpu"
    )
    ap.add_argument(
        "--only",
        choices=["token", "linear", "scan", "advantages", "policy"],
        action="append",
        help="run only these ops",
    )
    ap.add_argument(
        "--providers",
        default=None,
        help="comma list among eager,compile,liger,gemm,v1,fused,unfused (prime-fast always runs on the "
        "log-prob ops; v1: its first layout; fused/unfused: the policy-loss providers)",
    )
    ap.add_argument(
        "--eager-max-tokens", type=int, default=16384, help="skip eager/compile/liger above this N (memory)"
    )
    ap.add_argument(
        "--json", default=None, help="write the rows here (default benches/results/kernels-<sha>-<gpu>.json)"
    )
    ap.add_argument(
        "--rep-ms", type=float, default=None, help="timing budget per row (default: the preset's)"
    )
    ap.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: 1 on a CPU run, else torch's)"
    )
    ap.add_argument(
        "--policy-n",
        type=int,
        default=None,
        help="policy loss: only the preset's shapes with this token count",
    )
    ap.add_argument(
        "--cpu-clock",
        choices=["wall", "process"],
        default=None,
        help="CPU timing clock (default: process, the CPU time of this process: with one thread it does "
        "not count the time other jobs of a shared machine hold the cores; wall counts it)",
    )
    args = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    _cpu_defaults(args, device)
    if args.threads:
        torch.set_num_threads(args.threads)
    from benches import _harness

    _harness.CPU_CLOCK = args.cpu_clock
    preset = PRESETS[args.preset or ("gpu" if device.type == "cuda" else "cpu")]
    providers = set(args.providers.split(",")) if args.providers else set(preset["providers"])
    only = set(args.only or ["token", "linear", "scan", "advantages", "policy"])
    env = env_info()
    rows: list[Row] = []
    rep = args.rep_ms or preset["rep_ms"]
    interrupted = False

    def _on_term(signum, frame):  # `timeout` sends SIGTERM: keep the rows measured so far
        raise _Interrupted

    signal.signal(signal.SIGTERM, _on_term)
    try:
        if "token" in only:
            for case in preset["token"]:
                n, v, dt = case[:3]
                prov = _case_providers(case, providers, n, args.eager_max_tokens)
                bench_token_logprobs(rows, device, n, v, dt, prov, rep)
        if "linear" in only:
            for case in preset["linear"]:
                n, h, v, dt = case[:4]
                prov = _case_providers(case, providers, n, args.eager_max_tokens)
                bench_linear(rows, device, n, h, v, dt, prov, rep)
        if "policy" in only:
            for case in preset.get("policy", []):
                n, h, v, dt = case[:4]
                if args.policy_n is not None and n != args.policy_n:
                    continue
                prov = _case_providers(case, providers, n, args.eager_max_tokens)
                if n > args.eager_max_tokens:
                    prov |= providers & {"fused", "unfused"}
                bench_policy_loss(rows, device, n, h, v, dt, prov, rep)
        if "scan" in only:
            for b, t in preset["scan"]:
                bench_scan(rows, device, b, t, rep)
        if "advantages" in only:
            for b, t, k in preset["advantages"]:
                bench_prime_advantages(rows, device, b, t, k, rep)
    except _Interrupted:
        interrupted = True
        print("bench_kernels: interrupted (SIGTERM); the table and JSON hold the rows measured so far")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _speedups(rows)
    _policy_ratios(rows)
    title = "prime-fast kernels (speedup vs eager; scan and advantages: vs Python loops)"
    if device.type == "cpu":
        title += f"; CPU clock: {args.cpu_clock}, {torch.get_num_threads()} thread(s)"
    print_table(title, env, rows)
    if device.type == "cuda":
        hbm = {"H100": 3.35e3, "H200": 4.8e3}.get(next((k for k in ("H100", "H200") if k in env["gpu"]), ""))
        for r in rows:
            if (
                r.case == "token_logprobs"
                and r.provider == "prime-fast"
                and r.mode == "fwd"
                and r.gbps
                and hbm
            ):
                print(
                    f"token_logprobs fwd {r.shape}: {r.gbps:.0f} GB/s = {100 * r.gbps / hbm:.0f}% of {hbm:.0f} GB/s HBM (SXM spec)"
                )
        lin = {(r.shape, r.provider, r.mode): r for r in rows if r.case == "linear_token_logprobs"}
        for (shape, provider_name, mode), r in lin.items():
            gemm = lin.get((shape, "bare-gemm", mode))
            if provider_name.startswith("prime-fast") and gemm and gemm.ms_p50 and r.ms_p50:
                print(
                    f"linear_token_logprobs {provider_name} {mode} {shape}: {r.ms_p50 / gemm.ms_p50:.2f}x the bare GEMMs, extra memory {r.extra_mib or 0:.0f} MiB"
                )
    path = args.json or default_json_path("kernels", env)
    write_json(path, "kernels", env, rows)
    print(f"JSON: {path}")
    if interrupted:
        return 124
    return 1 if any(r.correct is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
