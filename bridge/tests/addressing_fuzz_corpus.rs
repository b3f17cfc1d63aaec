//! Pins the exact outcome of specific seeds of the addressing fuzz targets (injection and look-alike
//! inputs get a specific error). Every file of every corpus is replayed by `fuzz_corpus.rs`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;

use eidas_bridge::addressing::{
    decode_alias, identify_ehbox, identify_peppol, parse_records, AddrSpec, AddressError,
    ImportFormat, Participant, SyntaxErrorKind,
};

/// Runs one input through the target's function; returns a short outcome for pinned seeds.
fn replay(target: &str, data: &[u8]) -> String {
    let text = std::str::from_utf8(data);
    let out = |r: Result<String, AddressError>| r.unwrap_or_else(|e| format!("{e:?}"));
    match (target, text) {
        ("hcid", Ok(s)) => out(Participant::parse(s).map(|p| p.to_string())),
        ("addr_spec", Ok(s)) => out(AddrSpec::parse(s).map(|a| a.address())),
        ("alias", Ok(s)) => out(decode_alias(s).map(|p| p.to_string())),
        ("ehbox", Ok(s)) => out(identify_ehbox(s).map(|p| p.to_string())),
        ("peppol", Ok(s)) => out(identify_peppol(s).map(|p| p.to_string())),
        ("hcid" | "addr_spec" | "alias" | "ehbox" | "peppol", Err(_)) => "not utf-8".to_owned(),
        (t, _) => {
            let format = match t {
                "import_tsv" => ImportFormat::Tsv,
                "import_mssante" => ImportFormat::Mssante,
                "import_fhir" => ImportFormat::Fhir,
                "import_ldif" => ImportFormat::Ldif,
                other => panic!("unknown fuzz target directory {other}"),
            };
            let (ok, bad) = parse_records(format, data).fold((0, 0), |(o, b), r| {
                if r.is_ok() {
                    (o + 1, b)
                } else {
                    (o, b + 1)
                }
            });
            format!("{ok} ok, {bad} bad")
        }
    }
}

#[test]
fn pinned_seeds() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let run = |t: &str, f: &str| replay(t, &std::fs::read(root.join(t).join(f)).unwrap());
    let syntax = |k| format!("{:?}", AddressError::InvalidSyntax(k));
    assert_eq!(
        run("addr_spec", "smtp_injection"),
        syntax(SyntaxErrorKind::ControlCharacter(20))
    );
    assert_eq!(
        run("addr_spec", "nul"),
        syntax(SyntaxErrorKind::ControlCharacter(1))
    );
    assert_eq!(
        run("addr_spec", "lookalike"),
        syntax(SyntaxErrorKind::NonAscii(16))
    );
    assert_eq!(
        run("addr_spec", "long_local"),
        syntax(SyntaxErrorKind::LocalPartTooLong)
    );
    assert_eq!(
        run("hcid", "crlf_encoded"),
        syntax(SyntaxErrorKind::ControlCharacter(4))
    );
    assert_eq!(
        run("hcid", "cyrillic"),
        syntax(SyntaxErrorKind::NonAscii(8))
    );
    assert_eq!(
        run("hcid", "idnat_pct"),
        "hcid:FR:idnat-ps:3750712184%2FPS0042"
    );
    assert_eq!(
        run("alias", "b32"),
        "hcid:DE:telematik-id:1-2-ARZT-WaltrautDrombusch01"
    );
    assert_eq!(run("import_tsv", "fixture.tsv"), "9 ok, 0 bad");
    assert_eq!(run("import_mssante", "sample.txt"), "3 ok, 1 bad");
    assert_eq!(run("import_fhir", "bundle.json"), "1 ok, 0 bad");
    assert_eq!(run("import_fhir", "truncated.json"), "0 ok, 1 bad");
}
