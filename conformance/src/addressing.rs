//! `conformance addressing CASES.tsv --directory FILE`: runs an addressing case file (columns `from_space,
//! input, to_space, expected, note`; `expected` is the output or `ERROR:<code>`) against the translator with
//! the corpus configuration (gateway domains `xb-gw.mssante.fr` / `xb-gw.kim.telematik`, TI production) and
//! a directory loaded from the fixture TSV. One JSON line per case, then `N passed, M failed`.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use eidas_bridge::addressing::{
    import_into_memory, parse_records, ImportFormat, MemoryDirectory, Translator, TranslatorConfig,
};
use serde::Serialize;

use crate::case::{annotate_line, tally, CaseResult, Expectations};

/// Prefix of an expected error in the `expected` column.
const ERROR_PREFIX: &str = "ERROR:";

/// Suite name in reports and in the expectations file.
pub const SUITE: &str = "addressing";

/// One case as the command line prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct AddressingCase {
    /// Case id: `<line number>` of the case file.
    id: String,
    /// Source space.
    from: String,
    /// Input address.
    input: String,
    /// Target space.
    to: String,
    /// Expected output or `ERROR:<code>`.
    expected: String,
    /// Actual output or `ERROR:<code>`.
    got: String,
    /// Whether `got == expected`.
    pass: bool,
    /// The case file's note column.
    #[serde(skip)]
    note: Option<String>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The directory fixture has bad rows.
    #[error("directory {path}: {failure}")]
    Directory {
        /// The file.
        path: String,
        /// The bad rows.
        failure: eidas_bridge::addressing::ImportFailure,
    },
    /// A case line does not have the 4 or 5 columns of the format.
    #[error("case file line {0}: expected from_space, input, to_space, expected[, note]")]
    CaseLine(usize),
}

/// Loads a fixture TSV directory.
///
/// # Errors
/// [`RunError::Read`], [`RunError::Directory`].
pub fn load_directory(path: &str) -> Result<MemoryDirectory, RunError> {
    let file = File::open(path).map_err(|source| RunError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut dir = MemoryDirectory::new();
    import_into_memory(
        &mut dir,
        parse_records(ImportFormat::Tsv, BufReader::new(file)),
        false,
    )
    .map_err(|failure| RunError::Directory {
        path: path.to_owned(),
        failure,
    })?;
    Ok(dir)
}

/// Runs every case of `cases` (header line first) against `dir`. The case id is the line number;
/// the note gives the translation asked for and the case file's own note.
///
/// # Errors
/// [`RunError::CaseLine`] for a malformed line, [`RunError::Read`] on a read fault.
pub fn run_cases(cases: impl BufRead, dir: &MemoryDirectory) -> Result<Vec<CaseResult>, RunError> {
    Ok(addressing_cases(cases, dir)?
        .into_iter()
        .map(|c| CaseResult {
            suite: SUITE.into(),
            note: Some(match c.note.as_deref() {
                Some(n) if !n.is_empty() => format!("{} -> {}: {} ({n})", c.from, c.to, c.input),
                _ => format!("{} -> {}: {}", c.from, c.to, c.input),
            }),
            id: c.id,
            expected: c.expected,
            actual: c.got,
            pass: c.pass,
        })
        .collect())
}

/// Runs the corpus folder (`DIR/cases.tsv` against the directory `DIR/directory.tsv`).
///
/// # Errors
/// As [`load_directory`] and [`run_cases`].
pub fn run_corpus(dir: &Path) -> Result<Vec<CaseResult>, RunError> {
    let directory = load_directory(&dir.join("directory.tsv").to_string_lossy())?;
    let cases = dir.join("cases.tsv");
    let file = File::open(&cases).map_err(|source| RunError::Read {
        path: cases.display().to_string(),
        source,
    })?;
    run_cases(BufReader::new(file), &directory)
}

fn addressing_cases(
    cases: impl BufRead,
    dir: &MemoryDirectory,
) -> Result<Vec<AddressingCase>, RunError> {
    let translator = Translator::new(TranslatorConfig::default(), dir);
    let mut out = Vec::new();
    for (i, line) in cases.lines().enumerate() {
        let line = line.map_err(|source| RunError::Read {
            path: "cases".to_owned(),
            source,
        })?;
        if i == 0 && line.starts_with("from_space")
            || line.trim().is_empty()
            || line.starts_with('#')
        {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if !(4..=5).contains(&cols.len()) {
            return Err(RunError::CaseLine(i + 1));
        }
        let got = match translator.translate(cols[1], cols[0], cols[2]) {
            Ok(s) => s,
            Err(e) => format!("{ERROR_PREFIX}{}", e.code()),
        };
        out.push(AddressingCase {
            note: cols.get(4).map(|n| (*n).to_owned()),
            id: (i + 1).to_string(),
            from: cols[0].to_owned(),
            input: cols[1].to_owned(),
            to: cols[2].to_owned(),
            expected: cols[3].to_owned(),
            pass: got == cols[3],
            got,
        });
    }
    Ok(out)
}

/// Entry point of `conformance addressing CASES.tsv --directory FILE`; returns the exit status
/// (0 all passed, 1 some failed, 2 usage or input error).
pub fn run(args: &[String]) -> i32 {
    let (mut cases, mut directory) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--directory" => directory = it.next().cloned(),
            _ if cases.is_none() && !a.starts_with("--") => cases = Some(a.clone()),
            _ => {
                eprintln!("usage: conformance addressing CASES.tsv --directory FILE");
                return 2;
            }
        }
    }
    let (Some(cases), Some(directory)) = (cases, directory) else {
        eprintln!("usage: conformance addressing CASES.tsv --directory FILE");
        return 2;
    };
    let results = load_directory(&directory).and_then(|dir| {
        let file = File::open(&cases).map_err(|source| RunError::Read {
            path: cases.clone(),
            source,
        })?;
        addressing_cases(BufReader::new(file), &dir)
    });
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            eprintln!("conformance addressing: {e}");
            return 2;
        }
    };
    let exp = match Expectations::embedded() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("conformance addressing: {e}");
            return 2;
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut common = Vec::with_capacity(results.len());
    for r in results {
        let mut line = serde_json::to_value(&r).unwrap_or_default();
        let c = CaseResult {
            suite: SUITE.into(),
            id: r.id,
            expected: r.expected,
            actual: r.got,
            pass: r.pass,
            note: None,
        };
        annotate_line(&mut line, &exp.verdict(&c));
        let _ = writeln!(out, "{line}");
        common.push(c);
    }
    let (passed, failed) = tally(&common, &exp);
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    i32::from(failed > 0)
}
