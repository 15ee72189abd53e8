//! Payload input files: the types every reader returns, [`read`], which
//! tells JSON from CSV and hands the stream on, and the checks every item
//! passes whatever file it came from. Runs in the validator process,
//! unprivileged and sandboxed: it reads from a file that is already open
//! and touches nothing else.
//!
//! A file is JSON if its first character (after a byte order mark and
//! white space) is `{` or `[`, otherwise CSV; [`Format::Csv`] skips the
//! guess. The JSON shapes are described in [`super::json`], the CSV
//! dialects in [`super::csv`].
//!
//! An item that fails a check is skipped and counted in [`Rejected`]; only
//! a file that cannot be read as a whole is a [`ParseError`]. The checks:
//! AS numbers within 0..=4294967295 (`123`, `"123"`, `"AS123"` or
//! `"as123"`); a prefix in slash notation without host bits (a producer
//! that sets them is broken, so the item is rejected rather than
//! normalised); prefix length ≤ max length ≤ 32 or 128; an SKI of exactly
//! 20 octets; an SPKI that decodes and is one DER SEQUENCE filling the
//! buffer; an ASPA with a non-zero customer and at least one provider,
//! none of them the customer itself; an expiry time, where given, a
//! non-negative integer. Duplicates are kept (the snapshot removes them),
//! and so are several ASPA records for one customer and AS0 among other
//! providers (the snapshot merges them and drops the AS0).

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use super::{csv, json};
use crate::payload::{Aspa, Prefix, PrefixError, RouterKey, Vrp, SPKI_MAX_LEN};

pub use crate::config::Format;

/// How many rejection reasons [`Rejected`] keeps verbatim.
pub const FIRST_REASONS: usize = 10;

/// How much of an offending string a reason quotes.
const QUOTE_MAX: usize = 60;

/// The read buffer: large enough that a file is read in few system calls.
const BUFFER: usize = 64 * 1024;

//------------ Timed ---------------------------------------------------------

/// A payload item with the time it stops being valid, if the source says.
///
/// The time is kept as 32-bit Unix seconds so that a `Timed<Vrp>` takes
/// 28 octets, not 40; a time at or after 2106-02-07 06:28:15 UTC, which
/// 32 bits cannot hold, counts as no expiry.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timed<T> {
    pub item: T,
    expires: u32,
}

/// The stored expiry of an item that has none.
const NEVER: u32 = u32::MAX;

fn compact_time(t: Option<u64>) -> u32 {
    match t {
        Some(t) if t < u64::from(NEVER) => t as u32,
        _ => NEVER,
    }
}

impl<T> Timed<T> {
    /// An item that stops being valid at `expires` (Unix seconds).
    pub fn new(item: T, expires: Option<u64>) -> Self {
        Timed {
            item,
            expires: compact_time(expires),
        }
    }

    /// When the item stops being valid (Unix seconds), if ever.
    pub fn expires(&self) -> Option<u64> {
        (self.expires != NEVER).then_some(u64::from(self.expires))
    }

    /// Whether the item is no longer valid at `now` (Unix seconds). An
    /// item is still valid at its expiry time itself, as a certificate is
    /// at its notAfter.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires().is_some_and(|t| now > t)
    }

    /// Make the item expire at `at` at the latest.
    pub(super) fn expire_by(&mut self, at: u64) {
        self.expires = self.expires.min(compact_time(Some(at)));
    }
}

impl<T: fmt::Debug> fmt::Debug for Timed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.expires() {
            Some(t) => write!(f, "{:?} until {t}", self.item),
            None => write!(f, "{:?}", self.item),
        }
    }
}

//------------ Payloads, Rejected, ParseError --------------------------------

/// The valid items of one file, in file order. ASPA records are as written:
/// [`crate::payload::Snapshot::build`] merges them per customer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payloads {
    pub vrps: Vec<Timed<Vrp>>,
    pub router_keys: Vec<Timed<RouterKey>>,
    pub aspas: Vec<Timed<Aspa>>,
    /// When the producer made the data (Unix seconds), if the file says:
    /// rpki-client's `metadata.buildtime`, StayRTR's and GoRTR's
    /// `metadata.generated`, Routinator's `metadata.generated` or
    /// `generatedTime`.
    pub generated: Option<u64>,
}

