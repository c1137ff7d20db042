//! Answer extraction from a full response: boxes, "final answer is", "answer:", a short whole
//! response, and a last-number / last-math fallback. All scans are linear in the input.

use super::parse::letter_runs;
use super::policy::Extractor;

/// Closing index of each brace in `wanted` (sorted byte offsets of unescaped `{`), computed in
/// one pass with a stack, so that many (even unclosed) boxes stay linear.
fn matching_braces(text: &str, wanted: &[usize]) -> Vec<Option<usize>> {
    let bytes = text.as_bytes();
    let mut stack = Vec::new();
    let mut out = vec![None; wanted.len()];
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                i += 2;
                continue;
            }
            b'{' => stack.push(i),
            b'}' => {
                if let Some(o) = stack.pop() {
                    if let Ok(k) = wanted.binary_search(&o) {
                        out[k] = Some(i);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Every box in the text: (start, end, content).
fn all_boxes(text: &str) -> Vec<(usize, usize, &str)> {
    let bytes = text.as_bytes();
    // Phase 1: box commands and where their content starts.
    let mut starts: Vec<(usize, usize)> = Vec::new(); // (command start, content start)
    let mut pos = 0;
    while let Some(rel) = text[pos..].find('\\') {
        let start = pos + rel;
        let rest = &text[start..];
        let name_len = if rest.starts_with("\\boxed") {
            6
        } else if rest.starts_with("\\fbox") {
            5
        } else {
            pos = start + 1;
            continue;
        };
        let mut j = start + name_len;
        pos = j;
        if bytes.get(j).is_some_and(|c| c.is_ascii_alphabetic()) {
            continue;
        }
        while bytes.get(j) == Some(&b' ') {
            j += 1;
        }
        if j > start + name_len || bytes.get(j) == Some(&b'{') {
            starts.push((start, j));
        }
    }
    if starts.is_empty() {
        return Vec::new();
    }
    // Phase 2: brace-matched contents (one pass), or `\boxed 5` up to whitespace or `$`.
    let wanted: Vec<usize> = starts
        .iter()
        .filter(|s| bytes.get(s.1) == Some(&b'{'))
        .map(|s| s.1)
        .collect();
    let closes = matching_braces(text, &wanted);
    let mut out = Vec::new();
    let mut last_end = 0;
    let mut w = 0; // index into `wanted`, which follows `starts` in order
    for (start, j) in starts {
        let braced = bytes.get(j) == Some(&b'{');
        let k = if braced {
            w += 1;
            Some(w - 1)
        } else {
            None
        };
        if start < last_end {
            continue; // nested inside the previous box
        }
        if braced {
            if let Some(close) = k.and_then(|k| closes[k]) {
                out.push((start, close + 1, &text[j + 1..close]));
                last_end = close + 1;
            }
        } else {
            let end = text[j..]
                .find(|c: char| c.is_whitespace() || c == '$')
                .map_or(text.len(), |k| j + k);
            if end > j {
                out.push((start, end, &text[j..end]));
                last_end = end;
            }
        }
    }
    out
}

/// Text between two boxes that joins them into one answer: short, within one sentence, at most
/// one `=` (a label), and either no words at all or a connective among them (`\quad \text{and}
/// \quad`, ` cats and `, `\) and \( y_2 = `, `, `). A sentence end (`. Later ...`) or words
/// without a connective separate them.
fn is_box_separator(gap: &str) -> bool {
    if gap.len() > 64 || gap.contains("\n\n") {
        return false;
    }
    let g = gap.trim().trim_matches('$').trim();
    if g.is_empty() {
        return true;
    }
    if g.contains(['.', '!', '?', ':']) || g.matches('=').count() > 1 {
        return false;
    }
    let (mut words, mut connective) = (0, false);
    for (w, command) in letter_runs(g) {
        if !command && w.len() >= 2 && !matches!(w, "text" | "mbox" | "textrm") {
            words += 1;
            connective |= matches!(w.to_ascii_lowercase().as_str(), "and" | "or");
        }
    }
    words == 0 || connective
}

fn boxed(text: &str, join: bool) -> Option<String> {
    boxed_with_end(text, join).map(|b| b.0)
}

/// The (joined) last box and the byte offset where it ends.
fn boxed_with_end(text: &str, join: bool) -> Option<(String, usize)> {
    let boxes = all_boxes(text);
    let last = boxes.len().checked_sub(1)?;
    let mut first = last;
    if join {
        while first > 0 && is_box_separator(&text[boxes[first - 1].1..boxes[first].0]) {
            first -= 1;
        }
    }
    let parts: Vec<&str> = boxes[first..=last].iter().map(|b| b.2.trim()).collect();
    Some((parts.join(", "), boxes[last].1))
}

/// ASCII-lower-cased copy (byte offsets stay the same).
fn lower(text: &str) -> String {
    text.to_ascii_lowercase()
}

/// The phrase after the right-most of `needles` in `low` (a lower-cased copy of `text`).
/// Right-most "answer" (any ASCII case) starting before `end`, by a byte scan (no copy).
fn rfind_answer(bytes: &[u8], end: usize) -> Option<usize> {
    let mut i = end.checked_sub(6)?;
    loop {
        if bytes[i] | 0x20 == b'a' && bytes[i..i + 6].eq_ignore_ascii_case(b"answer") {
            return Some(i);
        }
        if i == 0 {
            return None;
        }
        i -= 1;
    }
}

fn starts_with_ci(hay: &[u8], needle: &str) -> bool {
    hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle.as_bytes())
}

/// The phrase after the right-most "final answer ..." (`final_answer`) or "answer:" /
/// "answer is" / "answers are". One backwards byte scan over the occurrences of "answer".
fn after_last(text: &str, final_answer: bool) -> Option<String> {
    phrase_answer(text, english_phrase_end(text, final_answer)?)
}

/// "answer:" / "answer is" in English or in another language ([`ANSWER_WORDS`]), whichever is
/// right-most.
fn answer_phrase(text: &str) -> Option<String> {
    let at = match (english_phrase_end(text, false), foreign_phrase_end(text)) {
        (Some(a), Some(b)) => a.max(b),
        (a, b) => a.or(b)?,
    };
    phrase_answer(text, at)
}

/// The word "answer" in other languages, lower case (a word of letters, matched whole): an answer
/// follows when a connective does (`Antwort:`, `la respuesta es`, `ответ:`).
const ANSWER_WORDS: &[&str] = &[
    "antwort",
    "lösung",
    "respuesta",
    "réponse",
    "resposta",
    "risposta",
    "antwoord",
    "ответ",
    "відповідь",
    "svar",
    "svaret",
    "vastaus",
    "válasz",
    "răspuns",
    "răspunsul",
    "odpowiedź",
    "odpověď",
    "cevap",
    "yanıt",
    "jibu",
    "jawaban",
    "jawabannya",
    "jawapan",
    "sagot",
    "απάντηση",
    "الإجابة",
    "الجواب",
    "תשובה",
    "پاسخ",
    "उत्तर",
    "উত্তর",
];

/// "Answer" in scripts written without spaces (searched inside a run of letters): Chinese,
/// Japanese, Korean, Thai.
const ANSWER_INFIXES: &[&str] = &["答案", "答え", "正解", "정답", "답", "คำตอบ"];

/// What may stand between the answer word and the answer; at least one must (`是`, `:`, `ist`,
/// `final es`, ...).
const CONNECTIVES: &[&str] = &[
    "final",
    "finale",
    "ist",
    "lautet",
    "es",
    "est",
    "é",
    "è",
    "is",
    "är",
    "er",
    "on",
    "jest",
    "je",
    "este",
    "adalah",
    "ialah",
    "ni",
    "là",
    "равен",
    "равна",
    "это",
    "є",
    "是",
    "为",
    "為",
    "は",
    "은",
    "는",
    "คือ",
    "un",
    "una",
];

/// Only this tail of a response is searched for answer words in other languages (a final answer
/// is near the end; the scan stays linear and short on long responses).
const FOREIGN_WINDOW: usize = 16 * 1024;

/// Byte offset where the answer starts after the right-most answer word in another language
/// ([`ANSWER_WORDS`], [`ANSWER_INFIXES`]) that a connective follows. One pass over the window.
fn foreign_phrase_end(text: &str) -> Option<usize> {
    let mut start = text.len().saturating_sub(FOREIGN_WINDOW);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let window = &text[start..];
    let mut best = None;
    let mut run_start = None;
    for (i, c) in window
        .char_indices()
        .chain(std::iter::once((window.len(), ' ')))
    {
        if c.is_alphabetic() {
            run_start.get_or_insert(i);
            continue;
        }
        let Some(rs) = run_start.take() else { continue };
        let run = &window[rs..i];
        let ascii = run.is_ascii();
        if ascii && !(3..=16).contains(&run.len()) {
            continue;
        }
        let word_end = if run.len() <= 32 && is_answer_word(run) {
            Some(i)
        } else if ascii {
            None
        } else {
            ANSWER_INFIXES
                .iter()
                .filter_map(|w| run.rfind(w).map(|k| rs + k + w.len()))
                .max()
        };
        if let Some(at) = word_end.and_then(|e| after_connectives(window, e)) {
            best = Some(start + at);
        }
    }
    best
}

/// Whether a run of letters is one of [`ANSWER_WORDS`] (any case).
fn is_answer_word(run: &str) -> bool {
    let lower = run.to_lowercase();
    ANSWER_WORDS.contains(&lower.as_str())
}

/// Past the connectives after an answer word ending at `at`, if there is at least one.
fn after_connectives(s: &str, mut at: usize) -> Option<usize> {
    let mut found = false;
    for _ in 0..4 {
        let rest = &s[at..];
        let trimmed = rest.trim_start_matches([' ', '\t', '*']);
        at += rest.len() - trimmed.len();
        if let Some(c) = trimmed
            .chars()
            .next()
            .filter(|c| matches!(c, ':' | '：' | '—' | '-' | '='))
        {
            at += c.len_utf8();
            found = true;
            continue;
        }
        let word_len = trimmed
            .char_indices()
            .find(|(_, c)| !c.is_alphabetic())
            .map_or(trimmed.len(), |(k, _)| k);
        let word = &trimmed[..word_len];
        let lower = word.to_lowercase();
        if let Some(cj) = CONNECTIVES
            .iter()
            .find(|w| lower == **w || (!w.is_ascii() && word.starts_with(**w)))
        {
            at += if lower == *cj { word_len } else { cj.len() };
            found = true;
            continue;
        }
        break;
    }
    found.then_some(at)
}

/// Whether `c` ends an answer phrase written after a phrase in a CJK language: ideographs, kana,
/// hangul and CJK punctuation (`6 です。`, `5입니다`).
fn cjk(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{30FF}' | '\u{4E00}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7AF}' | '\u{FF01}'..='\u{FF0F}' | '\u{FF1A}'..='\u{FF1F}')
}

/// Byte offset right after the right-most English answer phrase.
fn english_phrase_end(text: &str, final_answer: bool) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut end = bytes.len();
    let mut found = None;
    while let Some(p) = rfind_answer(bytes, end) {
        let after = &bytes[p + 6..];
        if final_answer {
            if p >= 6 && bytes[p - 6..p].eq_ignore_ascii_case(b"final ") {
                let skip = [" is:", " is", ":"]
                    .iter()
                    .find(|t| starts_with_ci(after, t))
                    .map_or(0, |t| t.len());
                found = Some(p + 6 + skip);
                break;
            }
        } else if let Some(t) = [" is:", " is", ":", "s are:", "s are"]
            .iter()
            .find(|t| starts_with_ci(after, t))
        {
            found = Some(p + 6 + t.len());
            break;
        } else if p + 6 < bytes.len()
            && (p == 0 || !bytes[p - 1].is_ascii_alphabetic())
            && after.first().is_some_and(|c| *c == b' ')
            && {
                let t = text[p + 6..].trim_start_matches(' ');
                t.starts_with('$') || t.starts_with("\\[") || t.starts_with("\\(")
            }
        {
            // `Answer \[ 7 \]`: the word, then math.
            found = Some(p + 6);
            break;
        }
        end = p;
    }
    found
}

