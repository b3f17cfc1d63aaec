//! Journal entries and their canonical binary encoding (DESIGN.md, "Journal").
//!
//! An entry records *what happened* to an exchange, never the exchange itself: identifiers,
//! canonical addresses (`hcid`s), the peer, the payload's SHA-256 and size, the digest of the trust
//! snapshot used for the decision, and a reason for failures. Payloads, person names and
//! certificate subjects have no field here, so they cannot enter the journal by accident.
//!
//! # Encoding (versions 1 and 2)
//! All integers are big-endian. One encoding per entry: the leaf hash of RFC 9162 section 2.1.1 is
//! computed over exactly these bytes, so decoding is strict (unknown version or kind, over-long or
//! empty strings, control characters, non-0/1 flags and trailing bytes are all refused) and
//! `encode(decode(b)) == b` for every accepted `b`.
//!
//! ```text
//! u8  version (1 | 2)          u8  kind (see EntryKind)
//! i64 time, Unix nanoseconds UTC (1677-09-21 .. 2262-04-11)
//! str message id               str sender (hcid)      str recipient (hcid)      str peer
//! u8  payload flag (0|1) [+ 32-byte SHA-256 + u64 size]
//! u8  trust snapshot flag (0|1) [+ 32-byte SHA-256]
//! version 2 only: u8 decision (1..=5, see Decision) + 32-byte chain digest (see `evidence`)
//! str reason
//! ```
//! A `str` is a u16 length followed by that many bytes of UTF-8; length 0 means "absent", which is
//! why present strings must be non-empty.
//!
//! Version 2 adds the [`Evidence`] of a trust decision. An entry without evidence is written as
//! version 1 and one with evidence as version 2, which has no "absent" form: so journals written
//! before version 2 still decode (with `evidence: None`), and each entry still has exactly one
//! encoding (a version-2 entry without evidence would be a second encoding of a version-1 one).

use thiserror::Error;

use super::evidence::{Decision, Evidence};

/// The newest encoding version, written for entries that carry [`Evidence`].
pub const ENTRY_VERSION: u8 = 2;

/// The first encoding version, still written for entries without evidence and always decoded.
pub const ENTRY_VERSION_1: u8 = 1;

/// Longest message id in bytes. Message ids are caller-chosen idempotency keys; 256 bytes is the
/// bound the exchange API documents for them and leaves room for a UUID or an RFC 5322 Message-ID.
pub const MAX_MESSAGE_ID_LEN: usize = 256;

/// Longest canonical address (`hcid`) or peer name in bytes: an RFC 5321 path is at most 256
/// octets (section 4.5.3.1.3); the canonical form adds a short space prefix, hence 320.
pub const MAX_ADDRESS_LEN: usize = 320;

/// Longest reason text in bytes: reasons are short machine-readable codes with a little context,
/// never free-form documents.
pub const MAX_REASON_LEN: usize = 1024;

/// Largest encoded entry, derived from the field limits above (each string has a 2-byte length).
pub const MAX_ENTRY_LEN: usize = 1
    + 1
    + 8
    + (2 + MAX_MESSAGE_ID_LEN)
    + 3 * (2 + MAX_ADDRESS_LEN)
    + (1 + 32 + 8)
    + (1 + 32)
    + (1 + 32)
    + (2 + MAX_REASON_LEN);

/// What happened, one byte on the wire. Values are fixed forever: they are part of the leaf hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// An operator's envelope was accepted (made durable in the outbox).
    Accepted = 1,
    /// The envelope was handed to the peer bridge.
    Forwarded = 2,
    /// The envelope was delivered to the local recipient's operator.
    Delivered = 3,
    /// An envelope was received from a peer bridge.
    Received = 4,
    /// A signed receipt was received (or issued) for an envelope.
    Receipt = 5,
    /// The exchange failed for good; `reason` says why.
    Failed = 6,
    /// A trust list snapshot was loaded; `trust_snapshot` is its digest.
    TrustListLoaded = 7,
    /// A wallet-based identity was verified; no claim values are recorded.
    IdentityVerified = 8,
}

