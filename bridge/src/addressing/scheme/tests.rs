//! Every check rule of the registry (§3) with valid and invalid values.

use super::*;

fn check(cc: &str, token: &str, value: &str) -> Result<String, &'static str> {
    let scheme = Scheme::lookup(cc, token).map_err(|e| e.code())?;
    scheme
        .normalise(value)
        .map(|(s, v)| format!("{}:{v}", s.token()))
        .map_err(|e| e.code())
}

fn ok(cc: &str, token: &str, values: &[&str]) {
    for v in values {
        assert!(
            check(cc, token, v).is_ok(),
            "{cc}:{token}:{v} should be valid: {:?}",
            check(cc, token, v)
        );
    }
}

fn bad(cc: &str, token: &str, code: &str, values: &[&str]) {
    for v in values {
        assert_eq!(check(cc, token, v), Err(code), "{cc}:{token}:{v}");
    }
}

#[test]
fn france() {
    ok("FR", "rpps", &["10003456789", "10101201234", "10000001111"]);
    bad(
        "FR",
        "rpps",
        "invalid_format",
        &["1000345678", "1000345678A", "810003456789"],
    );
    ok("FR", "adeli", &["750123456"]);
    bad("FR", "adeli", "invalid_format", &["75012345", "75012345X"]);
    assert_eq!(
        check("FR", "idnat-ps", "810003456789"),
        Ok("rpps:10003456789".into())
    );
    assert_eq!(
        check("FR", "idnat-ps", "0750123456"),
        Ok("adeli:750123456".into())
    );
    assert_eq!(
        check("FR", "idnat-ps", "3750712184/PS0042"),
        Ok("idnat-ps:3750712184/PS0042".into())
    );
    bad(
        "FR",
        "idnat-ps",
        "invalid_format",
        &[
            "910003456789",
            "81000345678",
            "2750712184/X",
            "3750712184",
            "3750712184/",
            "",
        ],
    );
    ok(
        "FR",
        "finess",
        &[
            "750712184",
            "590780193",
            "130786049",
            "2A0000196",
            "990000036",
            "990000010",
            "990000028",
        ],
    );
    bad("FR", "finess", "invalid_check_digit", &["750712185"]);
    bad(
        "FR",
        "finess",
        "invalid_format",
        &["75071218", "7507121840", "2C0000196"],
    );
    ok("FR", "siren", &["784301772"]);
    bad("FR", "siren", "invalid_check_digit", &["784301773"]);
    bad("FR", "siren", "invalid_format", &["78430177"]);
    ok("FR", "siret", &["78430177200025"]);
    bad("FR", "siret", "invalid_check_digit", &["78430177200026"]);
    bad("FR", "siret", "invalid_format", &["7843017720002"]);
    ok("FR", "ins-nir", &["279035121518989", "146026322000196"]);
    bad(
        "FR",
        "ins-nir",
        "invalid_check_digit",
        &["288091234567823", "246037433000291"],
    );
    bad(
        "FR",
        "ins-nir",
        "invalid_format",
        &["27903512151898", "2790351215189X9"],
    );
}

#[test]
fn germany() {
    ok(
        "DE",
        "telematik-id",
        &[
            "1-1a25sd-d529",
            "1-1.58.00000040",
            "2-2.58.00000040",
            "8-01-0000000090",
            "9-2-DIGA-01",
            "3-SMC-B-Testkarte-883110000095957",
            "11-x",
        ],
    );
    let long = format!("1-{}", "a".repeat(127));
    bad(
        "DE",
        "telematik-id",
        "invalid_format",
        &[
            "6-123456",
            "12-abc",
            "1-",
            "1-ABC_DEF",
            "1_1.58.00000040",
            &long,
        ],
    );
    ok("DE", "lanr", &["123456601", "999999900"]);
    bad("DE", "lanr", "invalid_format", &["12345660", "12345660A"]);
    ok("DE", "bsnr", &["012345678"]);
    bad("DE", "bsnr", "invalid_format", &["01234567"]);
    assert_eq!(
        check("DE", "leitweg-id", "04011000-1234512345-06"),
        Ok("leitweg-id:04011000-1234512345-06".into())
    );
    assert_eq!(
        check("DE", "leitweg-id", "991-33333TEST-33"),
        Ok("leitweg-id:991-33333test-33".into())
    );
    bad(
        "DE",
        "leitweg-id",
        "invalid_format",
        &["0-12", "04011000_1234512345-06"],
    );
}

