//! The RTR wire format, for both sides of the protocol: every PDU of
//! RFC 6810 (v0), RFC 8210 (v1) and draft-ietf-sidrops-8210bis-27 (v2),
//! decoded into one typed [`Pdu`] and encoded from it, in one place.
//!
//! Used by the rtr worker's sessions and cache (unprivileged, sandboxed),
//! and by `rovctl` and `rtrload` on the router's side. No I/O and no
//! privileges here. Decoding takes every field through a bounds-checked
//! [`Reader`] and judges a PDU's length from its header before its body
//! (§5.1), so a peer's octets are never indexed and never make a decoder
//! panic. Section numbers are 8210bis-27 unless marked otherwise.
//!
//! - `values` — [`Version`], [`SessionId`], [`Serial`] (RFC 1982),
//!   [`Timers`], [`ErrorCode`]
//! - `reader` — the bounds-checked [`Reader`]
//! - `write` — the encoders, one per PDU type

mod reader;
mod values;
mod write;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::payload::{Aspa, Prefix, PrefixError, RouterKey, Vrp};

pub use self::reader::Reader;
pub use self::values::{ErrorCode, Serial, SessionId, Timers, Version};
pub use self::write::{
    aspa_announce, aspa_withdraw, cache_reset, cache_response, end_of_data, error_report,
    reset_query, router_key, serial_notify, serial_query, vrp,
};

/// Octets in every PDU header (§5.1).
pub const HEADER_LEN: usize = 8;

/// The longest PDU either side may send (§5.1).
pub const MAX_LEN: usize = 65_535;

/// Octets in a Reset Query (§5.4), the shortest query.
pub const RESET_QUERY_LEN: usize = 8;

/// Octets in a Serial Query (§5.3), the longest query.
pub const SERIAL_QUERY_LEN: usize = 12;

/// PDU type numbers (§5, IANA rpki-rtr-pdu).
pub mod kind {
    /// Serial Notify (§5.2), cache to router.
    pub const SERIAL_NOTIFY: u8 = 0;
    /// Serial Query (§5.3), router to cache.
    pub const SERIAL_QUERY: u8 = 1;
    /// Reset Query (§5.4), router to cache.
    pub const RESET_QUERY: u8 = 2;
    /// Cache Response (§5.5), cache to router.
    pub const CACHE_RESPONSE: u8 = 3;
    /// IPv4 Prefix (§5.9), cache to router.
    pub const IPV4_PREFIX: u8 = 4;
    /// IPv6 Prefix (§5.10), cache to router.
    pub const IPV6_PREFIX: u8 = 6;
    /// End of Data (§5.7), cache to router.
    pub const END_OF_DATA: u8 = 7;
    /// Cache Reset (§5.6), cache to router.
    pub const CACHE_RESET: u8 = 8;
    /// Router Key (§5.11, v1 and v2), cache to router.
    pub const ROUTER_KEY: u8 = 9;
    /// Error Report (§5.8), either way.
    pub const ERROR_REPORT: u8 = 10;
    /// ASPA (§5.12, v2), cache to router.
    pub const ASPA: u8 = 11;

    use super::Version;

    /// Whether PDU type `kind` exists in `version`.
    pub fn exists_in(kind: u8, version: Version) -> bool {
        match kind {
            SERIAL_NOTIFY..=IPV4_PREFIX | IPV6_PREFIX..=CACHE_RESET | ERROR_REPORT => true,
            ROUTER_KEY => version.has_router_keys(),
            ASPA => version.has_aspa(),
            _ => false,
        }
    }

    /// Whether a router may send PDU type `kind` (§5): the two queries and
    /// Error Report. Everything else only a cache sends.
    pub fn sent_by_router(kind: u8) -> bool {
        matches!(kind, SERIAL_QUERY | RESET_QUERY | ERROR_REPORT)
    }
}

/// The announce/withdraw flag, bit 0 of the Flags field (§5.9–§5.12).
const FLAG_ANNOUNCE: u8 = 1;

