//! `conformance trust DIR` over the real corpus: every case meets its expectation (exit 0).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failure is a failing test

use std::path::PathBuf;

fn corpus() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let c = dir.join("shared/corpus/trust-lists/real");
        if c.is_dir() {
            return c;
        }
        assert!(
            dir.pop(),
            "shared/corpus not found above CARGO_MANIFEST_DIR"
        );
    }
}

#[test]
fn real_corpus_meets_expectations() {
    let dir = corpus().to_string_lossy().into_owned();
    assert_eq!(
        conformance::trust::run(&[dir, "--at".into(), "2026-08-20T00:00:00Z".into()]),
        0
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(conformance::trust::run(&[]), 2);
    assert_eq!(
        conformance::trust::run(&["x".into(), "--at".into(), "yesterday".into()]),
        2
    );
    assert_eq!(conformance::trust::run(&["/nonexistent-dir".into()]), 2);
}
