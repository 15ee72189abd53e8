//! What the state views show: the status document (`rovctl status`,
//! `/status`), built on request from the worker's state, and the counters
//! the event loop keeps for the metrics.
//!
//! Runs in the rtr worker (unprivileged, sandboxed). Nothing here is kept
//! per request; a document is built, written and dropped.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::msg::SourceState;

/// Unix seconds as an RFC 3339 time in UTC, for people.
pub fn time_text(t: u64) -> String {
    // httpdate's is the one formatter at hand; RFC 3339 reads better in a
    // table and sorts.
    let days = t / 86_400;
    let secs = t % 86_400;
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil(days: u64) -> (i64, u64, u64) {
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u64::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u64::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A duration in seconds as people read it: `3d 4h`, `12m 5s`.
pub fn duration_text(secs: u64) -> String {
    let d = Duration::from_secs(secs).as_secs();
    match d {
        0..60 => format!("{d}s"),
        60..3600 => format!("{}m {}s", d / 60, d % 60),
        3600..86_400 => format!("{}h {}m", d / 3600, d / 60 % 60),
        _ => format!("{}d {}h", d / 86_400, d / 3600 % 24),
    }
}

//------------ Condition -----------------------------------------------------

/// A source's state in a word, as the status page and `rovctl status` show
/// it: the first of these that holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition<'a> {
    /// Every payload it had has expired.
    AllExpired,
    /// Older than its limit; its policy says what is served.
    Stale {
        /// The policy: `keep`, `drop` or `stop`.
        policy: &'a str,
    },
    /// An update that would remove too much was held back.
    HeldBack,
    /// Its last attempt failed; it may still serve older data.
    Failing,
    /// It has data and its last attempt succeeded.
    Ok,
    /// No data from it yet.
    NoData,
}

impl SourceState {
    /// What state it is in, in a word.
    pub fn condition(&self) -> Condition<'_> {
        if self.all_expired {
            Condition::AllExpired
        } else if self.stale {
            Condition::Stale {
                policy: &self.policy,
            }
        } else if self.held_back.is_some() {
            Condition::HeldBack
        } else if self.last_error.is_some() {
            Condition::Failing
        } else if self.last_success.is_some() {
            Condition::Ok
        } else {
            Condition::NoData
        }
    }
}

impl Condition<'_> {
    /// The label people read.
    pub fn label(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Condition<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::AllExpired => f.write_str("every payload expired"),
            Condition::Stale { policy } => write!(f, "stale (policy {policy})"),
            Condition::HeldBack => f.write_str("update held back"),
            Condition::Failing => f.write_str("failing"),
            Condition::Ok => f.write_str("ok"),
            Condition::NoData => f.write_str("no data yet"),
        }
    }
}

//------------ Stats ---------------------------------------------------------

/// Counters since start-up, kept by the event loop as things happen.
/// Sessions still open add their own counts when a view is built.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Reset Queries answered.
    pub resets: u64,
    /// Serial Queries answered with a delta.
    pub serial_queries: u64,
    /// Serial Queries answered with Cache Reset.
    pub cache_resets: u64,
    /// Serial Notifies sent.
    pub notifies: u64,
    /// PDUs and octets sent on sessions that have closed.
    pub closed_pdus: u64,
    /// See `closed_pdus`.
    pub closed_octets: u64,
    /// Error Reports sent, by code.
    pub errors_sent: BTreeMap<u16, u64>,
    /// Error Reports received, by code.
    pub errors_received: BTreeMap<u16, u64>,
    /// Connections turned away, by cause.
    pub refused: BTreeMap<&'static str, u64>,
    /// Sessions closed, by cause.
    pub closed: BTreeMap<&'static str, u64>,
    /// Sessions opened.
    pub opened: u64,
}

impl Stats {
    /// Count one of `key` in `map`.
    pub fn count<K: Ord>(map: &mut BTreeMap<K, u64>, key: K) {
        *map.entry(key).or_default() += 1;
    }
}

//------------ Status --------------------------------------------------------

