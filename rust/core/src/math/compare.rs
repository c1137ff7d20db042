//! Comparison by type: exact rationals first, decimal literals by rounding to their stated
//! precision, symbolic equality by evaluation at random rational points, structures by shape.

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{One, Signed, Zero};

use super::canon::same_form;
use super::eval::{eval, q_to_f64, val_eq, Ctx, EvalError, Val};
use super::parse::{collect_vars, literal_fraction, Answer, Const, Expr, Func, RelOp};
use super::policy::{PercentPolicy, Policy, RelationInterval};
use super::ratfn::same_rational;

/// Sample values for variables: small rationals away from common poles and special points.
const SAMPLES: &[(i64, i64)] = &[
    (7, 3),
    (-5, 4),
    (11, 7),
    (3, 11),
    (13, 5),
    (-9, 7),
    (17, 6),
    (5, 13),
    (-19, 8),
    (23, 9),
    (2, 17),
    (29, 10),
    (-31, 12),
    (37, 14),
    (41, 15),
    (-43, 16),
];

/// Extra positive points, used when every sample point left the reals.
const POSITIVE: &[(i64, i64)] = &[(31, 3), (47, 5), (9, 2), (61, 7)];

/// Integer points for factorials, binomials and gamma of symbolic arguments (variables in order
/// of appearance; the first ones larger, so that `n >= k` in most rows; more variables get
/// `row[k % 4] + k / 4`).
const INTEGER_ROWS: &[[i64; 4]] = &[
    [9, 4, 2, 7],
    [12, 5, 3, 8],
    [7, 3, 5, 2],
    [10, 6, 1, 4],
    [8, 2, 6, 3],
    [11, 7, 4, 9],
    [6, 5, 2, 1],
    [13, 8, 7, 5],
];

/// At least this many integer points must agree (points where a side is undefined are skipped).
const MIN_INTEGER_POINTS: usize = 3;

/// Branch probes for powers with symbolic exponents: every combination of these values for the
/// first three variables (the others 1). `(c^d)^e` at `c = -3, d = 2, e = 1/2` is `3`, `c^{de}`
/// is `-3`.
const PROBES: &[(i64, i64)] = &[(-3, 1), (2, 1), (1, 2)];

/// A comparison in progress.
pub struct Cmp<'a> {
    /// Policies.
    pub policy: &'a Policy,
    /// Evaluation context (budget, deadline, steps).
    pub ctx: Ctx<'a>,
}

type R = Result<bool, EvalError>;

fn stop(e: &EvalError) -> bool {
    matches!(e, EvalError::Budget(_) | EvalError::Timeout)
}

