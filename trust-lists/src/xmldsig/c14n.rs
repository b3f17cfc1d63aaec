//! Canonical XML over a `roxmltree` tree: inclusive C14N 1.0 (W3C REC-xml-c14n-20010315) and
//! exclusive C14N 1.0 (W3C REC-xml-exc-c14n-20020718), with or without comments, for the three
//! node-sets XMLDSig needs here: the whole document minus the enveloped signature, and the
//! subtree of one element (`SignedInfo`, `SignedProperties`, an `#id` reference).
//!
//! `roxmltree` does not keep prefixes, so qualified names are read back from the source text
//! through the node ranges; namespace nodes come from the in-scope namespaces of each element.

use roxmltree::{Node, NodeId};

/// The XML namespace, never rendered as a namespace node (C14N 1.0 clause 2.3).
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Canonicalisation algorithm with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Method {
    /// Inclusive C14N 1.0.
    Inclusive {
        /// `#WithComments` variant.
        comments: bool,
    },
    /// Exclusive C14N 1.0.
    Exclusive {
        /// `#WithComments` variant.
        comments: bool,
        /// `InclusiveNamespaces PrefixList` (`#default` is stored as the empty string).
        prefixes: Vec<String>,
    },
}

impl Method {
    /// The same method without comments: same-document references never include comments
    /// (XMLDSig 1.1 clause 4.4.3.3).
    pub(crate) fn without_comments(&self) -> Method {
        match self {
            Method::Inclusive { .. } => Method::Inclusive { comments: false },
            Method::Exclusive { prefixes, .. } => Method::Exclusive {
                comments: false,
                prefixes: prefixes.clone(),
            },
        }
    }

    fn comments(&self) -> bool {
        match self {
            Method::Inclusive { comments } | Method::Exclusive { comments, .. } => *comments,
        }
    }
}

/// Namespace declarations rendered by output ancestors: (prefix, uri), "" is the default.
type Rendered<'a> = Vec<(&'a str, &'a str)>;

/// Canonicalises the whole document, leaving out the subtree `exclude` (the enveloped
/// signature transform, XMLDSig clause 6.6.4).
pub(crate) fn document(
    doc: &roxmltree::Document<'_>,
    exclude: Option<NodeId>,
    method: &Method,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(doc.input_text().len());
    let root_el = doc.root_element();
    let mut after_root = false;
    for child in doc.root().children() {
        if child == root_el {
            element(child, &Vec::new(), exclude, method, false, &mut out);
            after_root = true;
            continue;
        }
        let rendered = match child.node_type() {
            roxmltree::NodeType::PI => pi(child, &mut Vec::new()),
            roxmltree::NodeType::Comment if method.comments() => comment(child, &mut Vec::new()),
            _ => None,
        };
        // C14N 1.0 clause 2.3: a line feed separates document-level PIs/comments from the root.
        if let Some(bytes) = rendered {
            if after_root {
                out.push(b'\n');
                out.extend_from_slice(&bytes);
            } else {
                out.extend_from_slice(&bytes);
                out.push(b'\n');
            }
        }
    }
    out
}

/// Canonicalises the subtree rooted at `apex` (a same-document reference or `SignedInfo`).
pub(crate) fn subtree(apex: Node<'_, '_>, method: &Method) -> Vec<u8> {
    subtree_excluding(apex, None, method)
}

/// Canonicalises the subtree rooted at `apex`, leaving out the subtree `exclude`.
pub(crate) fn subtree_excluding(
    apex: Node<'_, '_>,
    exclude: Option<NodeId>,
    method: &Method,
) -> Vec<u8> {
    let mut out = Vec::new();
    element(apex, &Vec::new(), exclude, method, true, &mut out);
    out
}