#[test]
fn belgium() {
    ok("BE", "nihii", &["11478761004", "10023464003"]);
    bad("BE", "nihii", "invalid_check_digit", &["11478762004"]);
    bad("BE", "nihii", "invalid_format", &["1147876100", "71000436"]);
    ok(
        "BE",
        "nihii-hospital",
        &["71000436", "72001516", "71008948"],
    );
    ok("BE", "nihii-office-dentists", &["71000436"]);
    bad("BE", "nihii-hospital", "invalid_check_digit", &["71000437"]);
    bad("BE", "nihii-hospital", "invalid_format", &["7100043"]);
    bad("BE", "nihii-clinic", "unknown_scheme", &["71000436"]);
    ok("BE", "ssin", &["85073003328", "90021545628", "05031512367"]);
    bad("BE", "ssin", "invalid_check_digit", &["85073003329"]);
    bad("BE", "ssin", "invalid_format", &["8507300332"]);
    ok("BE", "cbe", &["0403170701", "0899965307", "0202239951"]);
    bad("BE", "cbe", "invalid_check_digit", &["0403170702"]);
    bad("BE", "cbe", "invalid_format", &["2403170701", "040317070"]);
    ok("BE", "ehp", &["1234567890"]);
    bad("BE", "ehp", "invalid_format", &["123456789"]);
}

#[test]
fn netherlands_luxembourg_international() {
    ok("NL", "agb", &["06020101"]);
    bad("NL", "agb", "invalid_format", &["0602010"]);
    ok("NL", "uzi", &["123456789"]);
    ok("NL", "ura", &["12345678"]);
    ok("NL", "oin", &["00000001003214345000"]);
    bad("NL", "oin", "invalid_format", &["0000000100321434500"]);
    ok("LU", "matricule", &["1234567890123"]);
    bad("LU", "matricule", "invalid_format", &["123456789012"]);
    ok("INT", "gln", &["5790000130122", "1548079098355"]);
    bad("INT", "gln", "invalid_check_digit", &["5790000130123"]);
    bad("INT", "gln", "invalid_format", &["579000013012"]);
    bad("FR", "gln", "unknown_scheme", &["5790000130122"]);
}

#[test]
fn icd_fallback() {
    assert_eq!(
        check("SE", "icd-0007", "2120000787"),
        Ok("icd-0007:2120000787".into())
    );
    bad("SE", "icd-0007", "invalid_format", &["212000078"]);
    assert_eq!(
        check("CH", "icd-0183", "che123456789"),
        Ok("icd-0183:che123456789".into())
    );
    bad("BE", "icd-9956", "icd_removed", &["0899965307"]);
    bad("BE", "icd-9999", "unknown_icd", &["1"]);
    bad("FR", "icd-0007", "unknown_scheme", &["2120000787"]);
    bad("SE", "icd-7", "unknown_scheme", &["2120000787"]);
    assert_eq!(Scheme::from_icd(2, "784301772"), Ok(Scheme::Siren));
    assert_eq!(Scheme::from_icd(2, "78430177200025"), Ok(Scheme::Siret));
    assert_eq!(
        Scheme::from_icd(193, "abcd"),
        Ok(Scheme::Icd(193)),
        "deprecated ICDs stay usable"
    );
}

#[test]
fn kinds_and_icds() {
    assert_eq!(Scheme::Rpps.kind(), Kind::Person);
    assert_eq!(Scheme::TelematikId.kind(), Kind::Any);
    assert_eq!(Scheme::InsNir.kind(), Kind::Patient);
    assert_eq!(Scheme::Finess.kind(), Kind::Org);
    assert_eq!(Scheme::Cbe.icd(), Some(208));
    assert_eq!(Scheme::Siret.icd(), Some(9));
    assert_eq!(Scheme::Rpps.icd(), None);
    assert_eq!(Scheme::TelematikId.alias_token(), "tid");
}
