//! Seals and receipts: what one bridge signs for another, in a canonical binary form.
//!
//! The bytes signed are the bytes used. The receiver decodes the sealed content and takes the
//! message id, the canonical addresses and the payload digest from it, never from the unsigned
//! envelope fields (which must merely agree), so nothing can be swapped next to a valid seal.
//!
//! Encoding (version 1): an ASCII domain-separation tag ending in a newline, then each field as a
//! big-endian `u16` length followed by its bytes, in a fixed order; integers are big-endian `u64`
//! or `i64`. Decoding is strict: unknown tags, short input, over-long fields and trailing bytes are
//! refused.

use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, PKeyRef, Private, Public};
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Signer, Verifier};
use openssl::x509::X509;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// Signer keys kept by [`SignerKeys`]: a bridge sees one seal certificate per peer, two during a
/// key rollover, so this covers a few dozen peers; beyond it the cache is emptied and refilled.
pub const MAX_SIGNER_KEYS: usize = 128;

/// Tag of a sealed envelope's content.
const SEAL_TAG: &[u8] = b"EIDAS-BRIDGE-SEAL-V1\n";
/// Tag of a receipt's content.
const RECEIPT_TAG: &[u8] = b"EIDAS-BRIDGE-RECEIPT-V1\n";
/// Longest text field: the journal's own address bound, so anything sealed can be journaled.
pub const MAX_FIELD_LEN: usize = 512;

/// Why sealed bytes or a signature were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealErrorKind {
    /// The content does not start with the expected tag (wrong kind or version).
    #[error("unknown content tag")]
    UnknownTag,
    /// The content ended inside a field.
    #[error("content truncated")]
    Truncated,
    /// Bytes follow the last field.
    #[error("{0} trailing bytes after the content")]
    TrailingBytes(usize),
    /// A text field is longer than [`MAX_FIELD_LEN`] or not UTF-8.
    #[error("field {0} is too long or not UTF-8")]
    BadField(&'static str),
    /// The signature does not verify with the signer certificate's key.
    #[error("signature does not verify")]
    BadSignature,
    /// The signer key type is not one the bridge signs with (EC, RSA, Ed25519).
    #[error("unsupported key type")]
    UnsupportedKey,
    /// An unsigned field disagrees with the signed content.
    #[error("field {0} differs from the sealed content")]
    Mismatch(&'static str),
    /// OpenSSL failed while signing (our own key).
    #[error("signing failed")]
    Signing,
    /// The content is not the leaf its audit path leads from, in the signed batch's tree.
    #[error("not included in the signed batch")]
    NotInBatch,
}

/// What a sending bridge seals for one envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedContent {
    /// The sender's idempotency key.
    pub message_id: String,
    /// Canonical sender.
    pub sender_hcid: String,
    /// Canonical recipient.
    pub recipient_hcid: String,
    /// SHA-256 of the payload.
    pub payload_sha256: [u8; 32],
    /// Payload length.
    pub payload_size: u64,
    /// The sending bridge's peer id.
    pub origin_peer: String,
    /// The receiving bridge's peer id: a seal for one peer cannot be replayed to another.
    pub destination_peer: String,
    /// When the seal was made, Unix nanoseconds.
    pub sealed_at: i64,
}

/// What a receiving bridge signs back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptContent {
    /// The sender's idempotency key.
    pub message_id: String,
    /// The bridge that sent the envelope.
    pub origin_peer: String,
    /// The bridge that received it.
    pub receiver_peer: String,
    /// SHA-256 of the payload received.
    pub payload_sha256: [u8; 32],
    /// When it was received, Unix nanoseconds.
    pub received_at: i64,
    /// The `received` entry's index in the receiver's journal.
    pub journal_index: u64,
}

/// Appends fields in the canonical form (shared with module `batch`).
pub(super) struct Writer(pub(super) Vec<u8>);

