//! The RTR wire format: every PDU of RFC 6810 (v0), RFC 8210 (v1) and
//! draft-ietf-sidrops-8210bis-27 (v2), encoded and decoded in one place.
//!
//! Runs in the rtr worker (unprivileged, sandboxed). Encoders append to a
//! `Vec<u8>`; the decoder only ever sees what routers may send (Serial
//! Query, Reset Query, Error Report) and checks every length before it
//! reads a field. Section numbers are 8210bis-27 unless marked otherwise.

use crate::payload::{Aspa, RouterKey, Vrp};

/// Octets in every PDU header (§5.1).
pub const HEADER_LEN: usize = 8;

/// The longest PDU either side may send (§5.1).
pub const MAX_LEN: usize = 65_535;

/// PDU type numbers (§5, IANA rpki-rtr-pdu).
pub mod kind {
    pub const SERIAL_NOTIFY: u8 = 0;
    pub const SERIAL_QUERY: u8 = 1;
    pub const RESET_QUERY: u8 = 2;
    pub const CACHE_RESPONSE: u8 = 3;
    pub const IPV4_PREFIX: u8 = 4;
    pub const IPV6_PREFIX: u8 = 6;
    pub const END_OF_DATA: u8 = 7;
    pub const CACHE_RESET: u8 = 8;
    pub const ROUTER_KEY: u8 = 9;
    pub const ERROR_REPORT: u8 = 10;
    pub const ASPA: u8 = 11;
}

/// The announce/withdraw flag, bit 0 of the Flags field.
const FLAG_ANNOUNCE: u8 = 1;

//------------ ErrorCode -----------------------------------------------------

/// Error Report codes (§12; RFC 8210 §12; RFC 6810 §10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum ErrorCode {
    CorruptData = 0,
    InternalError = 1,
    NoDataAvailable = 2,
    InvalidRequest = 3,
    UnsupportedVersion = 4,
    UnsupportedPduType = 5,
    WithdrawalOfUnknownRecord = 6,
    DuplicateAnnouncement = 7,
    UnexpectedVersion = 8,
    AspaProviderListError = 9,
    TransportFailure = 10,
    OrderingError = 11,
    CacheRestart = 12,
    CacheShutdown = 13,
}

impl ErrorCode {
    /// The code if `value` is defined for protocol `version`: v0 knows
    /// 0–7, v1 adds 8, v2 adds 9–13 (§12: only codes of the session's
    /// version may be sent or accepted).
    pub fn for_version(value: u16, version: u8) -> Option<ErrorCode> {
        use ErrorCode::*;
        let highest = match version {
            0 => 7,
            1 => 8,
            _ => 13,
        };
        if value > highest {
            return None;
        }
        Some(match value {
            0 => CorruptData,
            1 => InternalError,
            2 => NoDataAvailable,
            3 => InvalidRequest,
            4 => UnsupportedVersion,
            5 => UnsupportedPduType,
            6 => WithdrawalOfUnknownRecord,
            7 => DuplicateAnnouncement,
            8 => UnexpectedVersion,
            9 => AspaProviderListError,
            10 => TransportFailure,
            11 => OrderingError,
            12 => CacheRestart,
            _ => CacheShutdown,
        })
    }

    /// Whether the code ends the session. Only No Data Available,
    /// Unsupported Protocol Version (§7, non-fatal in v2) and Cache Restart
    /// are not fatal.
    pub fn is_fatal(self) -> bool {
        !matches!(
            self,
            ErrorCode::NoDataAvailable | ErrorCode::UnsupportedVersion | ErrorCode::CacheRestart
        )
    }

    /// Whether the code ends a session of `version`: as [`is_fatal`], but
    /// Unsupported Protocol Version is fatal in RFC 6810 and RFC 8210.
    ///
    /// [`is_fatal`]: ErrorCode::is_fatal
    pub fn is_fatal_in(self, version: u8) -> bool {
        self.is_fatal() || (self == ErrorCode::UnsupportedVersion && version < 2)
    }

