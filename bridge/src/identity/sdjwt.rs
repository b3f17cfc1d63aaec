//! SD-JWT and SD-JWT VC verification (RFC 9901 section 7; draft-ietf-oauth-sd-jwt-vc section 3
//! and "Verification and Processing"). The steps are numbered as in the code below:
//! parse, issuer JWT (alg allow-list, `typ`), issuer key and signature, `_sd_alg`, disclosures,
//! registered claims and time, `vct`, key binding, status.

use serde_json::{Map, Value};
use tracing::debug;

use super::disclosure::{process_disclosures, SdAlg};
use super::issuer::{verify_issuer_signature, IssuerFailure, IssuerIdentity, IssuerKeys};
use super::jose::{jwk_to_public_key, parse_compact, JwsAlg};
use super::presentation::SdJwtPresentation;
use super::status::{check_status, StatusListSource};
use super::{IdentityError, KeyBindingErrorKind, SdJwtErrorKind};

/// Default clock skew tolerated on `exp`, `nbf` and `iat`, in seconds. RFC 7519 section 4.1.4
/// allows "some small leeway" but leaves it to the deployment; the default is strict (a credential
/// 10 s past `exp` is expired, as the corpus vector `vc-neg-credential-expired` expects).
pub const DEFAULT_CLOCK_SKEW_S: i64 = 0;

/// Default KB-JWT freshness window, in seconds (the value of the corpus and of the EUDI
/// reference verifier's `iat` window).
pub const DEFAULT_KB_MAX_AGE_S: i64 = 300;

/// The SD-JWT VC `typ` values (draft section 3.2.1; `vc+sd-jwt` is the legacy value).
pub const TYP_DC_SD_JWT: &str = "dc+sd-jwt";
/// Legacy SD-JWT VC `typ`, accepted only when the policy switch allows it.
pub const TYP_VC_SD_JWT_LEGACY: &str = "vc+sd-jwt";

/// Key Binding requirements (RFC 9901 section 7.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBindingPolicy {
    /// Expected `nonce` (the challenge).
    pub nonce: String,
    /// Expected `aud` (the verifier's full client_id, or `origin:<origin>` over the DC API).
    pub aud: String,
    /// Oldest accepted `iat`, in seconds before the verification time.
    pub max_age_s: i64,
}

/// Verifier policy for one presentation.
#[derive(Debug, Clone)]
pub struct SdJwtPolicy {
    /// Accepted JWS algorithms for the issuer JWT, the KB-JWT and the status list token.
    pub algorithms: Vec<JwsAlg>,
    /// Accepted `typ` values of the issuer JWT; `None` accepts any (plain SD-JWT).
    pub accepted_typ: Option<Vec<String>>,
    /// Required `iss`, if any.
    pub expected_iss: Option<String>,
    /// Accepted `vct` values, if restricted.
    pub accepted_vct: Option<Vec<String>>,
    /// Require a string `vct` (SD-JWT VC draft section 3.2.2.2: REQUIRED in an SD-JWT VC).
    pub require_vct: bool,
    /// Accepted `_sd_alg` values.
    pub accepted_sd_alg: Vec<SdAlg>,
    /// Tolerated clock skew in seconds.
    pub clock_skew_s: i64,
    /// Key binding requirement; `None` means the verifier does not require (nor check) one.
    pub key_binding: Option<KeyBindingPolicy>,
    /// Require the leaf certificate SAN to name `iss` (x5c keys only).
    pub require_iss_matches_x5c_san: bool,
}

impl SdJwtPolicy {
    /// Policy for plain SD-JWTs: any `typ`, every algorithm, no key binding.
    pub fn sd_jwt() -> Self {
        Self {
            algorithms: JwsAlg::ALL.to_vec(),
            accepted_typ: None,
            expected_iss: None,
            accepted_vct: None,
            require_vct: false,
            accepted_sd_alg: SdAlg::ALL.to_vec(),
            clock_skew_s: DEFAULT_CLOCK_SKEW_S,
            key_binding: None,
            require_iss_matches_x5c_san: false,
        }
    }

    /// Policy for SD-JWT VCs: `typ` `dc+sd-jwt`, plus `vc+sd-jwt` when `accept_legacy_typ`.
    pub fn sd_jwt_vc(accept_legacy_typ: bool) -> Self {
        let mut typ = vec![TYP_DC_SD_JWT.to_owned()];
        if accept_legacy_typ {
            typ.push(TYP_VC_SD_JWT_LEGACY.to_owned());
        }
        Self {
            accepted_typ: Some(typ),
            require_vct: true,
            ..Self::sd_jwt()
        }
    }
}

