//! Exact canonical forms of rational expressions in several variables: polynomials with
//! big-rational coefficients (sparse, monomials as exponent vectors), and rational functions as a
//! numerator and a denominator polynomial. Two rational expressions are equal as functions iff
//! `n1 * d2 == n2 * d1`, which decides them exactly, without sample points.
//!
//! Only `+ - * /`, integer powers (`|k| <= MAX_POWER`), variables and literals have a form here;
//! anything else (roots, functions, constants such as π, huge powers) has none and the caller
//! compares values at sample points instead. Work is bounded: at most [`MAX_TERMS`] terms per
//! polynomial and [`MAX_PRODUCT`] term products per multiplication, every product counted as an
//! evaluation step.

use std::collections::BTreeMap;

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use super::eval::Ctx;
use super::parse::Expr;

/// Most terms of one polynomial.
const MAX_TERMS: usize = 150;
/// Most term-by-term products in one multiplication.
const MAX_PRODUCT: usize = 1_000;
/// Largest integer exponent expanded.
const MAX_POWER: u32 = 16;
/// Most term products for one comparison (the forms are a fast path: past this, sample points).
const MAX_WORK: u64 = 3_000;

/// The evaluation context and the step count at which this comparison gives up.
struct Work<'c, 'b> {
    ctx: &'c mut Ctx<'b>,
    limit: u64,
}

impl Work<'_, '_> {
    fn tick(&mut self) -> Option<()> {
        self.ctx.tick().ok()?;
        (self.ctx.steps <= self.limit).then_some(())
    }
}

/// A sparse polynomial: exponent vector (one entry per variable) to a non-zero coefficient.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Poly(BTreeMap<Vec<u32>, BigRational>);

/// A rational function `num / den` (`den` not the zero polynomial).
#[derive(Clone, Debug)]
struct RatFn {
    num: Poly,
    den: Poly,
}

impl Poly {
    fn constant(c: BigRational, nvars: usize) -> Self {
        let mut m = BTreeMap::new();
        if !c.is_zero() {
            m.insert(vec![0; nvars], c);
        }
        Poly(m)
    }

    fn var(k: usize, nvars: usize) -> Self {
        let mut e = vec![0; nvars];
        e[k] = 1;
        Poly(BTreeMap::from([(e, BigRational::one())]))
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn neg(mut self) -> Self {
        for c in self.0.values_mut() {
            *c = -c.clone();
        }
        self
    }

    fn add(mut self, other: &Poly) -> Option<Self> {
        for (e, c) in &other.0 {
            let entry = self.0.entry(e.clone()).or_insert_with(BigRational::zero);
            *entry += c;
            if entry.is_zero() {
                self.0.remove(e);
            }
        }
        (self.0.len() <= MAX_TERMS).then_some(self)
    }

    fn mul(&self, other: &Poly, w: &mut Work<'_, '_>) -> Option<Self> {
        if self.0.len().saturating_mul(other.0.len()) > MAX_PRODUCT {
            return None;
        }
        let mut out: BTreeMap<Vec<u32>, BigRational> = BTreeMap::new();
        for (e1, c1) in &self.0 {
            for (e2, c2) in &other.0 {
                w.tick()?;
                let e: Vec<u32> = e1.iter().zip(e2).map(|(a, b)| a + b).collect();
                let entry = out.entry(e).or_insert_with(BigRational::zero);
                *entry += c1 * c2;
            }
        }
        out.retain(|_, c| !c.is_zero());
        if out.len() > MAX_TERMS
            || out
                .values()
                .any(|c| c.numer().bits() + c.denom().bits() > w.ctx.budget.max_bits)
        {
            return None;
        }
        Some(Poly(out))
    }
}

impl RatFn {
    fn poly(p: Poly, nvars: usize) -> Self {
        RatFn {
            num: p,
            den: Poly::constant(BigRational::one(), nvars),
        }
    }

    fn add(self, o: RatFn, w: &mut Work<'_, '_>) -> Option<Self> {
        if self.den == o.den {
            return Some(RatFn {
                num: self.num.add(&o.num)?,
                den: self.den,
            });
        }
        let num = self.num.mul(&o.den, w)?.add(&o.num.mul(&self.den, w)?)?;
        let den = self.den.mul(&o.den, w)?;
        Some(RatFn { num, den })
    }

    fn mul(self, o: RatFn, w: &mut Work<'_, '_>) -> Option<Self> {
        Some(RatFn {
            num: self.num.mul(&o.num, w)?,
            den: self.den.mul(&o.den, w)?,
        })
    }

    fn inv(self) -> Option<Self> {
        (!self.num.is_zero()).then_some(RatFn {
            num: self.den,
            den: self.num,
        })
    }

