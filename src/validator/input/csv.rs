//! Reader for VRP lists in CSV, as validators write them. Runs in the
//! validator process (unprivileged, chrooted, sandboxed), and in rovctl,
//! which reads files with it for `rovctl diff`: it reads from a stream it
//! is handed and touches no file, socket or privilege.
//!
//! The dialect is told by the header line, whose columns are found by
//! name, in any order and case, quoted or not:
//!
//! - rpki-client (`-c`): `ASN,IP Prefix,Max Length,Trust Anchor,Expires`,
//!   the ASN as `AS13335`, Expires in Unix seconds.
//! - Routinator `csv`: `ASN,IP Prefix,Max Length,Trust Anchor`.
//! - Routinator `csvcompat` and the RIPE NCC validator: the same columns,
//!   every field quoted, the ASN without `AS`.
//! - Routinator `csvext` and the RIPE NCC validator 1.x:
//!   `URI,ASN,IP Prefix,Max Length,Not Before,Not After`, the times as
//!   `2029-07-18 11:40:32` in UTC (or `N/A`); Not After is the expiry.
//!
//! ASN, IP Prefix and Max Length must be there; other columns are
//! ignored. A file without such a header (a bare list of rows) is refused
//! as a whole, since its columns cannot be known. A row with more or fewer
//! fields than the header, or with a bad value, is skipped and counted.

use std::io::Read;

use ::csv::{ByteRecord, ReaderBuilder, Terminator, Trim};

use super::item::{self, quote, ParseError, Payloads, Rejected, Timed};
use crate::payload::Vrp;

/// Read a CSV payload file whose first `skipped` lines were read already.
// The csv crate counts lines in a u64: lossless on 64-bit targets, and no
// payload file has 2^32 lines.
#[allow(clippy::cast_possible_truncation)]
pub(super) fn read<R: Read>(reader: R, skipped: usize) -> Result<(Payloads, Rejected), ParseError> {
    // Lines end at LF alone, so that CRLF files count lines alike: trimming
    // takes the CR off the last field. The LF added at the end lets the
    // reader's line count after a record name the record's own line.
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(Trim::All)
        .terminator(Terminator::Any(b'\n'))
        .from_reader(reader.chain(&b"\n"[..]));
    let mut record = ByteRecord::new();
    let mut next = |record: &mut ByteRecord| -> Result<Option<usize>, ParseError> {
        loop {
            if !reader.read_byte_record(record).map_err(parse_error)? {
                return Ok(None);
            }
            // A line of white space only is a blank line.
            if record.iter().any(|f| !f.is_empty()) {
                let inner = record.as_slice().iter().filter(|&&c| c == b'\n').count();
                return Ok(Some(
                    skipped + reader.position().line() as usize - 1 - inner,
                ));
            }
        }
    };
    let Some(line) = next(&mut record)? else {
        return Err(ParseError::at_line(skipped + 1, "empty file"));
    };
    let columns = Columns::find(&record).ok_or_else(|| {
        let fields: Vec<_> = record.iter().map(String::from_utf8_lossy).collect();
        let header = quote(&fields.join(","));
        ParseError::at_line(
            line,
            format!("no recognised header (ASN, IP Prefix and Max Length columns): {header}"),
        )
    })?;
    let mut payloads = Payloads::default();
    let mut rejected = Rejected::default();
    while let Some(line) = next(&mut record)? {
        match columns.vrp(&record) {
            Ok(vrp) => payloads.vrps.push(vrp),
            Err(reason) => rejected.record(format_args!("line {line}"), reason),
        }
    }
    payloads.shrink_to_fit();
    Ok((payloads, rejected))
}

#[allow(clippy::cast_possible_truncation)] // line numbers, as in `read`
fn parse_error(err: ::csv::Error) -> ParseError {
    if let ::csv::ErrorKind::Io(e) = err.kind() {
        ParseError::read_failed(e)
    } else {
        let line = err.position().map_or(0, |p| p.line() as usize);
        ParseError::at_line(line, err.to_string())
    }
}

//------------ Columns -------------------------------------------------------

/// Where the fields of a row are, by the header.
struct Columns {
    count: usize,
    asn: usize,
    prefix: usize,
    max_len: usize,
    expires: Option<(usize, Expiry)>,
}

/// How a file gives expiry times.
#[derive(Clone, Copy)]
enum Expiry {
    /// rpki-client's `Expires`: Unix seconds.
    Unix,
    /// `Not After`: a UTC date and time.
    NotAfter,
}

impl Columns {
    fn find(header: &ByteRecord) -> Option<Columns> {
        let (mut asn, mut prefix, mut max_len, mut expires) = (None, None, None, None);
        for (i, name) in header.iter().enumerate() {
            match name.to_ascii_lowercase().as_slice() {
                b"asn" => asn = Some(i),
                b"ip prefix" => prefix = Some(i),
                b"max length" => max_len = Some(i),
                b"expires" => expires = Some((i, Expiry::Unix)),
                b"not after" => expires = Some((i, Expiry::NotAfter)),
                _ => {}
            }
        }
        Some(Columns {
            count: header.len(),
            asn: asn?,
            prefix: prefix?,
            max_len: max_len?,
            expires,
        })
    }

    fn vrp(&self, row: &ByteRecord) -> Result<Timed<Vrp>, String> {
        if row.len() != self.count {
            return Err(format!(
                "{} fields, the header has {}",
                row.len(),
                self.count
            ));
        }
        let field = |i: usize, name: &str| {
            std::str::from_utf8(&row[i]).map_err(|_| format!("{name} is not UTF-8"))
        };
        let asn = item::asn_text(field(self.asn, "ASN")?, "ASN")?;
        let prefix = item::parse_prefix(field(self.prefix, "IP Prefix")?)?;
        let text = field(self.max_len, "Max Length")?;
        let max_len =
            number(text).ok_or_else(|| format!("Max Length is not a number: {}", quote(text)))?;
        let vrp = item::vrp(prefix, max_len, asn, "Max Length")?;
        let expires = match self.expires {
            None => None,
            Some((i, kind)) => {
                let name = match kind {
                    Expiry::Unix => "Expires",
                    Expiry::NotAfter => "Not After",
                };
                let text = field(i, name)?;
                match (text, kind) {
                    ("" | "N/A", _) => None,
                    (_, Expiry::Unix) => {
                        Some(number(text).ok_or_else(|| {
                            format!("Expires is not a Unix time: {}", quote(text))
                        })?)
                    }
                    (_, Expiry::NotAfter) => Some(
                        item::parse_time(text)
                            .ok_or_else(|| format!("Not After is not a time: {}", quote(text)))?,
                    ),
                }
            }
        };
        Ok(Timed::new(vrp, expires))
    }
}

/// A decimal number of at most 20 digits, nothing else.
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests;
