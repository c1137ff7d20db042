//! A structural canonical form of an expression, built only from identities that hold wherever
//! both sides are defined: sums and products flattened and sorted, signs pulled out of products,
//! constant sub-expressions folded to exact rationals, and bases of integer powers sign-normalised
//! (`(y-b)^{4000}` and `(b-y)^{4000}` have one form, `(y-b)^{4001}` is `-(b-y)^{4001}`).
//!
//! Two expressions with the same canonical form are equal without evaluating them, so huge powers
//! are never expanded. No rule merges exponents (`(c^d)^e` stays as written) or uses a branch of
//! a root or logarithm. Different forms prove nothing: the caller then compares values.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, Zero};

use super::eval::{eval, Ctx, Val};
use super::parse::Expr;

/// Largest folded constant, in bits (numerator plus denominator): folding must stay cheap.
const MAX_FOLD_BITS: u64 = 4096;

/// The canonical form of `e`. Work is linear in the tree size (plus sorting); constant folding
/// uses `ctx`'s budgets, and a folding that exceeds them leaves the sub-expression as written.
pub fn canonical(e: &Expr, ctx: &mut Ctx<'_>) -> Expr {
    match e {
        Expr::Num { val, .. } => num(val.clone()),
        Expr::Var(_) | Expr::Const(_) => e.clone(),
        Expr::Neg(x) => negate(canonical(x, ctx)),
        Expr::Add(v) => sum(v.iter().map(|x| canonical(x, ctx)).collect()),
        Expr::Mul(v) => product(v.iter().map(|x| canonical(x, ctx)).collect()),
        Expr::Div(a, b) => {
            let (a, b) = (canonical(a, ctx), canonical(b, ctx));
            fold(Expr::Div(Box::new(a), Box::new(b)), ctx)
        }
        Expr::Pow(b, x) => power(canonical(b, ctx), canonical(x, ctx), ctx),
        Expr::Root(n, x) => {
            let (n, x) = (canonical(n, ctx), canonical(x, ctx));
            fold(Expr::Root(Box::new(n), Box::new(x)), ctx)
        }
        Expr::Log(b, x) => {
            let b = b.as_ref().map(|b| Box::new(canonical(b, ctx)));
            Expr::Log(b, Box::new(canonical(x, ctx)))
        }
        Expr::Func(f, x) => fold(Expr::Func(*f, Box::new(canonical(x, ctx))), ctx),
        Expr::Factorial(x) => fold(Expr::Factorial(Box::new(canonical(x, ctx))), ctx),
        Expr::Binom(n, k) => {
            let (n, k) = (canonical(n, ctx), canonical(k, ctx));
            fold(Expr::Binom(Box::new(n), Box::new(k)), ctx)
        }
        Expr::Percent(x) => fold(Expr::Percent(Box::new(canonical(x, ctx))), ctx),
    }
}

fn num(val: BigRational) -> Expr {
    Expr::Num {
        val,
        decimals: None,
    }
}

fn as_num(e: &Expr) -> Option<&BigRational> {
    match e {
        Expr::Num { val, .. } => Some(val),
        _ => None,
    }
}

/// Replace a node whose children are all literals by its exact rational value, when it has one
/// and it is small; otherwise keep the node.
fn fold(e: Expr, ctx: &mut Ctx<'_>) -> Expr {
    let literal_children = match &e {
        Expr::Div(a, b) | Expr::Root(a, b) | Expr::Binom(a, b) | Expr::Pow(a, b) => {
            as_num(a).is_some() && as_num(b).is_some()
        }
        Expr::Func(_, x) | Expr::Factorial(x) | Expr::Percent(x) => as_num(x).is_some(),
        _ => false,
    };
    if !literal_children {
        return e;
    }
    match eval(&e, ctx) {
        Ok(Val::Q(q)) if q.numer().bits() + q.denom().bits() <= MAX_FOLD_BITS => num(q),
        _ => e,
    }
}

/// `-e` in canonical form.
pub fn negate(e: Expr) -> Expr {
    match e {
        Expr::Num { val, .. } => num(-val),
        Expr::Neg(x) => *x,
        Expr::Add(v) => sum(v.into_iter().map(negate).collect()),
        other => Expr::Neg(Box::new(other)),
    }
}

