//! Raw CBOR navigation (RFC 8949) over the received bytes. ISO/IEC 18013-5 section 9.1.2.4 hashes
//! each `IssuerSignedItemBytes` exactly as received, and DeviceAuthentication embeds the received
//! `DeviceNameSpacesBytes`; re-encoding a decoded value could change a length form and break the
//! digest silently. This module therefore locates items by byte span; values themselves are
//! decoded with `ciborium`, with a recursion limit.

use ciborium::Value;

use super::MdocErrorKind;

/// Deepest CBOR nesting walked or decoded. An mdoc is at most ~8 levels deep (DeviceResponse ->
/// documents -> issuerSigned -> nameSpaces -> item -> value -> driving_privileges ...); 32 leaves
/// room for nested element values.
pub const MAX_CBOR_DEPTH: usize = 32;

/// A byte span `[start, end)` of one CBOR data item inside a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Initial byte decoded: major type, argument (`None` for indefinite length) and header length.
fn head(buf: &[u8], pos: usize) -> Result<(u8, Option<u64>, usize), MdocErrorKind> {
    let ib = *buf.get(pos).ok_or(MdocErrorKind::Cbor)?;
    let (major, info) = (ib >> 5, ib & 0x1f);
    let n = match info {
        0..=23 => return Ok((major, Some(u64::from(info)), 1)),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        31 if matches!(major, 2..=5 | 7) => return Ok((major, None, 1)),
        _ => return Err(MdocErrorKind::Cbor),
    };
    let bytes = buf.get(pos + 1..pos + 1 + n).ok_or(MdocErrorKind::Cbor)?;
    let arg = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    Ok((major, Some(arg), 1 + n))
}

/// Returns the end offset of the item starting at `pos`.
pub(crate) fn skip(buf: &[u8], pos: usize, depth: usize) -> Result<usize, MdocErrorKind> {
    if depth > MAX_CBOR_DEPTH {
        return Err(MdocErrorKind::Cbor);
    }
    let (major, arg, hl) = head(buf, pos)?;
    let mut p = pos + hl;
    match (major, arg) {
        (0 | 1 | 7, Some(_)) => Ok(p),
        (2 | 3, Some(len)) => {
            let len = usize::try_from(len).map_err(|_| MdocErrorKind::Cbor)?;
            let end = p
                .checked_add(len)
                .filter(|e| *e <= buf.len())
                .ok_or(MdocErrorKind::Cbor)?;
            Ok(end)
        }
        (4 | 5, Some(n)) => {
            let items = if major == 5 {
                n.checked_mul(2).ok_or(MdocErrorKind::Cbor)?
            } else {
                n
            };
            // Every item takes at least one byte, so a count beyond the buffer is malformed.
            if items > (buf.len() - p) as u64 {
                return Err(MdocErrorKind::Cbor);
            }
            for _ in 0..items {
                p = skip(buf, p, depth + 1)?;
            }
            Ok(p)
        }
        (6, Some(_)) => skip(buf, p, depth + 1),
        (2..=5 | 7, None) => {
            // Indefinite length: items until the break byte 0xff.
            loop {
                if *buf.get(p).ok_or(MdocErrorKind::Cbor)? == 0xff {
                    return Ok(p + 1);
                }
                p = skip(buf, p, depth + 1)?;
            }
        }
        _ => Err(MdocErrorKind::Cbor),
    }
}

/// Spans of the entries of the array at `pos` (definite or indefinite length).
pub(crate) fn array_items(buf: &[u8], pos: usize) -> Result<Vec<Span>, MdocErrorKind> {
    items(buf, pos, 4)?.collect()
}

/// The items of the array (`want` = 4) or map (`want` = 5, keys and values alternating) at `pos`,
/// walked lazily: looking a field up allocates nothing and stops at the first match.
pub(crate) fn items(buf: &[u8], pos: usize, want: u8) -> Result<Items<'_>, MdocErrorKind> {
    let (major, arg, hl) = head(buf, pos)?;
    if major != want {
        return Err(MdocErrorKind::Cbor);
    }
    let remaining = match arg {
        Some(n) if want == 5 => Some(n.checked_mul(2).ok_or(MdocErrorKind::Cbor)?),
        other => other,
    };
    Ok(Items {
        buf,
        pos: pos + hl,
        remaining,
        done: false,
    })
}

/// Iterator over the item spans of one array or map; see [`items`]. After an error it ends.
#[derive(Debug)]
pub(crate) struct Items<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Items left for a definite length, `None` for an indefinite one (ends at the break byte).
    remaining: Option<u64>,
    done: bool,
}

