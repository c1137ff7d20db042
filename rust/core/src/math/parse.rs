//! Parsing a normalised answer (LaTeX or plain text) into an [`Answer`]: expressions with exact
//! big-rational literals, relations, intervals, sets, tuples, lists, matrices, text and letters.
//! Recursion depth and node count are bounded by the budget.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Zero};

use super::policy::{Budget, Policy};

/// A token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// Digits with an optional decimal point.
    Num(String),
    /// A run of ASCII letters.
    Word(String),
    /// `\name` or `\` plus one symbol (`\{`, `\\`).
    Cmd(String),
    /// Any other single character.
    Sym(char),
}

/// No number outside subscripts (`V_{1}:V_{2}`, `S_{ABC}:S`): the tokens name something.
fn label_tokens(toks: &[Tok]) -> bool {
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Sym('_') if toks.get(i + 1) == Some(&Tok::Sym('{')) => {
                i = brace_end(toks, i + 1);
            }
            Tok::Num(_) => return false,
            _ => {}
        }
        i += 1;
    }
    true
}

/// Index of the `}` closing the `{` at `open` (or `toks.len()` when unclosed).
fn brace_end(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Sym('{') => depth += 1,
            Tok::Sym('}') => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// Index of the `)` closing the `(` at `open` (or `toks.len()` when unclosed).
fn paren_end(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        if opener(t) {
            depth += 1;
        } else if closer(t) {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return k;
            }
        }
    }
    toks.len()
}

/// Source text of a token (for names built from tokens, e.g. subscripts: `v_{0}` = `v_0`).
fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Num(n) | Tok::Word(n) => n.clone(),
        Tok::Cmd(c) => format!("\\{c} "),
        Tok::Sym(c) => c.to_string(),
    }
}

/// Named constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Const {
    /// π
    Pi,
    /// Euler's e
    E,
    /// the imaginary unit
    I,
    /// +∞
    Inf,
}

/// Functions of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Func {
    Sin,
    Cos,
    Tan,
    Cot,
    Sec,
    Csc,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Ln,
    Exp,
    Abs,
    Floor,
    Ceil,
    /// The gamma function (`gamma(x)`, `\\Gamma(x)`): `Γ(n) = (n-1)!`.
    Gamma,
}

/// Relation operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl RelOp {
    /// The operator with sides swapped (`<` -> `>`).
    pub fn flipped(self) -> Self {
        match self {
            RelOp::Lt => RelOp::Gt,
            RelOp::Le => RelOp::Ge,
            RelOp::Gt => RelOp::Lt,
            RelOp::Ge => RelOp::Le,
            o => o,
        }
    }
}

/// An expression.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expr {
    /// A literal; `decimals` is the number of digits after the point when written as a decimal.
    Num {
        val: BigRational,
        decimals: Option<u32>,
    },
    Var(String),
    Const(Const),
    Add(Vec<Expr>),
    Mul(Vec<Expr>),
    Neg(Box<Expr>),
    Div(Box<Expr>, Box<Expr>),
    Pow(Box<Expr>, Box<Expr>),
    /// `Root(n, x)` is the n-th root of x.
    Root(Box<Expr>, Box<Expr>),
    /// `Log(base, x)`; `None` base is the natural log for `\ln`, base 10 for `\log` is
    /// represented explicitly.
    Log(Option<Box<Expr>>, Box<Expr>),
    Func(Func, Box<Expr>),
    Factorial(Box<Expr>),
    Binom(Box<Expr>, Box<Expr>),
    Percent(Box<Expr>),
}

/// A parsed answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Expr(Expr),
    /// `a = b = c`, `1 < x \le 2`: sides and the operators between them.
    Rel(Vec<Expr>, Vec<RelOp>),
    /// `(a, b)`, `[a, b)`: brackets and items (tuples, points, intervals).
    Brack {
        open: char,
        close: char,
        items: Vec<Answer>,
    },
    /// `\{a, b\}`.
    Set(Vec<Answer>),
    /// A bare comma list `a, b`.
    List(Vec<Answer>),
    /// `A \cup B`.
    Union(Vec<Answer>),
    /// Rows of a matrix.
    Matrix(Vec<Vec<Answer>>),
    /// Lower-cased text.
    Text(String),
    /// A multiple-choice letter.
    Choice(char),
    /// A ratio `a : b (: c ...)` (also a clock time `14:05`).
    Ratio(Vec<Expr>),
}

/// Why parsing failed.
#[derive(Clone, Debug, PartialEq)]
pub enum ParseError {
    /// Not an answer we can read.
    Syntax(String),
    /// Too deep or too many nodes.
    Budget(String),
}

/// Split a string into tokens.
pub fn tokenize(s: &str) -> Result<Vec<Tok>, ParseError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == b'.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let st = i;
            let mut dot = false;
            while i < b.len()
                && (b[i].is_ascii_digit()
                    || (b[i] == b'.' && !dot && b.get(i + 1).is_some_and(|d| d.is_ascii_digit())))
            {
                if b[i] == b'.' {
                    dot = true;
                }
                i += 1;
            }
            out.push(Tok::Num(s[st..i].to_string()));
        } else if c.is_ascii_alphabetic() {
            let st = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            split_word(&s[st..i], &mut out);
            if b.get(i).is_some_and(u8::is_ascii_digit) && digit_suffix_is_subscript(&s[st..i]) {
                // `x1`, `v0`, `theta2` (computer-algebra symbol names): `x_1`; `log2(x)`: base 2.
                out.push(Tok::Sym('_'));
            }
        } else if c == b'\\' {
            let st = i + 1;
            i += 1;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            if i == st {
                if i < b.len() && b[i].is_ascii() {
                    let ch = b[i] as char;
                    i += 1;
                    match ch {
                        '%' => out.push(Tok::Sym('%')),
                        ' ' | ',' | ';' | '!' | ':' => {}
                        _ => out.push(Tok::Cmd(ch.to_string())),
                    }
                } else {
                    return Err(ParseError::Syntax("dangling backslash".into()));
                }
            } else {
                out.push(Tok::Cmd(s[st..i].to_string()));
            }
        } else if let Some(name) = maxima_constant(&s[i..]) {
            // Maxima's `%pi`, `%e`, `%i` (computer-algebra answer tests).
            out.push(Tok::Word(name[1..].to_string()));
            i += name.len();
        } else if c.is_ascii() {
            let next = b.get(i + 1).copied();
            match (c, next) {
                (b'<', Some(b'=')) => {
                    out.push(Tok::Cmd("le".into()));
                    i += 2;
                }
                (b'>', Some(b'=')) => {
                    out.push(Tok::Cmd("ge".into()));
                    i += 2;
                }
                (b'!', Some(b'=')) => {
                    out.push(Tok::Cmd("ne".into()));
                    i += 2;
                }
                (b'*', Some(b'*')) => {
                    out.push(Tok::Sym('^'));
                    i += 2;
                }
                _ => {
                    out.push(Tok::Sym(c as char));
                    i += 1;
                }
            }
        } else {
            return Err(ParseError::Syntax(format!(
                "unexpected character {:?}",
                s[i..].chars().next().unwrap_or('?')
            )));
        }
    }
    Ok(out)
}

