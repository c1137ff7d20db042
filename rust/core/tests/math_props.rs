//! Property tests: reformatting invariance and robustness on arbitrary input.

use std::time::{Duration, Instant};

use prime_fast_core::math::{verify, verify_answer, Config, Status};
use proptest::prelude::*;

/// A small expression language rendered both as LaTeX and as plain text.
#[derive(Clone, Debug)]
enum E {
    Int(i64),
    Frac(i64, u64),
    Var(char),
    Add(Box<E>, Box<E>),
    Sub(Box<E>, Box<E>),
    Mul(Box<E>, Box<E>),
    DivInt(Box<E>, u64),
    Pow(Box<E>, u32),
    Sqrt(u32),
}

fn expr() -> impl Strategy<Value = E> {
    let leaf = prop_oneof![
        (-30i64..30).prop_map(E::Int),
        ((-20i64..20), (1u64..12)).prop_map(|(a, b)| E::Frac(a, b)),
        prop_oneof![Just('x'), Just('y'), Just('a')].prop_map(E::Var),
        (2u32..50).prop_map(E::Sqrt),
    ];
    leaf.prop_recursive(3, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| E::Add(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| E::Sub(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| E::Mul(Box::new(a), Box::new(b))),
            (inner.clone(), 1u64..9).prop_map(|(a, k)| E::DivInt(Box::new(a), k)),
            (inner, 0u32..4).prop_map(|(a, k)| E::Pow(Box::new(a), k)),
        ]
    })
}

/// Deterministic style choices from a seed.
struct Style(u64);

impl Style {
    fn pick(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
    fn sp(&mut self) -> &'static str {
        ["", " ", "  ", "\\,", "\\ "][self.pick(5) as usize]
    }
}

fn latex(e: &E, s: &mut Style) -> String {
    let paren = |inner: String, s: &mut Style| {
        if s.pick(2) == 0 {
            format!("({inner})")
        } else {
            format!("\\left({inner}\\right)")
        }
    };
    match e {
        E::Int(n) if *n < 0 => paren(n.to_string(), s),
        E::Int(n) => n.to_string(),
        E::Frac(a, b) => {
            let f = ["\\frac", "\\dfrac", "\\tfrac"][s.pick(3) as usize];
            paren(format!("{f}{{{a}}}{{{b}}}"), s)
        }
        E::Var(c) => c.to_string(),
        E::Add(a, b) => {
            let (l, r) = (latex(a, s), latex(b, s));
            let (s1, s2) = (s.sp(), s.sp());
            paren(format!("{l}{s1}+{s2}{r}"), s)
        }
        E::Sub(a, b) => {
            let l = latex(a, s);
            let r = latex(b, s);
            let r = paren(r, s);
            paren(format!("{l}{}-{}{r}", s.sp(), s.sp()), s)
        }
        E::Mul(a, b) => {
            let l = paren(latex(a, s), s);
            let r = paren(latex(b, s), s);
            let op = ["\\cdot", "\\times", ""][s.pick(3) as usize];
            format!("{l}{}{op}{}{r}", s.sp(), s.sp())
        }
        E::DivInt(a, k) => {
            let f = ["\\frac", "\\dfrac"][s.pick(2) as usize];
            format!("{f}{{{}}}{{{k}}}", latex(a, s))
        }
        E::Pow(a, k) => {
            let base = paren(latex(a, s), s);
            format!("{base}^{{{k}}}")
        }
        E::Sqrt(n) => format!("\\sqrt{{{n}}}"),
    }
}

