//! Addressing benchmarks: translations per second on one core (criterion), and one timed import of a
//! generated Annuaire Santé MSSanté extraction (500,000 rows by default; `ADDRESSING_IMPORT_ROWS` overrides)
//! into the sled directory, reporting wall time and peak RSS (`VmHWM` of /proc/self/status).
//!
//! Run: `cargo bench -p eidas-bridge --bench addressing`.
//!
//! Figures on the 2-core shared development machine (2026-11-26, release profile, sled cache 64 MiB):
//! 500,000 rows (81 MiB) imported in 13.7 s with a peak RSS of 373 MB; 1,000,000 rows in 36.5 s with the
//! same peak (374 MB), i.e. memory does not grow with the file. Translations: 1.4–2.0 million per second
//! on one core (mix of 8 corpus cases, in-memory directory).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on setup failure

use std::fs::File;
use std::hint::black_box;
use std::io::{BufReader, BufWriter, Write};
use std::time::Instant;

use criterion::{Criterion, Throughput};
use eidas_bridge::addressing::{
    import_into_memory, parse_records, ImportFormat, MemoryDirectory, Translator, TranslatorConfig,
};
use eidas_bridge::store::directory::DirectoryStore;

const FIXTURE: &str = "space\taddress\thcid\trole\tbal_type\tsource\n\
mssante\tjean-marie.dupont@infirmier.mssante.fr\thcid:FR:rpps:10003456789\tnurse\tPER\tx\n\
mssante\tcardiologie@chu-exemple.mssante.fr\thcid:FR:finess:990000036\t\tORG\tx\n\
kim\tdr.mustermann@praxis-mustermann.kim.telematik\thcid:DE:telematik-id:1-1.58.00000040\tdoctor\t\tx\n\
kim\tpraxis-dr-baldgesund@kim-dienstleister.kim.telematik\thcid:DE:telematik-id:1-2-ARZT-WaltrautDrombusch01\t\t\tx\n";

/// A representative mix of the corpus translations.
const CASES: [(&str, &str, &str); 8] = [
    ("canonical", "hcid:FR:rpps:10003456789", "mssante"),
    ("mssante", "jean-marie.dupont@infirmier.mssante.fr", "kim"),
    (
        "kim",
        "nurse.fr.rpps.10003456789@xb-gw.kim.telematik",
        "mssante",
    ),
    (
        "kim",
        "praxis-dr-baldgesund@kim-dienstleister.kim.telematik",
        "mssante",
    ),
    ("canonical", "hcid:FR:idnat-ps:810003456789", "canonical"),
    ("ehealthbox", "ehbox:DOCTOR:NIHII:11478761004", "kim"),
    (
        "peppol",
        "iso6523-actorid-upis::0208:0403170701",
        "ehealthbox",
    ),
    ("mssante", "jean.dupont@gmail.com", "canonical"),
];

fn translations(c: &mut Criterion) {
    let mut dir = MemoryDirectory::new();
    if let Err(e) = import_into_memory(
        &mut dir,
        parse_records(ImportFormat::Tsv, FIXTURE.as_bytes()),
        false,
    ) {
        panic!("fixture: {e}");
    }
    let t = Translator::new(TranslatorConfig::default(), dir);
    let mut group = c.benchmark_group("addressing");
    group.throughput(Throughput::Elements(CASES.len() as u64));
    group.bench_function("translate_mix_of_8", |b| {
        b.iter(|| {
            for (from, input, to) in CASES {
                let _ = black_box(t.translate(black_box(input), from, to));
            }
        });
    });
    group.finish();
}

fn luhn_complete(body: &str) -> String {
    for d in 0..10 {
        let s = format!("{body}{d}");
        let sum: u32 = s
            .bytes()
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let v = u32::from(b - b'0') * if i % 2 == 1 { 2 } else { 1 };
                if v > 9 {
                    v - 9
                } else {
                    v
                }
            })
            .sum();
        if sum.is_multiple_of(10) {
            return s;
        }
    }
    unreachable!("one of ten digits completes a Luhn number")
}