    fn pow(self, k: i64, nvars: usize, w: &mut Work<'_, '_>) -> Option<Self> {
        let mut base = if k < 0 { self.inv()? } else { self };
        let mut e = k.unsigned_abs();
        let mut acc = RatFn::poly(Poly::constant(BigRational::one(), nvars), nvars);
        while e > 0 {
            if e & 1 == 1 {
                acc = acc.mul(base.clone(), w)?;
            }
            e >>= 1;
            if e > 0 {
                base = base.clone().mul(base, w)?;
            }
        }
        Some(acc)
    }
}

/// The rational-function form of `e` over `vars`, if `e` is a rational expression within the
/// limits.
fn form(e: &Expr, vars: &[String], w: &mut Work<'_, '_>) -> Option<RatFn> {
    w.tick()?;
    let n = vars.len();
    Some(match e {
        Expr::Num { val, .. } => RatFn::poly(Poly::constant(val.clone(), n), n),
        Expr::Var(v) => RatFn::poly(Poly::var(vars.iter().position(|x| x == v)?, n), n),
        Expr::Neg(x) => {
            let f = form(x, vars, w)?;
            RatFn {
                num: f.num.neg(),
                den: f.den,
            }
        }
        Expr::Add(v) => {
            let mut acc = RatFn::poly(Poly::constant(BigRational::zero(), n), n);
            for x in v {
                acc = acc.add(form(x, vars, w)?, w)?;
            }
            acc
        }
        Expr::Mul(v) => {
            let mut acc = RatFn::poly(Poly::constant(BigRational::one(), n), n);
            for x in v {
                acc = acc.mul(form(x, vars, w)?, w)?;
            }
            acc
        }
        Expr::Div(a, b) => {
            let a = form(a, vars, w)?;
            a.mul(form(b, vars, w)?.inv()?, w)?
        }
        Expr::Pow(b, k) => {
            let Expr::Num { val, .. } = k.as_ref() else {
                return None;
            };
            let k = val.is_integer().then(|| val.to_integer())?;
            if k.abs() > BigInt::from(MAX_POWER) {
                return None;
            }
            form(b, vars, w)?.pow(k.to_i64()?, n, w)?
        }
        _ => return None,
    })
}

/// `Some(equal)` when both sides are rational expressions in `vars` with forms within the
/// limits (then the answer is exact); `None` otherwise.
pub fn same_rational(p: &Expr, g: &Expr, vars: &[String], ctx: &mut Ctx<'_>) -> Option<bool> {
    let limit = ctx.steps + MAX_WORK;
    let w = &mut Work { ctx, limit };
    let a = form(p, vars, w)?;
    let b = form(g, vars, w)?;
    if a.den.is_zero() || b.den.is_zero() {
        return None;
    }
    let left = a.num.mul(&b.den, w)?;
    let right = b.num.mul(&a.den, w)?;
    Some(left == right)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::clock::Deadline;
    use crate::math::parse::{collect_vars, parse_answer, Answer};
    use crate::math::{Budget, Policy};

    fn decide(a: &str, b: &str) -> Option<bool> {
        let budget = Budget::default();
        let expr = |s: &str| match parse_answer(s, &Policy::default(), &budget) {
            Ok(Answer::Expr(e)) => e,
            other => panic!("{s}: {other:?}"),
        };
        let (pa, pb) = (expr(a), expr(b));
        let mut vars = Vec::new();
        collect_vars(&pa, &mut vars);
        collect_vars(&pb, &mut vars);
        let mut ctx = Ctx {
            budget: &budget,
            deadline: Deadline::after_ms(5000.0),
            steps: 0,
            vars: Vec::new(),
        };
        same_rational(&pa, &pb, &vars, &mut ctx)
    }

    #[test]
    fn exact_decisions() {
        assert_eq!(decide("(a^2-b^2)/(a-b)", "a+b"), Some(true));
        assert_eq!(decide("1/(x+1)+1/(x-1)", "2x/(x^2-1)"), Some(true));
        assert_eq!(decide("(x+y+z)^5", "(z+y+x)^5"), Some(true));
        assert_eq!(decide("(x+y)^3", "x^3+3x^2y+3xy^2+y^3+1"), Some(false));
        assert_eq!(decide("x - 7/3", "0"), Some(false));
        assert_eq!(decide("0.5 x", "x/2"), Some(true));
        // Outside the rational subset or the limits: no decision.
        assert_eq!(decide("\\sqrt{x}", "x^{1/2}"), None);
        assert_eq!(decide("(x+1)^{4000}", "(1+x)^{4000}"), None);
        assert_eq!(decide("x/(y-y)", "1"), None);
    }
}
