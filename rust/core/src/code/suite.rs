//! Test suites: the three ground-truth styles (stdin/stdout, call-based, assert-based) read
//! from their JSON, and the entry-point candidates of assert lists.

use super::json::{self, Json};

/// One test's tests, parsed from the ground truth.
#[derive(Debug, Clone)]
pub enum Suite {
    /// stdin -> expected stdout.
    Stdin(Vec<(String, String)>),
    /// Call `fn_name(*args)`, compare with the expected JSON value.
    Call {
        /// Function or `Solution` method name.
        fn_name: String,
        /// (args, expected) per test.
        cases: Vec<(Vec<Json>, Json)>,
    },
    /// Assert-based: each test is code run after the program.
    Assert {
        /// The function under test (guarded against `__eq__` hacks), when the tests name it.
        entry_point: Option<String>,
        /// Otherwise, the names called in the first assert, in order (`set`, `f` for
        /// `assert set(f(a)) == ...`): the first one the program defines is the entry point; if
        /// it defines none, the asserts run as they are.
        entry_candidates: Vec<String>,
        /// (code, whether to call `check(entry_point)` after it).
        tests: Vec<(String, bool)>,
    },
}

impl Suite {
    /// Number of tests.
    pub fn len(&self) -> usize {
        match self {
            Suite::Stdin(c) => c.len(),
            Suite::Call { cases, .. } => cases.len(),
            Suite::Assert { tests, .. } => tests.len(),
        }
    }

