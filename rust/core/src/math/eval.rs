//! Bounded evaluation of expressions: exact big rationals where the value is rational, complex
//! doubles otherwise. Every step is counted, the wall clock is checked, and bigint sizes,
//! exponents and factorial arguments are capped.

use crate::math::clock::Deadline;

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::parse::{Const, Expr, Func};
use super::policy::Budget;

/// A value.
#[derive(Clone, Debug)]
pub enum Val {
    /// Exact rational.
    Q(BigRational),
    /// Approximate complex number (re, im).
    C(f64, f64),
    /// Exact quadratic surd `a + b sqrt(d)`: `b != 0`, `d > 1` squarefree (`\\sqrt{8} = 2\\sqrt{2}`).
    S(BigRational, BigRational, u64),
    /// Positive (`true`) or negative infinity.
    Inf(bool),
}

/// Why evaluation stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum EvalError {
    /// A budget was exceeded (named).
    Budget(String),
    /// The deadline (this thread's CPU time, clock.rs) passed.
    Timeout,
    /// Outside the domain (division by zero, log of zero, ...).
    Domain(String),
}

/// Evaluation context: budget, deadline, step counter and variable values.
pub struct Ctx<'a> {
    /// Budgets.
    pub budget: &'a Budget,
    /// Hard deadline (this thread's CPU time, with a wall-clock backstop).
    pub deadline: Deadline,
    /// Steps so far (shared across the whole comparison).
    pub steps: u64,
    /// Variable assignment.
    pub vars: Vec<(String, BigRational)>,
}

impl Ctx<'_> {
    /// Count one step; check the clock every 32 steps.
    pub fn tick(&mut self) -> Result<(), EvalError> {
        self.steps += 1;
        if self.steps > self.budget.max_steps {
            return Err(EvalError::Budget(format!(
                "more than max_steps={} evaluation steps",
                self.budget.max_steps
            )));
        }
        if self.steps % 32 == 0 && self.deadline.passed() {
            return Err(EvalError::Timeout);
        }
        Ok(())
    }

    fn check_bits(&self, q: &BigRational) -> Result<(), EvalError> {
        let bits = q.numer().bits() + q.denom().bits();
        if bits > self.budget.max_bits {
            return Err(EvalError::Budget(format!(
                "a number needs {bits} bits > max_bits={}",
                self.budget.max_bits
            )));
        }
        Ok(())
    }
}

/// Rational to f64 without overflow in the intermediate steps.
pub fn q_to_f64(q: &BigRational) -> f64 {
    if let (Some(n), Some(d)) = (q.numer().to_f64(), q.denom().to_f64()) {
        if n.is_finite() && d.is_finite() && d != 0.0 {
            return n / d;
        }
    }
    let nb = q.numer().bits() as i64;
    let db = q.denom().bits() as i64;
    let shift = 64 - (nb - db);
    let scaled = if shift >= 0 {
        (q.numer() << (shift as usize)) / q.denom()
    } else {
        (q.numer() >> ((-shift) as usize)) / q.denom()
    };
    let m = scaled.to_f64().unwrap_or(f64::NAN);
    let e = -shift;
    if e > 2000 {
        return m.signum() * f64::INFINITY;
    }
    if e < -2000 {
        return 0.0;
    }
    m * 2f64.powi(e as i32)
}

impl Val {
    /// As a complex double.
    pub fn to_c(&self) -> (f64, f64) {
        match self {
            Val::Q(q) => (q_to_f64(q), 0.0),
            Val::C(a, b) => (*a, *b),
            Val::S(a, b, d) => (q_to_f64(a) + q_to_f64(b) * (*d as f64).sqrt(), 0.0),
            Val::Inf(p) => (if *p { f64::INFINITY } else { f64::NEG_INFINITY }, 0.0),
        }
    }
}

/// `(a, b, d)` of a rational (`d = 0`: any) or a surd.
fn surd_parts(v: &Val) -> Option<(BigRational, BigRational, u64)> {
    match v {
        Val::Q(q) => Some((q.clone(), BigRational::zero(), 0)),
        Val::S(a, b, d) => Some((a.clone(), b.clone(), *d)),
        _ => None,
    }
}