//------------ Header --------------------------------------------------------

/// The fixed header of every PDU (§5.1), as received: the version is the
/// raw octet, since a peer may send one rovd does not speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The protocol version octet.
    pub version: u8,
    /// The PDU type (see [`kind`]).
    pub kind: u8,
    /// Session ID, Error Code, Flags or zero, depending on the type.
    pub field: u16,
    /// Length of the whole PDU including this header.
    pub len: u32,
}

impl Header {
    /// The header at the start of `buf`, if eight octets are there.
    pub fn parse(buf: &[u8]) -> Option<Header> {
        Header::read(&mut Reader::new(buf))
    }

    /// Read a header.
    pub fn read(r: &mut Reader<'_>) -> Option<Header> {
        let mut h = r.sub(HEADER_LEN)?;
        Some(Header {
            version: h.u8()?,
            kind: h.u8()?,
            field: h.u16()?,
            len: h.u32()?,
        })
    }

    /// The version, if the header is possible for a PDU of its type: a
    /// version rovd speaks, a type that version has, and a length that type
    /// allows (exact for the fixed-size PDUs, a minimum and a step for the
    /// others). Judged on the header alone.
    pub fn check(&self) -> Result<Version, DecodeError> {
        let version = Version::new(self.version).ok_or(DecodeError::Version(*self))?;
        if !kind::exists_in(self.kind, version) {
            return Err(DecodeError::Type(*self));
        }
        let len = self.pdu_len().ok_or(DecodeError::Length(*self))?;
        #[allow(clippy::match_same_arms)] // one arm per length rule of §5
        let fits = match self.kind {
            kind::SERIAL_NOTIFY | kind::SERIAL_QUERY => len == 12,
            kind::RESET_QUERY | kind::CACHE_RESPONSE | kind::CACHE_RESET => len == 8,
            kind::IPV4_PREFIX => len == 20,
            kind::IPV6_PREFIX => len == 32,
            kind::END_OF_DATA if version.has_timers() => len == 24,
            kind::END_OF_DATA => len == 12,
            // RFC 8210 §5.10: at least one octet of SPKI.
            kind::ROUTER_KEY => len > 32,
            kind::ASPA => len >= 12 && (len - 12) % 4 == 0,
            _ => len >= 16,
        };
        if !fits {
            return Err(DecodeError::Length(*self));
        }
        Ok(version)
    }

    /// The PDU's length if the Length field is possible: at least a
    /// header, at most [`MAX_LEN`] (§5.1).
    pub fn pdu_len(&self) -> Option<usize> {
        let len = usize::try_from(self.len).ok()?;
        (HEADER_LEN..=MAX_LEN).contains(&len).then_some(len)
    }
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "version {}, type {}, field {}, length {}",
            self.version, self.kind, self.field, self.len
        )
    }
}

/// The PDU at the start of `buf`, split off by its Length field: `Ok(None)`
/// until all of it is there. A Length field outside 8..=65535 is an error
/// as soon as the header is complete, before any body arrives (§5.1).
pub fn split(buf: &[u8]) -> Result<Option<(Header, &[u8])>, DecodeError> {
    let Some(h) = Header::parse(buf) else {
        return Ok(None);
    };
    let len = h.pdu_len().ok_or(DecodeError::Length(h))?;
    Ok(buf.get(..len).map(|pdu| (h, pdu)))
}

//------------ Pdu -----------------------------------------------------------

