//! Checkpoints in the C2SP `tlog-checkpoint` format, wrapped in a C2SP `signed-note` and signed
//! with the bridge's Ed25519 journal key.
//!
//! A note is its text (origin line, decimal tree size, standard base64 root hash, each ending in
//! `\n`), a blank line, then one or more signature lines `— <key name> <base64(key id || sig)>`.
//! The Ed25519 signature covers the text exactly, final newline included; the 4-byte key id is
//! the first bytes of SHA-256(name || 0x0A || 0x01 || public key), 0x01 being the signed-note
//! algorithm byte for Ed25519. Verifier keys use the note format `<name>+<hex key id>+<base64(0x01
//! || public key)>`. Parsing is strict: this journal never writes extension lines, so a note that
//! has them is refused rather than half-understood.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::sign::{Signer, Verifier};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::merkle::Hash;

/// Largest note accepted: three short lines plus a few signatures fit in well under 1 KiB; 8 KiB
/// leaves room for co-signatures by witnesses without letting a caller make us buffer more.
pub const MAX_NOTE_LEN: usize = 8 * 1024;

/// Most signature lines read from one note (C2SP signed-note lets verifiers cap this; witnesses
/// rarely exceed a handful).
pub const MAX_SIGNATURES: usize = 16;

/// Longest origin or key name, in bytes (a log origin is a schema-less URL-like name).
pub const MAX_NAME_LEN: usize = 256;

/// signed-note algorithm byte for Ed25519.
const ALG_ED25519: u8 = 0x01;

/// The em dash that starts a signature line (U+2014).
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a key, a checkpoint or a note is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note exceeds [`MAX_NOTE_LEN`].
    #[error("note is {0} bytes, over the limit")]
    TooLong(usize),
    /// signed-note: text and signatures are separated by one blank line, and the note ends in `\n`.
    #[error("note has no blank line before its signatures or does not end in a newline")]
    Framing,
    /// tlog-checkpoint: the body is origin, size and root hash lines; no extension lines are used.
    #[error("checkpoint body has {0} lines, expected 3")]
    BodyLines(usize),
    /// Key names and origins are non-empty, bounded, without spaces, `+` or control characters.
    #[error("bad key name or origin")]
    BadName,
    /// tlog-checkpoint: the size is ASCII decimal without leading zeros.
    #[error("bad tree size line")]
    BadSize,
    /// tlog-checkpoint: the root is the standard base64 of 32 bytes.
    #[error("bad root hash line")]
    BadRoot,
    /// signed-note: a signature line is `— <name> <base64>` with at least a 4-byte key id.
    #[error("bad signature line {0}")]
    BadSignatureLine(usize),
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("too many signatures")]
    TooManySignatures,
    /// No signature line carries the verifier's name and key id.
    #[error("no signature by the journal key")]
    NoMatchingSignature,
    /// The journal key's signature line does not verify over the note text.
    #[error("journal key signature does not verify")]
    BadSignature,
    /// The checkpoint's origin is not the verifier's expected origin.
    #[error("checkpoint origin is not the expected one")]
    WrongOrigin,
    /// A verifier key string is not `<name>+<hex id>+<base64(0x01 || 32 bytes)>` or its id does not
    /// match the key.
    #[error("bad verifier key")]
    BadVerifierKey,
    /// The crypto library refused a key or a signing operation.
    #[error("crypto library error: {0}")]
    Crypto(String),
}

impl From<openssl::error::ErrorStack> for NoteError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        Self::Crypto(e.to_string())
    }
}

/// A tree head: what a checkpoint commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (its name).
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// RFC 9162 root hash over those entries.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: `origin\nsize\nbase64(root)\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    fn parse_body(text: &str) -> Result<Self, NoteError> {
        let lines: Vec<&str> = text
            .strip_suffix('\n')
            .unwrap_or(text)
            .split('\n')
            .collect();
        let [origin, size, root] = lines.as_slice() else {
            return Err(NoteError::BodyLines(lines.len()));
        };
        check_origin(origin)?;
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size.len() == 1 || !size.starts_with('0'));
        let size: u64 = if size_ok {
            size.parse().map_err(|_| NoteError::BadSize)?
        } else {
            return Err(NoteError::BadSize);
        };
        let raw = B64.decode(root).map_err(|_| NoteError::BadRoot)?;
        let root: Hash = raw.try_into().map_err(|_| NoteError::BadRoot)?;
        Ok(Self {
            origin: (*origin).to_owned(),
            size,
            root,
        })
    }
}

fn check_origin(s: &str) -> Result<(), NoteError> {
    if s.is_empty() || s.len() > MAX_NAME_LEN || s.chars().any(char::is_control) {
        return Err(NoteError::BadName);
    }
    Ok(())
}

fn check_key_name(s: &str) -> Result<(), NoteError> {
    check_origin(s)?;
    if s.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(NoteError::BadName);
    }
    Ok(())
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The public half of the journal key, as a signed-note verifier.
#[derive(Clone)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    public: [u8; 32],
    key: PKey<Public>,
}

