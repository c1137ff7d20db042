//! Adversarial inputs: every call returns a verdict (never panics, never hangs) and the heavy
//! ones stop on a named budget or the wall-clock deadline.
//!
//! The time bound asserted here is deliberately loose (unoptimised test builds, shared CI
//! machines): it catches hangs and quadratic blow-ups, not speed. The benchmark measures the
//! real latency of release builds.

use std::time::{Duration, Instant};

use prime_fast_core::math::{verify, verify_answer, Config, Status, Verdict};

const HANG_BOUND: Duration = Duration::from_secs(5);

fn timed(f: impl FnOnce() -> Verdict) -> Verdict {
    let t = Instant::now();
    let v = f();
    let dt = t.elapsed();
    assert!(dt < HANG_BOUND, "took {dt:?}: {v:?}");
    assert!(!v.reason.contains("caught panic"), "{v:?}");
    v
}

fn ans(pred: &str, gold: &str) -> Verdict {
    timed(|| verify_answer(pred, gold, &Config::default()))
}

#[test]
fn huge_power_towers_hit_the_bits_budget() {
    let v = ans("10^{10^{10^{10}}}", "5");
    assert_eq!(v.status, Status::Timeout, "{v:?}");
    assert!(v.reason.contains("max_bits"), "{v:?}");
    let v = ans("2^{2^{2^{2^{2}}}}", "3");
    assert_eq!(v.status, Status::Timeout, "{v:?}");
    let v = ans("9^{9^{9}}", "9^{9^{9}}+1");
    assert_eq!(v.status, Status::Timeout, "{v:?}");
    // Identical strings are equal without evaluation.
    assert_eq!(
        ans("10^{10^{10^{10}}}", "10^{10^{10^{10}}}").status,
        Status::Correct
    );
    // Symbolic with a huge exponent.
    let v = ans("x^{10^{9}}", "x^{10^{9}}+1");
    assert_eq!(v.status, Status::Timeout, "{v:?}");
}

#[test]
fn factorial_of_factorial() {
    let v = ans("(1000!)!", "5");
    assert_eq!(v.status, Status::Timeout, "{v:?}");
    assert!(v.reason.contains("factorial"), "{v:?}");
    let v = ans("\\binom{10^{30}}{10^{15}}", "1");
    assert_eq!(v.status, Status::Timeout, "{v:?}");
}

#[test]
fn hundred_thousand_nested_braces() {
    let deep = format!("{}1{}", "{".repeat(100_000), "}".repeat(100_000));
    let resp = format!("so \\boxed{{{deep}}}");
    let v = timed(|| verify(&resp, "1", &Config::default()));
    assert_eq!(v.status, Status::Unparseable, "{v:?}");
    // With a large answer budget, the depth budget stops the parser.
    let mut cfg = Config::default();
    cfg.budget.max_answer_bytes = 1 << 20;
    let v = timed(|| verify_answer(&deep, "2", &cfg));
    assert!(
        matches!(v.status, Status::Unparseable | Status::Incorrect),
        "{v:?}"
    );
    let parens = format!("{}1{}", "(".repeat(50_000), ")".repeat(50_000));
    let v = timed(|| verify_answer(&parens, "2", &cfg));
    assert_eq!(v.status, Status::Unparseable, "{v:?}");
    assert!(v.reason.contains("max_depth"), "{v:?}");
    // Many unclosed boxes stay linear.
    let unclosed = "\\boxed{".repeat(100_000);
    timed(|| verify(&unclosed, "1", &Config::default()));
}

