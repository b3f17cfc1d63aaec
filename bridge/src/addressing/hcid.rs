//! The canonical participant identifier `hcid` (XB-ADDR v0 §2): parsing (lenient on case of prefix,
//! country and scheme, accepting raw reserved characters), validation against the scheme registry (§3) and
//! the unique normal form (§1.3: most specific scheme, fixed case, upper-hex percent-encoding).

use super::error::{AddressError, SyntaxErrorKind};
use super::scheme::{Kind, Scheme};
use super::space::Role;
use super::MAX_INPUT_LEN;

/// A validated, normalised participant identifier (`hcid:cc:scheme:value`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hcid {
    country: String,
    scheme: Scheme,
    value: String,
}

/// An hcid with the optional role of §2 (`hcid-address`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Participant {
    /// Who.
    pub hcid: Hcid,
    /// In which capacity, when known.
    pub role: Option<Role>,
}

impl Hcid {
    /// Builds an hcid from its parts: looks the scheme up under `country`, validates and normalises `value`.
    ///
    /// # Errors
    /// `unknown_scheme`, `unknown_icd`, `icd_removed`, `invalid_format`, `invalid_check_digit` (§5 step 5).
    pub fn new(country: &str, scheme_token: &str, value: &str) -> Result<Self, AddressError> {
        let country = country.to_ascii_uppercase();
        let mut scheme = Scheme::lookup(&country, &scheme_token.to_ascii_lowercase())?;
        if let Scheme::Icd(icd) = scheme {
            // §1.3 most specific scheme: `icd-0208` is `cbe`, `icd-0002` is `siren`/`siret`, …
            scheme = Scheme::from_icd(icd, value)?;
        }
        Self::from_scheme(scheme, value)
    }

    /// Builds an hcid from a known scheme and a raw value (country implied by the scheme).
    ///
    /// # Errors
    /// `invalid_format`, `invalid_check_digit` (§5 step 5).
    pub fn from_scheme(scheme: Scheme, value: &str) -> Result<Self, AddressError> {
        let (scheme, value) = scheme.normalise(value)?;
        Ok(Self {
            country: scheme.country(),
            scheme,
            value,
        })
    }

    /// Parses a bare `hcid:…` string (no role).
    ///
    /// # Errors
    /// As [`Participant::parse`]; a `;role=` parameter is `invalid_syntax` here.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let p = Participant::parse(input)?;
        match p.role {
            None => Ok(p.hcid),
            Some(_) => Err(AddressError::InvalidSyntax(SyntaxErrorKind::Hcid)),
        }
    }

    /// ISO 3166-1 alpha-2 country of the issuing registry, or `INT`.
    pub fn country(&self) -> &str {
        &self.country
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The decoded value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether the identifier names a patient (§1.5).
    pub fn is_patient(&self) -> bool {
        self.scheme.kind() == Kind::Patient
    }
}

impl std::fmt::Display for Hcid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hcid:{}:{}:", self.country, self.scheme.token())?;
        for b in self.value.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

impl Participant {
    /// A participant without a role.
    pub fn new(hcid: Hcid) -> Self {
        Self { hcid, role: None }
    }

    /// Attaches a role, checking that the scheme admits one (§2: person/any schemes only).
    ///
    /// # Errors
    /// [`AddressError::RoleNotApplicable`] on organisation and patient schemes.
    pub fn with_role(hcid: Hcid, role: Option<Role>) -> Result<Self, AddressError> {
        if role.is_some() && !matches!(hcid.scheme.kind(), Kind::Person | Kind::Any) {
            return Err(AddressError::RoleNotApplicable);
        }
        Ok(Self { hcid, role })
    }

