//! XAdES-BES signed properties of a trusted list (ETSI EN 319 132-1 / XAdES 1.3.2, as profiled
//! by TS 119 612 clause 5.7.1): the `SignedProperties` element, `SigningCertificate` (v5 lists)
//! or `SigningCertificateV2` (v6 lists) naming the signer, and `SigningTime`.

use openssl::asn1::Asn1Time;
use openssl::x509::X509;
use roxmltree::Node;
use time::OffsetDateTime;

use super::crypto::Digest;
use super::{base64_of, child, DSIG_NS};
use crate::error::SignatureErrorKind;

/// The only XAdES namespace accepted (TS 119 612 clause 5.7.1 references XAdES 1.3.2).
pub(crate) const XADES_NS: &str = "http://uri.etsi.org/01903/v1.3.2#";

/// Finds `ds:Object/xades:QualifyingProperties/xades:SignedProperties` of the signature.
pub(crate) fn signed_properties<'a, 'i>(
    signature: Node<'a, 'i>,
) -> Result<Node<'a, 'i>, SignatureErrorKind> {
    let qp = signature
        .children()
        .filter(|n| n.has_tag_name((DSIG_NS, "Object")))
        .flat_map(|o| o.children())
        .find(|n| n.is_element() && n.tag_name().name() == "QualifyingProperties")
        .ok_or(SignatureErrorKind::NotXades132)?;
    if qp.tag_name().namespace() != Some(XADES_NS) {
        return Err(SignatureErrorKind::NotXades132);
    }
    child(qp, XADES_NS, "SignedProperties").map_err(|_| SignatureErrorKind::NotXades132)
}

/// What the XAdES properties said.
pub(crate) struct Properties {
    pub(crate) signing_time: OffsetDateTime,
    /// `SigningCertificateV2` (EN 319 132-1) rather than the v1 `SigningCertificate`.
    pub(crate) v2: bool,
}

/// Checks SigningCertificate(V2) against the signer and SigningTime against its validity.
pub(crate) fn check(
    signed_props: Node<'_, '_>,
    signer: &X509,
    key_info_cert: Option<&X509>,
) -> Result<Properties, SignatureErrorKind> {
    let ssp = child(signed_props, XADES_NS, "SignedSignatureProperties")?;

    // SigningCertificate (v1) or SigningCertificateV2: one of the Cert digests is the signer's.
    let sc = ssp
        .children()
        .find(|n| {
            n.has_tag_name((XADES_NS, "SigningCertificateV2"))
                || n.has_tag_name((XADES_NS, "SigningCertificate"))
        })
        .ok_or(SignatureErrorKind::MissingElement {
            element: "SigningCertificate",
        })?;
    let mut ders = vec![signer.to_der().map_err(|_| SignatureErrorKind::Crypto)?];
    if let Some(kic) = key_info_cert {
        ders.push(kic.to_der().map_err(|_| SignatureErrorKind::Crypto)?);
    }
    let mut matched = false;
    for cert in sc.children().filter(|n| n.has_tag_name((XADES_NS, "Cert"))) {
        let cd = child(cert, XADES_NS, "CertDigest")?;
        let dm = child(cd, DSIG_NS, "DigestMethod")?;
        let digest = Digest::from_uri(dm.attribute("Algorithm").unwrap_or(""))?;
        let value = base64_of(child(cd, DSIG_NS, "DigestValue")?, "DigestValue")?;
        for der in &ders {
            if digest.hash(der)? == value {
                matched = true;
            }
        }
    }
    if !matched {
        return Err(SignatureErrorKind::SigningCertificateMismatch);
    }

    // SigningTime within the signer's validity period.
    let st = child(ssp, XADES_NS, "SigningTime")?;
    let when = crate::time::parse_datetime(st.text().unwrap_or("").trim())
        .ok_or(SignatureErrorKind::SigningTimeOutsideValidity)?;
    let asn1 =
        Asn1Time::from_unix(when.unix_timestamp()).map_err(|_| SignatureErrorKind::Crypto)?;
    let after_start = signer
        .not_before()
        .compare(&asn1)
        .map_err(|_| SignatureErrorKind::Crypto)?
        != std::cmp::Ordering::Greater;
    let before_end = signer
        .not_after()
        .compare(&asn1)
        .map_err(|_| SignatureErrorKind::Crypto)?
        != std::cmp::Ordering::Less;
    if !(after_start && before_end) {
        return Err(SignatureErrorKind::SigningTimeOutsideValidity);
    }
    Ok(Properties {
        signing_time: when,
        v2: sc.tag_name().name() == "SigningCertificateV2",
    })
}
