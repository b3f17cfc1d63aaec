//! Evidence of a trust decision: which decision was taken ([`Decision`], hence which
//! [`Usage`] was checked) and the digest of the certificate chain that was validated, so that
//! `journal verify --recheck` can re-run the decision against the archived trust snapshot
//! (issue 6 point 5). The chain itself lives in the evidence archive (`store::evidence`),
//! addressed by [`chain_digest`]; only the digest enters the journal, so no certificate subject
//! does (DESIGN.md "Journal": names and subjects never enter it).
//!
//! # Why the decision is a field and not derived from the entry kind
//! A `received` entry follows two decisions with different usages (the sending bridge's TLS
//! certificate, `Usage::Qwac`, and the envelope seal, `Usage::QSeal`), and a `failed` entry can
//! follow any of them; the kind alone cannot say which chain the digest is of. So the decision is
//! recorded next to the digest, and the two travel together in one [`Evidence`] value: an entry
//! can hold neither or both, never one without the other.
//!
//! # Chain encoding (the bytes that are archived and hashed)
//! ```text
//! "eidas-bridge/evidence-chain/v1" 0x00   domain separation
//! u8  certificate count (1 ..= MAX_EVIDENCE_CERTS)
//! per certificate, leaf first: u32 big-endian length (1 ..= MAX_EVIDENCE_CERT_LEN), DER bytes
//! ```
//! Length prefixes make the encoding injective (no two chains share bytes), and the digest is
//! the SHA-256 of exactly the archived bytes, so an archived value verifies against its key.

use sha2::{Digest, Sha256};
use trust_lists::Usage;

/// Domain-separation prefix of the chain encoding (module doc).
pub const CHAIN_ENCODING_TAG: &[u8] = b"eidas-bridge/evidence-chain/v1\0";

/// Most certificates in an evidence chain: the trust store's own limit
/// ([`trust_lists::MAX_CHAIN_LEN`]); a longer chain was refused before any decision.
pub const MAX_EVIDENCE_CERTS: usize = trust_lists::MAX_CHAIN_LEN;

/// Largest certificate in an evidence chain (64 KiB): real qualified certificates are 1-3 KiB;
/// the bound keeps an archived chain at most about half a megabyte.
pub const MAX_EVIDENCE_CERT_LEN: usize = 64 * 1024;

/// Largest encoded chain, derived from the two limits above.
pub const MAX_EVIDENCE_CHAIN_LEN: usize =
    CHAIN_ENCODING_TAG.len() + 1 + MAX_EVIDENCE_CERTS * (4 + MAX_EVIDENCE_CERT_LEN);

/// Which trust decision the evidence is of; one byte on the wire, values fixed forever (they are
/// part of the leaf hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Decision {
    /// The sending peer bridge's TLS certificate (DESIGN.md "Trust model": qualified website
    /// authentication of the peer's country).
    PeerTls = 1,
    /// The seal on an envelope received from a peer bridge.
    Seal = 2,
    /// The seal on a receipt returned by the receiving bridge.
    ReceiptSeal = 3,
    /// The issuer of a wallet credential (PID provider).
    WalletIssuer = 4,
    /// The issuer of the wallet presentation that bound an exchange to its sender: journaled on
    /// an `accepted` entry, it records that the holder verified under this chain is the entry's
    /// `sender` (same hcid, roles aside; exchange Submit's binding rule). Added after version 2
    /// was in use: older journals never hold it, and decode as before.
    SenderHolder = 5,
}

impl Decision {
    /// Parses the wire byte; `None` for any byte not listed.
    pub fn from_byte(b: u8) -> Option<Decision> {
        Some(match b {
            1 => Self::PeerTls,
            2 => Self::Seal,
            3 => Self::ReceiptSeal,
            4 => Self::WalletIssuer,
            5 => Self::SenderHolder,
            _ => return None,
        })
    }