/// The common radicand of two surd parts, if they have one.
fn join_d(d1: u64, d2: u64) -> Option<u64> {
    if d1 == 0 {
        Some(d2)
    } else if d2 == 0 || d1 == d2 {
        Some(d1)
    } else {
        None
    }
}

fn mk_surd(a: BigRational, b: BigRational, d: u64, ctx: &Ctx<'_>) -> Result<Val, EvalError> {
    ctx.check_bits(&a)?;
    ctx.check_bits(&b)?;
    Ok(if b.is_zero() || d == 0 {
        Val::Q(a)
    } else {
        Val::S(a, b, d)
    })
}

/// `k = s^2 * d` with `d` squarefree, for `k < 2^40`: trial division while `p^3 <= rest`; the
/// rest then has at most two prime factors, so it is 1, q, q^2 or q r.
fn squarefree(k: u64) -> Option<(u64, u64)> {
    if k == 0 || k >= 1 << 40 {
        return None;
    }
    let (mut rest, mut s, mut d) = (k, 1u64, 1u64);
    let mut p = 2u64;
    while p * p * p <= rest {
        let mut count = 0;
        while rest % p == 0 {
            rest /= p;
            count += 1;
        }
        s *= p.pow(count / 2);
        if count % 2 == 1 {
            d *= p;
        }
        p += if p == 2 { 1 } else { 2 };
    }
    let r = (rest as f64).sqrt().round() as u64;
    if let Some(c) = [r.saturating_sub(1), r, r + 1]
        .into_iter()
        .find(|c| *c > 1 && c * c == rest)
    {
        return Some((s * c, d));
    }
    Some((s, d * rest))
}

/// `sqrt(q)` for a positive non-square rational as an exact surd, if small enough.
fn sqrt_surd(q: &BigRational) -> Option<Val> {
    if !q.is_positive() {
        return None;
    }
    let k = (q.numer() * q.denom()).to_u64()?;
    let (s, d) = squarefree(k)?;
    if d <= 1 {
        return None;
    }
    // sqrt(n/m) = sqrt(n m) / m = s sqrt(d) / m
    let b = BigRational::new(BigInt::from(s), q.denom().clone());
    Some(Val::S(BigRational::zero(), b, d))
}

fn c(re: f64, im: f64) -> Result<Val, EvalError> {
    if re.is_finite() && im.is_finite() {
        // Rounding noise of complex paths (e^{i pi}, (-2)^3 via logs) is not an imaginary part.
        let im = if im.abs() <= 1e-13 * re.abs() || im.abs() < 1e-300 {
            0.0
        } else {
            im
        };
        Ok(Val::C(re, im))
    } else {
        Err(EvalError::Domain("non-finite value".into()))
    }
}