    /// Parses `hcid:cc:scheme:value[;role=r]` (§2), validates and normalises it.
    ///
    /// # Errors
    /// `invalid_syntax` (with a [`SyntaxErrorKind`]), then the scheme and role errors of §5 step 5.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        check_ascii_line(input)?;
        let syntax = || AddressError::InvalidSyntax(SyntaxErrorKind::Hcid);
        // A `;role=` parameter is recognised only as the last `;` segment, so raw `;` inside a value survive.
        let (body, role) = match input.rsplit_once(';') {
            Some((body, param)) if param.len() >= 5 && param[..5].eq_ignore_ascii_case("role=") => {
                (body, Some(&param[5..]))
            }
            _ => (input, None),
        };
        let mut parts = body.splitn(4, ':');
        let (prefix, cc, scheme, raw) =
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(p), Some(c), Some(s), Some(v)) => (p, c, s, v),
                _ => return Err(syntax()),
            };
        let cc_ok = (cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_alphabetic()))
            || cc.eq_ignore_ascii_case("int");
        let scheme_ok = scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !prefix.eq_ignore_ascii_case("hcid") || !cc_ok || !scheme_ok || raw.is_empty() {
            return Err(syntax());
        }
        if role.is_some_and(str::is_empty) {
            return Err(syntax());
        }
        let value = percent_decode(raw)?;
        let hcid = Hcid::new(cc, scheme, &value)?;
        let role = role.map(Role::parse).transpose()?;
        Self::with_role(hcid, role)
    }
}

impl std::fmt::Display for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.role {
            Some(role) => write!(f, "{};role={role}", self.hcid),
            None => write!(f, "{}", self.hcid),
        }
    }
}

/// Refuses empty, over-long, control-character and non-ASCII input (§5 step 2); shared by every parser so
/// that CR/LF/NUL injection and Unicode look-alikes get a specific diagnosis whatever the space.
pub(crate) fn check_ascii_line(input: &str) -> Result<(), AddressError> {
    let err = |k| Err(AddressError::InvalidSyntax(k));
    if input.is_empty() {
        return err(SyntaxErrorKind::Empty);
    }
    if let Some((at, _)) = input.char_indices().find(|(_, c)| c.is_control()) {
        return err(SyntaxErrorKind::ControlCharacter(at));
    }
    if let Some((at, _)) = input.char_indices().find(|(_, c)| !c.is_ascii()) {
        return err(SyntaxErrorKind::NonAscii(at));
    }
    if input.len() > MAX_INPUT_LEN {
        return err(SyntaxErrorKind::TooLong);
    }
    Ok(())
}

