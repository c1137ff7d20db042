//! Grouping answers into equivalence classes (for majority vote and label-free rewards).
//!
//! Each answer is extracted and normalised; identical normal forms share a class at once (a
//! hash lookup). A new form is parsed and compared only with the representatives of classes
//! that could equal it: scalars by a coarse bucket of their value (neighbouring buckets too, and
//! both `x` and `x/100` for percentages), structures with structures, text by its key.

use crate::math::clock::Deadline;
use std::collections::HashMap;

use num_bigint::BigInt;
use num_rational::BigRational;

use super::compare::{is_label, Cmp};
use num_traits::{Signed, Zero};

use super::eval::{eval, Ctx, Val};
use super::parse::{collect_vars, Answer, Expr, RelOp};
use super::{extract_answer_with, gold_answer, normalize, parse, space_key, Config};

/// Most class representatives one new answer is compared with.
pub const MAX_CANDIDATES: usize = 64;

/// Where a representative is filed and where a newcomer looks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Bucket {
    /// A scalar whose value falls in this log-scale bucket (about 5% wide).
    Value(i64),
    /// A scalar whose value could not be computed (budget, domain).
    Scalar,
    /// Tuples, sets, lists, intervals, matrices, ratios, relations.
    Structured,
    /// Text and multiple-choice letters (equal only to themselves).
    Exact(String),
}

/// Cluster id of each answer: equal ids iff the answers are equal (`math_equal` in either
/// direction, against the class representative). Answers with no readable answer get `-1`.
pub fn group_equivalent(answers: &[String], cfg: &Config, extract: bool) -> Vec<i64> {
    let mut by_form: HashMap<String, i64> = HashMap::new();
    let mut reps: Vec<Answer> = Vec::new();
    let mut buckets: HashMap<Bucket, Vec<usize>> = HashMap::new();
    let mut out = Vec::with_capacity(answers.len());
    for text in answers {
        let id = super::guarded_value(-1, || {
            classify(text, cfg, extract, &mut by_form, &mut reps, &mut buckets)
        });
        out.push(id);
    }
    out
}

fn classify(
    text: &str,
    cfg: &Config,
    extract: bool,
    by_form: &mut HashMap<String, i64>,
    reps: &mut Vec<Answer>,
    buckets: &mut HashMap<Bucket, Vec<usize>>,
) -> i64 {
    let raw = if extract {
        match extract_answer_with(text, cfg) {
            Some(a) => a,
            None => return -1,
        }
    } else {
        gold_answer(text, cfg)
    };
    if raw.len() > cfg.budget.max_answer_bytes {
        return -1;
    }
    let Ok(norm) = normalize::normalize(&raw, &cfg.policy) else {
        return -1;
    };
    let key = space_key(&norm);
    if key.is_empty() {
        return -1;
    }
    if let Some(&id) = by_form.get(&key) {
        return id;
    }
    let Ok(ans) = parse::parse_answer(&norm, &cfg.policy, &cfg.budget) else {
        return -1;
    };
    let (look, home) = fingerprint(&ans, cfg);
    let mut candidates: Vec<usize> = look
        .iter()
        .filter_map(|b| buckets.get(b))
        .flatten()
        .copied()
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    // Bounded work on hostile mixes (thousands of distinct forms in one bucket): the first
    // MAX_CANDIDATES classes are compared, later ones never meet this answer.
    candidates.truncate(MAX_CANDIDATES);
    for c in candidates {
        if equal(&ans, &reps[c], cfg) {
            by_form.insert(key, c as i64);
            return c as i64;
        }
    }
    let id = reps.len();
    reps.push(ans);
    for b in home {
        buckets.entry(b).or_default().push(id);
    }
    by_form.insert(key, id as i64);
    id as i64
}

