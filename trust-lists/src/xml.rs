//! Safe XML intake: bytes to a `roxmltree` document with the size, node-count and depth
//! limits of DESIGN.md "Bad input", and with any DOCTYPE refused (no entity expansion and
//! no external entity can ever be reached).

use crate::error::XmlErrorKind;

/// Largest list accepted, in bytes. The largest list published today (DE, RSA-PSS signed) is
/// a little over 4 MiB and FR 174 is 2.35 MB; 32 MiB leaves ample headroom while bounding memory.
pub const MAX_LIST_BYTES: usize = 32 * 1024 * 1024;

/// Largest number of XML nodes. FR 174 (2.35 MB) has about 120 000 nodes; a 32 MiB list of
/// the same density has under 2 million.
pub const MAX_XML_NODES: u32 = 4_000_000;

/// Deepest element nesting. TS 119 612 lists nest at most about 15 levels (TSP, service,
/// history, extensions, qualifiers, criteria); 64 allows odd but valid documents.
pub const MAX_XML_DEPTH: usize = 64;

/// UTF-8 byte order mark, tolerated before the XML declaration (the BOM variant of pivot 247).
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Checks size and encoding and returns the document text without a BOM.
pub(crate) fn decode(bytes: &[u8]) -> Result<&str, XmlErrorKind> {
    if bytes.len() > MAX_LIST_BYTES {
        return Err(XmlErrorKind::TooLarge {
            got: bytes.len(),
            limit: MAX_LIST_BYTES,
        });
    }
    let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    std::str::from_utf8(body).map_err(|e| XmlErrorKind::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })
}

/// Parses the text, refusing DTDs, and checks the depth limit.
pub(crate) fn parse(text: &str) -> Result<roxmltree::Document<'_>, XmlErrorKind> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
    };
    let doc = roxmltree::Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected
        | roxmltree::Error::EntityReferenceLoop(_)
        | roxmltree::Error::UnknownEntityReference(_, _) => XmlErrorKind::DoctypeRefused,
        roxmltree::Error::NodesLimitReached => XmlErrorKind::TooManyNodes {
            limit: MAX_XML_NODES,
        },
        other => {
            let pos = other.pos();
            XmlErrorKind::Malformed {
                line: pos.row,
                column: pos.col,
            }
        }
    })?;
    // roxmltree accepts an empty `<!DOCTYPE x>`; refuse any DOCTYPE in the prolog as well.
    let prolog = &text[..doc.root_element().range().start];
    if prolog.contains("<!DOCTYPE") || prolog.contains("<!ENTITY") {
        return Err(XmlErrorKind::DoctypeRefused);
    }
    check_depth(&doc)?;
    Ok(doc)
}

/// Iterative depth check so later recursive walks (C14N) are bounded by [`MAX_XML_DEPTH`].
fn check_depth(doc: &roxmltree::Document<'_>) -> Result<(), XmlErrorKind> {
    let mut stack = vec![(doc.root_element(), 1usize)];
    while let Some((node, depth)) = stack.pop() {
        if depth > MAX_XML_DEPTH {
            return Err(XmlErrorKind::TooDeep {
                limit: MAX_XML_DEPTH,
            });
        }
        stack.extend(
            node.children()
                .filter(|c| c.is_element())
                .map(|c| (c, depth + 1)),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billion_laughs_is_refused() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><lolz>&lol2;</lolz>"#;
        assert_eq!(parse(bomb).unwrap_err(), XmlErrorKind::DoctypeRefused);
    }

    #[test]
    fn empty_doctype_is_refused() {
        assert_eq!(
            parse("<!DOCTYPE a><a/>").unwrap_err(),
            XmlErrorKind::DoctypeRefused
        );
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_XML_DEPTH + 1),
            "</a>".repeat(MAX_XML_DEPTH + 1)
        );
        assert_eq!(
            parse(&deep).unwrap_err(),
            XmlErrorKind::TooDeep {
                limit: MAX_XML_DEPTH
            }
        );
    }

    #[test]
    fn bom_is_stripped_and_size_bounded() {
        assert_eq!(decode(b"\xEF\xBB\xBF<a/>").unwrap(), "<a/>");
        let big = vec![b' '; MAX_LIST_BYTES + 1];
        assert!(matches!(decode(&big), Err(XmlErrorKind::TooLarge { .. })));
    }

    #[test]
    fn malformed_is_located() {
        assert!(matches!(
            parse("<a><b></a>"),
            Err(XmlErrorKind::Malformed { line: 1, .. })
        ));
    }
}
