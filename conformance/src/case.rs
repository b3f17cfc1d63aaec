//! The common case-result model every suite produces, and the expectations file that lists the
//! known divergences (expected failures), each with its reason.
//!
//! A case passes when its actual outcome equals the outcome the corpus expects. A failing case
//! listed in the expectations file is an expected failure; a listed case that passes is an
//! unexpected pass and fails the run, so a fixed divergence cannot linger in the file (the habit
//! of rustls/webpki's x509-limbo exceptions, STYLE.md "Tests").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The expectations file checked in next to the crate, used when no other is given.
pub const EMBEDDED_EXPECTATIONS: &str = include_str!("../expectations.toml");

/// Longest expectations file accepted, in bytes: the checked-in one is a few hundred bytes; a
/// file this large is a mistake, not a list of divergences.
pub const MAX_EXPECTATIONS_LEN: usize = 1 << 20;

/// The outcome of one case of one suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseResult {
    /// Suite name (the registry name, e.g. `trust`).
    pub suite: String,
    /// Case id, unique within the suite and stable across runs (file name, vector id, line).
    pub id: String,
    /// The outcome the corpus expects.
    pub expected: String,
    /// The outcome the implementation produced.
    pub actual: String,
    /// Whether `actual` meets `expected`.
    pub pass: bool,
    /// What the case is about, when the id alone does not say.
    pub note: Option<String>,
}

/// One known divergence: a case expected to fail, and why.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFailure {
    /// Suite name.
    pub suite: String,
    /// Case id.
    pub case: String,
    /// Why the implementation diverges from the corpus expectation (mandatory, non-empty).
    pub reason: String,
    /// When given, the failure must be exactly this actual outcome; another failure is unexpected.
    #[serde(default)]
    pub actual: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectationsFile {
    #[serde(default)]
    expected_failure: Vec<ExpectedFailure>,
}

/// Why an expectations file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpectationsError {
    /// The file exceeds [`MAX_EXPECTATIONS_LEN`].
    #[error("expectations file of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// The file is not TOML of the expected shape (`[[expected_failure]]` tables with the
    /// fields of [`ExpectedFailure`] and no others).
    #[error("expectations file: {0}")]
    Syntax(#[source] toml::de::Error),
    /// An entry has an empty reason: every divergence must say why.
    #[error("expectation {suite}/{case} has no reason")]
    MissingReason {
        /// Suite.
        suite: String,
        /// Case.
        case: String,
    },
    /// The same case is listed twice.
    #[error("expectation {suite}/{case} is listed twice")]
    Duplicate {
        /// Suite.
        suite: String,
        /// Case.
        case: String,
    },
}

/// The expected failures, keyed by suite and case id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    entries: BTreeMap<(String, String), ExpectedFailure>,
}

/// How a case ended once the expectations are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Met the corpus expectation.
    Pass,
    /// Did not, and is not listed.
    Fail,
    /// Did not, and is listed with this reason.
    ExpectedFailure(String),
    /// Failed, is listed, but with another actual outcome than the one listed.
    OtherFailure {
        /// The listed reason.
        reason: String,
        /// The actual outcome the entry pins.
        listed: String,
    },
    /// Passed although listed as expected to fail: the entry is stale and the run fails.
    UnexpectedPass(String),
}

impl Verdict {
    /// Whether this verdict fails the run.
    pub fn is_unexpected(&self) -> bool {
        matches!(
            self,
            Self::Fail | Self::OtherFailure { .. } | Self::UnexpectedPass(_)
        )
    }

    /// Short label used in the reports.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "FAIL",
            Self::ExpectedFailure(_) => "expected failure",
            Self::OtherFailure { .. } => "FAIL (other than expected)",
            Self::UnexpectedPass(_) => "UNEXPECTED PASS",
        }
    }

    /// The expectation reason, when the case is listed.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Pass | Self::Fail => None,
            Self::ExpectedFailure(r) | Self::UnexpectedPass(r) => Some(r),
            Self::OtherFailure { reason, .. } => Some(reason),
        }
    }
}

impl Expectations {
    /// The checked-in expectations ([`EMBEDDED_EXPECTATIONS`]).
    ///
    /// # Errors
    /// See [`Expectations::parse`]; the checked-in file is covered by a unit test.
    pub fn embedded() -> Result<Self, ExpectationsError> {
        Self::parse(EMBEDDED_EXPECTATIONS)
    }

    /// Parses an expectations file (TOML, `[[expected_failure]]` tables with `suite`, `case`,
    /// `reason` and optionally `actual`).
    ///
    /// # Errors
    /// [`ExpectationsError`] for an oversized file, bad syntax, an empty reason or a duplicate.
    pub fn parse(text: &str) -> Result<Self, ExpectationsError> {
        if text.len() > MAX_EXPECTATIONS_LEN {
            return Err(ExpectationsError::TooLarge(text.len()));
        }
        let file: ExpectationsFile = toml::from_str(text).map_err(ExpectationsError::Syntax)?;
        let mut entries = BTreeMap::new();
        for e in file.expected_failure {
            if e.reason.trim().is_empty() {
                return Err(ExpectationsError::MissingReason {
                    suite: e.suite,
                    case: e.case,
                });
            }
            let key = (e.suite.clone(), e.case.clone());
            if entries.contains_key(&key) {
                return Err(ExpectationsError::Duplicate {
                    suite: e.suite,
                    case: e.case,
                });
            }
            entries.insert(key, e);
        }
        Ok(Self { entries })
    }

