//! The `journal` suite: the RFC 9162 known-answer vectors for tree heads and proofs, and the
//! tamper detections of the offline export verifier, all through the public API of
//! `eidas_bridge::journal`.
//!
//! Vectors: transparency-dev/merkle `testonly/constants.go` and `testonly/reference_test.go`
//! (the RFC 6962 / RFC 9162 vectors used by Trillian). Tamper cases build an export in memory
//! (entries, leaf hashes and one signed checkpoint per size, as the journal writes them), alter it
//! the way an attacker would, and expect
//! [`verify_export`](eidas_bridge::journal::verify_export) to name the first alteration and the
//! first bad index (DESIGN.md "Journal": truncation, reordering, edits, rollback).
//!
//! `vectors` holds the RFC cases, `tamper` the export alterations.

use eidas_bridge::journal::ProofError;

use crate::case::CaseResult;

mod tamper;
mod vectors;

/// Suite name in reports and in the expectations file.
pub const SUITE: &str = "journal";

/// Runs the suite. The RFC cases are deterministic; the tamper fixture is signed with a fresh key.
pub fn run_suite() -> Vec<CaseResult> {
    let mut out = vectors::rfc9162_cases();
    out.extend(tamper::tamper_cases());
    out
}

fn case(id: String, expected: &str, actual: String, note: &str) -> CaseResult {
    CaseResult {
        suite: SUITE.into(),
        pass: actual == expected,
        id,
        expected: expected.into(),
        actual,
        note: (!note.is_empty()).then(|| note.to_owned()),
    }
}

/// A stable code for an error: the variant name of its Debug rendering.
fn variant_code(debug: &str) -> String {
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A stable code for a proof error: its variant name.
fn proof_code(e: &ProofError) -> String {
    variant_code(&format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_passes() {
        let cases = run_suite();
        assert!(cases.len() > 30, "{}", cases.len());
        let failed: Vec<_> = cases.iter().filter(|c| !c.pass).collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }

    #[test]
    fn a_wrong_vector_fails() {
        let c = case("x".into(), "verified", "RootMismatch".into(), "");
        assert!(!c.pass);
        assert_eq!(
            proof_code(&ProofError::IndexOutOfRange { index: 1, size: 1 }),
            "IndexOutOfRange"
        );
    }
}
