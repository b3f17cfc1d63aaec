//! Enveloped XMLDSig / XAdES-BES verification of a trusted list (TS 119 612 clause 5.7).
//!
//! This is the only module that touches XML-signature machinery. Canonicalisation is done in
//! [`c14n`] over the same `roxmltree` tree the list parser reads, and every digest and signature
//! is checked with openssl ([`crypto`]), so RSA PKCS#1, RSASSA-PSS and ECDSA all take the same
//! path (Debian's libxmlsec1 1.2.37 cannot verify RSASSA-PSS; see specs/trust-lists.md clause 6).
//!
//! Beyond XMLDSig core validation it enforces the trusted-list profile: exactly one signature,
//! a child of the root; exactly one whole-document enveloped reference (so the element that is
//! signed is the element that is parsed); a SignedProperties reference; XAdES 1.3.2 only; the
//! SigningCertificate(V2) digest identifies the signer; SigningTime within the signer's validity.

pub(crate) mod c14n;
mod crypto;
mod xades;

use base64::Engine;
use openssl::x509::X509;
use roxmltree::{Document, Node};
use time::OffsetDateTime;

use crate::error::SignatureErrorKind;
use crypto::{Digest, SignatureMethod};

/// XMLDSig namespace.
pub(crate) const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XMLDSig 1.1 namespace (RSAPSSParams live in the RFC 9231 namespace below).
const DSIG_MORE_NS: &str = "http://www.w3.org/2007/05/xmldsig-more#";
/// The enveloped-signature transform (XMLDSig clause 6.6.4).
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// Reference type of the XAdES signed properties (XAdES 1.3.2 clause 6.3.1).
const SIGNED_PROPERTIES_TYPE: &str = "http://uri.etsi.org/01903#SignedProperties";

/// Most references accepted in one SignedInfo: the whole document, SignedProperties and at
/// most a couple more (the Peru TSL carries three). Bounds digest work.
pub const MAX_REFERENCES: usize = 8;

/// The outcome of a successful verification.
#[derive(Debug, Clone)]
pub struct SignatureInfo {
    /// The announced certificate whose key verified the signature.
    pub signer: X509,
    /// XAdES `SigningTime`.
    pub signing_time: OffsetDateTime,
    /// The `SignatureMethod` URI.
    pub algorithm: String,
    /// The signer is named by `SigningCertificateV2` (expected in TL v6) rather than
    /// `SigningCertificate` (TL v5 and older); DSS's structure check warns on a mismatch.
    pub signing_certificate_v2: bool,
}

impl SignatureInfo {
    /// The signer's subject, `SHORTNAME=value` pairs joined by `, ` (for reports and JSON).
    pub fn signer_subject(&self) -> String {
        crate::snapshot::subject_of(&self.signer)
    }
}