impl std::fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteVerifier")
            .field("vkey", &self.to_vkey())
            .finish()
    }
}

impl PartialEq for NoteVerifier {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.public == other.public
    }
}

impl NoteVerifier {
    /// A verifier for key `name` with the raw Ed25519 public key.
    ///
    /// # Errors
    /// [`NoteError::BadName`] or [`NoteError::Crypto`].
    pub fn new(name: &str, public: [u8; 32]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        let key = PKey::public_key_from_raw_bytes(&public, Id::ED25519)?;
        Ok(Self {
            name: name.to_owned(),
            id: key_id(name, &public),
            public,
            key,
        })
    }

    /// Parses a verifier key string `<name>+<hex id>+<base64(0x01 || key)>`.
    ///
    /// # Errors
    /// [`NoteError::BadVerifierKey`] or [`NoteError::BadName`].
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        // The base64 key may itself contain '+': split off name and id only.
        let mut parts = vkey.trim_end_matches('\n').splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadVerifierKey);
        };
        let raw = B64.decode(key).map_err(|_| NoteError::BadVerifierKey)?;
        let Some((&ALG_ED25519, public)) = raw.split_first() else {
            return Err(NoteError::BadVerifierKey);
        };
        let public: [u8; 32] = public.try_into().map_err(|_| NoteError::BadVerifierKey)?;
        let v = Self::new(name, public)?;
        if id.len() != 8 || hex::decode(id).ok().as_deref() != Some(&v.id[..]) {
            return Err(NoteError::BadVerifierKey);
        }
        Ok(v)
    }

    /// The verifier key string.
    pub fn to_vkey(&self) -> String {
        let mut k = vec![ALG_ED25519];
        k.extend_from_slice(&self.public);
        format!("{}+{}+{}", self.name, hex::encode(self.id), B64.encode(k))
    }

    /// The key name (also the journal's origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Verifies a signed checkpoint note and returns its content. The origin must equal the key
    /// name: one journal, one key, one origin.
    ///
    /// # Errors
    /// Any [`NoteError`] describing the first rule broken.
    pub fn verify_checkpoint(&self, note: &str) -> Result<Checkpoint, NoteError> {
        if note.len() > MAX_NOTE_LEN {
            return Err(NoteError::TooLong(note.len()));
        }
        let Some(split) = note.find("\n\n") else {
            return Err(NoteError::Framing);
        };
        let (text, sigs) = (&note[..=split], &note[split + 2..]);
        if !sigs.ends_with('\n') || sigs.len() < 2 {
            return Err(NoteError::Framing);
        }
        let cp = Checkpoint::parse_body(text)?;
        let mut found = None;
        for (i, line) in sigs[..sigs.len() - 1].split('\n').enumerate() {
            if i >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or(NoteError::BadSignatureLine(i))?;
            let (name, b64) = rest.split_once(' ').ok_or(NoteError::BadSignatureLine(i))?;
            check_key_name(name).map_err(|_| NoteError::BadSignatureLine(i))?;
            let raw = B64
                .decode(b64)
                .map_err(|_| NoteError::BadSignatureLine(i))?;
            if raw.len() < 5 {
                return Err(NoteError::BadSignatureLine(i));
            }
            if name == self.name && raw[..4] == self.id {
                found = Some(raw);
            }
        }
        let raw = found.ok_or(NoteError::NoMatchingSignature)?;
        let mut v = Verifier::new_without_digest(&self.key)?;
        if !v
            .verify_oneshot(&raw[4..], text.as_bytes())
            .unwrap_or(false)
        {
            return Err(NoteError::BadSignature);
        }
        if cp.origin != self.name {
            return Err(NoteError::WrongOrigin);
        }
        Ok(cp)
    }
}

/// The journal's Ed25519 signing key. Its name is the journal origin.
pub struct JournalKey {
    key: PKey<Private>,
    verifier: NoteVerifier,
}

impl std::fmt::Debug for JournalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalKey")
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

