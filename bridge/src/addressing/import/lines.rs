//! A bounded line reader: one line at a time, never more than [`MAX_LINE_LEN`] octets buffered, so a file
//! without newlines cannot exhaust memory.

use std::io::{BufRead, ErrorKind};

/// Longest accepted line. An extraction row has 31 short columns (names, address lines), well under 4 KiB;
/// 64 KiB leaves a wide margin while bounding the buffer.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// One line read from the input.
#[derive(Debug)]
pub(crate) enum Line {
    /// A line (without its `\n` / `\r\n`).
    Text(String),
    /// A line over the limit (skipped up to its newline).
    TooLong,
    /// A line that is not UTF-8.
    NotUtf8,
}

/// Line reader with a line counter.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    reader: R,
    buf: Vec<u8>,
    /// 1-based number of the line last returned.
    pub(crate) line: u64,
    done: bool,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::new(),
            line: 0,
            done: false,
        }
    }

    /// The next line, `None` at the end, `Err` on a read fault (after which the reader is done).
    pub(crate) fn next_line(&mut self) -> Option<Result<Line, ErrorKind>> {
        if self.done {
            return None;
        }
        self.buf.clear();
        let mut too_long = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e.kind()));
                }
            };
            if chunk.is_empty() {
                self.done = true;
                if self.buf.is_empty() && !too_long {
                    return None;
                }
                break;
            }
            let (take, found) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                if self.buf.len() + take > MAX_LINE_LEN + 2 {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(&chunk[..take]);
                }
            }
            self.reader.consume(take);
            if found {
                break;
            }
        }
        self.line += 1;
        if too_long {
            return Some(Ok(Line::TooLong));
        }
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        if self.buf.len() > MAX_LINE_LEN {
            return Some(Ok(Line::TooLong));
        }
        match String::from_utf8(std::mem::take(&mut self.buf)) {
            Ok(s) => Some(Ok(Line::Text(s))),
            Err(_) => Some(Ok(Line::NotUtf8)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_counted_and_bounded() {
        let long = "x".repeat(MAX_LINE_LEN + 10);
        let input = format!("a\r\n{long}\nb\nc");
        let mut r = LineReader::new(input.as_bytes());
        assert!(matches!(r.next_line(), Some(Ok(Line::Text(t))) if t == "a"));
        assert!(matches!(r.next_line(), Some(Ok(Line::TooLong))));
        assert!(matches!(r.next_line(), Some(Ok(Line::Text(t))) if t == "b"));
        assert_eq!(r.line, 3);
        assert!(matches!(r.next_line(), Some(Ok(Line::Text(t))) if t == "c"));
        assert!(r.next_line().is_none());
        let mut r = LineReader::new(&b"a\xff\n"[..]);
        assert!(matches!(r.next_line(), Some(Ok(Line::NotUtf8))));
    }
}