impl Iterator for Items<'_> {
    type Item = Result<Span, MdocErrorKind>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.remaining {
            Some(0) => {
                self.done = true;
                return None;
            }
            Some(ref mut n) => *n -= 1,
            None => match self.buf.get(self.pos) {
                Some(0xff) => {
                    self.done = true;
                    // Past the break byte: `pos` is then the end of the container.
                    self.pos += 1;
                    return None;
                }
                Some(_) => {}
                None => {
                    self.done = true;
                    return Some(Err(MdocErrorKind::Cbor));
                }
            },
        }
        match skip(self.buf, self.pos, 1) {
            Ok(end) => {
                let span = Span {
                    start: self.pos,
                    end,
                };
                self.pos = end;
                Some(Ok(span))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Items<'_> {
    /// The end offset of the container, once the iterator has returned `None`.
    pub(crate) fn end(&self) -> usize {
        self.pos
    }
}

/// Walks the map at `pos` once, calling `f(key, value)` for each entry in order; returns the
/// end offset of the map (every key and value has been walked, so the map is well formed).
pub(crate) fn for_each_entry(
    buf: &[u8],
    pos: usize,
    mut f: impl FnMut(Span, Span) -> Result<(), MdocErrorKind>,
) -> Result<usize, MdocErrorKind> {
    let mut it = items(buf, pos, 5)?;
    while let Some(k) = it.next() {
        let v = it.next().ok_or(MdocErrorKind::Cbor)??;
        f(k?, v)?;
    }
    Ok(it.end())
}

/// The value span for text key `key` in the map at `pos` (the first entry with that key).
pub(crate) fn map_get(buf: &[u8], pos: usize, key: &str) -> Result<Option<Span>, MdocErrorKind> {
    let mut it = items(buf, pos, 5)?;
    while let Some(k) = it.next() {
        let v = it.next().ok_or(MdocErrorKind::Cbor)??;
        if is_text(buf, k?, key) {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// The value span for integer label `label` in the map at `pos` (COSE headers and keys, RFC 9052
/// section 3 and section 7), the first entry with that label.
pub(crate) fn map_get_label(
    buf: &[u8],
    pos: usize,
    label: i64,
) -> Result<Option<Span>, MdocErrorKind> {
    let mut it = items(buf, pos, 5)?;
    while let Some(k) = it.next() {
        let v = it.next().ok_or(MdocErrorKind::Cbor)??;
        if int_at(buf, k?) == Some(label) {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// The whole of `buf` as one span.
pub(crate) fn whole(buf: &[u8]) -> Span {
    Span {
        start: 0,
        end: buf.len(),
    }
}

/// The major type of the item at `span`.
pub(crate) fn major_at(buf: &[u8], span: Span) -> Option<u8> {
    buf.get(span.start).map(|b| b >> 5)
}

/// Whether the item at `span` is the simple value `null` (RFC 8949 section 3.3).
pub(crate) fn is_null(buf: &[u8], span: Span) -> bool {
    buf.get(span.start..span.end) == Some(&[0xf6][..])
}

/// The tag number and content span of the tagged item at `span`, if it is one (major type 6).
pub(crate) fn untag(buf: &[u8], span: Span) -> Option<(u64, Span)> {
    match head(buf, span.start) {
        Ok((6, Some(tag), hl)) => Some((
            tag,
            Span {
                start: span.start + hl,
                end: span.end,
            },
        )),
        _ => None,
    }
}

/// The integer at `span`, if it is one that fits an `i64` (major types 0 and 1).
pub(crate) fn int_at(buf: &[u8], span: Span) -> Option<i64> {
    match head(buf, span.start) {
        Ok((0, Some(n), _)) => i64::try_from(n).ok(),
        // Major type 1 encodes -1 - n (RFC 8949 section 3.1).
        Ok((1, Some(n), _)) => i64::try_from(n).ok().map(|n| -1 - n),
        _ => None,
    }
}

/// The content of the definite-length byte string at `span`, borrowed, if it is one.
pub(crate) fn bytes_raw(buf: &[u8], span: Span) -> Option<&[u8]> {
    match head(buf, span.start) {
        Ok((2, Some(_), hl)) => buf.get(span.start + hl..span.end),
        _ => None,
    }
}

/// Whether the item at `span` is the definite-length text string `key`, compared on the raw
/// bytes (no decoding: map lookups run for every field of every document).
fn is_text(buf: &[u8], span: Span, key: &str) -> bool {
    match head(buf, span.start) {
        Ok((3, Some(len), hl)) => {
            len == key.len() as u64 && buf.get(span.start + hl..span.end) == Some(key.as_bytes())
        }
        _ => false,
    }
}

/// The unsigned integer at `span`, if it is one (major type 0).
pub(crate) fn uint_at(buf: &[u8], span: Span) -> Option<u64> {
    match head(buf, span.start) {
        Ok((0, Some(n), _)) => Some(n),
        _ => None,
    }
}

/// The bytes of the definite-length text string at `span`, without UTF-8 validation: for
/// comparing map keys with known ASCII names (a match is then valid UTF-8 by construction).
pub(crate) fn key_bytes(buf: &[u8], span: Span) -> Option<&[u8]> {
    match head(buf, span.start) {
        Ok((3, Some(_), hl)) => buf.get(span.start + hl..span.end),
        _ => None,
    }
}

/// The definite-length text string at `span`, borrowed, if it is one.
pub(crate) fn text_raw(buf: &[u8], span: Span) -> Option<&str> {
    match head(buf, span.start) {
        Ok((3, Some(_), hl)) => std::str::from_utf8(buf.get(span.start + hl..span.end)?).ok(),
        _ => None,
    }
}

/// Decodes one CBOR item with the depth limit; trailing bytes are refused.
pub(crate) fn decode(bytes: &[u8]) -> Result<Value, MdocErrorKind> {
    let end = skip(bytes, 0, 0)?;
    if end != bytes.len() {
        return Err(MdocErrorKind::Cbor);
    }
    ciborium::de::from_reader_with_recursion_limit(bytes, MAX_CBOR_DEPTH)
        .map_err(|_| MdocErrorKind::Cbor)
}

/// Encodes a value (only for structures we build ourselves: Sig_structure, MAC_structure, handovers).
pub(crate) fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail for a Value tree built by this crate.
    if ciborium::ser::into_writer(v, &mut out).is_err() {
        out.clear();
    }
    out
}

/// Encodes a CBOR head for `major` with `len`, in shortest form (RFC 8949 section 4.2.1).
pub(crate) fn encode_head(major: u8, len: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    match len {
        0..=23 => out.push(m | len as u8),
        24..=0xff => out.extend([m | 24, len as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((len as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend((len as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend(len.to_be_bytes());
        }
    }
}

/// `tag24(bstr(content))` (RFC 8949 section 3.4.5.1, "Encoded CBOR data item").
pub(crate) fn tag24(content: &[u8]) -> Vec<u8> {
    let mut out = vec![0xd8, 0x18];
    encode_head(2, content.len() as u64, &mut out);
    out.extend_from_slice(content);
    out
}

/// The embedded bytes of the `tag24(bstr)` item at `span`, without copying or decoding them.
pub(crate) fn tag24_content(buf: &[u8], span: Span) -> Result<&[u8], MdocErrorKind> {
    if buf.get(span.start..span.start + 2) != Some(&[0xd8, 0x18][..]) {
        return Err(MdocErrorKind::Cbor);
    }
    let (major, arg, hl) = head(buf, span.start + 2)?;
    let len = match (major, arg) {
        (2, Some(len)) => usize::try_from(len).map_err(|_| MdocErrorKind::Cbor)?,
        _ => return Err(MdocErrorKind::Cbor),
    };
    let start = span.start + 2 + hl;
    match start.checked_add(len) {
        Some(end) if end == span.end => Ok(&buf[start..end]),
        _ => Err(MdocErrorKind::Cbor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_keep_non_shortest_encodings() {
        // {"a": tag24(bstr with a 1-byte length written in 2 bytes)}
        let buf = [0xa1, 0x61, b'a', 0xd8, 0x18, 0x58, 0x01, 0x00];
        let v = map_get(&buf, 0, "a").unwrap().unwrap();
        assert_eq!(&buf[v.start..v.end], &[0xd8, 0x18, 0x58, 0x01, 0x00]);
        assert_eq!(map_get(&buf, 0, "b").unwrap(), None);
    }

    #[test]
    fn malformed_and_hostile_lengths() {
        assert_eq!(
            skip(&[0x5a, 0xff, 0xff, 0xff, 0xff], 0, 0),
            Err(MdocErrorKind::Cbor)
        );
        assert_eq!(
            skip(
                &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                0,
                0
            ),
            Err(MdocErrorKind::Cbor)
        );
        let deep = vec![0x81; 100];
        assert_eq!(skip(&deep, 0, 0), Err(MdocErrorKind::Cbor));
        assert_eq!(decode(&[0x01, 0x02]), Err(MdocErrorKind::Cbor));
        assert_eq!(array_items(&[0x9f, 0x01, 0x02, 0xff], 0).unwrap().len(), 2);
    }

    #[test]
    fn tag24_encoding() {
        assert_eq!(tag24(&[0xa0]), vec![0xd8, 0x18, 0x41, 0xa0]);
    }
}