    /// A short name for logs.
    pub fn name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            CorruptData => "Corrupt Data",
            InternalError => "Internal Error",
            NoDataAvailable => "No Data Available",
            InvalidRequest => "Invalid Request",
            UnsupportedVersion => "Unsupported Protocol Version",
            UnsupportedPduType => "Unsupported PDU Type",
            WithdrawalOfUnknownRecord => "Withdrawal of Unknown Record",
            DuplicateAnnouncement => "Duplicate Announcement Received",
            UnexpectedVersion => "Unexpected Protocol Version",
            AspaProviderListError => "ASPA Provider List Error",
            TransportFailure => "Transport Failure",
            OrderingError => "Ordering Error",
            CacheRestart => "Cache Restart",
            CacheShutdown => "Cache Shutdown",
        }
    }
}

//------------ Timers --------------------------------------------------------

/// The End of Data timers of v1 and v2 (§6), in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
}

//------------ Encoders ------------------------------------------------------

fn header(out: &mut Vec<u8>, version: u8, kind: u8, field: u16, len: usize) {
    debug_assert!(len <= MAX_LEN);
    out.push(version);
    out.push(kind);
    out.extend_from_slice(&field.to_be_bytes());
    out.extend_from_slice(&(len as u32).to_be_bytes());
}

/// Serial Notify (§5.2): 12 octets.
pub fn serial_notify(out: &mut Vec<u8>, version: u8, session: u16, serial: u32) {
    header(out, version, kind::SERIAL_NOTIFY, session, 12);
    out.extend_from_slice(&serial.to_be_bytes());
}

/// Cache Response (§5.5): 8 octets.
pub fn cache_response(out: &mut Vec<u8>, version: u8, session: u16) {
    header(out, version, kind::CACHE_RESPONSE, session, 8);
}

/// End of Data: 12 octets in v0 (RFC 6810 §5.8), 24 with the timers in v1
/// and v2 (§5.7).
pub fn end_of_data(out: &mut Vec<u8>, version: u8, session: u16, serial: u32, timers: &Timers) {
    if version == 0 {
        header(out, version, kind::END_OF_DATA, session, 12);
        out.extend_from_slice(&serial.to_be_bytes());
    } else {
        header(out, version, kind::END_OF_DATA, session, 24);
        out.extend_from_slice(&serial.to_be_bytes());
        out.extend_from_slice(&timers.refresh.to_be_bytes());
        out.extend_from_slice(&timers.retry.to_be_bytes());
        out.extend_from_slice(&timers.expire.to_be_bytes());
    }
}

/// Cache Reset (§5.6): 8 octets, zero session field.
pub fn cache_reset(out: &mut Vec<u8>, version: u8) {
    header(out, version, kind::CACHE_RESET, 0, 8);
}

/// IPv4 Prefix (§5.9, 20 octets) or IPv6 Prefix (§5.10, 32 octets).
pub fn vrp(out: &mut Vec<u8>, version: u8, announce: bool, vrp: &Vrp) {
    let octets = vrp.prefix.octets();
    let (kind, len) = if vrp.prefix.is_v6() {
        (kind::IPV6_PREFIX, 32)
    } else {
        (kind::IPV4_PREFIX, 20)
    };
    header(out, version, kind, 0, len);
    out.extend_from_slice(&[
        if announce { FLAG_ANNOUNCE } else { 0 },
        vrp.prefix.len(),
        vrp.max_len,
        0,
    ]);
    out.extend_from_slice(octets);
    out.extend_from_slice(&vrp.asn.to_be_bytes());
}

/// Router Key (§5.11; v1 and v2 only): 32 octets plus the SPKI.
pub fn router_key(out: &mut Vec<u8>, version: u8, announce: bool, key: &RouterKey) {
    debug_assert!(version >= 1);
    let flags = u16::from_be_bytes([if announce { FLAG_ANNOUNCE } else { 0 }, 0]);
    header(out, version, kind::ROUTER_KEY, flags, 32 + key.spki.len());
    out.extend_from_slice(&key.ski);
    out.extend_from_slice(&key.asn.to_be_bytes());
    out.extend_from_slice(&key.spki);
}