impl Payloads {
    /// Make every item expire at `at` at the latest.
    pub(super) fn expire_by(&mut self, at: u64) {
        self.vrps.iter_mut().for_each(|t| t.expire_by(at));
        self.router_keys.iter_mut().for_each(|t| t.expire_by(at));
        self.aspas.iter_mut().for_each(|t| t.expire_by(at));
    }

    /// Give back spare capacity: these vectors live until the next read.
    pub(super) fn shrink_to_fit(&mut self) {
        self.vrps.shrink_to_fit();
        self.router_keys.shrink_to_fit();
        self.aspas.shrink_to_fit();
    }
}

/// Items that were skipped: how many, and the reasons for the first
/// [`FIRST_REASONS`] of them, each naming the record, e.g.
/// `roas[17]: host bits set in 10.0.0.1/24` or `line 12: ASN is missing`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejected {
    pub count: usize,
    pub first: Vec<String>,
}

impl Rejected {
    pub(super) fn record(&mut self, at: impl fmt::Display, reason: impl fmt::Display) {
        self.count += 1;
        if self.first.len() < FIRST_REASONS {
            self.first.push(format!("{at}: {reason}"));
        }
    }
}

/// Why a whole file could not be read: the position (lines and columns
/// count from 1; line 0 is a read error with no position) and the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: Option<usize>,
    pub reason: String,
}

impl ParseError {
    pub(super) fn at_line(line: usize, reason: impl Into<String>) -> Self {
        ParseError {
            line,
            column: None,
            reason: reason.into(),
        }
    }

    pub(super) fn read_failed(err: &std::io::Error) -> Self {
        ParseError::at_line(0, format!("read error: {err}"))
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => f.write_str(&self.reason),
            (line, Some(column)) => write!(f, "line {line}, column {column}: {}", self.reason),
            (line, None) => write!(f, "line {line}: {}", self.reason),
        }
    }
}

impl std::error::Error for ParseError {}

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

//------------ Item checks ---------------------------------------------------

/// An AS number given as a number.
pub(super) fn asn_number(n: u64, what: &str) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| format!("{what} {n} out of range"))
}

/// An AS number given as text: "123", "AS123" or "as123".
pub(super) fn asn_text(text: &str, what: &str) -> Result<u32, String> {
    let b = text.as_bytes();
    let digits = if b.len() >= 2 && b[..2].eq_ignore_ascii_case(b"as") {
        &text[2..]
    } else {
        text
    };
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("{what} is not an AS number: {}", quote(text)));
    }
    asn_number(digits.parse::<u64>().unwrap_or(u64::MAX), what)
}

/// "a.b.c.d/len" or "v6::/len", the address as std parses it, without
/// host bits.
pub(super) fn parse_prefix(text: &str) -> Result<Prefix, String> {
    text.parse().map_err(|e| match e {
        PrefixError::Syntax => format!("bad prefix syntax {}", quote(text)),
        PrefixError::HostBits => format!("host bits set in {text}"),
        PrefixError::Length => format!("prefix length out of range in {text}"),
    })
}

/// A VRP; `what` names the max length field in reasons.
pub(super) fn vrp(prefix: Prefix, max_len: u64, asn: u32, what: &str) -> Result<Vrp, String> {
    if max_len > u64::from(prefix.max_len_limit()) {
        return Err(format!(
            "{what} {max_len} exceeds the address length in {prefix}"
        ));
    }
    if max_len < u64::from(prefix.len()) {
        return Err(format!(
            "{what} {max_len} is shorter than the prefix length in {prefix}"
        ));
    }
    Vrp::new(prefix, max_len as u8, asn).map_err(|e| format!("{e} in {prefix}"))
}