/// The answer written after a phrase ending at byte `at`: math right after it, or the rest of the
/// line up to a sentence end.
fn phrase_answer(text: &str, at: usize) -> Option<String> {
    if let Some(m) = math_after_word(&text[at..]) {
        return m;
    }
    let rest = &text[at..];
    // `**Answer:** 5` (markdown bold) as well as `Answer: 5`.
    let rest = rest.trim_start_matches([' ', ':', '\t', '*']);
    // The phrase ends at the line end; a few KiB are plenty for any answer.
    let mut cap = rest.len().min(16 * 1024);
    while !rest.is_char_boundary(cap) {
        cap -= 1;
    }
    let rest = &rest[..cap];
    let mut end = rest.find('\n').unwrap_or(rest.len());
    if let Some(k) = rest[..end].find(". ") {
        end = k;
    }
    if let Some(k) = rest[..end].find(cjk) {
        end = k;
    }
    let lowrest = lower(&rest[..end]);
    if let Some(k) = lowrest.find("i hope") {
        end = k;
    }
    let ans = clean_phrase(&rest[..end]);
    if ans.is_empty() {
        return None;
    }
    // `The final answer is: The largest $n$ is 34.`: a sentence, so its last math or number.
    if prose_words(&ans) >= 3 {
        if let Some(t) = tail(&ans) {
            return Some(t);
        }
    }
    Some(ans)
}

