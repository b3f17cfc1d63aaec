//! Entry points shared by the cargo-fuzz targets (`bridge/fuzz/fuzz_targets/identity_*.rs`) and
//! the seed-corpus replay test: each runs a full verification of arbitrary bytes against fixed,
//! published test material, so that mutations of real presentations reach deep into the parsers.
//! They must never panic, whatever the input; they return whether the input verified.

use serde_json::json;

use super::{
    jwk_to_public_key, p256_private_key_from_scalar, verify_device_response, verify_sd_jwt,
    DeviceAuthCheck, IssuerKeys, KeyBindingPolicy, MdocPolicy, PemTrustAnchors, SdJwtPolicy,
};

/// RFC 9901 example issuer public key (`examples/settings.yml` of the specification repository).
const RFC9901_ISSUER_X: &str = "b28d4MwZMjw8-00CG4xfnn9SLMVMM19SlqZpVb_uNtQ";
const RFC9901_ISSUER_Y: &str = "Xv5zWwuoaTgdS6hV43yI6gBwTnjukmFQQnJ_kCxzqk8";
/// Verification instant of the RFC 9901 seeds (2025-01-01T00:01:00Z).
const SD_JWT_NOW: i64 = 1_735_689_660;

/// ISO/IEC 18013-5 Annex D document signer certificate ("utopia ds"), pinned as anchor.
const ANNEX_D_DS_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB7zCCAZWgAwIBAgIUPEQW7teE87QT5I9W8HWr+m2H64QwCgYIKoZIzj0EAwIw\nIzEUMBIGA1UEAwwLdXRvcGlhIGlhY2ExCzAJBgNVBAYTAlVTMB4XDTIwMTAwMTAw\nMDAwMFoXDTIxMTAwMTAwMDAwMFowITESMBAGA1UEAwwJdXRvcGlhIGRzMQswCQYD\nVQQGEwJVUzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKznq3NA5dlkjFpyqab1\nZ0XHqtQ2oDpD7+p3tfp7iPAZfVfYmD4bN9OlOfTViDZeOMu/W5TWjFR7W8hzHc0v\nFGujgagwgaUwHgYDVR0SBBcwFYETZXhhbXBsZUBleGFtcGxlLmNvbTAcBgNVHR8E\nFTATMBGgD6ANggtleGFtcGxlLmNvbTAdBgNVHQ4EFgQUFOKQF6bDViH/x6aGt7ct\nsGzRI1EwHwYDVR0jBBgwFoAUVPojg6BMKODZMHkiYcgMSIHSwAswDgYDVR0PAQH/\nBAQDAgeAMBUGA1UdJQEB/wQLMAkGByiBjF0FAQIwCgYIKoZIzj0EAwIDSAAwRQIh\nAJdxerkBZ0DI17zapJSmLAU7vezOE4PBrKcq0I28BMuyAiA7rYWcE6Y8bRrWfYFN\nQ+JCXK+Q1CJCLASo7gMEwNOmjQ==\n-----END CERTIFICATE-----\n";
/// Annex D SessionTranscript (D.5.1) and reader ephemeral key (D.4.1.2), for DeviceMac.
const ANNEX_D_TRANSCRIPT_HEX: &str = concat!(
    "83d8185858a20063312e30018201d818584ba4010220012158205a88d182bce5f42efa59943f33359d2e8a968ff289d9",
    "3e5fa444b624343167fe225820b16e8cf858ddc7690407ba61d4c338237a8cfcf3de6aa672fc60a557aa32fc67d81858",
    "4ba40102200121582060e3392385041f51403051f2415531cb56dd3f999c71687013aac6768bc8187e225820e58deb8f",
    "dbe907f7dd5368245551a34796f7d2215c440c339bb0f7b67beccdfa8258c391020f487315d10209616301013001046d",
    "646f631a200c016170706c69636174696f6e2f766e642e626c7565746f6f74682e6c652e6f6f6230081b28128b372828",
    "01021c015c1e580469736f2e6f72673a31383031333a646576696365656e676167656d656e746d646f63a20063312e30",
    "018201d818584ba4010220012158205a88d182bce5f42efa59943f33359d2e8a968ff289d93e5fa444b624343167fe22",
    "5820b16e8cf858ddc7690407ba61d4c338237a8cfcf3de6aa672fc60a557aa32fc6758cd910225487215910202637201",
    "02110204616301013000110206616301036e6663005102046163010157001a201e016170706c69636174696f6e2f766e",
    "642e626c7565746f6f74682e6c652e6f6f6230081b28078080bf2801021c021107c832fff6d26fa0beb34dfcd555d482",
    "3a1c11010369736f2e6f72673a31383031333a6e66636e6663015a172b016170706c69636174696f6e2f766e642e7766",
    "612e6e616e57030101032302001324fec9a70b97ac9684a4e326176ef5b981c5e8533e5f00298cfccbc35e700a6b0204",
    "14",
);
const ANNEX_D_READER_D_HEX: &str =
    "de3b4b9e5f72dd9b58406ae3091434da48a6f9fd010d88fcb0958e2cebec947c";
/// Verification instant of the Annex D seed (2021-01-01T00:00:00Z).
const MDOC_NOW: i64 = 1_609_459_200;

/// Verifies `data` as an SD-JWT presentation (compact or JSON) with the RFC 9901 example key and
/// key binding required (nonce `1234567890`, aud `https://verifier.example.org`).
pub fn fuzz_sd_jwt(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(key) = jwk_to_public_key(
        &json!({"kty": "EC", "crv": "P-256", "x": RFC9901_ISSUER_X, "y": RFC9901_ISSUER_Y}),
    ) else {
        return false;
    };
    let mut policy = SdJwtPolicy::sd_jwt();
    policy.key_binding = Some(KeyBindingPolicy {
        nonce: "1234567890".into(),
        aud: "https://verifier.example.org".into(),
        max_age_s: super::DEFAULT_KB_MAX_AGE_S,
    });
    verify_sd_jwt(
        text,
        &policy,
        &IssuerKeys::Keys(vec![key]),
        None,
        SD_JWT_NOW,
    )
    .is_ok()
}

/// Verifies `data` as a DeviceResponse against the Annex D document signer, with DeviceAuth.
pub fn fuzz_mdoc(data: &[u8]) -> bool {
    let Ok(trust) = PemTrustAnchors::from_pem(&[ANNEX_D_DS_PEM]) else {
        return false;
    };
    let (Ok(transcript), Ok(d)) = (
        hex::decode(ANNEX_D_TRANSCRIPT_HEX),
        hex::decode(ANNEX_D_READER_D_HEX),
    ) else {
        return false;
    };
    let policy = MdocPolicy {
        device_auth: DeviceAuthCheck::Verify {
            session_transcript: transcript,
            reader_ephemeral_key: p256_private_key_from_scalar(&d).ok(),
        },
        ..MdocPolicy::default()
    };
    verify_device_response(data, &policy, &trust, MDOC_NOW).is_ok()
}
