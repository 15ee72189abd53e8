//! What every payload reader takes and returns, the [`Format`] it reads,
//! [`Timed`] items in [`Payloads`], [`Rejected`] items and a [`ParseError`]
//! for a whole file, and the checks every item passes whatever file it
//! came from. Runs in the validator process (unprivileged, chrooted,
//! sandboxed), and in rovctl, which reads files with the same readers for
//! `rovctl diff`; it computes on what it is given and touches no file,
//! socket or privilege.
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

use crate::payload::{Aspa, Prefix, PrefixError, RouterKey, Vrp, SPKI_MAX_LEN};

pub use crate::config::Format;

/// How many rejection reasons [`Rejected`] keeps verbatim.
pub const FIRST_REASONS: usize = 10;

/// How much of an offending string a reason quotes.
const QUOTE_MAX: usize = 60;

//------------ Timed ---------------------------------------------------------

/// A payload item with the time it stops being valid, if the source says.
///
/// The time is kept as 32-bit Unix seconds so that a `Timed<Vrp>` takes
/// 28 octets, not 40; a time at or after 2106-02-07 06:28:15 UTC, which
/// 32 bits cannot hold, counts as no expiry.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timed<T> {
    /// The payload item.
    pub item: T,
    expires: u32,
}

/// The stored expiry of an item that has none.
const NEVER: u32 = u32::MAX;

fn compact_time(t: Option<u64>) -> u32 {
    match t.map(u32::try_from) {
        Some(Ok(t)) if t < NEVER => t,
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
    /// The VRPs (`roas` in JSON).
    pub vrps: Vec<Timed<Vrp>>,
    /// The BGPsec router keys (`bgpsec_keys`, `routerKeys`).
    pub router_keys: Vec<Timed<RouterKey>>,
    /// The ASPA records (`aspas`).
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
    pub fn shrink_to_fit(&mut self) {
        self.vrps.shrink_to_fit();
        self.router_keys.shrink_to_fit();
        self.aspas.shrink_to_fit();
    }
}

/// Items that were skipped: how many, and the reasons for the first
/// [`FIRST_REASONS`] of them, each naming the record, e.g.
/// `roas[17]: host bits set in 10.0.0.1/24` or `line 12: ASN is missing`.
/// The SLURM reader counts its skipped assertions and ignored comments in
/// one too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejected {
    /// How many items were skipped.
    pub count: usize,
    /// The reasons for the first of them, at most [`FIRST_REASONS`].
    pub first: Vec<String>,
}

impl Rejected {
    pub(in crate::validator) fn record(
        &mut self,
        at: impl fmt::Display,
        reason: impl fmt::Display,
    ) {
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
    /// The line, from 1; 0 for a read error.
    pub line: usize,
    /// The column, from 1, when the parser knows it.
    pub column: Option<usize>,
    /// What is wrong.
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

/// `a.b.c.d/len` or `v6::/len`, the address as std parses it, without
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
    #[allow(clippy::cast_possible_truncation)] // at most the family's limit, checked above
    let max_len = max_len as u8;
    Vrp::new(prefix, max_len, asn).map_err(|e| format!("{e} in {prefix}"))
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
#[allow(clippy::cast_possible_truncation)] // the month indexes only once it is 1 to 12
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
/// the log. SLURM errors quote with it too.
pub(in crate::validator) fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX) {
        Some((cut, _)) => format!("{:?}...", &s[..cut]),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests;