/// `a` equals `b` in either direction (a fresh deadline per comparison).
fn equal(a: &Answer, b: &Answer, cfg: &Config) -> bool {
    let one = |x: &Answer, y: &Answer| {
        let deadline = Deadline::after_ms(cfg.budget.timeout_ms);
        let mut cmp = Cmp {
            policy: &cfg.policy,
            ctx: Ctx {
                budget: &cfg.budget,
                deadline,
                steps: 0,
                vars: Vec::new(),
            },
        };
        cmp.answers(x, y).unwrap_or(false)
    };
    one(a, b) || one(b, a)
}

/// The scalar an answer stands for: an expression, `label = value` or an equation chain's last
/// side, or a one-element set.
fn scalar_of(a: &Answer) -> Option<&Expr> {
    match a {
        Answer::Expr(e) => Some(e),
        Answer::Rel(sides, ops)
            if ops.iter().all(|o| *o == RelOp::Eq)
                && (sides.len() > 2 || (sides.len() == 2 && is_label(&sides[0]))) =>
        {
            sides.last()
        }
        Answer::Set(v) | Answer::Union(v) | Answer::List(v) if v.len() == 1 => scalar_of(&v[0]),
        _ => None,
    }
}

/// (buckets to search, buckets to file the answer under).
fn fingerprint(a: &Answer, cfg: &Config) -> (Vec<Bucket>, Vec<Bucket>) {
    match a {
        Answer::Text(t) => {
            let b = vec![Bucket::Exact(format!("t:{t}"))];
            return (b.clone(), b);
        }
        Answer::Choice(c) => {
            let b = vec![Bucket::Exact(format!("c:{c}"))];
            return (b.clone(), b);
        }
        _ => {}
    }
    let Some(e) = scalar_of(a) else {
        return (vec![Bucket::Structured], vec![Bucket::Structured]);
    };
    let mut values = Vec::new();
    if let Some(v) = value(e, cfg) {
        values.push(v);
    }
    if let Expr::Percent(x) = e {
        // `10%` may equal `10` (lenient percent) as well as `0.1`: filed under both.
        if let Some(v) = value(x, cfg) {
            values.push(v);
        }
    }
    if values.is_empty() {
        return (vec![Bucket::Scalar], vec![Bucket::Scalar]);
    }
    let mut look = vec![Bucket::Scalar];
    let mut home = Vec::new();
    for b in values {
        look.extend([b - 1, b, b + 1].map(Bucket::Value));
        home.push(Bucket::Value(b));
    }
    (look, home)
}

/// The bucket of the value at fixed rational points (for free variables), if computable.
fn value(e: &Expr, cfg: &Config) -> Option<i64> {
    let mut vars = Vec::new();
    collect_vars(e, &mut vars);
    let deadline = Deadline::after_ms(cfg.budget.timeout_ms);
    let mut ctx = Ctx {
        budget: &cfg.budget,
        deadline,
        steps: 0,
        vars: vars
            .into_iter()
            .enumerate()
            .map(|(k, v)| {
                let q =
                    BigRational::new(BigInt::from(7 + 4 * k as i64), BigInt::from(3 + k as i64));
                (v, q)
            })
            .collect(),
    };
    let v = eval(e, &mut ctx).ok()?;
    let (re, im) = v.to_c();
    if re.is_finite() {
        return (im.abs() <= 1e-9 * re.abs().max(1.0)).then(|| bucket(re));
    }
    // Beyond f64: an exact rational's magnitude from its bit lengths (eight buckets per bit,
    // numbered past every finite bucket).
    match v {
        Val::Q(q) if !q.is_zero() => {
            let log2 = q.numer().bits() as i64 - q.denom().bits() as i64;
            let k = 10_000_000 + 8 * log2;
            Some(if q.is_negative() { -k } else { k })
        }
        _ => None,
    }
}

/// Log-scale bucket, about 5% wide, signed; 0 for values near zero.
fn bucket(v: f64) -> i64 {
    if v.abs() < 1e-12 {
        return 0;
    }
    let k = (v.abs().log10() * 50.0).floor() as i64 + 1_000_000;
    if v < 0.0 {
        -k
    } else {
        k
    }
}