/// Exactly 40 hex digits, either case.
pub(super) fn parse_ski(text: &str) -> Option<[u8; 20]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = text.as_bytes();
    if b.len() != 40 {
        return None;
    }
    let mut ski = [0u8; 20];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        ski[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(ski)
}

/// A decoded SubjectPublicKeyInfo: non-empty, no longer than a Router Key
/// PDU carries, and one DER SEQUENCE whose length octets match the data.
/// Only the outer structure is checked; the router verifies the key.
pub(super) fn spki(bytes: Vec<u8>, what: &str) -> Result<Box<[u8]>, String> {
    if bytes.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if bytes.len() > SPKI_MAX_LEN {
        return Err(format!("{what} of {} octets is too long", bytes.len()));
    }
    der_sequence(&bytes).map_err(|e| format!("{what} is not a DER SEQUENCE: {e}"))?;
    Ok(bytes.into_boxed_slice())
}

/// X.690 §8.1, §10.1: tag 0x30, definite length in the fewest octets, and
/// header plus content exactly the buffer.
fn der_sequence(b: &[u8]) -> Result<(), String> {
    if b[0] != 0x30 {
        return Err(format!("tag 0x{:02x}", b[0]));
    }
    let (len, header) = match *b.get(1).ok_or("no length octets")? {
        n @ 0..=0x7f => (usize::from(n), 2),
        0x80 => return Err("indefinite length".into()),
        n => {
            let k = usize::from(n & 0x7f);
            let octets = b
                .get(2..2 + k)
                .filter(|_| k <= 3)
                .ok_or("bad length octets")?;
            let len = octets.iter().fold(0, |a, &o| a << 8 | usize::from(o));
            if octets[0] == 0 || len < 0x80 {
                return Err("length not in the fewest octets".into());
            }
            (len, 2 + k)
        }
    };
    if len == 0 {
        return Err("empty".into());
    }
    if header + len != b.len() {
        return Err(format!(
            "length octets say {len} octets, {} follow",
            b.len() - header
        ));
    }
    Ok(())
}

/// An ASPA record as written; merging is the snapshot's job.
pub(super) fn aspa(customer: u32, providers: Vec<u32>) -> Result<Aspa, String> {
    if customer == 0 {
        // The ASPA profile's CustomerASID is 1..4294967295.
        return Err("customer AS0 is not allowed".to_string());
    }
    if providers.is_empty() {
        return Err(format!("empty providers for AS{customer}"));
    }
    if providers.contains(&customer) {
        return Err(format!("customer AS{customer} listed as its own provider"));
    }
    Ok(Aspa {
        customer,
        providers,
    })
}

