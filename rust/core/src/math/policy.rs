//! Named policy switches and work budgets of the math verifier, with their documented defaults
//! (see `docs/VERIFY_MATH.md`). A leaf module: the other math modules depend on it, never the
//! reverse (the extractor names live here because `extract_order` is a setting).

/// One way of finding the answer in a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extractor {
    /// The last `\boxed{...}` / `\fbox{...}` (brace-matched), or `\boxed 5`.
    Boxed,
    /// Text after the last "final answer is" / "final answer:".
    FinalAnswer,
    /// Text after the last "answer:" / "answer is" / "answers are".
    AnswerIs,
    /// The whole response when it is short and looks like a bare answer.
    Whole,
    /// The right-most `$...$` / `\(...\)` / `\[...\]` math or number.
    Tail,
}

impl Extractor {
    /// Every extractor.
    pub const ALL: [Extractor; 5] = [
        Extractor::Boxed,
        Extractor::FinalAnswer,
        Extractor::AnswerIs,
        Extractor::Whole,
        Extractor::Tail,
    ];
    /// The default priority order.
    pub const DEFAULT_ORDER: [Extractor; 5] = Extractor::ALL;

    /// The name used in `extract_order`.
    pub fn name(self) -> &'static str {
        match self {
            Extractor::Boxed => "boxed",
            Extractor::FinalAnswer => "final_answer",
            Extractor::AnswerIs => "answer",
            Extractor::Whole => "whole",
            Extractor::Tail => "tail",
        }
    }

    /// Inverse of [`Extractor::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// How a percent sign is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PercentPolicy {
    /// `10%` equals `0.1` and `10\%`; in addition, when either side carries `%`, the bare number
    /// (`10`) also matches. `10` never matches `0.1`.
    Lenient,
    /// `10%` is exactly `1/10` and nothing else.
    Strict,
}

/// When an inequality may match an interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelationInterval {
    /// Only when the *gold* is the relation (`1<x<2` gold accepts `(1,2)`), as Math-Verify does.
    GoldOnly,
    /// In both directions.
    Both,
    /// Never.
    Never,
}

/// When a comma between digits is a decimal comma.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecimalComma {
    /// Never (`3,5` is the list 3, 5).
    Never,
    /// Only where unambiguous: one comma, no spaces, at least two digits after it and not a
    /// thousands grouping (`3,25`, `0,375`, `1000,99`; `3,5` and `1,234` are not).
    Auto,
    /// Always for a whole answer `d,d` (`3,5` is 3.5).
    Always,
}

/// Comparison policies. Every field is a named switch with a default.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Percent handling (default `Lenient`).
    pub percent: PercentPolicy,
    /// Bare comma lists (`1, 2`) compare as multisets (default true). Tuples `(1,2)` stay ordered.
    pub unordered_lists: bool,
    /// Strip unit words after a number (`5 cm`, `\text{ cm}`), default true.
    pub units: bool,
    /// A decimal literal matches an exact value that rounds to it at its stated precision
    /// (`0.333` vs `1/3`), default true. Needs `min_sig_digits` significant digits.
    pub approx_decimals: bool,
    /// Significant digits a decimal literal needs for `approx_decimals` (default 3).
    pub min_sig_digits: u32,
    /// `x = 1 + 1 = 2` compares its last side with a bare value (default true).
    pub equation_chains: bool,
    /// Multiple-choice letters: `(C)`, `C)`, `\text{(C)}` read as the letter C (default true).
    pub mcq_letters: bool,
    /// Decimal commas (default `Auto`: only where unambiguous).
    pub decimal_comma: DecimalComma,
    /// A decimal literal may match an *irrational* exact value by rounding (`15.71` vs `5\pi`),
    /// default false: a reward that pays for rounding teaches rounding. Decimals with at least
    /// 12 significant digits (a double printed in full) still match.
    pub approx_irrational: bool,
    /// Two equations with labelled left sides compare their right sides (`y = 3x+1` vs
    /// `g(x) = 3x+1`), default true.
    pub function_heads: bool,
    /// An unreduced fraction (`2/4`) equals its reduced value (default true; false = PRM800K's
    /// "unreduced answers are wrong").
    pub unreduced_fractions: bool,
    /// Relation-vs-interval matching (default `GoldOnly`).
    pub relation_interval: RelationInterval,
    /// Mixed numbers `7 3/4` and `7\frac{3}{4}` mean 7 + 3/4 (default true).
    pub mixed_numbers: bool,
    /// Powers with a variable in base and exponent are also compared at branch probe points on
    /// the principal branch, so that exponent rules needing a positive base or an integer
    /// exponent are not accepted: `(c^d)^e` ≢ `c^{de}`, `(ab)^n` ≢ `a^n b^n` (default true;
    /// false: only the generic points where both sides are real).
    pub strict_exponents: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            percent: PercentPolicy::Lenient,
            unordered_lists: true,
            units: true,
            approx_decimals: true,
            min_sig_digits: 3,
            equation_chains: true,
            mcq_letters: true,
            decimal_comma: DecimalComma::Auto,
            approx_irrational: false,
            function_heads: true,
            unreduced_fractions: true,
            relation_interval: RelationInterval::GoldOnly,
            mixed_numbers: true,
            strict_exponents: true,
        }
    }
}