impl Cmp<'_> {
    /// Is the predicted answer equal to the gold one?
    pub fn answers(&mut self, pred: &Answer, gold: &Answer) -> R {
        self.ctx.tick()?;
        use Answer as A;
        match (pred, gold) {
            (A::Choice(a), A::Choice(b)) => Ok(a == b),
            (A::Text(a), A::Text(b)) => Ok(a == b),
            (A::Text(_), _) | (_, A::Text(_)) | (A::Choice(_), _) | (_, A::Choice(_)) => Ok(false),
            (A::Ratio(a), A::Ratio(b)) => self.ratios(a, b),
            (A::Ratio(_), _) | (_, A::Ratio(_)) => Ok(false),
            (A::Expr(a), A::Expr(b)) => self.exprs(a, b),
            (A::Rel(sa, oa), A::Rel(sb, ob)) => self.relations(sa, oa, sb, ob),
            (A::Rel(s, o), A::Expr(e)) => match self.rel_value(s, o, true) {
                Some(v) => self.exprs(v, e),
                None => Ok(false),
            },
            (A::Expr(e), A::Rel(s, o)) => match self.rel_value(s, o, false) {
                Some(v) => self.exprs(e, v),
                None => Ok(false),
            },
            (A::Rel(s, o), other @ (A::Brack { .. } | A::Union(_))) => {
                if self.policy.relation_interval == RelationInterval::Both {
                    match rel_to_interval(s, o) {
                        Some(iv) => self.answers(&iv, other),
                        None => Ok(false),
                    }
                } else {
                    Ok(false)
                }
            }
            (other @ (A::Brack { .. } | A::Union(_)), A::Rel(s, o)) => {
                if self.policy.relation_interval != RelationInterval::Never {
                    match rel_to_interval(s, o) {
                        Some(iv) => self.answers(other, &iv),
                        None => Ok(false),
                    }
                } else {
                    Ok(false)
                }
            }
            (A::Union(_), A::List(rels))
                if self.policy.relation_interval != RelationInterval::Never =>
            {
                // `x < -3 or x > 3` as gold, a union of intervals as prediction.
                let mut parts = Vec::new();
                for r in rels {
                    match r {
                        A::Rel(s, o) => match rel_to_interval(s, o) {
                            Some(iv) => parts.push(iv),
                            None => return Ok(false),
                        },
                        _ => return Ok(false),
                    }
                }
                self.answers(pred, &A::Union(parts))
            }
            (
                A::Brack {
                    open: o1,
                    close: c1,
                    items: a,
                },
                A::Brack {
                    open: o2,
                    close: c2,
                    items: b,
                },
            ) => {
                if o1 != o2 || c1 != c2 {
                    return Ok(false);
                }
                self.ordered(a, b)
            }
            (A::Set(a), A::Set(b)) | (A::Union(a), A::Union(b)) => self.unordered(a, b),
            (A::Set(a), A::List(b)) | (A::List(a), A::Set(b)) => self.unordered(a, b),
            (A::List(a), A::List(b)) => {
                if self.policy.unordered_lists {
                    self.unordered(a, b)
                } else {
                    self.ordered(a, b)
                }
            }
            (
                A::List(a),
                A::Brack {
                    open: '(',
                    close: ')',
                    items: b,
                },
            )
            | (
                A::Brack {
                    open: '(',
                    close: ')',
                    items: a,
                },
                A::List(b),
            ) => self.ordered(a, b),
            (A::Set(a), other) if a.len() == 1 => self.answers(&a[0], other),
            (other, A::Set(b)) if b.len() == 1 => self.answers(other, &b[0]),
            (A::Union(a), other) if a.len() == 1 => self.answers(&a[0], other),
            (other, A::Union(b)) if b.len() == 1 => self.answers(other, &b[0]),
            (A::Matrix(a), A::Matrix(b)) => {
                if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.len() != y.len()) {
                    return Ok(false);
                }
                for (ra, rb) in a.iter().zip(b) {
                    if !self.ordered(ra, rb)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            (A::Matrix(m), A::Brack { items, .. }) => match vector_of(m) {
                Some(v) => self.ordered(&v, items),
                None => Ok(false),
            },
            (A::Brack { items, .. }, A::Matrix(m)) => match vector_of(m) {
                Some(v) => self.ordered(items, &v),
                None => Ok(false),
            },
            (A::List(a), A::Rel(..)) | (A::Rel(..), A::List(a)) if a.is_empty() => Ok(false),
            // `x = 1, y = 2` lists against a relation list etc. fall through to not equal.
            _ => Ok(false),
        }
    }

    fn ordered(&mut self, a: &[Answer], b: &[Answer]) -> R {
        if a.len() != b.len() {
            return Ok(false);
        }
        for (x, y) in a.iter().zip(b) {
            if !self.answers(x, y)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn unordered(&mut self, a: &[Answer], b: &[Answer]) -> R {
        if a.len() != b.len() {
            // Sets: a repeated element counts once (`(3,17),(3,17),(5,2)` vs `(3,17),(5,2)`).
            return Ok(self.covers(a, b)? && self.covers(b, a)?);
        }
        let mut used = vec![false; b.len()];
        for x in a {
            let mut found = false;
            for (j, y) in b.iter().enumerate() {
                if !used[j] && self.answers(x, y)? {
                    used[j] = true;
                    found = true;
                    break;
                }
            }
            if !found {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Every item of `a` equals some item of `b`.
    fn covers(&mut self, a: &[Answer], b: &[Answer]) -> R {
        for x in a {
            let mut found = false;
            for y in b {
                if self.answers(x, y)? {
                    found = true;
                    break;
                }
            }
            if !found {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `a:b` vs `c:d`: the same parts, or proportional non-zero parts (`6:16` = `3:8`).
    fn ratios(&mut self, a: &[Expr], b: &[Expr]) -> R {
        if a.len() != b.len() {
            return Ok(false);
        }
        if self.ordered_exprs(a, b)? {
            return Ok(true);
        }
        let zero = Expr::Num {
            val: BigRational::zero(),
            decimals: None,
        };
        for x in a.iter().chain(b) {
            if self.exprs(x, &zero)? {
                return Ok(false);
            }
        }
        for i in 1..a.len() {
            let ra = Expr::Div(Box::new(a[i].clone()), Box::new(a[0].clone()));
            let rb = Expr::Div(Box::new(b[i].clone()), Box::new(b[0].clone()));
            if !self.exprs(&ra, &rb)? {
                return Ok(false);
            }
        }
        Ok(a.len() > 1)
    }

    /// The value of `label = v` (`x = 3`, `AB = 4`, `f(x) = 2x`), of an equation chain (its last
    /// side; approximations were cut off in normalisation) or, for a *prediction* only, of
    /// `expression = constant` (a computation stated with its result).
    fn rel_value<'e>(&self, sides: &'e [Expr], ops: &[RelOp], pred_side: bool) -> Option<&'e Expr> {
        if sides.len() < 2 || ops.iter().any(|o| *o != RelOp::Eq) {
            return None;
        }
        if sides.len() == 2 {
            if is_label(&sides[0]) {
                return sides.last();
            }
            if pred_side && self.policy.equation_chains && is_closed(&sides[1]) {
                return sides.last();
            }
            return None;
        }
        if self.policy.equation_chains {
            return sides.last();
        }
        None
    }

    fn relations(&mut self, sa: &[Expr], oa: &[RelOp], sb: &[Expr], ob: &[RelOp]) -> R {
        let all_eq = oa.iter().chain(ob).all(|o| *o == RelOp::Eq);
        if all_eq && (sa.len() != sb.len() || sa.len() > 2) {
            // `x = 1 + 1 = 2` vs `x = 2`, `z = 3+3 = 2` vs `z = 1+1 = 2`: same label, last values.
            if let (Some(a), Some(b)) =
                (self.rel_value(sa, oa, true), self.rel_value(sb, ob, false))
            {
                if is_label(&sa[0]) && is_label(&sb[0]) && self.exprs(&sa[0], &sb[0])? {
                    return self.exprs(a, b);
                }
            }
            if sa.len() != sb.len() {
                return Ok(false);
            }
        }
        // `y = 3x + 1` vs `g(x) = 3x + 1` (policy `function_heads`).
        if all_eq
            && sa.len() == 2
            && sb.len() == 2
            && self.policy.function_heads
            && is_label(&sa[0])
            && is_label(&sb[0])
            && (is_function_head(&sa[0]) || is_function_head(&sb[0]))
        {
            return self.exprs(&sa[1], &sb[1]);
        }
        // Side by side, or reversed with flipped operators.
        if oa == ob && self.ordered_exprs(sa, sb)? {
            return Ok(true);
        }
        let flipped: Vec<RelOp> = oa.iter().rev().map(|o| o.flipped()).collect();
        let rev: Vec<Expr> = sa.iter().rev().cloned().collect();
        if flipped == ob && self.ordered_exprs(&rev, sb)? {
            return Ok(true);
        }
        if sa.len() == 2 {
            return self.proportional(sa, oa[0], sb, ob[0]);
        }
        Ok(false)
    }

    fn ordered_exprs(&mut self, a: &[Expr], b: &[Expr]) -> R {
        for (x, y) in a.iter().zip(b) {
            if !self.exprs(x, y)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `lhs_a - rhs_a = c * (lhs_b - rhs_b)` for one constant c at every sample point
    /// (c > 0 keeps an inequality, c < 0 flips it).
    fn proportional(&mut self, sa: &[Expr], oa: RelOp, sb: &[Expr], ob: RelOp) -> R {
        let fa = Expr::Add(vec![sa[0].clone(), Expr::Neg(Box::new(sa[1].clone()))]);
        let fb = Expr::Add(vec![sb[0].clone(), Expr::Neg(Box::new(sb[1].clone()))]);
        let mut vars = Vec::new();
        collect_vars(&fa, &mut vars);
        collect_vars(&fb, &mut vars);
        if vars.is_empty() {
            return Ok(false);
        }
        let mut ratio: Option<Val> = None;
        let mut good = 0;
        for j in 0..self.ctx.budget.sample_points.max(2) + 1 {
            self.assign(&vars, j);
            let (va, vb) = match (eval(&fa, &mut self.ctx), eval(&fb, &mut self.ctx)) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) if stop(&e) => return Err(e),
                _ => continue,
            };
            let za = is_zero_val(&va);
            let zb = is_zero_val(&vb);
            if za && zb {
                continue;
            }
            if za != zb {
                return Ok(false);
            }
            let r = match eval(
                &Expr::Div(Box::new(val_expr(&va)), Box::new(val_expr(&vb))),
                &mut self.ctx,
            ) {
                Ok(r) => r,
                Err(e) if stop(&e) => return Err(e),
                Err(_) => continue,
            };
            match &ratio {
                None => ratio = Some(r),
                Some(r0) => {
                    if val_eq(r0, &r) != Some(true) {
                        return Ok(false);
                    }
                }
            }
            good += 1;
        }
        let Some(r) = ratio else { return Ok(false) };
        if good < 2 {
            return Ok(false);
        }
        let (re, im) = r.to_c();
        if im != 0.0 || re == 0.0 {
            return Ok(false);
        }
        Ok(match oa {
            RelOp::Eq | RelOp::Ne => ob == oa,
            _ => (re > 0.0 && ob == oa) || (re < 0.0 && ob == oa.flipped()),
        })
    }

    fn assign_positive(&mut self, vars: &[String], j: usize) {
        self.ctx.vars.clear();
        for (k, v) in vars.iter().enumerate() {
            let (n, d) = POSITIVE[(j + k) % POSITIVE.len()];
            self.ctx.vars.push((
                v.clone(),
                BigRational::new(BigInt::from(n), BigInt::from(d)),
            ));
        }
    }

    fn assign(&mut self, vars: &[String], j: usize) {
        self.ctx.vars.clear();
        for (k, v) in vars.iter().enumerate() {
            let (n, d) = SAMPLES[(j * 5 + k * 3) % SAMPLES.len()];
            self.ctx.vars.push((
                v.clone(),
                BigRational::new(BigInt::from(n), BigInt::from(d)),
            ));
        }
    }

    /// Expression equality under the percent policy.
    pub fn exprs(&mut self, p: &Expr, g: &Expr) -> R {
        if self.policy.percent == PercentPolicy::Lenient {
            let alt = match (p, g) {
                (Expr::Percent(_), Expr::Percent(_)) => None,
                (Expr::Percent(x), other) => Some((x.as_ref(), other)),
                (other, Expr::Percent(y)) => Some((other, y.as_ref())),
                _ => None,
            };
            if let Some((a, b)) = alt {
                if self.expr_core(a, b)? {
                    return Ok(true);
                }
            }
        }
        self.expr_core(p, g)
    }

    fn expr_core(&mut self, p: &Expr, g: &Expr) -> R {
        if !self.policy.unreduced_fractions {
            if let Some((a, b)) = literal_fraction(p) {
                if !a.gcd(&b).is_one() {
                    return Ok(false);
                }
            }
        }
        let mut vars = Vec::new();
        collect_vars(p, &mut vars);
        collect_vars(g, &mut vars);
        if vars.is_empty() {
            self.ctx.vars.clear();
            let (vp, vg) = match (eval(p, &mut self.ctx), eval(g, &mut self.ctx)) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) if stop(&e) => {
                    // Too large to evaluate: equal only when the forms are the same
                    // (`factorial(10^9)` and `(10^9)!`).
                    return if same_form(p, g, &mut self.ctx) {
                        Ok(true)
                    } else {
                        Err(e)
                    };
                }
                _ => return Ok(false),
            };
            if val_eq(&vp, &vg) == Some(true) {
                return Ok(true);
            }
            if self.policy.approx_decimals {
                return Ok(self.decimal_match(p, &vp, g, &vg));
            }
            return Ok(false);
        }
        match self.symbolic(p, g, &vars) {
            // Too large to evaluate (`(y-b)^{10^6}`): equal only when the canonical forms are the
            // same; huge powers are never expanded.
            Err(e) if stop(&e) => {
                if same_form(p, g, &mut self.ctx) {
                    Ok(true)
                } else {
                    Err(e)
                }
            }
            other => other,
        }
    }

    /// Expressions with variables: integer points for factorials and binomials; the exact
    /// rational-function forms for rational expressions; else the generic sample points, then the
    /// branch probes for powers with symbolic exponents.
    fn symbolic(&mut self, p: &Expr, g: &Expr, vars: &[String]) -> R {
        if has_discrete(p) || has_discrete(g) {
            return self.discrete_points(p, g, vars);
        }
        // Rational expressions in several variables: decided exactly by their canonical forms.
        if let Some(equal) = same_rational(p, g, vars, &mut self.ctx) {
            return Ok(equal);
        }
        if !self.sample_points(p, g, vars)? {
            return Ok(false);
        }
        if self.policy.strict_exponents && (symbolic_exponent(p) || symbolic_exponent(g)) {
            return self.branch_probes(p, g, vars);
        }
        Ok(true)
    }

    /// Equal at every generic rational sample point where both sides are real (at least one).
    fn sample_points(&mut self, p: &Expr, g: &Expr, vars: &[String]) -> R {
        let mut good = 0;
        let n = self.ctx.budget.sample_points;
        for j in 0..n + POSITIVE.len() {
            if j == n && good > 0 {
                break;
            }
            if j < n {
                self.assign(vars, j);
            } else {
                // Nothing comparable yet (every point left the reals): try larger positive points.
                self.assign_positive(vars, j - n);
            }
            let (vp, vg) = match (eval(p, &mut self.ctx), eval(g, &mut self.ctx)) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) if stop(&e) => return Err(e),
                (Err(_), Err(_)) => continue,
                _ => return Ok(false),
            };
            // Points where a side leaves the reals are skipped: branch cuts of log/roots make
            // real identities (log xy = log x + log y) fail there.
            if is_nonreal(&vp) || is_nonreal(&vg) {
                continue;
            }
            match val_eq(&vp, &vg) {
                Some(true) => good += 1,
                Some(false) => return Ok(false),
                None => continue,
            }
        }
        Ok(good >= 1)
    }

    /// Factorials, binomials or gamma of symbolic arguments: equal at the generic points where
    /// both sides are defined and real, and at [`MIN_INTEGER_POINTS`] or more integer points
    /// ([`INTEGER_ROWS`]; points where a side is undefined are skipped). Any real mismatch is
    /// a difference.
    fn discrete_points(&mut self, p: &Expr, g: &Expr, vars: &[String]) -> R {
        for j in 0..self.ctx.budget.sample_points {
            self.assign(vars, j);
            if self.point_differs(p, g, false)? == Some(true) {
                return Ok(false);
            }
        }
        let mut good = 0;
        for row in INTEGER_ROWS {
            self.ctx.vars.clear();
            for (k, v) in vars.iter().enumerate() {
                let x = row[k % row.len()] + (k / row.len()) as i64;
                self.ctx
                    .vars
                    .push((v.clone(), BigRational::from_integer(BigInt::from(x))));
            }
            match self.point_differs(p, g, false)? {
                Some(true) => return Ok(false),
                Some(false) => good += 1,
                None => {}
            }
        }
        Ok(good >= MIN_INTEGER_POINTS)
    }

    /// Powers with symbolic exponents: also compare at the [`PROBES`] combinations on the
    /// principal branch (complex values compared too), where exponent rules that need a positive
    /// base or an integer exponent fail (`(c^d)^e` vs `c^{de}`: `3` vs `-3` at `c = -3, d = 2,
    /// e = 1/2`). Points where a side is undefined are skipped.
    fn branch_probes(&mut self, p: &Expr, g: &Expr, vars: &[String]) -> R {
        let free = vars.len().min(3);
        let combos = PROBES.len().pow(free as u32);
        for idx in 0..combos {
            self.ctx.vars.clear();
            for (k, v) in vars.iter().enumerate() {
                let (n, d) = if k < free {
                    PROBES[(idx / PROBES.len().pow(k as u32)) % PROBES.len()]
                } else {
                    (1, 1)
                };
                self.ctx.vars.push((
                    v.clone(),
                    BigRational::new(BigInt::from(n), BigInt::from(d)),
                ));
            }
            if self.point_differs(p, g, true)? == Some(true) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// At the current point: `Some(true)` when both sides are real (or `complex`) and differ,
    /// `Some(false)` when they are equal, `None` when a side is undefined (or not real) there.
    fn point_differs(
        &mut self,
        p: &Expr,
        g: &Expr,
        complex: bool,
    ) -> Result<Option<bool>, EvalError> {
        let (vp, vg) = match (eval(p, &mut self.ctx), eval(g, &mut self.ctx)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) if stop(&e) => return Err(e),
            _ => return Ok(None),
        };
        if !complex && (is_nonreal(&vp) || is_nonreal(&vg)) {
            return Ok(None);
        }
        Ok(val_eq(&vp, &vg).map(|eq| !eq))
    }

    /// A decimal literal matches a value that rounds to it at the literal's precision.
    fn decimal_match(&self, p: &Expr, vp: &Val, g: &Expr, vg: &Val) -> bool {
        let dp = decimal_info(p);
        let dg = decimal_info(g);
        let (lit, lit_val, other) = match (dp, dg) {
            (Some(a), Some(b)) => {
                if a.0 <= b.0 {
                    (a, vp, vg)
                } else {
                    (b, vg, vp)
                }
            }
            (Some(a), None) => (a, vp, vg),
            (None, Some(b)) => (b, vg, vp),
            (None, None) => return false,
        };
        let (decimals, sig) = lit;
        if sig < self.policy.min_sig_digits as usize {
            return false;
        }
        // Rounding an irrational value is not its value (`15.71` vs `5\pi`) unless opted in; a
        // double printed in full (12+ significant digits) is.
        if matches!(other, Val::C(..) | Val::S(..)) && !self.policy.approx_irrational && sig < 12 {
            return false;
        }
        let Val::Q(lq) = lit_val else { return false };
        let scale = pow10(decimals);
        let target = lq * &scale;
        if !target.is_integer() {
            return false;
        }
        match other {
            Val::Q(q) => (q * &scale).round() == target,
            Val::C(..) | Val::S(..) => {
                let (re, im) = other.to_c();
                if im != 0.0 {
                    return false;
                }
                let s = q_to_f64(&scale);
                let x = re * s;
                if x.abs() >= 4.0e15 {
                    // More digits than a double resolves (`4.123105625617661` vs `\sqrt{17}`): equal
                    // to the double's precision.
                    let lit = q_to_f64(lq);
                    return (lit - re).abs() <= 8.0 * f64::EPSILON * re.abs();
                }
                (x.round() - q_to_f64(&target)).abs() < 0.5
            }
            Val::Inf(_) => false,
        }
    }
}

/// Whether a factorial, binomial or gamma has an argument with a variable.
fn has_discrete(e: &Expr) -> bool {
    let symbolic = |x: &Expr| {
        let mut v = Vec::new();
        collect_vars(x, &mut v);
        !v.is_empty()
    };
    match e {
        Expr::Factorial(x) | Expr::Func(Func::Gamma, x) => symbolic(x) || has_discrete(x),
        Expr::Binom(n, k) => symbolic(n) || symbolic(k),
        Expr::Num { .. } | Expr::Var(_) | Expr::Const(_) => false,
        Expr::Add(v) | Expr::Mul(v) => v.iter().any(has_discrete),
        Expr::Neg(x) | Expr::Func(_, x) | Expr::Percent(x) => has_discrete(x),
        Expr::Div(a, b) | Expr::Pow(a, b) | Expr::Root(a, b) => has_discrete(a) || has_discrete(b),
        Expr::Log(b, x) => b.as_deref().is_some_and(has_discrete) || has_discrete(x),
    }
}

/// Whether some power has a variable in both its base and its exponent (`(c^d)^e`, `x^a`).
fn symbolic_exponent(e: &Expr) -> bool {
    let symbolic = |x: &Expr| {
        let mut v = Vec::new();
        collect_vars(x, &mut v);
        !v.is_empty()
    };
    match e {
        Expr::Pow(b, x) => {
            (symbolic(b) && symbolic(x)) || symbolic_exponent(b) || symbolic_exponent(x)
        }
        Expr::Num { .. } | Expr::Var(_) | Expr::Const(_) => false,
        Expr::Add(v) | Expr::Mul(v) => v.iter().any(symbolic_exponent),
        Expr::Neg(x) | Expr::Func(_, x) | Expr::Percent(x) | Expr::Factorial(x) => {
            symbolic_exponent(x)
        }
        Expr::Div(a, b) | Expr::Root(a, b) | Expr::Binom(a, b) => {
            symbolic_exponent(a) || symbolic_exponent(b)
        }
        Expr::Log(b, x) => b.as_deref().is_some_and(symbolic_exponent) || symbolic_exponent(x),
    }
}

fn pow10(d: i64) -> BigRational {
    let p = num_traits::pow(BigInt::from(10), d.unsigned_abs().min(4000) as usize);
    if d >= 0 {
        BigRational::from_integer(p)
    } else {
        BigRational::new(BigInt::one(), p)
    }
}

/// (decimals, significant digits) of a decimal literal (`3.14`, `-0.5`, `1.5\times10^{3}`).
fn decimal_info(e: &Expr) -> Option<(i64, usize)> {
    match e {
        Expr::Num {
            val,
            decimals: Some(d),
        } => {
            let scaled = val * pow10(*d as i64);
            let digits = scaled.to_integer().abs().to_string();
            let sig = if scaled.is_zero() { 1 } else { digits.len() };
            Some((*d as i64, sig))
        }
        Expr::Neg(x) => decimal_info(x),
        Expr::Mul(v) if v.len() == 2 => {
            let (d, sig) = decimal_info(&v[0])?;
            match &v[1] {
                Expr::Pow(b, k) => {
                    let ten = matches!(b.as_ref(), Expr::Num { val, decimals: None } if *val == BigRational::from_integer(BigInt::from(10)));
                    let k = match k.as_ref() {
                        Expr::Num {
                            val,
                            decimals: None,
                        } if val.is_integer() => {
                            val.to_integer().to_string().parse::<i64>().ok()?
                        }
                        Expr::Neg(x) => match x.as_ref() {
                            Expr::Num {
                                val,
                                decimals: None,
                            } if val.is_integer() => {
                                -val.to_integer().to_string().parse::<i64>().ok()?
                            }
                            _ => return None,
                        },
                        _ => return None,
                    };
                    if ten && k.abs() < 1000 {
                        Some((d - k, sig))
                    } else {
                        None
                    }
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn is_nonreal(v: &Val) -> bool {
    matches!(v, Val::C(_, im) if *im != 0.0)
}

fn is_zero_val(v: &Val) -> bool {
    match v {
        Val::Q(q) => q.is_zero(),
        Val::C(a, b) => a.hypot(*b) < 1e-12,
        Val::S(..) | Val::Inf(_) => false,
    }
}

fn val_expr(v: &Val) -> Expr {
    match v {
        Val::Q(q) => Expr::Num {
            val: q.clone(),
            decimals: None,
        },
        Val::C(a, b) => {
            // Re-enter floats through exact approximations of their parts.
            let re = BigRational::from_float(*a).unwrap_or_else(BigRational::zero);
            let im = BigRational::from_float(*b).unwrap_or_else(BigRational::zero);
            if im.is_zero() {
                Expr::Num {
                    val: re,
                    decimals: None,
                }
            } else {
                Expr::Add(vec![
                    Expr::Num {
                        val: re,
                        decimals: None,
                    },
                    Expr::Mul(vec![
                        Expr::Num {
                            val: im,
                            decimals: None,
                        },
                        Expr::Const(Const::I),
                    ]),
                ])
            }
        }
        Val::S(a, b, d) => Expr::Add(vec![
            Expr::Num {
                val: a.clone(),
                decimals: None,
            },
            Expr::Mul(vec![
                Expr::Num {
                    val: b.clone(),
                    decimals: None,
                },
                Expr::Root(
                    Box::new(Expr::Num {
                        val: BigRational::from_integer(BigInt::from(2)),
                        decimals: None,
                    }),
                    Box::new(Expr::Num {
                        val: BigRational::from_integer(BigInt::from(*d)),
                        decimals: None,
                    }),
                ),
            ]),
        ]),
        Val::Inf(p) => {
            if *p {
                Expr::Const(Const::Inf)
            } else {
                Expr::Neg(Box::new(Expr::Const(Const::Inf)))
            }
        }
    }
}

/// A name standing for the answer: a variable (`x`, `a_3`), a product of names (`AB`, `f(x)`)
/// or a quotient of names (`\frac{NO}{BO}`).
pub fn is_label(e: &Expr) -> bool {
    match e {
        Expr::Var(_) => true,
        Expr::Mul(v) => v.len() <= 8 && v.iter().all(is_label),
        Expr::Div(a, b) => is_label(a) && is_label(b),
        Expr::Func(Func::Abs, x) => is_label(x),
        _ => false,
    }
}

/// `f(x)`: a one-letter name applied to names.
fn is_function_head(e: &Expr) -> bool {
    matches!(e, Expr::Mul(v) if v.len() == 2 && v.iter().all(|x| matches!(x, Expr::Var(_))))
}

/// No free variables.
fn is_closed(e: &Expr) -> bool {
    let mut vars = Vec::new();
    collect_vars(e, &mut vars);
    vars.is_empty()
}

fn vector_of(m: &[Vec<Answer>]) -> Option<Vec<Answer>> {
    if m.len() == 1 {
        return Some(m[0].clone());
    }
    if m.iter().all(|r| r.len() == 1) {
        return Some(m.iter().map(|r| r[0].clone()).collect());
    }
    None
}

/// `1 < x \le 2` -> `(1, 2]`; `x \ge 3` -> `[3, \infty)`.
pub fn rel_to_interval(sides: &[Expr], ops: &[RelOp]) -> Option<Answer> {
    let inf = Expr::Const(Const::Inf);
    let ninf = Expr::Neg(Box::new(Expr::Const(Const::Inf)));
    let lower = |o: RelOp| matches!(o, RelOp::Lt | RelOp::Le);
    let br = |open: char, close: char, a: Expr, b: Expr| Answer::Brack {
        open,
        close,
        items: vec![Answer::Expr(a), Answer::Expr(b)],
    };
    let strict = |o: RelOp| matches!(o, RelOp::Lt | RelOp::Gt);
    if let Some(u) = abs_interval(sides, ops) {
        return Some(u);
    }
    match (sides, ops) {
        ([a, m, b], [o1, o2]) if is_label(m) && lower(*o1) && lower(*o2) => Some(br(
            if strict(*o1) { '(' } else { '[' },
            if strict(*o2) { ')' } else { ']' },
            a.clone(),
            b.clone(),
        )),
        ([a, m, b], [o1, o2])
            if is_label(m)
                && !lower(*o1)
                && !lower(*o2)
                && *o1 != RelOp::Eq
                && *o2 != RelOp::Eq
                && *o1 != RelOp::Ne
                && *o2 != RelOp::Ne =>
        {
            Some(br(
                if strict(*o2) { '(' } else { '[' },
                if strict(*o1) { ')' } else { ']' },
                b.clone(),
                a.clone(),
            ))
        }
        ([m, v], [o]) if is_label(m) => one_sided(*o, v.clone(), inf, ninf),
        ([v, m], [o]) if is_label(m) => one_sided(o.flipped(), v.clone(), inf, ninf),
        _ => None,
    }
}

/// `a \le |x| \le b` -> `[-b, -a] \cup [a, b]`; `|x| < b` -> `(-b, b)`; `|x| \ge a` ->
/// `(-\infty, -a] \cup [a, \infty)`.
fn abs_interval(sides: &[Expr], ops: &[RelOp]) -> Option<Answer> {
    let is_abs = |e: &Expr| matches!(e, Expr::Func(Func::Abs, x) if is_label(x));
    let neg = |e: &Expr| Expr::Neg(Box::new(e.clone()));
    let br = |open: char, close: char, a: Expr, b: Expr| Answer::Brack {
        open,
        close,
        items: vec![Answer::Expr(a), Answer::Expr(b)],
    };
    let inf = Expr::Const(Const::Inf);
    match (sides, ops) {
        ([a, m, b], [o1, o2])
            if is_abs(m)
                && matches!(o1, RelOp::Lt | RelOp::Le)
                && matches!(o2, RelOp::Lt | RelOp::Le) =>
        {
            let (l, r) = (bracket_open(*o1), bracket_close(*o1));
            let (l2, r2) = (bracket_open(*o2), bracket_close(*o2));
            Some(Answer::Union(vec![
                br(l2, r, neg(b), neg(a)),
                br(l, r2, a.clone(), b.clone()),
            ]))
        }
        ([m, v], [op]) | ([v, m], [op]) if is_abs(m) => {
            let op = if is_abs(&sides[0]) { *op } else { op.flipped() };
            match op {
                RelOp::Lt | RelOp::Le => {
                    Some(br(bracket_open(op), bracket_close(op), neg(v), v.clone()))
                }
                RelOp::Gt | RelOp::Ge => Some(Answer::Union(vec![
                    br('(', bracket_close(op), neg(&inf), neg(v)),
                    br(bracket_open(op), ')', v.clone(), inf),
                ])),
                _ => None,
            }
        }
        _ => None,
    }
}

fn bracket_open(o: RelOp) -> char {
    if matches!(o, RelOp::Lt | RelOp::Gt) {
        '('
    } else {
        '['
    }
}

fn bracket_close(o: RelOp) -> char {
    if matches!(o, RelOp::Lt | RelOp::Gt) {
        ')'
    } else {
        ']'
    }
}

fn one_sided(o: RelOp, v: Expr, inf: Expr, ninf: Expr) -> Option<Answer> {
    let mk = |open, close, a, b| {
        Some(Answer::Brack {
            open,
            close,
            items: vec![Answer::Expr(a), Answer::Expr(b)],
        })
    };
    match o {
        RelOp::Lt => mk('(', ')', ninf, v),
        RelOp::Le => mk('(', ']', ninf, v),
        RelOp::Gt => mk('(', ')', v, inf),
        RelOp::Ge => mk('[', ')', v, inf),
        _ => None,
    }
}
