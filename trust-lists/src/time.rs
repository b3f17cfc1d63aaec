//! `xs:dateTime` handling for trusted lists: TS 119 612 clause 5.3.14 requires UTC
//! (`Z`); offsets and a missing designator are tolerated and read as UTC.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Parses an `xs:dateTime`; `None` if it is not one.
pub(crate) fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let base = s.split('.').next()?;
    PrimitiveDateTime::parse(base, &fmt)
        .ok()
        .map(|p| p.assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            parse_datetime("2026-08-03T13:16:38Z")
                .unwrap()
                .unix_timestamp(),
            1_785_762_998
        );
        assert!(parse_datetime("2026-08-03T13:16:38").is_some());
        assert!(parse_datetime("2026-08-03T13:16:38.123+02:00").is_some());
        assert!(parse_datetime("yesterday").is_none());
    }
}
