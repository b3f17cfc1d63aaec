//! VZD LDAP entries as LDIF (RFC 2849; `gematik/api-vzd` `docs/LDAP_Attribute.adoc`): one entry per
//! blank-line-separated block, continuation lines start with one space, `attr:: base64`. Each KIM address of
//! an entry (`mail` values and the address part of `komLeData` = `<version>,<mail>`) becomes one record for
//! the entry's `telematikID`, with the role of its `professionOID`. Row numbers are the entry's first line.

use std::collections::VecDeque;
use std::io::BufRead;

use base64::Engine as _;

use super::lines::{Line, LineReader};
use super::{ImportErrorKind, RowError};
use crate::addressing::directory::Entry;
use crate::addressing::email::AddrSpec;
use crate::addressing::hcid::{Hcid, Participant};
use crate::addressing::scheme::Scheme;
use crate::addressing::space::{Role, Space};

/// Most attribute lines per entry: a VZD entry has a few dozen attributes; 1,000 bounds a hostile entry.
pub const MAX_LDIF_ATTRIBUTES: usize = 1000;

/// Value of [`Entry::source`] for rows of this format.
const SOURCE: &str = "vzd-ldif";

/// Iterator over the records of an LDIF file.
#[derive(Debug)]
pub(crate) struct LdifRecords<R> {
    lines: LineReader<R>,
    pending: VecDeque<Result<Entry, RowError>>,
    /// A line read past the end of the previous entry's last attribute (folding look-ahead).
    done: bool,
}

/// One attribute block being collected.
#[derive(Debug, Default)]
struct Block {
    start: u64,
    attrs: Vec<(String, String)>,
    error: Option<ImportErrorKind>,
}

impl<R: BufRead> LdifRecords<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            lines: LineReader::new(reader),
            pending: VecDeque::new(),
            done: false,
        }
    }

    /// Reads the next block; `None` at the end of input.
    fn read_block(&mut self) -> Option<Block> {
        let mut block = Block::default();
        let mut raw: Vec<String> = Vec::new();
        loop {
            let line = match self.lines.next_line() {
                None => break,
                Some(Ok(Line::Text(t))) => t,
                Some(Ok(Line::TooLong)) => {
                    block.error.get_or_insert(ImportErrorKind::LineTooLong);
                    String::from("#")
                }
                Some(Ok(Line::NotUtf8)) => {
                    block.error.get_or_insert(ImportErrorKind::NotUtf8);
                    String::from("#")
                }
                Some(Err(e)) => {
                    self.done = true;
                    block.error = Some(ImportErrorKind::Io(e));
                    break;
                }
            };
            if line.is_empty() {
                if raw.is_empty() && block.error.is_none() {
                    continue;
                }
                break;
            }
            if block.start == 0 {
                block.start = self.lines.line;
            }
            if let Some(cont) = line.strip_prefix(' ') {
                if let Some(last) = raw.last_mut() {
                    last.push_str(cont);
                    continue;
                }
            }
            if raw.len() >= MAX_LDIF_ATTRIBUTES {
                block.error.get_or_insert(ImportErrorKind::EntryTooLarge);
                continue;
            }
            raw.push(line);
        }
        if raw.is_empty() && block.error.is_none() {
            self.done = true;
            return None;
        }
        for line in raw.iter().filter(|l| !l.starts_with('#')) {
            let Some((name, value)) = line.split_once(':') else {
                block.error.get_or_insert(ImportErrorKind::Malformed {
                    line: block.start,
                    column: 1,
                });
                continue;
            };
            let value = if let Some(b64) = value.strip_prefix(':') {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok();
                match decoded.and_then(|d| String::from_utf8(d).ok()) {
                    Some(v) => v,
                    None => {
                        block.error.get_or_insert(ImportErrorKind::Malformed {
                            line: block.start,
                            column: 1,
                        });
                        continue;
                    }
                }
            } else {
                value.trim().to_owned()
            };
            block.attrs.push((name.trim().to_ascii_lowercase(), value));
        }
        Some(block)
    }
}