/// A sorted, flattened sum with its literal terms added up.
fn sum(terms: Vec<Expr>) -> Expr {
    let mut flat = Vec::with_capacity(terms.len());
    let mut constant = BigRational::zero();
    for t in terms {
        match t {
            Expr::Add(inner) => {
                for u in inner {
                    push_term(u, &mut flat, &mut constant);
                }
            }
            other => push_term(other, &mut flat, &mut constant),
        }
    }
    if !constant.is_zero() {
        flat.push(num(constant));
    }
    flat.sort();
    match flat.len() {
        0 => num(BigRational::zero()),
        1 => flat.pop().unwrap_or_else(|| num(BigRational::zero())),
        _ => Expr::Add(flat),
    }
}

fn push_term(t: Expr, flat: &mut Vec<Expr>, constant: &mut BigRational) {
    match t {
        Expr::Num { val, .. } => *constant += val,
        other => flat.push(other),
    }
}

/// A sorted, flattened product with its literal factors multiplied and its signs pulled out
/// (`(-a) b` is `-(a b)`). A zero factor is kept as a factor (the other factors may be undefined).
fn product(factors: Vec<Expr>) -> Expr {
    let mut flat = Vec::with_capacity(factors.len());
    let mut coef = BigRational::one();
    let mut stack = factors;
    stack.reverse();
    while let Some(f) = stack.pop() {
        match f {
            Expr::Mul(inner) => stack.extend(inner.into_iter().rev()),
            Expr::Neg(x) => {
                coef = -coef;
                stack.push(*x);
            }
            Expr::Num { val, .. } if !val.is_zero() => coef *= val,
            other => flat.push(other),
        }
    }
    flat.sort();
    let negative = coef.is_negative();
    let coef = coef.abs();
    if !coef.is_one() || flat.is_empty() {
        flat.insert(0, num(coef));
    }
    let body = if flat.len() == 1 {
        flat.pop().unwrap_or_else(|| num(BigRational::one()))
    } else {
        Expr::Mul(flat)
    };
    if negative {
        negate(body)
    } else {
        body
    }
}

/// `base^ex`: literals folded; for an integer exponent the base is replaced by the smaller of
/// itself and its negation, with the sign in front for odd exponents.
fn power(base: Expr, ex: Expr, ctx: &mut Ctx<'_>) -> Expr {
    let folded = fold(Expr::Pow(Box::new(base), Box::new(ex)), ctx);
    let Expr::Pow(base, ex) = folded else {
        return folded;
    };
    let parity = match as_num(&ex) {
        Some(n) if n.is_integer() => n.to_integer() % BigInt::from(2) != BigInt::zero(),
        _ => return Expr::Pow(base, ex),
    };
    let flipped = negate((*base).clone());
    if flipped >= *base {
        return Expr::Pow(base, ex);
    }
    let p = Expr::Pow(Box::new(flipped), ex);
    if parity {
        negate(p)
    } else {
        p
    }
}

/// Whether two expressions have the same canonical form.
pub fn same_form(a: &Expr, b: &Expr, ctx: &mut Ctx<'_>) -> bool {
    canonical(a, ctx) == canonical(b, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::clock::Deadline;
    use crate::math::parse::{parse_answer, Answer};
    use crate::math::{Budget, Policy};

    fn form(s: &str) -> Expr {
        let budget = Budget::default();
        let Answer::Expr(e) = parse_answer(s, &Policy::default(), &budget).expect("parses") else {
            panic!("{s} is not an expression");
        };
        let mut ctx = Ctx {
            budget: &budget,
            deadline: Deadline::after_ms(5000.0),
            steps: 0,
            vars: Vec::new(),
        };
        canonical(&e, &mut ctx)
    }

    #[test]
    fn one_form_for_sound_rewrites() {
        for (a, b) in [
            ("(y-b)^{4000}", "(b-y)^{4000}"),
            ("(y-b)^{4001}", "-(b-y)^{4001}"),
            ("a + b - c", "-c + b + a"),
            ("2 a b", "b (2 a)"),
            ("(-a) b", "-(a b)"),
            ("x^{10^6}", "x^{1000000}"),
            ("(10^9)!", "(10^9)!"),
        ] {
            assert_eq!(form(a), form(b), "{a} vs {b}");
        }
    }

    #[test]
    fn no_unsound_merges() {
        for (a, b) in [
            ("(c^d)^e", "c^{de}"),
            ("(y-b)^{4001}", "(b-y)^{4001}"),
            ("(y-b)^{1/2}", "(b-y)^{1/2}"),
            ("a - b", "b - a"),
            ("0 x", "0"),
        ] {
            assert_ne!(form(a), form(b), "{a} vs {b}");
        }
    }
}
