//! The plain TSV directory format of the corpus fixture (`directory.tsv`): header
//! `space, address, hcid, role, bal_type, source`, one mailbox per line; `#` lines and blank lines ignored.

use std::io::BufRead;

use super::lines::{Line, LineReader};
use super::{ImportErrorKind, RowError};
use crate::addressing::directory::{BoxType, Entry};
use crate::addressing::email::AddrSpec;
use crate::addressing::hcid::{Hcid, Participant};
use crate::addressing::space::{Role, Space};

/// Columns of the format.
const COLUMNS: usize = 6;

/// Iterator over the records of a TSV directory.
#[derive(Debug)]
pub(crate) struct TsvRecords<R> {
    lines: LineReader<R>,
}

impl<R: BufRead> TsvRecords<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            lines: LineReader::new(reader),
        }
    }
}

impl<R: BufRead> Iterator for TsvRecords<R> {
    type Item = Result<Entry, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.lines.next_line()? {
                Ok(Line::Text(t)) => t,
                Ok(Line::TooLong) => return Some(Err(self.err(ImportErrorKind::LineTooLong))),
                Ok(Line::NotUtf8) => return Some(Err(self.err(ImportErrorKind::NotUtf8))),
                Err(e) => return Some(Err(self.err(ImportErrorKind::Io(e)))),
            };
            if line.trim().is_empty()
                || line.starts_with('#')
                || (self.lines.line == 1 && line.starts_with("space\t"))
            {
                continue;
            }
            return Some(parse_row(&line).map_err(|k| self.err(k)));
        }
    }
}

impl<R> TsvRecords<R> {
    fn err(&self, kind: ImportErrorKind) -> RowError {
        RowError {
            line: self.lines.line,
            kind,
        }
    }
}

/// One fixture row.
fn parse_row(line: &str) -> Result<Entry, ImportErrorKind> {
    let cols: Vec<&str> = line.split('\t').collect();
    if cols.len() != COLUMNS && cols.len() != COLUMNS - 1 {
        return Err(ImportErrorKind::ColumnCount {
            got: cols.len(),
            want: COLUMNS,
        });
    }
    let space = match Space::parse(cols[0].trim()) {
        Ok(s @ (Space::Mssante | Space::Kim)) => s,
        _ => return Err(ImportErrorKind::UnknownSpace),
    };
    let address = AddrSpec::parse(cols[1].trim())
        .map_err(ImportErrorKind::Address)?
        .address();
    let hcid = Hcid::parse(cols[2].trim()).map_err(ImportErrorKind::Identifier)?;
    let role = match cols[3].trim() {
        "" => None,
        r => Some(Role::parse(r).map_err(|_| ImportErrorKind::UnknownRole)?),
    };
    let p = Participant::with_role(hcid, role).map_err(ImportErrorKind::Identifier)?;
    let box_type = match cols[4].trim() {
        "" => None,
        b => Some(BoxType::parse(b).ok_or(ImportErrorKind::UnknownBoxType)?),
    };
    let source = cols.get(5).map_or("tsv", |s| s.trim()).to_owned();
    Ok(Entry {
        space,
        address,
        hcid: p.hcid,
        role: p.role,
        box_type,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addressing::error::AddressError;

    #[test]
    fn rows_and_errors_with_line_numbers() {
        let text = "space\taddress\thcid\trole\tbal_type\tsource\n\
                    mssante\tA@x.mssante.fr\thcid:FR:rpps:10003456789\tnurse\tPER\tsrc\n\
                    \n\
                    mssante\tb@x.mssante.fr\thcid:FR:rpps:1000345678\t\tPER\tsrc\n\
                    ldap\tb@x.mssante.fr\thcid:FR:rpps:10003456789\t\tPER\tsrc\n\
                    kim\tc@x.kim.telematik\thcid:DE:telematik-id:1-1.58.00000040\tsurgeon\t\tsrc\n\
                    kim\tc@x.kim.telematik\n\
                    mssante\tc@x.mssante.fr\thcid:FR:finess:990000010\tnurse\tORG\tsrc\n\
                    mssante\td@x.mssante.fr\thcid:FR:finess:990000010\t\tBOX\tsrc\n";
        let out: Vec<_> = TsvRecords::new(text.as_bytes()).collect();
        let first = out[0].as_ref().unwrap();
        assert_eq!(first.address, "a@x.mssante.fr");
        assert_eq!(first.role, Some(Role::Nurse));
        let errs: Vec<_> = out[1..].iter().map(|r| r.clone().unwrap_err()).collect();
        assert_eq!(
            errs[0],
            RowError {
                line: 4,
                kind: ImportErrorKind::Identifier(AddressError::InvalidFormat)
            }
        );
        assert_eq!(
            errs[1],
            RowError {
                line: 5,
                kind: ImportErrorKind::UnknownSpace
            }
        );
        assert_eq!(
            errs[2],
            RowError {
                line: 6,
                kind: ImportErrorKind::UnknownRole
            }
        );
        assert_eq!(
            errs[3],
            RowError {
                line: 7,
                kind: ImportErrorKind::ColumnCount { got: 2, want: 6 }
            }
        );
        assert_eq!(
            errs[4],
            RowError {
                line: 8,
                kind: ImportErrorKind::Identifier(AddressError::RoleNotApplicable)
            }
        );
        assert_eq!(
            errs[5],
            RowError {
                line: 9,
                kind: ImportErrorKind::UnknownBoxType
            }
        );
    }
}