impl EntryKind {
    /// Parses the wire byte.
    ///
    /// # Errors
    /// [`EntryError::UnknownKind`] for any byte not listed in [`EntryKind`].
    pub fn from_byte(b: u8) -> Result<Self, EntryError> {
        Ok(match b {
            1 => Self::Accepted,
            2 => Self::Forwarded,
            3 => Self::Delivered,
            4 => Self::Received,
            5 => Self::Receipt,
            6 => Self::Failed,
            7 => Self::TrustListLoaded,
            8 => Self::IdentityVerified,
            other => return Err(EntryError::UnknownKind(other)),
        })
    }

    /// The stable lower-case name used in CLI and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Forwarded => "forwarded",
            Self::Delivered => "delivered",
            Self::Received => "received",
            Self::Receipt => "receipt",
            Self::Failed => "failed",
            Self::TrustListLoaded => "trust_list_loaded",
            Self::IdentityVerified => "identity_verified",
        }
    }
}

/// The digest and size of a payload the bridge relayed; the payload itself is never journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadDigest {
    /// SHA-256 of the payload bytes.
    pub sha256: [u8; 32],
    /// Payload length in bytes.
    pub size: u64,
}

/// One journal entry. Construct it with a struct literal; [`JournalEntry::encode`] validates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// What happened.
    pub kind: EntryKind,
    /// When, in Unix nanoseconds UTC (an input, never read from the clock here).
    pub unix_nanos: i64,
    /// The caller-chosen message id, when the event concerns a message.
    pub message_id: Option<String>,
    /// Canonical sender address (`hcid`).
    pub sender: Option<String>,
    /// Canonical recipient address (`hcid`).
    pub recipient: Option<String>,
    /// The peer bridge (its country and identifier), when one is involved.
    pub peer: Option<String>,
    /// Digest and size of the payload, when one is involved.
    pub payload: Option<PayloadDigest>,
    /// SHA-256 of the trust snapshot the decision was taken against (kept for `--recheck`).
    pub trust_snapshot: Option<[u8; 32]>,
    /// The decision taken against that snapshot and the digest of the chain it validated (kept
    /// for `--recheck`; the chain is archived by `store::evidence`).
    pub evidence: Option<Evidence>,
    /// Why, for failures and refusals.
    pub reason: Option<String>,
}

