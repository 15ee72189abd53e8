//! The encoders, one per PDU type: each appends one PDU to a `Vec<u8>`.
//!
//! Shared by every side of the protocol; no I/O, no privileges. The rtr
//! worker's cache calls the payload encoders once per item and serial to
//! build the buffers every session shares, so they write straight into
//! the buffer without an intermediate [`super::Pdu`].

use crate::payload::{Aspa, RouterKey, Vrp};

use super::{kind, ErrorCode, Serial, SessionId, Timers, Version, FLAG_ANNOUNCE, MAX_LEN};

// `len` is at most MAX_LEN, a u32; every caller bounds it.
#[allow(clippy::cast_possible_truncation)]
fn header(out: &mut Vec<u8>, version: Version, kind: u8, field: u16, len: usize) {
    debug_assert!(len <= MAX_LEN);
    out.push(version.number());
    out.push(kind);
    out.extend_from_slice(&field.to_be_bytes());
    out.extend_from_slice(&(len as u32).to_be_bytes());
}

fn flags(announce: bool) -> u8 {
    if announce {
        FLAG_ANNOUNCE
    } else {
        0
    }
}

/// Serial Notify (§5.2): 12 octets.
pub fn serial_notify(out: &mut Vec<u8>, version: Version, session: SessionId, serial: Serial) {
    header(out, version, kind::SERIAL_NOTIFY, session.0, 12);
    out.extend_from_slice(&serial.0.to_be_bytes());
}

/// Serial Query (§5.3): 12 octets.
pub fn serial_query(out: &mut Vec<u8>, version: Version, session: SessionId, serial: Serial) {
    header(out, version, kind::SERIAL_QUERY, session.0, 12);
    out.extend_from_slice(&serial.0.to_be_bytes());
}

/// Reset Query (§5.4): 8 octets, zero field.
pub fn reset_query(out: &mut Vec<u8>, version: Version) {
    header(out, version, kind::RESET_QUERY, 0, 8);
}

/// Cache Response (§5.5): 8 octets.
pub fn cache_response(out: &mut Vec<u8>, version: Version, session: SessionId) {
    header(out, version, kind::CACHE_RESPONSE, session.0, 8);
}

/// End of Data: 12 octets in v0 (RFC 6810 §5.8), 24 with the timers in v1
/// and v2 (§5.7).
pub fn end_of_data(
    out: &mut Vec<u8>,
    version: Version,
    session: SessionId,
    serial: Serial,
    timers: &Timers,
) {
    if version.has_timers() {
        header(out, version, kind::END_OF_DATA, session.0, 24);
        out.extend_from_slice(&serial.0.to_be_bytes());
        out.extend_from_slice(&timers.refresh.to_be_bytes());
        out.extend_from_slice(&timers.retry.to_be_bytes());
        out.extend_from_slice(&timers.expire.to_be_bytes());
    } else {
        header(out, version, kind::END_OF_DATA, session.0, 12);
        out.extend_from_slice(&serial.0.to_be_bytes());
    }
}

/// Cache Reset (§5.6): 8 octets, zero session field.
pub fn cache_reset(out: &mut Vec<u8>, version: Version) {
    header(out, version, kind::CACHE_RESET, 0, 8);
}

/// IPv4 Prefix (§5.9, 20 octets) or IPv6 Prefix (§5.10, 32 octets).
pub fn vrp(out: &mut Vec<u8>, version: Version, announce: bool, vrp: &Vrp) {
    let (kind, len) = if vrp.prefix.is_v6() {
        (kind::IPV6_PREFIX, 32)
    } else {
        (kind::IPV4_PREFIX, 20)
    };
    header(out, version, kind, 0, len);
    out.extend_from_slice(&[flags(announce), vrp.prefix.len(), vrp.max_len, 0]);
    out.extend_from_slice(vrp.prefix.octets());
    out.extend_from_slice(&vrp.asn.to_be_bytes());
}

/// Router Key (§5.11; v1 and v2 only): 32 octets plus the SPKI.
pub fn router_key(out: &mut Vec<u8>, version: Version, announce: bool, key: &RouterKey) {
    debug_assert!(version.has_router_keys());
    let field = u16::from_be_bytes([flags(announce), 0]);
    header(out, version, kind::ROUTER_KEY, field, 32 + key.spki.len());
    out.extend_from_slice(&key.ski);
    out.extend_from_slice(&key.asn.to_be_bytes());
    out.extend_from_slice(&key.spki);
}

/// ASPA announcement (§5.12; v2 only): 12 octets plus 4 per provider.
pub fn aspa_announce(out: &mut Vec<u8>, version: Version, aspa: &Aspa) {
    debug_assert!(version.has_aspa() && !aspa.providers.is_empty());
    let field = u16::from_be_bytes([FLAG_ANNOUNCE, 0]);
    let len = 12 + 4 * aspa.providers.len();
    header(out, version, kind::ASPA, field, len);
    out.extend_from_slice(&aspa.customer.to_be_bytes());
    for p in &aspa.providers {
        out.extend_from_slice(&p.to_be_bytes());
    }
}

/// ASPA withdrawal (§5.12; v2 only): exactly 12 octets, no providers.
pub fn aspa_withdraw(out: &mut Vec<u8>, version: Version, customer: u32) {
    debug_assert!(version.has_aspa());
    header(out, version, kind::ASPA, 0, 12);
    out.extend_from_slice(&customer.to_be_bytes());
}

/// Error Report (§5.8). The erroneous PDU is copied, truncated so that the
/// report stays within [`MAX_LEN`]; the text is optional.
pub fn error_report(out: &mut Vec<u8>, version: Version, code: ErrorCode, pdu: &[u8], text: &str) {
    error_report_raw(out, version, code.value(), pdu, text);
}

/// [`error_report`] with the code as a number, as a decoded report has it.
#[allow(clippy::cast_possible_truncation)] // both lengths are cut to fit MAX_LEN
pub(super) fn error_report_raw(
    out: &mut Vec<u8>,
    version: Version,
    code: u16,
    pdu: &[u8],
    text: &str,
) {
    // The text is UTF-8 (§5.8): cut it at a character boundary, leaving
    // room for at least the first eight octets of the PDU.
    let mut cut = text.len().min(MAX_LEN - 16 - 8);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let text = text.as_bytes().get(..cut).unwrap_or_default();
    let pdu = pdu
        .get(..pdu.len().min(MAX_LEN - 16 - text.len()))
        .unwrap_or_default();
    header(
        out,
        version,
        kind::ERROR_REPORT,
        code,
        16 + pdu.len() + text.len(),
    );
    out.extend_from_slice(&(pdu.len() as u32).to_be_bytes());
    out.extend_from_slice(pdu);
    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    out.extend_from_slice(text);
}
