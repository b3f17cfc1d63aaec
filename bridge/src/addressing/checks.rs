//! Check-digit algorithms of the scheme registry (XB-ADDR v0 §3): Luhn (FINESS, SIREN/SIRET), GS1 mod 10
//! (GLN), the Belgian mod-97 keys (NIHII, SSIN, CBE) and the French NIR key. Callers have already checked
//! that the input is ASCII digits of the right length; these functions only compute.

/// Numeric value of ASCII digits; `None` on a non-digit or overflow (inputs here are at most 15 digits).
fn number(digits: &str) -> Option<u64> {
    digits.bytes().try_fold(0u64, |acc, b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Whether all bytes are ASCII digits and there are exactly `len` of them.
pub(crate) fn is_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

/// Luhn (ISO/IEC 7812-1 annex B) over the whole string, check digit last: FINESS (background §1, verified on
/// seven real numbers), SIREN/SIRET (Peppol ICD 0002 "Check digits: Luhn Algorithm").
pub(crate) fn luhn_ok(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// GS1 mod 10 (GS1 General Specifications §7.9.1): weights 3,1 from the right of the body; GLN, ICD 0088.
pub(crate) fn gs1_ok(digits: &str) -> bool {
    let bytes = digits.as_bytes();
    let Some((&check, body)) = bytes.split_last() else {
        return false;
    };
    if !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10 == u32::from(check - b'0')
}

/// `97 - (n mod 97)` compared with the two-digit key.
fn mod97_key_ok(body: &str, key: &str) -> bool {
    match (number(body), number(key)) {
        (Some(n), Some(k)) => 97 - n % 97 == k,
        _ => false,
    }
}

/// NIHII (INAMI/RIZIV): digits 7–8 = 97 − (digits 1–6 mod 97), for 8-digit organisations and 11-digit
/// persons alike (background §3, verified on `71000436` and `11478761004`).
pub(crate) fn nihii_ok(digits: &str) -> bool {
    digits.len() >= 8 && mod97_key_ok(&digits[..6], &digits[6..8])
}

/// SSIN/INSZ: key = 97 − (first 9 digits mod 97), or with a `2` prepended for births from 2000
/// (background §3, python-stdnum `be.nn`).
pub(crate) fn ssin_ok(digits: &str) -> bool {
    if digits.len() != 11 {
        return false;
    }
    let (body, key) = digits.split_at(9);
    mod97_key_ok(body, key) || mod97_key_ok(&format!("2{body}"), key)
}

/// CBE/KBO enterprise number: last two digits = 97 − (first 8 mod 97) (Peppol ICD 0208, python-stdnum
/// `be.vat`).
pub(crate) fn cbe_ok(digits: &str) -> bool {
    digits.len() == 10 && mod97_key_ok(&digits[..8], &digits[8..])
}

/// French NIR (INS) key: 13 characters + 2-digit key = 97 − (NIR mod 97), Corsican `2A`/`2B` counted as
/// 19/18 (background §1, python-stdnum `fr.nir`). Expects 15 upper-case ASCII characters.
pub(crate) fn nir_ok(nir: &str) -> bool {
    if nir.len() != 15 || !nir.is_ascii() {
        return false;
    }
    let (body, key) = nir.split_at(13);
    let body = match &body[5..7] {
        "2A" => format!("{}19{}", &body[..5], &body[7..]),
        "2B" => format!("{}18{}", &body[..5], &body[7..]),
        _ => body.to_owned(),
    };
    mod97_key_ok(&body, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_finess_siren_siret() {
        for ok in [
            "750712184",
            "590780193",
            "130786049",
            "010780054",
            "690781810",
            "750100042",
            "300017985",
        ] {
            assert!(luhn_ok(ok), "{ok}");
        }
        assert!(luhn_ok("784301772"));
        assert!(luhn_ok("78430177200025"));
        assert!(!luhn_ok("750712185"));
        assert!(!luhn_ok("78430177200026"));
        assert!(!luhn_ok("12a"));
    }

    #[test]
    fn gs1() {
        assert!(gs1_ok("5790000130122"));
        assert!(gs1_ok("1548079098355"));
        assert!(!gs1_ok("5790000130123"));
        assert!(!gs1_ok(""));
    }

    #[test]
    fn belgian_keys() {
        for ok in [
            "71000436",
            "72001516",
            "71008948",
            "11478761004",
            "10023464003",
        ] {
            assert!(nihii_ok(ok), "{ok}");
        }
        assert!(!nihii_ok("71000437"));
        assert!(!nihii_ok("11478762004"));
        for ok in ["85073003328", "90021545628", "05031512367"] {
            assert!(ssin_ok(ok), "{ok}");
        }
        assert!(!ssin_ok("85073003329"));
        assert!(!ssin_ok("8507300332"));
        for ok in ["0403170701", "0899965307", "0202239951"] {
            assert!(cbe_ok(ok), "{ok}");
        }
        assert!(!cbe_ok("0403170702"));
    }

    #[test]
    fn nir_key() {
        assert!(nir_ok("279035121518989"));
        assert!(nir_ok("146026322000196"));
        assert!(!nir_ok("288091234567823"));
        assert!(!nir_ok("246037433000291"));
        assert!(!nir_ok("27903512151898"));
    }
}
