//! Error enums of the identity stages: one per stage (SD-JWT processing, key binding, status
//! list, mdoc), composed into [`IdentityError`]. Each variant names the clause it enforces, so a
//! test can assert exactly why a presentation was refused.

use super::jose::JoseErrorKind;
use super::trust::TrustErrorKind;

/// Errors of SD-JWT / SD-JWT VC processing (RFC 9901 section 7.1, SD-JWT VC draft section 3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdJwtErrorKind {
    /// The presentation exceeds [`super::MAX_PRESENTATION_BYTES`].
    #[error("presentation of {len} bytes exceeds {max}")]
    TooLarge {
        /// Received size.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Neither `<JWT>~<D>~...~<KB>` (RFC 9901 section 4) nor a JWS JSON object (section 8).
    #[error("malformed SD-JWT serialization")]
    MalformedSerialization,
    /// The issuer-signed JWT is malformed or uses a refused algorithm (RFC 9901 section 7.1 step 2).
    #[error("issuer JWT: {0}")]
    IssuerJws(JoseErrorKind),
    /// The issuer key could not be established or the certificate chain is not trusted
    /// (SD-JWT VC "Issuer Verification Key Discovery").
    #[error("issuer trust: {0}")]
    IssuerTrust(TrustErrorKind),
    /// The JOSE `typ` is not accepted (SD-JWT VC section 3.2.1: `dc+sd-jwt`).
    #[error("unexpected typ {got:?}")]
    UnexpectedTyp {
        /// The received `typ`, if any.
        got: Option<String>,
    },
    /// `iss` differs from the expected issuer (RFC 7519 section 4.1.1).
    #[error("unexpected iss")]
    UnexpectedIssuer,
    /// `vct` missing or not accepted by policy (SD-JWT VC section 3.2.2.1).
    #[error("unexpected vct")]
    UnexpectedVct,
    /// `_sd_alg` names an algorithm the policy does not accept (RFC 9901 section 7.1 step 3.1, 4.1.1).
    #[error("_sd_alg {alg} not accepted")]
    SdAlgNotAccepted {
        /// The `_sd_alg` value.
        alg: String,
    },
    /// `_sd_alg` below the top level (RFC 9901 section 4.1.1).
    #[error("_sd_alg below the top level")]
    NestedSdAlg,
    /// `_sd` is not an array of strings, or `...` is not a string (RFC 9901 sections 4.2.4.1, 4.2.4.2).
    #[error("_sd or ... malformed")]
    SdNotArray,
    /// More disclosures than [`super::disclosure::MAX_DISCLOSURES`].
    #[error("{count} disclosures exceed {max}")]
    TooManyDisclosures {
        /// Received count.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// Payload nesting deeper than [`super::disclosure::MAX_DEPTH`].
    #[error("payload nesting exceeds {max}")]
    TooDeep {
        /// Limit.
        max: usize,
    },
    /// A disclosure is not base64url JSON of 2 or 3 elements with a string salt (RFC 9901 section 4.2).
    #[error("disclosure {index} malformed")]
    DisclosureMalformed {
        /// Position in the presentation.
        index: usize,
    },
    /// A disclosure names `_sd` or `...` (RFC 9901 section 7.1 step 4.3.3).
    #[error("reserved claim name {name} in a disclosure")]
    ReservedClaimName {
        /// The reserved name.
        name: String,
    },
    /// An array-element disclosure is referenced from an `_sd` array (RFC 9901 section 7.1 step 4.3.2).
    #[error("array element disclosure referenced from an object")]
    ArrayDisclosureInObject,
    /// An object-property disclosure is referenced from an array element (RFC 9901 section 7.1 step 4.4.2).
    #[error("object property disclosure referenced from an array")]
    ObjectDisclosureInArray,
    /// The same disclosure was sent twice (RFC 9901 section 7.1 step 5).
    #[error("disclosure {index} sent twice")]
    DuplicateDisclosure {
        /// Position of the second copy.
        index: usize,
    },
    /// A digest appears more than once in the payload and disclosures (RFC 9901 section 7.1 step 4).
    #[error("digest used more than once")]
    DuplicateDigest,
    /// A disclosure is not referenced by any digest (RFC 9901 section 7.1 step 5).
    #[error("{count} disclosures not referenced")]
    UnreferencedDisclosure {
        /// How many.
        count: usize,
    },
    /// A disclosed claim name already exists at its level (RFC 9901 section 7.1 step 4.3.3).
    #[error("claim {name} disclosed over an existing claim")]
    ClaimNameCollision {
        /// The colliding name.
        name: String,
    },
    /// A registered time claim is not a number (RFC 7519 section 4.1.4-6).
    #[error("claim {name} is not a NumericDate")]
    TimeClaimMalformed {
        /// The claim.
        name: &'static str,
    },
    /// `exp` has passed (RFC 9901 section 7.1 step 6; RFC 7519 section 4.1.4).
    #[error("expired at {exp}, now {now}")]
    Expired {
        /// `exp`.
        exp: i64,
        /// Verification time.
        now: i64,
    },
    /// `nbf` lies in the future (RFC 7519 section 4.1.5).
    #[error("not valid before {nbf}, now {now}")]
    NotYetValid {
        /// `nbf`.
        nbf: i64,
        /// Verification time.
        now: i64,
    },
    /// `iat` lies in the future beyond the skew (RFC 7519 section 4.1.6, sanity check).
    #[error("issued in the future at {iat}, now {now}")]
    IssuedInFuture {
        /// `iat`.
        iat: i64,
        /// Verification time.
        now: i64,
    },
}

/// Errors of Key Binding JWT verification (RFC 9901 section 7.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyBindingErrorKind {
    /// Policy requires key binding and no KB-JWT was presented (section 7.3 step 1).
    #[error("key binding JWT missing")]
    Missing,
    /// The KB-JWT is malformed or uses a refused algorithm (section 4.3).
    #[error("KB-JWT: {0}")]
    Jws(JoseErrorKind),
    /// `typ` is not `kb+jwt` (section 4.3 and 7.3 step 5.2).
    #[error("KB-JWT typ {got:?} is not kb+jwt")]
    WrongTyp {
        /// The received `typ`.
        got: Option<String>,
    },
    /// The credential carries no usable `cnf.jwk` (section 7.3 step 5.1; RFC 7800).
    #[error("no holder key in cnf")]
    NoHolderKey,
    /// The KB-JWT signature does not verify with `cnf.jwk` (section 7.3 step 5.3).
    #[error("KB-JWT signature invalid")]
    SignatureInvalid,
    /// `iat` missing or not a number (section 4.3).
    #[error("KB-JWT iat missing")]
    IatMissing,
    /// `iat` outside the acceptance window (section 7.3 step 5.4).
    #[error("KB-JWT iat {iat} outside the window at {now}")]
    IatOutsideWindow {
        /// `iat`.
        iat: i64,
        /// Verification time.
        now: i64,
    },
    /// `nonce` differs from the challenge (section 7.3 step 5.5).
    #[error("KB-JWT nonce mismatch")]
    NonceMismatch,
    /// `aud` differs from the verifier (section 7.3 step 5.5).
    #[error("KB-JWT aud mismatch")]
    AudienceMismatch,
    /// `sd_hash` missing (section 4.3).
    #[error("KB-JWT sd_hash missing")]
    SdHashMissing,
    /// `sd_hash` does not match the presentation (section 7.3 step 5.6).
    #[error("KB-JWT sd_hash mismatch")]
    SdHashMismatch,
}