    /// The entry for a case, if listed.
    pub fn get(&self, suite: &str, case: &str) -> Option<&ExpectedFailure> {
        self.entries.get(&(suite.to_owned(), case.to_owned()))
    }

    /// The entries of one suite.
    pub fn for_suite<'a>(&'a self, suite: &'a str) -> impl Iterator<Item = &'a ExpectedFailure> {
        self.entries.values().filter(move |e| e.suite == suite)
    }

    /// Every entry.
    pub fn iter(&self) -> impl Iterator<Item = &ExpectedFailure> {
        self.entries.values()
    }

    /// The verdict on one case.
    pub fn verdict(&self, case: &CaseResult) -> Verdict {
        match (self.get(&case.suite, &case.id), case.pass) {
            (None, true) => Verdict::Pass,
            (None, false) => Verdict::Fail,
            (Some(e), true) => Verdict::UnexpectedPass(e.reason.clone()),
            (Some(e), false) => match &e.actual {
                Some(listed) if *listed != case.actual => Verdict::OtherFailure {
                    reason: e.reason.clone(),
                    listed: listed.clone(),
                },
                _ => Verdict::ExpectedFailure(e.reason.clone()),
            },
        }
    }
}

/// Adds the expectation of a listed case to its JSON line (`note`: the reason, `verdict`: the
/// verdict label); lines of unlisted cases are left as they are.
pub fn annotate_line(line: &mut serde_json::Value, verdict: &Verdict) {
    if let (Some(reason), Some(obj)) = (verdict.reason(), line.as_object_mut()) {
        obj.insert("note".into(), reason.into());
        obj.insert("verdict".into(), verdict.label().into());
    }
}

/// Counts of one run, as the per-suite command lines print them: `passed` counts cases that met
/// their expectation (expected failures included), `failed` the unexpected outcomes.
pub fn tally(cases: &[CaseResult], exp: &Expectations) -> (usize, usize) {
    let failed = cases
        .iter()
        .filter(|c| exp.verdict(c).is_unexpected())
        .count();
    (cases.len() - failed, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, pass: bool) -> CaseResult {
        CaseResult {
            suite: "s".into(),
            id: id.into(),
            expected: "valid".into(),
            actual: if pass { "valid" } else { "broken" }.into(),
            pass,
            note: None,
        }
    }

    #[test]
    fn embedded_file_parses_and_has_reasons() {
        let e = Expectations::embedded().unwrap();
        assert!(e.iter().all(|x| !x.reason.trim().is_empty()));
        assert!(e.get("trust", "DE-tl-seq22-2015-08-12.xml").is_some());
    }

    #[test]
    fn verdicts() {
        let e = Expectations::parse(
            "[[expected_failure]]\nsuite = \"s\"\ncase = \"a\"\nreason = \"r\"\n\
             [[expected_failure]]\nsuite = \"s\"\ncase = \"b\"\nreason = \"r\"\nactual = \"other\"\n",
        )
        .unwrap();
        assert_eq!(
            e.verdict(&case("a", false)),
            Verdict::ExpectedFailure("r".into())
        );
        assert_eq!(
            e.verdict(&case("a", true)),
            Verdict::UnexpectedPass("r".into())
        );
        assert_eq!(
            e.verdict(&case("b", false)),
            Verdict::OtherFailure {
                reason: "r".into(),
                listed: "other".into()
            }
        );
        assert_eq!(e.verdict(&case("c", false)), Verdict::Fail);
        assert_eq!(e.verdict(&case("c", true)), Verdict::Pass);
        let cases = [case("a", false), case("a", true), case("c", true)];
        assert_eq!(tally(&cases, &e), (2, 1));
    }

    #[test]
    fn listed_lines_carry_reason_and_verdict() {
        let mut line = serde_json::json!({"id": "a", "pass": false});
        annotate_line(&mut line, &Verdict::Fail);
        assert_eq!(line, serde_json::json!({"id": "a", "pass": false}));
        annotate_line(&mut line, &Verdict::ExpectedFailure("why".into()));
        assert_eq!(
            line,
            serde_json::json!({"id": "a", "pass": false, "note": "why", "verdict": "expected failure"})
        );
    }

    #[test]
    fn bad_files_are_refused() {
        assert_eq!(
            Expectations::parse(
                "[[expected_failure]]\nsuite = \"s\"\ncase = \"a\"\nreason = \" \"\n"
            ),
            Err(ExpectationsError::MissingReason {
                suite: "s".into(),
                case: "a".into()
            })
        );
        let entry = "[[expected_failure]]\nsuite = \"s\"\ncase = \"a\"\nreason = \"r\"\n";
        assert_eq!(
            Expectations::parse(&entry.repeat(2)),
            Err(ExpectationsError::Duplicate {
                suite: "s".into(),
                case: "a".into()
            })
        );
        assert!(matches!(
            Expectations::parse("[[expected_failure]]\nsuite = \"s\"\ncase = \"a\"\n"),
            Err(ExpectationsError::Syntax(_))
        ));
        assert!(matches!(
            Expectations::parse(
                "[[expected_failure]]\nsuite = \"s\"\ncase = \"a\"\nreason = \"r\"\nwhy = 1\n"
            ),
            Err(ExpectationsError::Syntax(_))
        ));
        assert_eq!(Expectations::parse("").unwrap(), Expectations::default());
    }
}
