//! Payload input files: [`read`] tells JSON from CSV and hands the stream
//! to the reader of that format. Runs in the validator process
//! (unprivileged, chrooted, sandboxed), on files that are already open,
//! and in rovctl, which reads files with it for `rovctl diff`.
//!
//! A file is JSON if its first character (after a byte order mark and
//! white space) is `{` or `[`, otherwise CSV; [`Format::Csv`] skips the
//! guess. The JSON shapes of rpki-client, StayRTR and GoRTR, Routinator
//! and RTRTR are described in [`json`], the CSV dialects of rpki-client,
//! Routinator and the RIPE NCC validator in [`csv`]. Both readers judge
//! each item with the checks in [`item`], skip and count in [`Rejected`]
//! what fails them, and give a [`ParseError`] only for a file that cannot
//! be read as a whole.
//!
//! - `item` — what every reader returns, and the checks of each item
//! - `json`, `csv` — one reader each, using `item` and nothing else here

pub mod csv;
pub mod item;
pub mod json;

use std::io::{BufRead, BufReader, Read};

pub use self::item::{Format, ParseError, Payloads, Rejected, Timed, FIRST_REASONS};

/// The read buffer: large enough that a file is read in few system calls.
const BUFFER: usize = 64 * 1024;

//------------ read ----------------------------------------------------------

/// Read a whole payload file from `reader`, which need not be buffered.
///
/// The file is streamed: what stays in memory is the result and a read
/// buffer. Invalid items are skipped and counted in [`Rejected`]; an
/// empty, binary, truncated or malformed file is a [`ParseError`].
pub fn read(reader: impl Read, format: Format) -> Result<(Payloads, Rejected), ParseError> {
    let mut reader = BufReader::with_capacity(BUFFER, reader);
    let start = Start::skip(&mut reader)?;
    let res = match start.first {
        None => return Err(ParseError::at_line(1, "empty file")),
        Some(b'{' | b'[') if format != Format::Csv => json::read(reader, format),
        Some(_) if start.binary => {
            return Err(ParseError::at_line(
                start.lines + 1,
                "binary data, neither JSON nor CSV",
            ))
        }
        Some(_) => return csv::read(reader, start.lines),
    };
    res.map_err(|e| start.shift(e))
}

/// Where the content of a file starts: what was skipped and the first
/// character after it.
struct Start {
    first: Option<u8>,
    binary: bool,
    /// Line ends skipped.
    lines: usize,
    /// Characters skipped since the last of them.
    columns: usize,
}

impl Start {
    fn skip(reader: &mut impl BufRead) -> Result<Start, ParseError> {
        let failed = |e| ParseError::read_failed(&e);
        let mut start = Start {
            first: None,
            binary: false,
            lines: 0,
            columns: 0,
        };
        let buf = reader.fill_buf().map_err(failed)?;
        if buf.starts_with(b"\xef\xbb\xbf") {
            reader.consume(3);
        }
        loop {
            let buf = reader.fill_buf().map_err(failed)?;
            if buf.is_empty() {
                return Ok(start);
            }
            let ws = buf.iter().take_while(|c| c.is_ascii_whitespace()).count();
            for &c in &buf[..ws] {
                if c == b'\n' {
                    start.lines += 1;
                    start.columns = 0;
                } else {
                    start.columns += 1;
                }
            }
            if ws < buf.len() {
                start.first = Some(buf[ws]);
                start.binary = buf[ws..].contains(&0);
                reader.consume(ws);
                return Ok(start);
            }
            let n = buf.len();
            reader.consume(n);
        }
    }

    /// An error's position in the whole file rather than after the skip.
    fn shift(&self, mut e: ParseError) -> ParseError {
        if e.line == 0 {
            return e;
        }
        if e.line == 1 {
            e.column = e.column.map(|c| c + self.columns);
        }
        e.line += self.lines;
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_of_file() {
        let err = |bytes: &[u8]| read(bytes, Format::Auto).unwrap_err();
        assert_eq!(err(b"").to_string(), "line 1: empty file");
        assert_eq!(err(b" \n\t\r\n ").to_string(), "line 1: empty file");
        assert_eq!(err(b"\xef\xbb\xbf").to_string(), "line 1: empty file");
        assert_eq!(
            err(b"\n\n\x89PNG\r\n\x1a\n\0\0\0\rIHDR").to_string(),
            "line 3: binary data, neither JSON nor CSV"
        );
        // Positions count what was skipped.
        let e = err(b"\xef\xbb\xbf\n\n   {\"roas\": 5}");
        assert_eq!((e.line, e.column), (3, Some(14)), "{e}");
        let e = err(b"  {\"roas\": 5}");
        assert_eq!((e.line, e.column), (1, Some(13)), "{e}");
        // More white space than one buffer holds.
        let mut big = vec![b' '; BUFFER * 2 + 7];
        big.extend_from_slice(b"\n{\"roas\": 5}");
        let e = err(&big);
        assert_eq!((e.line, e.column), (2, Some(11)), "{e}");
        // A JSON file read as CSV.
        let e = read(&b"{\"roas\": []}"[..], Format::Csv).unwrap_err();
        assert!(e.reason.starts_with("no recognised header"), "{e}");
    }

    #[test]
    fn read_errors_have_no_position() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let e = read(Broken, Format::Auto).unwrap_err();
        assert_eq!(e.line, 0);
        assert_eq!(e.to_string(), "read error: disk on fire");
    }
}