/// `%pi`, `%e` or `%i` (not followed by a letter) at the start of `s`.
fn maxima_constant(s: &str) -> Option<&'static str> {
    ["%pi", "%e", "%i"].into_iter().find(|c| {
        s.starts_with(c)
            && !s
                .as_bytes()
                .get(c.len())
                .is_some_and(u8::is_ascii_alphabetic)
    })
}

/// Whether digits glued to a letter run are its subscript: after one letter (`x1` is `x_1`, the
/// symbol name computer-algebra systems print), a Greek name (`theta2`) or `log` (`log2(x)` is
/// the base-2 logarithm). Other runs keep the product (`ab1` = `a b 1`).
fn digit_suffix_is_subscript(w: &str) -> bool {
    w.len() == 1 || is_greek_word(w) || w == "log"
}

/// Letter runs: known names stay whole (`sin`, `pi`, `sqrt`, `factorial`, and the Greek letter
/// names `beta`, `theta`, ...), a known function name may prefix a run (`sinx` = `sin x`), and
/// anything else is a product of one-letter variables (`xy`).
fn split_word(w: &str, out: &mut Vec<Tok>) {
    let lw = w.to_ascii_lowercase();
    if FUNC_WORDS.contains(&lw.as_str()) || is_greek_word(w) {
        out.push(Tok::Word(w.to_string()));
        return;
    }
    let mut rest = w;
    if let Some(f) = FUNC_WORDS
        .iter()
        .filter(|f| f.len() >= 2 && lw.starts_with(*f) && **f != "oo")
        .max_by_key(|f| f.len())
    {
        out.push(Tok::Word(w[..f.len()].to_string()));
        rest = &w[f.len()..];
    }
    for (k, _) in rest.char_indices() {
        out.push(Tok::Word(rest[k..k + 1].to_string()));
    }
}

fn relop(t: &Tok) -> Option<RelOp> {
    match t {
        Tok::Sym('=') => Some(RelOp::Eq),
        Tok::Sym('<') => Some(RelOp::Lt),
        Tok::Sym('>') => Some(RelOp::Gt),
        Tok::Cmd(c) => match c.as_str() {
            "le" | "leq" | "leqslant" => Some(RelOp::Le),
            "ge" | "geq" | "geqslant" => Some(RelOp::Ge),
            "lt" => Some(RelOp::Lt),
            "gt" => Some(RelOp::Gt),
            "ne" | "neq" => Some(RelOp::Ne),
            _ => None,
        },
        _ => None,
    }
}

fn opener(t: &Tok) -> bool {
    matches!(t, Tok::Sym('(') | Tok::Sym('[') | Tok::Sym('{'))
        || matches!(t, Tok::Cmd(c) if c == "{" || c == "langle" || c == "lfloor" || c == "lceil" || c == "begin")
}

fn closer(t: &Tok) -> bool {
    matches!(t, Tok::Sym(')') | Tok::Sym(']') | Tok::Sym('}'))
        || matches!(t, Tok::Cmd(c) if c == "}" || c == "rangle" || c == "rfloor" || c == "rceil" || c == "end")
}

/// Indices of top-level tokens satisfying `pred`.
fn split_top(toks: &[Tok], pred: impl Fn(&Tok) -> bool) -> Vec<usize> {
    let mut depth: i64 = 0;
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if opener(t) {
            depth += 1;
        } else if closer(t) {
            depth -= 1;
        } else if depth == 0 && pred(t) {
            out.push(i);
        }
    }
    out
}

fn pieces<'t>(toks: &'t [Tok], at: &[usize]) -> Vec<&'t [Tok]> {
    let mut out = Vec::new();
    let mut st = 0;
    for &i in at {
        out.push(&toks[st..i]);
        st = i + 1;
    }
    out.push(&toks[st..]);
    out
}

/// Deepest bracket nesting of a token list (one pass).
fn bracket_depth(toks: &[Tok]) -> usize {
    let (mut d, mut max) = (0i64, 0i64);
    for t in toks {
        if opener(t) {
            d += 1;
            max = max.max(d);
        } else if closer(t) {
            d -= 1;
        }
    }
    max.max(0) as usize
}

/// Does the bracket opening at 0 close exactly at the last token?
fn wraps_all(toks: &[Tok]) -> bool {
    if toks.len() < 2 || !opener(&toks[0]) || !closer(&toks[toks.len() - 1]) {
        return false;
    }
    let mut depth = 0i64;
    for (i, t) in toks.iter().enumerate() {
        if opener(t) {
            depth += 1;
        } else if closer(t) {
            depth -= 1;
            if depth == 0 && i != toks.len() - 1 {
                return false;
            }
        }
    }
    depth == 0
}

const FUNC_WORDS: &[&str] = &[
    "sin",
    "cos",
    "tan",
    "cot",
    "sec",
    "csc",
    "arcsin",
    "arccos",
    "arctan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "ln",
    "log",
    "exp",
    "sqrt",
    "pi",
    "infty",
    "inf",
    "oo",
    "abs",
    "floor",
    "ceil",
    "binom",
    "frac",
    "mod",
    "factorial",
    "binomial",
    "ceiling",
];

/// A plain-text Greek letter name that is one symbol, the same as its LaTeX command (`beta` is
/// `\\beta`). `xi` is left out: in plain text it stays the product `x i`.
fn is_greek_word(w: &str) -> bool {
    w != "xi" && GREEK.contains(&w)
}

/// Runs of ASCII letters in `s`, each with whether it follows a backslash (a LaTeX command).
pub(crate) fn letter_runs(s: &str) -> impl Iterator<Item = (&str, bool)> {
    let b = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() && !b[i].is_ascii_alphabetic() {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let st = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        Some((&s[st..i], st > 0 && b[st - 1] == b'\\'))
    })
}

/// Text answers: a word of 3+ letters with a vowel that is not a function name (`Monday`,
/// `even`), or a short word like `no`. Consonant runs (`xyz`) are products of variables.
fn looks_like_text(s: &str) -> bool {
    letter_runs(s).any(|(w, command)| {
        let w = w.to_ascii_lowercase();
        if command || FUNC_WORDS.contains(&w.as_str()) || GREEK.contains(&w.as_str()) {
            return false;
        }
        let vowel = w
            .bytes()
            .any(|c| matches!(c, b'a' | b'e' | b'i' | b'o' | b'u'));
        (w.len() >= 3 && vowel) || matches!(w.as_str(), "no" | "ok")
    })
}

/// Text form used for comparing text answers.
pub fn text_key(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '\\' | '{' | '}' | '$' | '.' | '"' | '\''))
        .flat_map(char::to_lowercase)
        .collect()
}

