//! Gateway aliases (XB-ADDR v0 §4): a foreign participant is reached in an e-mail space through
//! `[<role>.]<cc>.<scheme-token>.<value-enc>@<gateway-domain>`, which encodes its hcid reversibly, like an
//! X.400/SMTP gateway. `<value-enc>` is the value itself when it is "plain-safe", else `b32-` + RFC 4648
//! base32 (lower case, no padding) of its UTF-8 bytes.

use super::email::MAX_LOCAL_PART_LEN;
use super::error::AddressError;
use super::hcid::{Hcid, Participant};
use super::scheme::Scheme;
use super::space::Role;

/// RFC 4648 §6 alphabet, lower-cased as the alias is (§4 "all lower case").
const B32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Marker of a base32-encoded value.
const B32_PREFIX: &str = "b32-";

/// RFC 4648 base32 without padding, lower case.
fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(B32[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(B32[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Inverse of [`base32_encode`]; `None` on a character outside the alphabet, a length no encoder
/// produces, or non-zero trailing bits (so each value has exactly one alias).
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    if matches!(text.len() % 8, 1 | 3 | 6) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = B32.iter().position(|&x| x == c)?;
        acc = (acc << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    (acc == 0).then_some(out)
}

/// §4: a value is written as is when it matches `[0-9][0-9a-z.-]*` without `..` or a trailing `.`.
fn plain_safe(value: &str) -> bool {
    value.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'.' || b == b'-')
        && !value.contains("..")
        && !value.ends_with('.')
}

/// Renders the alias of `p` at `domain`.
///
/// # Errors
/// [`AddressError::AliasTooLong`] when the local part would exceed 64 octets (RFC 5321 §4.5.3.1.1).
pub fn encode_alias(p: &Participant, domain: &str) -> Result<String, AddressError> {
    let hcid = &p.hcid;
    let value = hcid.value();
    let enc = if plain_safe(value) {
        value.to_owned()
    } else {
        format!("{B32_PREFIX}{}", base32_encode(value.as_bytes()))
    };
    let cc = hcid.country().to_ascii_lowercase();
    let local = match p.role {
        Some(role) => format!("{role}.{cc}.{}.{enc}", hcid.scheme().alias_token()),
        None => format!("{cc}.{}.{enc}", hcid.scheme().alias_token()),
    };
    if local.len() > MAX_LOCAL_PART_LEN {
        return Err(AddressError::AliasTooLong(local.len()));
    }
    Ok(format!("{local}@{domain}"))
}

/// Decodes an alias local part (already lower-cased) back to a participant.
///
/// # Errors
/// [`AddressError::InvalidAlias`] (§5 step 4: fewer than 3 labels, bad base32, a value that is neither
/// plain-safe nor `b32-`), then the scheme and role errors of §5 step 5.
pub fn decode_alias(local: &str) -> Result<Participant, AddressError> {
    let labels: Vec<&str> = local.split('.').collect();
    let is_cc = |l: &str| (l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase())) || l == "int";
    // A role label is anything before a country label: roles are never 2 letters nor `int`.
    let (role, rest) = match labels.split_first() {
        Some((first, rest)) if !is_cc(first) => (Some(*first), rest),
        _ => (None, &labels[..]),
    };
    let [cc, token, value @ ..] = rest else {
        return Err(AddressError::InvalidAlias);
    };
    if value.is_empty() || !is_cc(cc) {
        return Err(AddressError::InvalidAlias);
    }
    let value = value.join(".");
    let value = match value.strip_prefix(B32_PREFIX) {
        Some(b32) => {
            let bytes = base32_decode(b32).ok_or(AddressError::InvalidAlias)?;
            String::from_utf8(bytes).map_err(|_| AddressError::InvalidAlias)?
        }
        None if plain_safe(&value) => value,
        None => return Err(AddressError::InvalidAlias),
    };
    let token = if *token == "tid" {
        "telematik-id"
    } else {
        token
    };
    let hcid = match Scheme::lookup(&cc.to_ascii_uppercase(), token)? {
        Scheme::Icd(icd) => Hcid::from_scheme(Scheme::from_icd(icd, &value)?, &value)?,
        scheme => Hcid::from_scheme(scheme, &value)?,
    };
    let role = role.map(Role::parse).transpose()?;
    Participant::with_role(hcid, role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_the_spec_example() {
        let enc = base32_encode(b"1-2-ARZT-WaltrautDrombusch01");
        assert_eq!(enc, "gewtelkbkjnfilkxmfwhi4tbov2ei4tpnvrhk43dnaydc");
        assert_eq!(
            base32_decode(&enc).unwrap(),
            b"1-2-ARZT-WaltrautDrombusch01"
        );
        assert_eq!(base32_encode(b""), "");
        assert_eq!(base32_encode(b"f"), "my");
        assert_eq!(base32_encode(b"foobar"), "mzxw6ytboi");
        assert!(base32_decode("mz").is_none(), "non-zero trailing bits");
        assert!(base32_decode("m1").is_none());
        assert!(base32_decode("m").is_none());
    }

    #[test]
    fn decode_examples() {
        let p = decode_alias("nurse.fr.rpps.10003456789").unwrap();
        assert_eq!(p.to_string(), "hcid:FR:rpps:10003456789;role=nurse");
        let p = decode_alias("doctor.de.tid.1-1.58.00000040").unwrap();
        assert_eq!(
            p.to_string(),
            "hcid:DE:telematik-id:1-1.58.00000040;role=doctor"
        );
        let p = decode_alias("de.telematik-id.b32-gewtelkbkjnfilkxmfwhi4tbov2ei4tpnvrhk43dnaydc")
            .unwrap();
        assert_eq!(
            p.to_string(),
            "hcid:DE:telematik-id:1-2-ARZT-WaltrautDrombusch01"
        );
        assert_eq!(
            decode_alias("be.nihii-hospital.71000436")
                .unwrap()
                .to_string(),
            "hcid:BE:nihii-hospital:71000436"
        );
    }

    #[test]
    fn decode_errors() {
        assert_eq!(decode_alias("fr.rpps"), Err(AddressError::InvalidAlias));
        assert_eq!(
            decode_alias("nurse.fr.rpps"),
            Err(AddressError::InvalidAlias)
        );
        assert_eq!(
            decode_alias("fr.rpps.b32-0000"),
            Err(AddressError::InvalidAlias)
        );
        assert_eq!(decode_alias("fr.rpps.abc"), Err(AddressError::InvalidAlias));
        assert_eq!(
            decode_alias("surgeon.fr.rpps.10003456789"),
            Err(AddressError::UnknownRole)
        );
        assert_eq!(
            decode_alias("fr.xyz.10003456789"),
            Err(AddressError::UnknownScheme)
        );
        assert_eq!(
            decode_alias("fr.rpps.1000345678"),
            Err(AddressError::InvalidFormat)
        );
    }

    #[test]
    fn too_long() {
        let tid = format!("1-{}", "X".repeat(60));
        let p = Participant::new(Hcid::new("DE", "telematik-id", &tid).unwrap());
        assert!(matches!(
            encode_alias(&p, "xb-gw.mssante.fr"),
            Err(AddressError::AliasTooLong(_))
        ));
    }
}