/// One PDU of either side, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pdu<'a> {
    /// Serial Notify (§5.2): the cache has a new serial.
    SerialNotify {
        /// The cache's session.
        session: SessionId,
        /// The new serial.
        serial: Serial,
    },
    /// Serial Query (§5.3): the changes since a serial, please.
    SerialQuery {
        /// The session the router's data is from.
        session: SessionId,
        /// The serial the router holds.
        serial: Serial,
    },
    /// Reset Query (§5.4): the whole table, please.
    ResetQuery,
    /// Cache Response (§5.5): an answer begins.
    CacheResponse {
        /// The session of the data that follows.
        session: SessionId,
    },
    /// IPv4 Prefix (§5.9) or IPv6 Prefix (§5.10).
    Prefix {
        /// Announced, or withdrawn.
        announce: bool,
        /// The VRP.
        vrp: Vrp,
    },
    /// End of Data (§5.7): an answer is complete.
    EndOfData {
        /// The session of the data.
        session: SessionId,
        /// The serial the router now holds.
        serial: Serial,
        /// The timers; none in v0 (RFC 6810 §5.8).
        timers: Option<Timers>,
    },
    /// Cache Reset (§5.6): the serial asked for is not available.
    CacheReset,
    /// Router Key (§5.11; v1 and v2).
    RouterKey {
        /// Announced, or withdrawn.
        announce: bool,
        /// The key.
        key: RouterKey,
    },
    /// Error Report (§5.8).
    ErrorReport(ErrorReport<'a>),
    /// ASPA (§5.12; v2). A withdrawal carries no providers.
    Aspa {
        /// Announced, or withdrawn.
        announce: bool,
        /// The customer and, when announced, its providers.
        aspa: Aspa,
    },
}

/// A well-formed Error Report (§5.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorReport<'a> {
    /// The error code as sent; whether the session's version defines it
    /// is for the receiver to judge ([`ErrorCode::for_version`]).
    pub code: u16,
    /// The erroneous PDU, as much of it as the sender included.
    pub pdu: &'a [u8],
    /// The diagnostic text, UTF-8.
    pub text: &'a str,
}

