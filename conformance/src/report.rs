//! `conformance report`: runs every registered suite, applies the expectations file, and writes
//! `REPORT.md` and a self-contained HTML page of the same content. The run fails (exit 1) on any
//! unexpected failure, unexpected pass, stale expectation or suite that could not run.
//!
//! Adding a suite is one line in [`SUITES`]: a name, a title and a function from the
//! [`SuiteInput`] (corpus root, validation instant) to its case results.

use std::path::{Path, PathBuf};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::case::{CaseResult, Expectations, ExpectedFailure, Verdict};
use crate::{addressing, exchange, journal, trust, trust_ecosystem, wallet};

mod render;

pub use render::{escape_html, escape_markdown, render_html, render_markdown};

/// What every suite runner receives.
#[derive(Debug, Clone)]
pub struct SuiteInput {
    /// The corpus root (`shared/corpus`).
    pub corpus: PathBuf,
    /// The instant validations are made at (a parameter, never the clock).
    pub at: OffsetDateTime,
}

/// A registered suite.
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    /// Name, as in the expectations file.
    pub name: &'static str,
    /// Heading in the report.
    pub title: &'static str,
    /// Runs the suite; `Err` is a one-line reason why it could not run at all.
    pub run: fn(&SuiteInput) -> Result<Vec<CaseResult>, String>,
}

/// Every suite of `conformance report`, in report order.
pub const SUITES: &[Suite] = &[
    Suite {
        name: trust::SUITE,
        title: "Trusted lists (ETSI TS 119 612): trust-lists/real, broken/, variants/",
        run: |i| trust::run_corpus(&i.corpus.join("trust-lists/real"), i.at),
    },
    Suite {
        name: trust_ecosystem::SUITE,
        title: "Trusted lists: generated test ecosystem (LOTL walk, certificate validation)",
        run: |i| trust_ecosystem::run_suite(i.at),
    },
    Suite {
        name: wallet::SUITE,
        title: "Wallet identities (SD-JWT VC, mdoc, status lists, session transcripts)",
        run: |i| wallet::run_corpus(&i.corpus.join("wallet")).map_err(|e| e.to_string()),
    },
    Suite {
        name: addressing::SUITE,
        title: "Addressing (translation between national spaces)",
        run: |i| addressing::run_corpus(&i.corpus.join("addressing")).map_err(|e| e.to_string()),
    },
    Suite {
        name: journal::SUITE,
        title: "Journal (RFC 9162 vectors, export tamper detection)",
        run: |_| Ok(journal::run_suite()),
    },
    Suite {
        name: exchange::SUITE,
        title: "Exchange (bridges over mutual TLS: relay, receipts, retries, dedupe, refusals)",
        run: |_| exchange::run_suite(),
    },
];

/// One case with its verdict.
#[derive(Debug, Clone)]
pub struct CaseVerdict {
    /// The case.
    pub case: CaseResult,
    /// The verdict once the expectations are applied.
    pub verdict: Verdict,
}

/// The outcome of one suite.
#[derive(Debug, Clone)]
pub struct SuiteReport {
    /// Suite name.
    pub name: String,
    /// Heading.
    pub title: String,
    /// Every case, in run order.
    pub cases: Vec<CaseVerdict>,
    /// Why the suite could not run, if it could not.
    pub error: Option<String>,
    /// Expectations naming a case this suite did not produce (stale entries fail the run).
    pub stale: Vec<ExpectedFailure>,
}

/// Case counts of a suite or of the whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Cases run.
    pub cases: usize,
    /// Met the corpus expectation.
    pub passed: usize,
    /// Listed expected failures.
    pub expected_failures: usize,
    /// Unexpected failures (including failures other than the pinned one).
    pub failed: usize,
    /// Listed cases that passed.
    pub unexpected_passes: usize,
}

impl Counts {
    fn add(&mut self, v: &Verdict) {
        self.cases += 1;
        match v {
            Verdict::Pass => self.passed += 1,
            Verdict::ExpectedFailure(_) => self.expected_failures += 1,
            Verdict::Fail | Verdict::OtherFailure { .. } => self.failed += 1,
            Verdict::UnexpectedPass(_) => self.unexpected_passes += 1,
        }
    }

    fn merge(&mut self, o: Counts) {
        self.cases += o.cases;
        self.passed += o.passed;
        self.expected_failures += o.expected_failures;
        self.failed += o.failed;
        self.unexpected_passes += o.unexpected_passes;
    }
}

impl SuiteReport {
    /// The suite's counts.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for cv in &self.cases {
            c.add(&cv.verdict);
        }
        c
    }

    /// Whether the suite ran and every case met its expectation, with no stale entry.
    pub fn is_success(&self) -> bool {
        self.error.is_none()
            && self.stale.is_empty()
            && self.cases.iter().all(|c| !c.verdict.is_unexpected())
    }
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Commit the run was made from (`unknown` outside a git checkout).
    pub commit: String,
    /// When the report was made (UTC, RFC 3339).
    pub date: String,
    /// The validation instant given to the suites.
    pub at: String,
    /// Per suite.
    pub suites: Vec<SuiteReport>,
    /// Expectations naming a suite that is not registered.
    pub unknown_suite: Vec<ExpectedFailure>,
}

impl Report {
    /// Totals over every suite.
    pub fn totals(&self) -> Counts {
        let mut t = Counts::default();
        for s in &self.suites {
            t.merge(s.counts());
        }
        t
    }

    /// Whether every suite succeeded and no expectation names an unknown suite.
    pub fn is_success(&self) -> bool {
        self.unknown_suite.is_empty() && self.suites.iter().all(SuiteReport::is_success)
    }
}

