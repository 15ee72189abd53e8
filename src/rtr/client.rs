//! The router's side of the RTR wire format: decoding every PDU a cache
//! sends, and collecting the answer to a Reset Query into a [`Snapshot`].
//!
//! Used by `rovctl`, an unprivileged command-line client; the daemon never
//! runs it. Sans I/O like the session: bytes go in, PDUs and a snapshot
//! come out. Every length is checked against the type and version before a
//! field is read, and reserved fields and flags must be zero. Section
//! numbers are 8210bis-27 unless marked otherwise.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::pdu::{kind, ErrorCode, ErrorReport, Header, Timers, HEADER_LEN, MAX_LEN};
use crate::payload::{Aspa, Prefix, RouterKey, Snapshot, Vrp};

/// The announce/withdraw flag, bit 0 of the Flags field.
const FLAG_ANNOUNCE: u8 = 1;

/// The highest protocol version this client knows.
pub const MAX_VERSION: u8 = 2;

//------------ CachePdu ------------------------------------------------------

/// A PDU a cache may send to a router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CachePdu {
    /// Serial Notify (§5.2).
    SerialNotify { session: u16, serial: u32 },
    /// Cache Response (§5.5).
    CacheResponse { session: u16 },
    /// IPv4 Prefix (§5.9) or IPv6 Prefix (§5.10).
    Prefix { announce: bool, vrp: Vrp },
    /// Router Key (§5.11; v1 and v2).
    RouterKey { announce: bool, key: RouterKey },
    /// ASPA (§5.12; v2): a withdrawal carries no providers.
    Aspa { announce: bool, aspa: Aspa },
    /// End of Data (§5.7); no timers in v0 (RFC 6810 §5.8).
    EndOfData {
        session: u16,
        serial: u32,
        timers: Option<Timers>,
    },
    /// Cache Reset (§5.6).
    CacheReset,
    /// Error Report (§5.8), the text lossily decoded.
    ErrorReport { code: u16, text: String },
}

/// A decoded PDU with the version from its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub version: u8,
    pub pdu: CachePdu,
}

//------------ DecodeError ---------------------------------------------------

/// Why octets from a cache are not a PDU, in the protocol's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// A version this client does not know.
    Version(Header),
    /// A length outside 8..=65535, or wrong for the type and version.
    Length(Header),
    /// A type the cache must not send, or not in this version.
    Type(Header),
    /// A reserved field, a flag or a padding octet that is not zero.
    Reserved(Header),
    /// A prefix with host bits set or a bad length or max length.
    Prefix(Header, &'static str),
    /// An ASPA announcement without providers or withdrawal with them.
    Aspa(Header),
    /// An Error Report whose inner lengths do not add up.
    ErrorReport(Header),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, what) = match self {
            DecodeError::Version(h) => (h, "unknown protocol version"),
            DecodeError::Length(h) => (h, "bad length"),
            DecodeError::Type(h) => (h, "unexpected PDU type"),
            DecodeError::Reserved(h) => (h, "reserved field or flag not zero"),
            DecodeError::Prefix(h, why) => (h, *why),
            DecodeError::Aspa(h) => (h, "provider count contradicts the flag"),
            DecodeError::ErrorReport(h) => (h, "malformed Error Report"),
        };
        write!(
            f,
            "{what} (version {}, type {}, field {}, length {})",
            h.version, h.kind, h.field, h.len
        )
    }
}

impl std::error::Error for DecodeError {}

//------------ decode --------------------------------------------------------