/// Everything `rovctl status` shows, as it crosses the control socket and
/// `/status` serves it: JSON.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Status {
    /// rovd's version.
    pub version: String,
    /// When the rtr worker started (Unix seconds).
    pub started: u64,
    /// When this document was made (Unix seconds).
    pub now: u64,
    /// The current serial, once there is data.
    pub serial: Option<u32>,
    /// Why nothing is served, if nothing is (a stale source with policy
    /// `stop`).
    pub no_data: Option<String>,
    /// The session ID of each RTR version.
    pub session_ids: Vec<VersionSession>,
    /// What each RTR version serves.
    pub payloads: Vec<VersionPayloads>,
    /// The latest serials, newest first.
    pub serials: Vec<SerialRecord>,
    /// Every source.
    pub sources: Vec<SourceState>,
    /// Every router session.
    pub sessions: Vec<SessionStatus>,
    /// Counters since start-up.
    pub counters: Counters,
    /// Whether rovd is ready to serve, and if not why.
    pub ready: Readiness,
}

/// A version's session ID.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct VersionSession {
    /// The RTR version.
    pub version: u8,
    /// Its session ID.
    pub session_id: u16,
}

/// What a version serves: its share of the table.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct VersionPayloads {
    /// The RTR version.
    pub version: u8,
    /// VRPs.
    pub vrps: u64,
    /// Router keys (v1, v2).
    pub router_keys: u64,
    /// ASPA records (v2).
    pub aspas: u64,
}

/// One serial of the history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerialRecord {
    /// The serial.
    pub serial: u32,
    /// When it came (Unix seconds).
    pub time: u64,
    /// Items announced since the serial before.
    pub announced: u64,
    /// Items withdrawn since the serial before.
    pub withdrawn: u64,
}

/// One router session.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SessionStatus {
    /// The router's address and port.
    pub peer: String,
    /// `tcp` or `tls`.
    pub transport: String,
    /// TLS: what was agreed, once the handshake is done.
    pub tls: Option<TlsStatus>,
    /// The negotiated RTR version, once there is one.
    pub version: Option<u8>,
    /// When it connected (Unix seconds).
    pub connected: u64,
    /// When the router last queried (Unix seconds), and how: `reset` or
    /// `serial`.
    pub last_query: Option<u64>,
    /// See `last_query`.
    pub last_query_kind: Option<String>,
    /// The serial the router holds: the last one sent to it.
    pub serial: Option<u32>,
    /// Reset Queries answered on it.
    pub resets: u64,
    /// Serial Queries answered on it.
    pub serial_queries: u64,
    /// PDUs sent on it.
    pub pdus_sent: u64,
    /// Octets sent on it.
    pub octets_sent: u64,
}

/// A TLS session's parameters.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TlsStatus {
    /// The protocol version, e.g. `TLSv1_3`.
    pub protocol: String,
    /// The cipher suite.
    pub cipher: String,
    /// The router's certificate as a SHA-256 fingerprint, if it sent one.
    pub client_certificate: Option<String>,
}

/// Counters since start-up, open sessions included.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Counters {
    /// Sessions opened.
    pub sessions_opened: u64,
    /// Reset Queries answered.
    pub reset_queries: u64,
    /// Serial Queries answered with a delta.
    pub serial_queries: u64,
    /// Serial Queries answered with Cache Reset.
    pub cache_resets: u64,
    /// Serial Notifies sent.
    pub notifies: u64,
    /// PDUs sent.
    pub pdus_sent: u64,
    /// Octets sent.
    pub octets_sent: u64,
    /// Error Reports sent, by code.
    pub error_reports_sent: BTreeMap<u16, u64>,
    /// Error Reports received, by code.
    pub error_reports_received: BTreeMap<u16, u64>,
    /// Connections turned away, by cause.
    pub refused: BTreeMap<String, u64>,
    /// Sessions closed, by cause.
    pub closed: BTreeMap<String, u64>,
}