/// Alphabetic words of 3+ letters outside math (`$...$`) and not LaTeX commands.
fn prose_words(s: &str) -> usize {
    s.split('$')
        .step_by(2)
        .flat_map(letter_runs)
        .filter(|(w, command)| w.len() >= 3 && !command)
        .count()
}

/// `Answer \[ 7 \]`, `Answer $7$`, `answer is \( 7 \)`: the math right after the phrase. Display
/// math (`\[...\]`, `$$...$$`) may span lines, inline math (`$...$`, `\(...\)`) may not: an
/// inline span broken by a newline is no answer (`Some(None)`). `None`: no math follows.
fn math_after_word(rest: &str) -> Option<Option<String>> {
    let r = rest.trim_start_matches([' ', ':', '\t', '*']);
    let (open, close, display) = [
        ("$$", "$$", true),
        ("\\[", "\\]", true),
        ("\\(", "\\)", false),
        ("$", "$", false),
    ]
    .into_iter()
    .find(|(o, _, _)| r.starts_with(o))?;
    let body = &r[open.len()..];
    let mut from = 0;
    let end = loop {
        let k = from + body[from..].find(close)?;
        // `\$` inside `$...$` is an escaped dollar, not the end.
        if close == "$" && k > 0 && body.as_bytes()[k - 1] == b'\\' {
            from = k + 1;
            continue;
        }
        break k;
    };
    let inner = &body[..end];
    if !display && inner.contains('\n') {
        return Some(None);
    }
    let inner = clean_phrase(inner);
    Some((!inner.is_empty()).then_some(inner))
}