#[test]
fn one_megabyte_strings() {
    let cfg = Config::default();
    let letters = "a".repeat(1 << 20);
    assert_eq!(
        timed(|| verify(&letters, "1", &cfg)).status,
        Status::Unparseable
    );
    let numbers = "1 ".repeat(1 << 19);
    assert_eq!(
        timed(|| verify(&numbers, "1", &cfg)).status,
        Status::Correct
    );
    let boxed_sum = format!("\\boxed{{{}1}}", "1+".repeat(1 << 19));
    assert_eq!(
        timed(|| verify(&boxed_sum, "1", &cfg)).status,
        Status::Unparseable
    );
    let dollars = "$x$ ".repeat(1 << 18);
    timed(|| verify(&dollars, "1", &cfg));
    let unicode = "π√∞≤".repeat(1 << 16);
    timed(|| verify(&unicode, &unicode, &cfg));
    let mut big = Config::default();
    big.budget.max_answer_bytes = 1 << 21;
    let long_sum = format!("{}1", "1+".repeat(1 << 19));
    let v = timed(|| verify_answer(&long_sum, "5", &big));
    assert_eq!(v.status, Status::Unparseable, "{v:?}");
    assert!(v.reason.contains("max_nodes"), "{v:?}");
}

#[test]
fn nested_fractions_and_sqrt_towers() {
    let mut nested = String::from("2");
    for _ in 0..40 {
        nested = format!("\\frac{{1}}{{1+{nested}}}");
    }
    // Evaluates exactly (a ratio of Fibonacci-like numbers) and differs from 1/2.
    assert_eq!(ans(&nested, "\\frac{1}{2}").status, Status::Incorrect);
    let mut deep = String::from("2");
    for _ in 0..2000 {
        deep = format!("\\frac{{1}}{{{deep}}}");
    }
    let mut cfg = Config::default();
    cfg.budget.max_answer_bytes = 1 << 20;
    let v = timed(|| verify_answer(&deep, "2", &cfg));
    assert_eq!(v.status, Status::Unparseable, "{v:?}");
    let mut tower = String::from("2");
    for _ in 0..20 {
        tower = format!("\\sqrt{{{tower}}}");
    }
    // 2^(1/2^20) = 1 + 6.6e-7: close to 1 but not 1 (irrational values compare in doubles with a
    // 1e-11 relative tolerance, documented in docs/VERIFY_MATH.md).
    assert_eq!(ans(&tower, "1").status, Status::Incorrect);
    assert_eq!(
        ans(&tower, &tower.replace("\\sqrt", "\\sqrt ")).status,
        Status::Correct
    );
}

#[test]
fn deadline_stops_expensive_but_budgeted_work() {
    let mut cfg = Config::default();
    cfg.budget.timeout_ms = 2.0;
    cfg.budget.max_steps = u64::MAX;
    let heavy = vec!["\\frac{3000!}{2999!}"; 60].join("+");
    let t = Instant::now();
    let v = verify_answer(&heavy, "1", &cfg);
    let dt = t.elapsed();
    assert_eq!(v.status, Status::Timeout, "{v:?}");
    assert!(v.reason.contains("deadline"), "{v:?}");
    assert!(dt < HANG_BOUND, "{dt:?}");
    // Large sets compare in quadratic time: the deadline ends that too.
    let set: Vec<String> = (0..900).map(|i| format!("\\sqrt{{{i}}}")).collect();
    let mut rev = set.clone();
    rev.reverse();
    let a = format!("\\{{{}\\}}", set.join(","));
    let b = format!("\\{{{}\\}}", rev.join(","));
    cfg.budget.max_answer_bytes = 1 << 20;
    cfg.budget.max_nodes = 1 << 20;
    let v = timed(|| verify_answer(&a, &b, &cfg));
    assert_eq!(v.status, Status::Timeout, "{v:?}");
}

#[test]
fn long_operator_chains_are_bounded() {
    // Each of these would nest the AST (or the parser's recursion) 100k deep without the
    // depth budget, and overflow the stack, which no `catch_unwind` can turn into a verdict.
    let mut cfg = Config::default();
    cfg.budget.max_answer_bytes = 1 << 22;
    cfg.budget.max_nodes = 1 << 22;
    let n = 100_000;
    let cases = [
        format!("{}1", "+".repeat(n)),
        format!("{}1", "-".repeat(n)),
        format!("2^{}1", "-".repeat(n)),
        format!("{}x", "\\sin ".repeat(n)),
        format!("{}2", "\\sqrt".repeat(n)),
        format!("3{}", "!".repeat(n)),
        format!("3{}", "%".repeat(n)),
        format!("1{}", "/2".repeat(n)),
        format!("1{}", "^2".repeat(n)),
        format!("{}1", "\\frac1".repeat(n)),
        format!("{}x{}", "\\log_{2}(".repeat(n), ")".repeat(n)),
        format!("{}1", "|".repeat(n)),
        format!("{}{}", "\\{".repeat(n), "\\}".repeat(n)),
        format!("{}1{}", "[".repeat(n), "]".repeat(n)),
    ];
    for s in &cases {
        let v = timed(|| verify_answer(s, "2", &cfg));
        // `+++...+1` is 1 and some chains are values; what matters is a verdict, no overflow.
        assert_ne!(
            v.status,
            Status::Correct,
            "{}...: {:?} {}",
            &s[..20],
            v.status,
            v.reason
        );
    }
}