const HEADER: &str = "Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Identification nationale PP|Type identifiant structure|Identification Structure|Service de rattachement|Civilité d'exercice|Nom d'exercice|Prénom d'exercice|Catégorie profession|Libellé de catégorie profession|Code Profession|Libellé Profession|Code savoir-faire|Libellé savoir-faire|Dématérialisation|Raison Sociale structure BAL|Enseigne commerciale structure BAL|L2COMPLEMENTLOCALISATION|L3COMPLEMENTDISTRIBUTION|L4NUMEROVOIE|L4COMPLEMENTNUMEROVOIE|NL4TYPEVOIE|L4LIBELLEVOIE|L5LIEUDITMENTION|L6LIGNEACHEMINEMENT|Code postal|Département|Pays";

/// One extraction row from (column index, value) pairs; the other columns are empty.
fn row(values: &[(usize, &str)]) -> String {
    let mut cols = [""; 31];
    for (i, v) in values {
        cols[*i] = v;
    }
    cols.join("|")
}

/// Writes an extraction like the real one: ~85 % PER boxes (RPPS, profession codes), ~15 % ORG boxes
/// (FINESS), realistic name and address columns, and one duplicated address every 3,000 rows.
fn generate(path: &std::path::Path, rows: usize) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    writeln!(w, "{HEADER}")?;
    let professions = [
        ("10", "Médecin"),
        ("60", "Infirmier"),
        ("21", "Pharmacien"),
        ("40", "Chirurgien-Dentiste"),
    ];
    for i in 0..rows {
        let n = if i % 3000 == 2999 { i - 1 } else { i };
        let line = if n % 7 == 0 {
            let finess = luhn_complete(&format!("{:08}", 10_000_000 + n / 7));
            let address = format!("service{n}@etab{}.mssante.fr", n % 500);
            let name = format!("Centre hospitalier {n}");
            row(&[
                (0, "ORG"),
                (1, &address),
                (5, "1"),
                (6, &finess),
                (7, "Cardiologie"),
                (18, &name),
                (22, "12"),
                (25, "rue de la Santé"),
                (27, "75014 PARIS"),
                (28, "75014"),
                (29, "75"),
                (30, "France"),
            ])
        } else {
            let rpps = format!("1{n:010}");
            let idnat = format!("8{rpps}");
            let address = format!("prenom.nom{n}@medecin.mssante.fr");
            let last = format!("NOM{n}");
            let (code, label) = professions[n % professions.len()];
            row(&[
                (0, "PER"),
                (1, &address),
                (2, "8"),
                (3, &rpps),
                (4, &idnat),
                (8, "M"),
                (9, &last),
                (10, "Prénom"),
                (11, "C"),
                (12, "Civil"),
                (13, code),
                (14, label),
                (17, "O"),
                (18, "Cabinet"),
                (22, "3"),
                (25, "rue Exemple"),
                (27, "75001 PARIS"),
                (28, "75001"),
                (29, "75"),
                (30, "France"),
            ])
        };
        writeln!(w, "{line}")?;
    }
    w.flush()
}

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn import_extraction() {
    let rows: usize = std::env::var("ADDRESSING_IMPORT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let file = tmp
        .path()
        .join("Extraction_Correspondance_MSSante_202608010000.txt");
    generate(&file, rows).unwrap_or_else(|e| panic!("generate: {e}"));
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let db = sled::Config::new()
        .path(tmp.path().join("db"))
        .cache_capacity(64 * 1024 * 1024)
        .mode(sled::Mode::HighThroughput)
        .open()
        .unwrap_or_else(|e| panic!("sled: {e}"));
    let store = DirectoryStore::open(db).unwrap_or_else(|e| panic!("store: {e}"));
    let before = vm_hwm_kib();
    let start = Instant::now();
    let reader = BufReader::with_capacity(
        1 << 16,
        File::open(&file).unwrap_or_else(|e| panic!("open: {e}")),
    );
    let report = store
        .import(parse_records(ImportFormat::Mssante, reader), false)
        .unwrap_or_else(|e| panic!("import: {e}"));
    let elapsed = start.elapsed();
    println!(
        "import: {rows} rows ({:.1} MiB) -> {} mailboxes, {} duplicates in {:.2} s ({:.0} rows/s); VmHWM before {} KiB, after {} KiB",
        size as f64 / 1048576.0,
        report.imported,
        report.duplicates,
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64(),
        before.unwrap_or(0),
        vm_hwm_kib().unwrap_or(0),
    );
}

fn main() {
    import_extraction();
    let mut c = Criterion::default().configure_from_args();
    translations(&mut c);
    c.final_summary();
}
