//! The values RTR PDUs carry that are more than numbers: the protocol
//! version, the session ID, the serial with its RFC 1982 arithmetic, the
//! End of Data timers and the Error Report codes.
//!
//! Shared by every side of the protocol (the rtr worker's sessions,
//! `rovctl`, `rtrload`); no I/O, no privileges. Section numbers are
//! draft-ietf-sidrops-8210bis-27 unless marked otherwise.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

//------------ Version -------------------------------------------------------

/// A protocol version rovd speaks: 0 (RFC 6810), 1 (RFC 8210) or 2
/// (8210bis). A version octet from the wire becomes one only through
/// [`Version::new`], so an unknown version cannot be encoded by mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Version(u8);

impl Version {
    /// RFC 6810: prefixes only, no timers in End of Data.
    pub const V0: Version = Version(0);
    /// RFC 8210: adds router keys and the End of Data timers.
    pub const V1: Version = Version(1);
    /// 8210bis: adds ASPA.
    pub const V2: Version = Version(2);
    /// The highest version rovd knows.
    pub const MAX: Version = Version::V2;
    /// Every version, lowest first.
    pub const ALL: [Version; 3] = [Version::V0, Version::V1, Version::V2];

    /// The version with this number, if rovd speaks it.
    pub fn new(number: u8) -> Option<Version> {
        (number <= Version::MAX.0).then_some(Version(number))
    }

    /// The version octet.
    pub fn number(self) -> u8 {
        self.0
    }

    /// The version as an index into per-version tables (0, 1, 2).
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Whether Router Key PDUs exist in this version (RFC 8210 §5.10).
    pub fn has_router_keys(self) -> bool {
        self.0 >= 1
    }

    /// Whether ASPA PDUs exist in this version (§5.12).
    pub fn has_aspa(self) -> bool {
        self.0 >= 2
    }

    /// Whether End of Data carries the timers (RFC 8210 §5.8).
    pub fn has_timers(self) -> bool {
        self.0 >= 1
    }
}

impl TryFrom<u8> for Version {
    type Error = String;

    fn try_from(number: u8) -> Result<Version, String> {
        Version::new(number).ok_or_else(|| format!("unknown RTR version {number}"))
    }
}