#[test]
fn odd_bytes_and_empty_inputs() {
    for s in [
        "",
        " ",
        "\\",
        "{",
        "}",
        "$$",
        "\\boxed{}",
        "\\frac{",
        "^^^",
        "1/0",
        "0/0",
        "\\sqrt{-1}^{\\infty}",
        "\u{0}",
        "\u{FEFF}5",
    ] {
        timed(|| verify(s, "1", &Config::default()));
        timed(|| verify_answer(s, s, &Config::default()));
        timed(|| verify_answer("1", s, &Config::default()));
    }
    assert_eq!(ans("1/0", "1/0").status, Status::Correct);
    assert_eq!(ans("1/0", "2/0").status, Status::Incorrect);
}

#[test]
fn deepest_allowed_nesting_fits_the_stack() {
    // The largest depth a caller can configure, on a thread with the usual 8 MiB stack (Linux
    // main threads and Python threads), in an unoptimised build (bigger frames than release).
    let mut cfg = Config::default();
    cfg.set(
        "max_depth",
        &prime_fast_core::math::ConfigValue::Int(1_000_000),
    )
    .expect("valid");
    assert_eq!(cfg.budget.max_depth, 500);
    cfg.budget.max_answer_bytes = 1 << 20;
    cfg.budget.max_nodes = 1 << 20;
    let nested = format!("{}1{}", "(".repeat(495), ")".repeat(495));
    let fracs = format!("{}1{}", "\\frac{1}{".repeat(160), "}".repeat(160));
    let handle = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let a = verify_answer(&nested, "1", &cfg).status;
            let b = verify_answer(&fracs, "1", &cfg).status;
            (a, b)
        })
        .expect("spawn");
    let (a, b) = handle.join().expect("no stack overflow");
    assert_ne!(a, Status::Timeout);
    assert_ne!(b, Status::Timeout);
}

/// Inputs aimed at the rules added for issue 12: each still returns a verdict quickly.
#[test]
fn new_rules_stay_bounded() {
    let mb = 1 << 20;
    let cases: Vec<(String, &str)> = vec![
        // clock times and ratios
        (":".repeat(mb), "1"),
        ("1:".repeat(mb / 2) + "1", "1:1"),
        (format!("{}:00 P.M.", "1".repeat(mb)), "14:00"),
        // doubly escaped backslashes
        ("\\\\".repeat(mb / 2), "1"),
        (format!("{}frac12", "\\\\".repeat(mb / 4)), "0.5"),
        // glued connectives and approximations
        ("1or".repeat(mb / 3) + "1", "1"),
        ("x = 1 \\approx ".repeat(mb / 16), "1"),
        // many boxes joined by connectives
        ("\\boxed{1} and ".repeat(mb / 16), "1"),
        (
            "\\boxed{1} cats and \\boxed{2} dogs ".repeat(mb / 40),
            "1, 2",
        ),
        // answers after words, display math that never closes
        ("Answer $".to_string() + &"1 ".repeat(mb / 2), "1"),
        ("Answer \\[".to_string() + &"\n".repeat(mb), "1"),
        // matrices in text and matrix arithmetic
        ("\\begin{pmatrix}".repeat(mb / 16), "1"),
        (
            format!(
                "$ {} $",
                ["\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"; 9].join(" ")
            ),
            "1",
        ),
        // labelled answers and groups
        ("p=1,q=2;".repeat(mb / 8), "(1,2)"),
        (format!("{}=1", "S_{A}:".repeat(mb / 8)), "1"),
        ("|x|<".repeat(mb / 4) + "1", "(-1,1)"),
        ("\\zzz^".repeat(mb / 6) + "2", "1"),
    ];
    for (resp, gold) in &cases {
        // A verdict within the bound, no panic (checked by `timed`); bare answers this long are
        // over `max_answer_bytes`.
        timed(|| verify(resp, gold, &Config::default()));
        let v = timed(|| verify_answer(resp, gold, &Config::default()));
        assert_ne!(
            v.status,
            Status::Correct,
            "{:?}: {v:?}",
            &resp[..40.min(resp.len())]
        );
    }
}