/// A verified presentation.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedSdJwt {
    /// The Processed SD-JWT Payload (RFC 9901 section 7.1).
    pub claims: Map<String, Value>,
    /// How the issuer was identified.
    pub issuer: IssuerIdentity,
    /// The `_sd_alg` used.
    pub sd_alg: SdAlg,
    /// Whether a KB-JWT was verified.
    pub key_bound: bool,
    /// Whether a status reference was checked (and found VALID).
    pub status_checked: bool,
}

impl VerifiedSdJwt {
    /// The health-professional view of the claims (`specs/wallet.md` section 5), when the
    /// attestation carries a `registration`.
    pub fn health_professional(&self) -> Option<super::HealthProfessional> {
        super::map_health_professional(&self.claims)
    }
}

fn numeric(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, SdJwtErrorKind> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or(SdJwtErrorKind::TimeClaimMalformed { name }),
    }
}

/// Verifies an SD-JWT / SD-JWT VC presentation at `now` (Unix seconds).
///
/// `status` is consulted when the credential carries `status.status_list`; with `None` the status
/// is not checked (the caller's policy decides whether that is acceptable).
///
/// # Errors
/// An [`IdentityError`] naming the stage and the exact rule that failed.
pub fn verify_sd_jwt(
    input: &str,
    policy: &SdJwtPolicy,
    keys: &IssuerKeys,
    status: Option<&dyn StatusListSource>,
    now: i64,
) -> Result<VerifiedSdJwt, IdentityError> {
    // 1. Parse the serialisation.
    let pres = SdJwtPresentation::parse(input)?;
    debug!(
        disclosures = pres.disclosures.len(),
        kb = pres.kb_jwt.is_some(),
        "sd-jwt parsed"
    );

    // 2. Issuer JWT: alg allow-list, typ, signature (RFC 9901 section 7.1 step 2).
    let mut verified = None;
    let mut failure = SdJwtErrorKind::MalformedSerialization;
    for jwt in &pres.issuer_jwts {
        let jws = parse_compact(jwt, &policy.algorithms).map_err(SdJwtErrorKind::IssuerJws)?;
        if let Some(accepted) = &policy.accepted_typ {
            let typ = jws.header.get("typ").and_then(Value::as_str);
            if !accepted.iter().any(|a| super::jose::typ_is(typ, a)) {
                return Err(SdJwtErrorKind::UnexpectedTyp {
                    got: typ.map(str::to_owned),
                }
                .into());
            }
        }
        let iss = jws.payload.get("iss").and_then(Value::as_str);
        let san_iss = if policy.require_iss_matches_x5c_san {
            iss.filter(|i| i.starts_with("https://"))
        } else {
            None
        };
        match verify_issuer_signature(&jws, keys, now, san_iss) {
            Ok(id) => {
                verified = Some((jws, id));
                break;
            }
            Err(IssuerFailure::Trust(t)) => failure = SdJwtErrorKind::IssuerTrust(t),
            Err(IssuerFailure::Jose(j)) => failure = SdJwtErrorKind::IssuerJws(j),
        }
    }
    let (jws, issuer) = verified.ok_or(failure)?;
    debug!(alg = ?jws.alg, "issuer signature verified");

    // 3. _sd_alg (section 7.1 step 3.1; absent means sha-256).
    let sd_alg_name = match jws.payload.get("_sd_alg") {
        None => "sha-256",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(SdJwtErrorKind::SdAlgNotAccepted { alg: String::new() }.into()),
    };
    let sd_alg = SdAlg::from_name(sd_alg_name)
        .filter(|a| policy.accepted_sd_alg.contains(a))
        .ok_or_else(|| SdJwtErrorKind::SdAlgNotAccepted {
            alg: sd_alg_name.to_owned(),
        })?;

    // 4. Disclosures (section 7.1 steps 3-5).
    let disclosures: Vec<&str> = pres.disclosures.iter().map(String::as_str).collect();
    let claims = process_disclosures(jws.payload.clone(), &disclosures, sd_alg)?;
    debug!(claims = claims.len(), "disclosures processed");

    // 5. Registered claims and time (section 7.1 step 6).
    check_registered_claims(&claims, policy, now)?;

    // 6. Key binding (section 7.3), only when the policy requires it.
    let key_bound = match &policy.key_binding {
        None => false,
        Some(kb_policy) => {
            let kb = pres.kb_jwt.as_deref().ok_or(KeyBindingErrorKind::Missing)?;
            super::kb::verify_key_binding(
                kb,
                &claims,
                &pres.sd_hash_input,
                sd_alg,
                kb_policy,
                policy,
                now,
            )?;
            true
        }
    };

    // 7. Status (Token Status List section 8.3).
    let mut status_checked = false;
    if let (Some(source), Some(st)) = (status, claims.get("status")) {
        if st.get("status_list").is_some() {
            check_status(
                st,
                source,
                keys,
                &policy.algorithms,
                now,
                policy.clock_skew_s,
            )?;
            status_checked = true;
        }
    }
    debug!(key_bound, status_checked, "sd-jwt verified");
    Ok(VerifiedSdJwt {
        claims,
        issuer,
        sd_alg,
        key_bound,
        status_checked,
    })
}