    /// The usage the decision checks the chain for.
    pub fn usage(self) -> Usage {
        match self {
            Self::PeerTls => Usage::Qwac,
            Self::Seal | Self::ReceiptSeal => Usage::QSeal,
            Self::WalletIssuer | Self::SenderHolder => Usage::Pid,
        }
    }

    /// The stable snake_case name used in CLI and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PeerTls => "peer_tls",
            Self::Seal => "seal",
            Self::ReceiptSeal => "receipt_seal",
            Self::WalletIssuer => "wallet_issuer",
            Self::SenderHolder => "sender_holder",
        }
    }
}

/// The evidence of one trust decision, as journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    /// Which decision (and so which usage).
    pub decision: Decision,
    /// [`chain_digest`] of the validated chain, the key of the chain in the evidence archive.
    pub chain: [u8; 32],
}

impl Evidence {
    /// The evidence for `chain` (DER, leaf first) validated for `decision`.
    ///
    /// # Errors
    /// [`ChainErrorKind`] when the chain breaks a limit (it cannot have been validated then).
    pub fn of_chain(decision: Decision, chain: &[Vec<u8>]) -> Result<Evidence, ChainErrorKind> {
        Ok(Evidence {
            decision,
            chain: chain_digest(&encode_chain(chain)?),
        })
    }
}

