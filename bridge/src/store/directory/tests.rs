//! The sled directory: import, lookups, atomic refusal, replacement per space, deduplication, home peers.

use super::*;
use crate::addressing::{parse_records, ImportErrorKind, ImportFormat, RowError};

const FIXTURE: &str = "space\taddress\thcid\trole\tbal_type\tsource\n\
mssante\tjean-marie.dupont@infirmier.mssante.fr\thcid:FR:rpps:10003456789\tnurse\tPER\tx\n\
mssante\tcardiologie@chu-exemple.mssante.fr\thcid:FR:finess:990000036\t\tORG\tx\n\
mssante\turgences@chu-exemple.mssante.fr\thcid:FR:finess:990000036\t\tORG\tx\n\
mssante\tURGENCES@chu-exemple.mssante.fr\thcid:FR:finess:990000010\t\tORG\tduplicate\n\
kim\tdr.mustermann@praxis-mustermann.kim.telematik\thcid:DE:telematik-id:1-1.58.00000040\tdoctor\t\tx\n";

fn store() -> DirectoryStore {
    DirectoryStore::open(sled::Config::new().temporary(true).open().unwrap()).unwrap()
}

fn import(s: &DirectoryStore, text: &str, skip: bool) -> Result<ImportReport, DirectoryStoreError> {
    s.import(parse_records(ImportFormat::Tsv, text.as_bytes()), skip)
}

#[test]
fn import_and_lookup() {
    let s = store();
    let report = import(&s, FIXTURE, false).unwrap();
    assert_eq!((report.imported, report.duplicates), (4, 1));
    let e = s
        .lookup_address(Space::Mssante, "jean-marie.dupont@infirmier.mssante.fr")
        .unwrap()
        .unwrap();
    assert_eq!(e.hcid.to_string(), "hcid:FR:rpps:10003456789");
    assert_eq!(
        (e.role, e.box_type),
        (Some(Role::Nurse), Some(BoxType::Per))
    );
    let h = Hcid::parse("hcid:FR:finess:990000036").unwrap();
    let boxes = s.lookup_hcid(Space::Mssante, &h).unwrap();
    assert_eq!(boxes.len(), 2);
    assert_eq!(boxes[0].address, "cardiologie@chu-exemple.mssante.fr");
    assert!(s
        .lookup_address(Space::Kim, "jean-marie.dupont@infirmier.mssante.fr")
        .unwrap()
        .is_none());
    assert_eq!(s.count(Space::Kim).unwrap(), 1);
}

#[test]
fn bad_rows_change_nothing_unless_skipped() {
    let s = store();
    import(&s, FIXTURE, false).unwrap();
    let bad = "mssante\tnew@medecin.mssante.fr\thcid:FR:rpps:10101201234\tdoctor\tPER\tx\n\
               mssante\tbad@medecin.mssante.fr\thcid:FR:rpps:1\t\tPER\tx\n\
               kim\tother@x.kim.telematik\thcid:DE:telematik-id:6-1\t\t\tx\n";
    let err = import(&s, bad, false).unwrap_err();
    let DirectoryStoreError::Rejected(failure) = err else {
        panic!("expected a rejection")
    };
    assert_eq!(failure.count, 2);
    assert_eq!(failure.errors[0].line, 2);
    assert_eq!(failure.errors[1].line, 3);
    // Nothing changed: the old snapshot of both spaces is intact, the new row is absent.
    assert_eq!(s.count(Space::Mssante).unwrap(), 3);
    assert_eq!(s.count(Space::Kim).unwrap(), 1);
    assert!(s
        .lookup_address(Space::Mssante, "new@medecin.mssante.fr")
        .unwrap()
        .is_none());
    // With skip: the mssante snapshot is replaced by the good rows; kim had no good row and is kept.
    let report = import(&s, bad, true).unwrap();
    assert_eq!((report.imported, report.skipped_count), (1, 2));
    assert_eq!(s.count(Space::Mssante).unwrap(), 1);
    assert_eq!(s.count(Space::Kim).unwrap(), 1);
    assert!(s
        .lookup_address(Space::Mssante, "new@medecin.mssante.fr")
        .unwrap()
        .is_some());
}

#[test]
fn fatal_error_refuses_even_with_skip() {
    let s = store();
    let err = s
        .import(parse_records(ImportFormat::Mssante, &b""[..]), true)
        .unwrap_err();
    assert_eq!(
        err,
        DirectoryStoreError::Rejected(ImportFailure {
            errors: vec![RowError {
                line: 1,
                kind: ImportErrorKind::MissingHeader
            }],
            count: 1
        })
    );
}

#[test]
fn generations_are_collected_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = DirectoryStore::open(sled::open(dir.path()).unwrap()).unwrap();
        for _ in 0..3 {
            import(&s, FIXTURE, false).unwrap();
        }
        let names =
            s.db.tree_names()
                .into_iter()
                .filter(|n| n.starts_with(b"directory.addr."))
                .count();
        assert_eq!(names, 4, "live and previous generation of two spaces");
        s.set_home_peer("FR", "bridge.fr.example").unwrap();
    }
    let s = DirectoryStore::open(sled::open(dir.path()).unwrap()).unwrap();
    assert_eq!(s.count(Space::Mssante).unwrap(), 3);
    let h = Hcid::parse("hcid:FR:rpps:10003456789").unwrap();
    assert_eq!(
        s.home_peer(&h).unwrap().as_deref(),
        Some("bridge.fr.example")
    );
    let de = Hcid::parse("hcid:DE:telematik-id:1-1.58.00000040").unwrap();
    assert_eq!(s.home_peer(&de).unwrap(), None);
    assert_eq!(
        s.set_home_peer("fr", "x"),
        Err(DirectoryStoreError::InvalidCountry)
    );
    assert_eq!(
        s.set_home_peer("FR", ""),
        Err(DirectoryStoreError::InvalidPeer)
    );
}

#[test]
fn entry_encoding_round_trips_and_rejects_garbage() {
    let e = Entry {
        space: Space::Kim,
        address: "a@b.kim.telematik".into(),
        hcid: Hcid::parse("hcid:DE:telematik-id:1-2-ARZT-WaltrautDrombusch01").unwrap(),
        role: None,
        box_type: None,
        source: "vzd".into(),
    };
    assert_eq!(
        decode_entry(Space::Kim, "a@b.kim.telematik", &encode_entry(&e)).unwrap(),
        e
    );
    assert_eq!(
        decode_entry(Space::Kim, "a", b"\x00\x05ab").unwrap_err(),
        DirectoryStoreError::Corrupt
    );
}
