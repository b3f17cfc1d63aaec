//! SD-JWT presentation parsing: the compact form `<Issuer-signed JWT>~<D1>~...~<Dn>~<KB-JWT>`
//! (RFC 9901 section 4) and the JWS JSON serialisations, flattened and general (RFC 9901
//! section 8), reduced to one owned shape. For the JSON forms the `sd_hash` input is the compact
//! form rebuilt with the first signature (RFC 9901 section 8.1).

use serde_json::Value;

use super::SdJwtErrorKind;

/// Largest accepted presentation, in bytes (see [`super::jose::MAX_JWS_BYTES`]: a PID with a
/// portrait plus its disclosures stays well below 2 MiB).
pub const MAX_PRESENTATION_BYTES: usize = 2 << 20;

/// Most signatures accepted in a general JWS JSON serialisation (RFC 9901 section 8.2 expects a
/// few, one per issuer key); each is tried at most once.
pub const MAX_JSON_SIGNATURES: usize = 8;

/// A parsed SD-JWT presentation whose signatures have not been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdJwtPresentation {
    /// Compact forms of the issuer-signed JWT, one per signature (one for compact and flattened).
    pub issuer_jwts: Vec<String>,
    /// The disclosures, as received (their digests are computed over these strings).
    pub disclosures: Vec<String>,
    /// The Key Binding JWT, if any.
    pub kb_jwt: Option<String>,
    /// Everything up to and including the last `~`: the `sd_hash` input (RFC 9901 section 4.3.1).
    pub sd_hash_input: String,
}

impl SdJwtPresentation {
    /// Parses either serialisation: a JSON object is the JWS JSON form, anything else compact.
    ///
    /// # Errors
    /// [`SdJwtErrorKind::TooLarge`] or [`SdJwtErrorKind::MalformedSerialization`].
    pub fn parse(input: &str) -> Result<Self, SdJwtErrorKind> {
        if input.len() > MAX_PRESENTATION_BYTES {
            return Err(SdJwtErrorKind::TooLarge {
                len: input.len(),
                max: MAX_PRESENTATION_BYTES,
            });
        }
        let trimmed = input.trim();
        if trimmed.starts_with('{') {
            let v: Value = serde_json::from_str(trimmed)
                .map_err(|_| SdJwtErrorKind::MalformedSerialization)?;
            Self::from_json(&v)
        } else {
            Self::from_compact(trimmed)
        }
    }

    /// Parses the compact serialisation.
    ///
    /// # Errors
    /// [`SdJwtErrorKind::MalformedSerialization`] when there is no `~` or a disclosure is empty.
    pub fn from_compact(s: &str) -> Result<Self, SdJwtErrorKind> {
        let last = s.rfind('~').ok_or(SdJwtErrorKind::MalformedSerialization)?;
        let (head, kb) = (&s[..last], &s[last + 1..]);
        let mut parts = head.split('~');
        let jwt = parts
            .next()
            .filter(|j| !j.is_empty())
            .ok_or(SdJwtErrorKind::MalformedSerialization)?;
        let disclosures: Vec<String> = parts.map(str::to_owned).collect();
        if disclosures.iter().any(String::is_empty) {
            return Err(SdJwtErrorKind::MalformedSerialization);
        }
        Ok(Self {
            issuer_jwts: vec![jwt.to_owned()],
            disclosures,
            kb_jwt: (!kb.is_empty()).then(|| kb.to_owned()),
            sd_hash_input: s[..=last].to_owned(),
        })
    }

    /// Parses the JWS JSON serialisation, flattened or general (RFC 9901 section 8.1).
    ///
    /// # Errors
    /// [`SdJwtErrorKind::MalformedSerialization`].
    pub fn from_json(v: &Value) -> Result<Self, SdJwtErrorKind> {
        let bad = SdJwtErrorKind::MalformedSerialization;
        let obj = v.as_object().ok_or(bad.clone())?;
        let payload = obj
            .get("payload")
            .and_then(Value::as_str)
            .ok_or(bad.clone())?;
        let sigs: Vec<&Value> = match obj.get("signatures") {
            Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_JSON_SIGNATURES => {
                a.iter().collect()
            }
            Some(_) => return Err(bad),
            None => vec![v],
        };
        let mut issuer_jwts = Vec::with_capacity(sigs.len());
        for s in &sigs {
            let protected = s
                .get("protected")
                .and_then(Value::as_str)
                .ok_or(bad.clone())?;
            let signature = s
                .get("signature")
                .and_then(Value::as_str)
                .ok_or(bad.clone())?;
            issuer_jwts.push(format!("{protected}.{payload}.{signature}"));
        }
        // Section 8.1: disclosures and kb_jwt sit in the unprotected header of the first signature.
        let header = sigs.first().and_then(|s| s.get("header"));
        let disclosures = match header.and_then(|h| h.get("disclosures")) {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|d| d.as_str().filter(|d| !d.is_empty()).map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(bad.clone())?,
            Some(_) => return Err(bad),
        };
        let kb_jwt = match header.and_then(|h| h.get("kb_jwt")) {
            None => None,
            Some(Value::String(k)) => Some(k.clone()),
            Some(_) => return Err(bad),
        };
        let mut sd_hash_input = issuer_jwts.first().cloned().ok_or(bad)?;
        sd_hash_input.push('~');
        for d in &disclosures {
            sd_hash_input.push_str(d);
            sd_hash_input.push('~');
        }
        Ok(Self {
            issuer_jwts,
            disclosures,
            kb_jwt,
            sd_hash_input,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_forms() {
        let p = SdJwtPresentation::from_compact("a.b.c~d1~d2~k.l.m").unwrap();
        assert_eq!(p.disclosures, vec!["d1", "d2"]);
        assert_eq!(p.kb_jwt.as_deref(), Some("k.l.m"));
        assert_eq!(p.sd_hash_input, "a.b.c~d1~d2~");
        let p = SdJwtPresentation::from_compact("a.b.c~").unwrap();
        assert!(p.disclosures.is_empty() && p.kb_jwt.is_none());
        assert_eq!(
            SdJwtPresentation::from_compact("a.b.c"),
            Err(SdJwtErrorKind::MalformedSerialization)
        );
        assert_eq!(
            SdJwtPresentation::from_compact("a.b.c~~"),
            Err(SdJwtErrorKind::MalformedSerialization)
        );
        assert_eq!(
            SdJwtPresentation::from_compact("~d~"),
            Err(SdJwtErrorKind::MalformedSerialization)
        );
    }

    #[test]
    fn json_general_and_flattened_agree() {
        let flat = serde_json::json!({"protected":"h","payload":"p","signature":"s","header":{"disclosures":["d"],"kb_jwt":"k"}});
        let general = serde_json::json!({"payload":"p","signatures":[{"protected":"h","signature":"s","header":{"disclosures":["d"],"kb_jwt":"k"}}]});
        let a = SdJwtPresentation::from_json(&flat).unwrap();
        assert_eq!(a, SdJwtPresentation::from_json(&general).unwrap());
        assert_eq!(a.sd_hash_input, "h.p.s~d~");
    }
}