impl Writer {
    pub(super) fn text(&mut self, name: &'static str, s: &str) -> Result<(), SealErrorKind> {
        if s.len() > MAX_FIELD_LEN {
            return Err(SealErrorKind::BadField(name));
        }
        self.0.extend_from_slice(&(s.len() as u16).to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Strict reader of the canonical form (shared with module `batch`).
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], SealErrorKind> {
        if self.0.len() < n {
            return Err(SealErrorKind::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    pub(super) fn text(&mut self, name: &'static str) -> Result<String, SealErrorKind> {
        let len = u16::from_be_bytes(self.array()?) as usize;
        if len > MAX_FIELD_LEN {
            return Err(SealErrorKind::BadField(name));
        }
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| SealErrorKind::BadField(name))
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], SealErrorKind> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(super) fn finish(self) -> Result<(), SealErrorKind> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(SealErrorKind::TrailingBytes(n)),
        }
    }
}

impl SealedContent {
    /// The canonical bytes.
    ///
    /// # Errors
    /// [`SealErrorKind::BadField`] for an over-long field.
    pub fn encode(&self) -> Result<Vec<u8>, SealErrorKind> {
        let mut w = Writer(SEAL_TAG.to_vec());
        w.text("message_id", &self.message_id)?;
        w.text("sender_hcid", &self.sender_hcid)?;
        w.text("recipient_hcid", &self.recipient_hcid)?;
        w.0.extend_from_slice(&self.payload_sha256);
        w.0.extend_from_slice(&self.payload_size.to_be_bytes());
        w.text("origin_peer", &self.origin_peer)?;
        w.text("destination_peer", &self.destination_peer)?;
        w.0.extend_from_slice(&self.sealed_at.to_be_bytes());
        Ok(w.0)
    }

    /// Strict decoding of [`SealedContent::encode`]'s output.
    ///
    /// # Errors
    /// See [`SealErrorKind`].
    pub fn decode(bytes: &[u8]) -> Result<SealedContent, SealErrorKind> {
        let rest = bytes
            .strip_prefix(SEAL_TAG)
            .ok_or(SealErrorKind::UnknownTag)?;
        let mut r = Reader(rest);
        let content = SealedContent {
            message_id: r.text("message_id")?,
            sender_hcid: r.text("sender_hcid")?,
            recipient_hcid: r.text("recipient_hcid")?,
            payload_sha256: r.array()?,
            payload_size: u64::from_be_bytes(r.array()?),
            origin_peer: r.text("origin_peer")?,
            destination_peer: r.text("destination_peer")?,
            sealed_at: i64::from_be_bytes(r.array()?),
        };
        r.finish()?;
        Ok(content)
    }
}

impl ReceiptContent {
    /// The canonical bytes.
    ///
    /// # Errors
    /// [`SealErrorKind::BadField`] for an over-long field.
    pub fn encode(&self) -> Result<Vec<u8>, SealErrorKind> {
        let mut w = Writer(RECEIPT_TAG.to_vec());
        w.text("message_id", &self.message_id)?;
        w.text("origin_peer", &self.origin_peer)?;
        w.text("receiver_peer", &self.receiver_peer)?;
        w.0.extend_from_slice(&self.payload_sha256);
        w.0.extend_from_slice(&self.received_at.to_be_bytes());
        w.0.extend_from_slice(&self.journal_index.to_be_bytes());
        Ok(w.0)
    }

