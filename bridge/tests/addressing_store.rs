//! The visible corpus through the sled directory: import `directory.tsv` into a `DirectoryStore` and run
//! every case of `cases.tsv` with the translator reading sled; also the CLI commands end to end.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use eidas_bridge::addressing::{parse_records, ImportFormat, Space, Translator, TranslatorConfig};
use eidas_bridge::cli::address::{run, AddressCommand};
use eidas_bridge::store::directory::DirectoryStore;

/// Walks up from the crate directory to the first ancestor holding `shared/corpus`; fails if none does.
fn corpus() -> PathBuf {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .map(|a| a.join("shared/corpus/addressing"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("shared/corpus not found above {}", start.display()))
}

#[test]
fn corpus_cases_pass_against_the_sled_directory() {
    let store = DirectoryStore::open(sled::Config::new().temporary(true).open().unwrap()).unwrap();
    let file = std::fs::File::open(corpus().join("directory.tsv")).unwrap();
    let report = store
        .import(
            parse_records(ImportFormat::Tsv, std::io::BufReader::new(file)),
            false,
        )
        .unwrap();
    assert_eq!(report.imported, 9);
    assert_eq!(store.count(Space::Mssante).unwrap(), 6);
    let t = Translator::new(TranslatorConfig::default(), &store);
    let cases = std::fs::read_to_string(corpus().join("cases.tsv")).unwrap();
    let mut n = 0;
    for line in cases.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        let got = t
            .translate(c[1], c[0], c[2])
            .unwrap_or_else(|e| format!("ERROR:{}", e.code()));
        assert_eq!(got, c[3], "{line}");
        n += 1;
    }
    assert_eq!(n, 20);
}

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: AddressCommand,
}

fn cli(args: &[&str]) -> ExitCode {
    let cli = Cli::try_parse_from(std::iter::once("address").chain(args.iter().copied())).unwrap();
    run(cli.cmd, true)
}

fn code(c: ExitCode) -> String {
    format!("{c:?}")
}

#[test]
fn cli_translate_import_lookup() {
    let dir = corpus().join("directory.tsv");
    let dir = dir.to_str().unwrap();
    let ok = code(ExitCode::SUCCESS);
    let refused = code(ExitCode::from(1));
    let input = code(ExitCode::from(2));
    assert_eq!(
        code(cli(&[
            "translate",
            "hcid:FR:rpps:10003456789",
            "--from",
            "canonical",
            "--to",
            "mssante",
            "--directory",
            dir
        ])),
        ok
    );
    assert_eq!(
        code(cli(&[
            "translate",
            "hcid:FR:rpps:1",
            "--from",
            "canonical",
            "--to",
            "mssante",
            "--directory",
            dir
        ])),
        refused
    );
    assert_eq!(
        code(cli(&[
            "translate",
            "x",
            "--from",
            "canonical",
            "--to",
            "mssante",
            "--directory",
            "/nonexistent"
        ])),
        input
    );

    let data = tempfile::tempdir().unwrap();
    let data_s = data.path().join("db");
    let data_s = data_s.to_str().unwrap();
    assert_eq!(
        code(cli(&["import", dir, "--format", "tsv", "--data", data_s])),
        ok
    );
    assert_eq!(
        code(cli(&[
            "lookup",
            "Jean-Marie.Dupont@infirmier.mssante.fr",
            "--data",
            data_s
        ])),
        ok
    );
    assert_eq!(
        code(cli(&[
            "lookup",
            "hcid:FR:finess:990000036",
            "--data",
            data_s
        ])),
        ok
    );
    assert_eq!(
        code(cli(&["lookup", "nobody@x.mssante.fr", "--data", data_s])),
        refused
    );
    assert_eq!(
        code(cli(&[
            "translate",
            "hcid:FR:rpps:10003456789",
            "--from",
            "canonical",
            "--to",
            "mssante",
            "--data",
            data_s
        ])),
        ok
    );
    // A file with a bad row is refused and changes nothing.
    let bad = data.path().join("bad.tsv");
    std::fs::write(&bad, "space\taddress\thcid\trole\tbal_type\tsource\nmssante\tx@y.mssante.fr\thcid:FR:rpps:1\t\tPER\tx\n").unwrap();
    assert_eq!(
        code(cli(&[
            "import",
            bad.to_str().unwrap(),
            "--format",
            "tsv",
            "--data",
            data_s
        ])),
        refused
    );
    assert_eq!(
        code(cli(&[
            "lookup",
            "jean-marie.dupont@infirmier.mssante.fr",
            "--data",
            data_s
        ])),
        ok
    );
    assert_eq!(
        code(cli(&[
            "import",
            bad.to_str().unwrap(),
            "--format",
            "tsv",
            "--data",
            data_s,
            "--skip-bad-rows"
        ])),
        ok
    );
}
