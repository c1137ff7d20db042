//! Exact decimals: the number syntax shared by output tokens and JSON numbers, compared by
//! value (`1.0 == 1`, `1e3 == 1000`) without ever going through `f64`. A leaf module: the
//! comparison cascade ([`super::compare`]) and the JSON reader ([`super::json`]) both use it.

/// An exact decimal: `(-1)^neg * digits * 10^exp`, normalised (no leading or trailing zeros
/// in `digits`; zero is `digits == ""`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    neg: bool,
    digits: String,
    exp: i64,
}

impl Decimal {
    /// Parse `[+-]digits[.digits][(e|E)[+-]digits]`; `None` for anything else.
    pub fn parse(t: &str) -> Option<Decimal> {
        let b = t.as_bytes();
        let mut i = 0;
        let mut neg = false;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            neg = b[i] == b'-';
            i += 1;
        }
        let mut digits = String::new();
        let mut frac_len: i64 = 0;
        let mut seen_digit = false;
        let mut seen_dot = false;
        while i < b.len() {
            match b[i] {
                b'0'..=b'9' => {
                    digits.push(b[i] as char);
                    seen_digit = true;
                    if seen_dot {
                        frac_len += 1;
                    }
                }
                b'.' if !seen_dot => seen_dot = true,
                _ => break,
            }
            i += 1;
        }
        if !seen_digit {
            return None;
        }
        let mut exp: i64 = 0;
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            let mut eneg = false;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                eneg = b[i] == b'-';
                i += 1;
            }
            let st = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if st == i || i - st > 9 {
                return None;
            }
            exp = t[st..i].parse().ok()?;
            if eneg {
                exp = -exp;
            }
        }
        if i != b.len() {
            return None;
        }
        exp -= frac_len;
        let trimmed = digits.trim_start_matches('0');
        let mut d = trimmed.to_string();
        while d.ends_with('0') {
            d.pop();
            exp += 1;
        }
        if d.is_empty() {
            return Some(Decimal {
                neg: false,
                digits: d,
                exp: 0,
            });
        }
        Some(Decimal {
            neg,
            digits: d,
            exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Decimal;

    #[test]
    fn normalises_to_one_form_per_value() {
        let d = |t: &str| Decimal::parse(t).expect("a decimal");
        assert_eq!(d("1.0"), d("1"));
        assert_eq!(d("0.50"), d("5e-1"));
        assert_eq!(d("-0"), d("0.000"));
        assert_eq!(d("1200"), d("12e2"));
        assert_ne!(d("1"), d("-1"));
        for bad in ["", "-", ".", "1e", "1x", "e5", "1e+", "1e1234567890"] {
            assert!(Decimal::parse(bad).is_none(), "{bad:?}");
        }
    }
}