/// Why a chain cannot be encoded or an archived chain decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainErrorKind {
    /// No certificate: there is nothing to validate, so nothing to archive.
    #[error("empty chain")]
    Empty,
    /// More than [`MAX_EVIDENCE_CERTS`] certificates.
    #[error("{count} certificates, limit {max}")]
    TooManyCertificates {
        /// Certificates given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A certificate is empty or longer than [`MAX_EVIDENCE_CERT_LEN`].
    #[error("certificate {index} is {len} bytes, limit 1..={max}")]
    CertificateLength {
        /// Position in the chain.
        index: usize,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Archived bytes do not follow the encoding (wrong tag, truncated, trailing bytes).
    #[error("archived chain is malformed at offset {offset}")]
    Malformed {
        /// Where decoding stopped.
        offset: usize,
    },
}

/// Encodes `chain` (DER, leaf first) as described in the module doc.
///
/// # Errors
/// [`ChainErrorKind`] on an empty chain or one breaking a limit.
pub fn encode_chain(chain: &[Vec<u8>]) -> Result<Vec<u8>, ChainErrorKind> {
    if chain.is_empty() {
        return Err(ChainErrorKind::Empty);
    }
    let count = u8::try_from(chain.len())
        .ok()
        .filter(|&c| usize::from(c) <= MAX_EVIDENCE_CERTS)
        .ok_or(ChainErrorKind::TooManyCertificates {
            count: chain.len(),
            max: MAX_EVIDENCE_CERTS,
        })?;
    let mut out = Vec::with_capacity(
        CHAIN_ENCODING_TAG.len() + 1 + chain.iter().map(|c| 4 + c.len()).sum::<usize>(),
    );
    out.extend_from_slice(CHAIN_ENCODING_TAG);
    out.push(count);
    for (index, cert) in chain.iter().enumerate() {
        let bad = ChainErrorKind::CertificateLength {
            index,
            len: cert.len(),
            max: MAX_EVIDENCE_CERT_LEN,
        };
        if cert.is_empty() || cert.len() > MAX_EVIDENCE_CERT_LEN {
            return Err(bad);
        }
        let len = u32::try_from(cert.len()).map_err(|_| bad)?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(cert);
    }
    Ok(out)
}

/// Decodes [`encode_chain`] output strictly.
///
/// # Errors
/// [`ChainErrorKind::Malformed`] on anything but exactly one encoded chain; the limit variants
/// when a count or length breaks its bound.
pub fn decode_chain(bytes: &[u8]) -> Result<Vec<Vec<u8>>, ChainErrorKind> {
    let tag = CHAIN_ENCODING_TAG.len();
    if bytes.len() < tag + 1 || &bytes[..tag] != CHAIN_ENCODING_TAG {
        return Err(ChainErrorKind::Malformed { offset: 0 });
    }
    let count = usize::from(bytes[tag]);
    if count == 0 {
        return Err(ChainErrorKind::Empty);
    }
    if count > MAX_EVIDENCE_CERTS {
        return Err(ChainErrorKind::TooManyCertificates {
            count,
            max: MAX_EVIDENCE_CERTS,
        });
    }
    let mut pos = tag + 1;
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        let len_bytes: [u8; 4] = bytes
            .get(pos..pos + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or(ChainErrorKind::Malformed { offset: pos })?;
        let len = u32::from_be_bytes(len_bytes) as usize;
        if len == 0 || len > MAX_EVIDENCE_CERT_LEN {
            return Err(ChainErrorKind::CertificateLength {
                index,
                len,
                max: MAX_EVIDENCE_CERT_LEN,
            });
        }
        pos += 4;
        let cert = bytes
            .get(pos..pos + len)
            .ok_or(ChainErrorKind::Malformed { offset: pos })?;
        out.push(cert.to_vec());
        pos += len;
    }
    if pos != bytes.len() {
        return Err(ChainErrorKind::Malformed { offset: pos });
    }
    Ok(out)
}

/// SHA-256 of an encoded chain: its key in the evidence archive and the journaled digest.
pub fn chain_digest(encoded: &[u8]) -> [u8; 32] {
    Sha256::digest(encoded).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_round_trip_and_injectivity() {
        let chain = vec![vec![1, 2, 3], vec![4]];
        let enc = encode_chain(&chain).unwrap();
        assert_eq!(decode_chain(&enc).unwrap(), chain);
        // Same concatenated bytes, different split: a different encoding and digest.
        let other = encode_chain(&[vec![1, 2], vec![3, 4]]).unwrap();
        assert_ne!(chain_digest(&enc), chain_digest(&other));
        let ev = Evidence::of_chain(Decision::Seal, &chain).unwrap();
        assert_eq!(ev.chain, chain_digest(&enc));
    }

    #[test]
    fn chain_limits_and_strict_decoding() {
        assert_eq!(encode_chain(&[]), Err(ChainErrorKind::Empty));
        assert_eq!(
            encode_chain(&vec![vec![1]; MAX_EVIDENCE_CERTS + 1]),
            Err(ChainErrorKind::TooManyCertificates { count: 9, max: 8 })
        );
        assert_eq!(
            encode_chain(&[vec![1], vec![]]),
            Err(ChainErrorKind::CertificateLength {
                index: 1,
                len: 0,
                max: MAX_EVIDENCE_CERT_LEN
            })
        );
        let mut enc = encode_chain(&[vec![9; 10]]).unwrap();
        enc.push(0);
        let n = enc.len();
        assert_eq!(
            decode_chain(&enc),
            Err(ChainErrorKind::Malformed { offset: n - 1 })
        );
        assert_eq!(
            decode_chain(&enc[..n - 3]),
            Err(ChainErrorKind::Malformed {
                offset: CHAIN_ENCODING_TAG.len() + 5
            })
        );
        assert_eq!(
            decode_chain(b"x"),
            Err(ChainErrorKind::Malformed { offset: 0 })
        );
    }

    #[test]
    fn decisions_map_to_usages() {
        for b in 1..=5 {
            let d = Decision::from_byte(b).unwrap();
            assert_eq!(d as u8, b);
        }
        assert_eq!(Decision::from_byte(0), None);
        assert_eq!(Decision::from_byte(6), None);
        assert_eq!(Decision::SenderHolder.usage(), Usage::Pid);
        assert_eq!(Decision::SenderHolder.as_str(), "sender_holder");
        assert_eq!(Decision::PeerTls.usage(), Usage::Qwac);
        assert_eq!(Decision::ReceiptSeal.usage(), Usage::QSeal);
        assert_eq!(Decision::WalletIssuer.usage(), Usage::Pid);
    }
}