/// A UTC date and time as Unix seconds: "2021-07-27T18:56:02Z" (ISO 8601,
/// as rpki-client and Routinator write metadata) or "2029-07-18 11:40:32"
/// (Routinator's csvext and the RIPE NCC validator); fractions of a second
/// are ignored, an offset other than Z or +00:00 is refused.
pub(super) fn parse_time(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u64> {
        b[from..to].iter().try_fold(0, |a, &d| {
            d.is_ascii_digit().then(|| a * 10 + u64::from(d - b'0'))
        })
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let rest = &text[19..];
    let rest = match rest.strip_prefix('.') {
        Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => {
            r.trim_start_matches(|c: char| c.is_ascii_digit())
        }
        Some(_) => return None,
        None => rest,
    };
    if !matches!(rest, "" | "Z" | "z" | "+00:00") {
        return None;
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if y < 1970 || !(1..=12).contains(&mo) || d == 0 || d > month_days[mo as usize - 1] {
        return None;
    }
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3_600 + mi * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date from 1970 on
/// (H. Hinnant's algorithm, eras of 400 years starting in March).
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A string for a reason line, cut short so a hostile file cannot flood
/// the log.
pub(super) fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX) {
        Some((cut, _)) => format!("{:?}...", &s[..cut]),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[test]
    fn compact_items() {
        assert_eq!(std::mem::size_of::<Timed<Vrp>>(), 28);
        assert!(std::mem::size_of::<Timed<RouterKey>>() <= 48);
        assert!(std::mem::size_of::<Timed<Aspa>>() <= 40);
    }

    #[test]
    fn expiry_times() {
        let t = Timed::new((), Some(1_700_000_000));
        assert_eq!(t.expires(), Some(1_700_000_000));
        assert!(!t.is_expired(1_700_000_000));
        assert!(t.is_expired(1_700_000_001));
        assert_eq!(Timed::new((), Some(0)).expires(), Some(0));
        assert_eq!(Timed::new((), None).expires(), None);
        assert!(!Timed::new((), None).is_expired(u64::MAX));
        // Beyond 32 bits of seconds: in 2106, as good as never.
        assert_eq!(
            Timed::new((), Some(4_294_967_294)).expires(),
            Some(4_294_967_294)
        );
        assert_eq!(Timed::new((), Some(4_294_967_295)).expires(), None);
        assert_eq!(Timed::new((), Some(u64::MAX)).expires(), None);
        let mut t = Timed::new((), None);
        t.expire_by(5);
        assert_eq!(t.expires(), Some(5));
        t.expire_by(9);
        assert_eq!(t.expires(), Some(5));
    }

    #[test]
    fn asns() {
        assert_eq!(asn_text("AS13335", "asn"), Ok(13335));
        assert_eq!(asn_text("as0", "asn"), Ok(0));
        assert_eq!(asn_text("As4294967295", "asn"), Ok(u32::MAX));
        assert_eq!(asn_text("64496", "asn"), Ok(64496));
        assert_eq!(
            asn_text("AS4294967296", "asn"),
            Err("asn 4294967296 out of range".to_string())
        );
        assert_eq!(
            asn_text("AS99999999999999999999999", "asn"),
            Err("asn is not an AS number: \"AS99999999999999999999999\"".to_string())
        );
        for bad in ["", "AS", "AS-1", "AS 1", " 1", "1.5", "ASN1", "+1"] {
            assert!(asn_text(bad, "asn").is_err(), "{bad:?}");
        }
        assert_eq!(asn_number(4_294_967_295, "x"), Ok(u32::MAX));
        assert!(asn_number(1 << 32, "x").is_err());
    }

    #[test]
    fn prefixes_and_vrps() {
        let p = parse_prefix("192.0.2.0/24").unwrap();
        assert_eq!(p.to_string(), "192.0.2.0/24");
        assert_eq!(
            parse_prefix("10.0.0.1/24"),
            Err("host bits set in 10.0.0.1/24".to_string())
        );
        assert_eq!(
            parse_prefix("10.0.0.0/33"),
            Err("prefix length out of range in 10.0.0.0/33".to_string())
        );
        assert!(parse_prefix("2001:DB8::/32").is_ok());
        for bad in [
            "10.0.0.0",
            "10.0.0/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/0008",
            "x::/8",
        ] {
            assert!(
                parse_prefix(bad)
                    .unwrap_err()
                    .starts_with("bad prefix syntax"),
                "{bad}"
            );
        }
        assert_eq!(
            vrp(p, 23, 1, "maxLength"),
            Err("maxLength 23 is shorter than the prefix length in 192.0.2.0/24".to_string())
        );
        assert_eq!(
            vrp(p, 33, 1, "Max Length"),
            Err("Max Length 33 exceeds the address length in 192.0.2.0/24".to_string())
        );
        assert_eq!(vrp(p, 32, 7, "maxLength").unwrap().max_len, 32);
        let six = parse_prefix("2001:db8::/32").unwrap();
        assert!(vrp(six, 128, 7, "maxLength").is_ok());
        assert!(vrp(six, 129, 7, "maxLength").is_err());
    }

    #[test]
    fn spki_structure() {
        let mut good = vec![0x30, 0x03, 0x02, 0x01, 0x05];
        assert!(spki(good.clone(), "pubkey").is_ok());
        let mut long = vec![0x30, 0x81, 0x80];
        long.extend([0u8; 0x80]);
        assert!(spki(long.clone(), "pubkey").is_ok());
        let cases: [(Vec<u8>, &str); 8] = [
            (vec![], "pubkey is empty"),
            (vec![0x31, 0x00], "pubkey is not a DER SEQUENCE: tag 0x31"),
            (vec![0x30], "pubkey is not a DER SEQUENCE: no length octets"),
            (
                vec![0x30, 0x80, 0x00, 0x00],
                "pubkey is not a DER SEQUENCE: indefinite length",
            ),
            (vec![0x30, 0x00], "pubkey is not a DER SEQUENCE: empty"),
            (
                vec![0x30, 0x04, 0x02, 0x01, 0x05],
                "pubkey is not a DER SEQUENCE: length octets say 4 octets, 3 follow",
            ),
            (
                vec![0x30, 0x81, 0x03, 0x02, 0x01, 0x05],
                "pubkey is not a DER SEQUENCE: length not in the fewest octets",
            ),
            (
                vec![0x30, 0x82, 0x01],
                "pubkey is not a DER SEQUENCE: bad length octets",
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                spki(bytes.clone(), "pubkey").unwrap_err(),
                want,
                "{bytes:02x?}"
            );
        }
        good.push(0);
        assert!(spki(good, "pubkey").is_err());
        long[2] = 0x7f;
        assert!(spki(long, "pubkey").is_err());
        let mut huge = vec![0x30, 0x83, 0x01, 0x00, 0x00];
        huge.resize(5 + 0x10000, 0);
        assert_eq!(
            spki(huge, "pubkey").unwrap_err(),
            "pubkey of 65541 octets is too long"
        );
    }

    #[test]
    fn aspa_rules() {
        assert_eq!(
            aspa(5, vec![7, 0, 7]),
            Ok(Aspa {
                customer: 5,
                providers: vec![7, 0, 7]
            })
        );
        assert_eq!(aspa(5, vec![]).unwrap_err(), "empty providers for AS5");
        assert_eq!(
            aspa(5, vec![1, 5]).unwrap_err(),
            "customer AS5 listed as its own provider"
        );
        assert_eq!(aspa(0, vec![1]).unwrap_err(), "customer AS0 is not allowed");
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2021-07-27T18:56:02Z"), Some(1_627_412_162));
        assert_eq!(parse_time("2023-05-30T14:10:41Z"), Some(1_685_455_841));
        assert_eq!(parse_time("2029-07-18 11:40:32"), Some(1_879_069_232));
        assert_eq!(parse_time("2000-02-29T00:00:00+00:00"), Some(951_782_400));
        assert_eq!(parse_time("2023-05-30T14:10:41.250Z"), Some(1_685_455_841));
        assert_eq!(parse_time("2106-02-07T06:28:15Z"), Some(4_294_967_295));
        for bad in [
            "",
            "N/A",
            "2023-05-30",
            "2023-05-30T14:10:41+02:00",
            "2023-05-30T14:10:41.Z",
            "2023-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-00-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2023-05-30T24:00:00Z",
            "2023-05-30X14:10:41Z",
            "２０２３-05-30T14:10:41Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

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

    #[test]
    fn error_display() {
        let e = ParseError {
            line: 4,
            column: Some(18),
            reason: "EOF while parsing".into(),
        };
        assert_eq!(e.to_string(), "line 4, column 18: EOF while parsing");
        assert_eq!(
            ParseError::at_line(12, "no recognised header").to_string(),
            "line 12: no recognised header"
        );
    }

    #[test]
    fn format_names() {
        #[derive(Deserialize)]
        struct Conf {
            format: Format,
        }
        for (text, want) in [
            ("auto", Format::Auto),
            ("rpki-client", Format::RpkiClient),
            ("stayrtr", Format::Stayrtr),
            ("routinator", Format::Routinator),
            ("rtrtr", Format::Rtrtr),
            ("csv", Format::Csv),
        ] {
            let c: Conf = toml::from_str(&format!("format = \"{text}\"")).unwrap();
            assert_eq!(c.format, want);
        }
        assert!(toml::from_str::<Conf>("format = \"rpki_client\"").is_err());
    }
}