/// Verifies the enveloped signature of `doc` against the candidate signer certificates.
pub(crate) fn verify(
    doc: &Document<'_>,
    candidates: &[X509],
) -> Result<SignatureInfo, SignatureErrorKind> {
    let root = doc.root_element();

    // 1. Exactly one ds:Signature in the document, and it is a child of the root.
    let all: Vec<Node<'_, '_>> = doc
        .descendants()
        .filter(|n| n.has_tag_name((DSIG_NS, "Signature")))
        .collect();
    let signature = match all.as_slice() {
        [] => return Err(SignatureErrorKind::MissingSignature),
        [one] => *one,
        many => return Err(SignatureErrorKind::MultipleSignatures { count: many.len() }),
    };
    if signature.parent() != Some(root) {
        return Err(SignatureErrorKind::SignatureNotChildOfRoot);
    }
    let signed_info = child(signature, DSIG_NS, "SignedInfo")?;
    let c14n_method = c14n_method(child(signed_info, DSIG_NS, "CanonicalizationMethod")?)?;
    let sm_node = child(signed_info, DSIG_NS, "SignatureMethod")?;
    let algorithm = sm_node.attribute("Algorithm").unwrap_or("").to_string();
    let pss_digest = sm_node
        .descendants()
        .find(|n| n.has_tag_name((DSIG_MORE_NS, "DigestMethod")))
        .map(|n| Digest::from_uri(n.attribute("Algorithm").unwrap_or("")))
        .transpose()?;
    let method = SignatureMethod::from_uri(&algorithm, pss_digest)?;

    // 2. Reference validation (XMLDSig clause 3.2.1) with the profile's scope rules.
    let ids = IdIndex::build(doc)?;
    let signed_props = xades::signed_properties(signature)?;
    let mut whole = 0usize;
    let mut props = 0usize;
    let references: Vec<Node<'_, '_>> = signed_info
        .children()
        .filter(|n| n.has_tag_name((DSIG_NS, "Reference")))
        .collect();
    if references.len() > MAX_REFERENCES {
        return Err(SignatureErrorKind::DuplicateReference { what: "excess" });
    }
    for reference in &references {
        let uri = reference.attribute("URI").unwrap_or("");
        let transforms = transforms(*reference)?;
        let target = if uri.is_empty() {
            None
        } else {
            let id =
                uri.strip_prefix('#')
                    .ok_or_else(|| SignatureErrorKind::UnresolvedReference {
                        uri: uri.to_string(),
                    })?;
            Some(
                ids.get(id)
                    .ok_or_else(|| SignatureErrorKind::UnresolvedReference {
                        uri: uri.to_string(),
                    })?,
            )
        };
        let is_whole = match target {
            None => true,
            Some(t) => t == root,
        };
        let is_props = reference.attribute("Type") == Some(SIGNED_PROPERTIES_TYPE);
        if is_whole {
            whole += 1;
            if !transforms.enveloped {
                return Err(SignatureErrorKind::NoWholeDocumentReference);
            }
        }
        if is_props {
            props += 1;
            if target != Some(signed_props) {
                return Err(SignatureErrorKind::NoSignedPropertiesReference);
            }
        }
        let excluded = transforms.enveloped.then(|| signature.id());
        let octets = match target {
            // XMLDSig clause 4.4.3.2: URI="" is the whole document without comments.
            None => c14n::document(doc, excluded, &transforms.method.without_comments()),
            // A same-document `#id` is the element's subtree (no document-level PIs).
            Some(t) if t == root => {
                c14n::subtree_excluding(t, excluded, &transforms.method.without_comments())
            }
            // An enveloped reference to an element other than the root is the shape of a
            // wrapping attack (the signed element would not be the element parsed).
            Some(_) if transforms.enveloped => {
                return Err(SignatureErrorKind::NoWholeDocumentReference)
            }
            Some(t) => c14n::subtree(t, &transforms.method.without_comments()),
        };
        let dm = child(*reference, DSIG_NS, "DigestMethod")?;
        let digest = Digest::from_uri(dm.attribute("Algorithm").unwrap_or(""))?;
        if digest == Digest::Sha1 {
            return Err(SignatureErrorKind::UnsupportedAlgorithm {
                uri: dm.attribute("Algorithm").unwrap_or("").to_string(),
            });
        }
        let expected = base64_of(child(*reference, DSIG_NS, "DigestValue")?, "DigestValue")?;
        if digest.hash(&octets)? != expected {
            return Err(SignatureErrorKind::ReferenceDigestMismatch {
                uri: uri.to_string(),
            });
        }
    }
    match (whole, props) {
        (0, _) => return Err(SignatureErrorKind::NoWholeDocumentReference),
        (1, 0) => return Err(SignatureErrorKind::NoSignedPropertiesReference),
        (1, 1) => {}
        (1, _) => {
            return Err(SignatureErrorKind::DuplicateReference {
                what: "SignedProperties",
            })
        }
        _ => {
            return Err(SignatureErrorKind::DuplicateReference {
                what: "whole-document",
            })
        }
    }

    // 3. Signer: an announced certificate whose key is a KeyInfo certificate's key (any
    //    announced certificate when KeyInfo carries none).
    let key_info = key_info_certificates(signature)?;
    let sig_value = base64_of(
        child(signature, DSIG_NS, "SignatureValue")?,
        "SignatureValue",
    )?;
    let canonical_si = c14n::subtree(signed_info, &c14n_method);
    let mut signer = None;
    let mut mismatch = None;
    for candidate in candidates {
        let key = candidate
            .public_key()
            .map_err(|_| SignatureErrorKind::Crypto)?;
        let named = key_info
            .iter()
            .find(|k| k.public_key().is_ok_and(|kk| key.public_eq(&kk)));
        if !key_info.is_empty() && named.is_none() {
            continue;
        }
        // 4. SignatureValue over the canonical SignedInfo (XMLDSig clause 3.2.2).
        match method.verify(&key, &canonical_si, &sig_value) {
            Ok(true) => {
                signer = Some((candidate.clone(), named.cloned()));
                break;
            }
            Ok(false) => mismatch = Some(SignatureErrorKind::SignatureValueMismatch),
            Err(e) => mismatch = Some(e),
        }
    }
    let (signer, named) = match (signer, mismatch) {
        (Some(s), _) => s,
        // An announced key was tried and refused the value: the signature is wrong.
        (None, Some(e)) => return Err(e),
        (None, None) => return Err(SignatureErrorKind::SignerNotAnnounced),
    };

    // 5. XAdES-BES signed properties.
    let props = xades::check(signed_props, &signer, named.as_ref())?;
    Ok(SignatureInfo {
        signer,
        signing_time: props.signing_time,
        algorithm,
        signing_certificate_v2: props.v2,
    })
}

