//! Output comparison: the stdout cascade (PRIME/APPS compatible, line and whitespace
//! tolerant) and the comparison of call-style results. Numbers compare as exact decimals:
//! `1.0 == 1`, `1e3 == 1000`, `0.50 == 0.5`, but `50000000000000001 != 5e16`.

pub use super::decimal::Decimal;
use super::json::Json;

/// Two output tokens are equal: same text, or both exact decimals of the same value.
pub fn token_eq(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (Decimal::parse(a), Decimal::parse(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Which rule of the cascade accepted an output (for reports and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Equal after stripping leading/trailing whitespace of the whole output.
    Stripped,
    /// Equal line by line after stripping each line and dropping blank lines.
    Lines,
    /// Equal token by token on each line (numbers as exact decimals).
    LineTokens,
    /// Equal token by token ignoring line breaks (numbers as exact decimals).
    Tokens,
}

/// The stdout cascade. `None` means a wrong answer.
pub fn stdout_matches(got: &str, expected: &str) -> Option<Match> {
    let got = got.replace("\r\n", "\n");
    let expected = expected.replace("\r\n", "\n");
    if got.trim() == expected.trim() {
        return Some(Match::Stripped);
    }
    let lines = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    };
    let gl = lines(&got);
    let el = lines(&expected);
    if gl == el {
        return Some(Match::Lines);
    }
    if gl.len() == el.len()
        && gl.iter().zip(&el).all(|(g, e)| {
            let gt: Vec<&str> = g.split_whitespace().collect();
            let et: Vec<&str> = e.split_whitespace().collect();
            gt.len() == et.len() && gt.iter().zip(&et).all(|(a, b)| token_eq(a, b))
        })
    {
        return Some(Match::LineTokens);
    }
    let gt: Vec<&str> = got.split_whitespace().collect();
    let et: Vec<&str> = expected.split_whitespace().collect();
    if gt.len() == et.len() && gt.iter().zip(&et).all(|(a, b)| token_eq(a, b)) {
        return Some(Match::Tokens);
    }
    None
}

/// Exact structural equality of JSON values, numbers as decimals (`NaN` equals nothing).
pub fn json_eq(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Null, Json::Null) => true,
        (Json::Bool(x), Json::Bool(y)) => x == y,
        (Json::Str(x), Json::Str(y)) => x == y,
        (Json::Num(x), Json::Num(y)) => {
            if x == "NaN" || y == "NaN" {
                return false;
            }
            x == y || token_eq(x, y)
        }
        (Json::Arr(x), Json::Arr(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Json::Obj(x), Json::Obj(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => false,
    }
}

/// PRIME's call-based rule: the result equals the expected output, or the expected output is
/// a non-empty list whose first element equals the result.
pub fn call_result_matches(got: &Json, expected: &Json) -> bool {
    if json_eq(got, expected) {
        return true;
    }
    matches!(expected, Json::Arr(v) if !v.is_empty() && json_eq(got, &v[0]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::json::parse;

    #[test]
    fn decimals_are_exact() {
        assert!(token_eq("1.0", "1"));
        assert!(token_eq("1e3", "1000"));
        assert!(token_eq("0.50", ".5") || Decimal::parse(".5").is_none());
        assert!(token_eq("-0", "0"));
        assert!(token_eq("+7", "7"));
        assert!(!token_eq("50000000000000001", "5e16"));
        assert!(!token_eq("50000000000000001", "50000000000000000"));
        assert!(!token_eq("0.1", "0.10000001"));
        assert!(!token_eq("1", "-1"));
        assert!(!token_eq("abc", "ABC"));
        assert!(Decimal::parse("1e9999999999").is_none());
    }

    #[test]
    fn cascade() {
        assert_eq!(stdout_matches("3\n", "3"), Some(Match::Stripped));
        assert_eq!(stdout_matches("1 2 \n\n3\n", "1 2\n3"), Some(Match::Lines));
        assert_eq!(
            stdout_matches("1   2\r\n3", "1 2\n3\n"),
            Some(Match::LineTokens)
        );
        assert_eq!(stdout_matches("1.0 2", "1 2.00"), Some(Match::LineTokens));
        assert_eq!(stdout_matches("1\n2\n3", "1 2 3"), Some(Match::Tokens));
        assert_eq!(stdout_matches("1 2", "2 1"), None);
        assert_eq!(
            stdout_matches("50000000000000001", "50000000000000000"),
            None
        );
        assert_eq!(stdout_matches("", "0"), None);
        assert_eq!(stdout_matches("YES", "yes"), None);
    }

    #[test]
    fn call_results() {
        let p = |s: &str| parse(s).unwrap();
        assert!(call_result_matches(&p("[1,2]"), &p("[1,2]")));
        assert!(call_result_matches(&p("[1,2]"), &p("[[1,2]]")));
        assert!(call_result_matches(&p("3"), &p("[3]")));
        assert!(call_result_matches(&p("1.0"), &p("1")));
        assert!(!call_result_matches(&p("true"), &p("1")));
        assert!(!call_result_matches(&p("NaN"), &p("NaN")));
        assert!(call_result_matches(
            &p(r#"{"a":1,"b":[2]}"#),
            &p(r#"{"b":[2.0],"a":1}"#)
        ));
        assert!(!call_result_matches(&p(r#"{"$set":[1]}"#), &p("[1]")));
        assert!(!call_result_matches(&p("50000000000000001"), &p("5e16")));
    }
}
