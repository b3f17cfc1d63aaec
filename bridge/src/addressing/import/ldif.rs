//! placeholder
use std::io::BufRead;

use super::RowError;
use crate::addressing::directory::Entry;

#[derive(Debug)]
pub(crate) struct LdifRecords<R> {
    _r: R,
}
impl<R: BufRead> LdifRecords<R> {
    pub(crate) fn new(r: R) -> Self {
        Self { _r: r }
    }
}
impl<R: BufRead> Iterator for LdifRecords<R> {
    type Item = Result<Entry, RowError>;
    fn next(&mut self) -> Option<Self::Item> {
        None
    }
}
