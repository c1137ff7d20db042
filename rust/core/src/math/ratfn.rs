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
const MAX_TERMS: usize = 400;
/// Most term-by-term products in one multiplication.
const MAX_PRODUCT: usize = 20_000;
/// Largest integer exponent expanded.
const MAX_POWER: u32 = 64;

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

    fn mul(&self, other: &Poly, ctx: &mut Ctx<'_>) -> Option<Self> {
        if self.0.len().saturating_mul(other.0.len()) > MAX_PRODUCT {
            return None;
        }
        let mut out: BTreeMap<Vec<u32>, BigRational> = BTreeMap::new();
        for (e1, c1) in &self.0 {
            for (e2, c2) in &other.0 {
                ctx.tick().ok()?;
                let e: Vec<u32> = e1.iter().zip(e2).map(|(a, b)| a + b).collect();
                let entry = out.entry(e).or_insert_with(BigRational::zero);
                *entry += c1 * c2;
            }
        }
        out.retain(|_, c| !c.is_zero());
        if out.len() > MAX_TERMS
            || out
                .values()
                .any(|c| c.numer().bits() + c.denom().bits() > ctx.budget.max_bits)
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

    fn add(self, o: RatFn, ctx: &mut Ctx<'_>) -> Option<Self> {
        if self.den == o.den {
            return Some(RatFn {
                num: self.num.add(&o.num)?,
                den: self.den,
            });
        }
        let num = self
            .num
            .mul(&o.den, ctx)?
            .add(&o.num.mul(&self.den, ctx)?)?;
        let den = self.den.mul(&o.den, ctx)?;
        Some(RatFn { num, den })
    }

    fn mul(self, o: RatFn, ctx: &mut Ctx<'_>) -> Option<Self> {
        Some(RatFn {
            num: self.num.mul(&o.num, ctx)?,
            den: self.den.mul(&o.den, ctx)?,
        })
    }

    fn inv(self) -> Option<Self> {
        (!self.num.is_zero()).then_some(RatFn {
            num: self.den,
            den: self.num,
        })
    }

    fn pow(self, k: i64, nvars: usize, ctx: &mut Ctx<'_>) -> Option<Self> {
        let mut base = if k < 0 { self.inv()? } else { self };
        let mut e = k.unsigned_abs();
        let mut acc = RatFn::poly(Poly::constant(BigRational::one(), nvars), nvars);
        while e > 0 {
            if e & 1 == 1 {
                acc = acc.mul(base.clone(), ctx)?;
            }
            e >>= 1;
            if e > 0 {
                base = base.clone().mul(base, ctx)?;
            }
        }
        Some(acc)
    }
}

/// The rational-function form of `e` over `vars`, if `e` is a rational expression within the
/// limits.
fn form(e: &Expr, vars: &[String], ctx: &mut Ctx<'_>) -> Option<RatFn> {
    ctx.tick().ok()?;
    let n = vars.len();
    Some(match e {
        Expr::Num { val, .. } => RatFn::poly(Poly::constant(val.clone(), n), n),
        Expr::Var(v) => RatFn::poly(Poly::var(vars.iter().position(|x| x == v)?, n), n),
        Expr::Neg(x) => {
            let f = form(x, vars, ctx)?;
            RatFn {
                num: f.num.neg(),
                den: f.den,
            }
        }
        Expr::Add(v) => {
            let mut acc = RatFn::poly(Poly::constant(BigRational::zero(), n), n);
            for x in v {
                acc = acc.add(form(x, vars, ctx)?, ctx)?;
            }
            acc
        }
        Expr::Mul(v) => {
            let mut acc = RatFn::poly(Poly::constant(BigRational::one(), n), n);
            for x in v {
                acc = acc.mul(form(x, vars, ctx)?, ctx)?;
            }
            acc
        }
        Expr::Div(a, b) => {
            let a = form(a, vars, ctx)?;
            a.mul(form(b, vars, ctx)?.inv()?, ctx)?
        }
        Expr::Pow(b, k) => {
            let Expr::Num { val, .. } = k.as_ref() else {
                return None;
            };
            let k = val.is_integer().then(|| val.to_integer())?;
            if k.abs() > BigInt::from(MAX_POWER) {
                return None;
            }
            form(b, vars, ctx)?.pow(k.to_i64()?, n, ctx)?
        }
        _ => return None,
    })
}

/// `Some(equal)` when both sides are rational expressions in `vars` with forms within the
/// limits (then the answer is exact); `None` otherwise.
pub fn same_rational(p: &Expr, g: &Expr, vars: &[String], ctx: &mut Ctx<'_>) -> Option<bool> {
    let a = form(p, vars, ctx)?;
    let b = form(g, vars, ctx)?;
    if a.den.is_zero() || b.den.is_zero() {
        return None;
    }
    let left = a.num.mul(&b.den, ctx)?;
    let right = b.num.mul(&a.den, ctx)?;
    Some(left == right)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::parse::{collect_vars, parse_answer, Answer};
    use crate::math::{Budget, Policy};
    use std::time::{Duration, Instant};

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
            deadline: Instant::now() + Duration::from_secs(5),
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
