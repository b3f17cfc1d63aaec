//! The Annuaire Santé `Extraction_Correspondance_MSSante` file (background §1): UTF-8, `|`-separated, one
//! header line, 31 columns. Columns are found by name, tolerantly: case, accents, apostrophes, `de`/`d'` and
//! a ` structure BAL` suffix (seen in public loaders) are ignored, so header variants map to one key.

use std::io::BufRead;

use super::lines::{Line, LineReader};
use super::{ImportErrorKind, RowError};
use crate::addressing::directory::{BoxType, Entry};
use crate::addressing::email::AddrSpec;
use crate::addressing::hcid::{Hcid, Participant};
use crate::addressing::scheme::Scheme;
use crate::addressing::space::{Role, Space};

/// Value of [`Entry::source`] for rows of this format.
const SOURCE: &str = "annuaire-sante-mssante";

/// Normalised keys of the columns the importer reads.
const BOX_TYPE: &str = "type bal";
const ADDRESS: &str = "adresse bal";
const PP_TYPE: &str = "type identifiant pp";
const PP_ID: &str = "identifiant pp";
const PP_IDNAT: &str = "identification nationale pp";
const STRUCT_TYPE: &str = "type identifiant structure";
const STRUCT_ID: &str = "identification structure";
const PROFESSION: &str = "code profession";

/// Column positions found in the header.
#[derive(Debug, Clone, Copy)]
struct Columns {
    count: usize,
    box_type: usize,
    address: usize,
    pp_type: Option<usize>,
    pp_id: Option<usize>,
    pp_idnat: Option<usize>,
    struct_type: Option<usize>,
    struct_id: Option<usize>,
    profession: Option<usize>,
}

/// Iterator over the records of an extraction.
#[derive(Debug)]
pub(crate) struct MssanteRecords<R> {
    lines: LineReader<R>,
    columns: Option<Columns>,
    failed: bool,
}

impl<R: BufRead> MssanteRecords<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            lines: LineReader::new(reader),
            columns: None,
            failed: false,
        }
    }

    fn err(&self, kind: ImportErrorKind) -> RowError {
        RowError {
            line: self.lines.line.max(1),
            kind,
        }
    }
}

impl<R: BufRead> Iterator for MssanteRecords<R> {
    type Item = Result<Entry, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let line = match self.lines.next_line() {
                None if self.columns.is_none() => {
                    self.failed = true;
                    return Some(Err(self.err(ImportErrorKind::MissingHeader)));
                }
                None => return None,
                Some(Ok(Line::Text(t))) => t,
                Some(Ok(Line::TooLong)) => {
                    return Some(Err(self.err(ImportErrorKind::LineTooLong)))
                }
                Some(Ok(Line::NotUtf8)) => return Some(Err(self.err(ImportErrorKind::NotUtf8))),
                Some(Err(e)) => {
                    self.failed = true;
                    return Some(Err(self.err(ImportErrorKind::Io(e))));
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let Some(columns) = self.columns else {
                match parse_header(&line) {
                    Ok(c) => {
                        self.columns = Some(c);
                        continue;
                    }
                    Err(kind) => {
                        self.failed = true;
                        return Some(Err(self.err(kind)));
                    }
                }
            };
            return Some(parse_row(&columns, &line).map_err(|k| self.err(k)));
        }
    }
}

/// Header name → comparison key (see the module doc).
fn normalise_name(name: &str) -> String {
    let folded: String = name
        .trim_start_matches('\u{feff}')
        .chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' => 'e',
            'à' | 'â' => 'a',
            'î' | 'ï' => 'i',
            'ô' => 'o',
            'ù' | 'û' => 'u',
            'ç' => 'c',
            c if c.is_alphanumeric() => c.to_ascii_lowercase(),
            _ => ' ',
        })
        .collect();
    let mut words: Vec<&str> = folded
        .split_whitespace()
        .filter(|w| !matches!(*w, "de" | "d" | "du"))
        .collect();
    if words.len() > 2 && words[words.len() - 2..] == ["structure", "bal"] {
        words.truncate(words.len() - 2);
    }
    words.join(" ")
}

fn parse_header(line: &str) -> Result<Columns, ImportErrorKind> {
    let names: Vec<String> = line.split('|').map(normalise_name).collect();
    let find = |key: &str| names.iter().position(|n| n == key);
    Ok(Columns {
        count: names.len(),
        box_type: find(BOX_TYPE).ok_or(ImportErrorKind::MissingColumn("Type de BAL"))?,
        address: find(ADDRESS).ok_or(ImportErrorKind::MissingColumn("Adresse BAL"))?,
        pp_type: find(PP_TYPE),
        pp_id: find(PP_ID),
        pp_idnat: find(PP_IDNAT),
        struct_type: find(STRUCT_TYPE),
        struct_id: find(STRUCT_ID),
        profession: find(PROFESSION),
    })
}

