//! Runs the visible addressing corpus (`shared/corpus/addressing`) and requires every case to pass.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

/// Walks up from the crate directory to the first ancestor holding `shared/corpus`; fails if none does.
fn corpus() -> PathBuf {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .map(|a| a.join("shared/corpus"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("shared/corpus not found above {}", start.display()))
}

#[test]
fn every_visible_case_passes() {
    let dir = corpus().join("addressing");
    let directory =
        conformance::addressing::load_directory(dir.join("directory.tsv").to_str().unwrap())
            .unwrap();
    assert_eq!(directory.len(), 9);
    let cases = File::open(dir.join("cases.tsv")).unwrap();
    let results = conformance::addressing::run_cases(BufReader::new(cases), &directory).unwrap();
    assert_eq!(results.len(), 20);
    let failed: Vec<_> = results.iter().filter(|r| !r.pass).collect();
    assert!(failed.is_empty(), "failed cases: {failed:#?}");
}

#[test]
fn run_exit_status() {
    let dir = corpus().join("addressing");
    let args = [
        dir.join("cases.tsv").to_string_lossy().into_owned(),
        "--directory".to_owned(),
        dir.join("directory.tsv").to_string_lossy().into_owned(),
    ];
    assert_eq!(conformance::addressing::run(&args), 0);
    assert_eq!(conformance::addressing::run(&args[..1]), 2);
}