/// Why an entry cannot be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EntryError {
    /// The input ended inside a field (strict framing, module doc).
    #[error("entry truncated: needed {needed} more bytes at offset {offset}")]
    Truncated {
        /// Offset where the field starts.
        offset: usize,
        /// Bytes missing.
        needed: usize,
    },
    /// Only versions 1 and [`ENTRY_VERSION`] are understood; a newer writer must not be misread.
    #[error("unsupported entry version {0}")]
    UnsupportedVersion(u8),
    /// The kind byte is not one of [`EntryKind`].
    #[error("unknown entry kind {0}")]
    UnknownKind(u8),
    /// A string field exceeds its documented limit.
    #[error("field {field} is {len} bytes, limit {max}")]
    FieldTooLong {
        /// Field name.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A present string is empty: length 0 encodes absence, so `Some("")` has no encoding.
    #[error("field {0} is present but empty")]
    EmptyField(&'static str),
    /// A string is not UTF-8 or contains control characters (entries are printed by `replay`).
    #[error("field {0} is not printable UTF-8")]
    BadText(&'static str),
    /// A presence flag is neither 0 nor 1 (one encoding per entry).
    #[error("flag {field} has value {value}")]
    BadFlag {
        /// Field name.
        field: &'static str,
        /// Byte found.
        value: u8,
    },
    /// The decision byte of a version-2 entry is not one of [`Decision`].
    #[error("unknown decision {0}")]
    UnknownDecision(u8),
    /// A failed exchange must say why (DESIGN.md: "fails with a reason, journaled").
    #[error("a failed entry needs a reason")]
    MissingReason,
    /// Bytes follow a complete entry: a second encoding of the same entry would hash differently.
    #[error("{0} trailing bytes after the entry")]
    TrailingBytes(usize),
}

impl JournalEntry {
    /// Encodes the entry canonically (module doc).
    ///
    /// # Errors
    /// Any [`EntryError`] describing a field that breaks its limit or text rules.
    pub fn encode(&self) -> Result<Vec<u8>, EntryError> {
        if self.kind == EntryKind::Failed && self.reason.is_none() {
            return Err(EntryError::MissingReason);
        }
        let mut out = Vec::with_capacity(160);
        out.push(if self.evidence.is_some() {
            ENTRY_VERSION
        } else {
            ENTRY_VERSION_1
        });
        out.push(self.kind as u8);
        out.extend_from_slice(&self.unix_nanos.to_be_bytes());
        put_str(
            &mut out,
            "message_id",
            self.message_id.as_deref(),
            MAX_MESSAGE_ID_LEN,
        )?;
        put_str(&mut out, "sender", self.sender.as_deref(), MAX_ADDRESS_LEN)?;
        put_str(
            &mut out,
            "recipient",
            self.recipient.as_deref(),
            MAX_ADDRESS_LEN,
        )?;
        put_str(&mut out, "peer", self.peer.as_deref(), MAX_ADDRESS_LEN)?;
        match &self.payload {
            None => out.push(0),
            Some(p) => {
                out.push(1);
                out.extend_from_slice(&p.sha256);
                out.extend_from_slice(&p.size.to_be_bytes());
            }
        }
        match &self.trust_snapshot {
            None => out.push(0),
            Some(d) => {
                out.push(1);
                out.extend_from_slice(d);
            }
        }
        if let Some(ev) = &self.evidence {
            out.push(ev.decision as u8);
            out.extend_from_slice(&ev.chain);
        }
        put_str(&mut out, "reason", self.reason.as_deref(), MAX_REASON_LEN)?;
        Ok(out)
    }

    /// Decodes exactly one entry from `bytes`.
    ///
    /// # Errors
    /// Any [`EntryError`]; in particular [`EntryError::TrailingBytes`] if `bytes` is longer than
    /// the entry.
    pub fn decode(bytes: &[u8]) -> Result<Self, EntryError> {
        let mut r = Reader { buf: bytes, pos: 0 };
        let version = r.u8()?;
        if version != ENTRY_VERSION && version != ENTRY_VERSION_1 {
            return Err(EntryError::UnsupportedVersion(version));
        }
        let kind = EntryKind::from_byte(r.u8()?)?;
        let unix_nanos = i64::from_be_bytes(r.array()?);
        let message_id = r.str("message_id", MAX_MESSAGE_ID_LEN)?;
        let sender = r.str("sender", MAX_ADDRESS_LEN)?;
        let recipient = r.str("recipient", MAX_ADDRESS_LEN)?;
        let peer = r.str("peer", MAX_ADDRESS_LEN)?;
        let payload = if r.flag("payload")? {
            let sha256 = r.array()?;
            let size = u64::from_be_bytes(r.array()?);
            Some(PayloadDigest { sha256, size })
        } else {
            None
        };
        let trust_snapshot = if r.flag("trust_snapshot")? {
            Some(r.array()?)
        } else {
            None
        };
        let evidence = if version == ENTRY_VERSION {
            let b = r.u8()?;
            let decision = Decision::from_byte(b).ok_or(EntryError::UnknownDecision(b))?;
            Some(Evidence {
                decision,
                chain: r.array()?,
            })
        } else {
            None
        };
        let reason = r.str("reason", MAX_REASON_LEN)?;
        if kind == EntryKind::Failed && reason.is_none() {
            return Err(EntryError::MissingReason);
        }
        let rest = bytes.len() - r.pos;
        if rest != 0 {
            return Err(EntryError::TrailingBytes(rest));
        }
        Ok(Self {
            kind,
            unix_nanos,
            message_id,
            sender,
            recipient,
            peer,
            payload,
            trust_snapshot,
            evidence,
            reason,
        })
    }
}

fn check_text(field: &'static str, s: &str, max: usize) -> Result<(), EntryError> {
    if s.is_empty() {
        return Err(EntryError::EmptyField(field));
    }
    if s.len() > max {
        return Err(EntryError::FieldTooLong {
            field,
            len: s.len(),
            max,
        });
    }
    if s.chars().any(char::is_control) {
        return Err(EntryError::BadText(field));
    }
    Ok(())
}

fn put_str(
    out: &mut Vec<u8>,
    field: &'static str,
    s: Option<&str>,
    max: usize,
) -> Result<(), EntryError> {
    match s {
        None => out.extend_from_slice(&0u16.to_be_bytes()),
        Some(s) => {
            check_text(field, s, max)?;
            // Invariant: max <= MAX_REASON_LEN < u16::MAX, checked by check_text above.
            let len = u16::try_from(s.len()).map_err(|_| EntryError::FieldTooLong {
                field,
                len: s.len(),
                max,
            })?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    Ok(())
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EntryError> {
        let avail = self.buf.len() - self.pos;
        if avail < n {
            return Err(EntryError::Truncated {
                offset: self.pos,
                needed: n - avail,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, EntryError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], EntryError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn flag(&mut self, field: &'static str) -> Result<bool, EntryError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(EntryError::BadFlag { field, value }),
        }
    }

    fn str(&mut self, field: &'static str, max: usize) -> Result<Option<String>, EntryError> {
        let len = usize::from(u16::from_be_bytes(self.array()?));
        if len == 0 {
            return Ok(None);
        }
        if len > max {
            return Err(EntryError::FieldTooLong { field, len, max });
        }
        let bytes = self.take(len)?;
        let s = std::str::from_utf8(bytes).map_err(|_| EntryError::BadText(field))?;
        check_text(field, s, max)?;
        Ok(Some(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> JournalEntry {
        JournalEntry {
            kind: EntryKind::Accepted,
            unix_nanos: 1_764_000_000_123_456_789,
            message_id: Some("msg-0001".into()),
            sender: Some("hcid:fr:rpps:810000000001".into()),
            recipient: Some("hcid:be:nihii:12345678".into()),
            peer: Some("BE:bridge.example.be".into()),
            payload: Some(PayloadDigest {
                sha256: [7; 32],
                size: 4096,
            }),
            trust_snapshot: Some([9; 32]),
            evidence: None,
            reason: None,
        }
    }

    #[test]
    fn evidence_is_version_2_and_version_1_still_decodes() {
        let v1 = sample().encode().unwrap();
        assert_eq!(v1[0], ENTRY_VERSION_1);
        assert_eq!(JournalEntry::decode(&v1).unwrap().evidence, None);
        let mut e = sample();
        e.evidence = Some(Evidence {
            decision: Decision::ReceiptSeal,
            chain: [5; 32],
        });
        let v2 = e.encode().unwrap();
        assert_eq!((v2[0], v2.len()), (ENTRY_VERSION, v1.len() + 33));
        assert_eq!(JournalEntry::decode(&v2).unwrap(), e);
        assert!(v2.len() <= MAX_ENTRY_LEN);
        // The decision byte sits right before the digest and the 2-byte empty reason.
        let mut bad = v2.clone();
        let at = bad.len() - 2 - 32 - 1;
        bad[at] = 9;
        assert_eq!(
            JournalEntry::decode(&bad),
            Err(EntryError::UnknownDecision(9))
        );
        // A version-1 body labelled version 2 lacks the evidence: refused, never misread.
        let mut relabelled = v1;
        relabelled[0] = ENTRY_VERSION;
        assert!(matches!(
            JournalEntry::decode(&relabelled),
            Err(EntryError::Truncated { .. }) | Err(EntryError::UnknownDecision(_))
        ));
    }

    #[test]
    fn sender_holder_evidence_keeps_the_version_2_layout() {
        // Decision 5 (a Submit's sender bound by a wallet presentation) is a new value in the
        // existing byte: an entry written before it existed encodes and decodes as before.
        let mut old = sample();
        old.evidence = Some(Evidence {
            decision: Decision::WalletIssuer,
            chain: [3; 32],
        });
        let old_bytes = old.encode().unwrap();
        let mut new = old.clone();
        new.evidence = Some(Evidence {
            decision: Decision::SenderHolder,
            chain: [3; 32],
        });
        let new_bytes = new.encode().unwrap();
        assert_eq!(old_bytes.len(), new_bytes.len());
        let at = old_bytes.len() - 2 - 32 - 1;
        assert_eq!((old_bytes[at], new_bytes[at]), (4, 5));
        assert_eq!(JournalEntry::decode(&old_bytes).unwrap(), old);
        assert_eq!(JournalEntry::decode(&new_bytes).unwrap(), new);
    }

    #[test]
    fn round_trip_is_canonical() {
        let e = sample();
        let b = e.encode().unwrap();
        assert_eq!(JournalEntry::decode(&b).unwrap(), e);
        assert_eq!(JournalEntry::decode(&b).unwrap().encode().unwrap(), b);
        assert!(b.len() <= MAX_ENTRY_LEN);
    }

    #[test]
    fn strict_decoding() {
        let mut b = sample().encode().unwrap();
        b.push(0);
        assert_eq!(JournalEntry::decode(&b), Err(EntryError::TrailingBytes(1)));
        b.pop();
        b[0] = 3;
        assert_eq!(
            JournalEntry::decode(&b),
            Err(EntryError::UnsupportedVersion(3))
        );
        b[0] = 1;
        b[1] = 99;
        assert_eq!(JournalEntry::decode(&b), Err(EntryError::UnknownKind(99)));
        b[1] = 1;
        assert!(matches!(
            JournalEntry::decode(&b[..b.len() - 3]),
            Err(EntryError::Truncated { .. })
        ));
    }

    #[test]
    fn limits_and_text_rules() {
        let mut e = sample();
        e.message_id = Some("x".repeat(MAX_MESSAGE_ID_LEN + 1));
        assert_eq!(
            e.encode(),
            Err(EntryError::FieldTooLong {
                field: "message_id",
                len: 257,
                max: 256
            })
        );
        e.message_id = Some(String::new());
        assert_eq!(e.encode(), Err(EntryError::EmptyField("message_id")));
        e.message_id = Some("a\nb".into());
        assert_eq!(e.encode(), Err(EntryError::BadText("message_id")));
        e.message_id = None;
        e.kind = EntryKind::Failed;
        assert_eq!(e.encode(), Err(EntryError::MissingReason));
    }

    #[test]
    fn over_long_length_prefix_is_refused_before_reading() {
        let mut b = vec![ENTRY_VERSION_1, 1];
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(
            JournalEntry::decode(&b),
            Err(EntryError::FieldTooLong {
                field: "message_id",
                len: 65535,
                max: 256
            })
        );
    }

    #[test]
    fn bad_flag() {
        let mut e = sample();
        e.payload = None;
        e.trust_snapshot = None;
        let mut b = e.encode().unwrap();
        let n = b.len();
        // layout tail: payload flag, snapshot flag, reason length (2)
        b[n - 4] = 2;
        assert_eq!(
            JournalEntry::decode(&b),
            Err(EntryError::BadFlag {
                field: "payload",
                value: 2
            })
        );
    }
}