/// Decode the PDU at the start of `buf`: `Ok(None)` while it is incomplete,
/// otherwise the PDU and the octets it took. The length is judged from the
/// header alone, so a bad one is an error before its body arrives.
pub fn decode(buf: &[u8]) -> Result<Option<(Received, usize)>, DecodeError> {
    let Some(h) = Header::parse(buf) else {
        return Ok(None);
    };
    if h.version > MAX_VERSION {
        return Err(DecodeError::Version(h));
    }
    let len = h.len as usize;
    if !(HEADER_LEN..=MAX_LEN).contains(&len) {
        return Err(DecodeError::Length(h));
    }
    let fixed = match h.kind {
        kind::SERIAL_NOTIFY => Some(12),
        kind::CACHE_RESPONSE | kind::CACHE_RESET => Some(8),
        kind::IPV4_PREFIX => Some(20),
        kind::IPV6_PREFIX => Some(32),
        kind::END_OF_DATA if h.version == 0 => Some(12),
        kind::END_OF_DATA => Some(24),
        // RFC 8210 §5.10: at least one octet of SPKI.
        kind::ROUTER_KEY if h.version >= 1 => (len > 32).then_some(len),
        kind::ASPA if h.version >= 2 => (len >= 12 && (len - 12) % 4 == 0).then_some(len),
        kind::ERROR_REPORT => (len >= 16).then_some(len),
        _ => return Err(DecodeError::Type(h)),
    };
    if fixed != Some(len) {
        return Err(DecodeError::Length(h));
    }
    let Some(b) = buf.get(..len) else {
        return Ok(None);
    };
    let u32_at = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let pdu = match h.kind {
        kind::SERIAL_NOTIFY => CachePdu::SerialNotify {
            session: h.field,
            serial: u32_at(8),
        },
        kind::CACHE_RESPONSE => CachePdu::CacheResponse { session: h.field },
        kind::CACHE_RESET => {
            if h.field != 0 {
                return Err(DecodeError::Reserved(h));
            }
            CachePdu::CacheReset
        }
        kind::END_OF_DATA => CachePdu::EndOfData {
            session: h.field,
            serial: u32_at(8),
            timers: (h.version > 0).then(|| Timers {
                refresh: u32_at(12),
                retry: u32_at(16),
                expire: u32_at(20),
            }),
        },
        kind::IPV4_PREFIX | kind::IPV6_PREFIX => {
            // Header field zero; flags, length, max length, zero octet.
            let (flags, plen, max_len, zero) = (b[8], b[9], b[10], b[11]);
            if h.field != 0 || zero != 0 || flags & !FLAG_ANNOUNCE != 0 {
                return Err(DecodeError::Reserved(h));
            }
            let (prefix, asn) = if h.kind == kind::IPV4_PREFIX {
                let addr = Ipv4Addr::from(u32_at(12));
                (Prefix::v4(addr, plen), u32_at(16))
            } else {
                let octets: [u8; 16] = b[12..28].try_into().expect("16 octets");
                (Prefix::v6(Ipv6Addr::from(octets), plen), u32_at(28))
            };
            let prefix = prefix.map_err(|e| {
                DecodeError::Prefix(
                    h,
                    match e {
                        crate::payload::PrefixError::HostBits => "host bits set in prefix",
                        _ => "prefix length out of range",
                    },
                )
            })?;
            let vrp = Vrp::new(prefix, max_len, asn).map_err(|why| DecodeError::Prefix(h, why))?;
            CachePdu::Prefix {
                announce: flags == FLAG_ANNOUNCE,
                vrp,
            }
        }
        kind::ROUTER_KEY => {
            // The field is the flags octet and a zero octet.
            let [flags, zero] = h.field.to_be_bytes();
            if zero != 0 || flags & !FLAG_ANNOUNCE != 0 {
                return Err(DecodeError::Reserved(h));
            }
            CachePdu::RouterKey {
                announce: flags == FLAG_ANNOUNCE,
                key: RouterKey {
                    ski: b[8..28].try_into().expect("20 octets"),
                    asn: u32_at(28),
                    spki: b[32..].into(),
                },
            }
        }
        kind::ASPA => {
            let [flags, zero] = h.field.to_be_bytes();
            if zero != 0 || flags & !FLAG_ANNOUNCE != 0 {
                return Err(DecodeError::Reserved(h));
            }
            let announce = flags == FLAG_ANNOUNCE;
            // §5.12: an announcement lists providers, a withdrawal none.
            if announce == (len == 12) {
                return Err(DecodeError::Aspa(h));
            }
            let providers = (12..len).step_by(4).map(u32_at).collect();
            CachePdu::Aspa {
                announce,
                aspa: Aspa {
                    customer: u32_at(8),
                    providers,
                },
            }
        }
        _ => {
            let report = ErrorReport::parse(b).ok_or(DecodeError::ErrorReport(h))?;
            CachePdu::ErrorReport {
                code: report.code,
                text: String::from_utf8_lossy(report.text).into_owned(),
            }
        }
    };
    Ok(Some((
        Received {
            version: h.version,
            pdu,
        },
        len,
    )))
}