impl<'a> ErrorReport<'a> {
    /// Parse a complete Error Report PDU; `None` if its inner lengths do
    /// not add up to its Length field or its text is not UTF-8 (§5.8).
    pub fn parse(pdu: &'a [u8]) -> Option<ErrorReport<'a>> {
        let mut r = Reader::new(pdu);
        let h = Header::read(&mut r)?;
        if h.kind != kind::ERROR_REPORT || h.pdu_len()? != pdu.len() {
            return None;
        }
        ErrorReport::read(h, &mut r)
    }

    /// The body after header `h`: both inner lengths must fit exactly.
    fn read(h: Header, r: &mut Reader<'a>) -> Option<ErrorReport<'a>> {
        let n = usize::try_from(r.u32()?).ok()?;
        let pdu = r.take(n)?;
        let m = usize::try_from(r.u32()?).ok()?;
        let text = r.take(m)?;
        r.expect_empty()?;
        Some(ErrorReport {
            code: h.field,
            pdu,
            text: std::str::from_utf8(text).ok()?,
        })
    }
}

impl<'a> Pdu<'a> {
    /// Decode the PDU at the start of `buf`: `Ok(None)` while it is
    /// incomplete, otherwise its version, the PDU and the octets it took.
    /// The header is judged as soon as it is there — version, type, and
    /// the length the type allows — so a bad one is an error before its
    /// body arrives.
    pub fn decode(buf: &'a [u8]) -> Result<Option<(Version, Pdu<'a>, usize)>, DecodeError> {
        let Some(h) = Header::parse(buf) else {
            return Ok(None);
        };
        h.check()?;
        let Some((h, pdu)) = split(buf)? else {
            return Ok(None);
        };
        let (version, decoded) = Pdu::read(h, pdu)?;
        Ok(Some((version, decoded, pdu.len())))
    }

    /// [`Pdu::decode`] for a router reading from a cache: the queries,
    /// which only a router sends, are [`DecodeError::Type`] here.
    pub fn decode_from_cache(
        buf: &'a [u8],
    ) -> Result<Option<(Version, Pdu<'a>, usize)>, DecodeError> {
        match Header::parse(buf) {
            Some(h) if matches!(h.kind, kind::RESET_QUERY | kind::SERIAL_QUERY) => {
                Version::new(h.version).ok_or(DecodeError::Version(h))?;
                Err(DecodeError::Type(h))
            }
            _ => Pdu::decode(buf),
        }
    }

    /// Decode one complete PDU: `pdu` holds exactly the octets its header
    /// `h` announces (see [`split`]). Every length is checked against the
    /// type and version before a field is read, and reserved fields and
    /// flags must be zero.
    pub fn read(h: Header, pdu: &'a [u8]) -> Result<(Version, Pdu<'a>), DecodeError> {
        let version = h.check()?;
        if h.len as usize != pdu.len() {
            return Err(DecodeError::Length(h));
        }
        let len = pdu.len();
        let mut r = Reader::new(pdu);
        r.take(HEADER_LEN).ok_or(DecodeError::Length(h))?;
        let short = DecodeError::Length(h);
        let decoded = match h.kind {
            kind::SERIAL_NOTIFY | kind::SERIAL_QUERY => {
                let (session, serial) = (SessionId(h.field), Serial(r.u32().ok_or(short)?));
                if h.kind == kind::SERIAL_NOTIFY {
                    Pdu::SerialNotify { session, serial }
                } else {
                    Pdu::SerialQuery { session, serial }
                }
            }
            kind::RESET_QUERY => Pdu::ResetQuery,
            kind::CACHE_RESPONSE => Pdu::CacheResponse {
                session: SessionId(h.field),
            },
            kind::CACHE_RESET => {
                if h.field != 0 {
                    return Err(DecodeError::Reserved(h));
                }
                Pdu::CacheReset
            }
            kind::END_OF_DATA => {
                let serial = Serial(r.u32().ok_or(short)?);
                let timers = if version.has_timers() {
                    Some(Timers {
                        refresh: r.u32().ok_or(short)?,
                        retry: r.u32().ok_or(short)?,
                        expire: r.u32().ok_or(short)?,
                    })
                } else {
                    None
                };
                Pdu::EndOfData {
                    session: SessionId(h.field),
                    serial,
                    timers,
                }
            }
            kind::IPV4_PREFIX | kind::IPV6_PREFIX => read_prefix(h, &mut r)?,
            kind::ROUTER_KEY => {
                // The field is the flags octet and a zero octet.
                let announce = flags(h)?;
                let ski = *r.array::<20>().ok_or(short)?;
                let asn = r.u32().ok_or(short)?;
                let spki = r.rest().into();
                Pdu::RouterKey {
                    announce,
                    key: RouterKey { ski, asn, spki },
                }
            }
            kind::ASPA => {
                let announce = flags(h)?;
                // §5.12: an announcement lists providers, a withdrawal none.
                if announce == (len == 12) {
                    return Err(DecodeError::Aspa(h));
                }
                let customer = r.u32().ok_or(short)?;
                let mut providers = Vec::with_capacity(r.left() / 4);
                while let Some(p) = r.u32() {
                    providers.push(p);
                }
                Pdu::Aspa {
                    announce,
                    aspa: Aspa {
                        customer,
                        providers,
                    },
                }
            }
            _ => Pdu::ErrorReport(ErrorReport::read(h, &mut r).ok_or(DecodeError::ErrorReport(h))?),
        };
        r.expect_empty().ok_or(DecodeError::Length(h))?;
        Ok((version, decoded))
    }

    /// Encode the PDU at `version` and append it to `out`.
    pub fn write(&self, version: Version, out: &mut Vec<u8>) {
        match self {
            Pdu::SerialNotify { session, serial } => serial_notify(out, version, *session, *serial),
            Pdu::SerialQuery { session, serial } => serial_query(out, version, *session, *serial),
            Pdu::ResetQuery => reset_query(out, version),
            Pdu::CacheResponse { session } => cache_response(out, version, *session),
            Pdu::Prefix { announce, vrp: v } => vrp(out, version, *announce, v),
            Pdu::EndOfData {
                session,
                serial,
                timers,
            } => {
                let none = Timers {
                    refresh: 0,
                    retry: 0,
                    expire: 0,
                };
                end_of_data(
                    out,
                    version,
                    *session,
                    *serial,
                    timers.as_ref().unwrap_or(&none),
                );
            }
            Pdu::CacheReset => cache_reset(out, version),
            Pdu::RouterKey { announce, key } => router_key(out, version, *announce, key),
            Pdu::ErrorReport(r) => write::error_report_raw(out, version, r.code, r.pdu, r.text),
            Pdu::Aspa {
                announce: true,
                aspa,
            } => aspa_announce(out, version, aspa),
            Pdu::Aspa {
                announce: false,
                aspa,
            } => aspa_withdraw(out, version, aspa.customer),
        }
    }
}

/// The announce flag of a Router Key or ASPA PDU, whose header field is a
/// flags octet and a zero octet.
fn flags(h: Header) -> Result<bool, DecodeError> {
    let [flags, zero] = h.field.to_be_bytes();
    if zero != 0 || flags & !FLAG_ANNOUNCE != 0 {
        return Err(DecodeError::Reserved(h));
    }
    Ok(flags == FLAG_ANNOUNCE)
}

/// The body of an IPv4 or IPv6 Prefix PDU (§5.9, §5.10).
fn read_prefix<'a>(h: Header, r: &mut Reader<'a>) -> Result<Pdu<'a>, DecodeError> {
    let short = DecodeError::Length(h);
    // Header field zero; flags, length, max length, zero octet.
    let [flags, len, max_len, zero] = *r.array::<4>().ok_or(short)?;
    if h.field != 0 || zero != 0 || flags & !FLAG_ANNOUNCE != 0 {
        return Err(DecodeError::Reserved(h));
    }
    let prefix = if h.kind == kind::IPV4_PREFIX {
        Prefix::v4(Ipv4Addr::from(*r.array::<4>().ok_or(short)?), len)
    } else {
        Prefix::v6(Ipv6Addr::from(*r.array::<16>().ok_or(short)?), len)
    };
    let prefix = prefix.map_err(|e| {
        DecodeError::Prefix(
            h,
            match e {
                PrefixError::HostBits => "host bits set in prefix",
                _ => "prefix length out of range",
            },
        )
    })?;
    let asn = r.u32().ok_or(short)?;
    let vrp = Vrp::new(prefix, max_len, asn).map_err(|why| DecodeError::Prefix(h, why))?;
    Ok(Pdu::Prefix {
        announce: flags == FLAG_ANNOUNCE,
        vrp,
    })
}

