//! An enveloped XAdES-BES signer for the generated lists, written independently of the
//! verifier in `trust-lists`: the generator emits XML that is already in exclusive canonical
//! form (sorted attributes, explicit end tags, no insignificant whitespace), so the octets to
//! digest are the text itself and no canonicaliser is shared with the code under test.
//! `conformance/tests/xades_verify.py` (lxml + cryptography) cross-checks the output.

use base64::Engine;
use openssl::ecdsa::EcdsaSig;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::Id;
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Signer};

use crate::certs::Party;

const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const XADES: &str = "http://uri.etsi.org/01903/v1.3.2#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// Signature algorithm of a generated list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    /// RSA PKCS#1 v1.5 with SHA-256 (`xmldsig-more#rsa-sha256`).
    RsaSha256,
    /// RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32 (`xmldsig-more#sha256-rsa-MGF1`), as DE signs.
    RsaPssSha256,
    /// ECDSA P-256 with SHA-256 (`xmldsig-more#ecdsa-sha256`), raw `r || s`.
    EcdsaSha256,
}

impl SigAlg {
    /// The `SignatureMethod` URI.
    pub fn uri(self) -> &'static str {
        match self {
            SigAlg::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            SigAlg::RsaPssSha256 => "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
            SigAlg::EcdsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        }
    }
}

/// How the whole-document reference names the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefStyle {
    /// `URI=""`.
    Empty,
    /// `URI="#<root Id>"`.
    RootId,
}

/// Canonicalisation the signature declares (and the generator writes in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum C14n {
    /// Exclusive C14N 1.0, as every list of the real corpus.
    Exclusive,
    /// Inclusive C14N 1.0, as the Peru TSL (specs/trust-lists.md clause 4).
    Inclusive,
}

impl C14n {
    fn uri(self) -> &'static str {
        match self {
            C14n::Exclusive => EXC_C14N,
            C14n::Inclusive => "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        }
    }
}

/// Escapes text content for canonical XML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn sha256(data: &[u8]) -> Result<Vec<u8>, ErrorStack> {
    Ok(openssl::hash::hash(MessageDigest::sha256(), data)?.to_vec())
}

/// Signs `unsigned` (a canonical document whose root element has `Id="root_id"`): inserts a
/// `ds:Signature` as the last child of the root. `signing_time` is an `xs:dateTime`.
pub fn sign(
    unsigned: &str,
    root_id: &str,
    signer: &Party,
    alg: SigAlg,
    style: RefStyle,
    signing_time: &str,
) -> Result<String, ErrorStack> {
    sign_with(
        unsigned,
        root_id,
        signer,
        alg,
        style,
        C14n::Exclusive,
        signing_time,
    )
}