fn cmul(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

fn cdiv(a: (f64, f64), b: (f64, f64)) -> Option<(f64, f64)> {
    let d = b.0 * b.0 + b.1 * b.1;
    if d == 0.0 {
        return None;
    }
    Some(((a.0 * b.0 + a.1 * b.1) / d, (a.1 * b.0 - a.0 * b.1) / d))
}

fn cexp(a: (f64, f64)) -> (f64, f64) {
    let m = a.0.exp();
    (m * a.1.cos(), m * a.1.sin())
}

fn cln(a: (f64, f64)) -> Option<(f64, f64)> {
    let r = a.0.hypot(a.1);
    if r == 0.0 {
        return None;
    }
    Some((r.ln(), a.1.atan2(a.0)))
}

fn cpow(a: (f64, f64), b: (f64, f64)) -> Option<(f64, f64)> {
    if a == (0.0, 0.0) {
        return if b.0 > 0.0 { Some((0.0, 0.0)) } else { None };
    }
    if a.1 == 0.0 && b.1 == 0.0 && a.0 > 0.0 {
        return Some((a.0.powf(b.0), 0.0));
    }
    if a.1 == 0.0 && b.1 == 0.0 && b.0.fract() == 0.0 && b.0.abs() < 1e9 {
        return Some((a.0.powi(b.0 as i32), 0.0));
    }
    Some(cexp(cmul(b, cln(a)?)))
}

fn csin(a: (f64, f64)) -> (f64, f64) {
    (a.0.sin() * a.1.cosh(), a.0.cos() * a.1.sinh())
}

fn ccos(a: (f64, f64)) -> (f64, f64) {
    (a.0.cos() * a.1.cosh(), -a.0.sin() * a.1.sinh())
}

fn dom<T>(m: &str) -> Result<T, EvalError> {
    Err(EvalError::Domain(m.into()))
}

/// Exact integer n-th root, if it exists.
fn exact_root(x: &BigInt, n: u32) -> Option<BigInt> {
    if x.is_negative() {
        if n % 2 == 1 {
            return exact_root(&-x, n).map(|r| -r);
        }
        return None;
    }
    let r = x.nth_root(n);
    if num_traits::pow(r.clone(), n as usize) == *x {
        Some(r)
    } else {
        None
    }
}

/// Evaluate an expression.
pub fn eval(e: &Expr, ctx: &mut Ctx<'_>) -> Result<Val, EvalError> {
    ctx.tick()?;
    match e {
        Expr::Num { val, .. } => Ok(Val::Q(val.clone())),
        Expr::Var(name) => match ctx.vars.iter().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(Val::Q(v.clone())),
            None => dom("unbound variable"),
        },
        Expr::Const(k) => match k {
            Const::Pi => c(std::f64::consts::PI, 0.0),
            Const::E => c(std::f64::consts::E, 0.0),
            Const::I => c(0.0, 1.0),
            Const::Inf => Ok(Val::Inf(true)),
        },
        Expr::Add(v) => {
            let mut acc = Val::Q(BigRational::zero());
            for x in v {
                let y = eval(x, ctx)?;
                acc = add(acc, y, ctx)?;
            }
            Ok(acc)
        }
        Expr::Mul(v) => {
            let mut acc = Val::Q(BigRational::one());
            for x in v {
                let y = eval(x, ctx)?;
                acc = mul(acc, y, ctx)?;
            }
            Ok(acc)
        }
        Expr::Neg(x) => Ok(neg(eval(x, ctx)?)),
        Expr::Div(a, b) => {
            let a = eval(a, ctx)?;
            let b = eval(b, ctx)?;
            div(a, b, ctx)
        }
        Expr::Percent(x) => {
            let a = eval(x, ctx)?;
            div(a, Val::Q(BigRational::from_integer(BigInt::from(100))), ctx)
        }
        Expr::Pow(a, b) => {
            let b = eval(b, ctx)?;
            eval_pow(a, b, ctx)
        }
        Expr::Root(n, x) => {
            let n = eval(n, ctx)?;
            let x = eval(x, ctx)?;
            let inv = div(Val::Q(BigRational::one()), n, ctx)?;
            // Real odd roots of negative numbers are real.
            if let (Val::Q(q), Val::Q(iv)) = (&x, &inv) {
                if q.is_negative() && iv.numer().is_one() && iv.denom().is_odd() {
                    let r = pow(Val::Q(-q.clone()), inv.clone(), ctx)?;
                    return Ok(neg(r));
                }
            }
            pow(x, inv, ctx)
        }
        Expr::Log(base, x) => {
            let x = eval(x, ctx)?;
            let lx = ln(&x)?;
            match base {
                None => c(lx.0, lx.1),
                Some(b) => {
                    let b = eval(b, ctx)?;
                    // Exact integer logs: log_2 8 = 3.
                    if let (Val::Q(bq), Val::Q(xq)) = (&b, &x) {
                        if let Some(k) = exact_log(bq, xq, ctx) {
                            return Ok(Val::Q(BigRational::from_integer(BigInt::from(k))));
                        }
                    }
                    let lb = ln(&b)?;
                    match cdiv(lx, lb) {
                        Some((re, im)) => c(re, im),
                        None => dom("log base 1"),
                    }
                }
            }
        }
        Expr::Func(f, x) => {
            let v = eval(x, ctx)?;
            if *f == Func::Gamma {
                return gamma(v, ctx);
            }
            func(*f, v)
        }
        Expr::Factorial(x) => {
            let v = eval(x, ctx)?;
            let n = to_small_uint(&v, ctx.budget.max_factorial, "factorial")?;
            factorial(n, ctx).map(Val::Q)
        }
        Expr::Binom(n, k) => {
            let nv = eval(n, ctx)?;
            let kv = eval(k, ctx)?;
            binomial(nv, &kv, ctx)
        }
    }
}