//------------ DecodeError ---------------------------------------------------

/// Why octets are not a PDU, in the protocol's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// A version rovd does not know.
    Version(Header),
    /// A length outside 8..=65535, or wrong for the type and version.
    Length(Header),
    /// A type that does not exist in this version.
    Type(Header),
    /// A reserved field, a flag or a padding octet that is not zero.
    Reserved(Header),
    /// A prefix with host bits set or a bad length or max length.
    Prefix(Header, &'static str),
    /// An ASPA announcement without providers or withdrawal with them.
    Aspa(Header),
    /// An Error Report whose inner lengths do not add up, or whose text
    /// is not UTF-8.
    ErrorReport(Header),
}

impl DecodeError {
    /// The header of the PDU at fault.
    pub fn header(&self) -> Header {
        match *self {
            DecodeError::Version(h)
            | DecodeError::Length(h)
            | DecodeError::Type(h)
            | DecodeError::Reserved(h)
            | DecodeError::Prefix(h, _)
            | DecodeError::Aspa(h)
            | DecodeError::ErrorReport(h) => h,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            DecodeError::Version(_) => "unknown protocol version",
            DecodeError::Length(_) => "bad length",
            DecodeError::Type(_) => "unexpected PDU type",
            DecodeError::Reserved(_) => "reserved field or flag not zero",
            DecodeError::Prefix(_, why) => why,
            DecodeError::Aspa(_) => "provider count contradicts the flag",
            DecodeError::ErrorReport(_) => "malformed Error Report",
        };
        write!(f, "{what} ({})", self.header())
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests;
