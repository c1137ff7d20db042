//! End-to-end judging through the real sandbox (bounded: small time limits, few workers).

use prime_fast_core::code::{verify_batch, Item, Limits, Mode, ProgramResult, Status, Suite};

fn limits() -> Limits {
    Limits {
        time: 2.0,
        memory: 256 << 20,
        ..Limits::default()
    }
}

fn run(program: &str, tests: &str, l: &Limits) -> ProgramResult {
    let items = vec![Item {
        program: program.to_string(),
        suite: Suite::parse(tests).expect("valid tests"),
    }];
    let mut r = verify_batch(&items, l, 1, &mut |_, _| true).expect("sandbox available");
    r.remove(0)
}

#[test]
fn stdin_program_passes_and_fails() {
    let l = limits();
    let t = r#"{"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]}"#;
    let r = run("a, b = map(int, input().split())\nprint(a + b)\n", t, &l);
    assert_eq!(r.status, Status::Passed, "{:?}", r.tests);
    assert_eq!(r.score, 1.0);
    assert_eq!(r.isolation, "strict");
    let r = run("a, b = map(int, input().split())\nprint(a * b)\n", t, &l);
    assert_eq!(r.status, Status::WrongAnswer);
    assert_eq!(r.tests[1].status, Status::WrongAnswer);
    assert_eq!(r.score, 0.0);
}

#[test]
fn statuses() {
    let l = Limits {
        time: 1.0,
        ..limits()
    };
    let t = r#"{"inputs": [""], "outputs": [""]}"#;
    assert_eq!(run("def f(:\n", t, &l).status, Status::CompileError);
    assert_eq!(
        run("raise ValueError('x')", t, &l).status,
        Status::RuntimeError
    );
    assert_eq!(run("while True: pass", t, &l).status, Status::Timeout);
    assert_eq!(
        run("import time; time.sleep(30)", t, &l).status,
        Status::Timeout
    );
    assert_eq!(
        run("x = bytearray(1 << 30)", t, &l).status,
        Status::MemoryLimit
    );
    let r = run(
        "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
        t,
        &l,
    );
    assert_eq!(
        (r.status, r.tests[0].signal),
        (Status::RuntimeError, Some(11))
    );
    let r = run(
        "import sys\nwhile True: sys.stdout.write('x' * 65536)",
        t,
        &Limits {
            output: 1 << 20,
            ..l.clone()
        },
    );
    assert_eq!(r.status, Status::OutputLimit);
}

#[test]
fn call_and_assert_styles_with_anti_hack() {
    let l = limits();
    let call = r#"{"inputs": [[1, 2], [3, 4]], "outputs": [3, [7]], "fn_name": "add"}"#;
    assert_eq!(
        run("def add(a, b):\n    return a + b\n", call, &l).status,
        Status::Passed
    );
    let sol = "class Solution:\n    def add(self, a: int, b: int) -> int:\n        return a + b\n";
    assert_eq!(run(sol, call, &l).status, Status::Passed);
    let eq_hack =
        "class A:\n    def __eq__(self, o): return True\ndef add(a, b):\n    return A()\n";
    assert_eq!(run(eq_hack, call, &l).status, Status::WrongAnswer);
    let exit_hack = "import sys\nsys.exit(0)\ndef add(a, b): return 0\n";
    assert_ne!(run(exit_hack, call, &l).status, Status::Passed);
    let he = r#"{"test": "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(3) == 9\n", "entry_point": "sq"}"#;
    assert_eq!(
        run("def sq(x):\n    return x * x\n", he, &l).status,
        Status::Passed
    );
    assert_eq!(
        run("def sq(x):\n    return x + x\n", he, &l).status,
        Status::WrongAnswer
    );
    let he_hack = "class A:\n    def __eq__(self, o): return True\ndef sq(x):\n    return A()\n";
    assert_ne!(run(he_hack, he, &l).status, Status::Passed);
    let early = "import os\nos._exit(0)\ndef sq(x): return 0\n";
    assert_ne!(run(early, he, &l).status, Status::Passed);
    let big = r#"{"inputs": [[]], "outputs": [50000000000000001], "fn_name": "f"}"#;
    assert_eq!(
        run("def f():\n    return 5e16\n", big, &l).status,
        Status::WrongAnswer
    );
    assert_eq!(
        run("def f():\n    return 50000000000000001\n", big, &l).status,
        Status::Passed
    );
}

#[test]
fn per_program_modes_match_per_test() {
    for mode in [Mode::PerProgram, Mode::PerProgramOnce] {
        let l = Limits { mode, ..limits() };
        let t = r#"{"inputs": ["1 2\n", "5 7\n", "0 0\n"], "outputs": ["3\n", "12\n", "0\n"]}"#;
        let r = run("a, b = map(int, input().split())\nprint(a + b)\n", t, &l);
        assert_eq!((r.status, r.passed), (Status::Passed, 3), "{mode:?}");
        let r = run(
            "a, b = map(int, input().split())\nprint(a + b if a else 1)\n",
            t,
            &l,
        );
        assert_eq!((r.status, r.passed), (Status::WrongAnswer, 2), "{mode:?}");
        let r = run("a, b = map(int, input().split())\nprint(a // b)\n", t, &l);
        let got: Vec<Status> = r.tests.iter().map(|x| x.status).collect();
        assert_eq!(
            got,
            [
                Status::WrongAnswer,
                Status::WrongAnswer,
                Status::RuntimeError
            ],
            "{mode:?}"
        );
    }
}

/// A program's own slowness before it runs (here: CPython 3.11 parsing a 3,000,000-digit
/// literal, minutes of quadratic work) is that program's timeout, within its limit plus the
/// kill slack of docs/SANDBOX.md, and the same worker judges the next program as usual.
#[test]
fn slow_to_compile_program_times_out_and_the_worker_goes_on() {
    const KILL_SLACK: f64 = 1.0;
    let slow = format!("x = 1{}\nprint(x % 7)\n", "0".repeat(3_000_000));
    let nested = format!("x = {}1\nprint(1)\n", "-".repeat(200_000));
    let add = "a, b = map(int, input().split())\nprint(a + b)\n";
    let two = r#"{"inputs": ["", ""], "outputs": ["1\n", "1\n"]}"#;
    let adds = r#"{"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]}"#;
    let item = |p: &str, t: &str| Item {
        program: p.to_string(),
        suite: Suite::parse(t).expect("valid tests"),
    };
    let items = vec![
        item(&slow, two),
        item(add, adds),
        item(&nested, two),
        item(add, adds),
    ];
    let l = Limits {
        time: 1.0,
        ..limits()
    };
    let r = verify_batch(&items, &l, 1, &mut |_, _| true).expect("sandbox available");
    let statuses: Vec<Status> = r.iter().map(|p| p.status).collect();
    assert_eq!(
        statuses,
        [
            Status::Timeout,
            Status::Passed,
            Status::CompileError,
            Status::Passed
        ],
        "{:?}",
        r[0].tests
    );
    for t in &r[0].tests {
        assert_eq!(t.status, Status::Timeout);
        assert!(
            t.wall_time >= l.time && t.wall_time < l.time + KILL_SLACK,
            "{t:?}"
        );
    }
}