/// Strip math delimiters and trailing punctuation around an extracted phrase.
fn clean_phrase(s: &str) -> String {
    let mut t = s.trim();
    loop {
        let before = t;
        t = t.trim_end_matches(['.', '!', ',', ';']).trim();
        for (a, b) in [
            ("$$", "$$"),
            ("$", "$"),
            ("\\(", "\\)"),
            ("\\[", "\\]"),
            ("**", "**"),
            ("\\\"", "\\\""),
            ("\"", "\""),
        ] {
            if t.len() >= a.len() + b.len() && t.starts_with(a) && t.ends_with(b) {
                t = t[a.len()..t.len() - b.len()].trim();
            }
        }
        if t == before {
            break;
        }
    }
    t.trim_matches('$').trim().to_string()
}

fn looks_like_bare_answer(text: &str) -> bool {
    let t = text.trim();
    if t.is_empty() || t.len() > 80 || t.contains('\n') || t.contains(". ") {
        return false;
    }
    // Plain prose has several alphabetic words of 3+ letters outside LaTeX commands.
    let mut words = 0;
    let mut prev_backslash = false;
    for w in t.split(|c: char| !c.is_ascii_alphabetic() && c != '\\') {
        let (bs, w) = match w.strip_prefix('\\') {
            Some(r) => (true, r),
            None => (prev_backslash, w),
        };
        prev_backslash = false;
        if !bs && w.len() >= 3 {
            words += 1;
        }
    }
    words <= 2 && (!t.contains('$') || t.starts_with('$'))
}

