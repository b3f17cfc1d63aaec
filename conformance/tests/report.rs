//! `conformance report`: over the real corpus it writes one table per suite and exits 0; a case
//! listed as an expected failure that passes (or a stale entry) fails the run; case ids are
//! escaped in the HTML page and the Markdown report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;

use conformance::report::{
    render_html, render_markdown, run_suites, CaseVerdict, Report, SuiteInput, SuiteReport, SUITES,
};
use conformance::{CaseResult, Expectations, Verdict};

/// Walks up from the crate directory to the first ancestor holding `shared/corpus`; fails if none does.
fn corpus() -> PathBuf {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .map(|a| a.join("shared/corpus"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("shared/corpus not found above {}", start.display()))
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn real_corpus_report_has_a_table_per_suite_and_passes() {
    let out = tempfile::tempdir().unwrap();
    let md = out.path().join("REPORT.md");
    let html = out.path().join("report.html");
    let corpus = corpus();
    let code = conformance::report::run(&args(&[
        "--corpus",
        corpus.to_str().unwrap(),
        "--out",
        md.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]));
    assert_eq!(code, 0);
    let md = std::fs::read_to_string(md).unwrap();
    let html = std::fs::read_to_string(html).unwrap();
    assert!(md.starts_with("# eidas-bridge conformance report\n"));
    assert!(md.contains("- Commit: `"));
    assert!(md.contains("- Result: **PASS**"));
    assert!(md.contains("| **All suites** |"));
    for s in SUITES {
        assert!(md.contains(&format!("\n## {}: ", s.name)), "{}", s.name);
        assert!(
            html.contains(&format!("<h2 id=\"suite-{}\">", s.name)),
            "{}",
            s.name
        );
    }
    // One case table and one summary row per suite, in both renderings.
    assert_eq!(
        count(&md, "| Case | Expected | Actual | Result |"),
        SUITES.len()
    );
    assert_eq!(count(&md, "| **Summary: "), SUITES.len());
    assert_eq!(
        count(&html, "<tr class=\"sum\"><td>Summary: "),
        SUITES.len()
    );
    // The known divergence is reported with its reason, not hidden.
    assert!(md.contains(
        "| DE-tl-seq22-2015-08-12.xml | valid | signature.SignerNotAnnounced | expected failure: The 2015 German list"
    ));
    assert!(!md.contains("UNEXPECTED PASS"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("src="));
}

fn journal_suite() -> Vec<conformance::report::Suite> {
    SUITES
        .iter()
        .filter(|s| s.name == "journal")
        .copied()
        .collect()
}

fn input() -> SuiteInput {
    SuiteInput {
        corpus: corpus(),
        at: time::macros::datetime!(2026-08-20 00:00:00 UTC),
    }
}

const UNTOUCHED_LISTED: &str = "[[expected_failure]]\nsuite = \"journal\"\n\
     case = \"tamper/untouched\"\nreason = \"pretend the untouched export is refused\"\n";

#[test]
fn expected_failure_that_passes_fails_the_run() {
    let exp = Expectations::parse(UNTOUCHED_LISTED).unwrap();
    let suites = run_suites(&journal_suite(), &input(), &exp);
    let s = &suites[0];
    let listed = s
        .cases
        .iter()
        .find(|c| c.case.id == "tamper/untouched")
        .unwrap();
    assert_eq!(
        listed.verdict,
        Verdict::UnexpectedPass("pretend the untouched export is refused".into())
    );
    assert!(!s.is_success());
    assert_eq!(s.counts().unexpected_passes, 1);

    // Through the command line: exit 1 and the report says so.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("expectations.toml");
    std::fs::write(&file, UNTOUCHED_LISTED).unwrap();
    let md = dir.path().join("REPORT.md");
    let html = dir.path().join("report.html");
    let code = conformance::report::run(&args(&[
        "--corpus",
        corpus().to_str().unwrap(),
        "--suite",
        "journal",
        "--expectations",
        file.to_str().unwrap(),
        "--out",
        md.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]));
    assert_eq!(code, 1);
    let md = std::fs::read_to_string(md).unwrap();
    assert!(md.contains("- Result: **FAIL**"));
    assert!(md.contains(
        "| tamper/untouched | valid | valid | UNEXPECTED PASS: pretend the untouched export is refused |"
    ));
}

#[test]
fn stale_or_mispinned_expectations_fail_the_run() {
    let stale = Expectations::parse(
        "[[expected_failure]]\nsuite = \"journal\"\ncase = \"tamper/no-such-case\"\nreason = \"r\"\n",
    )
    .unwrap();
    let s = &run_suites(&journal_suite(), &input(), &stale)[0];
    assert_eq!(s.stale.len(), 1);
    assert!(!s.is_success());
    assert!(s.cases.iter().all(|c| c.verdict == Verdict::Pass));

    // A listed failure whose actual outcome differs from the pinned one is unexpected.
    let case = CaseResult {
        suite: "trust".into(),
        id: "DE-tl-seq22-2015-08-12.xml".into(),
        expected: "valid".into(),
        actual: "signature.ReferenceDigestMismatch".into(),
        pass: false,
        note: None,
    };
    let v = Expectations::embedded().unwrap().verdict(&case);
    assert!(matches!(v, Verdict::OtherFailure { .. }), "{v:?}");
    assert!(v.is_unexpected());
}

fn report_with_id(id: &str) -> Report {
    let case = CaseResult {
        suite: "journal".into(),
        id: id.into(),
        expected: "a<b".into(),
        actual: "a&b".into(),
        pass: false,
        note: Some("\"quoted\" 'note'".into()),
    };
    Report {
        commit: "unknown".into(),
        date: "2026-11-26T00:00:00Z".into(),
        at: "2026-08-20T00:00:00Z".into(),
        suites: vec![SuiteReport {
            name: "journal".into(),
            title: "Journal".into(),
            cases: vec![CaseVerdict {
                case,
                verdict: Verdict::Fail,
            }],
            error: None,
            stale: Vec::new(),
        }],
        unknown_suite: Vec::new(),
    }
}

#[test]
fn case_ids_are_escaped() {
    let r = report_with_id("<script>alert(1)</script>&<&>|x");
    let html = render_html(&r);
    assert!(!html.contains("<script>"));
    assert!(html.contains(
        "<td>&lt;script&gt;alert(1)&lt;/script&gt;&amp;&lt;&amp;&gt;|x<br><span class=\"note\">&quot;quoted&quot; &#39;note&#39;</span></td>\
         <td>a&lt;b</td><td>a&amp;b</td><td class=\"r\">FAIL</td>"
    ));
    let md = render_markdown(&r);
    assert!(!md.contains("<script>"));
    assert!(md.contains(
        "| \\<script\\>alert(1)\\</script\\>&amp;\\<&amp;\\>\\|x (\"quoted\" 'note') | a\\<b | a&amp;b | FAIL |"
    ));
    assert!(md.contains("- Result: **FAIL**"));
}
