//! Drift check: the embedded ICD table (`src/addressing/data/peppol_icds.tsv`) agrees with the Peppol code
//! list in the corpus on every ICD's country and state.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;

use eidas_bridge::addressing::{lookup_icd, IcdState};

/// Walks up from the crate directory to the first ancestor holding `shared/corpus`; fails if none does.
fn corpus() -> PathBuf {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .map(|a| a.join("shared/corpus"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("shared/corpus not found above {}", start.display()))
}

fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {name}=\""))? + name.len() + 3;
    line[start..].split('"').next()
}

#[test]
fn embedded_table_matches_the_code_list() {
    let xml = std::fs::read_to_string(
        corpus().join("addressing/peppol-participant-identifier-schemes-v9.7.xml"),
    )
    .unwrap();
    let mut seen = 0;
    for line in xml.lines().filter(|l| {
        l.trim_start()
            .starts_with("<participant-identifier-scheme ")
    }) {
        let icd: u16 = attr(line, "iso6523").unwrap().parse().unwrap();
        let entry = lookup_icd(icd)
            .unwrap_or_else(|| panic!("ICD {icd:04} missing from the embedded table"));
        let country = match attr(line, "country").unwrap() {
            "international" => "INT".to_owned(),
            cc => cc.to_owned(),
        };
        assert_eq!(entry.country, country, "ICD {icd:04}");
        let state = match attr(line, "state").unwrap() {
            "active" => IcdState::Active,
            "deprecated" => IcdState::Deprecated,
            _ => IcdState::Removed,
        };
        assert_eq!(entry.state, state, "ICD {icd:04}");
        seen += 1;
    }
    assert_eq!(seen, 105);
}