impl Counters {
    /// The counters in a sentence, without its end: `3 sessions, 2 reset
    /// and 5 serial queries, …, 120 PDUs and 4800 octets sent`.
    pub fn summary(&self) -> String {
        format!(
            "{} sessions, {} reset and {} serial queries, {} Cache Resets, \
             {} Serial Notifies, {} PDUs and {} octets sent",
            self.sessions_opened,
            self.reset_queries,
            self.serial_queries,
            self.cache_resets,
            self.notifies,
            self.pdus_sent,
            self.octets_sent
        )
    }
}

/// Whether rovd is ready: data loaded, no source stale or all expired, the
/// RTR listeners up.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Readiness {
    /// Ready.
    pub ready: bool,
    /// Why not, if not.
    pub reasons: Vec<String>,
}

/// Whether rovd is ready, and why not: no data yet (`serial`) or none
/// served (`no_data`), a stale source, a source whose every payload has
/// expired, no RTR listener.
pub fn readiness(
    no_data: Option<&str>,
    serial: Option<u32>,
    sources: &[SourceState],
    listeners: usize,
) -> Readiness {
    let mut reasons = Vec::new();
    if let Some(why) = no_data {
        reasons.push(format!("serving no data: {why}"));
    } else if serial.is_none() {
        reasons.push("no data loaded yet".into());
    }
    for s in sources {
        if s.stale {
            reasons.push(format!("{} is stale (policy {})", s.name, s.policy));
        }
        if s.all_expired {
            reasons.push(format!("{}: every payload has expired", s.name));
        }
    }
    if listeners == 0 {
        reasons.push("no RTR listener".into());
    }
    Readiness {
        ready: reasons.is_empty(),
        reasons,
    }
}

impl Status {
    /// The session ID of each version: `v0 1234, v1 1235`.
    pub fn session_ids_text(&self) -> String {
        let ids: Vec<String> = self
            .session_ids
            .iter()
            .map(|v| format!("v{} {}", v.version, v.session_id))
            .collect();
        ids.join(", ")
    }

    /// The age of a source's data now, seconds.
    pub fn age(&self, s: &SourceState) -> Option<u64> {
        s.made.map(|m| self.now.saturating_sub(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(time_text(0), "1970-01-01 00:00:00Z");
        assert_eq!(time_text(1_700_000_000), "2023-11-14 22:13:20Z");
        assert_eq!(time_text(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(duration_text(59), "59s");
        assert_eq!(duration_text(61), "1m 1s");
        assert_eq!(duration_text(3 * 3600 + 120), "3h 2m");
        assert_eq!(duration_text(2 * 86_400 + 7200), "2d 2h");
    }

    #[test]
    fn a_source_is_in_the_first_condition_that_holds() {
        let mut s = SourceState::default();
        assert_eq!(s.condition(), Condition::NoData);
        s.last_error = Some("connection refused".into());
        assert_eq!(s.condition(), Condition::Failing);
        s.last_success = Some(1);
        assert_eq!(s.condition().label(), "failing", "failing with older data");
        s.last_error = None;
        assert_eq!(s.condition(), Condition::Ok);
        s.held_back = Some("it would remove all".into());
        assert_eq!(s.condition().label(), "update held back");
        s.policy = "keep".into();
        s.stale = true;
        assert_eq!(s.condition().label(), "stale (policy keep)");
        s.all_expired = true;
        assert_eq!(s.condition().label(), "every payload expired");
    }

    #[test]
    fn session_ids_and_counters_read_as_one_line() {
        let s = Status {
            session_ids: vec![
                VersionSession {
                    version: 0,
                    session_id: 7,
                },
                VersionSession {
                    version: 1,
                    session_id: 8,
                },
            ],
            counters: Counters {
                sessions_opened: 3,
                reset_queries: 2,
                serial_queries: 5,
                cache_resets: 1,
                notifies: 4,
                pdus_sent: 120,
                octets_sent: 4800,
                ..Counters::default()
            },
            ..Status::default()
        };
        assert_eq!(s.session_ids_text(), "v0 7, v1 8");
        assert_eq!(
            s.counters.summary(),
            "3 sessions, 2 reset and 5 serial queries, 1 Cache Resets, 4 Serial Notifies, \
             120 PDUs and 4800 octets sent"
        );
    }
}