/// Grouping stays bounded on hostile mixes.
#[test]
fn grouping_is_bounded() {
    use prime_fast_core::math::group_equivalent;
    let mut answers: Vec<String> = (0..2000)
        .map(|k| format!("\\boxed{{x^{{{k}}} + {k}}}"))
        .collect();
    answers.push("\\boxed{".repeat(10_000));
    answers.push("\u{0}\u{ff}".repeat(10_000));
    let t = Instant::now();
    let ids = group_equivalent(&answers, &Config::default(), true);
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert_eq!(ids.len(), answers.len());
    assert_eq!(ids[0], 0);
}

/// Issue 24 paths: factorial / binomial / gamma / `log(x, b)` / `\choose` nesting, Greek-name
/// sums, sign-normalised huge powers and branch probes stay bounded.
#[test]
fn cas_paths_stay_bounded() {
    let nest = |open: &str, close: &str, n: usize, inner: &str| {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    };
    let hostile: Vec<(String, String)> = vec![
        ("factorial(10^9)".into(), "5".into()),
        ("binomial(10^6, 5*10^5)".into(), "3".into()),
        ("gamma(10^9)".into(), "2".into()),
        ("factorial(factorial(factorial(20)))".into(), "1".into()),
        (nest("factorial(", ")", 150, "n"), "n".into()),
        (nest("binomial(", ", 2)", 150, "n"), "n".into()),
        (nest("gamma(", ")", 150, "3"), "2".into()),
        (nest("log(", ", 2)", 150, "x"), "x".into()),
        (nest("{", " \\choose 2}", 150, "n"), "n".into()),
        (vec!["beta"; 1500].join(" + "), "1499*beta".into()),
        (vec!["theta_1"; 900].join(" * "), "theta_1^899".into()),
        (
            "(x-y)^{10^{10^{10}}}".into(),
            "(y-x)^{10^{10^{10}}}+1".into(),
        ),
        ("(x-y)^{10^{100}} + 1".into(), "(y-x)^{10^{100}}".into()),
        ("((((a^b)^c)^d)^f)^g".into(), "a^{bcdfg}".into()),
        // rational-function forms at their limits
        ("(a+b+c+d)^{16}".into(), "(d+c+b+a)^{16}+1".into()),
        (
            "(a+b+c)^{16}(a-b-c)^{16}".into(),
            "(a+b+c)^{16}(a-b-c)^{16}+1".into(),
        ),
        (
            (0..60)
                .map(|k| format!("\\frac{{1}}{{x_{{{k}}}+1}}"))
                .collect::<Vec<_>>()
                .join("+"),
            "1".into(),
        ),
        (
            (0..40)
                .map(|k| format!("binomial(n_{k}, k_{k})"))
                .collect::<Vec<_>>()
                .join("+"),
            (0..40)
                .map(|k| format!("binomial(n_{k}+1, k_{k})"))
                .collect::<Vec<_>>()
                .join("+"),
        ),
    ];
    for (p, g) in &hostile {
        let v = timed(|| verify_answer(p, g, &Config::default()));
        assert_ne!(
            v.status,
            Status::Correct,
            "{:?}: {v:?}",
            &p[..40.min(p.len())]
        );
    }
    // Sign-normalised huge powers are equal without evaluation.
    let v = timed(|| verify_answer("(x-y)^{10^{100}}", "(y-x)^{10^{100}}", &Config::default()));
    assert_eq!(v.status, Status::Correct, "{v:?}");
}
