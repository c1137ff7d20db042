//! Math answer verification: extraction, normalisation, parsing and comparison.
//! (Filled in by the math verifier work; see `docs/VERIFIERS.md`.)