fn parse_row(c: &Columns, line: &str) -> Result<Entry, ImportErrorKind> {
    let mut cols: Vec<&str> = line.split('|').map(str::trim).collect();
    if cols.len() == c.count + 1 && cols.last() == Some(&"") {
        cols.pop();
    }
    if cols.len() != c.count {
        return Err(ImportErrorKind::ColumnCount {
            got: cols.len(),
            want: c.count,
        });
    }
    let get = |i: Option<usize>| i.and_then(|i| cols.get(i)).copied().unwrap_or("");
    let box_type = BoxType::parse(get(Some(c.box_type))).ok_or(ImportErrorKind::UnknownBoxType)?;
    let address = AddrSpec::parse(get(Some(c.address)))
        .map_err(ImportErrorKind::Address)?
        .address();
    let person = || person_hcid(get(c.pp_idnat), get(c.pp_type), get(c.pp_id));
    let structure = || structure_hcid(get(c.struct_type), get(c.struct_id));
    let (hcid, role) = match box_type {
        BoxType::Per => (person()?, Role::from_mssante_profession(get(c.profession))),
        _ => match structure()? {
            Some(h) => (h, None),
            None => (person()?, None),
        },
    };
    let p = Participant::with_role(hcid, role).map_err(ImportErrorKind::Identifier)?;
    Ok(Entry {
        space: Space::Mssante,
        address,
        hcid: p.hcid,
        role: p.role,
        box_type: Some(box_type),
        source: SOURCE.to_owned(),
    })
}

/// The practitioner: IdNat_PS when present (`8`+RPPS → rpps), else `Type Identifiant PP` 8 = RPPS,
/// 0 = ADELI (background §1, PS extraction).
fn person_hcid(idnat: &str, ty: &str, id: &str) -> Result<Hcid, ImportErrorKind> {
    let made = match (idnat, ty) {
        (n, _) if !n.is_empty() => Hcid::from_scheme(Scheme::IdnatPs, n),
        (_, "8") if !id.is_empty() => Hcid::from_scheme(Scheme::Rpps, id),
        (_, "0") if !id.is_empty() => Hcid::from_scheme(Scheme::Adeli, id),
        _ => return Err(ImportErrorKind::NoIdentifier),
    };
    made.map_err(ImportErrorKind::Identifier)
}