/// The right-most math environment or number.
fn tail(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    // Right-most number: digits with inner `.`, `,`, `/` and an optional leading minus.
    let mut num: Option<(usize, String)> = None;
    let mut i = bytes.len();
    while i > 0 {
        i -= 1;
        if bytes[i].is_ascii_digit() {
            let end = i + 1;
            let mut start = i;
            while start > 0
                && (bytes[start - 1].is_ascii_digit()
                    || matches!(bytes[start - 1], b'.' | b',' | b'/'))
            {
                start -= 1;
            }
            while start < end && !bytes[start].is_ascii_digit() {
                start += 1;
            }
            // `AZYUK2A`, `x2`: digits glued to a name are not a number.
            if start > 0 && bytes[start - 1].is_ascii_alphabetic() {
                i = start;
                continue;
            }
            if start > 0 && bytes[start - 1] == b'-' {
                start -= 1;
            }
            num = Some((start, text[start..end].to_string()));
            break;
        }
    }
    // Right-most `$...$`, `\(...\)`, `\[...\]`.
    let mut math: Option<(usize, String)> = None;
    for (open, close) in [("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")] {
        if let Some(c) = text.rfind(close) {
            if let Some(o) = text[..c].rfind(open) {
                let inner = text[o + open.len()..c].trim();
                if !inner.is_empty()
                    && inner.len() <= 512
                    && math.as_ref().map_or(true, |m| c > m.0)
                {
                    let mut all = inner.to_string();
                    if open == close || open == "\\(" {
                        // `$x=1$ and $x=2$`: spans joined like boxes form one list answer.
                        all = joined_spans(text, o, open, close, all);
                    }
                    math = Some((c, all));
                }
            }
        }
    }
    // A matrix environment in running text (`The matrix is \begin{pmatrix}...\end{pmatrix}.`).
    if let Some(e) = text.rfind("matrix}") {
        let end = e + "matrix}".len();
        let is_end = text[..e].rfind("\\end{").is_some_and(|k| e - k <= 12);
        if let Some(b) = text[..e].rfind("\\begin{").filter(|_| is_end) {
            let later = |p: Option<usize>| p.map_or(true, |p| end > p);
            if end - b <= 4096
                && later(num.as_ref().map(|n| n.0))
                && later(math.as_ref().map(|m| m.0))
            {
                return Some(text[b..end].to_string());
            }
        }
    }
    match (num, math) {
        (Some(n), Some(m)) => Some(if m.0 >= n.0 { m.1 } else { n.1 }),
        (Some(n), None) => Some(n.1),
        (None, Some(m)) => Some(m.1),
        (None, None) => None,
    }
}

/// The inline math spans right before the one opening at `o` that are joined to it by commas
/// and at least one `and`/`or` (`$x=1$, $x=2$ or $x=3$`; gaps follow the box-joining rule), as
/// one comma list (at most 16 spans).
fn joined_spans(text: &str, mut o: usize, open: &str, close: &str, last: String) -> String {
    let mut parts = vec![last];
    let mut connective = false;
    while parts.len() < 16 {
        let Some(c) = text[..o].rfind(close) else {
            break;
        };
        let Some(o2) = text[..c].rfind(open) else {
            break;
        };
        let gap = &text[c + close.len()..o];
        let inner = text[o2 + open.len()..c].trim();
        let has = has_connective(gap);
        let joins = gap.trim() == "," || has;
        if inner.is_empty() || inner.len() > 512 || !joins || !is_box_separator(gap) {
            break;
        }
        connective |= has;
        parts.push(inner.to_string());
        o = o2;
    }
    // Commas alone (`$1$, $2$`) do not make a list; `$1$, $2$ and $3$` does.
    if !connective {
        parts.truncate(1);
    }
    parts.reverse();
    parts.join(", ")
}

