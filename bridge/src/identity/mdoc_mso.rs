//! The MobileSecurityObject (ISO/IEC 18013-5 section 9.1.2.4) read in place from the IssuerAuth
//! payload, and the check of every IssuerSignedItem against its `valueDigests` entry (section
//! 9.3.1 steps 5-7).
//!
//! Everything is navigated by byte span over the received bytes: no CBOR value tree is built and
//! nothing is copied before the digests have matched. This is required for correctness (the
//! digest covers each `IssuerSignedItemBytes` exactly as received, tag 24 included, so nothing
//! may be re-encoded) and it keeps verification close to the cost of its two signatures: the
//! element values, a portrait among them, are only walked, hashed once, and copied once for the
//! output.

use openssl::sha::{Sha256, Sha384, Sha512};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::cbor::{
    self, bytes_raw, for_each_entry, items, key_bytes, map_get, tag24_content, text_raw, uint_at,
    untag, whole, Span,
};
use super::mdoc::{IssuerSignedElement, MAX_ELEMENTS};
use super::MdocErrorKind;

fn structure(s: &'static str) -> MdocErrorKind {
    MdocErrorKind::Structure { structure: s }
}

/// The digest algorithms of ISO/IEC 18013-5 section 9.1.2.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DigestAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    /// Whether the digest of `data` equals `expected`. OpenSSL's low-level hashers are used: no
    /// per-call algorithm fetch (26+ items per document), and SHA-NI / AVX2 code where the CPU
    /// has it.
    fn matches(self, data: &[u8], expected: &[u8]) -> bool {
        match self {
            Self::Sha256 => {
                let mut h = Sha256::new();
                h.update(data);
                h.finish()[..] == *expected
            }
            Self::Sha384 => {
                let mut h = Sha384::new();
                h.update(data);
                h.finish()[..] == *expected
            }
            Self::Sha512 => {
                let mut h = Sha512::new();
                h.update(data);
                h.finish()[..] == *expected
            }
        }
    }
}

/// `valueDigests[ns]` entries: digestID and the digest (`None` when the value is not a bstr).
type DigestIds<'a> = Vec<(u64, Option<&'a [u8]>)>;

/// The members of a MobileSecurityObject, as spans of its bytes (first occurrence of each key).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mso<'a> {
    buf: &'a [u8],
    doc_type: Option<Span>,
    validity_info: Option<Span>,
    digest_algorithm: Option<Span>,
    value_digests: Option<Span>,
    device_key_info: Option<Span>,
}

impl<'a> Mso<'a> {
    /// Reads the MSO from `MobileSecurityObjectBytes` (the IssuerAuth payload, tag 24 over bstr).
    pub(crate) fn from_payload(payload: &'a [u8]) -> Result<Self, MdocErrorKind> {
        let all = whole(payload);
        if cbor::skip(payload, 0, 0)? != payload.len() {
            return Err(MdocErrorKind::Cbor);
        }
        let buf = match untag(payload, all) {
            Some((24, inner)) => {
                bytes_raw(payload, inner).ok_or(structure("MobileSecurityObjectBytes"))?
            }
            _ => return Err(structure("MobileSecurityObjectBytes")),
        };
        let mut mso = Self {
            buf,
            doc_type: None,
            validity_info: None,
            digest_algorithm: None,
            value_digests: None,
            device_key_info: None,
        };
        if cbor::major_at(buf, whole(buf)) != Some(5) {
            // The embedded MSO must be one whole, well-formed item; if it is not a map, every
            // member is absent (and the docType check fails).
            if cbor::skip(buf, 0, 0)? != buf.len() {
                return Err(MdocErrorKind::Cbor);
            }
            return Ok(mso);
        }
        // One walk both finds the members and checks that the map is well formed and whole.
        let end = for_each_entry(buf, 0, |k, v| {
            let slot = match key_bytes(buf, k) {
                Some(b"docType") => &mut mso.doc_type,
                Some(b"validityInfo") => &mut mso.validity_info,
                Some(b"digestAlgorithm") => &mut mso.digest_algorithm,
                Some(b"valueDigests") => &mut mso.value_digests,
                Some(b"deviceKeyInfo") => &mut mso.device_key_info,
                _ => return Ok(()),
            };
            slot.get_or_insert(v);
            Ok(())
        })?;
        if end != buf.len() {
            return Err(MdocErrorKind::Cbor);
        }
        Ok(mso)
    }

