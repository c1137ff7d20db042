//! Table-driven normalisation of an extracted answer. Each rule has a name, is applied in table
//! order and is tested on its own (`apply_rule`). All rules are linear or near-linear in the input.

use super::policy::{DecimalComma, Policy};

/// A rule: returns the rewritten string, or an error that makes the answer unparseable.
type RuleFn = fn(&str, &Policy) -> Result<String, String>;

/// One named normalisation rule.
pub struct Rule {
    /// Stable name (documented in `docs/VERIFY_MATH.md`).
    pub name: &'static str,
    /// The rewrite.
    pub apply: RuleFn,
}

/// The rules, in the order they run.
pub const RULES: &[Rule] = &[
    rule("double_escape", double_escape),
    rule("math_delimiters", math_delimiters),
    rule("unicode", unicode),
    rule("text_units", text_units),
    rule("text_wrappers", text_wrappers),
    rule("left_right", left_right),
    rule("frac_variants", frac_variants),
    rule("frac_shorthand", frac_shorthand),
    rule("spacing", spacing),
    rule("clock_time", clock_time),
    rule("degrees", degrees),
    rule("currency", currency),
    rule("percent_words", percent_words),
    rule("approx_tail", approx_tail),
    rule("connectives", connectives),
    rule("units", units),
    rule("decimal_comma", decimal_comma),
    rule("thousands", thousands),
    rule("repeating_decimal", repeating_decimal),
    rule("mixed_numbers", mixed_numbers),
    rule("scientific", scientific),
    rule("base_subscript", base_subscript),
    rule("tidy", tidy),
];

const fn rule(name: &'static str, apply: RuleFn) -> Rule {
    Rule { name, apply }
}

/// Run every rule in order.
pub fn normalize(s: &str, policy: &Policy) -> Result<String, String> {
    let mut cur = s.to_string();
    for r in RULES {
        cur = (r.apply)(&cur, policy)?;
    }
    Ok(cur)
}

/// Run one rule by name (for tests and docs); `None` if the name is unknown.
pub fn apply_rule(name: &str, s: &str, policy: &Policy) -> Option<Result<String, String>> {
    RULES
        .iter()
        .find(|r| r.name == name)
        .map(|r| (r.apply)(s, policy))
}

/// Unit words stripped after a number (`units` policy). Single letters only inside `\text{}`.
pub const UNIT_WORDS: &[&str] = &[
    "centimeters",
    "centimeter",
    "centimetres",
    "centimetre",
    "millimeters",
    "millimeter",
    "kilometers",
    "kilometer",
    "meters",
    "meter",
    "metres",
    "metre",
    "inches",
    "inch",
    "feet",
    "foot",
    "ft",
    "yards",
    "yard",
    "yd",
    "miles",
    "mile",
    "mph",
    "cm",
    "mm",
    "km",
    "kilograms",
    "kilogram",
    "kg",
    "grams",
    "gram",
    "mg",
    "pounds",
    "pound",
    "lbs",
    "lb",
    "ounces",
    "ounce",
    "oz",
    "liters",
    "liter",
    "litres",
    "litre",
    "ml",
    "gallons",
    "gallon",
    "seconds",
    "second",
    "sec",
    "minutes",
    "minute",
    "min",
    "hours",
    "hour",
    "hrs",
    "hr",
    "days",
    "day",
    "weeks",
    "week",
    "months",
    "month",
    "years",
    "year",
    "degrees",
    "degree",
    "deg",
    "radians",
    "radian",
    "dollars",
    "dollar",
    "cents",
    "cent",
    "units",
    "unit",
    "square",
    "sq",
    "cubic",
    "ways",
    "people",
    "students",
    "persons",
    "times",
];

/// Single-letter units, stripped only when they sit alone inside `\text{}`.
const UNIT_LETTERS: &[&str] = &["m", "s", "g", "h", "l", "in", "km", "cm", "mm", "kmh", "ms"];