fn mcq_letter(s: &str) -> Option<char> {
    let t = s.trim();
    let t = t.strip_prefix('(').unwrap_or(t);
    let mut it = t.chars();
    let c = it.next()?;
    if !c.is_ascii_uppercase() || c > 'J' {
        return None;
    }
    let rest: String = it.collect();
    let rest = rest.trim_start();
    if rest.contains(['(', ',', ';']) {
        return None;
    }
    if rest.is_empty()
        || rest.starts_with(')')
        || (s.trim().starts_with('(') && rest.starts_with(')'))
        || (!s.trim().starts_with('(') && (rest == "." || rest.starts_with(". ")))
    {
        Some(c)
    } else {
        None
    }
}

/// Parser state.
struct P<'a> {
    toks: &'a [Tok],
    /// Whether the tokens hold a `\\choose` (`{n \\choose k}` groups are then looked for).
    choose: bool,
    pos: usize,
    depth: usize,
    nodes: usize,
    budget: &'a Budget,
}

fn syn<T>(m: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError::Syntax(m.into()))
}

/// Parse a normalised answer.
pub fn parse_answer(s: &str, policy: &Policy, budget: &Budget) -> Result<Answer, ParseError> {
    let s = s.trim();
    if s.is_empty() {
        return syn("empty answer");
    }
    if policy.mcq_letters {
        if let Some(c) = mcq_letter(s) {
            return Ok(Answer::Choice(c));
        }
    }
    if s.contains("\\begin{") {
        return parse_matrix_expr(s, budget);
    }
    if looks_like_text(s) && !s.contains('=') && !s.contains("\\frac") {
        return Ok(Answer::Text(text_key(s)));
    }
    let toks = tokenize(s)?;
    // Reject deep nesting up front: the structural passes below are linear per level.
    if bracket_depth(&toks) > budget.max_depth {
        return Err(ParseError::Budget(format!(
            "nesting deeper than max_depth={}",
            budget.max_depth
        )));
    }
    let mut nodes = 0usize;
    match parse_tokens(&toks, budget, 0, &mut nodes) {
        Ok(a) => Ok(a),
        Err(ParseError::Syntax(m)) => {
            if looks_like_text(s) {
                Ok(Answer::Text(text_key(s)))
            } else {
                Err(ParseError::Syntax(m))
            }
        }
        Err(e) => Err(e),
    }
}

/// One matrix, or a sum / difference / product of matrices (`A + B`, `A \cdot B`, `A B`),
/// computed entry by entry as expressions.
fn parse_matrix_expr(s: &str, budget: &Budget) -> Result<Answer, ParseError> {
    let mut spans = Vec::new(); // (start, end) of each environment
    let mut pos = 0;
    while let Some(rel) = s[pos..].find("\\begin{") {
        let start = pos + rel;
        let close = s[start + 7..]
            .find('}')
            .ok_or_else(|| ParseError::Syntax("bad \\begin".into()))?;
        let env = &s[start + 7..start + 7 + close];
        let end_tag = format!("\\end{{{env}}}");
        let end = s[start..]
            .find(&end_tag)
            .ok_or_else(|| ParseError::Syntax("missing \\end".into()))?
            + start
            + end_tag.len();
        spans.push((start, end));
        pos = end;
        if spans.len() > 8 {
            return syn("too many matrices");
        }
    }
    if spans.len() <= 1 {
        // `M = \begin{pmatrix}...\end{pmatrix}`: the label goes.
        let before = s[..spans.first().map_or(0, |sp| sp.0)].trim();
        if !before.is_empty() && matrix_label(before) {
            return parse_matrix(&s[spans[0].0..], budget);
        }
        return parse_matrix(s, budget);
    }
    let (before, after) = (s[..spans[0].0].trim(), s[spans[spans.len() - 1].1..].trim());
    if !matrix_label(before) || !after.is_empty() {
        return syn("matrix expression with surrounding text");
    }
    let mut acc = matrix_cells(&parse_matrix(&s[spans[0].0..spans[0].1], budget)?)?;
    for w in 1..spans.len() {
        let glue = s[spans[w - 1].1..spans[w].0].trim();
        let next = matrix_cells(&parse_matrix(&s[spans[w].0..spans[w].1], budget)?)?;
        acc = match glue {
            "+" | "-" => {
                if acc.len() != next.len() || acc[0].len() != next[0].len() {
                    return syn("matrix sum of different shapes");
                }
                let neg = glue == "-";
                acc.iter()
                    .zip(&next)
                    .map(|(ra, rb)| {
                        ra.iter()
                            .zip(rb)
                            .map(|(a, b)| {
                                let b = if neg {
                                    Expr::Neg(Box::new(b.clone()))
                                } else {
                                    b.clone()
                                };
                                Expr::Add(vec![a.clone(), b])
                            })
                            .collect()
                    })
                    .collect()
            }
            "" | "\\cdot" | "\\times" => {
                if acc[0].len() != next.len() {
                    return syn("matrix product of incompatible shapes");
                }
                let (n, m, k) = (acc.len(), next[0].len(), next.len());
                if n * m * k > budget.max_nodes {
                    return Err(ParseError::Budget("matrix product too large".into()));
                }
                (0..n)
                    .map(|i| {
                        (0..m)
                            .map(|j| {
                                Expr::Add(
                                    (0..k)
                                        .map(|t| {
                                            Expr::Mul(vec![acc[i][t].clone(), next[t][j].clone()])
                                        })
                                        .collect(),
                                )
                            })
                            .collect()
                    })
                    .collect()
            }
            _ => return syn("unsupported operation between matrices"),
        };
    }
    Ok(Answer::Matrix(
        acc.into_iter()
            .map(|r| r.into_iter().map(Answer::Expr).collect())
            .collect(),
    ))
}

/// Empty, or `NAME =` before a matrix (`M =`, `A^{-1} =`): letters, `^{-1}`, `'`, no digits
/// outside the exponent.
fn matrix_label(before: &str) -> bool {
    if before.is_empty() {
        return true;
    }
    let Some(name) = before.strip_suffix('=') else {
        return false;
    };
    let name = name.trim().replace("^{-1}", "").replace("^T", "");
    !name.is_empty()
        && name.len() <= 16
        && name
            .chars()
            .all(|c| c.is_ascii_alphabetic() || matches!(c, '\\' | '_' | '{' | '}' | '\'' | ' '))
}

/// The entries of a matrix of expressions.
fn matrix_cells(m: &Answer) -> Result<Vec<Vec<Expr>>, ParseError> {
    let Answer::Matrix(rows) = m else {
        return syn("not a matrix");
    };
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Answer::Expr(e) => Ok(e.clone()),
                    _ => syn("matrix entry is not an expression"),
                })
                .collect()
        })
        .collect()
}