/// Runs `suites` against `exp`. Entries of `exp` for a suite in `suites` that name no case it
/// produced are reported as stale; entries for other suites are not looked at (see
/// [`unknown_suite_entries`] for those naming no registered suite).
pub fn run_suites(suites: &[Suite], input: &SuiteInput, exp: &Expectations) -> Vec<SuiteReport> {
    suites
        .iter()
        .map(|s| {
            let (cases, error) = match (s.run)(input) {
                Ok(c) => (c, None),
                Err(e) => (Vec::new(), Some(e)),
            };
            let cases: Vec<CaseVerdict> = cases
                .into_iter()
                .map(|case| CaseVerdict {
                    verdict: exp.verdict(&case),
                    case,
                })
                .collect();
            let stale = exp
                .for_suite(s.name)
                .filter(|e| !cases.iter().any(|c| c.case.id == e.case))
                .cloned()
                .collect();
            SuiteReport {
                name: s.name.into(),
                title: s.title.into(),
                cases,
                error,
                stale,
            }
        })
        .collect()
}

/// Expectations whose suite is not registered in [`SUITES`].
pub fn unknown_suite_entries(exp: &Expectations) -> Vec<ExpectedFailure> {
    exp.iter()
        .filter(|e| !SUITES.iter().any(|s| s.name == e.suite))
        .cloned()
        .collect()
}

const USAGE: &str = "usage: conformance report --corpus DIR --out REPORT.md --html REPORT.html \
                     [--expectations FILE] [--suite NAME]... [--at TIME]";

/// Options of `conformance report`.
#[derive(Debug, Default)]
struct Options {
    corpus: Option<PathBuf>,
    out: Option<PathBuf>,
    html: Option<PathBuf>,
    expectations: Option<PathBuf>,
    suites: Vec<String>,
    at: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--corpus" => o.corpus = Some(value()?.into()),
            "--out" => o.out = Some(value()?.into()),
            "--html" => o.html = Some(value()?.into()),
            "--expectations" => o.expectations = Some(value()?.into()),
            "--suite" => o.suites.push(value()?),
            "--at" => o.at = Some(value()?),
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    Ok(o)
}

/// The commit of the working directory's checkout, or `unknown`.
fn current_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Entry point of `conformance report`; returns the exit status (0 every suite met its
/// expectations, 1 otherwise, 2 usage or input error). The report's date is the system clock at
/// report time: it dates the report and is no input to any validation.
pub fn run(args: &[String]) -> i32 {
    let o = match parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{USAGE}: {e}");
            return 2;
        }
    };
    let (Some(corpus), Some(out), Some(html)) = (o.corpus, o.out, o.html) else {
        eprintln!("{USAGE}: --corpus, --out and --html are required");
        return 2;
    };
    let exp = match &o.expectations {
        None => Expectations::embedded(),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => Expectations::parse(&t),
            Err(e) => {
                eprintln!("conformance report: {}: {e}", p.display());
                return 2;
            }
        },
    };
    let exp = match exp {
        Ok(e) => e,
        Err(e) => {
            eprintln!("conformance report: {e}");
            return 2;
        }
    };
    let at_text = o.at.unwrap_or_else(|| trust::DEFAULT_AT.to_owned());
    let Ok(at) = OffsetDateTime::parse(&at_text, &Rfc3339) else {
        eprintln!("{USAGE}: --at must be RFC 3339");
        return 2;
    };
    if !corpus.is_dir() {
        eprintln!(
            "conformance report: corpus {} is not a directory",
            corpus.display()
        );
        return 2;
    }
    let selected: Vec<Suite> = if o.suites.is_empty() {
        SUITES.to_vec()
    } else {
        let mut v = Vec::new();
        for name in &o.suites {
            match SUITES.iter().find(|s| s.name == name) {
                Some(s) => v.push(*s),
                None => {
                    eprintln!("conformance report: unknown suite {name}");
                    return 2;
                }
            }
        }
        v
    };
    let input = SuiteInput { corpus, at };
    let date = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| "unknown".into());
    let report = Report {
        commit: current_commit(),
        date,
        at: at_text,
        suites: run_suites(&selected, &input, &exp),
        unknown_suite: unknown_suite_entries(&exp),
    };
    if let Err(e) =
        write(&out, &render_markdown(&report)).and_then(|()| write(&html, &render_html(&report)))
    {
        eprintln!("conformance report: {e}");
        return 2;
    }
    for s in &report.suites {
        let c = s.counts();
        println!(
            "{}: {} cases, {} passed, {} expected failures, {} failed, {} unexpected passes{}",
            s.name,
            c.cases,
            c.passed,
            c.expected_failures,
            c.failed,
            c.unexpected_passes,
            if s.is_success() { "" } else { " -> FAIL" }
        );
    }
    println!(
        "report written to {} and {}: {}",
        out.display(),
        html.display(),
        if report.is_success() { "PASS" } else { "FAIL" }
    );
    i32::from(!report.is_success())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_names_are_unique() {
        for (i, s) in SUITES.iter().enumerate() {
            assert!(
                SUITES[i + 1..].iter().all(|o| o.name != s.name),
                "{}",
                s.name
            );
        }
    }

    #[test]
    fn usage_errors() {
        assert_eq!(run(&[]), 2);
        assert_eq!(run(&["--corpus".into()]), 2);
        assert_eq!(run(&["--bogus".into()]), 2);
        let args: Vec<String> = ["--corpus", "/nonexistent", "--out", "a", "--html", "b"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(run(&args), 2);
    }

    #[test]
    fn unknown_suite_is_reported() {
        let exp = Expectations::parse(
            "[[expected_failure]]\nsuite = \"nope\"\ncase = \"a\"\nreason = \"r\"\n",
        )
        .unwrap();
        assert_eq!(unknown_suite_entries(&exp).len(), 1);
    }
}