impl From<Version> for u8 {
    fn from(v: Version) -> u8 {
        v.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

//------------ SessionId -----------------------------------------------------

/// The Session ID of a cache's data (§5.1): a new one means the router must
/// start over with a Reset Query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionId(pub u16);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

//------------ Serial --------------------------------------------------------

/// A serial number (§5.3) with the sequence space arithmetic of RFC 1982
/// for `SERIAL_BITS` = 32.
///
/// Equality is plain; order is RFC 1982 §3.2's: `a < b` if `b` lies less
/// than 2^31 ahead of `a` around the circle. Two serials exactly 2^31
/// apart are not comparable, so `partial_cmp` gives `None` for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Serial(pub u32);

impl Serial {
    /// The largest addend RFC 1982 §3.1 allows: 2^31 - 1.
    pub const MAX_ADD: u32 = (1 << 31) - 1;

    /// The next serial, wrapping from 2^32 - 1 to 0.
    #[must_use]
    pub fn next(self) -> Serial {
        self + 1
    }

    /// How far `later` lies ahead of `self`, if it is not behind (RFC 1982
    /// order): the number of serials a router at `self` has missed.
    pub fn distance_to(self, later: Serial) -> Option<u32> {
        match self.partial_cmp(&later)? {
            Ordering::Greater => None,
            _ => Some(later.0.wrapping_sub(self.0)),
        }
    }
}

/// `serial + n` in sequence space (RFC 1982 §3.1). `n` above
/// [`Serial::MAX_ADD`] is undefined there and is taken modulo 2^31.
impl std::ops::Add<u32> for Serial {
    type Output = Serial;

    fn add(self, n: u32) -> Serial {
        let n = n % (Serial::MAX_ADD + 1);
        Serial(self.0.wrapping_add(n))
    }
}

impl PartialOrd for Serial {
    fn partial_cmp(&self, other: &Serial) -> Option<Ordering> {
        const HALF: u32 = 1 << 31;
        let ahead = other.0.wrapping_sub(self.0);
        match ahead {
            0 => Some(Ordering::Equal),
            HALF => None,
            n if n < HALF => Some(Ordering::Less),
            _ => Some(Ordering::Greater),
        }
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

//------------ Timers --------------------------------------------------------

/// The End of Data timers of v1 and v2 (§6), in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// How long a router waits before it asks again.
    pub refresh: u32,
    /// How long it waits after a failed query.
    pub retry: u32,
    /// How long its data stays usable without a successful query.
    pub expire: u32,
}

//------------ ErrorCode -----------------------------------------------------

/// Error Report codes (§12; RFC 8210 §12; RFC 6810 §10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    /// 0: the PDU could not be parsed.
    CorruptData = 0,
    /// 1: the sender failed, not the PDU.
    InternalError = 1,
    /// 2: the cache has no data yet (not fatal).
    NoDataAvailable = 2,
    /// 3: a PDU the receiver does not accept from this side.
    InvalidRequest = 3,
    /// 4: a version the receiver does not speak (not fatal in v2, §7).
    UnsupportedVersion = 4,
    /// 5: a PDU type the receiver does not know.
    UnsupportedPduType = 5,
    /// 6: a withdrawal of a record that was never announced.
    WithdrawalOfUnknownRecord = 6,
    /// 7: a record announced twice.
    DuplicateAnnouncement = 7,
    /// 8: a PDU at another version than the session's (v1+).
    UnexpectedVersion = 8,
    /// 9: an ASPA provider list that breaks §5.12 (v2).
    AspaProviderListError = 9,
    /// 10: the transport failed (v2).
    TransportFailure = 10,
    /// 11: PDUs out of the order of §11 (v2).
    OrderingError = 11,
    /// 12: the cache is restarting (v2, not fatal).
    CacheRestart = 12,
    /// 13: the cache is shutting down (v2).
    CacheShutdown = 13,
}

impl ErrorCode {
    /// The code if `value` is defined for protocol `version`: v0 knows
    /// 0–7, v1 adds 8, v2 adds 9–13 (§12: only codes of the session's
    /// version may be sent or accepted).
    pub fn for_version(value: u16, version: Version) -> Option<ErrorCode> {
        let highest = match version.number() {
            0 => 7,
            1 => 8,
            _ => 13,
        };
        if value > highest {
            return None;
        }
        Some(match value {
            0 => Self::CorruptData,
            1 => Self::InternalError,
            2 => Self::NoDataAvailable,
            3 => Self::InvalidRequest,
            4 => Self::UnsupportedVersion,
            5 => Self::UnsupportedPduType,
            6 => Self::WithdrawalOfUnknownRecord,
            7 => Self::DuplicateAnnouncement,
            8 => Self::UnexpectedVersion,
            9 => Self::AspaProviderListError,
            10 => Self::TransportFailure,
            11 => Self::OrderingError,
            12 => Self::CacheRestart,
            _ => Self::CacheShutdown,
        })
    }

    /// The code's number on the wire.
    pub fn value(self) -> u16 {
        self as u16
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
    pub fn is_fatal_in(self, version: Version) -> bool {
        self.is_fatal() || (self == ErrorCode::UnsupportedVersion && version < Version::V2)
    }

    /// A short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::CorruptData => "Corrupt Data",
            Self::InternalError => "Internal Error",
            Self::NoDataAvailable => "No Data Available",
            Self::InvalidRequest => "Invalid Request",
            Self::UnsupportedVersion => "Unsupported Protocol Version",
            Self::UnsupportedPduType => "Unsupported PDU Type",
            Self::WithdrawalOfUnknownRecord => "Withdrawal of Unknown Record",
            Self::DuplicateAnnouncement => "Duplicate Announcement Received",
            Self::UnexpectedVersion => "Unexpected Protocol Version",
            Self::AspaProviderListError => "ASPA Provider List Error",
            Self::TransportFailure => "Transport Failure",
            Self::OrderingError => "Ordering Error",
            Self::CacheRestart => "Cache Restart",
            Self::CacheShutdown => "Cache Shutdown",
        }
    }

    /// The name of code `value` as a log line shows it: its name if any
    /// version defines it.
    pub fn describe(value: u16) -> String {
        match ErrorCode::for_version(value, Version::MAX) {
            Some(c) => format!("{value} ({})", c.name()),
            None => value.to_string(),
        }
    }
}
