//! Labelled (pred, gold, equal?) pairs from `tests/fixtures/math_pairs.tsv`, hand-written over
//! every answer category, with near-miss negatives.

use prime_fast_core::math::{verify_answer, Config, ConfigValue, Status};

fn config(policy: &str) -> Config {
    let mut cfg = Config::default();
    // Fixtures judge correctness, not speed: give slow CI machines room.
    cfg.budget.timeout_ms = 1000.0;
    for kv in policy.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').expect("policy entries are key=value");
        let value = match v {
            "true" => ConfigValue::Bool(true),
            "false" => ConfigValue::Bool(false),
            _ => match v.parse::<i64>() {
                Ok(i) => ConfigValue::Int(i),
                Err(_) => ConfigValue::Str(v.to_string()),
            },
        };
        cfg.set(k, &value).expect("valid policy in fixture");
    }
    cfg
}

#[test]
fn labelled_pairs() {
    let text = include_str!("fixtures/math_pairs.tsv");
    let mut failures = Vec::new();
    let (mut pos, mut neg) = (0, 0);
    let mut categories = std::collections::BTreeSet::new();
    for (lineno, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(
            cols.len() >= 4,
            "line {}: expected 4-5 tab-separated columns",
            lineno + 1
        );
        let (cat, pred, gold, want) = (cols[0], cols[1], cols[2], cols[3] == "1");
        let policy = cols.get(4).copied().unwrap_or("");
        categories.insert(cat);
        if want {
            pos += 1;
        } else {
            neg += 1;
        }
        let v = verify_answer(pred, gold, &config(policy));
        assert_ne!(
            v.status,
            Status::Timeout,
            "line {}: {pred:?} vs {gold:?} timed out: {}",
            lineno + 1,
            v.reason
        );
        if v.correct() != want {
            failures.push(format!(
                "line {} [{cat}] {pred:?} vs {gold:?} (policy {policy:?}): want {want}, got {:?} ({}) np={:?} ng={:?}",
                lineno + 1,
                v.status,
                v.reason,
                v.normalized_pred,
                v.normalized_gold
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixture rows disagree:\n{}",
        failures.len(),
        pos + neg,
        failures.join("\n")
    );
    assert!(
        pos + neg >= 500,
        "at least 500 labelled rows, got {}",
        pos + neg
    );
    assert!(
        neg * 10 >= pos * 9,
        "negatives ({neg}) must be about as many as positives ({pos})"
    );
    assert!(categories.len() >= 25, "categories: {categories:?}");
}
