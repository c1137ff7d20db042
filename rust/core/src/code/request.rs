//! The bytes of one request to a worker's zygote: each job's JSON head (kind, source region,
//! nonce, limits), its suite's extras and per-test objects, and the programs' sources after
//! the JSON. The nonce that the harness prints after a completed test is made here.

use super::json::{self, Json};
use super::suite::Suite;
use super::types::Limits;

/// A fresh 128-bit random nonce (`PFN` + 32 hex digits) for one job.
pub(super) fn nonce() -> String {
    let mut b = [0u8; 16];
    // SAFETY: getrandom into a local buffer.
    let r = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if r != b.len() as isize {
        // Fall back to time and address entropy (never expected on Linux >= 3.17).
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let addr = &t as *const u128 as usize as u128;
        b.copy_from_slice(&(t ^ (addr << 64)).to_le_bytes());
    }
    let mut s = String::from("PFN");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// The bytes of one request to the zygote: `"<n>\n"`, `n` bytes of JSON (`{"jobs": [...]}`),
/// then the programs' sources. Each job names its source's region (`"src": [offset, length]`,
/// offsets from the end of the JSON): the zygote never parses or holds a source; only the test
/// children read and compile it, under their deadline and rlimits.
#[derive(Default)]
pub(super) struct RequestBuf {
    sources: Vec<u8>,
}

impl RequestBuf {
    /// Append a program's source; returns its region.
    pub(super) fn add_source(&mut self, program: &str) -> (usize, usize) {
        let at = self.sources.len();
        self.sources.extend_from_slice(program.as_bytes());
        (at, program.len())
    }

    /// The request: length line, JSON, sources.
    pub(super) fn finish(self, json: &str) -> Vec<u8> {
        let mut out = format!("{}\n", json.len()).into_bytes();
        out.reserve(json.len() + self.sources.len());
        out.extend_from_slice(json.as_bytes());
        out.extend_from_slice(&self.sources);
        out
    }
}

pub(super) fn job_head(kind: &str, src: (usize, usize), nonce: &str, limits: &Limits) -> String {
    let mut s = String::from("{\"kind\":");
    json::write_str(kind, &mut s);
    s.push_str(&format!(",\"src\":[{},{}]", src.0, src.1));
    s.push_str(",\"nonce\":");
    json::write_str(nonce, &mut s);
    s.push_str(&format!(
        ",\"cpu\":{},\"time\":{}",
        limits.time.ceil() as u64 + 1,
        limits.time
    ));
    s
}

pub(super) fn suite_extra(suite: &Suite, s: &mut String) {
    match suite {
        Suite::Call { fn_name, .. } => {
            s.push_str(",\"fn_name\":");
            json::write_str(fn_name, s);
        }
        Suite::Assert {
            entry_point: Some(e),
            ..
        } => {
            s.push_str(",\"entry_point\":");
            json::write_str(e, s);
        }
        Suite::Assert {
            entry_point: None,
            entry_candidates,
            ..
        } if !entry_candidates.is_empty() => {
            let names = entry_candidates.iter().cloned().map(Json::Str).collect();
            s.push_str(",\"entry_candidates\":");
            json::write(&Json::Arr(names), s);
        }
        _ => {}
    }
}

pub(super) fn test_obj(suite: &Suite, i: usize, with_stdin: bool) -> String {
    let mut s = String::from("{");
    match suite {
        Suite::Stdin(c) => {
            if with_stdin {
                s.push_str("\"stdin\":");
                json::write_str(&c[i].0, &mut s);
            }
        }
        Suite::Call { cases, .. } => {
            s.push_str("\"args\":");
            json::write(&Json::Arr(cases[i].0.clone()), &mut s);
        }
        Suite::Assert { tests, .. } => {
            s.push_str("\"test\":");
            json::write_str(&tests[i].0, &mut s);
            s.push_str(if tests[i].1 {
                ",\"check\":true"
            } else {
                ",\"check\":false"
            });
        }
    }
    s.push('}');
    s
}

pub(super) fn kind_of(suite: &Suite) -> &'static str {
    match suite {
        Suite::Stdin(_) => "stdin",
        Suite::Call { .. } => "call",
        Suite::Assert { .. } => "assert",
    }
}
