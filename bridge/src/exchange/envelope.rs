//! The operator's envelope as a validated domain value: a bounded message id, two addresses with
//! their spaces, and a payload whose SHA-256 has been checked. The payload is opaque: it is never
//! parsed, logged or journaled.

use sha2::{Digest, Sha256};

use super::EnvelopeErrorKind;
use crate::addressing::{Space, MAX_INPUT_LEN};
use crate::identity::{MdocSession, PresentationFormat};

/// Longest message id: the journal's bound for the field (`journal::entry`, 256 bytes), so every
/// accepted id can be journaled.
pub const MAX_MESSAGE_ID_LEN: usize = 256;

/// Default payload bound: 3 MiB, under tonic's 4 MiB default message limit once the envelope's
/// other fields and protobuf framing are added, so a too-large payload gets this clear error
/// rather than a transport one.
pub const DEFAULT_MAX_PAYLOAD: u64 = 3 * 1024 * 1024;

/// Longest presentation nonce accepted: the bridge's own nonces are 22 characters
/// ([`crate::identity::NONCE_BYTES`] in base64url); 256 leaves room without letting a caller
/// make the challenge lookup hash large strings.
pub const MAX_NONCE_LEN: usize = 256;

/// Longest mdoc session value (`response_uri` or origin): the audience bound of
/// `IdentityService` doubled, since a response URI is the verifier's URL plus a path.
pub const MAX_SESSION_LEN: usize = 1024;

/// The wallet presentation of the person who sends, and the nonce of the challenge it answers.
#[derive(Clone, PartialEq, Eq)]
pub struct SenderPresentation {
    /// The presentation as sent.
    pub presentation: Vec<u8>,
    /// The nonce the bridge issued with `CreateChallenge`.
    pub nonce: String,
    /// Its format.
    pub format: PresentationFormat,
    /// For mdoc: the session it answers (always `Some` then, `None` for SD-JWT).
    pub session: Option<MdocSession>,
}

impl std::fmt::Debug for SenderPresentation {
    // The presentation carries personal data: only its size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderPresentation")
            .field("size", &self.presentation.len())
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl SenderPresentation {
    /// The presentation of an envelope from its two wire fields: `None` when both are empty.
    ///
    /// # Errors
    /// [`EnvelopeErrorKind::Presentation`] when only one is given or either breaks its bound.
    pub fn from_fields(
        presentation: Vec<u8>,
        nonce: String,
    ) -> Result<Option<SenderPresentation>, EnvelopeErrorKind> {
        match (presentation.is_empty(), nonce.is_empty()) {
            (true, true) => return Ok(None),
            (true, false) => {
                return Err(EnvelopeErrorKind::Presentation {
                    field: "sender_presentation",
                })
            }
            (false, true) => {
                return Err(EnvelopeErrorKind::Presentation {
                    field: "presentation_nonce",
                })
            }
            (false, false) => {}
        }
        if presentation.len() > crate::identity::MAX_PRESENTATION_BYTES {
            return Err(EnvelopeErrorKind::Presentation {
                field: "sender_presentation",
            });
        }
        if nonce.len() > MAX_NONCE_LEN || !nonce.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(EnvelopeErrorKind::Presentation {
                field: "presentation_nonce",
            });
        }
        Ok(Some(SenderPresentation {
            presentation,
            nonce,
            format: PresentationFormat::SdJwt,
            session: None,
        }))
    }

    /// Sets the format; an mdoc presentation needs exactly one session value (`response_uri` or
    /// `origin`, each within [`MAX_SESSION_LEN`] printable characters), an SD-JWT none. Checked
    /// here, before the nonce is spent on a presentation that cannot be verified.
    ///
    /// # Errors
    /// [`EnvelopeErrorKind::Presentation`] naming the session field at fault.
    pub fn with_format(
        mut self,
        format: PresentationFormat,
        response_uri: String,
        origin: String,
    ) -> Result<SenderPresentation, EnvelopeErrorKind> {
        let bad = |field| EnvelopeErrorKind::Presentation { field };
        let ok = |v: &str| v.len() <= MAX_SESSION_LEN && !v.chars().any(char::is_control);
        self.session = match (format, response_uri.is_empty(), origin.is_empty()) {
            (PresentationFormat::SdJwt, true, true) => None,
            (PresentationFormat::SdJwt, false, _) => return Err(bad("presentation_response_uri")),
            (PresentationFormat::SdJwt, _, false) => return Err(bad("presentation_origin")),
            (PresentationFormat::Mdoc, false, true) if ok(&response_uri) => {
                Some(MdocSession::Redirect { response_uri })
            }
            (PresentationFormat::Mdoc, true, false) if ok(&origin) => {
                Some(MdocSession::DcApi { origin })
            }
            (PresentationFormat::Mdoc, _, true) => return Err(bad("presentation_response_uri")),
            (PresentationFormat::Mdoc, _, false) => return Err(bad("presentation_origin")),
        };
        self.format = format;
        Ok(self)
    }
}