/// Errors of the Token Status List check (draft-ietf-oauth-status-list).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusErrorKind {
    /// `status.status_list` lacks `idx` or `uri` (section 6.2).
    #[error("status reference malformed")]
    ReferenceMalformed,
    /// No Status List Token is available for the referenced uri (section 8.1).
    #[error("status list token unavailable")]
    Unavailable,
    /// The Status List Token is malformed or uses a refused algorithm (section 5.1).
    #[error("status list token: {0}")]
    TokenJws(JoseErrorKind),
    /// The Status List Token signer is not trusted (section 8.3 step 3).
    #[error("status list token trust: {0}")]
    TokenTrust(TrustErrorKind),
    /// `typ` is not `statuslist+jwt` (section 5.1).
    #[error("status list token typ {got:?}")]
    WrongTyp {
        /// The received `typ`.
        got: Option<String>,
    },
    /// `sub` differs from the referenced uri (section 5.1, 8.3 step 4).
    #[error("status list token sub does not equal the uri")]
    SubjectMismatch,
    /// The token has expired (section 5.1 `exp`, 8.3 step 5).
    #[error("status list token expired at {exp}, now {now}")]
    Expired {
        /// `exp`.
        exp: i64,
        /// Verification time.
        now: i64,
    },
    /// `status_list` is not `{bits, lst}` with bits 1, 2, 4 or 8 and base64url zlib data (section 4.1-4.2).
    #[error("status list malformed")]
    ListMalformed,
    /// The decompressed list exceeds [`super::status::MAX_STATUS_LIST_BYTES`].
    #[error("status list exceeds {max} bytes")]
    ListTooLarge {
        /// Limit.
        max: usize,
    },
    /// `idx` lies outside the list (section 8.3 step 7).
    #[error("status index {idx} out of range")]
    IndexOutOfRange {
        /// The index.
        idx: u64,
    },
    /// The referenced status is not VALID (0) (section 7.1).
    #[error("status is {status}, not VALID")]
    NotValid {
        /// The status value (1 INVALID, 2 SUSPENDED, ...).
        status: u8,
    },
}