    /// `docType`, if it is a text string.
    pub(crate) fn doc_type(&self) -> Option<&'a str> {
        text_raw(self.buf, self.doc_type?)
    }

    /// Checks that `validityInfo` covers `now` (9.3.1 step 7).
    pub(crate) fn check_validity(&self, now: i64) -> Result<(), MdocErrorKind> {
        let vi = self.validity_info.ok_or(structure("validityInfo"))?;
        let member = |name: &'static str| -> Result<Span, MdocErrorKind> {
            if cbor::major_at(self.buf, vi) != Some(5) {
                return Err(structure(name));
            }
            map_get(self.buf, vi.start, name)?.ok_or(structure(name))
        };
        let from = tdate(self.buf, member("validFrom")?)?;
        let until = tdate(self.buf, member("validUntil")?)?;
        if now < from || now > until {
            return Err(MdocErrorKind::NotValidAtTime);
        }
        Ok(())
    }

    /// `digestAlgorithm` (9.1.2.5).
    pub(crate) fn digest_alg(&self) -> Result<DigestAlg, MdocErrorKind> {
        match self.digest_algorithm.and_then(|s| text_raw(self.buf, s)) {
            Some("SHA-256") => Ok(DigestAlg::Sha256),
            Some("SHA-384") => Ok(DigestAlg::Sha384),
            Some("SHA-512") => Ok(DigestAlg::Sha512),
            _ => Err(MdocErrorKind::DigestAlgorithm),
        }
    }

    /// The `deviceKeyInfo.deviceKey` COSE_Key item.
    pub(crate) fn device_key(&self) -> Result<&'a [u8], MdocErrorKind> {
        let dki = self.device_key_info.ok_or(MdocErrorKind::DeviceKey)?;
        if cbor::major_at(self.buf, dki) != Some(5) {
            return Err(MdocErrorKind::DeviceKey);
        }
        let k = map_get(self.buf, dki.start, "deviceKey")?.ok_or(MdocErrorKind::DeviceKey)?;
        Ok(&self.buf[k.start..k.end])
    }

    /// Checks every IssuerSignedItemBytes of `IssuerNameSpaces` (the map at `ns_span` of
    /// `doc_buf`, absent when nothing was disclosed) against `valueDigests` (9.3.1 step 5) and
    /// returns the elements.
    pub(crate) fn check_digests(
        &self,
        doc_buf: &[u8],
        ns_span: Option<Span>,
        alg: DigestAlg,
    ) -> Result<Vec<IssuerSignedElement>, MdocErrorKind> {
        let vd = self.value_digests.ok_or(structure("valueDigests"))?;
        let mut out = Vec::new();
        let Some(ns_span) = ns_span else {
            return Ok(out);
        };
        for_each_entry(doc_buf, ns_span.start, |k, v| {
            let ns = text_raw(doc_buf, k).ok_or(structure("IssuerNameSpaces key"))?;
            let digests = self.digest_ids(vd, ns)?;
            // One element per digest at most is the common case; the reservation is bounded.
            out.reserve(digests.len().min(MAX_ELEMENTS));
            for item in items(doc_buf, v.start, 4)? {
                if out.len() >= MAX_ELEMENTS {
                    return Err(structure("IssuerNameSpaces (too many elements)"));
                }
                out.push(check_item(doc_buf, item?, &digests, alg, ns)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// `valueDigests[ns]` as (digestID, digest) pairs in received order; a missing namespace
    /// means no item of it can match.
    fn digest_ids(&self, vd: Span, ns: &str) -> Result<DigestIds<'a>, MdocErrorKind> {
        let buf = self.buf;
        if cbor::major_at(buf, vd) != Some(5) {
            return Err(MdocErrorKind::DigestMismatch);
        }
        let m = map_get(buf, vd.start, ns)?.ok_or(MdocErrorKind::DigestMismatch)?;
        if cbor::major_at(buf, m) != Some(5) {
            return Err(MdocErrorKind::DigestMismatch);
        }
        let mut ids = Vec::new();
        for_each_entry(buf, m.start, |k, v| {
            if let Some(id) = uint_at(buf, k) {
                ids.push((id, bytes_raw(buf, v)));
            }
            Ok(())
        })?;
        Ok(ids)
    }
}

/// Checks one `IssuerSignedItemBytes` (the tag-24 item at `item`, hashed exactly as received).
fn check_item(
    doc_buf: &[u8],
    item: Span,
    digests: &[(u64, Option<&[u8]>)],
    alg: DigestAlg,
    ns: &str,
) -> Result<IssuerSignedElement, MdocErrorKind> {
    let raw = &doc_buf[item.start..item.end];
    let inner = tag24_content(doc_buf, item)?;
    // One pass over the IssuerSignedItem map: digestID, elementIdentifier and the raw
    // elementValue are all that verification needs (first occurrence of each); the same walk
    // checks that the embedded item is one whole, well-formed map.
    let (mut id, mut ident, mut value) = (None, None, None);
    let end = for_each_entry(inner, 0, |k, v| {
        let slot = match key_bytes(inner, k) {
            Some(b"digestID") => &mut id,
            Some(b"elementIdentifier") => &mut ident,
            Some(b"elementValue") => &mut value,
            _ => return Ok(()),
        };
        slot.get_or_insert(v);
        Ok(())
    })?;
    if end != inner.len() {
        return Err(MdocErrorKind::Cbor);
    }
    let id = id
        .and_then(|s| uint_at(inner, s))
        .ok_or(structure("digestID"))?;
    let expected = digests
        .iter()
        .find(|(k, _)| *k == id)
        .and_then(|(_, d)| *d)
        .ok_or(MdocErrorKind::DigestMismatch)?;
    if !alg.matches(raw, expected) {
        return Err(MdocErrorKind::DigestMismatch);
    }
    let identifier = ident
        .ok_or(structure("elementIdentifier"))
        .and_then(|s| text_raw(inner, s).ok_or(structure("elementIdentifier")))?;
    let value = value.ok_or(structure("elementValue"))?;
    Ok(IssuerSignedElement {
        namespace: ns.to_owned(),
        identifier: identifier.to_owned(),
        value_cbor: inner[value.start..value.end].to_vec(),
    })
}

/// A `tdate` (tag 0 over RFC 3339 text; untagged text tolerated) as Unix seconds.
fn tdate(buf: &[u8], span: Span) -> Result<i64, MdocErrorKind> {
    let text = match untag(buf, span) {
        Some((0, inner)) => text_raw(buf, inner),
        Some(_) => None,
        None => text_raw(buf, span),
    }
    .ok_or(structure("validityInfo tdate"))?;
    OffsetDateTime::parse(text, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| structure("validityInfo tdate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tdate_forms() {
        // tag 0 over "2020-10-01T13:30:02Z", and the same text untagged.
        let text = b"2020-10-01T13:30:02Z";
        let mut tagged = vec![0xc0, 0x74];
        tagged.extend_from_slice(text);
        assert_eq!(tdate(&tagged, whole(&tagged)), Ok(1_601_559_002));
        assert_eq!(tdate(&tagged[1..], whole(&tagged[1..])), Ok(1_601_559_002));
        // Another tag (1, epoch) is refused.
        let mut other = tagged.clone();
        other[0] = 0xc1;
        assert_eq!(
            tdate(&other, whole(&other)),
            Err(structure("validityInfo tdate"))
        );
    }

    #[test]
    fn mso_payload_must_be_tag24() {
        // bstr(a0) without tag 24.
        assert_eq!(
            Mso::from_payload(&[0x41, 0xa0]).map(|_| ()),
            Err(structure("MobileSecurityObjectBytes"))
        );
        // tag24(bstr(a0)) with a trailing byte.
        assert_eq!(
            Mso::from_payload(&[0xd8, 0x18, 0x41, 0xa0, 0x00]).map(|_| ()),
            Err(MdocErrorKind::Cbor)
        );
        let empty = Mso::from_payload(&[0xd8, 0x18, 0x41, 0xa0]).unwrap();
        assert_eq!(empty.digest_alg(), Err(MdocErrorKind::DigestAlgorithm));
        assert_eq!(empty.check_validity(0), Err(structure("validityInfo")));
        assert_eq!(empty.device_key(), Err(MdocErrorKind::DeviceKey));
    }

    #[test]
    fn digest_algorithms() {
        let d = openssl::sha::sha256(b"abc");
        assert!(DigestAlg::Sha256.matches(b"abc", &d));
        assert!(!DigestAlg::Sha256.matches(b"abd", &d));
        assert!(!DigestAlg::Sha384.matches(b"abc", &d));
    }
}