/// `n!` exactly, for `n <= max_factorial`.
fn factorial(n: u64, ctx: &mut Ctx<'_>) -> Result<BigRational, EvalError> {
    let mut acc = BigInt::one();
    for k in 2..=n {
        ctx.tick()?;
        acc *= k;
    }
    let q = BigRational::from_integer(acc);
    ctx.check_bits(&q)?;
    Ok(q)
}

/// `binomial(n, k)` for an integer `k`: 0 for `k < 0` (and for `k > n` when `n` is a natural
/// number), else the falling factorial `n (n-1) ... (n-k+1) / k!`, exact for rational `n`
/// (`binomial(5/2, 2) = 15/8`). At most `max_factorial` factors.
fn binomial(nv: Val, kv: &Val, ctx: &mut Ctx<'_>) -> Result<Val, EvalError> {
    let k = match kv {
        Val::Q(q) if q.is_integer() => q.to_integer(),
        Val::C(a, b) if *b == 0.0 && a.fract() == 0.0 && a.abs() < 9.0e15 => {
            BigInt::from(*a as i64)
        }
        _ => return dom("binomial with a non-integer k"),
    };
    if k.is_negative() {
        return Ok(Val::Q(BigRational::zero()));
    }
    let mut k = k;
    if let Val::Q(n) = &nv {
        if n.is_integer() && !n.is_negative() {
            let n = n.to_integer();
            if k > n {
                return Ok(Val::Q(BigRational::zero()));
            }
            k = k.clone().min(&n - &k);
        }
    }
    let k = match k.to_u64() {
        Some(k) if k <= ctx.budget.max_factorial => k,
        _ => {
            return Err(EvalError::Budget(format!(
                "binomial with k={} > max_factorial={}",
                short(&k),
                ctx.budget.max_factorial
            )))
        }
    };
    match nv {
        Val::Q(n) => {
            let mut acc = BigRational::one();
            for j in 0..k {
                ctx.tick()?;
                acc = acc * (&n - BigRational::from_integer(BigInt::from(j)))
                    / BigRational::from_integer(BigInt::from(j + 1));
                ctx.check_bits(&acc)?;
            }
            Ok(Val::Q(acc))
        }
        Val::Inf(_) => dom("binomial of infinity"),
        other => {
            let n = other.to_c();
            let mut acc = (1.0, 0.0);
            for j in 0..k {
                ctx.tick()?;
                acc = cmul(
                    acc,
                    ((n.0 - j as f64) / (j + 1) as f64, n.1 / (j + 1) as f64),
                );
            }
            c(acc.0, acc.1)
        }
    }
}

/// The gamma function: exact `(n-1)!` at positive integers (`n - 1 <= max_factorial`), poles at
/// the other integers, the Lanczos approximation (with reflection below 1/2) elsewhere on the
/// reals.
fn gamma(v: Val, ctx: &mut Ctx<'_>) -> Result<Val, EvalError> {
    let x = match &v {
        Val::Q(q) if q.is_integer() => {
            if !q.is_positive() {
                return dom("gamma pole");
            }
            let n = to_small_uint(
                &Val::Q(q - BigRational::one()),
                ctx.budget.max_factorial,
                "gamma",
            )?;
            return factorial(n, ctx).map(Val::Q);
        }
        Val::Inf(_) => return dom("gamma of infinity"),
        other => match other.to_c() {
            (re, 0.0) => re,
            _ => return dom("gamma of a complex value"),
        },
    };
    if x.fract() == 0.0 {
        if x <= 0.0 {
            return dom("gamma pole");
        }
        let n = to_small_uint(&Val::C(x - 1.0, 0.0), ctx.budget.max_factorial, "gamma")?;
        return factorial(n, ctx).map(Val::Q);
    }
    c(gamma_f64(x), 0.0)
}

/// Lanczos approximation of the gamma function (g = 7, 9 coefficients; relative error ~1e-15).
fn gamma_f64(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return std::f64::consts::PI / ((std::f64::consts::PI * x).sin() * gamma_f64(1.0 - x));
    }
    let x = x - 1.0;
    let mut a = COEF[0];
    let t = x + G + 0.5;
    for (i, c) in COEF.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    (2.0 * std::f64::consts::PI).sqrt() * t.powf(x + 0.5) * (-t).exp() * a
}