impl JournalKey {
    /// Generates a fresh key named `name`.
    ///
    /// # Errors
    /// [`NoteError::BadName`] or [`NoteError::Crypto`].
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        Self::from_pkey(name, PKey::generate_ed25519()?)
    }

    /// Loads a PKCS#8 PEM private key.
    ///
    /// # Errors
    /// [`NoteError::Crypto`] if the PEM is not an Ed25519 key, or [`NoteError::BadName`].
    pub fn from_pkcs8_pem(name: &str, pem: &[u8]) -> Result<Self, NoteError> {
        let key = PKey::private_key_from_pem(pem)?;
        if key.id() != Id::ED25519 {
            return Err(NoteError::Crypto("journal key is not Ed25519".into()));
        }
        Self::from_pkey(name, key)
    }

    fn from_pkey(name: &str, key: PKey<Private>) -> Result<Self, NoteError> {
        let raw = key.raw_public_key()?;
        let public: [u8; 32] = raw
            .try_into()
            .map_err(|_| NoteError::Crypto("Ed25519 key is not 32 bytes".into()))?;
        Ok(Self {
            key,
            verifier: NoteVerifier::new(name, public)?,
        })
    }

    /// The private key as PKCS#8 PEM, for the key file.
    ///
    /// # Errors
    /// [`NoteError::Crypto`].
    pub fn to_pkcs8_pem(&self) -> Result<Vec<u8>, NoteError> {
        Ok(self.key.private_key_to_pem_pkcs8()?)
    }

    /// The matching verifier.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// Signs a tree head as a note: `size` entries with root `root`, origin = key name.
    ///
    /// # Errors
    /// [`NoteError::Crypto`].
    pub fn sign(&self, size: u64, root: Hash) -> Result<String, NoteError> {
        let cp = Checkpoint {
            origin: self.verifier.name.clone(),
            size,
            root,
        };
        let body = cp.body();
        let mut s = Signer::new_without_digest(&self.key)?;
        let sig = s.sign_oneshot_to_vec(body.as_bytes())?;
        let mut raw = self.verifier.id.to_vec();
        raw.extend_from_slice(&sig);
        Ok(format!(
            "{body}\n{SIG_PREFIX}{} {}\n",
            self.verifier.name,
            B64.encode(raw)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip() {
        let k = JournalKey::generate("bridge.example.fr/journal").unwrap();
        let note = k.sign(42, [3; 32]).unwrap();
        let cp = k.verifier().verify_checkpoint(&note).unwrap();
        assert_eq!(
            cp,
            Checkpoint {
                origin: "bridge.example.fr/journal".into(),
                size: 42,
                root: [3; 32]
            }
        );
        let v = NoteVerifier::parse(&k.verifier().to_vkey()).unwrap();
        assert_eq!(&v, k.verifier());
        assert_eq!(v.verify_checkpoint(&note).unwrap().size, 42);
        let pem = k.to_pkcs8_pem().unwrap();
        let k2 = JournalKey::from_pkcs8_pem("bridge.example.fr/journal", &pem).unwrap();
        assert_eq!(k2.verifier(), k.verifier());
    }

    #[test]
    fn tampered_notes_are_refused() {
        let k = JournalKey::generate("j").unwrap();
        let note = k.sign(42, [3; 32]).unwrap();
        let v = k.verifier();
        assert_eq!(
            v.verify_checkpoint(&note.replacen("42", "43", 1)),
            Err(NoteError::BadSignature)
        );
        assert_eq!(
            v.verify_checkpoint(&note.replacen("42", "042", 1)),
            Err(NoteError::BadSize)
        );
        assert_eq!(
            v.verify_checkpoint(&note.replacen("\n\n", "\n", 1)),
            Err(NoteError::Framing)
        );
        assert_eq!(
            v.verify_checkpoint(&note.replacen("\n\n", "\next\n\n", 1)),
            Err(NoteError::BodyLines(4))
        );
        let other = JournalKey::generate("j").unwrap();
        assert_eq!(
            other.verifier().verify_checkpoint(&note),
            Err(NoteError::NoMatchingSignature)
        );
        assert_eq!(
            v.verify_checkpoint(&note.replace('\u{2014}', "-")),
            Err(NoteError::BadSignatureLine(0))
        );
        let big = "x".repeat(MAX_NOTE_LEN + 1);
        assert_eq!(
            v.verify_checkpoint(&big),
            Err(NoteError::TooLong(MAX_NOTE_LEN + 1))
        );
    }

    #[test]
    fn cosignatures_are_ignored_but_ours_is_required() {
        let k = JournalKey::generate("j").unwrap();
        let note = k.sign(5, [1; 32]).unwrap();
        let witness = "\u{2014} witness.example AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";
        let cosigned = format!("{note}{witness}");
        assert_eq!(k.verifier().verify_checkpoint(&cosigned).unwrap().size, 5);
        // Only the witness line left: nothing by the journal key.
        let split = note.find("\n\n").unwrap();
        let alone = format!("{}\n{witness}", &note[..=split]);
        assert_eq!(
            k.verifier().verify_checkpoint(&alone),
            Err(NoteError::NoMatchingSignature)
        );
    }

    #[test]
    fn verifier_key_strings_are_checked() {
        let k = JournalKey::generate("j").unwrap();
        let vkey = k.verifier().to_vkey();
        let bad_id = format!("j+00000000+{}", vkey.splitn(3, '+').nth(2).unwrap());
        assert_eq!(
            NoteVerifier::parse(&bad_id).map(|_| ()),
            Err(NoteError::BadVerifierKey)
        );
        assert_eq!(
            NoteVerifier::parse("j+1").map(|_| ()),
            Err(NoteError::BadVerifierKey)
        );
        assert_eq!(
            JournalKey::generate("a b").map(|_| ()).unwrap_err(),
            NoteError::BadName
        );
    }
}