    /// Strict decoding of [`ReceiptContent::encode`]'s output.
    ///
    /// # Errors
    /// See [`SealErrorKind`].
    pub fn decode(bytes: &[u8]) -> Result<ReceiptContent, SealErrorKind> {
        let rest = bytes
            .strip_prefix(RECEIPT_TAG)
            .ok_or(SealErrorKind::UnknownTag)?;
        let mut r = Reader(rest);
        let content = ReceiptContent {
            message_id: r.text("message_id")?,
            origin_peer: r.text("origin_peer")?,
            receiver_peer: r.text("receiver_peer")?,
            payload_sha256: r.array()?,
            received_at: i64::from_be_bytes(r.array()?),
            journal_index: u64::from_be_bytes(r.array()?),
        };
        r.finish()?;
        Ok(content)
    }
}

/// The bridge's seal: its key and the certificate chain that a peer validates against the trusted
/// lists (a qualified seal certificate in production).
#[derive(Clone)]
pub struct SealKey {
    key: PKey<Private>,
    chain: Vec<X509>,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealKey")
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl SealKey {
    /// A seal from a key and its chain (leaf first).
    pub fn new(key: PKey<Private>, chain: Vec<X509>) -> SealKey {
        SealKey { key, chain }
    }

    /// The chain, DER, leaf first.
    ///
    /// # Errors
    /// When a certificate does not re-encode (it was parsed, so it does).
    pub fn chain_der(&self) -> Result<Vec<Vec<u8>>, SealErrorKind> {
        self.chain
            .iter()
            .map(|c| c.to_der().map_err(|_| SealErrorKind::Signing))
            .collect()
    }

    /// Signs `content`: ECDSA with SHA-256 (DER signature), RSASSA-PSS with SHA-256 and a 32-byte
    /// salt, or Ed25519, by key type.
    ///
    /// # Errors
    /// [`SealErrorKind::UnsupportedKey`] or [`SealErrorKind::Signing`].
    pub fn sign(&self, content: &[u8]) -> Result<Vec<u8>, SealErrorKind> {
        let fail = |_| SealErrorKind::Signing;
        match self.key.id() {
            Id::EC => {
                let mut s = Signer::new(MessageDigest::sha256(), &self.key).map_err(fail)?;
                s.sign_oneshot_to_vec(content).map_err(fail)
            }
            Id::RSA => {
                let mut s = Signer::new(MessageDigest::sha256(), &self.key).map_err(fail)?;
                s.set_rsa_padding(Padding::PKCS1_PSS).map_err(fail)?;
                s.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
                    .map_err(fail)?;
                s.sign_oneshot_to_vec(content).map_err(fail)
            }
            Id::ED25519 => {
                let mut s = Signer::new_without_digest(&self.key).map_err(fail)?;
                s.sign_oneshot_to_vec(content).map_err(fail)
            }
            _ => Err(SealErrorKind::UnsupportedKey),
        }
    }
}

/// Verifies `signature` over `content` with the public key of `signer` (the leaf of a chain that
/// the caller validates against the trust store separately).
///
/// # Errors
/// [`SealErrorKind::BadSignature`] or [`SealErrorKind::UnsupportedKey`].
pub fn verify_signature(
    signer: &X509,
    content: &[u8],
    signature: &[u8],
) -> Result<(), SealErrorKind> {
    let key = signer
        .public_key()
        .map_err(|_| SealErrorKind::UnsupportedKey)?;
    let ok = verify_with(&key, content, signature).map_err(|_| SealErrorKind::BadSignature)?;
    if ok {
        Ok(())
    } else {
        Err(SealErrorKind::BadSignature)
    }
}

/// The public keys of signer certificates already seen, by SHA-256 of the leaf's DER.
///
/// Decoding an X.509 certificate with OpenSSL 3 costs far more than the ECDSA verification it
/// serves (its key decoder goes through the provider machinery), and a peer seals every message
/// with the same certificate. Only the key extraction is cached: the chain is still validated
/// against the trust store at the instant of every message, by the caller.
#[derive(Debug, Default)]
pub struct SignerKeys {
    keys: Mutex<HashMap<[u8; 32], PKey<Public>>>,
}

impl SignerKeys {
    /// An empty cache.
    pub fn new() -> SignerKeys {
        SignerKeys::default()
    }

    /// The public key of the certificate `leaf_der`.
    ///
    /// # Errors
    /// [`SealErrorKind::UnsupportedKey`] when the certificate or its key does not decode.
    pub fn key(&self, leaf_der: &[u8]) -> Result<PKey<Public>, SealErrorKind> {
        let digest: [u8; 32] = Sha256::digest(leaf_der).into();
        // A poisoned lock only means a thread panicked while holding it; the map of parsed keys
        // is still valid.
        if let Some(k) = self
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
        {
            return Ok(k.clone());
        }
        let key = X509::from_der(leaf_der)
            .and_then(|c| c.public_key())
            .map_err(|_| SealErrorKind::UnsupportedKey)?;
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= MAX_SIGNER_KEYS {
            keys.clear();
        }
        keys.insert(digest, key.clone());
        Ok(key)
    }