fn check_registered_claims(
    claims: &Map<String, Value>,
    policy: &SdJwtPolicy,
    now: i64,
) -> Result<(), SdJwtErrorKind> {
    let skew = policy.clock_skew_s;
    if let Some(exp) = numeric(claims, "exp")? {
        if now >= exp.saturating_add(skew) {
            return Err(SdJwtErrorKind::Expired { exp, now });
        }
    }
    if let Some(nbf) = numeric(claims, "nbf")? {
        if now.saturating_add(skew) < nbf {
            return Err(SdJwtErrorKind::NotYetValid { nbf, now });
        }
    }
    if let Some(iat) = numeric(claims, "iat")? {
        if iat > now.saturating_add(skew) {
            return Err(SdJwtErrorKind::IssuedInFuture { iat, now });
        }
    }
    if let Some(iss) = &policy.expected_iss {
        if claims.get("iss").and_then(Value::as_str) != Some(iss.as_str()) {
            return Err(SdJwtErrorKind::UnexpectedIssuer);
        }
    }
    if policy.require_vct && !claims.get("vct").is_some_and(Value::is_string) {
        return Err(SdJwtErrorKind::UnexpectedVct);
    }
    if let Some(vcts) = &policy.accepted_vct {
        let vct = claims.get("vct").and_then(Value::as_str);
        if !vct.is_some_and(|v| vcts.iter().any(|a| a == v)) {
            return Err(SdJwtErrorKind::UnexpectedVct);
        }
    }
    Ok(())
}

/// Imports the holder key from `cnf.jwk` (RFC 7800 section 3.2).
pub(crate) fn holder_key(
    claims: &Map<String, Value>,
) -> Result<openssl::pkey::PKey<openssl::pkey::Public>, KeyBindingErrorKind> {
    let jwk = claims
        .get("cnf")
        .and_then(|c| c.get("jwk"))
        .ok_or(KeyBindingErrorKind::NoHolderKey)?;
    jwk_to_public_key(jwk).map_err(|_| KeyBindingErrorKind::NoHolderKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus_vector(rel: &str) -> Value {
        let start = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = start
            .ancestors()
            .map(|d| d.join("shared/corpus/wallet"))
            .find(|c| c.is_dir())
            .unwrap_or_else(|| panic!("shared/corpus/wallet not found above {}", start.display()));
        serde_json::from_slice(&std::fs::read(dir.join(rel)).unwrap()).unwrap()
    }

    /// RFC 9901 section 7.3: the KB-JWT checks apply "if Key Binding is required", and that
    /// decision "MUST NOT be based on whether or not a Key Binding JWT is provided". A KB-JWT the
    /// policy does not ask for is therefore neither verified nor trusted: the presentation is
    /// processed as an SD-JWT and reported as not key-bound, whatever the KB-JWT contains.
    #[test]
    fn kb_jwt_not_required_is_not_checked_and_not_reported_as_bound() {
        let v = corpus_vector("sd-jwt/rfc9901-simple.json");
        let p = &v["verifier_params"];
        let keys = IssuerKeys::Keys(vec![jwk_to_public_key(&p["issuer_public_jwks"][0]).unwrap()]);
        let now = p["now"].as_i64().unwrap();
        let pres = v["input"]["sd_jwt_presentation"].as_str().unwrap();
        let (head, kb) = pres.rsplit_once('~').unwrap();
        assert!(!kb.is_empty(), "the vector carries a KB-JWT");
        // A KB-JWT carrying another signature (the issuer JWT's, also ES256): well formed, but it
        // does not verify.
        let (signed, _) = kb.rsplit_once('.').unwrap();
        let (_, other_sig) = head.split('~').next().unwrap().rsplit_once('.').unwrap();
        let broken = format!("{head}~{signed}.{other_sig}");

        let not_required = SdJwtPolicy::sd_jwt();
        for input in [pres, broken.as_str()] {
            let out = verify_sd_jwt(input, &not_required, &keys, None, now).unwrap();
            assert!(!out.key_bound);
        }

        let mut required = SdJwtPolicy::sd_jwt();
        required.key_binding = Some(KeyBindingPolicy {
            nonce: p["expected_nonce"].as_str().unwrap().into(),
            aud: p["expected_aud"].as_str().unwrap().into(),
            max_age_s: super::super::DEFAULT_KB_MAX_AGE_S,
        });
        assert!(
            verify_sd_jwt(pres, &required, &keys, None, now)
                .unwrap()
                .key_bound
        );
        assert_eq!(
            verify_sd_jwt(&broken, &required, &keys, None, now).map(|o| o.key_bound),
            Err(IdentityError::KeyBinding(
                KeyBindingErrorKind::SignatureInvalid
            ))
        );
    }
}