/// `base^ex` with nested powers folded exactly: `((\\sqrt{12})^3)^6 = 12^9`. Folding
/// `(a^b)^k = a^(bk)` is valid for integer k.
fn eval_pow(base: &Expr, ex: Val, ctx: &mut Ctx<'_>) -> Result<Val, EvalError> {
    if let Val::Q(k) = &ex {
        if k.is_integer() {
            let inner = match base {
                Expr::Pow(b2, e2) => Some((b2.as_ref(), eval(e2, ctx)?)),
                Expr::Root(n, x) => {
                    let n = eval(n, ctx)?;
                    Some((x.as_ref(), div(Val::Q(BigRational::one()), n, ctx)?))
                }
                _ => None,
            };
            if let Some((b2, Val::Q(e2))) = inner {
                let combined = e2 * k;
                ctx.check_bits(&combined)?;
                return eval_pow(b2, Val::Q(combined), ctx);
            }
        }
    }
    let a = eval(base, ctx)?;
    pow(a, ex, ctx)
}

fn neg(v: Val) -> Val {
    match v {
        Val::Q(q) => Val::Q(-q),
        Val::C(a, b) => Val::C(-a, -b),
        Val::S(a, b, d) => Val::S(-a, -b, d),
        Val::Inf(p) => Val::Inf(!p),
    }
}

fn exact_log(b: &BigRational, x: &BigRational, ctx: &mut Ctx<'_>) -> Option<i64> {
    if !b.is_integer() || *b <= BigRational::one() || !x.is_positive() {
        return None;
    }
    let (target, sign) = if x.is_integer() {
        (x.to_integer(), 1)
    } else if x.numer().is_one() {
        (x.denom().clone(), -1)
    } else {
        return None;
    };
    let b = b.to_integer();
    let mut p = BigInt::one();
    let mut k = 0i64;
    while p < target {
        ctx.tick().ok()?;
        p *= &b;
        k += 1;
    }
    (p == target).then_some(sign * k)
}

fn to_small_uint(v: &Val, max: u64, what: &str) -> Result<u64, EvalError> {
    match v {
        Val::Q(q) if q.is_integer() && !q.is_negative() => match q.to_integer().to_u64() {
            Some(n) if n <= max => Ok(n),
            _ => Err(EvalError::Budget(format!(
                "{what} argument larger than max_factorial={max}"
            ))),
        },
        Val::C(a, b) if *b == 0.0 && a.fract() == 0.0 && *a >= 0.0 => {
            if *a <= max as f64 {
                Ok(*a as u64)
            } else {
                Err(EvalError::Budget(format!(
                    "{what} argument larger than max_factorial={max}"
                )))
            }
        }
        _ => dom("factorial of a non-integer"),
    }
}

fn ln(v: &Val) -> Result<(f64, f64), EvalError> {
    match v {
        Val::Inf(_) => dom("log of infinity"),
        other => match cln(other.to_c()) {
            Some(r) => Ok(r),
            None => dom("log of zero"),
        },
    }
}

fn add(a: Val, b: Val, ctx: &mut Ctx<'_>) -> Result<Val, EvalError> {
    match (a, b) {
        (Val::Q(x), Val::Q(y)) => {
            let r = x + y;
            ctx.check_bits(&r)?;
            Ok(Val::Q(r))
        }
        (Val::Inf(p), Val::Inf(q)) if p == q => Ok(Val::Inf(p)),
        (Val::Inf(_), Val::Inf(_)) => dom("inf - inf"),
        (Val::Inf(p), _) | (_, Val::Inf(p)) => Ok(Val::Inf(p)),
        (x, y) => {
            if let (Some((a1, b1, d1)), Some((a2, b2, d2))) = (surd_parts(&x), surd_parts(&y)) {
                if let Some(d) = join_d(d1, d2) {
                    return mk_surd(a1 + a2, b1 + b2, d, ctx);
                }
            }
            let (a, b) = (x.to_c(), y.to_c());
            c(a.0 + b.0, a.1 + b.1)
        }
    }
}