fn parse_matrix(s: &str, budget: &Budget) -> Result<Answer, ParseError> {
    let start = s.find("\\begin{").unwrap_or(0);
    let after = &s[start + 7..];
    let close = after
        .find('}')
        .ok_or_else(|| ParseError::Syntax("bad \\begin".into()))?;
    let env = &after[..close];
    let body_start = start + 7 + close + 1;
    let end_tag = format!("\\end{{{env}}}");
    let body_end = s
        .rfind(&end_tag)
        .ok_or_else(|| ParseError::Syntax("missing \\end".into()))?;
    let before = s[..start].trim();
    let after = s[body_end + end_tag.len()..].trim();
    if body_end < body_start || !matches!((before, after), ("", "") | ("(", ")") | ("[", "]")) {
        return syn("matrix with surrounding text");
    }
    let mut body = &s[body_start..body_end];
    if env == "array" {
        if let Some(rest) = body.trim_start().strip_prefix('{') {
            body = rest.find('}').map_or(rest, |k| &rest[k + 1..]);
        }
    }
    let mut rows = Vec::new();
    for row in body.split("\\\\") {
        if row.trim().is_empty() {
            continue;
        }
        let mut cells = Vec::new();
        for cell in row.split('&') {
            let toks = tokenize(cell.trim())?;
            let mut nodes = 0usize;
            cells.push(parse_tokens(&toks, budget, 1, &mut nodes)?);
        }
        rows.push(cells);
    }
    if rows.is_empty() || rows.iter().any(|r| r.len() != rows[0].len()) {
        return syn("ragged matrix");
    }
    Ok(Answer::Matrix(rows))
}

fn bracket_char(t: &Tok) -> Option<char> {
    match t {
        Tok::Sym(c @ ('(' | ')' | '[' | ']')) => Some(*c),
        Tok::Cmd(c) if c == "langle" => Some('('),
        Tok::Cmd(c) if c == "rangle" => Some(')'),
        _ => None,
    }
}

/// Parse a token list into an answer (structure first, then an expression).
pub fn parse_tokens(
    toks: &[Tok],
    budget: &Budget,
    depth: usize,
    nodes: &mut usize,
) -> Result<Answer, ParseError> {
    if depth > budget.max_depth {
        return Err(ParseError::Budget(format!(
            "nesting deeper than max_depth={}",
            budget.max_depth
        )));
    }
    if toks.is_empty() {
        return syn("empty item");
    }
    let sub = |t: &[Tok], nodes: &mut usize| parse_tokens(t, budget, depth + 1, nodes);
    // Empty set.
    if toks.len() == 1 && matches!(&toks[0], Tok::Cmd(c) if c == "emptyset" || c == "varnothing") {
        return Ok(Answer::Set(Vec::new()));
    }
    // Unions of intervals/sets.
    let cups = split_top(toks, |t| matches!(t, Tok::Cmd(c) if c == "cup"));
    if !cups.is_empty() {
        let mut parts = Vec::new();
        for p in pieces(toks, &cups) {
            parts.push(sub(p, nodes)?);
        }
        return Ok(Answer::Union(parts));
    }
    // `\pm` at top level: both branches as a set.
    let pms = split_top(toks, |t| matches!(t, Tok::Cmd(c) if c == "pm" || c == "mp"));
    if pms.len() == 1 {
        let i = pms[0];
        let mut plus = toks.to_vec();
        let mut minus = toks.to_vec();
        plus[i] = Tok::Sym('+');
        minus[i] = Tok::Sym('-');
        if i == 0 {
            plus.remove(0);
        }
        return Ok(Answer::Set(vec![sub(&plus, nodes)?, sub(&minus, nodes)?]));
    }
    // Relations.
    let rels = split_top(toks, |t| relop(t).is_some());
    let commas = split_top(toks, |t| matches!(t, Tok::Sym(',') | Tok::Sym(';')));
    if rels.len() == 1
        && matches!(relop(&toks[rels[0]]), Some(RelOp::Eq))
        && wraps_all(&toks[..rels[0]])
    {
        // `(x, y) = (1, 2)`: the value side.
        let lhs = &toks[..rels[0]];
        if !split_top(&lhs[1..lhs.len() - 1], |t| matches!(t, Tok::Sym(','))).is_empty() {
            return sub(&toks[rels[0] + 1..], nodes);
        }
    }
    if !commas.is_empty() {
        // A bare list; items may be relations (`x = 1, y = 2`). With both `;` and `,` at the top,
        // `;` separates groups (`p=3,q=2;p=5,q=2`).
        let semis = split_top(toks, |t| matches!(t, Tok::Sym(';')));
        let at = if !semis.is_empty() && semis.len() < commas.len() {
            semis
        } else {
            commas
        };
        let mut items = Vec::new();
        for p in pieces(toks, &at) {
            if p.is_empty() {
                continue;
            }
            items.push(sub(p, nodes)?);
        }
        return Ok(match items.len() {
            0 => return syn("empty list"),
            1 => items.pop().unwrap_or(Answer::Text(String::new())),
            _ => Answer::List(items),
        });
    }
    // Ratios `a:b`, and labelled values `S_{ABC}:S = 3:8`, `A:B = 1`, `x = 3:4`.
    let colons = split_top(toks, |t| matches!(t, Tok::Sym(':')));
    if !colons.is_empty() {
        let eqs = split_top(toks, |t| matches!(t, Tok::Sym('=')));
        if let Some(&last) = eqs.last() {
            if label_tokens(&toks[..last]) && last + 1 < toks.len() {
                return sub(&toks[last + 1..], nodes);
            }
            return syn("ratio inside a relation");
        }
        if rels.is_empty() {
            let mut parts = Vec::new();
            for p in pieces(toks, &colons) {
                if p.is_empty() {
                    return syn("empty part of a ratio");
                }
                parts.push(parse_expr_tokens(p, budget, depth + 1, nodes)?);
            }
            return Ok(Answer::Ratio(parts));
        }
    }
    if !rels.is_empty() {
        let mut sides = Vec::new();
        let mut ops = Vec::new();
        for &i in &rels {
            ops.push(relop(&toks[i]).ok_or_else(|| ParseError::Syntax("relation".into()))?);
        }
        for p in pieces(toks, &rels) {
            if p.is_empty() {
                return syn("relation with an empty side");
            }
            sides.push(parse_expr_tokens(p, budget, depth + 1, nodes)?);
        }
        return Ok(Answer::Rel(sides, ops));
    }
    // Bracketed structures.
    if wraps_all(toks) {
        let inner = &toks[1..toks.len() - 1];
        let first = &toks[0];
        let last = &toks[toks.len() - 1];
        if matches!(first, Tok::Cmd(c) if c == "{") && matches!(last, Tok::Cmd(c) if c == "}") {
            let at = split_top(inner, |t| matches!(t, Tok::Sym(',') | Tok::Sym(';')));
            let mut items = Vec::new();
            if !inner.is_empty() {
                for p in pieces(inner, &at) {
                    items.push(sub(p, nodes)?);
                }
            }
            return Ok(Answer::Set(items));
        }
        if let (Some(o), Some(c)) = (bracket_char(first), bracket_char(last)) {
            if matches!(o, '(' | '[') && matches!(c, ')' | ']') {
                let at = split_top(inner, |t| matches!(t, Tok::Sym(',') | Tok::Sym(';')));
                if !at.is_empty() {
                    let mut items = Vec::new();
                    for p in pieces(inner, &at) {
                        items.push(sub(p, nodes)?);
                    }
                    return Ok(Answer::Brack {
                        open: o,
                        close: c,
                        items,
                    });
                }
                if o == '(' && c == ')' {
                    return sub(inner, nodes);
                }
            }
        }
    }
    parse_expr_tokens(toks, budget, depth, nodes).map(Answer::Expr)
}