/// Reset Query (§5.4): what a router sends to fetch the whole table.
pub fn reset_query(version: u8) -> [u8; 8] {
    [version, kind::RESET_QUERY, 0, 0, 0, 0, 0, 8]
}

//------------ ResetAnswer ---------------------------------------------------

/// The answer to a Reset Query, being collected: Cache Response, then
/// announcements only, each once, then End of Data (§8.1).
#[derive(Debug)]
pub struct ResetAnswer {
    version: u8,
    session: Option<u16>,
    vrps: Vec<Vrp>,
    router_keys: Vec<RouterKey>,
    aspas: Vec<Aspa>,
}

/// A complete answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub version: u8,
    pub session: u16,
    pub serial: u32,
    pub snapshot: Snapshot,
}

/// Why an answer ended without a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerError {
    /// The cache sent an Error Report at `version`.
    Refused {
        version: u8,
        code: u16,
        text: String,
    },
    /// A PDU that has no place in a Reset Query's answer.
    Unexpected(String),
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::Refused {
                version,
                code,
                text,
            } => {
                let name =
                    ErrorCode::for_version(*code, *version).map_or("unknown code", |c| c.name());
                write!(
                    f,
                    "cache sent Error Report {code} ({name}) at version {version}"
                )?;
                if !text.is_empty() {
                    write!(f, ": {text}")?;
                }
                Ok(())
            }
            AnswerError::Unexpected(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for AnswerError {}

impl ResetAnswer {
    /// Wait for the answer to a Reset Query sent at `version`; the table
    /// says at which version it came.
    pub fn new(version: u8) -> ResetAnswer {
        ResetAnswer {
            version,
            session: None,
            vrps: Vec::new(),
            router_keys: Vec::new(),
            aspas: Vec::new(),
        }
    }

    /// Take the next PDU: `Ok(Some(_))` at End of Data.
    pub fn push(&mut self, received: Received) -> Result<Option<Table>, AnswerError> {
        let unexpected = |what: String| Err(AnswerError::Unexpected(what));
        let Received { version, pdu } = received;
        if let CachePdu::ErrorReport { code, text } = pdu {
            return Err(AnswerError::Refused {
                version,
                code,
                text,
            });
        }
        // A cache of a lower version may answer in it instead of with
        // Unsupported Protocol Version (StayRTR does); the answer is then
        // of that version throughout.
        if self.session.is_none()
            && version < self.version
            && matches!(pdu, CachePdu::CacheResponse { .. })
        {
            self.version = version;
        }
        if version != self.version {
            return unexpected(format!(
                "cache answered a version {} query at version {version}",
                self.version
            ));
        }
        match (self.session, pdu) {
            // §8.2: a notify may arrive at any time; it changes nothing.
            (_, CachePdu::SerialNotify { .. }) => Ok(None),
            (None, CachePdu::CacheResponse { session }) => {
                self.session = Some(session);
                Ok(None)
            }
            (None, CachePdu::CacheReset) => {
                unexpected("cache answered a Reset Query with Cache Reset".into())
            }
            (None, pdu) => unexpected(format!("{pdu:?} before Cache Response")),
            (
                Some(_),
                CachePdu::Prefix {
                    announce: true,
                    vrp,
                },
            ) => {
                self.vrps.push(vrp);
                Ok(None)
            }
            (
                Some(_),
                CachePdu::RouterKey {
                    announce: true,
                    key,
                },
            ) => {
                self.router_keys.push(key);
                Ok(None)
            }
            (
                Some(_),
                CachePdu::Aspa {
                    announce: true,
                    aspa,
                },
            ) => {
                self.aspas.push(aspa);
                Ok(None)
            }
            (
                Some(ours),
                CachePdu::EndOfData {
                    session, serial, ..
                },
            ) => {
                if session != ours {
                    return unexpected(format!(
                        "End of Data for session {session}, Cache Response was for {ours}"
                    ));
                }
                self.finish(session, serial).map(Some)
            }
            (Some(_), pdu) => unexpected(format!("{pdu:?} in a Reset Query's answer")),
        }
    }

    fn finish(&mut self, session: u16, serial: u32) -> Result<Table, AnswerError> {
        let (vrps, keys, aspas) = (
            std::mem::take(&mut self.vrps),
            std::mem::take(&mut self.router_keys),
            std::mem::take(&mut self.aspas),
        );
        let sent = (vrps.len(), keys.len());
        let customers = {
            let mut c: Vec<u32> = aspas.iter().map(|a| a.customer).collect();
            c.sort_unstable();
            c.dedup();
            c.len()
        };
        let aspas_sent = aspas.len();
        // §5.12: one record per customer, providers sorted and unique.
        if let Some(a) = aspas.iter().find(|a| {
            a.providers.windows(2).any(|w| w[0] >= w[1])
                || (a.providers.len() > 1 && a.providers[0] == 0)
        }) {
            return Err(AnswerError::Unexpected(format!(
                "ASPA for AS{} with providers not sorted, unique, or AS0 among others",
                a.customer
            )));
        }
        let (snapshot, _) = Snapshot::build(vrps, keys, aspas);
        // The answer is a set: a record sent twice is a protocol error
        // (§11.2, Duplicate Announcement Received).
        if snapshot.vrps.len() != sent.0
            || snapshot.router_keys.len() != sent.1
            || customers != aspas_sent
        {
            return Err(AnswerError::Unexpected(
                "cache announced a record twice in one answer".into(),
            ));
        }
        Ok(Table {
            version: self.version,
            session,
            serial,
            snapshot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtr::pdu;

    fn one(bytes: &[u8]) -> Result<Option<(Received, usize)>, DecodeError> {
        decode(bytes)
    }

    #[test]
    fn prefixes_round_trip() {
        let v4 = Vrp::new(
            Prefix::v4(Ipv4Addr::new(192, 0, 2, 0), 24).unwrap(),
            28,
            64496,
        )
        .unwrap();
        let v6 = Vrp::new(
            Prefix::v6("2001:db8::".parse().unwrap(), 32).unwrap(),
            48,
            0,
        )
        .unwrap();
        for (vrp, announce) in [(v4, true), (v6, false)] {
            let mut out = Vec::new();
            pdu::vrp(&mut out, 1, announce, &vrp);
            let (r, n) = one(&out).unwrap().unwrap();
            assert_eq!(n, out.len());
            assert_eq!(r.pdu, CachePdu::Prefix { announce, vrp });
            // Short of one octet: wait for more.
            assert_eq!(one(&out[..out.len() - 1]), Ok(None));
        }
    }

    #[test]
    fn strict_lengths_and_fields() {
        // IPv4 Prefix claiming 21 octets.
        let bad = [
            0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15, // v1, type 4, zero, length 21
        ];
        assert!(matches!(one(&bad), Err(DecodeError::Length(_))));
        // IPv4 Prefix with host bits: 192.0.2.1/24.
        let hostbits = [
            0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, // v1, type 4, zero, length 20
            0x01, 0x18, 0x18, 0x00, // announce, /24, max 24, zero
            0xc0, 0x00, 0x02, 0x01, // 192.0.2.1
            0x00, 0x00, 0xfb, 0xf0, // AS64496
        ];
        assert!(matches!(one(&hostbits), Err(DecodeError::Prefix(..))));
        // A reserved flag bit set.
        let mut flags = hostbits;
        flags[15] = 0;
        flags[8] = 0x03;
        assert!(matches!(one(&flags), Err(DecodeError::Reserved(_))));
        // ASPA at v1, and Router Key at v0.
        let mut out = Vec::new();
        pdu::aspa_announce(
            &mut out,
            2,
            &Aspa {
                customer: 1,
                providers: vec![2],
            },
        );
        out[0] = 1;
        assert!(matches!(one(&out), Err(DecodeError::Type(_))));
        // Reset Query is a router's PDU.
        assert!(matches!(one(&reset_query(2)), Err(DecodeError::Type(_))));
        // End of Data of v0 length at v1.
        let mut eod = Vec::new();
        pdu::end_of_data(
            &mut eod,
            0,
            7,
            1,
            &Timers {
                refresh: 1,
                retry: 1,
                expire: 1,
            },
        );
        eod[0] = 1;
        assert!(matches!(one(&eod), Err(DecodeError::Length(_))));
    }

    #[test]
    fn aspa_withdrawal_without_providers() {
        let mut out = Vec::new();
        pdu::aspa_withdraw(&mut out, 2, 64496);
        let (r, _) = one(&out).unwrap().unwrap();
        assert_eq!(
            r.pdu,
            CachePdu::Aspa {
                announce: false,
                aspa: Aspa {
                    customer: 64496,
                    providers: vec![]
                }
            }
        );
        // Withdrawal flag with a provider.
        let mut bad = Vec::new();
        pdu::aspa_announce(
            &mut bad,
            2,
            &Aspa {
                customer: 1,
                providers: vec![2],
            },
        );
        bad[2] = 0;
        assert!(matches!(one(&bad), Err(DecodeError::Aspa(_))));
    }

    #[test]
    fn answer_collects_and_rejects() {
        let timers = Timers {
            refresh: 3600,
            retry: 600,
            expire: 7200,
        };
        let vrp = Vrp::new(Prefix::v4(Ipv4Addr::new(10, 0, 0, 0), 8).unwrap(), 8, 1).unwrap();
        let mut out = Vec::new();
        pdu::cache_response(&mut out, 2, 9);
        pdu::vrp(&mut out, 2, true, &vrp);
        pdu::aspa_announce(
            &mut out,
            2,
            &Aspa {
                customer: 5,
                providers: vec![6, 7],
            },
        );
        pdu::end_of_data(&mut out, 2, 9, 42, &timers);
        let mut answer = ResetAnswer::new(2);
        let mut at = 0;
        let mut table = None;
        while let Some((r, n)) = decode(&out[at..]).unwrap() {
            at += n;
            table = answer.push(r).unwrap();
        }
        let table = table.unwrap();
        assert_eq!((table.session, table.serial), (9, 42));
        assert_eq!(table.snapshot.vrps, vec![vrp]);
        assert_eq!(table.snapshot.aspas.len(), 1);

        // A withdrawal, and an answer at another version.
        let mut answer = ResetAnswer::new(1);
        let mut out = Vec::new();
        pdu::cache_response(&mut out, 1, 9);
        pdu::vrp(&mut out, 1, false, &vrp);
        let (r, n) = decode(&out).unwrap().unwrap();
        assert_eq!(answer.push(r), Ok(None));
        let (r, _) = decode(&out[n..]).unwrap().unwrap();
        assert!(matches!(answer.push(r), Err(AnswerError::Unexpected(_))));
        // A lower version from the start is the cache's; a change midway
        // is an error.
        let mut answer = ResetAnswer::new(2);
        let mut out = Vec::new();
        pdu::cache_response(&mut out, 1, 9);
        pdu::vrp(&mut out, 2, true, &vrp);
        let (r, n) = decode(&out).unwrap().unwrap();
        assert_eq!(answer.push(r), Ok(None));
        assert_eq!(answer.version, 1);
        let (r, _) = decode(&out[n..]).unwrap().unwrap();
        assert!(matches!(answer.push(r), Err(AnswerError::Unexpected(_))));
    }

    #[test]
    fn error_report_names_the_version() {
        let mut out = Vec::new();
        pdu::error_report(
            &mut out,
            1,
            ErrorCode::UnsupportedVersion,
            &reset_query(2),
            "v1 only",
        );
        let (r, _) = decode(&out).unwrap().unwrap();
        let err = ResetAnswer::new(2).push(r).unwrap_err();
        assert_eq!(
            err,
            AnswerError::Refused {
                version: 1,
                code: 4,
                text: "v1 only".into()
            }
        );
        assert!(err.to_string().contains("Unsupported Protocol Version"));
    }
}
