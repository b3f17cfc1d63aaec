//! Test certificates: CAs (the service digital identities of the test lists), list signers,
//! and end-entity certificates with the ETSI EN 319 412-5 QC statements of qualified seals,
//! website certificates and PID issuers.

use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::BigNum;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509Extension, X509Name, X509};

/// A key and its certificate.
#[derive(Debug, Clone)]
pub struct Party {
    /// The private key.
    pub key: PKey<Private>,
    /// The certificate.
    pub cert: X509,
}

impl Party {
    /// DER of the certificate.
    pub fn der(&self) -> Vec<u8> {
        self.cert.to_der().unwrap_or_default()
    }
}

/// What an end-entity certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A CA certificate (keyCertSign, cRLSign, basicConstraints CA).
    Ca,
    /// A trusted-list signer (digitalSignature, nonRepudiation), no QC statements.
    ListSigner,
    /// Qualified electronic seal: QcCompliance + QcType eseal.
    QSeal,
    /// Qualified website authentication: QcCompliance + QcType web, serverAuth + clientAuth.
    Qwac,
    /// A PID issuer signing key (digitalSignature), no QC statements.
    PidIssuer,
}

/// Subject and validity of a certificate to issue.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// Common name.
    pub cn: &'a str,
    /// Country (ISO 3166 alpha-2; `EL` for Greece is a TL territory, certificates use `GR`).
    pub country: &'a str,
    /// Organisation.
    pub org: &'a str,
    /// Serial number.
    pub serial: u32,
    /// notBefore, unix seconds.
    pub not_before: i64,
    /// notAfter, unix seconds.
    pub not_after: i64,
    /// Profile.
    pub profile: Profile,
    /// DNS name for website certificates.
    pub dns: Option<&'a str>,
}

/// Issues a certificate for `key`, signed by `issuer` (self-signed when `None`), SHA-256.
pub fn issue(
    spec: &Spec<'_>,
    key: PKey<Private>,
    issuer: Option<&Party>,
) -> Result<Party, ErrorStack> {
    let mut name = X509Name::builder()?;
    name.append_entry_by_text("C", spec.country)?;
    name.append_entry_by_text("O", spec.org)?;
    name.append_entry_by_text("CN", spec.cn)?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let serial = BigNum::from_u32(spec.serial)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    match issuer {
        Some(i) => b.set_issuer_name(i.cert.subject_name())?,
        None => b.set_issuer_name(&name)?,
    }
    let not_before = Asn1Time::from_unix(spec.not_before)?;
    let not_after = Asn1Time::from_unix(spec.not_after)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    b.set_pubkey(&key)?;
    match spec.profile {
        Profile::Ca => {
            b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()?,
            )?;
        }
        Profile::ListSigner | Profile::PidIssuer => {
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .non_repudiation()
                    .build()?,
            )?;
        }
        Profile::QSeal => {
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .non_repudiation()
                    .build()?,
            )?;
            b.append_extension(qc_statements(2)?)?;
        }
        Profile::Qwac => {
            b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
            b.append_extension(
                ExtendedKeyUsage::new()
                    .server_auth()
                    .client_auth()
                    .build()?,
            )?;
            if let Some(dns) = spec.dns {
                let ctx = b.x509v3_context(issuer.map(|i| i.cert.as_ref()), None);
                let san = SubjectAlternativeName::new().dns(dns).build(&ctx)?;
                b.append_extension(san)?;
            }
            b.append_extension(qc_statements(3)?)?;
        }
    }
    let signer = issuer.map_or(&key, |i| &i.key);
    b.sign(signer, MessageDigest::sha256())?;
    let cert = b.build();
    Ok(Party { key, cert })
}

/// qcStatements (RFC 3739) with QcCompliance and QcType `0.4.0.1862.1.6.<qc_type>`.
fn qc_statements(qc_type: u8) -> Result<X509Extension, ErrorStack> {
    let oid = |content: &[u8]| tlv(0x06, content);
    let compliance = tlv(0x30, &oid(&[0x04, 0x00, 0x8E, 0x46, 0x01, 0x01]));
    let mut qct = oid(&[0x04, 0x00, 0x8E, 0x46, 0x01, 0x06]);
    qct.extend(tlv(
        0x30,
        &oid(&[0x04, 0x00, 0x8E, 0x46, 0x01, 0x06, qc_type]),
    ));
    let qc_type_stmt = tlv(0x30, &qct);
    let mut body = compliance;
    body.extend(qc_type_stmt);
    let value = tlv(0x30, &body);
    let object = Asn1Object::from_str("1.3.6.1.5.5.7.1.3")?;
    let octets = Asn1OctetString::new_from_bytes(&value)?;
    X509Extension::new_from_der(&object, false, &octets)
}

/// A short-form DER TLV (contents here are always under 128 bytes).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag, content.len() as u8];
    out.extend_from_slice(content);
    out
}