/// Work budgets. Hitting one yields a `timeout` verdict with the budget named in the reason.
#[derive(Clone, Debug)]
pub struct Budget {
    /// Hard wall-clock bound per pair, in milliseconds (default 10).
    pub timeout_ms: f64,
    /// Longest response scanned for an answer, in bytes; longer responses keep their tail
    /// (default 4 MiB).
    pub max_response_bytes: usize,
    /// Longest extracted answer or gold, in bytes (default 4096).
    pub max_answer_bytes: usize,
    /// Deepest nesting of brackets/operators in the parser (default 200).
    pub max_depth: usize,
    /// Most AST nodes per answer (default 2000).
    pub max_nodes: usize,
    /// Most bits of any exact intermediate (numerator plus denominator; default 65536).
    pub max_bits: u64,
    /// Largest factorial / binomial argument evaluated exactly (default 3000).
    pub max_factorial: u64,
    /// Most evaluation steps per pair (default 200000).
    pub max_steps: u64,
    /// Random points used for symbolic equivalence (default 6).
    pub sample_points: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            timeout_ms: 10.0,
            max_response_bytes: 4 << 20,
            max_answer_bytes: 4096,
            max_depth: 200,
            max_nodes: 2000,
            max_bits: 65536,
            max_factorial: 3000,
            max_steps: 200_000,
            sample_points: 6,
        }
    }
}

/// Everything one verification call needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Comparison policies.
    pub policy: Policy,
    /// Work budgets.
    pub budget: Budget,
    /// Extraction order; the first extractor that finds something wins, and within one the
    /// right-most match wins.
    pub extract_order: Vec<Extractor>,
    /// Join the last `\boxed{}` with boxes right before it (separated by commas/`and`) into a list.
    pub join_boxes: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            budget: Budget::default(),
            extract_order: Extractor::DEFAULT_ORDER.to_vec(),
            join_boxes: true,
        }
    }
}

/// A value for [`Config::set`].
#[derive(Clone, Debug)]
pub enum ConfigValue {
    /// A boolean switch.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (enum names, comma-separated lists).
    Str(String),
}

impl ConfigValue {
    fn as_bool(&self, key: &str) -> Result<bool, String> {
        match self {
            ConfigValue::Bool(b) => Ok(*b),
            _ => Err(format!("policy {key:?} must be a bool")),
        }
    }
    fn as_uint(&self, key: &str) -> Result<u64, String> {
        match self {
            ConfigValue::Int(i) if *i >= 0 => Ok(*i as u64),
            ConfigValue::Bool(_)
            | ConfigValue::Int(_)
            | ConfigValue::Float(_)
            | ConfigValue::Str(_) => Err(format!("policy {key:?} must be a non-negative int")),
        }
    }
    fn as_float(&self, key: &str) -> Result<f64, String> {
        match self {
            ConfigValue::Float(f) if f.is_finite() && *f > 0.0 => Ok(*f),
            ConfigValue::Int(i) if *i > 0 => Ok(*i as f64),
            _ => Err(format!("policy {key:?} must be a positive number")),
        }
    }
    fn as_str(&self, key: &str) -> Result<&str, String> {
        match self {
            ConfigValue::Str(s) => Ok(s.as_str()),
            _ => Err(format!("policy {key:?} must be a str")),
        }
    }
}

