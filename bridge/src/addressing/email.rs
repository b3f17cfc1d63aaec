//! Bare RFC 5322 addr-specs for the e-mail spaces (XB-ADDR v0 §5 step 2): ASCII dot-atom local part of at
//! most 64 octets (RFC 5321 §4.5.3.1.1), host-name domain; display names, quoted strings, comments and
//! address literals are refused. The result is lower-cased, as MSSanté and KIM directories compare addresses.

use super::error::{AddressError, SyntaxErrorKind};
use super::hcid::check_ascii_line;

/// Longest local part: RFC 5321 §4.5.3.1.1.
pub const MAX_LOCAL_PART_LEN: usize = 64;
/// Longest domain: RFC 5321 §4.5.3.1.2.
pub const MAX_DOMAIN_LEN: usize = 255;

/// A syntactically valid, lower-cased addr-spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSpec {
    /// The local part.
    pub local: String,
    /// The domain.
    pub domain: String,
}

impl AddrSpec {
    /// Parses a bare addr-spec.
    ///
    /// # Errors
    /// [`AddressError::InvalidSyntax`] with the rule broken.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        check_ascii_line(input)?;
        let err = |k| Err(AddressError::InvalidSyntax(k));
        if input.bytes().any(|b| {
            matches!(
                b,
                b'<' | b'>' | b'"' | b'(' | b')' | b' ' | b',' | b'[' | b']' | b'\\'
            )
        }) {
            return err(SyntaxErrorKind::AddrSpec);
        }
        let Some((local, domain)) = input.split_once('@') else {
            return err(SyntaxErrorKind::AddrSpec);
        };
        if domain.contains('@') {
            return err(SyntaxErrorKind::AddrSpec);
        }
        if local.len() > MAX_LOCAL_PART_LEN {
            return err(SyntaxErrorKind::LocalPartTooLong);
        }
        let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b);
        if local
            .split('.')
            .any(|label| label.is_empty() || !label.bytes().all(atext))
        {
            return err(SyntaxErrorKind::DotAtom);
        }
        if !is_host_name(domain) {
            return err(SyntaxErrorKind::Domain);
        }
        Ok(Self {
            local: local.to_ascii_lowercase(),
            domain: domain.to_ascii_lowercase(),
        })
    }

    /// The lower-cased address, the directory key.
    pub fn address(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }
}

/// RFC 1123 host name with at least two labels.
fn is_host_name(domain: &str) -> bool {
    domain.len() <= MAX_DOMAIN_LEN
        && domain.split('.').count() >= 2
        && domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Whether `domain` is `parent` or a sub-domain of it.
pub(crate) fn within(domain: &str, parent: &str) -> bool {
    domain == parent
        || domain
            .strip_suffix(parent)
            .is_some_and(|head| head.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Option<SyntaxErrorKind> {
        match AddrSpec::parse(s) {
            Err(AddressError::InvalidSyntax(k)) => Some(k),
            _ => None,
        }
    }

    #[test]
    fn valid_and_lower_cased() {
        let a = AddrSpec::parse("appliExemple@hopitalB.mssante.fr").unwrap();
        assert_eq!(a.address(), "appliexemple@hopitalb.mssante.fr");
        assert!(AddrSpec::parse("jean-marie.dupont@infirmier.mssante.fr").is_ok());
    }

    #[test]
    fn refusals_are_specific() {
        assert_eq!(
            kind("jean..dupont@medecin.mssante.fr"),
            Some(SyntaxErrorKind::DotAtom)
        );
        assert_eq!(
            kind(".jean@medecin.mssante.fr"),
            Some(SyntaxErrorKind::DotAtom)
        );
        assert_eq!(
            kind("Dr X <x@medecin.mssante.fr>"),
            Some(SyntaxErrorKind::AddrSpec)
        );
        assert_eq!(
            kind("x@y@medecin.mssante.fr"),
            Some(SyntaxErrorKind::AddrSpec)
        );
        assert_eq!(kind("nodomain"), Some(SyntaxErrorKind::AddrSpec));
        assert_eq!(
            kind(&format!("{}@medecin.mssante.fr", "a".repeat(65))),
            Some(SyntaxErrorKind::LocalPartTooLong)
        );
        assert_eq!(kind("x@localhost"), Some(SyntaxErrorKind::Domain));
        assert_eq!(kind("x@-a.mssante.fr"), Some(SyntaxErrorKind::Domain));
        assert_eq!(
            kind("x@medecin.mssante.fr\r\nRCPT TO:<y@z>"),
            Some(SyntaxErrorKind::ControlCharacter(20))
        );
        assert_eq!(
            kind("x\0@medecin.mssante.fr"),
            Some(SyntaxErrorKind::ControlCharacter(1))
        );
        // Cyrillic "а" (U+0430) in place of Latin "a".
        assert_eq!(
            kind("jean@medecin.mssаnte.fr"),
            Some(SyntaxErrorKind::NonAscii(16))
        );
        assert_eq!(
            kind("x＠medecin.mssante.fr"),
            Some(SyntaxErrorKind::NonAscii(1))
        );
    }

    #[test]
    fn domain_containment() {
        assert!(within("mssante.fr", "mssante.fr"));
        assert!(within("aura.mssante.fr", "mssante.fr"));
        assert!(!within("fakemssante.fr", "mssante.fr"));
    }
}