fn element<'a>(
    node: Node<'a, '_>,
    rendered: &Rendered<'a>,
    exclude: Option<NodeId>,
    method: &Method,
    is_apex: bool,
    out: &mut Vec<u8>,
) {
    let text = node.document().input_text();
    let qname = element_qname(node, text);
    let prefix = qname.split_once(':').map_or("", |(p, _)| p);

    // 1. Namespace nodes to render.
    let mut decls: Vec<(&'a str, &'a str)> = Vec::new();
    let in_scope = |p: &str| -> &'a str {
        node.namespaces()
            .find(|ns| ns.name().unwrap_or("") == p)
            .map_or("", |ns| ns.uri())
    };
    let already = |p: &str, uri: &str, rendered: &Rendered<'a>| -> bool {
        match rendered.iter().rev().find(|(rp, _)| *rp == p) {
            Some((_, ru)) => *ru == uri,
            // Nothing rendered for this prefix: an empty default needs no declaration.
            None => p.is_empty() && uri.is_empty(),
        }
    };
    match method {
        Method::Inclusive { .. } => {
            for ns in node.namespaces() {
                if ns.uri() == XML_NS {
                    continue;
                }
                let p = ns.name().unwrap_or("");
                if !already(p, ns.uri(), rendered) && !decls.iter().any(|(dp, _)| *dp == p) {
                    decls.push((p, ns.uri()));
                }
            }
            if node.namespaces().all(|ns| ns.name().is_some()) && !already("", "", rendered) {
                decls.push(("", ""));
            }
        }
        Method::Exclusive { prefixes, .. } => {
            let mut used: Vec<&str> = vec![prefix];
            for attr in node.attributes() {
                let aq = &text[attr.range_qname()];
                if let Some((p, _)) = aq.split_once(':') {
                    if p != "xml" {
                        used.push(p);
                    }
                }
            }
            for p in prefixes {
                if p.is_empty() || node.namespaces().any(|ns| ns.name() == Some(p.as_str())) {
                    used.push(p.as_str());
                }
            }
            for p in used {
                let uri = in_scope(p);
                if !already(p, uri, rendered) && !decls.iter().any(|(dp, _)| *dp == p) {
                    // The declaration's own slices live as long as the document.
                    let (dp, du) = node
                        .namespaces()
                        .find(|ns| ns.name().unwrap_or("") == p)
                        .map_or(("", ""), |ns| (ns.name().unwrap_or(""), ns.uri()));
                    if p.is_empty() && du.is_empty() {
                        decls.push(("", ""));
                    } else if !du.is_empty() {
                        decls.push((dp, du));
                    }
                }
            }
        }
    }
    decls.sort_unstable();

    // 2. Attributes, sorted by (namespace URI, local name); C14N 1.0 clause 2.2.
    let mut attrs: Vec<(&str, &str, &str, &str)> = node
        .attributes()
        .map(|a| {
            (
                a.namespace().unwrap_or(""),
                a.name(),
                &text[a.range_qname()],
                a.value(),
            )
        })
        .collect();
    if is_apex && matches!(method, Method::Inclusive { .. }) {
        // C14N 1.0 clause 2.4: xml:* attributes of omitted ancestors are inherited by the apex.
        for anc in node.ancestors().skip(1).filter(|a| a.is_element()) {
            for a in anc.attributes().filter(|a| a.namespace() == Some(XML_NS)) {
                if !attrs
                    .iter()
                    .any(|(ns, n, _, _)| *ns == XML_NS && *n == a.name())
                {
                    attrs.push((XML_NS, a.name(), &text[a.range_qname()], a.value()));
                }
            }
        }
    }
    attrs.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));

    out.push(b'<');
    out.extend_from_slice(qname.as_bytes());
    for (p, uri) in &decls {
        if p.is_empty() {
            out.extend_from_slice(b" xmlns=\"");
        } else {
            out.extend_from_slice(b" xmlns:");
            out.extend_from_slice(p.as_bytes());
            out.extend_from_slice(b"=\"");
        }
        escape_attr(uri, out);
        out.push(b'"');
    }
    for (_, _, q, v) in &attrs {
        out.push(b' ');
        out.extend_from_slice(q.as_bytes());
        out.extend_from_slice(b"=\"");
        escape_attr(v, out);
        out.push(b'"');
    }
    out.push(b'>');

    let mut child_rendered = rendered.clone();
    child_rendered.extend(decls.iter().copied());
    for child in node.children() {
        if Some(child.id()) == exclude {
            continue;
        }
        match child.node_type() {
            roxmltree::NodeType::Element => {
                element(child, &child_rendered, exclude, method, false, out)
            }
            roxmltree::NodeType::Text => escape_text(child.text().unwrap_or(""), out),
            roxmltree::NodeType::PI => {
                if let Some(b) = pi(child, &mut Vec::new()) {
                    out.extend_from_slice(&b);
                }
            }
            roxmltree::NodeType::Comment if method.comments() => {
                if let Some(b) = comment(child, &mut Vec::new()) {
                    out.extend_from_slice(&b);
                }
            }
            _ => {}
        }
    }
    out.extend_from_slice(b"</");
    out.extend_from_slice(qname.as_bytes());
    out.push(b'>');
}

/// The qualified name of an element, read from its start tag in the source.
pub(crate) fn element_qname<'t>(node: Node<'_, '_>, text: &'t str) -> &'t str {
    let start = node.range().start + 1;
    let rest = text.get(start..).unwrap_or("");
    let end = rest
        .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        .unwrap_or(rest.len());
    &rest[..end]
}

