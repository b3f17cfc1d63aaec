//! Entry points: parse a list, or verify its signature and parse it from the same tree, so
//! the element that is used is the element that was signed (no signature wrapping).

use openssl::x509::X509;

use crate::error::Error;
use crate::tsl::{parse_root, TrustedList};
use crate::xmldsig::SignatureInfo;

/// A list whose signature verified against one of the announced certificates.
#[derive(Debug, Clone)]
pub struct VerifiedList {
    /// The parsed list.
    pub list: TrustedList,
    /// The signature facts.
    pub signature: SignatureInfo,
}

impl VerifiedList {
    /// Whether the XAdES signing-certificate property matches the list version
    /// (`SigningCertificateV2` for TL v6, `SigningCertificate` before): a structure finding
    /// that DSS reports as a warning (specs/trust-lists.md row 8), not a refusal.
    pub fn xades_matches_version(&self) -> bool {
        self.signature.signing_certificate_v2 == (self.list.version >= 6)
    }
}

/// Parses a TS 119 612 list without checking its signature (for display and for reading the
/// territory and type of a file before choosing its signers).
///
/// # Errors
/// [`Error::Xml`] for bytes that are not bounded, DTD-free XML; [`Error::Parse`] for a
/// structure that is not a TS 119 612 list.
pub fn parse_list(bytes: &[u8]) -> Result<TrustedList, Error> {
    let text = crate::xml::decode(bytes)?;
    let doc = crate::xml::parse(text)?;
    Ok(parse_root(doc.root_element())?)
}

/// Verifies the enveloped XAdES signature of a list against the candidate signer
/// certificates (the OJ anchors or the certificates a LOTL announces for it), then parses it.
///
/// # Errors
/// [`Error::Xml`], [`Error::Signature`] (the exact reason the signature is refused) or
/// [`Error::Parse`].
pub fn verify_list(bytes: &[u8], signers: &[X509]) -> Result<VerifiedList, Error> {
    let text = crate::xml::decode(bytes)?;
    let doc = crate::xml::parse(text)?;
    let signature = crate::xmldsig::verify(&doc, signers)?;
    let list = parse_root(doc.root_element())?;
    Ok(VerifiedList { list, signature })
}

/// Verifies a list against the certificates `lotl` announces for it: the `EU` pointer
/// certificates when the list is itself a LOTL or pivot, else those of its own territory
/// (DESIGN.md `trust verify --lotl`). The territory and type are read from the list itself.
///
/// # Errors
/// As [`verify_list`]; [`crate::SignatureErrorKind::SignerNotAnnounced`] when the LOTL
/// announces no certificate for the list's territory.
pub fn verify_announced(bytes: &[u8], lotl: &TrustedList) -> Result<VerifiedList, Error> {
    let unverified = parse_list(bytes)?;
    let territory = if unverified.is_lotl() {
        "EU"
    } else {
        unverified.territory.as_str()
    };
    let signers = lotl.announced_signers(territory);
    if signers.is_empty() {
        return Err(crate::error::SignatureErrorKind::SignerNotAnnounced.into());
    }
    verify_list(bytes, &signers)
}