/// JSON-escaped LaTeX (`\\dfrac{1}{3}`): when every run of backslashes has even length and one
/// of them starts a command, halve every run (`\\\\` row separators become `\\`). Otherwise a
/// `\\` right before a well-known command name (`\\frac`, `\\sqrt`) is halved alone.
fn double_escape(s: &str, _: &Policy) -> Result<String, String> {
    if !s.contains("\\\\") {
        return Ok(s.to_string());
    }
    let all_even = double_escape_all(s);
    if all_even.is_some() {
        return Ok(all_even.unwrap_or_default());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(k) = rest.find("\\\\") {
        out.push_str(&rest[..k]);
        let after = &rest[k + 2..];
        let name_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let single = k == 0 || rest.as_bytes()[k - 1] != b'\\';
        if single && !after.starts_with('\\') && KNOWN_COMMANDS.contains(&&after[..name_len]) {
            out.push('\\');
        } else {
            out.push_str("\\\\");
        }
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// Commands whose doubled backslash is an escaping slip, never a row break.
const KNOWN_COMMANDS: &[&str] = &[
    "frac",
    "dfrac",
    "tfrac",
    "cfrac",
    "sqrt",
    "left",
    "right",
    "begin",
    "end",
    "text",
    "textbf",
    "mathrm",
    "mathbf",
    "boxed",
    "pi",
    "cdot",
    "times",
    "div",
    "infty",
    "le",
    "ge",
    "leq",
    "geq",
    "neq",
    "ne",
    "pm",
    "mp",
    "approx",
    "sin",
    "cos",
    "tan",
    "cot",
    "sec",
    "csc",
    "log",
    "ln",
    "exp",
    "circ",
    "theta",
    "alpha",
    "beta",
    "gamma",
    "cup",
    "cap",
    "in",
    "emptyset",
    "varnothing",
    "quad",
    "qquad",
    "binom",
    "dbinom",
    "overline",
    "angle",
    "triangle",
    "sqrt",
];

/// Halve every backslash run when all have even length and one starts a command.
fn double_escape_all(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let (mut i, mut command) = (0, false);
    while i < b.len() {
        if b[i] == b'\\' {
            let st = i;
            while i < b.len() && b[i] == b'\\' {
                i += 1;
            }
            if (i - st) % 2 == 1 {
                return None;
            }
            command |= i - st == 2
                && b.get(i).is_some_and(|c| {
                    c.is_ascii_alphabetic()
                        || matches!(
                            c,
                            b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'%' | b'$' | b','
                        )
                });
        } else {
            i += 1;
        }
    }
    if !command {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut run = 0usize;
    for c in s.chars() {
        if c == '\\' {
            run += 1;
            if run % 2 == 1 {
                out.push('\\');
            }
        } else {
            run = 0;
            out.push(c);
        }
    }
    Some(out)
}

/// A whole answer that is a clock time with seconds or an AM/PM marker (`14:05:00`,
/// `02:05 P.M.`) becomes `H:MM` on the 24-hour clock (seconds kept only when non-zero); a bare
/// `a:b` is left alone (it may be a ratio).
fn clock_time(s: &str, _: &Policy) -> Result<String, String> {
    let t = s.trim();
    if !t.contains(':') || t.len() > 24 {
        return Ok(s.to_string());
    }
    let low: String = t
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.')
        .collect();
    let (body, pm) = if let Some(b) = low.strip_suffix("pm") {
        (b, Some(true))
    } else if let Some(b) = low.strip_suffix("am") {
        (b, Some(false))
    } else {
        (low.as_str(), None)
    };
    let parts: Vec<&str> = body.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || !parts.iter().all(|p| is_digits(p))
        || parts[0].len() > 2
        || parts[1..].iter().any(|p| p.len() != 2)
        || (parts.len() == 2 && pm.is_none())
    {
        return Ok(s.to_string());
    }
    let num = |p: &str| p.parse::<u32>().unwrap_or(99);
    let (mut h, m) = (num(parts[0]), num(parts[1]));
    let sec = parts.get(2).map_or(0, |p| num(p));
    if m > 59 || sec > 59 || h > 24 {
        return Ok(s.to_string());
    }
    if let Some(pm) = pm {
        if !(1..=12).contains(&h) {
            return Ok(s.to_string());
        }
        h = match (pm, h) {
            (false, 12) => 0,
            (true, 12) => 12,
            (true, h) => h + 12,
            (false, h) => h,
        };
    }
    Ok(if sec == 0 {
        format!("{h}:{m:02}")
    } else {
        format!("{h}:{m:02}:{sec:02}")
    })
}

/// `x = 1 + 1 = 2 \approx 2.0`: the approximation is dropped (the last exact value before it is
/// the answer); a leading `\approx` is just removed.
fn approx_tail(s: &str, _: &Policy) -> Result<String, String> {
    let Some(pos) = find_cmd(s, "\\approx") else {
        return Ok(s.to_string());
    };
    let head = s[..pos].trim();
    let rest = &s[pos + 7..];
    if head.is_empty() || head.ends_with(['=', '(', '[', ',']) {
        return Ok(format!("{}{rest}", &s[..pos]));
    }
    // `x \approx 3.14`: a bare label before it, so the approximation is the only value.
    let label = head.len() <= 12
        && head
            .chars()
            .all(|c| c.is_ascii_alphabetic() || matches!(c, '_' | '{' | '}' | '\'' | '(' | ')'))
        && head.chars().any(|c| c.is_ascii_alphabetic());
    if label {
        return Ok(format!("{head} = {}", rest.trim()));
    }
    Ok(head.to_string())
}

/// Byte offset of the command `name` (not followed by a letter).
fn find_cmd(s: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(rel) = s[from..].find(name) {
        let pos = from + rel;
        if !s
            .as_bytes()
            .get(pos + name.len())
            .is_some_and(|c| c.is_ascii_alphabetic())
        {
            return Some(pos);
        }
        from = pos + name.len();
    }
    None
}

fn math_delimiters(s: &str, _: &Policy) -> Result<String, String> {
    let mut out = s.replace("\\displaystyle", "").replace("\\$", "");
    for d in ["\\(", "\\)", "\\[", "\\]", "$"] {
        if out.contains(d) {
            out = out.replace(d, "");
        }
    }
    // A stray `\boxed{...}` wrapper left in a gold answer (an unclosed one runs to the end).
    let t = out.trim();
    if let Some(rest) = t.strip_prefix("\\boxed{") {
        out = match group_at(t, 6) {
            Some((inner, end)) if end == t.len() => inner.to_string(),
            None => rest.to_string(),
            Some(_) => out.clone(),
        };
    }
    Ok(out)
}

fn unicode(s: &str, _: &Policy) -> Result<String, String> {
    if s.is_ascii() {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '√' => out.push_str("\\sqrt"),
            'π' => out.push_str("\\pi "),
            '≤' | '⩽' => out.push_str("\\le "),
            '≥' | '⩾' => out.push_str("\\ge "),
            '≠' => out.push_str("\\ne "),
            '∞' => out.push_str("\\infty "),
            '−' | '–' | '—' => out.push('-'),
            '×' => out.push_str("\\times "),
            '·' | '⋅' => out.push_str("\\cdot "),
            '÷' => out.push('/'),
            '∪' => out.push_str("\\cup "),
            '±' => out.push_str("\\pm "),
            '°' => out.push_str("^\\circ "),
            '²' => out.push_str("^2"),
            '³' => out.push_str("^3"),
            '½' => out.push_str("\\frac{1}{2}"),
            '¼' => out.push_str("\\frac{1}{4}"),
            '¾' => out.push_str("\\frac{3}{4}"),
            'θ' => out.push_str("\\theta "),
            '≈' => out.push_str("\\approx "),
            '∅' => out.push_str("\\emptyset "),
            '\u{2009}' | '\u{202F}' | '\u{00A0}' | '\u{2007}' | '\u{200A}' => out.push_str("\\,"),
            '\u{200B}' | '\u{FEFF}' => {}
            _ => match greek_name(c) {
                Some(name) => {
                    out.push('\\');
                    out.push_str(name);
                    out.push(' ');
                }
                None => out.push(c),
            },
        }
    }
    Ok(out)
}

/// The LaTeX name of a Greek letter (`α` → `alpha`), so that `α`, `\\alpha` and plain `alpha`
/// are one symbol.
fn greek_name(c: char) -> Option<&'static str> {
    Some(match c {
        'α' => "alpha",
        'β' => "beta",
        'γ' => "gamma",
        'δ' => "delta",
        'ε' | 'ϵ' => "epsilon",
        'ζ' => "zeta",
        'η' => "eta",
        'ι' => "iota",
        'κ' => "kappa",
        'λ' => "lambda",
        'μ' => "mu",
        'ν' => "nu",
        'ξ' => "xi",
        'ρ' => "rho",
        'σ' => "sigma",
        'τ' => "tau",
        'υ' => "upsilon",
        'φ' | 'ϕ' => "phi",
        'χ' => "chi",
        'ψ' => "psi",
        'ω' => "omega",
        'Γ' => "Gamma",
        'Δ' => "Delta",
        'Θ' => "Theta",
        'Λ' => "Lambda",
        'Ξ' => "Xi",
        'Σ' => "Sigma",
        'Φ' => "Phi",
        'Ψ' => "Psi",
        'Ω' => "Omega",
        _ => return None,
    })
}

/// Brace-matched content of the group opening at byte `open` and the index after it.
fn group_at(s: &str, open: usize) -> Option<(&str, usize)> {
    let b = s.as_bytes();
    if b.get(open) != Some(&b'{') {
        return None;
    }
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                i += 2;
                continue;
            }
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some((&s[open + 1..i], i + 1));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn is_unit_phrase(content: &str) -> bool {
    let c = content.trim().to_ascii_lowercase();
    let c = c.trim_end_matches(['.', ',']);
    !c.is_empty()
        && c.split(|ch: char| {
            ch.is_whitespace()
                || ch == '^'
                || ch == '/'
                || ch.is_ascii_digit()
                || ch == '{'
                || ch == '}'
        })
        .filter(|w| !w.is_empty())
        .all(|w| UNIT_WORDS.contains(&w) || UNIT_LETTERS.contains(&w))
}

/// Words after a number inside `\text{}` that annotate it (`17\text{ apples in total}`): letters,
/// spaces and hyphens only, and not a connective (`and`, `or`) or a clock marker (`P.M.`).
fn is_annotation(content: &str) -> bool {
    let c = content.trim().to_ascii_lowercase();
    let words: Vec<&str> = c.split_whitespace().collect();
    !words.is_empty()
        && c.chars()
            .all(|ch| ch.is_ascii_alphabetic() || matches!(ch, ' ' | '-'))
        && !words
            .iter()
            .any(|w| matches!(*w, "and" | "or" | "nor" | "to" | "am" | "pm" | "i" | "e"))
}

fn text_units(s: &str, p: &Policy) -> Result<String, String> {
    if !p.units {
        return Ok(s.to_string());
    }
    let mut out = s.trim_end().to_string();
    loop {
        let mut changed = false;
        for cmd in [
            "\\text{",
            "\\mbox{",
            "\\mathrm{",
            "\\textrm{",
            "\\textnormal{",
        ] {
            if let Some(pos) = out.rfind(cmd) {
                let open = pos + cmd.len() - 1;
                if let Some((content, end)) = group_at(&out, open) {
                    let rest = out[end..].trim();
                    let rest_is_power = rest.is_empty() || rest.starts_with('^');
                    let after_number = out[..pos]
                        .trim_end()
                        .ends_with(|c: char| c.is_ascii_digit());
                    let drop = is_unit_phrase(content)
                        || (rest.is_empty() && after_number && is_annotation(content));
                    if rest_is_power && pos > 0 && drop {
                        let power_len = if rest.starts_with('^') {
                            out.len() - end
                        } else {
                            0
                        };
                        if power_len == 0 || out[end..].trim().len() <= 4 {
                            out.truncate(pos);
                            out = out.trim_end().to_string();
                            changed = true;
                        }
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    Ok(out)
}

const WRAPPERS: &[&str] = &[
    "text",
    "textbf",
    "textit",
    "textrm",
    "textnormal",
    "textsf",
    "texttt",
    "mathrm",
    "mathbf",
    "mathit",
    "mathsf",
    "mathtt",
    "mbox",
    "hbox",
    "operatorname",
    "boldsymbol",
    "bm",
    "mathnormal",
];

fn text_wrappers(s: &str, _: &Policy) -> Result<String, String> {
    if !s.contains('\\') {
        return Ok(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut stack: Vec<bool> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_alphabetic() {
                j += 1;
            }
            let name = &s[i + 1..j];
            if j > i + 1 && WRAPPERS.contains(&name) {
                let mut k = j;
                while k < b.len() && b[k] == b' ' {
                    k += 1;
                }
                if k < b.len() && b[k] == b'{' {
                    stack.push(true);
                    i = k + 1;
                    continue;
                }
            }
            if j == i + 1 {
                // `\{`, `\}`, `\\` etc.: copy two bytes (or one at the end).
                let end = (i + 2).min(b.len());
                let end = if s.is_char_boundary(end) { end } else { i + 1 };
                out.push_str(&s[i..end]);
                i = end;
            } else {
                out.push_str(&s[i..j]);
                i = j;
            }
            continue;
        }
        match c {
            b'{' => {
                stack.push(false);
                out.push('{');
            }
            b'}' => {
                if !stack.pop().unwrap_or(false) {
                    out.push('}');
                }
            }
            _ => {
                let ch_len = utf8_len(c);
                let end = (i + ch_len).min(b.len());
                out.push_str(&s[i..end]);
                i = end;
                continue;
            }
        }
        i += 1;
    }
    Ok(out)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// Remove a LaTeX command `\name` when it is not followed by a letter (so `\le` does not eat
/// `\left`).
fn remove_cmd(s: &str, name: &str, with: &str) -> String {
    if !s.contains(name) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find(name) {
        let after = &rest[pos + name.len()..];
        if after
            .as_bytes()
            .first()
            .is_some_and(|c| c.is_ascii_alphabetic())
        {
            out.push_str(&rest[..pos + name.len()]);
        } else {
            out.push_str(&rest[..pos]);
            out.push_str(with);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

fn left_right(s: &str, _: &Policy) -> Result<String, String> {
    let mut out = s.replace("\\left.", "").replace("\\right.", "");
    for c in [
        "\\left", "\\right", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\biggl", "\\biggr", "\\big",
        "\\Big", "\\bigg", "\\Bigg",
    ] {
        out = remove_cmd(&out, c, "");
    }
    Ok(out)
}

fn frac_variants(s: &str, _: &Policy) -> Result<String, String> {
    let mut out = s.to_string();
    for v in ["\\dfrac", "\\tfrac", "\\cfrac"] {
        out = remove_cmd(&out, v, "\\frac");
    }
    for v in ["\\dbinom", "\\tbinom"] {
        out = remove_cmd(&out, v, "\\binom");
    }
    Ok(out)
}

fn spacing(s: &str, _: &Policy) -> Result<String, String> {
    // Row separators `\\` must survive the removal of `\ ` and friends.
    let parts: Vec<String> = s.split("\\\\").map(spacing_part).collect();
    Ok(parts.join("\\\\"))
}

fn spacing_part(s: &str) -> String {
    // `12,\! 345` (MATH's thousands separator) becomes the explicit marker `{,}`.
    let mut out = s
        .replace(",\\!", "{,}")
        .replace("\\!", "")
        .replace("\\,", "")
        .replace("\\;", "")
        .replace("\\:", "")
        .replace("\\>", "");
    out = out
        .replace("\\ ", " ")
        .replace('~', " ")
        .replace(['\n', '\t', '\r'], " ");
    for c in ["\\qquad", "\\quad", "\\limits", "\\nolimits"] {
        out = remove_cmd(&out, c, " ");
    }
    out
}

fn degrees(s: &str, _: &Policy) -> Result<String, String> {
    // Inside a trigonometric function a degree sign means pi/180 (`\sin(90^\circ - x)`).
    if s.contains("\\circ") && TRIG.iter().any(|f| find_cmd(s, f).is_some()) {
        let mut out = s
            .replace("^{\\circ}", "(\\pi/180)")
            .replace("^\\circ", "(\\pi/180)");
        out = remove_cmd(&out, "\\circ", "(\\pi/180)");
        return Ok(out);
    }
    let mut out = s
        .replace("^{\\circ}", "")
        .replace("^\\circ", "")
        .replace("{}^\\circ", "");
    out = remove_cmd(&out, "\\circ", "");
    out = remove_cmd(&out, "\\degree", "");
    Ok(out)
}

const TRIG: &[&str] = &["\\sin", "\\cos", "\\tan", "\\cot", "\\sec", "\\csc"];

fn currency(s: &str, _: &Policy) -> Result<String, String> {
    Ok(s.replace("\\$", "").replace("€", "").replace("£", ""))
}

fn percent_words(s: &str, _: &Policy) -> Result<String, String> {
    let mut out = s.replace("\\%", "%");
    for w in [
        " percentage",
        "percentage",
        " per cent",
        " percent",
        "percent",
        " pct",
    ] {
        if out.trim_end().ends_with(w) {
            let t = out.trim_end();
            out = format!("{}%", &t[..t.len() - w.len()]);
            break;
        }
    }
    Ok(out)
}

fn connectives(s: &str, _: &Policy) -> Result<String, String> {
    let mut out = s
        .replace(" and ", ", ")
        .replace(" or ", ", ")
        .replace("\\text{and}", ",");
    // `(11,7)or(7,11)`, `W(x)=1orW(x)=-1`: a connective glued between two answers.
    out = glued_connectives(&out);
    out = out.replace(",,", ",");
    for w in ["infinity", "\\infinity"] {
        if out.contains(w) {
            out = out.replace(w, "\\infty ");
        }
    }
    out = out.replace("\\approx", "=").replace("\\equiv", "=");
    // Set-builder notation `\{x \mid x > 2\}`, `\{x : x > 2\}`: the condition.
    out = set_builder(&out);
    // `x \in [1, 2]` -> `[1, 2]`
    let t = out.trim_start();
    if let Some(pos) = t.find("\\in") {
        let head = t[..pos].trim();
        let after = &t[pos + 3..];
        let is_cmd_end = !after
            .as_bytes()
            .first()
            .is_some_and(|c| c.is_ascii_alphabetic());
        if is_cmd_end
            && !head.is_empty()
            && head.len() <= 3
            && head.chars().all(|c| c.is_ascii_alphabetic())
        {
            out = after.trim().to_string();
        }
    }
    Ok(out)
}

/// `\{ x \mid COND \}` (also `|`, `:`) around the whole answer -> `COND`.
fn set_builder(s: &str) -> String {
    let t = s.trim();
    let Some(inner) = t.strip_prefix("\\{").and_then(|r| r.strip_suffix("\\}")) else {
        return s.to_string();
    };
    for sep in ["\\mid", "|", ":"] {
        if let Some((var, cond)) = inner.split_once(sep) {
            let var = var.trim();
            let name = var.len() <= 8
                && !var.is_empty()
                && var.chars().all(|c| {
                    c.is_ascii_alphabetic() || matches!(c, '_' | '{' | '}' | '(' | ')' | ',')
                });
            if name && !cond.trim().is_empty() {
                return cond.trim().to_string();
            }
        }
    }
    s.to_string()
}

/// `or`/`and` with no spaces, after a digit or `)` and before `(`, a digit, a capital, `-` or `\`.
fn glued_connectives(s: &str) -> String {
    if !s.contains("or") && !s.contains("and") {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let word = [&b"or"[..], &b"and"[..]]
            .into_iter()
            .find(|w| b[i..].starts_with(w));
        if let Some(w) = word {
            let left = i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b')');
            let right = b.get(i + w.len()).is_some_and(|c| {
                c.is_ascii_digit() || c.is_ascii_uppercase() || matches!(c, b'(' | b'-' | b'\\')
            });
            if left && right {
                out.push_str(", ");
                i += w.len();
                continue;
            }
        }
        let l = utf8_len(b[i]).min(b.len() - i);
        out.push_str(&s[i..i + l]);
        i += l;
    }
    out
}

fn units(s: &str, p: &Policy) -> Result<String, String> {
    if !p.units {
        return Ok(s.to_string());
    }
    let mut cur = s.trim_end().to_string();
    let mut committed = cur.clone();
    loop {
        let low = cur.to_ascii_lowercase();
        let mut cut = None;
        // The trailing run of letters (before an optional power) must be a whole unit word.
        for suffix in ["", "^2", "^3", "^{2}", "^{3}"] {
            let Some(body) = low.strip_suffix(suffix) else {
                continue;
            };
            let start = body
                .char_indices()
                .rev()
                .find(|(_, c)| !c.is_ascii_alphabetic())
                .map_or(0, |(k, c)| k + c.len_utf8());
            let word = &body[start..];
            if start == 0 || word.is_empty() || !UNIT_WORDS.contains(&word) {
                continue;
            }
            let before = &cur[..start];
            if before.ends_with('\\') {
                continue;
            }
            // `10cm` may be a product with a variable: abbreviations need a space.
            if word.len() <= 3 && !before.ends_with(char::is_whitespace) {
                continue;
            }
            cut = Some(before.trim_end().len());
            break;
        }
        match cut {
            Some(n) if n > 0 => {
                cur.truncate(n);
                if cur
                    .as_bytes()
                    .last()
                    .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'}' | b')' | b'.' | b'%'))
                {
                    committed = cur.clone();
                }
            }
            _ => break,
        }
    }
    Ok(committed)
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

fn decimal_comma(s: &str, p: &Policy) -> Result<String, String> {
    if p.decimal_comma == DecimalComma::Never {
        return Ok(s.to_string());
    }
    let t = s.trim();
    let body = t.strip_prefix('-').unwrap_or(t);
    if let Some((a, b)) = body.split_once(',') {
        if is_digits(a) && is_digits(b) {
            // Unambiguous: not one digit after the comma (`3,5` may be a list) and not a
            // thousands grouping (`1,234`; `0,375` and `1000,999` are not groupings).
            let thousands = b.len() == 3 && a.len() <= 3 && !a.starts_with('0');
            if p.decimal_comma == DecimalComma::Always || (b.len() >= 2 && !thousands) {
                return Ok(t.replacen(',', ".", 1));
            }
        }
    }
    Ok(s.to_string())
}

fn thousands(s: &str, _: &Policy) -> Result<String, String> {
    let mut out = s.replace("{,}", "").replace("{, }", "");
    let t = out.trim();
    let (sign, body) = match t.strip_prefix('-') {
        Some(b) => ("-", b),
        None => ("", t),
    };
    let (int_part, frac) = match body.split_once('.') {
        Some((a, b)) if is_digits(b) => (a, Some(b)),
        _ => (body, None),
    };
    for sep in [',', ' '] {
        let groups: Vec<&str> = int_part.split(sep).collect();
        if groups.len() >= 2
            && groups[0].len() <= 3
            && is_digits(groups[0])
            && !groups[0].starts_with('0')
            && groups[1..].iter().all(|g| g.len() == 3 && is_digits(g))
        {
            let mut n = format!("{sign}{}", groups.concat());
            if let Some(f) = frac {
                n.push('.');
                n.push_str(f);
            }
            out = n;
            break;
        }
    }
    Ok(out)
}

/// `0.\overline{3}`, `1.2\overline{45}`, `0.\dot{6}` -> the exact fraction.
fn repeating_decimal(s: &str, _: &Policy) -> Result<String, String> {
    let t = s.trim();
    let Some(pos) = t.find("\\overline{").or_else(|| t.find("\\dot{")) else {
        return Ok(s.to_string());
    };
    let open = t[pos..].find('{').map_or(pos, |k| pos + k);
    let Some((rep, end)) = group_at(t, open) else {
        return Ok(s.to_string());
    };
    let head = &t[..pos];
    let (sign, head) = match head.strip_prefix('-') {
        Some(h) => ("-", h),
        None => ("", head),
    };
    let Some((int_part, fixed)) = head.split_once('.') else {
        return Ok(s.to_string());
    };
    let int_part = if int_part.is_empty() { "0" } else { int_part };
    let rep = rep.trim();
    if end != t.len()
        || !is_digits(int_part)
        || !(fixed.is_empty() || is_digits(fixed))
        || !is_digits(rep)
        || rep.len() > 30
    {
        return Ok(s.to_string());
    }
    // x = (digits of int.fixed.rep - digits of int.fixed) / (10^|fixed| * (10^|rep| - 1))
    let all: num_bigint::BigInt = format!("{int_part}{fixed}{rep}")
        .parse()
        .map_err(|_| "bad repeating decimal")?;
    let lead: num_bigint::BigInt = format!("{int_part}{fixed}")
        .parse()
        .map_err(|_| "bad repeating decimal")?;
    let nines = num_traits::pow(num_bigint::BigInt::from(10), rep.len()) - 1;
    let den = nines * num_traits::pow(num_bigint::BigInt::from(10), fixed.len());
    Ok(format!("{sign}\\frac{{{}}}{{{den}}}", all - lead))
}

fn mixed_numbers(s: &str, p: &Policy) -> Result<String, String> {
    if !p.mixed_numbers {
        return Ok(s.to_string());
    }
    let t = s.trim();
    let (sign, body) = match t.strip_prefix('-') {
        Some(b) => ("-", b.trim_start()),
        None => ("", t),
    };
    // `7 3/4`
    if let Some((whole, frac)) = body.split_once(' ') {
        if let Some((n, d)) = frac.trim().split_once('/') {
            if is_digits(whole) && is_digits(n) && is_digits(d) && proper(n, d) {
                return Ok(format!("{sign}({whole}+{n}/{d})"));
            }
        }
    }
    // `7\frac{3}{4}`
    if let Some(pos) = body.find("\\frac{") {
        let whole = body[..pos].trim();
        if is_digits(whole) {
            if let Some((n, e1)) = group_at(body, pos + 5) {
                if let Some((d, e2)) = group_at(body, e1) {
                    if e2 == body.len()
                        && is_digits(n.trim())
                        && is_digits(d.trim())
                        && proper(n.trim(), d.trim())
                    {
                        return Ok(format!("{sign}({whole}+{}/{})", n.trim(), d.trim()));
                    }
                }
            }
        }
    }
    Ok(s.to_string())
}

fn proper(n: &str, d: &str) -> bool {
    match (n.parse::<u128>(), d.parse::<u128>()) {
        (Ok(n), Ok(d)) => n < d && d > 1,
        _ => false,
    }
}

/// `\frac12` -> `\frac{1}{2}`, `\sqrt2` -> `\sqrt{2}`.
fn frac_shorthand(s: &str, _: &Policy) -> Result<String, String> {
    if !s.contains("\\frac") && !s.contains("\\sqrt") {
        return Ok(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while i < b.len() {
        let (name, nargs) = if s[i..].starts_with("\\frac") {
            ("\\frac", 2)
        } else if s[i..].starts_with("\\sqrt") {
            ("\\sqrt", 1)
        } else {
            let l = utf8_len(b[i]).min(b.len() - i);
            out.push_str(&s[i..i + l]);
            i += l;
            continue;
        };
        let mut j = i + name.len();
        if b.get(j).is_some_and(|c| c.is_ascii_alphabetic()) {
            out.push_str(&s[i..j]);
            i = j;
            continue;
        }
        out.push_str(name);
        if nargs == 1 && b.get(j) == Some(&b'[') {
            if let Some(k) = s[j..].find(']') {
                out.push_str(&s[j..=j + k]);
                j += k + 1;
            }
        }
        for _ in 0..nargs {
            while b.get(j) == Some(&b' ') {
                j += 1;
            }
            match b.get(j) {
                Some(b'{') => match group_at(s, j) {
                    Some((_, end)) => {
                        out.push_str(&s[j..end]);
                        j = end;
                    }
                    None => break,
                },
                Some(c) if c.is_ascii_alphanumeric() => {
                    out.push('{');
                    out.push(*c as char);
                    out.push('}');
                    j += 1;
                }
                _ => break,
            }
        }
        i = j;
    }
    Ok(out)
}

/// `1.5e3` / `2E-4` (plain-text scientific notation) -> `1.5\times10^{3}`.
fn scientific(s: &str, _: &Policy) -> Result<String, String> {
    let b = s.as_bytes();
    if !b.iter().any(|c| *c == b'e' || *c == b'E') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if (c == b'e' || c == b'E') && i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b'.') {
            let mut j = i + 1;
            if matches!(b.get(j), Some(b'+') | Some(b'-')) {
                j += 1;
            }
            let ds = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            // The mantissa must start with a digit that is not part of a name.
            let mut k = i;
            while k > 0 && (b[k - 1].is_ascii_digit() || b[k - 1] == b'.') {
                k -= 1;
            }
            let name_before = k > 0 && (b[k - 1].is_ascii_alphabetic() || b[k - 1] == b'_');
            if j > ds && !b.get(j).is_some_and(|c| c.is_ascii_alphabetic()) && !name_before {
                out.push_str("\\times10^{");
                out.push_str(&s[i + 1..j]);
                out.push('}');
                i = j;
                continue;
            }
        }
        let l = utf8_len(c).min(b.len() - i);
        out.push_str(&s[i..i + l]);
        i += l;
    }
    Ok(out)
}

/// `1011_2`, `1011_{2}`, `(A3)_{16}` -> the decimal value. A digit out of range is an error
/// (never read as base 10).
fn base_subscript(s: &str, _: &Policy) -> Result<String, String> {
    let t = s.trim();
    let Some(us) = t.rfind('_') else {
        return Ok(s.to_string());
    };
    let (num, base) = (&t[..us], &t[us + 1..]);
    let base = base
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let num = num.trim();
    let num = num
        .strip_prefix('(')
        .and_then(|n| n.strip_suffix(')'))
        .unwrap_or(num)
        .trim();
    if !is_digits(base) || num.is_empty() || !num.as_bytes()[0].is_ascii_digit() {
        return Ok(s.to_string());
    }
    if !num.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Ok(s.to_string());
    }
    let b: u32 = base
        .parse()
        .map_err(|_| format!("base {base} is not a number"))?;
    if !(2..=36).contains(&b) {
        return Err(format!("base {b} out of range 2..36"));
    }
    let mut v = num_bigint::BigUint::from(0u32);
    for ch in num.chars() {
        match ch.to_digit(36) {
            Some(d) if d < b => v = v * b + d,
            _ => return Err(format!("digit {ch:?} is not valid in base {b}")),
        }
    }
    Ok(v.to_string())
}

fn tidy(s: &str, _: &Policy) -> Result<String, String> {
    let mut t: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    // A few rounds only: each round is linear, and deeper wrappers are the parser's problem.
    for _ in 0..8 {
        let before = t.len();
        let mut tt = t.trim().trim_end_matches(['.', ';']).trim();
        // A dangling backslash at the end (`185\`) is a typo, not a command.
        if tt.ends_with('\\') && !tt.ends_with("\\\\") {
            tt = tt[..tt.len() - 1].trim_end();
        }
        let mut tt = tt.to_string();
        if tt.starts_with('{') {
            if let Some((inner, end)) = group_at(&tt, 0) {
                if end == tt.len() {
                    tt = inner.trim().to_string();
                }
            }
        }
        t = tt;
        if t.len() == before {
            break;
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, s: &str) -> String {
        apply_rule(name, s, &Policy::default())
            .expect("known rule")
            .expect("rule ok")
    }

    #[test]
    fn each_rule() {
        assert_eq!(rule("math_delimiters", "$\\frac12$"), "\\frac12");
        assert_eq!(
            rule("unicode", "√2 − π ≤ ∞"),
            "\\sqrt2 - \\pi  \\le  \\infty "
        );
        assert_eq!(rule("text_units", "5\\text{ cm}"), "5");
        assert_eq!(rule("text_units", "5 \\text{m}^2"), "5");
        assert_eq!(
            rule("text_wrappers", "\\text{Monday} \\mathrm{x}"),
            "Monday x"
        );
        assert_eq!(rule("left_right", "\\left( 1, 2 \\right]"), "( 1, 2 ]");
        assert_eq!(
            rule("frac_variants", "\\dfrac{1}{2}+\\tfrac12"),
            "\\frac{1}{2}+\\frac12"
        );
        assert_eq!(rule("spacing", "10\\,000\\!"), "10000");
        assert_eq!(rule("degrees", "30^\\circ"), "30");
        assert_eq!(rule("currency", "\\$5"), "5");
        assert_eq!(rule("percent_words", "10\\%"), "10%");
        assert_eq!(rule("percent_words", "10 percent"), "10%");
        assert_eq!(rule("connectives", "1 and 2"), "1, 2");
        assert_eq!(rule("connectives", "x \\in [1,2]"), "[1,2]");
        assert_eq!(rule("units", "5 square feet"), "5");
        assert_eq!(rule("units", "12 ways"), "12");
        assert_eq!(rule("units", "x cm"), "x cm");
        assert_eq!(rule("thousands", "10{,}000"), "10000");
        assert_eq!(rule("thousands", "1,234,567.5"), "1234567.5");
        assert_eq!(rule("thousands", "1,23"), "1,23");
        assert_eq!(rule("thousands", "(1,234)"), "(1,234)");
        assert_eq!(rule("mixed_numbers", "7 3/4"), "(7+3/4)");
        assert_eq!(rule("mixed_numbers", "2\\frac{1}{2}"), "(2+1/2)");
        assert_eq!(rule("mixed_numbers", "2\\frac{5}{3}"), "2\\frac{5}{3}");
        assert_eq!(
            rule("frac_shorthand", "\\frac12+\\sqrt3"),
            "\\frac{1}{2}+\\sqrt{3}"
        );
        assert_eq!(rule("scientific", "1.5e3"), "1.5\\times10^{3}");
        assert_eq!(rule("scientific", "2e"), "2e");
        assert_eq!(rule("base_subscript", "1011_2"), "11");
        assert_eq!(rule("base_subscript", "(A3)_{16}"), "(A3)_{16}");
        assert_eq!(rule("base_subscript", "1A3_{16}"), "419");
        assert_eq!(rule("base_subscript", "x_2"), "x_2");
        assert!(apply_rule("base_subscript", "1021_2", &Policy::default())
            .expect("rule")
            .is_err());
        assert_eq!(rule("tidy", " {5}. "), "5");
        assert_eq!(rule("repeating_decimal", "0.\\overline{3}"), "\\frac{3}{9}");
        assert_eq!(
            rule("repeating_decimal", "-1.2\\overline{45}"),
            "-\\frac{1233}{990}"
        );
        let dc = Policy {
            decimal_comma: DecimalComma::Always,
            ..Policy::default()
        };
        assert_eq!(
            apply_rule("decimal_comma", "3,5", &dc)
                .expect("rule")
                .expect("ok"),
            "3.5"
        );
        assert_eq!(rule("decimal_comma", "3,5"), "3,5");
    }
}