/// Errors of ISO/IEC 18013-5 mdoc verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MdocErrorKind {
    /// Input larger than [`super::mdoc::MAX_DEVICE_RESPONSE_BYTES`].
    #[error("device response of {len} bytes exceeds {max}")]
    TooLarge {
        /// Received size.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Not well-formed CBOR, or CBOR nested too deeply.
    #[error("CBOR malformed")]
    Cbor,
    /// A structure misses a field or has the wrong type (8.3.2.1.2.2 DeviceResponse CDDL).
    #[error("{structure} malformed")]
    Structure {
        /// Which structure.
        structure: &'static str,
    },
    /// DeviceResponse `status` is not 0 (8.3.2.1.2.3).
    #[error("device response status {status}")]
    ResponseStatus {
        /// The status code.
        status: i64,
    },
    /// No document in the response.
    #[error("no documents")]
    NoDocuments,
    /// COSE algorithm not on the allow-list (9.1.2.4; RFC 9053).
    #[error("COSE algorithm {alg} not allowed")]
    AlgNotAllowed {
        /// COSE alg identifier.
        alg: i64,
    },
    /// The IssuerAuth certificate chain is not trusted (9.1.2.4, 9.3.3).
    #[error("issuer trust: {0}")]
    IssuerTrust(TrustErrorKind),
    /// The IssuerAuth signature does not verify (9.1.2.4).
    #[error("issuer signature: {0}")]
    IssuerSignature(JoseErrorKind),
    /// MSO docType differs from the document docType (9.3.1 step 6).
    #[error("MSO docType differs from document docType")]
    DocTypeMismatch,
    /// The docType is not the one requested.
    #[error("unexpected docType")]
    UnexpectedDocType,
    /// The MSO digest algorithm is not SHA-256/384/512 (9.1.2.5).
    #[error("unsupported digest algorithm")]
    DigestAlgorithm,
    /// An IssuerSignedItem digest is absent from or differs from the MSO (9.3.1 step 5).
    #[error("digest mismatch in a namespace element")]
    DigestMismatch,
    /// validityInfo does not cover the verification time (9.3.1 step 7).
    #[error("MSO not valid at the verification time")]
    NotValidAtTime,
    /// DeviceAuth verification failed (9.1.3.6 signature, 9.1.3.5 MAC).
    #[error("device authentication failed")]
    DeviceAuthFailed,
    /// The device key in the MSO is not a usable COSE_Key (9.1.2.4 DeviceKeyInfo).
    #[error("device key invalid")]
    DeviceKey,
    /// DeviceMac requires the reader's ephemeral private key, which was not supplied.
    #[error("reader ephemeral key required for DeviceMac")]
    ReaderKeyMissing,
}

/// Any failure of wallet presentation verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// SD-JWT processing.
    #[error(transparent)]
    SdJwt(#[from] SdJwtErrorKind),
    /// Key binding.
    #[error(transparent)]
    KeyBinding(#[from] KeyBindingErrorKind),
    /// Token Status List.
    #[error(transparent)]
    Status(#[from] StatusErrorKind),
    /// mdoc.
    #[error(transparent)]
    Mdoc(#[from] MdocErrorKind),
}

impl IdentityError {
    /// A stable machine-readable code for the error (used in CLI JSON and gRPC ErrorInfo).
    pub fn code(&self) -> String {
        let (stage, dbg) = match self {
            IdentityError::SdJwt(e) => ("sd_jwt", format!("{e:?}")),
            IdentityError::KeyBinding(e) => ("key_binding", format!("{e:?}")),
            IdentityError::Status(e) => ("status", format!("{e:?}")),
            IdentityError::Mdoc(e) => ("mdoc", format!("{e:?}")),
        };
        let head: String = dbg.chars().take_while(|c| c.is_alphanumeric()).collect();
        format!("{stage}.{head}")
    }
}