/// Parse an expression from tokens.
pub fn parse_expr_tokens(
    toks: &[Tok],
    budget: &Budget,
    depth: usize,
    nodes: &mut usize,
) -> Result<Expr, ParseError> {
    let mut p = P {
        toks,
        choose: toks
            .iter()
            .any(|t| matches!(t, Tok::Cmd(c) if c == "choose")),
        pos: 0,
        depth,
        nodes: *nodes,
        budget,
    };
    // `n \\choose k` (a whole answer `{n \\choose k}` loses its outer braces in normalisation).
    if p.choose {
        let at = split_top(toks, |t| matches!(t, Tok::Cmd(c) if c == "choose"));
        if let [k] = at[..] {
            if k == 0 || k + 1 == toks.len() {
                return syn("\\choose with an empty side");
            }
            let n = parse_expr_tokens(&toks[..k], budget, depth + 1, nodes)?;
            let k = parse_expr_tokens(&toks[k + 1..], budget, depth + 1, nodes)?;
            return Ok(Expr::Binom(Box::new(n), Box::new(k)));
        }
    }
    let e = p.expr()?;
    *nodes = p.nodes;
    if p.pos != toks.len() {
        return syn(format!("unexpected token {:?}", toks.get(p.pos)));
    }
    Ok(e)
}

fn num_literal(s: &str) -> Result<Expr, ParseError> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = format!("{int}{frac}");
    let n = BigInt::parse_bytes(
        if digits.is_empty() {
            b"0"
        } else {
            digits.as_bytes()
        },
        10,
    )
    .ok_or_else(|| ParseError::Syntax(format!("bad number {s}")))?;
    let d = num_traits::pow(BigInt::from(10u32), frac.len());
    Ok(Expr::Num {
        val: BigRational::new(n, d),
        decimals: if s.contains('.') {
            Some(frac.len() as u32)
        } else {
            None
        },
    })
}

fn int(n: i64) -> Expr {
    Expr::Num {
        val: BigRational::from_integer(BigInt::from(n)),
        decimals: None,
    }
}

fn func_from_name(n: &str) -> Option<Func> {
    Some(match n {
        "sin" => Func::Sin,
        "cos" => Func::Cos,
        "tan" | "tg" => Func::Tan,
        "cot" | "ctg" => Func::Cot,
        "sec" => Func::Sec,
        "csc" | "cosec" => Func::Csc,
        "arcsin" | "asin" => Func::Asin,
        "arccos" | "acos" => Func::Acos,
        "arctan" | "atan" => Func::Atan,
        "sinh" => Func::Sinh,
        "cosh" => Func::Cosh,
        "tanh" => Func::Tanh,
        "exp" => Func::Exp,
        "abs" => Func::Abs,
        "floor" => Func::Floor,
        "ceil" | "ceiling" => Func::Ceil,
        _ => return None,
    })
}