/// As [`sign`], with the canonicalisation chosen. With inclusive C14N the apexes
/// (`SignedInfo`, `SignedProperties`) carry every in-scope namespace, the root's default one
/// included (C14N 1.0 clause 2.3), so the octets differ from the exclusive form.
pub fn sign_with(
    unsigned: &str,
    root_id: &str,
    signer: &Party,
    alg: SigAlg,
    style: RefStyle,
    c14n: C14n,
    signing_time: &str,
) -> Result<String, ErrorStack> {
    // The root's default namespace, rendered on inclusive apexes.
    let root_ns = unsigned
        .split_once("xmlns=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or("", |(ns, _)| ns);
    let (apex_default, inner_ds) = match c14n {
        C14n::Exclusive => (String::new(), format!(" xmlns:ds=\"{DSIG}\"")),
        C14n::Inclusive => (format!(" xmlns=\"{root_ns}\""), String::new()),
    };
    let c14n_uri = c14n.uri();
    let sig_id = format!("sig-{root_id}");
    let props_id = format!("xades-{root_id}");
    let doc_digest = b64(&sha256(unsigned.as_bytes())?);
    let cert_digest = b64(&sha256(&signer.cert.to_der()?)?);
    let digest_pair = |value: &str| {
        format!(
            "<ds:DigestMethod{inner_ds} Algorithm=\"{SHA256}\"></ds:DigestMethod><ds:DigestValue{inner_ds}>{value}</ds:DigestValue>"
        )
    };
    // Canonical (apex) form of SignedProperties: exclusive renders ds where used; inclusive
    // renders every in-scope namespace on the apex.
    let props_ns = match c14n {
        C14n::Exclusive => format!(" xmlns:xades=\"{XADES}\""),
        C14n::Inclusive => format!("{apex_default} xmlns:ds=\"{DSIG}\" xmlns:xades=\"{XADES}\""),
    };
    let props_c14n = format!(
        "<xades:SignedProperties{props_ns} Id=\"{props_id}\"><xades:SignedSignatureProperties><xades:SigningTime>{signing_time}</xades:SigningTime><xades:SigningCertificateV2><xades:Cert><xades:CertDigest>{}</xades:CertDigest></xades:Cert></xades:SigningCertificateV2></xades:SignedSignatureProperties></xades:SignedProperties>",
        digest_pair(&cert_digest)
    );
    let props_digest = b64(&sha256(props_c14n.as_bytes())?);
    let uri = match style {
        RefStyle::Empty => String::new(),
        RefStyle::RootId => format!("#{root_id}"),
    };
    let signed_info_body = format!(
        "<ds:CanonicalizationMethod Algorithm=\"{c14n_uri}\"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm=\"{alg}\"></ds:SignatureMethod><ds:Reference Id=\"ref-doc\" URI=\"{uri}\"><ds:Transforms><ds:Transform Algorithm=\"{ENVELOPED}\"></ds:Transform><ds:Transform Algorithm=\"{c14n_uri}\"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"{SHA256}\"></ds:DigestMethod><ds:DigestValue>{doc_digest}</ds:DigestValue></ds:Reference><ds:Reference Type=\"http://uri.etsi.org/01903#SignedProperties\" URI=\"#{props_id}\"><ds:Transforms><ds:Transform Algorithm=\"{c14n_uri}\"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"{SHA256}\"></ds:DigestMethod><ds:DigestValue>{props_digest}</ds:DigestValue></ds:Reference>",
        alg = alg.uri()
    );
    let signed_info_c14n = format!(
        "<ds:SignedInfo{apex_default} xmlns:ds=\"{DSIG}\">{signed_info_body}</ds:SignedInfo>"
    );
    let value = b64(&sign_bytes(signer, alg, signed_info_c14n.as_bytes())?);
    // In place, xmlns:ds is declared once on ds:Signature and xmlns:xades on QualifyingProperties.
    let props_in_place = props_c14n
        .replace(&format!(" xmlns:xades=\"{XADES}\""), "")
        .replace(&format!(" xmlns:ds=\"{DSIG}\""), "");
    let signature = format!(
        "<ds:Signature xmlns:ds=\"{DSIG}\" Id=\"{sig_id}\"><ds:SignedInfo>{signed_info_body}</ds:SignedInfo><ds:SignatureValue>{value}</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo><ds:Object><xades:QualifyingProperties xmlns:xades=\"{XADES}\" Target=\"#{sig_id}\">{props_in_place}</xades:QualifyingProperties></ds:Object></ds:Signature>",
        b64(&signer.cert.to_der()?)
    );
    let close = unsigned.rfind("</").unwrap_or(unsigned.len());
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}{}{}",
        &unsigned[..close],
        signature,
        &unsigned[close..]
    ))
}

fn sign_bytes(signer: &Party, alg: SigAlg, data: &[u8]) -> Result<Vec<u8>, ErrorStack> {
    let mut s = Signer::new(MessageDigest::sha256(), &signer.key)?;
    if alg == SigAlg::RsaPssSha256 {
        s.set_rsa_padding(Padding::PKCS1_PSS)?;
        s.set_rsa_mgf1_md(MessageDigest::sha256())?;
        s.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
    }
    let sig = s.sign_oneshot_to_vec(data)?;
    if signer.key.id() != Id::EC {
        return Ok(sig);
    }
    // XMLDSig ECDSA values are r || s, each the size of the group order.
    let der = EcdsaSig::from_der(&sig)?;
    let width = signer.key.ec_key()?.group().order_bits().div_ceil(8) as i32;
    let mut raw = der.r().to_vec_padded(width)?;
    raw.extend(der.s().to_vec_padded(width)?);
    Ok(raw)
}
