//! Error types, one enum per stage (XML intake, list structure, signature), composed into
//! the crate-level [`Error`]. Each variant names the clause it enforces.

/// Failures while turning bytes into an XML tree (DESIGN.md "Bad input": size, depth and
/// entity expansion are bounded, DTDs are refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlErrorKind {
    /// The document is larger than [`crate::MAX_LIST_BYTES`].
    #[error("document of {got} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        got: usize,
        /// The limit that applied.
        limit: usize,
    },
    /// The document is not UTF-8 (TS 119 612 clause 6.1 mandates UTF-8).
    #[error("document is not valid UTF-8 (at byte {valid_up_to})")]
    NotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// A DOCTYPE or entity declaration is present: refused outright (XML bomb and XXE
    /// defence; trusted lists never carry a DTD, TS 119 612 clause 6.1 and its XSD).
    #[error("DOCTYPE or entity declarations are refused")]
    DoctypeRefused,
    /// Element nesting deeper than [`crate::MAX_XML_DEPTH`].
    #[error("element nesting deeper than {limit}")]
    TooDeep {
        /// The limit that applied.
        limit: usize,
    },
    /// More nodes than [`crate::MAX_XML_NODES`].
    #[error("more than {limit} XML nodes")]
    TooManyNodes {
        /// The limit that applied.
        limit: u32,
    },
    /// The document is not well-formed XML 1.0 (with namespaces).
    #[error("not well-formed XML at line {line}, column {column}")]
    Malformed {
        /// 1-based line of the error.
        line: u32,
        /// 1-based column of the error.
        column: u32,
    },
}

/// Failures of the TS 119 612 structure (clause 5 and annex C/XSD).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The root element is not `TrustServiceStatusList` in the `http://uri.etsi.org/02231/v2#`
    /// namespace (TS 119 612 clause 5, XSD).
    #[error("root element is not tsl:TrustServiceStatusList")]
    WrongRoot,
    /// A mandatory element is missing (TS 119 612 clause 5.3 / 5.5 / 5.6).
    #[error("missing mandatory element {element}")]
    MissingElement {
        /// Local name of the missing element.
        element: &'static str,
    },
    /// An element value does not have the required lexical form.
    #[error("invalid value in {element}")]
    InvalidValue {
        /// Local name of the element.
        element: &'static str,
    },
    /// `TSLVersionIdentifier` is not one this crate accepts (TS 119 612 clause 5.3.1:
    /// version 5 for v2.x, 6 for v2.3+; older lists are accepted as legacy, see [`crate::ACCEPTED_TSL_VERSIONS`]).
    #[error("unsupported TSLVersionIdentifier {version}")]
    UnsupportedVersion {
        /// The version read.
        version: u32,
    },
    /// The list's `SchemeTerritory` is not the territory the pointer announced it for
    /// (TS 119 612 clause 5.3.10 and 5.3.13: a signer announced for one territory cannot
    /// vouch for another's list).
    #[error("list territory {found} where {expected} was announced")]
    TerritoryMismatch {
        /// Territory of the pointer.
        expected: String,
        /// Territory read from the list.
        found: String,
    },
    /// A list fetched as the LOTL or a pivot is not of type `EUlistofthelists` (clause 5.3.3).
    #[error("not a list of the lists")]
    NotALotl,
    /// A count limit was exceeded (see the named constants in `tsl`).
    #[error("more than {limit} {what}")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// The limit that applied.
        limit: usize,
    },
}

