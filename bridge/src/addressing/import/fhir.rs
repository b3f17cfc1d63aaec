//! placeholder
use std::io::BufRead;

use super::RowError;
use crate::addressing::directory::Entry;

pub(crate) fn parse_bundle<R: BufRead>(_reader: R) -> Vec<Result<Entry, RowError>> {
    Vec::new()
}