fn mul(a: Val, b: Val, ctx: &mut Ctx<'_>) -> Result<Val, EvalError> {
    match (a, b) {
        (Val::Q(x), Val::Q(y)) => {
            if x.is_zero() || y.is_zero() {
                return Ok(Val::Q(BigRational::zero()));
            }
            let r = x * y;
            ctx.check_bits(&r)?;
            Ok(Val::Q(r))
        }
        (Val::Q(z), Val::C(..)) | (Val::C(..), Val::Q(z)) if z.is_zero() => {
            Ok(Val::Q(BigRational::zero()))
        }
        (Val::Inf(p), other) | (other, Val::Inf(p)) => {
            let (re, im) = other.to_c();
            if let Val::Inf(q) = other {
                return Ok(Val::Inf(p == q));
            }
            if im != 0.0 || re == 0.0 {
                return dom("inf times zero or complex");
            }
            Ok(Val::Inf(p == (re > 0.0)))
        }
        (x, y) => {
            if let Some(v) = surd_mul(&x, &y, ctx)? {
                return Ok(v);
            }
            let r = cmul(x.to_c(), y.to_c());
            c(r.0, r.1)
        }
    }
}

fn div(a: Val, b: Val, ctx: &mut Ctx<'_>) -> Result<Val, EvalError> {
    match (a, b) {
        (Val::Q(x), Val::Q(y)) => {
            if y.is_zero() {
                return dom("division by zero");
            }
            let r = x / y;
            ctx.check_bits(&r)?;
            Ok(Val::Q(r))
        }
        (Val::Inf(_), Val::Inf(_)) => dom("inf / inf"),
        (_, Val::Inf(_)) => Ok(Val::Q(BigRational::zero())),
        (Val::Inf(p), other) => {
            let (re, im) = other.to_c();
            if im != 0.0 || re == 0.0 {
                return dom("inf / zero");
            }
            Ok(Val::Inf(p == (re > 0.0)))
        }
        (x, y) => {
            if let Some(inv) = surd_inverse(&y, ctx)? {
                if let Some(v) = surd_mul(&x, &inv, ctx)? {
                    return Ok(v);
                }
            }
            match cdiv(x.to_c(), y.to_c()) {
                Some(r) => c(r.0, r.1),
                None => dom("division by zero"),
            }
        }
    }
}

/// `(a1 + b1 sqrt d)(a2 + b2 sqrt d)`, exact when both are rationals or surds of one radicand.
fn surd_mul(x: &Val, y: &Val, ctx: &mut Ctx<'_>) -> Result<Option<Val>, EvalError> {
    let (Some((a1, b1, d1)), Some((a2, b2, d2))) = (surd_parts(x), surd_parts(y)) else {
        return Ok(None);
    };
    let Some(d) = join_d(d1, d2) else {
        return Ok(None);
    };
    ctx.tick()?;
    let dq = BigRational::from_integer(BigInt::from(d));
    let a = &a1 * &a2 + &b1 * &b2 * dq;
    let b = a1 * b2 + a2 * b1;
    mk_surd(a, b, d, ctx).map(Some)
}

/// `1 / (a + b sqrt d) = (a - b sqrt d) / (a^2 - b^2 d)` for a surd (not for rationals).
fn surd_inverse(y: &Val, ctx: &mut Ctx<'_>) -> Result<Option<Val>, EvalError> {
    let Val::S(a, b, d) = y else { return Ok(None) };
    let dq = BigRational::from_integer(BigInt::from(*d));
    let norm = a * a - b * b * dq;
    if norm.is_zero() {
        return Ok(None); // cannot happen for squarefree d > 1; fall back to floats
    }
    mk_surd(a / &norm, -(b / &norm), *d, ctx).map(Some)
}