fn plain(e: &E, s: &mut Style) -> String {
    match e {
        E::Int(n) => format!("({n})"),
        E::Frac(a, b) => format!("({a}/{b})"),
        E::Var(c) => c.to_string(),
        E::Add(a, b) => {
            let sp = ["", " ", "  "];
            let (s1, s2) = (sp[s.pick(3) as usize], sp[s.pick(3) as usize]);
            format!("({}{s1}+{s2}{})", plain(a, s), plain(b, s))
        }
        E::Sub(a, b) => format!("({} - ({}))", plain(a, s), plain(b, s)),
        E::Mul(a, b) => format!("({})*({})", plain(a, s), plain(b, s)),
        E::DivInt(a, k) => format!("(({})/{k})", plain(a, s)),
        E::Pow(a, k) => {
            let op = if s.pick(2) == 0 { "^" } else { "**" };
            format!("({}){op}{k}", plain(a, s))
        }
        E::Sqrt(n) => format!("sqrt({n})"),
    }
}

fn cfg() -> Config {
    let mut c = Config::default();
    // Correctness, not speed: unoptimised test builds on shared machines get room.
    c.budget.timeout_ms = 2000.0;
    c
}

const HANG_BOUND: Duration = Duration::from_secs(5);

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn reformatting_keeps_equality(e in expr(), s1 in any::<u64>(), s2 in any::<u64>()) {
        let a = latex(&e, &mut Style(s1));
        let b = plain(&e, &mut Style(s2));
        let c = latex(&e, &mut Style(s2 ^ 0x9e37));
        let cfg = cfg();
        for (x, y) in [(&a, &b), (&b, &a), (&a, &c)] {
            let v = verify_answer(x, y, &cfg);
            // Division by zero cannot occur (denominators are positive constants), so every
            // rendering must agree.
            prop_assert_eq!(v.status, Status::Correct, "{} vs {}: {:?}", x, y, v);
        }
        // A boxed response is extracted and agrees too.
        let v = verify(&format!("Thus the result is $\\boxed{{{a}}}$."), &b, &cfg);
        prop_assert_eq!(v.status, Status::Correct, "{:?}", v);
    }

    /// Perturbations above the documented resolution of irrational values (relative 1e-11,
    /// docs/VERIFY_MATH.md) are detected: v -> 1.001 v + k/7 changes every value.
    #[test]
    fn perturbed_expressions_differ(e in expr(), s1 in any::<u64>(), k in 1i64..5) {
        let a = latex(&e, &mut Style(s1));
        let b = format!("({}) * 1001/1000 + {k}/7", plain(&e, &mut Style(s1)));
        let v = verify_answer(&a, &b, &cfg());
        prop_assert_eq!(v.status, Status::Incorrect, "{} vs {}: {:?}", a, b, v);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000), gold in "[0-9a-z/\\\\{}()^_.,=+-]{0,40}") {
        let s = String::from_utf8_lossy(&bytes).into_owned();
        let t = Instant::now();
        let v1 = verify(&s, &gold, &Config::default());
        let v2 = verify_answer(&s, &gold, &Config::default());
        let v3 = verify_answer(&gold, &s, &Config::default());
        prop_assert!(t.elapsed() < HANG_BOUND);
        for v in [v1, v2, v3] {
            prop_assert!(!v.reason.contains("caught panic"), "{:?}", v);
        }
    }

    #[test]
    fn latex_soup_never_panics(s in "(\\\\(frac|sqrt|boxed|left|right|pi|infty|cup|le|begin\\{pmatrix\\}|end\\{pmatrix\\}|text)|[0-9xyi{}()\\[\\]^_+*/=<>,.! &%$-]){0,120}",
                               g in "(\\\\(frac|sqrt|pi)|[0-9x{}()^+/-]){0,30}") {
        let t = Instant::now();
        let v1 = verify(&s, &g, &Config::default());
        let v2 = verify_answer(&s, &g, &Config::default());
        let v3 = verify_answer(&s, &s, &Config::default());
        prop_assert!(t.elapsed() < HANG_BOUND);
        for v in [&v1, &v2, &v3] {
            prop_assert!(!v.reason.contains("caught panic"), "{:?}", v);
        }
        // An answer always equals itself unless it cannot be read at all.
        prop_assert!(matches!(v3.status, Status::Correct | Status::Unparseable | Status::GoldUnparseable), "{:?}", v3);
    }
}