fn pi(node: Node<'_, '_>, out: &mut Vec<u8>) -> Option<Vec<u8>> {
    let p = node.pi()?;
    out.extend_from_slice(b"<?");
    out.extend_from_slice(p.target.as_bytes());
    if let Some(v) = p.value.filter(|v| !v.is_empty()) {
        out.push(b' ');
        out.extend_from_slice(v.as_bytes());
    }
    out.extend_from_slice(b"?>");
    Some(std::mem::take(out))
}

fn comment(node: Node<'_, '_>, out: &mut Vec<u8>) -> Option<Vec<u8>> {
    out.extend_from_slice(b"<!--");
    out.extend_from_slice(node.text().unwrap_or("").as_bytes());
    out.extend_from_slice(b"-->");
    Some(std::mem::take(out))
}

/// Text node escaping, C14N 1.0 clause 2.3 ("Text Nodes").
fn escape_text(s: &str, out: &mut Vec<u8>) {
    for b in s.bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            _ => out.push(b),
        }
    }
}

/// Attribute value escaping, C14N 1.0 clause 2.3 ("Attribute Nodes").
fn escape_attr(s: &str, out: &mut Vec<u8>) {
    for b in s.bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\t' => out.extend_from_slice(b"&#x9;"),
            b'\n' => out.extend_from_slice(b"&#xA;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exc() -> Method {
        Method::Exclusive {
            comments: false,
            prefixes: vec![],
        }
    }

    #[test]
    fn inclusive_document_example_3_2() {
        // W3C C14N 1.0 section 3.2 (start and end tags), abridged.
        let src = "<?xml version=\"1.0\"?>\n<doc>\r\n   <e1   />\n   <e3   name = \"elem3\"   id=\"elem3\"   />\n   <e5 a:attr=\"out\" b:attr=\"sorted\" attr2=\"all\" attr=\"I'm\"\n      xmlns:b=\"http://www.ietf.org\"\n      xmlns:a=\"http://www.w3.org\"\n      xmlns=\"http://example.org\"/>\n</doc>";
        let doc = roxmltree::Document::parse(src).unwrap();
        let got = document(&doc, None, &Method::Inclusive { comments: false });
        let want = "<doc>\n   <e1></e1>\n   <e3 id=\"elem3\" name=\"elem3\"></e3>\n   <e5 xmlns=\"http://example.org\" xmlns:a=\"http://www.w3.org\" xmlns:b=\"http://www.ietf.org\" attr=\"I'm\" attr2=\"all\" b:attr=\"sorted\" a:attr=\"out\"></e5>\n</doc>";
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }

    #[test]
    fn exclusive_subtree_drops_unused_namespaces() {
        let src = r#"<a xmlns:x="urn:x" xmlns:y="urn:y"><x:b y:c="1">t&amp;&lt;</x:b></a>"#;
        let doc = roxmltree::Document::parse(src).unwrap();
        let b = doc.root_element().first_element_child().unwrap();
        let got = subtree(b, &exc());
        assert_eq!(
            String::from_utf8(got).unwrap(),
            r#"<x:b xmlns:x="urn:x" xmlns:y="urn:y" y:c="1">t&amp;&lt;</x:b>"#
        );
        let inc = subtree(b, &Method::Inclusive { comments: false });
        assert_eq!(
            String::from_utf8(inc).unwrap(),
            r#"<x:b xmlns:x="urn:x" xmlns:y="urn:y" y:c="1">t&amp;&lt;</x:b>"#
        );
    }

    #[test]
    fn exclusive_default_namespace_and_undeclaration() {
        let src = r#"<a xmlns="urn:d" xmlns:u="urn:u"><b/><c xmlns=""><d/></c></a>"#;
        let doc = roxmltree::Document::parse(src).unwrap();
        let got = document(&doc, None, &exc());
        assert_eq!(
            String::from_utf8(got).unwrap(),
            r#"<a xmlns="urn:d"><b></b><c xmlns=""><d></d></c></a>"#
        );
    }

    #[test]
    fn enveloped_exclusion_and_comments() {
        let src = "<!--c--><a><!--in--><s>x</s><b>\r</b></a>";
        let doc = roxmltree::Document::parse(src).unwrap();
        let s = doc.root_element().first_element_child().unwrap();
        let got = document(&doc, Some(s.id()), &Method::Inclusive { comments: false });
        assert_eq!(String::from_utf8(got).unwrap(), "<a><b>\n</b></a>");
        let with = document(&doc, Some(s.id()), &Method::Inclusive { comments: true });
        assert_eq!(
            String::from_utf8(with).unwrap(),
            "<!--c-->\n<a><!--in--><b>\n</b></a>"
        );
    }
}