    /// Whether there are no tests.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parse a ground truth (JSON text).
    pub fn parse(text: &str) -> Result<Suite, String> {
        let v = json::parse(text).map_err(|e| format!("tests are not valid JSON: {e}"))?;
        let Json::Obj(m) = v else {
            return Err("tests must be a JSON object".into());
        };
        let text_of = |v: &Json, what: &str| -> Result<String, String> {
            match v {
                Json::Str(s) => Ok(s.clone()),
                Json::Arr(a) => a
                    .iter()
                    .map(|x| match x {
                        Json::Str(s) => Ok(s.clone()),
                        _ => Err(format!("{what} must be a string or a list of strings")),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| v.join("\n")),
                _ => Err(format!("{what} must be a string or a list of strings")),
            }
        };
        if let (Some(Json::Arr(ins)), Some(Json::Arr(outs))) = (m.get("inputs"), m.get("outputs")) {
            if ins.len() != outs.len() {
                return Err(format!(
                    "'inputs' has {} entries but 'outputs' has {}",
                    ins.len(),
                    outs.len()
                ));
            }
            if ins.is_empty() {
                return Err("'inputs' is empty".into());
            }
            if let Some(Json::Str(f)) = m
                .get("fn_name")
                .filter(|f| !matches!(f, Json::Str(s) if s.is_empty()))
            {
                let mut cases = Vec::new();
                for (i, o) in ins.iter().zip(outs) {
                    let args = match i {
                        Json::Arr(a) => a.clone(),
                        Json::Str(s) => s
                            .lines()
                            .filter(|l| !l.trim().is_empty())
                            .map(json::parse)
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| format!("call-based input is not JSON lines: {e}"))?,
                        other => vec![other.clone()],
                    };
                    cases.push((args, o.clone()));
                }
                return Ok(Suite::Call {
                    fn_name: f.clone(),
                    cases,
                });
            }
            let mut cases = Vec::new();
            for (i, o) in ins.iter().zip(outs) {
                cases.push((text_of(i, "each input")?, text_of(o, "each output")?));
            }
            return Ok(Suite::Stdin(cases));
        }
        let entry = match m.get("entry_point") {
            Some(Json::Str(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        if let Some(Json::Str(t)) = m.get("test") {
            let Some(e) = entry else {
                return Err("assert-based tests with 'test' need an 'entry_point'".into());
            };
            return Ok(Suite::Assert {
                entry_point: Some(e),
                entry_candidates: Vec::new(),
                tests: vec![(t.clone(), true)],
            });
        }
        let list = m.get("test_list").or(m.get("asserts"));
        if let Some(Json::Arr(a)) = list {
            let setup = match m.get("test_setup_code") {
                Some(Json::Str(s)) => format!("{s}\n"),
                _ => String::new(),
            };
            let tests = a
                .iter()
                .map(|x| match x {
                    Json::Str(s) => Ok((format!("{setup}{s}"), false)),
                    _ => Err("each assert must be a string".to_string()),
                })
                .collect::<Result<Vec<_>, _>>()?;
            if tests.is_empty() {
                return Err("the assert list is empty".into());
            }
            let entry_candidates = match entry {
                Some(_) => Vec::new(),
                None => tests
                    .first()
                    .map(|(t, _)| called_names(t))
                    .unwrap_or_default(),
            };
            return Ok(Suite::Assert {
                entry_point: entry,
                entry_candidates,
                tests,
            });
        }
        Err(
            "unsupported tests: expected {\"inputs\", \"outputs\"[, \"fn_name\"]}, \
             {\"test\", \"entry_point\"} or {\"test_list\": [asserts]}"
                .into(),
        )
    }
}

/// Names called in the last `assert` line of a test, in order of appearance: identifiers right
/// before `(` that are not attributes (`math.isclose`) or keywords. At most 16.
fn called_names(test: &str) -> Vec<String> {
    let Some(line) = test
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("assert"))
    else {
        return Vec::new();
    };
    let b = line.as_bytes();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < b.len() && out.len() < 16 {
        if b[i].is_ascii_alphabetic() || b[i] == b'_' {
            let st = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let name = &line[st..i];
            let attr = st > 0 && b[st - 1] == b'.';
            let mut j = i;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            let keyword = matches!(
                name,
                "assert" | "not" | "and" | "or" | "in" | "is" | "lambda" | "if" | "else" | "for"
            );
            if b.get(j) == Some(&b'(') && !attr && !keyword && !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        } else if b[i] == b'"' || b[i] == b'\'' {
            // Skip string literals (a call inside a string is not a call).
            let q = b[i];
            i += 1;
            while i < b.len() && b[i] != q {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suites() {
        let s = Suite::parse(r#"{"inputs": ["1 2\n"], "outputs": ["3\n"]}"#).unwrap();
        assert!(matches!(s, Suite::Stdin(ref c) if c.len() == 1));
        let s = Suite::parse(r#"{"inputs": [[1, 2]], "outputs": [3], "fn_name": "add"}"#).unwrap();
        assert!(matches!(s, Suite::Call { ref fn_name, .. } if fn_name == "add"));
        let s = Suite::parse(r#"{"inputs": ["[1]\n2"], "outputs": [3], "fn_name": "f"}"#).unwrap();
        assert!(matches!(s, Suite::Call { ref cases, .. } if cases[0].0.len() == 2));
        let s = Suite::parse(r#"{"test": "def check(c): assert c(1) == 2", "entry_point": "f"}"#)
            .unwrap();
        assert!(
            matches!(s, Suite::Assert { ref entry_point, .. } if entry_point.as_deref() == Some("f"))
        );
        let s =
            Suite::parse(r#"{"test_list": ["assert sq(2) == 4", "assert sq(3) == 9"]}"#).unwrap();
        assert!(
            matches!(s, Suite::Assert { ref entry_point, ref entry_candidates, ref tests } if entry_point.is_none() && entry_candidates == &["sq"] && tests.len() == 2)
        );
        assert!(Suite::parse(r#"{"inputs": ["1"], "outputs": []}"#).is_err());
        assert!(Suite::parse("[1]").is_err());
        assert!(Suite::parse("{").is_err());
        assert!(Suite::parse(r#"{"foo": 1}"#).is_err());
    }

    #[test]
    fn called_names_skip_builtins_attributes_and_strings() {
        assert_eq!(called_names("assert foo(1) == 2"), ["foo"]);
        assert_eq!(called_names("assert (foo(1) == 2)"), ["foo"]);
        assert_eq!(
            called_names("assert set(f(a)) == set([1, 2])"),
            ["set", "f"]
        );
        assert_eq!(called_names("assert math.isclose(f(x), 0.5)"), ["f"]);
        assert_eq!(
            called_names("assert sorted(g(x)) == [1] and 'h(2)' != k(3)"),
            ["sorted", "g", "k"]
        );
    }
}