fn pow(a: Val, b: Val, ctx: &mut Ctx<'_>) -> Result<Val, EvalError> {
    if matches!(&b, Val::Q(q) if q.is_zero()) && !matches!(a, Val::Inf(_)) {
        return Ok(Val::Q(BigRational::one()));
    }
    if let (Val::Q(base), Val::Q(ex)) = (&a, &b) {
        if ex.is_integer() {
            return int_pow(base, &ex.to_integer(), ctx);
        }
        // Exact roots: 8^(2/3) = 4.
        if let Some(q) = ex.denom().to_u32().filter(|q| *q <= 64) {
            if !base.is_negative() || q % 2 == 1 {
                if let (Some(rn), Some(rd)) =
                    (exact_root(base.numer(), q), exact_root(base.denom(), q))
                {
                    let root = BigRational::new(rn, rd);
                    return int_pow(&root, ex.numer(), ctx);
                }
            }
        }
        // Square roots of non-square rationals stay exact: 12^(3/2) = 24 sqrt(3).
        if ex.denom() == &BigInt::from(2) && ex.numer().abs() <= BigInt::from(64) {
            if let Some(root) = sqrt_surd(base) {
                return surd_int_pow(root, ex.numer(), ctx);
            }
        }
        if base.is_negative() && ex.denom().is_odd() {
            // Real odd root of a negative base.
            let mag = q_to_f64(&-base.clone()).powf(q_to_f64(ex));
            let sign = if ex.numer().is_odd() { -1.0 } else { 1.0 };
            return c(sign * mag, 0.0);
        }
    }
    if let (Val::S(..), Val::Q(ex)) = (&a, &b) {
        if ex.is_integer() && ex.numer().abs() <= BigInt::from(4096) {
            return surd_int_pow(a.clone(), ex.numer(), ctx);
        }
    }
    match (&a, &b) {
        (Val::Inf(_), _) | (_, Val::Inf(_)) => dom("power with infinity"),
        _ => match cpow(a.to_c(), b.to_c()) {
            Some(r) => c(r.0, r.1),
            None => dom("0 to a non-positive power"),
        },
    }
}

/// `v^k` for a surd (or rational) and a small integer k, by repeated squaring.
fn surd_int_pow(v: Val, k: &BigInt, ctx: &mut Ctx<'_>) -> Result<Val, EvalError> {
    let Some(mut e) = k.abs().to_u64() else {
        return Err(EvalError::Budget("surd power exponent too large".into()));
    };
    let mut base = if k.is_negative() {
        match surd_inverse(&v, ctx)? {
            Some(inv) => inv,
            None => {
                return div(Val::Q(BigRational::one()), v, ctx)
                    .and_then(|b| surd_int_pow(b, &k.abs(), ctx))
            }
        }
    } else {
        v
    };
    let mut acc = Val::Q(BigRational::one());
    while e > 0 {
        if e & 1 == 1 {
            acc = mul(acc, base.clone(), ctx)?;
        }
        e >>= 1;
        if e > 0 {
            base = mul(base.clone(), base, ctx)?;
        }
    }
    Ok(acc)
}

fn int_pow(base: &BigRational, ex: &BigInt, ctx: &mut Ctx<'_>) -> Result<Val, EvalError> {
    if base.is_zero() {
        return if ex.is_negative() {
            dom("0 to a negative power")
        } else if ex.is_zero() {
            Ok(Val::Q(BigRational::one()))
        } else {
            Ok(Val::Q(BigRational::zero()))
        };
    }
    if base.abs().is_one() {
        let odd = ex.is_odd();
        return Ok(Val::Q(if base.is_negative() && odd {
            -BigRational::one()
        } else {
            BigRational::one()
        }));
    }
    let bits = base.numer().bits().max(base.denom().bits());
    let e = ex
        .abs()
        .to_u64()
        .filter(|e| e.saturating_mul(bits) <= ctx.budget.max_bits);
    let Some(e) = e else {
        return Err(EvalError::Budget(format!(
            "power with a result over max_bits={} (exponent {})",
            ctx.budget.max_bits,
            short(ex)
        )));
    };
    ctx.steps += e.min(1 << 20) / 64;
    ctx.tick()?;
    let n = num_traits::pow(base.numer().clone(), e as usize);
    let d = num_traits::pow(base.denom().clone(), e as usize);
    let r = if ex.is_negative() {
        BigRational::new(d, n)
    } else {
        BigRational::new(n, d)
    };
    ctx.check_bits(&r)?;
    Ok(Val::Q(r))
}

fn short(x: &BigInt) -> String {
    let s = x.to_string();
    if s.len() > 20 {
        format!("{}...({} digits)", &s[..10], s.len())
    } else {
        s
    }
}