/// Decodes `%XX` escapes (RFC 3986 §2.1); decoded control characters are refused like raw ones.
fn percent_decode(raw: &str) -> Result<String, AddressError> {
    let bad = AddressError::InvalidSyntax(SyntaxErrorKind::PercentEncoding);
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3).ok_or_else(|| bad.clone())?;
            let b = u8::from_str_radix(hex, 16).map_err(|_| bad.clone())?;
            if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                return Err(bad);
            }
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).map_err(|_| bad)?;
    if let Some((at, _)) = s.char_indices().find(|(_, c)| c.is_control()) {
        return Err(AddressError::InvalidSyntax(
            SyntaxErrorKind::ControlCharacter(at),
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<String, &'static str> {
        Participant::parse(s)
            .map(|p| p.to_string())
            .map_err(|e| e.code())
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(
            norm("HCID:fr:RPPS:10003456789"),
            Ok("hcid:FR:rpps:10003456789".into())
        );
        assert_eq!(
            norm("hcid:FR:idnat-ps:810003456789"),
            Ok("hcid:FR:rpps:10003456789".into())
        );
        assert_eq!(
            norm("hcid:FR:idnat-ps:0750123456"),
            Ok("hcid:FR:adeli:750123456".into())
        );
        assert_eq!(
            norm("hcid:FR:idnat-ps:3750712184/PS0042"),
            Ok("hcid:FR:idnat-ps:3750712184%2FPS0042".into())
        );
        assert_eq!(
            norm("hcid:FR:idnat-ps:3750712184%2fPS0042"),
            Ok("hcid:FR:idnat-ps:3750712184%2FPS0042".into())
        );
        assert_eq!(
            norm("hcid:BE:nihii:11478761004;role=doctor"),
            Ok("hcid:BE:nihii:11478761004;role=doctor".into())
        );
        assert_eq!(
            norm("hcid:int:gln:5790000130122"),
            Ok("hcid:INT:gln:5790000130122".into())
        );
        assert_eq!(
            norm("hcid:SE:icd-0007:2120000787"),
            Ok("hcid:SE:icd-0007:2120000787".into())
        );
        assert_eq!(
            norm("hcid:BE:icd-0208:0403170701"),
            Ok("hcid:BE:cbe:0403170701".into())
        );
        assert_eq!(norm("hcid:FR:icd-0208:0403170701"), Err("unknown_scheme"));
        assert_eq!(
            norm("hcid:DE:telematik-id:1-2-ARZT-WaltrautDrombusch01"),
            Ok("hcid:DE:telematik-id:1-2-ARZT-WaltrautDrombusch01".into())
        );
        assert_eq!(
            norm("hcid:DE:leitweg-id:04011000-1234512345-06"),
            Ok("hcid:DE:leitweg-id:04011000-1234512345-06".into())
        );
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(norm(""), Err("invalid_syntax"));
        assert_eq!(norm("urn:FR:rpps:10003456789"), Err("invalid_syntax"));
        assert_eq!(norm("hcid:FRA:rpps:10003456789"), Err("invalid_syntax"));
        assert_eq!(norm("hcid:FR:rpps"), Err("invalid_syntax"));
        assert_eq!(norm("hcid:FR:rpps:"), Err("invalid_syntax"));
        assert_eq!(norm("hcid:FR:9pps:1"), Err("invalid_syntax"));
        assert_eq!(norm("hcid:FR:rpps:1000%2"), Err("invalid_syntax"));
        assert_eq!(norm("hcid:FR:rpps:1000%zz"), Err("invalid_syntax"));
        assert_eq!(
            norm("hcid:FR:rpps:10003456789;role="),
            Err("invalid_syntax")
        );
        assert_eq!(
            Participant::parse("hcid:FR:rpps:1000%0A3456789"),
            Err(AddressError::InvalidSyntax(
                SyntaxErrorKind::ControlCharacter(4)
            ))
        );
        assert_eq!(
            Participant::parse("hcid:FR:rpps:10003456789\r\nBcc: x"),
            Err(AddressError::InvalidSyntax(
                SyntaxErrorKind::ControlCharacter(24)
            ))
        );
        assert_eq!(
            Participant::parse("hcid:FR:rрps:10003456789"),
            Err(AddressError::InvalidSyntax(SyntaxErrorKind::NonAscii(9)))
        );
        assert_eq!(
            Participant::parse(&format!("hcid:FR:rpps:{}", "1".repeat(600))),
            Err(AddressError::InvalidSyntax(SyntaxErrorKind::TooLong))
        );
    }

    #[test]
    fn scheme_and_role_errors() {
        assert_eq!(norm("hcid:DE:rpps:10003456789"), Err("unknown_scheme"));
        assert_eq!(norm("hcid:FR:rpps:1000345678"), Err("invalid_format"));
        assert_eq!(
            norm("hcid:BE:nihii-hospital:71000437"),
            Err("invalid_check_digit")
        );
        assert_eq!(
            norm("hcid:FR:rpps:10003456789;role=surgeon"),
            Err("unknown_role")
        );
        assert_eq!(
            norm("hcid:BE:nihii-hospital:71000436;role=doctor"),
            Err("role_not_applicable")
        );
        assert_eq!(norm("hcid:BE:icd-9956:0899965307"), Err("icd_removed"));
        assert_eq!(norm("hcid:XX:icd-1234:1"), Err("unknown_icd"));
        assert_eq!(
            Hcid::parse("hcid:FR:rpps:10003456789;role=nurse").map_err(|e| e.code()),
            Err("invalid_syntax")
        );
    }
}