fn inverse(f: Func) -> Option<Func> {
    match f {
        Func::Sin => Some(Func::Asin),
        Func::Cos => Some(Func::Acos),
        Func::Tan => Some(Func::Atan),
        _ => None,
    }
}

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }
    fn eat_sym(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Sym(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn node(&mut self) -> Result<(), ParseError> {
        self.nodes += 1;
        if self.nodes > self.budget.max_nodes {
            return Err(ParseError::Budget(format!(
                "more than max_nodes={} nodes",
                self.budget.max_nodes
            )));
        }
        Ok(())
    }
    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > self.budget.max_depth {
            return Err(ParseError::Budget(format!(
                "nesting deeper than max_depth={}",
                self.budget.max_depth
            )));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut terms = Vec::new();
        let first = self.term()?;
        terms.push(first);
        loop {
            match self.peek() {
                Some(Tok::Sym('+')) => {
                    self.pos += 1;
                    terms.push(self.term()?);
                }
                Some(Tok::Sym('-')) => {
                    self.pos += 1;
                    let t = self.term()?;
                    self.node()?;
                    terms.push(Expr::Neg(Box::new(t)));
                }
                _ => break,
            }
        }
        self.depth -= 1;
        Ok(if terms.len() == 1 {
            terms.pop().unwrap_or_else(|| int(0))
        } else {
            Expr::Add(terms)
        })
    }

    fn starts_atom(&self) -> bool {
        match self.peek() {
            Some(Tok::Num(_)) | Some(Tok::Word(_)) | Some(Tok::Sym('(')) | Some(Tok::Sym('{')) => {
                true
            }
            Some(Tok::Cmd(c)) => {
                !matches!(
                    c.as_str(),
                    "cdot"
                        | "times"
                        | "div"
                        | "le"
                        | "leq"
                        | "ge"
                        | "geq"
                        | "lt"
                        | "gt"
                        | "ne"
                        | "neq"
                        | "cup"
                        | "pm"
                        | "mp"
                        | "}"
                        | "rangle"
                        | "rfloor"
                        | "rceil"
                        | "\\"
                        | "end"
                        | "%"
                ) && relop(&Tok::Cmd(c.clone())).is_none()
            }
            _ => false,
        }
    }

    fn term(&mut self) -> Result<Expr, ParseError> {
        let mut acc = self.unary()?;
        // `a/b/c/...` nests to the left: count the nesting against the depth budget.
        let mut divs = 0usize;
        loop {
            if divs > self.budget.max_depth {
                return Err(ParseError::Budget(format!(
                    "more than max_depth={} chained divisions",
                    self.budget.max_depth
                )));
            }
            match self.peek() {
                Some(Tok::Sym('*')) => {
                    self.pos += 1;
                    let r = self.unary()?;
                    acc = mul(acc, r);
                }
                Some(Tok::Cmd(c)) if c == "cdot" || c == "times" => {
                    self.pos += 1;
                    let r = self.unary()?;
                    acc = mul(acc, r);
                }
                Some(Tok::Sym('/')) => {
                    self.pos += 1;
                    let r = self.unary()?;
                    acc = Expr::Div(Box::new(acc), Box::new(r));
                    divs += 1;
                }
                Some(Tok::Cmd(c)) if c == "div" => {
                    self.pos += 1;
                    let r = self.unary()?;
                    acc = Expr::Div(Box::new(acc), Box::new(r));
                    divs += 1;
                }
                _ if self.starts_atom() => {
                    let r = self.power()?;
                    acc = mul(acc, r);
                }
                _ => break,
            }
            self.node()?;
        }
        Ok(acc)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        while self.eat_sym('+') {}
        if self.eat_sym('-') {
            self.enter()?;
            let e = self.unary()?;
            self.depth -= 1;
            self.node()?;
            return Ok(Expr::Neg(Box::new(e)));
        }
        self.power()
    }

    fn power(&mut self) -> Result<Expr, ParseError> {
        let base = self.postfix()?;
        if self.eat_sym('^') {
            self.enter()?;
            let ex = self.exponent()?;
            self.depth -= 1;
            self.node()?;
            let p = Expr::Pow(Box::new(base), Box::new(ex));
            return self.postfix_ops(p);
        }
        Ok(base)
    }

    fn exponent(&mut self) -> Result<Expr, ParseError> {
        if self.eat_sym('-') {
            self.enter()?;
            let e = self.exponent()?;
            self.depth -= 1;
            return Ok(Expr::Neg(Box::new(e)));
        }
        match self.peek() {
            Some(Tok::Sym('{')) => self.atom(),
            Some(Tok::Num(n)) => {
                // `2^34` in LaTeX means 2^3 * 4; plain text means 2^34. Keep the whole number.
                let n = n.clone();
                self.pos += 1;
                let lit = num_literal(&n)?;
                if self.eat_sym('^') {
                    // `2^3^2` = 2^(3^2)
                    self.enter()?;
                    let e = self.exponent()?;
                    self.depth -= 1;
                    self.node()?;
                    return Ok(Expr::Pow(Box::new(lit), Box::new(e)));
                }
                Ok(lit)
            }
            _ => self.power(),
        }
    }

    fn postfix(&mut self) -> Result<Expr, ParseError> {
        let a = self.atom()?;
        self.postfix_ops(a)
    }

    fn postfix_ops(&mut self, mut a: Expr) -> Result<Expr, ParseError> {
        let mut nest = 0usize;
        loop {
            nest += 1;
            if nest > self.budget.max_depth {
                return Err(ParseError::Budget(format!(
                    "more than max_depth={} postfix operators",
                    self.budget.max_depth
                )));
            }
            if self.eat_sym('!') {
                self.node()?;
                a = Expr::Factorial(Box::new(a));
            } else if self.eat_sym('%') {
                self.node()?;
                a = Expr::Percent(Box::new(a));
            } else {
                return Ok(a);
            }
        }
    }

    /// A `{...}` group or a single atom (arguments of `\frac`, `\sqrt`, `\binom`).
    fn arg(&mut self) -> Result<Expr, ParseError> {
        match self.peek() {
            Some(Tok::Sym('{')) => self.atom(),
            Some(Tok::Num(n)) => {
                let n = n.clone();
                self.pos += 1;
                num_literal(&n)
            }
            _ => self.atom(),
        }
    }

    fn group_until(&mut self, close: &Tok) -> Result<Expr, ParseError> {
        self.enter()?;
        let e = self.expr()?;
        if self.next().as_ref() != Some(close) {
            return syn(format!("expected {close:?}"));
        }
        self.depth -= 1;
        Ok(e)
    }

    /// Function argument: parenthesised/braced, or an implicit product of atoms (`\sin 2x`).
    fn func_arg(&mut self) -> Result<Expr, ParseError> {
        match self.peek() {
            Some(Tok::Sym('(')) | Some(Tok::Sym('{')) => self.atom(),
            _ => {
                self.enter()?;
                let mut acc = self.power()?;
                while self.starts_atom()
                    && !matches!(self.peek(), Some(Tok::Cmd(c)) if is_func_cmd(c))
                {
                    let r = self.power()?;
                    acc = mul(acc, r);
                    self.node()?;
                }
                self.depth -= 1;
                Ok(acc)
            }
        }
    }

    fn apply_func(&mut self, name: &str) -> Result<Expr, ParseError> {
        self.node()?;
        // `\log_2 x`, `\log_{b}(x)`
        if name == "log" || name == "ln" || name == "lg" {
            let explicit = name == "log" && self.peek() == Some(&Tok::Sym('_'));
            let base = if name == "log" && self.eat_sym('_') {
                Some(Box::new(self.arg()?))
            } else if name == "ln" {
                None
            } else {
                Some(Box::new(int(10)))
            };
            let power = if self.eat_sym('^') {
                Some(self.exponent()?)
            } else {
                None
            };
            // `log(x, b)` (the computer-algebra spelling): logarithm of x to base b.
            let (base, x) = match self.log_with_base(name, explicit)? {
                Some((x, b)) => (Some(Box::new(b)), x),
                None => (base, self.func_arg()?),
            };
            let e = Expr::Log(base, Box::new(x));
            return Ok(match power {
                Some(p) => Expr::Pow(Box::new(e), Box::new(p)),
                None => e,
            });
        }
        if name == "sqrt" {
            return self.sqrt();
        }
        let f = func_from_name(name)
            .ok_or_else(|| ParseError::Syntax(format!("unknown function {name}")))?;
        let mut power = None;
        let mut f = f;
        if self.eat_sym('^') {
            let p = self.exponent()?;
            let is_minus_one = matches!(&p, Expr::Neg(b) if matches!(b.as_ref(), Expr::Num { val, .. } if val.is_one()));
            match (is_minus_one, inverse(f)) {
                (true, Some(inv)) => f = inv,
                _ => power = Some(p),
            }
        }
        let x = self.func_arg()?;
        let e = Expr::Func(f, Box::new(x));
        Ok(match power {
            Some(p) => Expr::Pow(Box::new(e), Box::new(p)),
            None => e,
        })
    }

    /// `(a1, ..., aN)` after a function name (`factorial(n)`, `binomial(n, k)`), exactly `N`
    /// comma-separated arguments.
    fn paren_args<const N: usize>(&mut self, name: &str) -> Result<[Expr; N], ParseError> {
        if !self.eat_sym('(') {
            return syn(format!("{name} needs its arguments in parentheses"));
        }
        self.enter()?;
        let mut args = Vec::with_capacity(N);
        loop {
            args.push(self.expr()?);
            if !self.eat_sym(',') {
                break;
            }
        }
        if !self.eat_sym(')') {
            return syn(format!("{name}(...) is not closed"));
        }
        self.depth -= 1;
        let n = args.len();
        args.try_into()
            .map_err(|_| ParseError::Syntax(format!("{name} takes {N} argument(s), got {n}")))
    }

    /// `log(x, b)`: the argument and the base, when `log` (without a `_` base) is followed by a
    /// parenthesised pair. The parser position is unchanged when it is not.
    fn log_with_base(
        &mut self,
        name: &str,
        explicit: bool,
    ) -> Result<Option<(Expr, Expr)>, ParseError> {
        if name != "log" || explicit || self.peek() != Some(&Tok::Sym('(')) {
            return Ok(None);
        }
        if !self.two_args_follow() {
            return Ok(None);
        }
        let [x, b] = self.paren_args::<2>("log")?;
        Ok(Some((x, b)))
    }

    /// Whether `(a, b)` follows: a parenthesised group with one top-level comma.
    fn two_args_follow(&self) -> bool {
        if self.peek() != Some(&Tok::Sym('(')) {
            return false;
        }
        let end = paren_end(self.toks, self.pos);
        let inner = &self.toks[self.pos + 1..end.min(self.toks.len())];
        split_top(inner, |t| matches!(t, Tok::Sym(','))).len() == 1
    }

    /// `{n \\choose k}`: the binomial coefficient, when the `{` just read opens a group with
    /// one top-level `\\choose`.
    fn choose_group(&mut self) -> Result<Option<Expr>, ParseError> {
        if !self.choose {
            return Ok(None);
        }
        let open = self.pos - 1;
        let end = brace_end(self.toks, open);
        if end >= self.toks.len() {
            return Ok(None);
        }
        let inner = &self.toks[self.pos..end];
        let at = split_top(inner, |t| matches!(t, Tok::Cmd(c) if c == "choose"));
        let [k] = at[..] else { return Ok(None) };
        let (top, bottom) = (&inner[..k], &inner[k + 1..]);
        if top.is_empty() || bottom.is_empty() {
            return syn("\\choose with an empty side");
        }
        let mut nodes = self.nodes;
        let n = parse_expr_tokens(top, self.budget, self.depth + 1, &mut nodes)?;
        let k = parse_expr_tokens(bottom, self.budget, self.depth + 1, &mut nodes)?;
        self.nodes = nodes;
        self.pos = end + 1;
        Ok(Some(Expr::Binom(Box::new(n), Box::new(k))))
    }

    fn sqrt(&mut self) -> Result<Expr, ParseError> {
        let n = if self.eat_sym('[') {
            self.group_until(&Tok::Sym(']'))?
        } else {
            int(2)
        };
        let x = match self.peek() {
            Some(Tok::Sym('(')) => self.atom()?,
            _ => self.arg()?,
        };
        self.node()?;
        Ok(Expr::Root(Box::new(n), Box::new(x)))
    }

    /// One atom; every recursion of the parser passes through here or `expr`/`unary`, so the
    /// depth budget bounds the stack.
    fn atom(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let r = self.atom_inner();
        self.depth -= 1;
        r
    }

    fn atom_inner(&mut self) -> Result<Expr, ParseError> {
        self.node()?;
        let t = match self.next() {
            Some(t) => t,
            None => return syn("unexpected end"),
        };
        match t {
            Tok::Num(n) => num_literal(&n),
            Tok::Sym('(') => self.group_until(&Tok::Sym(')')),
            Tok::Sym('[') => self.group_until(&Tok::Sym(']')),
            Tok::Sym('{') => match self.choose_group()? {
                Some(e) => Ok(e),
                None => self.group_until(&Tok::Sym('}')),
            },
            Tok::Sym('|') => {
                let e = self.group_until(&Tok::Sym('|'))?;
                Ok(Expr::Func(Func::Abs, Box::new(e)))
            }
            Tok::Word(w) => self.word(&w),
            Tok::Cmd(c) => self.command(&c),
            other => syn(format!("unexpected {other:?}")),
        }
    }

    fn word(&mut self, w: &str) -> Result<Expr, ParseError> {
        match w {
            // `Pi` and `Abs` are the computer-algebra (sympy) spellings.
            "pi" | "Pi" => return Ok(Expr::Const(Const::Pi)),
            "Abs" => return self.apply_func("abs"),
            "infty" | "inf" | "oo" => return Ok(Expr::Const(Const::Inf)),
            "sqrt" | "log" | "ln" | "lg" => return self.apply_func(w),
            _ => {}
        }
        if func_from_name(w).is_some() {
            return self.apply_func(w);
        }
        match w {
            "factorial" => {
                let [x] = self.paren_args::<1>(w)?;
                return Ok(Expr::Factorial(Box::new(x)));
            }
            "binomial" | "binom" => {
                let [n, k] = self.paren_args::<2>(w)?;
                return Ok(Expr::Binom(Box::new(n), Box::new(k)));
            }
            // `C(n, k)`: the binomial coefficient (a point `C(1, 2)` is not an answer form).
            "C" if self.two_args_follow() => {
                let [n, k] = self.paren_args::<2>(w)?;
                return Ok(Expr::Binom(Box::new(n), Box::new(k)));
            }
            "gamma" | "Gamma" if self.peek() == Some(&Tok::Sym('(')) => {
                let [x] = self.paren_args::<1>(w)?;
                return Ok(Expr::Func(Func::Gamma, Box::new(x)));
            }
            g if is_greek_word(g) => return self.subscript(greek_symbol(g)),
            _ => {}
        }
        // A run of letters is a product of single-letter variables.
        let mut factors = Vec::new();
        let chars: Vec<char> = w.chars().collect();
        for (k, ch) in chars.iter().enumerate() {
            self.node()?;
            let mut v = match ch {
                'e' => Expr::Const(Const::E),
                'i' => Expr::Const(Const::I),
                c => Expr::Var(c.to_string()),
            };
            if k + 1 == chars.len() {
                v = self.subscript(v)?;
            }
            factors.push(v);
        }
        Ok(if factors.len() == 1 {
            factors.pop().unwrap_or_else(|| int(0))
        } else {
            Expr::Mul(factors)
        })
    }

    /// `x_1`, `a_{n}`: the subscript becomes part of the variable name.
    fn subscript(&mut self, v: Expr) -> Result<Expr, ParseError> {
        if !self.eat_sym('_') {
            while self.eat_sym('\'') {}
            return Ok(v);
        }
        let base_name = match &v {
            Expr::Var(n) => n.clone(),
            Expr::Const(Const::E) => "e".into(),
            Expr::Const(Const::I) => "i".into(),
            _ => return syn("subscript"),
        };
        let sub = match self.next() {
            Some(Tok::Num(n)) => n,
            Some(Tok::Word(w)) => w,
            Some(Tok::Sym('{')) => {
                let end = brace_end(self.toks, self.pos - 1);
                let inner = &self.toks[self.pos..end.min(self.toks.len())];
                self.pos = (end + 1).min(self.toks.len());
                if inner.len() > 64 {
                    return syn("long subscript");
                }
                let s: String = inner.iter().map(tok_text).collect();
                if s.len() > 64 {
                    return syn("long subscript");
                }
                s
            }
            _ => return syn("bad subscript"),
        };
        Ok(Expr::Var(format!("{base_name}_{sub}")))
    }

    fn command(&mut self, c: &str) -> Result<Expr, ParseError> {
        match c {
            "frac" => {
                let n = self.arg()?;
                let d = self.arg()?;
                Ok(Expr::Div(Box::new(n), Box::new(d)))
            }
            "sqrt" => self.sqrt(),
            "binom" | "choose" => {
                let n = self.arg()?;
                let k = self.arg()?;
                Ok(Expr::Binom(Box::new(n), Box::new(k)))
            }
            "pi" => Ok(Expr::Const(Const::Pi)),
            "infty" | "infin" => Ok(Expr::Const(Const::Inf)),
            "e" => Ok(Expr::Const(Const::E)),
            "i" | "imath" => Ok(Expr::Const(Const::I)),
            "lfloor" => {
                let e = self.group_until(&Tok::Cmd("rfloor".into()))?;
                Ok(Expr::Func(Func::Floor, Box::new(e)))
            }
            "lceil" => {
                let e = self.group_until(&Tok::Cmd("rceil".into()))?;
                Ok(Expr::Func(Func::Ceil, Box::new(e)))
            }
            "vert" | "lvert" | "|" => {
                self.enter()?;
                let e = self.expr()?;
                match self.next() {
                    Some(Tok::Cmd(x)) if x == "vert" || x == "rvert" || x == "|" => {}
                    _ => return syn("unclosed |"),
                }
                self.depth -= 1;
                Ok(Expr::Func(Func::Abs, Box::new(e)))
            }
            "{" => syn("set inside an expression"),
            "Gamma" if self.peek() == Some(&Tok::Sym('(')) => {
                let [x] = self.paren_args::<1>("\\Gamma")?;
                Ok(Expr::Func(Func::Gamma, Box::new(x)))
            }
            name if is_func_cmd(name) => self.apply_func(name),
            name if name.len() >= 2
                && name.chars().all(|ch| ch.is_ascii_alphabetic())
                && GREEK.contains(&name) =>
            {
                let v = greek_symbol(name);
                self.subscript(v)
            }
            // Any other command name not taking a braced argument is an opaque symbol (`\\zzz`,
            // `\\sum` with its limits as subscript and power): both sides must spell it alike.
            other
                if other.len() >= 2
                    && other.chars().all(|ch| ch.is_ascii_alphabetic())
                    && !NOT_SYMBOLS.contains(&other)
                    && self.peek() != Some(&Tok::Sym('{')) =>
            {
                self.subscript(Expr::Var(format!("\\{other}")))
            }
            other => syn(format!("unsupported command \\{other}")),
        }
    }
}

/// Commands that are never read as opaque symbols.
const NOT_SYMBOLS: &[&str] = &[
    "begin",
    "end",
    "left",
    "right",
    "text",
    "cup",
    "cap",
    "in",
    "to",
    "mid",
    "quad",
    "qquad",
    "approx",
    "equiv",
    "pm",
    "mp",
    "cdot",
    "times",
    "div",
    "le",
    "ge",
    "leq",
    "geq",
    "ne",
    "neq",
    "lt",
    "gt",
    "infty",
    "setminus",
    "subset",
    "subseteq",
    "Rightarrow",
    "implies",
    "iff",
    "therefore",
    "because",
    "dots",
    "ldots",
    "cdots",
    "vdots",
];

const GREEK: &[&str] = &[
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "varrho",
    "varsigma",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Sigma",
    "Phi",
    "Psi",
    "Omega",
];

/// The symbol of a Greek letter name; the variant shapes are the same letter (`\\varepsilon` is
/// `\\epsilon`, `\\varphi` is `\\phi`, `\\vartheta` is `\\theta`).
fn greek_symbol(name: &str) -> Expr {
    let base = name
        .strip_prefix("var")
        .filter(|b| GREEK.contains(b))
        .unwrap_or(name);
    Expr::Var(format!("\\{base}"))
}

fn is_func_cmd(c: &str) -> bool {
    func_from_name(c).is_some() || matches!(c, "log" | "ln" | "lg" | "sqrt")
}

fn mul(a: Expr, b: Expr) -> Expr {
    match a {
        Expr::Mul(mut v) => {
            v.push(b);
            Expr::Mul(v)
        }
        a => Expr::Mul(vec![a, b]),
    }
}

/// The value of a literal fraction `a/b` of integers, if the expression is one.
pub fn literal_fraction(e: &Expr) -> Option<(BigInt, BigInt)> {
    match e {
        Expr::Div(n, d) => match (n.as_ref(), d.as_ref()) {
            (
                Expr::Num {
                    val: a,
                    decimals: None,
                },
                Expr::Num {
                    val: b,
                    decimals: None,
                },
            ) if a.is_integer() && b.is_integer() => Some((a.to_integer(), b.to_integer())),
            _ => None,
        },
        Expr::Neg(x) => literal_fraction(x).map(|(a, b)| (-a, b)),
        _ => None,
    }
}

/// Whether `e` is zero-free of variables.
pub fn collect_vars(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Var(v) => {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        Expr::Num { .. } | Expr::Const(_) => {}
        Expr::Add(v) | Expr::Mul(v) => v.iter().for_each(|x| collect_vars(x, out)),
        Expr::Neg(x) | Expr::Func(_, x) | Expr::Factorial(x) | Expr::Percent(x) => {
            collect_vars(x, out)
        }
        Expr::Div(a, b) | Expr::Pow(a, b) | Expr::Root(a, b) | Expr::Binom(a, b) => {
            collect_vars(a, out);
            collect_vars(b, out);
        }
        Expr::Log(b, x) => {
            if let Some(b) = b {
                collect_vars(b, out);
            }
            collect_vars(x, out);
        }
    }
}

/// Is this rational zero? (helper used by comparisons)
pub fn is_zero(q: &BigRational) -> bool {
    q.is_zero()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Answer {
        parse_answer(s, &Policy::default(), &Budget::default()).expect("parses")
    }

    #[test]
    fn shapes() {
        assert!(matches!(p("\\frac{1}{2}"), Answer::Expr(Expr::Div(..))));
        assert!(matches!(
            p("(1, 2]"),
            Answer::Brack {
                open: '(',
                close: ']',
                ..
            }
        ));
        assert!(matches!(p("\\{1,2\\}"), Answer::Set(_)));
        assert!(matches!(p("1, 2"), Answer::List(_)));
        assert!(matches!(p("x = 3"), Answer::Rel(..)));
        assert!(matches!(p("(C)"), Answer::Choice('C')));
        assert!(matches!(p("Monday"), Answer::Text(_)));
        assert!(matches!(p("(0,1) \\cup (2, \\infty)"), Answer::Union(_)));
        assert!(matches!(
            p("\\begin{pmatrix}1 & 2\\\\3 & 4\\end{pmatrix}"),
            Answer::Matrix(_)
        ));
        assert!(matches!(p("1 \\pm \\sqrt{2}"), Answer::Set(_)));
        assert!(matches!(
            p("\\sin^2 x + \\cos^2 x"),
            Answer::Expr(Expr::Add(_))
        ));
    }
}
