//! Reader for VRP lists in CSV, as validators write them. Runs in the
//! validator process, unprivileged: it reads from a stream it is handed
//! and touches no file, socket or privilege.
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

fn parse_error(err: ::csv::Error) -> ParseError {
    match err.kind() {
        ::csv::ErrorKind::Io(e) => ParseError::read_failed(e),
        _ => {
            let line = err.position().map_or(0, |p| p.line() as usize);
            ParseError::at_line(line, err.to_string())
        }
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
mod tests {
    use super::*;
    use crate::validator::input::{self, read, Format};

    macro_rules! fixture {
        ($name:literal) => {
            &include_bytes!(concat!("../../../tests/fixtures/inputs/", $name))[..]
        };
    }

    fn vrp(prefix: &str, max: u8, asn: u32) -> Vrp {
        Vrp::new(prefix.parse().unwrap(), max, asn).unwrap()
    }

    fn read_csv(bytes: &[u8]) -> (Payloads, Rejected) {
        read(bytes, Format::Csv).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn rpki_client() {
        for format in [Format::Auto, Format::Csv, Format::RpkiClient] {
            let (p, rej) = read(fixture!("rpki-client.csv"), format).unwrap();
            assert_eq!(rej, Rejected::default());
            assert_eq!(
                p.vrps,
                [
                    Timed::new(vrp("1.0.0.0/24", 24, 13335), Some(1_735_718_400)),
                    Timed::new(vrp("2001:db8::/32", 128, 0), Some(1_735_722_000)),
                    Timed::new(vrp("192.0.2.0/24", 28, 64496), Some(1_735_725_600)),
                ]
            );
            assert!(p.router_keys.is_empty() && p.aspas.is_empty());
            assert_eq!(p.generated, None);
        }
    }

    #[test]
    fn routinator_csv_and_csvcompat() {
        let want = [
            Timed::new(vrp("2001:7fb:fd03::/48", 48, 196_615), None),
            Timed::new(vrp("2001:7fb:fd04::/48", 48, 196_615), None),
            Timed::new(vrp("93.175.147.0/24", 24, 196_615), None),
        ];
        for bytes in [
            fixture!("routinator.csv"),
            fixture!("routinator-csvcompat.csv"),
        ] {
            let (p, rej) = read_csv(bytes);
            assert_eq!(rej, Rejected::default());
            assert_eq!(p.vrps, want);
        }
    }

    #[test]
    fn routinator_csvext() {
        let (p, rej) = read(fixture!("routinator-csvext.csv"), Format::Auto).unwrap();
        assert_eq!(rej, Rejected::default());
        assert_eq!(
            p.vrps,
            [
                // Not After 2029-07-18 11:40:32
                Timed::new(vrp("2001:43f8::/48", 128, 0), Some(1_879_069_232)),
                // Not After 2022-05-27 11:00:26
                Timed::new(vrp("2c0f:e9a8::/32", 128, 328_732), Some(1_653_649_226)),
                Timed::new(vrp("192.0.2.0/24", 24, 64496), None),
            ]
        );
    }

    #[test]
    fn headers_by_name() {
        // Any order and case, extra columns, CRLF, spaces, a byte order
        // mark, blank lines, duplicates kept.
        let text = "\u{feff}Trust Anchor , max length,ip prefix,Comment,asn\r\n\
                    ripe, 24, 192.0.2.0/24,\"a, b\", AS1\r\n\
                    \r\n\
                    ripe,24,192.0.2.0/24,,as1\r\n\r\n";
        let (p, rej) = read(text.as_bytes(), Format::Auto).unwrap();
        assert_eq!(rej, Rejected::default());
        let v = Timed::new(vrp("192.0.2.0/24", 24, 1), None);
        assert_eq!(p.vrps, [v, v]);
    }

    #[test]
    fn bad_rows() {
        let head = "ASN,IP Prefix,Max Length,Trust Anchor,Expires\n";
        let cases = [
            (
                "AS1,10.0.0.0/24,24,ripe",
                "line 2: 4 fields, the header has 5",
            ),
            (
                "AS1,10.0.0.0/24,24,ripe,1,2",
                "line 2: 6 fields, the header has 5",
            ),
            (
                "AS1,10.0.0.1/24,24,ripe,1",
                "line 2: host bits set in 10.0.0.1/24",
            ),
            (
                "AS1,10.0.0.0/33,33,ripe,1",
                "line 2: prefix length out of range in 10.0.0.0/33",
            ),
            (
                "AS1,10.0.0.0,24,ripe,1",
                "line 2: bad prefix syntax \"10.0.0.0\"",
            ),
            ("AS1,,24,ripe,1", "line 2: bad prefix syntax \"\""),
            (
                "AS1,10.0.0.0/24,23,ripe,1",
                "line 2: Max Length 23 is shorter than the prefix length in 10.0.0.0/24",
            ),
            (
                "AS1,10.0.0.0/24,33,ripe,1",
                "line 2: Max Length 33 exceeds the address length in 10.0.0.0/24",
            ),
            (
                "AS1,10.0.0.0/24,-24,ripe,1",
                "line 2: Max Length is not a number: \"-24\"",
            ),
            (
                "AS1,10.0.0.0/24,,ripe,1",
                "line 2: Max Length is not a number: \"\"",
            ),
            (
                "AS4294967296,10.0.0.0/24,24,ripe,1",
                "line 2: ASN 4294967296 out of range",
            ),
            (
                "ASx,10.0.0.0/24,24,ripe,1",
                "line 2: ASN is not an AS number: \"ASx\"",
            ),
            (
                "AS1,10.0.0.0/24,24,ripe,soon",
                "line 2: Expires is not a Unix time: \"soon\"",
            ),
            (
                "AS1,10.0.0.0/24,24,ripe,-1",
                "line 2: Expires is not a Unix time: \"-1\"",
            ),
            (
                "\"AS\n1\",10.0.0.0/24,24,ripe,1",
                "line 2: ASN is not an AS number: \"AS\\n1\"",
            ),
        ];
        for (row, want) in cases {
            let (p, rej) = read_csv(format!("{head}{row}\n").as_bytes());
            assert!(p.vrps.is_empty(), "{row}");
            assert_eq!(rej.first, [want], "{row}");
        }
        let (_, rej) = read_csv(b"ASN,IP Prefix,Max Length\n\xff\xfe,10.0.0.0/8,8\n");
        assert_eq!(rej.first, ["line 2: ASN is not UTF-8"]);
        let (_, rej) = read_csv(
            b"URI,ASN,IP Prefix,Max Length,Not Before,Not After\n\
              x,AS1,10.0.0.0/8,8,N/A,2029-13-01 00:00:00\n",
        );
        assert_eq!(
            rej.first,
            ["line 2: Not After is not a time: \"2029-13-01 00:00:00\""]
        );
    }

    #[test]
    fn line_numbers() {
        // Blank lines, CRLF, a quoted field over two lines, no final line
        // end: each reason names the line the row starts on.
        let text = "\r\nASN,IP Prefix,Max Length\r\n\r\n  \r\nAS1,10.0.0.1/8,8\r\n\
                    \"AS\r\n2\",10.0.0.0/8,8\n\n\nAS3,10.0.0.0/8,7\n\nAS4,10.0.0.0/8";
        let (p, rej) = read(text.as_bytes(), Format::Auto).unwrap();
        assert_eq!(p.vrps.len(), 0);
        assert_eq!(
            rej.first,
            [
                "line 5: host bits set in 10.0.0.1/8",
                "line 6: ASN is not an AS number: \"AS\\r\\n2\"",
                "line 10: Max Length 7 is shorter than the prefix length in 10.0.0.0/8",
                "line 12: 2 fields, the header has 3",
            ]
        );
    }

    #[test]
    fn bad_rows_do_not_spoil_the_rest() {
        let mut text = String::from("ASN,IP Prefix,Max Length,Trust Anchor\n");
        for i in 0..20 {
            text.push_str(&format!(
                "AS{i},10.{i}.0.0/16,16,ripe\nAS{i},10.{i}.0.1/16,16,ripe\n"
            ));
        }
        let (p, rej) = read_csv(text.as_bytes());
        assert_eq!(p.vrps.len(), 20);
        assert_eq!(rej.count, 20);
        assert_eq!(rej.first.len(), input::FIRST_REASONS);
        assert_eq!(rej.first[1], "line 5: host bits set in 10.1.0.1/16");
    }

    #[test]
    fn whole_file_errors() {
        let err = |bytes: &[u8]| read(bytes, Format::Auto).unwrap_err().to_string();
        // A list without a header, as some tools write it.
        assert_eq!(
            err(b"1.0.0.0, 24, 24, 13335\n1.0.4.0, 22, 24, 38803\n"),
            "line 1: no recognised header (ASN, IP Prefix and Max Length columns): \
             \"1.0.0.0,24,24,13335\""
        );
        assert_eq!(
            err(b"\n\nASN,Prefix,Max Length\nAS1,10.0.0.0/8,8\n"),
            "line 3: no recognised header (ASN, IP Prefix and Max Length columns): \
             \"ASN,Prefix,Max Length\""
        );
        assert!(err(b"asn;ip prefix;max length\n").starts_with("line 1: no recognised header"));
        assert!(err(b"\x00\x01\x02").starts_with("line 1: binary data"));
        assert!(err(b"\xff\xd8\xff\xe0 JFIF").starts_with("line 1: no recognised header"));
        assert_eq!(err(b"  \n"), "line 1: empty file");
    }
}
