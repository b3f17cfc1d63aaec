//! Key Binding JWT verification (RFC 9901 sections 4.3 and 7.3): `typ` `kb+jwt`, signature by the
//! holder key of `cnf.jwk`, `iat` freshness, `nonce` and `aud` against the verifier's challenge, and
//! `sd_hash` over the presentation with the `_sd_alg` hash.

use serde_json::{Map, Value};

use super::disclosure::SdAlg;
use super::jose::parse_compact;
use super::sdjwt::{holder_key, KeyBindingPolicy, SdJwtPolicy};
use super::KeyBindingErrorKind;

/// The KB-JWT `typ` (RFC 9901 section 4.3).
pub const TYP_KB_JWT: &str = "kb+jwt";

/// How far in the future a KB-JWT `iat` may lie, in seconds: wallet clocks drift, and the corpus
/// README fixes the window as `[now - kb_max_age_s, now + 60]`.
pub const KB_IAT_FUTURE_TOLERANCE_S: i64 = 60;

/// Verifies the KB-JWT `kb` for the processed `claims` at `now`.
pub(crate) fn verify_key_binding(
    kb: &str,
    claims: &Map<String, Value>,
    sd_hash_input: &str,
    sd_alg: SdAlg,
    kb_policy: &KeyBindingPolicy,
    policy: &SdJwtPolicy,
    now: i64,
) -> Result<(), KeyBindingErrorKind> {
    // 1. Structure and algorithm (section 4.3).
    let jws = parse_compact(kb, &policy.algorithms).map_err(KeyBindingErrorKind::Jws)?;
    // 2. typ (section 7.3 step 5.2).
    let typ = jws.header.get("typ").and_then(Value::as_str);
    if !super::jose::typ_is(typ, TYP_KB_JWT) {
        return Err(KeyBindingErrorKind::WrongTyp {
            got: typ.map(str::to_owned),
        });
    }
    // 3. Signature with the holder key (section 7.3 step 5.3).
    let key = holder_key(claims)?;
    jws.verify(&key).map_err(|e| match e {
        super::jose::JoseErrorKind::SignatureInvalid => KeyBindingErrorKind::SignatureInvalid,
        other => KeyBindingErrorKind::Jws(other),
    })?;
    let p = &jws.payload;
    // 4. iat window (section 7.3 step 5.4).
    let iat = p
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(KeyBindingErrorKind::IatMissing)?;
    if iat < now.saturating_sub(kb_policy.max_age_s)
        || iat > now.saturating_add(KB_IAT_FUTURE_TOLERANCE_S.max(policy.clock_skew_s))
    {
        return Err(KeyBindingErrorKind::IatOutsideWindow { iat, now });
    }
    // 5. nonce and aud (section 7.3 step 5.5).
    if p.get("nonce").and_then(Value::as_str) != Some(kb_policy.nonce.as_str()) {
        return Err(KeyBindingErrorKind::NonceMismatch);
    }
    if p.get("aud").and_then(Value::as_str) != Some(kb_policy.aud.as_str()) {
        return Err(KeyBindingErrorKind::AudienceMismatch);
    }
    // 6. sd_hash (section 7.3 step 5.6).
    let sd_hash = p
        .get("sd_hash")
        .and_then(Value::as_str)
        .ok_or(KeyBindingErrorKind::SdHashMissing)?;
    if sd_hash != sd_alg.digest_b64(sd_hash_input.as_bytes()) {
        return Err(KeyBindingErrorKind::SdHashMismatch);
    }
    Ok(())
}