/// An address in a national space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The space.
    pub space: Space,
    /// The address as written in that space.
    pub value: String,
}

impl Address {
    /// Validates the space name and bounds the value.
    ///
    /// # Errors
    /// [`EnvelopeErrorKind::Space`] or [`EnvelopeErrorKind::Address`].
    pub fn new(field: &'static str, space: &str, value: String) -> Result<Self, EnvelopeErrorKind> {
        let space = Space::parse(space).map_err(|_| EnvelopeErrorKind::Space { field })?;
        if value.is_empty() || value.len() > MAX_INPUT_LEN {
            return Err(EnvelopeErrorKind::Address { field });
        }
        Ok(Address { space, value })
    }
}

/// A validated envelope.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Caller-chosen idempotency key.
    pub message_id: String,
    /// Sender, in the sender's space.
    pub sender: Address,
    /// Recipient, in the sender's space (or canonical).
    pub recipient: Address,
    /// Opaque payload.
    pub payload: Vec<u8>,
    /// Its SHA-256, checked.
    pub payload_sha256: [u8; 32],
    /// The sender's wallet presentation, when one is given.
    pub presentation: Option<SenderPresentation>,
}

impl std::fmt::Debug for Envelope {
    // The payload is health data: never formatted, only its size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("message_id", &self.message_id)
            .field("payload_size", &self.payload.len())
            .field("presentation", &self.presentation)
            .finish_non_exhaustive()
    }
}

/// Checks a message id: 1..=[`MAX_MESSAGE_ID_LEN`] bytes of printable ASCII (0x21..=0x7E).
///
/// # Errors
/// [`EnvelopeErrorKind::MessageId`].
pub fn check_message_id(id: &str) -> Result<(), EnvelopeErrorKind> {
    if id.is_empty() || id.len() > MAX_MESSAGE_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(EnvelopeErrorKind::MessageId {
            max: MAX_MESSAGE_ID_LEN,
        });
    }
    Ok(())
}

impl Envelope {
    /// Validates every field; the payload bound is `max_payload` bytes.
    ///
    /// # Errors
    /// See [`EnvelopeErrorKind`].
    pub fn new(
        message_id: String,
        sender: Address,
        recipient: Address,
        payload: Vec<u8>,
        payload_sha256: &[u8],
        max_payload: u64,
    ) -> Result<Envelope, EnvelopeErrorKind> {
        check_message_id(&message_id)?;
        let size = payload.len() as u64;
        if size > max_payload {
            return Err(EnvelopeErrorKind::PayloadTooLarge {
                size,
                limit: max_payload,
            });
        }
        let digest: [u8; 32] = payload_sha256
            .try_into()
            .map_err(|_| EnvelopeErrorKind::DigestLength(payload_sha256.len()))?;
        if <[u8; 32]>::from(Sha256::digest(&payload)) != digest {
            return Err(EnvelopeErrorKind::DigestMismatch);
        }
        Ok(Envelope {
            message_id,
            sender,
            recipient,
            payload,
            payload_sha256: digest,
            presentation: None,
        })
    }