/// The records of one entry.
fn records(block: &Block) -> Vec<Result<Entry, RowError>> {
    let err = |kind| {
        vec![Err(RowError {
            line: block.start.max(1),
            kind,
        })]
    };
    if let Some(kind) = &block.error {
        return err(kind.clone());
    }
    let values = |name: &'static str| {
        block
            .attrs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let mut mails: Vec<&str> = values("mail").collect();
    // komLeData = "<KOM-LE version>,<mail>"; version 1.0 is assumed when missing.
    mails.extend(values("komledata").map(|k| k.split_once(',').map_or(k, |(_, m)| m).trim()));
    if mails.is_empty() {
        return Vec::new();
    }
    let Some(tid) = values("telematikid").next() else {
        return err(ImportErrorKind::NoIdentifier);
    };
    let hcid = match Hcid::from_scheme(Scheme::TelematikId, tid) {
        Ok(h) => h,
        Err(e) => return err(ImportErrorKind::Identifier(e)),
    };
    let role = values("professionoid").find_map(Role::from_profession_oid);
    let p = match Participant::with_role(hcid, role) {
        Ok(p) => p,
        Err(e) => return err(ImportErrorKind::Identifier(e)),
    };
    let mut out: Vec<Result<Entry, RowError>> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for mail in mails {
        let rec = AddrSpec::parse(mail)
            .map(|a| Entry {
                space: Space::Kim,
                address: a.address(),
                hcid: p.hcid.clone(),
                role: p.role,
                box_type: None,
                source: SOURCE.to_owned(),
            })
            .map_err(|e| RowError {
                line: block.start,
                kind: ImportErrorKind::Address(e),
            });
        if rec
            .as_ref()
            .map_or(true, |e| seen.insert(e.address.clone()))
        {
            out.push(rec);
        }
    }
    out
}

impl<R: BufRead> Iterator for LdifRecords<R> {
    type Item = Result<Entry, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Some(r);
            }
            if self.done {
                return None;
            }
            let block = self.read_block()?;
            self.pending.extend(records(&block));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addressing::error::AddressError;

    const LDIF: &str = "version: 1\n\n\
# a practice\n\
dn: uid=1,dc=data,dc=vzd\n\
telematikID: 1-1.58.00000040\n\
professionOID: 1.2.276.0.76.4.30\n\
mail: Dr.Mustermann@praxis-mustermann.kim.telematik\n\
komLeData: 1.5,dr.mustermann@praxis-mustermann.kim.tele\n matik\n\
komLeData: 1.5,zweit@praxis-mustermann.kim.telematik\n\
\n\
dn: uid=2,dc=data,dc=vzd\n\
telematikID:: OC0wMS0wMDAwMDAwMDkw\n\
mail: kasse@example.kim.telematik\n\
\n\
dn: uid=3,dc=data,dc=vzd\n\
telematikID: 6-1\n\
mail: x@example.kim.telematik\n\
\n\
dn: uid=4,dc=data,dc=vzd\n\
mail: y@example.kim.telematik\n\
\n\
dn: uid=5,dc=data,dc=vzd\n\
telematikID: 1-2\n";

    #[test]
    fn entries() {
        let out: Vec<_> = LdifRecords::new(LDIF.as_bytes()).collect();
        assert_eq!(out.len(), 5, "{out:#?}");
        let a = out[0].as_ref().unwrap();
        assert_eq!(a.address, "dr.mustermann@praxis-mustermann.kim.telematik");
        assert_eq!(
            (a.hcid.value(), a.role),
            ("1-1.58.00000040", Some(Role::Doctor))
        );
        assert_eq!(
            out[1].as_ref().unwrap().address,
            "zweit@praxis-mustermann.kim.telematik"
        );
        assert_eq!(out[2].as_ref().unwrap().hcid.value(), "8-01-0000000090");
        assert_eq!(
            out[3],
            Err(RowError {
                line: 16,
                kind: ImportErrorKind::Identifier(AddressError::InvalidFormat)
            })
        );
        assert_eq!(
            out[4],
            Err(RowError {
                line: 20,
                kind: ImportErrorKind::NoIdentifier
            })
        );
    }

    #[test]
    fn oversized_entry() {
        let text = format!(
            "dn: x\n{}",
            "mail: a@b.kim.telematik\n".repeat(MAX_LDIF_ATTRIBUTES + 1)
        );
        let out: Vec<_> = LdifRecords::new(text.as_bytes()).collect();
        assert_eq!(
            out,
            vec![Err(RowError {
                line: 1,
                kind: ImportErrorKind::EntryTooLarge
            })]
        );
    }
}