/// `and` / `or` among the words of a gap.
fn has_connective(gap: &str) -> bool {
    letter_runs(gap)
        .any(|(w, command)| !command && matches!(w.to_ascii_lowercase().as_str(), "and" | "or"))
}

/// Run one extractor.
pub fn run_extractor(e: Extractor, text: &str, join_boxes: bool) -> Option<String> {
    match e {
        Extractor::Boxed => boxed(text, join_boxes),
        Extractor::FinalAnswer => after_last(text, true),
        Extractor::AnswerIs => answer_phrase(text),
        Extractor::Whole => looks_like_bare_answer(text)
            .then(|| clean_phrase(text))
            .filter(|s| !s.is_empty()),
        Extractor::Tail => tail(text),
    }
}

/// Extract the answer with the given priority order; returns the answer and which extractor found it.
pub fn extract(text: &str, order: &[Extractor], join_boxes: bool) -> Option<(String, Extractor)> {
    extract_from(text, order, join_boxes, 0).map(|(a, e, _)| (a, e))
}

/// Like [`extract`], trying the extractors from `order[skip..]`; also returns the index in
/// `order` of the one that found the answer (so that a caller can go on with the next ones).
/// A "final answer is ..." statement after the last box wins over the box.
pub fn extract_from(
    text: &str,
    order: &[Extractor],
    join_boxes: bool,
    skip: usize,
) -> Option<(String, Extractor, usize)> {
    for (k, &e) in order.iter().enumerate().skip(skip) {
        if e == Extractor::Boxed {
            if let Some((a, end)) = boxed_with_end(text, join_boxes) {
                if order.contains(&Extractor::FinalAnswer) {
                    if let Some(f) = after_last(&text[end..], true) {
                        return Some((f, Extractor::FinalAnswer, k));
                    }
                }
                return Some((a, e, k));
            }
            continue;
        }
        if let Some(a) = run_extractor(e, text, join_boxes) {
            return Some((a, e, k));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(t: &str) -> Option<String> {
        extract(t, &Extractor::DEFAULT_ORDER, true).map(|x| x.0)
    }

    #[test]
    fn boxes() {
        assert_eq!(
            ex("so \\boxed{\\frac{1}{2}} done").as_deref(),
            Some("\\frac{1}{2}")
        );
        assert_eq!(
            ex("\\boxed{1} then \\boxed{\\{1,2\\}}").as_deref(),
            Some("\\{1,2\\}")
        );
        assert_eq!(ex("x is \\boxed 5 ok").as_deref(), Some("5"));
        assert_eq!(ex("\\fbox{7}").as_deref(), Some("7"));
        assert_eq!(ex("$\\boxed{2}$ and $\\boxed{3}$").as_deref(), Some("2, 3"));
        assert_eq!(
            ex("\\boxed{2}. Later we see that \\boxed{3}").as_deref(),
            Some("3")
        );
    }

    #[test]
    fn phrases() {
        assert_eq!(
            ex("blah\nThe final answer is $42$. I hope it is correct.").as_deref(),
            Some("42")
        );
        assert_eq!(ex("Answer: 3/4\n").as_deref(), Some("3/4"));
        assert_eq!(ex("so\n**Answer:** 12\n").as_deref(), Some("12"));
        assert_eq!(ex("Steps...\n#### 42").as_deref(), Some("42"));
        assert_eq!(
            ex("We compute many things and get 12 apples, then 13.").as_deref(),
            Some("13")
        );
        assert_eq!(ex("\\frac{3}{4}").as_deref(), Some("\\frac{3}{4}"));
        assert_eq!(
            ex("so we find that $x = 5$ works").as_deref(),
            Some("x = 5")
        );
        assert_eq!(ex("no digits here at all, really none"), None);
    }
}
