//! Just enough DER to read the certificate extensions the qualification decision needs and
//! openssl does not expose: qcStatements (RFC 3739, ETSI EN 319 412-5), keyUsage and
//! certificatePolicies (RFC 5280 clauses 4.2.1.3 and 4.2.1.4). Every read is bounds-checked.

/// OID content bytes of id-pe-qcStatements, 1.3.6.1.5.5.7.1.3.
const OID_QC_STATEMENTS: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x03];
/// id-ce-keyUsage, 2.5.29.15.
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1D, 0x0F];
/// id-ce-certificatePolicies, 2.5.29.32.
const OID_CERT_POLICIES: &[u8] = &[0x55, 0x1D, 0x20];
/// id-ce-basicConstraints, 2.5.29.19.
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1D, 0x13];
/// id-etsi-qcs-QcCompliance, 0.4.0.1862.1.1 (EN 319 412-5 clause 4.2.1).
const OID_QC_COMPLIANCE: &[u8] = &[0x04, 0x00, 0x8E, 0x46, 0x01, 0x01];
/// id-etsi-qcs-QcSSCD, 0.4.0.1862.1.4 (EN 319 412-5 clause 4.2.2).
const OID_QC_SSCD: &[u8] = &[0x04, 0x00, 0x8E, 0x46, 0x01, 0x04];
/// id-etsi-qcs-QcType, 0.4.0.1862.1.6 (EN 319 412-5 clause 4.2.3).
const OID_QC_TYPE: &[u8] = &[0x04, 0x00, 0x8E, 0x46, 0x01, 0x06];

/// Key usage bit names in RFC 5280 order, as TS 119 612 `KeyUsageBit/@name` spells them.
const KEY_USAGE_NAMES: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "crlSign",
    "encipherOnly",
    "decipherOnly",
];

/// The QC type of EN 319 412-5 clause 4.2.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertType {
    /// id-etsi-qct-esign: electronic signatures.
    ESig,
    /// id-etsi-qct-eseal: electronic seals.
    ESeal,
    /// id-etsi-qct-web: website authentication.
    Wsa,
}

/// Facts read from a certificate's extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Extensions {
    pub(crate) ca: bool,
    pub(crate) qc_compliance: bool,
    pub(crate) qc_sscd: bool,
    pub(crate) qc_types: Vec<CertType>,
    pub(crate) key_usage: Vec<String>,
    pub(crate) policies: Vec<String>,
}

/// One TLV: (tag, content, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The children TLVs of a constructed value.
fn children(mut input: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (tag, content, rest) = tlv(input)?;
        input = rest;
        Some((tag, content))
    })
}

/// Reads the extensions of a DER certificate; unreadable parts yield no facts.
pub(crate) fn extensions(cert_der: &[u8]) -> Extensions {
    let mut out = Extensions::default();
    let Some((0x30, cert, _)) = tlv(cert_der) else {
        return out;
    };
    let Some((0x30, tbs, _)) = tlv(cert) else {
        return out;
    };
    let Some((_, exts)) = children(tbs).find(|(t, _)| *t == 0xA3) else {
        return out;
    };
    let Some((0x30, list, _)) = tlv(exts) else {
        return out;
    };
    for (_, ext) in children(list) {
        let mut parts = children(ext);
        let Some((0x06, oid)) = parts.next() else {
            continue;
        };
        let Some((_, value)) = parts.find(|(t, _)| *t == 0x04) else {
            continue;
        };
        match oid {
            OID_QC_STATEMENTS => read_qc_statements(value, &mut out),
            OID_KEY_USAGE => read_key_usage(value, &mut out),
            OID_CERT_POLICIES => read_policies(value, &mut out),
            OID_BASIC_CONSTRAINTS => {
                // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, ... }
                if let Some((0x30, bc, _)) = tlv(value) {
                    out.ca = matches!(children(bc).next(), Some((0x01, [v])) if *v != 0);
                }
            }
            _ => {}
        }
    }
    out
}

fn read_qc_statements(value: &[u8], out: &mut Extensions) {
    let Some((0x30, seq, _)) = tlv(value) else {
        return;
    };
    for (_, statement) in children(seq) {
        let mut parts = children(statement);
        let Some((0x06, id)) = parts.next() else {
            continue;
        };
        match id {
            OID_QC_COMPLIANCE => out.qc_compliance = true,
            OID_QC_SSCD => out.qc_sscd = true,
            OID_QC_TYPE => {
                if let Some((0x30, types)) = parts.next() {
                    for (_, t) in children(types) {
                        match t.strip_prefix(OID_QC_TYPE) {
                            Some([1]) => out.qc_types.push(CertType::ESig),
                            Some([2]) => out.qc_types.push(CertType::ESeal),
                            Some([3]) => out.qc_types.push(CertType::Wsa),
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn read_key_usage(value: &[u8], out: &mut Extensions) {
    let Some((0x03, bits, _)) = tlv(value) else {
        return;
    };
    let Some((_, bytes)) = bits.split_first() else {
        return;
    };
    for (i, name) in KEY_USAGE_NAMES.iter().enumerate() {
        if bytes.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0) {
            out.key_usage.push((*name).to_string());
        }
    }
}

fn read_policies(value: &[u8], out: &mut Extensions) {
    let Some((0x30, seq, _)) = tlv(value) else {
        return;
    };
    for (_, info) in children(seq) {
        if let Some((0x06, oid)) = children(info).next() {
            out.policies.push(oid_to_string(oid));
        }
    }
}

/// Dotted form of OID content bytes (X.690 clause 8.19).
fn oid_to_string(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in oid {
        acc = (acc << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_and_truncation() {
        assert_eq!(
            oid_to_string(&[0x04, 0x00, 0x8B, 0xEC, 0x40, 0x01, 0x03]),
            "0.4.0.194112.1.3"
        );
        assert_eq!(oid_to_string(&[0x55, 0x1D, 0x20]), "2.5.29.32");
        assert_eq!(tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(tlv(&[0x30, 0x05, 1]), None);
        assert_eq!(extensions(&[0x30, 0x03, 0x30, 0x01]), Extensions::default());
    }
}