/// Parsed `ds:Transforms` of one reference.
struct Transforms {
    enveloped: bool,
    method: c14n::Method,
}

fn transforms(reference: Node<'_, '_>) -> Result<Transforms, SignatureErrorKind> {
    let mut enveloped = false;
    // XMLDSig clause 4.4.3.2: a node-set result is converted with inclusive C14N 1.0.
    let mut method = c14n::Method::Inclusive { comments: false };
    let mut seen_c14n = false;
    if let Some(ts) = reference
        .children()
        .find(|n| n.has_tag_name((DSIG_NS, "Transforms")))
    {
        for t in ts.children().filter(|n| n.is_element()) {
            let uri = t.attribute("Algorithm").unwrap_or("");
            if uri == ENVELOPED && !enveloped && !seen_c14n {
                enveloped = true;
            } else if !seen_c14n {
                method = c14n_method(t)?;
                seen_c14n = true;
            } else {
                return Err(SignatureErrorKind::UnsupportedTransform {
                    uri: uri.to_string(),
                });
            }
        }
    }
    Ok(Transforms { enveloped, method })
}

/// Maps a canonicalisation (method or transform) element to a [`c14n::Method`].
fn c14n_method(node: Node<'_, '_>) -> Result<c14n::Method, SignatureErrorKind> {
    let uri = node.attribute("Algorithm").unwrap_or("");
    let prefixes = || -> Vec<String> {
        node.children()
            .find(|n| n.tag_name().name() == "InclusiveNamespaces")
            .and_then(|n| n.attribute("PrefixList"))
            .map(|l| {
                l.split_ascii_whitespace()
                    .map(|p| {
                        if p == "#default" {
                            String::new()
                        } else {
                            p.to_string()
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(match uri {
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315" => {
            c14n::Method::Inclusive { comments: false }
        }
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments" => {
            c14n::Method::Inclusive { comments: true }
        }
        "http://www.w3.org/2001/10/xml-exc-c14n#" => c14n::Method::Exclusive {
            comments: false,
            prefixes: prefixes(),
        },
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments" => c14n::Method::Exclusive {
            comments: true,
            prefixes: prefixes(),
        },
        other => {
            return Err(SignatureErrorKind::UnsupportedTransform {
                uri: other.to_string(),
            })
        }
    })
}

/// Index of `Id` attributes; a duplicated Id is refused (wrapping defence).
struct IdIndex<'a, 'i> {
    ids: std::collections::HashMap<&'a str, Node<'a, 'i>>,
}

impl<'a, 'i> IdIndex<'a, 'i> {
    fn build(doc: &'a Document<'i>) -> Result<Self, SignatureErrorKind> {
        let mut ids = std::collections::HashMap::new();
        for n in doc.descendants().filter(|n| n.is_element()) {
            if let Some(id) = n.attribute("Id") {
                if ids.insert(id, n).is_some() {
                    return Err(SignatureErrorKind::DuplicateId { id: id.to_string() });
                }
            }
        }
        Ok(IdIndex { ids })
    }

    fn get(&self, id: &str) -> Option<Node<'a, 'i>> {
        self.ids.get(id).copied()
    }
}

/// First element child with the given name, or a `MissingElement` error.
pub(crate) fn child<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &str,
    name: &'static str,
) -> Result<Node<'a, 'i>, SignatureErrorKind> {
    node.children()
        .find(|n| n.has_tag_name((ns, name)))
        .ok_or(SignatureErrorKind::MissingElement { element: name })
}

/// Decodes the base64 text content of an element (whitespace inside is allowed).
pub(crate) fn base64_of(
    node: Node<'_, '_>,
    element: &'static str,
) -> Result<Vec<u8>, SignatureErrorKind> {
    let text: String = node
        .text()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| SignatureErrorKind::InvalidBase64 { element })
}

/// Most certificates read from `KeyInfo` (the signer and, at most, a short chain).
const MAX_KEY_INFO_CERTS: usize = 8;

/// The `X509Certificate`s of `KeyInfo`.
fn key_info_certificates(signature: Node<'_, '_>) -> Result<Vec<X509>, SignatureErrorKind> {
    let Some(ki) = signature
        .children()
        .find(|n| n.has_tag_name((DSIG_NS, "KeyInfo")))
    else {
        return Ok(Vec::new());
    };
    ki.descendants()
        .filter(|n| n.has_tag_name((DSIG_NS, "X509Certificate")))
        .take(MAX_KEY_INFO_CERTS)
        .map(|cert| {
            let der = base64_of(cert, "X509Certificate")?;
            X509::from_der(&der).map_err(|_| SignatureErrorKind::InvalidCertificate {
                element: "X509Certificate",
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG_OPEN: &str = "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">";

    fn err(xml: &str) -> SignatureErrorKind {
        let doc = roxmltree::Document::parse(xml).unwrap();
        verify(&doc, &[]).unwrap_err()
    }

    #[test]
    fn signature_placement() {
        assert_eq!(err("<a/>"), SignatureErrorKind::MissingSignature);
        let nested = format!("<a><b>{SIG_OPEN}</ds:Signature></b></a>");
        assert_eq!(err(&nested), SignatureErrorKind::SignatureNotChildOfRoot);
        let two = format!("<a>{SIG_OPEN}</ds:Signature><b>{SIG_OPEN}</ds:Signature></b></a>");
        assert_eq!(
            err(&two),
            SignatureErrorKind::MultipleSignatures { count: 2 }
        );
    }

    #[test]
    fn structure_and_algorithms() {
        let no_si = format!("<a>{SIG_OPEN}</ds:Signature></a>");
        assert_eq!(
            err(&no_si),
            SignatureErrorKind::MissingElement {
                element: "SignedInfo"
            }
        );
        let si = |c14n: &str, sm: &str, refs: &str| {
            format!("<a Id=\"x\"><i Id=\"x\"/>{SIG_OPEN}<ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{c14n}\"/><ds:SignatureMethod Algorithm=\"{sm}\"/>{refs}</ds:SignedInfo></ds:Signature></a>")
        };
        let exc = "http://www.w3.org/2001/10/xml-exc-c14n#";
        let rsa = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
        assert_eq!(
            err(&si("http://www.w3.org/2006/12/xml-c14n11", rsa, "")),
            SignatureErrorKind::UnsupportedTransform {
                uri: "http://www.w3.org/2006/12/xml-c14n11".into()
            }
        );
        assert_eq!(
            err(&si(exc, "http://www.w3.org/2000/09/xmldsig#rsa-sha1", "")),
            SignatureErrorKind::UnsupportedAlgorithm {
                uri: "http://www.w3.org/2000/09/xmldsig#rsa-sha1".into()
            }
        );
        // Duplicate Id attributes are refused before any reference is resolved.
        assert_eq!(
            err(&si(exc, rsa, "")),
            SignatureErrorKind::DuplicateId { id: "x".into() }
        );
    }
}
