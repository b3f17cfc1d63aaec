//! SessionTranscript construction for mdoc presentations over OpenID4VP 1.0 (Appendix B.2.6.1):
//! the redirect / `direct_post(.jwt)` flow uses `OpenID4VPHandover`, the W3C Digital Credentials
//! API flow `OpenID4VPDCAPIHandover`. In both, the handover carries the SHA-256 of the CBOR
//! encoded handover info, and SessionTranscript = `[null, null, Handover]`.

use ciborium::Value;

use super::cbor::encode;

/// The transaction data an OpenID4VP handover binds the device authentication to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handover {
    /// Redirect-based flows (OpenID4VP 1.0 B.2.6.1, `OpenID4VPHandoverInfo`).
    OpenId4Vp {
        /// The verifier's full client_id, with its prefix.
        client_id: String,
        /// The request nonce.
        nonce: String,
        /// RFC 7638 SHA-256 thumbprint of the response encryption JWK, if the response is encrypted.
        jwk_thumbprint: Option<[u8; 32]>,
        /// The `response_uri` (or `redirect_uri`) of the request.
        response_uri: String,
    },
    /// The Digital Credentials API flow (OpenID4VP 1.0 B.2.6.2, `OpenID4VPDCAPIHandoverInfo`).
    DcApi {
        /// The web origin of the verifier.
        origin: String,
        /// The request nonce.
        nonce: String,
        /// RFC 7638 SHA-256 thumbprint of the response encryption JWK, if any.
        jwk_thumbprint: Option<[u8; 32]>,
    },
}

impl Handover {
    /// The encryption key thumbprint bound by this handover.
    pub fn jwk_thumbprint(&self) -> Option<[u8; 32]> {
        match self {
            Handover::OpenId4Vp { jwk_thumbprint, .. } | Handover::DcApi { jwk_thumbprint, .. } => {
                *jwk_thumbprint
            }
        }
    }
}

/// The CBOR encodings derived from a [`Handover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTranscriptBytes {
    /// CBOR of the handover info array.
    pub handover_info: Vec<u8>,
    /// CBOR of `[name, sha256(handover_info)]`.
    pub handover: Vec<u8>,
    /// CBOR of `[null, null, handover]` (not tag-24 wrapped).
    pub session_transcript: Vec<u8>,
}

/// Builds the handover and SessionTranscript of OpenID4VP 1.0 Appendix B.2.6.
pub fn openid4vp_session_transcript(h: &Handover) -> SessionTranscriptBytes {
    let thumb = |t: &Option<[u8; 32]>| t.map(|t| Value::Bytes(t.to_vec())).unwrap_or(Value::Null);
    let (name, info) = match h {
        Handover::OpenId4Vp {
            client_id,
            nonce,
            jwk_thumbprint,
            response_uri,
        } => (
            "OpenID4VPHandover",
            vec![
                Value::Text(client_id.clone()),
                Value::Text(nonce.clone()),
                thumb(jwk_thumbprint),
                Value::Text(response_uri.clone()),
            ],
        ),
        Handover::DcApi {
            origin,
            nonce,
            jwk_thumbprint,
        } => (
            "OpenID4VPDCAPIHandover",
            vec![
                Value::Text(origin.clone()),
                Value::Text(nonce.clone()),
                thumb(jwk_thumbprint),
            ],
        ),
    };
    let handover_info = encode(&Value::Array(info));
    let digest = openssl::sha::sha256(&handover_info);
    let handover_value = Value::Array(vec![
        Value::Text(name.to_owned()),
        Value::Bytes(digest.to_vec()),
    ]);
    let handover = encode(&handover_value);
    let session_transcript = encode(&Value::Array(vec![
        Value::Null,
        Value::Null,
        handover_value,
    ]));
    SessionTranscriptBytes {
        handover_info,
        handover,
        session_transcript,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dc_api_shape() {
        let st = openid4vp_session_transcript(&Handover::DcApi {
            origin: "https://v.example".into(),
            nonce: "n".into(),
            jwk_thumbprint: None,
        });
        assert_eq!(st.handover_info[0], 0x83);
        assert_eq!(&st.session_transcript[..3], &[0x83, 0xf6, 0xf6]);
        assert!(st
            .handover
            .windows(22)
            .any(|w| w == b"OpenID4VPDCAPIHandover"));
    }
}