/// ASPA announcement (§5.12; v2 only): 12 octets plus 4 per provider.
pub fn aspa_announce(out: &mut Vec<u8>, version: u8, aspa: &Aspa) {
    debug_assert!(version >= 2 && !aspa.providers.is_empty());
    let flags = u16::from_be_bytes([FLAG_ANNOUNCE, 0]);
    header(
        out,
        version,
        kind::ASPA,
        flags,
        12 + 4 * aspa.providers.len(),
    );
    out.extend_from_slice(&aspa.customer.to_be_bytes());
    for p in &aspa.providers {
        out.extend_from_slice(&p.to_be_bytes());
    }
}

/// ASPA withdrawal (§5.12; v2 only): exactly 12 octets, no providers.
pub fn aspa_withdraw(out: &mut Vec<u8>, version: u8, customer: u32) {
    debug_assert!(version >= 2);
    header(out, version, kind::ASPA, 0, 12);
    out.extend_from_slice(&customer.to_be_bytes());
}

/// Error Report (§5.8). The erroneous PDU is copied, truncated so that the
/// report stays within [`MAX_LEN`]; the text is optional.
pub fn error_report(out: &mut Vec<u8>, version: u8, code: ErrorCode, pdu: &[u8], text: &str) {
    // The text is UTF-8 (§5.8): cut it at a character boundary, leaving
    // room for at least the first eight octets of the PDU.
    let mut cut = text.len().min(MAX_LEN - 16 - 8);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let text = &text.as_bytes()[..cut];
    let pdu = &pdu[..pdu.len().min(MAX_LEN - 16 - text.len())];
    header(
        out,
        version,
        kind::ERROR_REPORT,
        code as u16,
        16 + pdu.len() + text.len(),
    );
    out.extend_from_slice(&(pdu.len() as u32).to_be_bytes());
    out.extend_from_slice(pdu);
    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    out.extend_from_slice(text);
}

//------------ Decoding ------------------------------------------------------

/// The fixed header of every PDU (§5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub kind: u8,
    /// Session ID, Error Code, Flags or zero, depending on the type.
    pub field: u16,
    /// Length of the whole PDU including this header.
    pub len: u32,
}

impl Header {
    /// The header at the start of `buf`, if eight octets are there.
    pub fn parse(buf: &[u8]) -> Option<Header> {
        let b: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Header {
            version: b[0],
            kind: b[1],
            field: u16::from_be_bytes([b[2], b[3]]),
            len: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

/// The length of the PDU at the start of `buf` if all of it is there. A
/// header with an impossible length counts as complete at eight octets: the
/// session answers it with an error without waiting for a body.
pub fn complete_len(buf: &[u8]) -> Option<usize> {
    let h = Header::parse(buf)?;
    let len = h.len as usize;
    if !(HEADER_LEN..=MAX_LEN).contains(&len) {
        return Some(HEADER_LEN);
    }
    (buf.len() >= len).then_some(len)
}

/// A well-formed Error Report received from a router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorReport<'a> {
    pub code: u16,
    pub pdu: &'a [u8],
    pub text: &'a [u8],
}

impl<'a> ErrorReport<'a> {
    /// Parse a complete Error Report PDU; `None` if its inner lengths do
    /// not add up to its Length field or its text is not UTF-8 (§5.8).
    pub fn parse(pdu: &'a [u8]) -> Option<ErrorReport<'a>> {
        let h = Header::parse(pdu)?;
        if h.kind != kind::ERROR_REPORT || h.len as usize != pdu.len() || pdu.len() < 16 {
            return None;
        }
        let n = u32::from_be_bytes(pdu[8..12].try_into().ok()?) as usize;
        let rest = pdu.get(12..)?;
        let encapsulated = rest.get(..n)?;
        let rest = &rest[n..];
        let m = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let text = &rest[4..];
        if text.len() != m || std::str::from_utf8(text).is_err() {
            return None;
        }
        Some(ErrorReport {
            code: h.field,
            pdu: encapsulated,
            text,
        })
    }
}

/// Serial Query fields (§5.3), from a complete 12-octet PDU.
pub fn serial_query(pdu: &[u8]) -> Option<(u16, u32)> {
    let h = Header::parse(pdu)?;
    let serial = u32::from_be_bytes(pdu.get(8..12)?.try_into().ok()?);
    Some((h.field, serial))
}

#[cfg(test)]
mod tests;
