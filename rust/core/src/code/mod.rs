//! Judging programs against tests inside the sandbox.
//! (Filled in by the code verifier work; see `docs/VERIFIERS.md`.)