fn func(f: Func, v: Val) -> Result<Val, EvalError> {
    if let Val::Inf(_) = v {
        return dom("function of infinity");
    }
    // Exact cases.
    if let Val::Q(q) = &v {
        match f {
            Func::Abs => return Ok(Val::Q(q.abs())),
            Func::Floor => return Ok(Val::Q(q.floor())),
            Func::Ceil => return Ok(Val::Q(q.ceil())),
            Func::Sin | Func::Tan | Func::Asin | Func::Atan | Func::Sinh | Func::Tanh
                if q.is_zero() =>
            {
                return Ok(Val::Q(BigRational::zero()))
            }
            Func::Cos | Func::Cosh | Func::Exp if q.is_zero() => {
                return Ok(Val::Q(BigRational::one()))
            }
            _ => {}
        }
    }
    let z = v.to_c();
    let real = z.1 == 0.0;
    let r = match f {
        Func::Sin => csin(z),
        Func::Cos => ccos(z),
        Func::Tan => cdiv(csin(z), ccos(z)).ok_or(EvalError::Domain("tan pole".into()))?,
        Func::Cot => cdiv(ccos(z), csin(z)).ok_or(EvalError::Domain("cot pole".into()))?,
        Func::Sec => cdiv((1.0, 0.0), ccos(z)).ok_or(EvalError::Domain("sec pole".into()))?,
        Func::Csc => cdiv((1.0, 0.0), csin(z)).ok_or(EvalError::Domain("csc pole".into()))?,
        Func::Exp => cexp(z),
        Func::Abs => (z.0.hypot(z.1), 0.0),
        Func::Asin if real && z.0.abs() <= 1.0 => (z.0.asin(), 0.0),
        Func::Acos if real && z.0.abs() <= 1.0 => (z.0.acos(), 0.0),
        Func::Atan if real => (z.0.atan(), 0.0),
        Func::Sinh if real => (z.0.sinh(), 0.0),
        Func::Cosh if real => (z.0.cosh(), 0.0),
        Func::Tanh if real => (z.0.tanh(), 0.0),
        Func::Floor if real => (z.0.floor(), 0.0),
        Func::Ceil if real => (z.0.ceil(), 0.0),
        _ => return dom("function outside its real domain"),
    };
    c(r.0, r.1)
}

/// Compare two values: exact when both are rational, else within a tight tolerance.
pub fn val_eq(a: &Val, b: &Val) -> Option<bool> {
    match (a, b) {
        (Val::Q(x), Val::Q(y)) => Some(x == y),
        // Canonical surds (squarefree radicand) are equal only when identical, and never
        // rational: exact, whatever the magnitude.
        (Val::S(a1, b1, d1), Val::S(a2, b2, d2)) => Some(a1 == a2 && b1 == b2 && d1 == d2),
        (Val::S(..), Val::Q(_)) | (Val::Q(_), Val::S(..)) => Some(false),
        (Val::Inf(p), Val::Inf(q)) => Some(p == q),
        (Val::Inf(_), _) | (_, Val::Inf(_)) => Some(false),
        _ => {
            let (x, y) = (a.to_c(), b.to_c());
            if !(x.0.is_finite() && x.1.is_finite() && y.0.is_finite() && y.1.is_finite()) {
                return None;
            }
            let d = (x.0 - y.0).hypot(x.1 - y.1);
            let m = x.0.hypot(x.1).max(y.0.hypot(y.1));
            Some(d <= 1e-11 * m + 1e-12)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::squarefree;

    #[test]
    fn squarefree_parts() {
        assert_eq!(squarefree(12), Some((2, 3)));
        assert_eq!(squarefree(8), Some((2, 2)));
        assert_eq!(squarefree(2 * 1009 * 1009), Some((1009, 2)));
        assert_eq!(squarefree(1009 * 1013), Some((1, 1009 * 1013)));
        assert_eq!(squarefree(49), Some((7, 1)));
        assert_eq!(squarefree(1), Some((1, 1)));
        assert_eq!(squarefree(360), Some((6, 10)));
        for k in 1..3000u64 {
            let (s, d) = squarefree(k).expect("small");
            assert_eq!(s * s * d, k);
            assert!(
                (2..=d).all(|p| p * p > d || d % (p * p) != 0),
                "{k}: d={d} not squarefree"
            );
        }
    }
}