    /// Attaches the sender's wallet presentation (see [`SenderPresentation::from_fields`]).
    pub fn with_presentation(mut self, presentation: Option<SenderPresentation>) -> Envelope {
        self.presentation = presentation;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(v: &str) -> Address {
        Address::new("sender", "canonical", v.into()).unwrap()
    }

    #[test]
    fn checks_every_field() {
        let p = b"payload".to_vec();
        let d = Sha256::digest(&p).to_vec();
        let ok = |id: &str, d: &[u8], max| {
            Envelope::new(id.into(), addr("a"), addr("b"), p.clone(), d, max)
        };
        assert!(ok("m-1", &d, 100).is_ok());
        assert_eq!(
            ok("", &d, 100).unwrap_err(),
            EnvelopeErrorKind::MessageId { max: 256 }
        );
        assert_eq!(
            ok("a b", &d, 100).unwrap_err(),
            EnvelopeErrorKind::MessageId { max: 256 }
        );
        assert_eq!(
            ok(&"x".repeat(257), &d, 100).unwrap_err(),
            EnvelopeErrorKind::MessageId { max: 256 }
        );
        assert_eq!(
            ok("m", &d, 3).unwrap_err(),
            EnvelopeErrorKind::PayloadTooLarge { size: 7, limit: 3 }
        );
        assert_eq!(
            ok("m", &d[..31], 100).unwrap_err(),
            EnvelopeErrorKind::DigestLength(31)
        );
        assert_eq!(
            ok("m", &[0; 32], 100).unwrap_err(),
            EnvelopeErrorKind::DigestMismatch
        );
        assert_eq!(
            Address::new("recipient", "smtp", "x".into()).unwrap_err(),
            EnvelopeErrorKind::Space { field: "recipient" }
        );
        assert_eq!(
            Address::new("recipient", "mssante", String::new()).unwrap_err(),
            EnvelopeErrorKind::Address { field: "recipient" }
        );
    }

    #[test]
    fn presentation_and_nonce_go_together_within_bounds() {
        assert_eq!(
            SenderPresentation::from_fields(Vec::new(), String::new()),
            Ok(None)
        );
        let p = SenderPresentation::from_fields(b"ey.x~".to_vec(), "n-1".into())
            .unwrap()
            .unwrap();
        assert_eq!(
            (p.presentation.as_slice(), p.nonce.as_str()),
            (&b"ey.x~"[..], "n-1")
        );
        let err = |p: Vec<u8>, n: &str| SenderPresentation::from_fields(p, n.into()).unwrap_err();
        assert_eq!(
            err(Vec::new(), "n"),
            EnvelopeErrorKind::Presentation {
                field: "sender_presentation"
            }
        );
        assert_eq!(
            err(b"x".to_vec(), ""),
            EnvelopeErrorKind::Presentation {
                field: "presentation_nonce"
            }
        );
        assert_eq!(
            err(b"x".to_vec(), "a b"),
            EnvelopeErrorKind::Presentation {
                field: "presentation_nonce"
            }
        );
        assert_eq!(
            err(b"x".to_vec(), &"n".repeat(MAX_NONCE_LEN + 1)),
            EnvelopeErrorKind::Presentation {
                field: "presentation_nonce"
            }
        );
        assert_eq!(
            err(vec![b'x'; crate::identity::MAX_PRESENTATION_BYTES + 1], "n"),
            EnvelopeErrorKind::Presentation {
                field: "sender_presentation"
            }
        );
    }

    #[test]
    fn an_mdoc_needs_exactly_one_session_value() {
        let p = SenderPresentation::from_fields(vec![0xa1], "n".into())
            .unwrap()
            .unwrap();
        let with = |f, r: &str, o: &str| p.clone().with_format(f, r.into(), o.into());
        let mdoc = with(PresentationFormat::Mdoc, "", "https://rp.example").unwrap();
        assert_eq!(mdoc.format, PresentationFormat::Mdoc);
        assert_eq!(
            mdoc.session,
            Some(MdocSession::DcApi {
                origin: "https://rp.example".into()
            })
        );
        assert!(matches!(
            with(PresentationFormat::Mdoc, "https://rp.example/cb", "")
                .unwrap()
                .session,
            Some(MdocSession::Redirect { .. })
        ));
        let field = |r: Result<SenderPresentation, EnvelopeErrorKind>| match r.unwrap_err() {
            EnvelopeErrorKind::Presentation { field } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(with(PresentationFormat::Mdoc, "", "")),
            "presentation_response_uri"
        );
        assert_eq!(
            field(with(PresentationFormat::Mdoc, "a", "b")),
            "presentation_origin"
        );
        assert_eq!(
            field(with(
                PresentationFormat::Mdoc,
                &"u".repeat(MAX_SESSION_LEN + 1),
                ""
            )),
            "presentation_response_uri"
        );
        assert_eq!(
            field(with(PresentationFormat::SdJwt, "", "o")),
            "presentation_origin"
        );
        assert_eq!(
            with(PresentationFormat::SdJwt, "", "").unwrap().session,
            None
        );
    }
}