/// Failures of XMLDSig core validation and of the XAdES-BES profile of TS 119 612 clause 5.7.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureErrorKind {
    /// No `ds:Signature` child of the root (TS 119 612 clause 5.7.1: the list shall be signed).
    #[error("the list is not signed")]
    MissingSignature,
    /// More than one `ds:Signature` element in the document (TS 119 612 clause 5.7.1: one
    /// enveloped signature; also a signature-wrapping defence).
    #[error("{count} ds:Signature elements, exactly one is allowed")]
    MultipleSignatures {
        /// Number of signatures found.
        count: usize,
    },
    /// The `ds:Signature` is not a child of the root element (TS 119 612 clause 5.7.1).
    #[error("ds:Signature is not a child of the root element")]
    SignatureNotChildOfRoot,
    /// A mandatory XMLDSig/XAdES element is missing (XMLDSig 1.1 clause 4, XAdES 1.3.2 clause 6).
    #[error("missing signature element {element}")]
    MissingElement {
        /// Local name of the missing element.
        element: &'static str,
    },
    /// An algorithm URI that is not accepted (XMLDSig 1.1 clause 6, RFC 9231).
    #[error("unsupported algorithm {uri}")]
    UnsupportedAlgorithm {
        /// The URI found.
        uri: String,
    },
    /// A transform that is not allowed for a trusted list reference (TS 119 612 clause 5.7.1:
    /// enveloped-signature then canonicalisation only).
    #[error("unsupported transform {uri}")]
    UnsupportedTransform {
        /// The transform URI found.
        uri: String,
    },
    /// No reference covers the whole document, or it lacks the enveloped-signature transform
    /// (TS 119 612 clause 5.7.1; defence against signature wrapping: the signed element must
    /// be the element that is parsed).
    #[error("no whole-document enveloped reference")]
    NoWholeDocumentReference,
    /// Several references claim the whole document or the signed properties.
    #[error("duplicate {what} reference")]
    DuplicateReference {
        /// Which kind of reference is duplicated.
        what: &'static str,
    },
    /// A reference URI is not `""` or a same-document `#id` that resolves to exactly one element.
    #[error("reference URI {uri} does not resolve to exactly one element")]
    UnresolvedReference {
        /// The reference URI.
        uri: String,
    },
    /// There is no reference of type `http://uri.etsi.org/01903#SignedProperties` to the
    /// signature's `xades:SignedProperties` (XAdES 1.3.2 clause 6.3).
    #[error("no reference to xades:SignedProperties")]
    NoSignedPropertiesReference,
    /// The computed digest of a reference differs from its `DigestValue` (XMLDSig clause 3.2.1:
    /// the signed content was changed).
    #[error("digest of reference {uri} does not match")]
    ReferenceDigestMismatch {
        /// The reference URI.
        uri: String,
    },
    /// A base64 value could not be decoded.
    #[error("invalid base64 in {element}")]
    InvalidBase64 {
        /// Local name of the element.
        element: &'static str,
    },
    /// The `KeyInfo` certificate is not valid DER.
    #[error("invalid certificate in {element}")]
    InvalidCertificate {
        /// Local name of the element.
        element: &'static str,
    },
    /// The key of the signing certificate is not among the certificates announced for the list
    /// (TS 119 612 clause 5.3.13 / LOTL pointer ServiceDigitalIdentities).
    #[error("the signer is not among the announced certificates")]
    SignerNotAnnounced,
    /// The `SignatureValue` does not verify over the canonical `SignedInfo` (XMLDSig clause 3.2.2).
    #[error("signature value does not verify")]
    SignatureValueMismatch,
    /// The signature's key does not fit the signature algorithm (algorithm confusion).
    #[error("the signer key does not fit the signature algorithm")]
    KeyAlgorithmMismatch,
    /// `xades:QualifyingProperties` is missing or not in the XAdES 1.3.2 namespace
    /// (TS 119 612 clause 5.7.1 requires XAdES-BES per EN 319 132-1).
    #[error("XAdES qualifying properties missing or not XAdES 1.3.2")]
    NotXades132,
    /// The `SigningCertificate(V2)` digest does not identify the signer (XAdES 1.3.2 clause 7.2.2).
    #[error("SigningCertificate does not identify the signer")]
    SigningCertificateMismatch,
    /// `SigningTime` is missing, malformed or outside the signer certificate's validity
    /// (XAdES 1.3.2 clause 7.2.1).
    #[error("signing time outside the signer certificate validity")]
    SigningTimeOutsideValidity,
    /// Two elements carry the same `Id` (ID attributes shall be unique; wrapping defence).
    #[error("duplicate Id {id}")]
    DuplicateId {
        /// The duplicated identifier.
        id: String,
    },
    /// A cryptographic library failure while verifying (not an adversarial input condition).
    #[error("cryptographic failure during verification")]
    Crypto,
}

/// Crate-level error: the stage that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// XML intake failed.
    #[error(transparent)]
    Xml(#[from] XmlErrorKind),
    /// The list structure is invalid.
    #[error(transparent)]
    Parse(#[from] ParseErrorKind),
    /// The signature is invalid.
    #[error(transparent)]
    Signature(#[from] SignatureErrorKind),
}

/// Short machine-readable code of an error, for reports and JSON lines.
impl Error {
    /// A stable snake_case code naming the variant.
    pub fn code(&self) -> String {
        let dbg = match self {
            Error::Xml(e) => format!("xml.{e:?}"),
            Error::Parse(e) => format!("parse.{e:?}"),
            Error::Signature(e) => format!("signature.{e:?}"),
        };
        // The variant name is the Debug output up to the first space, brace or paren.
        dbg.split([' ', '{', '('])
            .next()
            .unwrap_or_default()
            .to_string()
    }
}