    /// [`verify_signature`] with the leaf given as DER, its key taken from the cache.
    ///
    /// # Errors
    /// [`SealErrorKind::UnsupportedKey`] for an undecodable leaf, [`SealErrorKind::BadSignature`].
    pub fn verify(
        &self,
        leaf_der: &[u8],
        content: &[u8],
        signature: &[u8],
    ) -> Result<(), SealErrorKind> {
        let key = self.key(leaf_der)?;
        let ok = verify_with(&key, content, signature).map_err(|_| SealErrorKind::BadSignature)?;
        if ok {
            Ok(())
        } else {
            Err(SealErrorKind::BadSignature)
        }
    }
}

fn verify_with(
    key: &PKeyRef<Public>,
    content: &[u8],
    signature: &[u8],
) -> Result<bool, openssl::error::ErrorStack> {
    match key.id() {
        Id::EC => {
            let mut v = Verifier::new(MessageDigest::sha256(), key)?;
            v.verify_oneshot(signature, content)
        }
        Id::RSA => {
            let mut v = Verifier::new(MessageDigest::sha256(), key)?;
            v.set_rsa_padding(Padding::PKCS1_PSS)?;
            v.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
            v.verify_oneshot(signature, content)
        }
        Id::ED25519 => {
            let mut v = Verifier::new_without_digest(key)?;
            v.verify_oneshot(signature, content)
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;

    fn content() -> SealedContent {
        SealedContent {
            message_id: "msg-1".into(),
            sender_hcid: "hcid:fr:rpps:10003817071".into(),
            recipient_hcid: "hcid:be:nihii:12345678901".into(),
            payload_sha256: [7; 32],
            payload_size: 4096,
            origin_peer: "fr-bridge".into(),
            destination_peer: "be-bridge".into(),
            sealed_at: 1_790_000_000_000_000_000,
        }
    }

    fn self_signed() -> (PKey<Private>, X509) {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut b = openssl::x509::X509Builder::new().unwrap();
        b.set_pubkey(&key).unwrap();
        // Validity makes the certificate well-formed DER, as `SignerKeys` re-parses it.
        b.set_not_before(&openssl::asn1::Asn1Time::from_unix(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::from_unix(1 << 31).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        (key, b.build())
    }

    #[test]
    fn round_trip_and_strictness() {
        let c = content();
        let bytes = c.encode().unwrap();
        assert_eq!(SealedContent::decode(&bytes).unwrap(), c);
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            SealedContent::decode(&long),
            Err(SealErrorKind::TrailingBytes(1))
        );
        assert_eq!(
            SealedContent::decode(&bytes[..bytes.len() - 1]),
            Err(SealErrorKind::Truncated)
        );
        assert_eq!(
            ReceiptContent::decode(&bytes),
            Err(SealErrorKind::UnknownTag)
        );
        for cut in 0..bytes.len() {
            assert!(SealedContent::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn sign_and_verify_and_tamper() {
        let (key, cert) = self_signed();
        let seal = SealKey::new(key, vec![cert.clone()]);
        let bytes = content().encode().unwrap();
        let sig = seal.sign(&bytes).unwrap();
        verify_signature(&cert, &bytes, &sig).unwrap();
        let mut tampered = bytes.clone();
        tampered[30] ^= 1;
        assert_eq!(
            verify_signature(&cert, &tampered, &sig),
            Err(SealErrorKind::BadSignature)
        );
        let (_, other) = self_signed();
        assert_eq!(
            verify_signature(&other, &bytes, &sig),
            Err(SealErrorKind::BadSignature)
        );
    }

    #[test]
    fn cached_keys_verify_like_certificates() {
        let (key, cert) = self_signed();
        let (_, other) = self_signed();
        let seal = SealKey::new(key, vec![cert.clone()]);
        let bytes = content().encode().unwrap();
        let sig = seal.sign(&bytes).unwrap();
        let keys = SignerKeys::new();
        let der = cert.to_der().unwrap();
        for _ in 0..2 {
            keys.verify(&der, &bytes, &sig).unwrap();
        }
        assert_eq!(
            keys.verify(&other.to_der().unwrap(), &bytes, &sig),
            Err(SealErrorKind::BadSignature)
        );
        let mut tampered = bytes.clone();
        tampered[30] ^= 1;
        assert_eq!(
            keys.verify(&der, &tampered, &sig),
            Err(SealErrorKind::BadSignature)
        );
        assert_eq!(
            keys.verify(b"not a certificate", &bytes, &sig),
            Err(SealErrorKind::UnsupportedKey)
        );
        assert_eq!(keys.keys.lock().unwrap().len(), 2);
    }

    #[test]
    fn over_long_field_refused() {
        let mut c = content();
        c.message_id = "x".repeat(MAX_FIELD_LEN + 1);
        assert_eq!(c.encode(), Err(SealErrorKind::BadField("message_id")));
    }
}