/// Every key [`Config::set`] accepts.
pub const CONFIG_KEYS: &[&str] = &[
    "percent",
    "unordered_lists",
    "units",
    "approx_decimals",
    "min_sig_digits",
    "equation_chains",
    "mcq_letters",
    "decimal_comma",
    "approx_irrational",
    "function_heads",
    "unreduced_fractions",
    "relation_interval",
    "mixed_numbers",
    "strict_exponents",
    "timeout_ms",
    "max_response_bytes",
    "max_answer_bytes",
    "max_depth",
    "max_nodes",
    "max_bits",
    "max_factorial",
    "max_steps",
    "sample_points",
    "extract_order",
    "join_boxes",
];

impl Config {
    /// Set one switch by name; the error names the key and the expected form.
    pub fn set(&mut self, key: &str, value: &ConfigValue) -> Result<(), String> {
        let p = &mut self.policy;
        let b = &mut self.budget;
        match key {
            "percent" => {
                p.percent = match value.as_str(key)? {
                    "lenient" => PercentPolicy::Lenient,
                    "strict" => PercentPolicy::Strict,
                    other => {
                        return Err(format!("policy \"percent\" must be \"lenient\" or \"strict\", got {other:?}"))
                    }
                }
            }
            "unordered_lists" => p.unordered_lists = value.as_bool(key)?,
            "units" => p.units = value.as_bool(key)?,
            "approx_decimals" => p.approx_decimals = value.as_bool(key)?,
            "min_sig_digits" => p.min_sig_digits = value.as_uint(key)?.min(40) as u32,
            "equation_chains" => p.equation_chains = value.as_bool(key)?,
            "mcq_letters" => p.mcq_letters = value.as_bool(key)?,
            "decimal_comma" => {
                p.decimal_comma = match value {
                    ConfigValue::Bool(true) => DecimalComma::Always,
                    ConfigValue::Bool(false) => DecimalComma::Never,
                    ConfigValue::Str(s) if s == "auto" => DecimalComma::Auto,
                    ConfigValue::Str(s) if s == "always" => DecimalComma::Always,
                    ConfigValue::Str(s) if s == "never" => DecimalComma::Never,
                    _ => {
                        return Err(
                            "policy \"decimal_comma\" must be a bool or \"auto\", \"always\", \"never\"".into(),
                        )
                    }
                }
            }
            "approx_irrational" => p.approx_irrational = value.as_bool(key)?,
            "function_heads" => p.function_heads = value.as_bool(key)?,
            "unreduced_fractions" => p.unreduced_fractions = value.as_bool(key)?,
            "mixed_numbers" => p.mixed_numbers = value.as_bool(key)?,
            "strict_exponents" => p.strict_exponents = value.as_bool(key)?,
            "relation_interval" => {
                p.relation_interval = match value.as_str(key)? {
                    "gold_only" => RelationInterval::GoldOnly,
                    "both" => RelationInterval::Both,
                    "never" => RelationInterval::Never,
                    other => {
                        return Err(format!(
                            "policy \"relation_interval\" must be \"gold_only\", \"both\" or \"never\", got {other:?}"
                        ))
                    }
                }
            }
            "timeout_ms" => b.timeout_ms = value.as_float(key)?.min(600_000.0),
            "max_response_bytes" => b.max_response_bytes = value.as_uint(key)? as usize,
            "max_answer_bytes" => b.max_answer_bytes = value.as_uint(key)? as usize,
            "max_depth" => b.max_depth = (value.as_uint(key)? as usize).min(500),
            "max_nodes" => b.max_nodes = value.as_uint(key)? as usize,
            "max_bits" => b.max_bits = value.as_uint(key)?,
            "max_factorial" => b.max_factorial = value.as_uint(key)?,
            "max_steps" => b.max_steps = value.as_uint(key)?,
            "sample_points" => b.sample_points = (value.as_uint(key)? as usize).clamp(1, 32),
            "join_boxes" => self.join_boxes = value.as_bool(key)?,
            "extract_order" => {
                let mut order = Vec::new();
                for name in value.as_str(key)?.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    match Extractor::from_name(name) {
                        Some(e) => order.push(e),
                        None => {
                            return Err(format!(
                                "policy \"extract_order\": unknown extractor {name:?}; expected a comma-separated list of {}",
                                Extractor::ALL.iter().map(|e| e.name()).collect::<Vec<_>>().join(", ")
                            ))
                        }
                    }
                }
                if order.is_empty() {
                    return Err("policy \"extract_order\" must name at least one extractor".into());
                }
                self.extract_order = order;
            }
            other => {
                return Err(format!("unknown math policy key {other:?}; expected one of {}", CONFIG_KEYS.join(", ")))
            }
        }
        Ok(())
    }
}