/// The structure, from IdNat_Struct type codes (1 FINESS, 2 SIREN, 3 SIRET; background §1) or their
/// names; the id may carry the IdNat_Struct prefix digit (which gives the type when the type is empty). `Ok(None)` when there is no structure identifier; types v0 cannot
/// map (0 cabinet ADELI, 4 RPPS-rang) are [`ImportErrorKind::NoIdentifier`].
fn structure_hcid(ty: &str, id: &str) -> Result<Option<Hcid>, ImportErrorKind> {
    if id.is_empty() {
        return Ok(None);
    }
    // An empty type with an IdNat_Struct value: the prefix digit is the type.
    let ty = match ty {
        "" => id.get(..1).unwrap_or(""),
        t => t,
    };
    let (scheme, len, code) = match ty.to_ascii_uppercase().as_str() {
        "1" | "FINESS" => (Scheme::Finess, 9, "1"),
        "2" | "SIREN" => (Scheme::Siren, 9, "2"),
        "3" | "SIRET" => (Scheme::Siret, 14, "3"),
        _ => return Err(ImportErrorKind::NoIdentifier),
    };
    let id = match id.strip_prefix(code) {
        Some(rest) if id.len() == len + 1 => rest,
        _ => id,
    };
    Hcid::from_scheme(scheme, id)
        .map(Some)
        .map_err(ImportErrorKind::Identifier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addressing::error::AddressError;

    pub(crate) const HEADER: &str = "Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Identification nationale PP|Type identifiant structure|Identification Structure|Service de rattachement|Civilité d'exercice|Nom d'exercice|Prénom d'exercice|Catégorie profession|Libellé de catégorie profession|Code Profession|Libellé Profession|Code savoir-faire|Libellé savoir-faire|Dématérialisation|Raison Sociale structure BAL|Enseigne commerciale structure BAL|L2COMPLEMENTLOCALISATION|L3COMPLEMENTDISTRIBUTION|L4NUMEROVOIE|L4COMPLEMENTNUMEROVOIE|NL4TYPEVOIE|L4LIBELLEVOIE|L5LIEUDITMENTION|L6LIGNEACHEMINEMENT|Code postal|Département|Pays";

    #[allow(clippy::too_many_arguments)] // one argument per column under test
    fn row(
        ty: &str,
        addr: &str,
        pp_ty: &str,
        pp: &str,
        idnat: &str,
        st_ty: &str,
        st: &str,
        prof: &str,
    ) -> String {
        let mut cols = vec![""; 31];
        cols[0] = ty;
        cols[1] = addr;
        cols[2] = pp_ty;
        cols[3] = pp;
        cols[4] = idnat;
        cols[5] = st_ty;
        cols[6] = st;
        cols[13] = prof;
        cols.join("|")
    }

    #[test]
    fn header_variants_normalise() {
        assert_eq!(normalise_name("Type de BAL"), "type bal");
        assert_eq!(normalise_name("\u{feff}TYPE DE BAL"), "type bal");
        assert_eq!(
            normalise_name("Type d'identifiant PP"),
            "type identifiant pp"
        );
        assert_eq!(normalise_name("Code postal structure BAL"), "code postal");
        assert_eq!(normalise_name("Département"), "departement");
    }

    #[test]
    fn rows() {
        let text = [
            HEADER.to_owned(),
            row(
                "PER",
                "Jean-Marie.Dupont@infirmier.mssante.fr",
                "8",
                "10003456789",
                "810003456789",
                "",
                "",
                "60",
            ),
            row(
                "ORG",
                "secretariat@aura.mssante.fr",
                "",
                "",
                "",
                "1",
                "1750712184",
                "",
            ),
            row(
                "PER",
                "x@medecin.mssante.fr",
                "8",
                "1000345678",
                "",
                "",
                "",
                "10",
            ),
            row(
                "BAL",
                "y@medecin.mssante.fr",
                "8",
                "10003456789",
                "",
                "",
                "",
                "10",
            ),
            row(
                "ORG",
                "z@medecin.mssante.fr",
                "",
                "",
                "",
                "4",
                "410003456789/1",
                "",
            ),
            row(
                "APP",
                "app@hopitalb.mssante.fr",
                "",
                "",
                "",
                "",
                "378430177200025",
                "",
            ),
            row(
                "ORG",
                "w@aura.mssante.fr",
                "",
                "",
                "",
                "FINESS",
                "750712184",
                "",
            ),
            "PER|short".to_owned(),
        ]
        .join("\n");
        let out: Vec<_> = MssanteRecords::new(text.as_bytes()).collect();
        let e = out[0].as_ref().unwrap();
        assert_eq!(e.address, "jean-marie.dupont@infirmier.mssante.fr");
        assert_eq!(e.hcid.to_string(), "hcid:FR:rpps:10003456789");
        assert_eq!(
            (e.role, e.box_type),
            (Some(Role::Nurse), Some(BoxType::Per))
        );
        assert_eq!(
            out[1].as_ref().unwrap().hcid.to_string(),
            "hcid:FR:finess:750712184"
        );
        assert_eq!(
            out[2],
            Err(RowError {
                line: 4,
                kind: ImportErrorKind::Identifier(AddressError::InvalidFormat)
            })
        );
        assert_eq!(
            out[3],
            Err(RowError {
                line: 5,
                kind: ImportErrorKind::UnknownBoxType
            })
        );
        assert_eq!(
            out[4],
            Err(RowError {
                line: 6,
                kind: ImportErrorKind::NoIdentifier
            })
        );
        assert_eq!(
            out[5].as_ref().unwrap().hcid.to_string(),
            "hcid:FR:siret:78430177200025"
        );
        assert_eq!(
            out[6].as_ref().unwrap().hcid.to_string(),
            "hcid:FR:finess:750712184"
        );
        assert_eq!(
            out[7],
            Err(RowError {
                line: 9,
                kind: ImportErrorKind::ColumnCount { got: 2, want: 31 }
            })
        );
    }

    #[test]
    fn missing_header_or_column_is_fatal() {
        let out: Vec<_> = MssanteRecords::new(&b""[..]).collect();
        assert_eq!(
            out,
            vec![Err(RowError {
                line: 1,
                kind: ImportErrorKind::MissingHeader
            })]
        );
        let out: Vec<_> = MssanteRecords::new(&b"Type de BAL|Nom\nPER|x\n"[..]).collect();
        assert_eq!(
            out,
            vec![Err(RowError {
                line: 1,
                kind: ImportErrorKind::MissingColumn("Adresse BAL")
            })]
        );
    }
}
