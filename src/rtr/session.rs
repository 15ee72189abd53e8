//! The RTR session state machine, sans I/O: bytes from a router go in,
//! PDUs (owned or shared from the cache) and a close order come out.
//!
//! Runs in the rtr worker (unprivileged, sandboxed). It never touches a
//! socket, so every rule below is tested as a transcript. Section numbers
//! are draft-ietf-sidrops-8210bis-27; the version negotiation follows §7
//! as summarised in rovd's protocol digest §3.

use std::fmt;
use std::time::{Duration, Instant};

use super::cache::{Cache, Encoded};
use crate::pdu::{self, kind, ErrorCode, ErrorReport, Serial, SessionId, Version, HEADER_LEN};

//------------ Output --------------------------------------------------------

/// What the I/O shell must do, in order.
#[derive(Clone, Debug)]
pub enum Output {
    /// Send these PDUs, owned by this session.
    Pdus {
        /// The PDUs, back to back.
        bytes: Vec<u8>,
        /// How many.
        pdus: u32,
    },
    /// Send a run of payload PDUs shared with other sessions.
    Shared(Encoded),
    /// Close the connection once everything before this has been sent.
    Close(Reason),
}

/// Why the protocol ends a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// We sent a fatal Error Report.
    SentError(ErrorCode),
    /// The router sent a fatal Error Report.
    ReceivedError(u16),
    /// The router sent an Error Report we could not make sense of.
    BadErrorReport,
    /// The router sent an Error Report at a version other than the
    /// session's.
    ErrorReportVersion(u8),
    /// The router sent more than [`MAX_REPORTS`] non-fatal Error Reports
    /// without a query between them.
    ErrorReportFlood,
}

/// Non-fatal Error Reports a router may send without a query between them
/// before the session is closed: a router answering a Serial Notify or a
/// negotiation sends one or two, one that keeps sending them only costs
/// the cache.
pub const MAX_REPORTS: u32 = 8;

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::SentError(code) => write!(f, "sent error {} ({})", code.value(), code.name()),
            Reason::ReceivedError(code) => {
                write!(f, "router reported error {}", ErrorCode::describe(*code))
            }
            Reason::BadErrorReport => f.write_str("malformed Error Report from router"),
            Reason::ErrorReportVersion(v) => write!(f, "Error Report with version {v}"),
            Reason::ErrorReportFlood => write!(
                f,
                "more than {MAX_REPORTS} Error Reports from router without a query"
            ),
        }
    }
}

/// Something worth a log line that does not end the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// A query at a version above ours; we answered error 4.
    VersionTooHigh(u8),
    /// The router reported a non-fatal error.
    ReceivedError(u16),
    /// The version was fixed.
    Negotiated(Version),
    /// A Reset Query was answered with the full table.
    ResetQuery,
    /// A Serial Query was answered.
    SerialQuery {
        /// The serial the router asked from.
        serial: Serial,
        /// How.
        answer: SerialAnswer,
    },
    /// A query came before the first data set: No Data Available.
    NoData,
}

/// How a Serial Query was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SerialAnswer {
    /// With the net change since the router's serial.
    Delta,
    /// With Cache Reset: that serial is not retained.
    CacheReset,
}

//------------ Session -------------------------------------------------------

/// The state of one router connection.
#[derive(Debug)]
pub struct Session {
    /// The highest version offered (C in §7).
    max_version: Version,
    /// The version fixed by the first query answered.
    version: Option<Version>,
    /// Set once a Cache Response went out: from then on the session ID is
    /// established and Serial Notifies may be sent (§7).
    established: bool,
    closed: bool,
    notify: NotifyState,
    /// Non-fatal Error Reports since the last query.
    reports: u32,
}

/// What §8.2 needs to know to send a Serial Notify: at most one per
/// interval, deferred rather than dropped, none for a serial the router
/// already has.
#[derive(Debug, Default)]
struct NotifyState {
    /// A new serial has not been told yet.
    due: bool,
    /// The serial of the last End of Data or Serial Notify sent.
    told: Option<Serial>,
    /// When the last Serial Notify went out.
    last: Option<Instant>,
}

impl Session {
    /// A new connection, offering versions up to `max_version`.
    pub fn new(max_version: Version) -> Session {
        Session {
            max_version,
            version: None,
            established: false,
            closed: false,
            notify: NotifyState::default(),
            reports: 0,
        }
    }

    /// The negotiated version, if any.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// Whether the session has had a Cache Response and may be notified.
    pub fn is_established(&self) -> bool {
        self.established
    }

    /// Whether a close was ordered; nothing more is processed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Process at most one PDU from the start of `input`.
    ///
    /// Returns the number of octets consumed; 0 means a complete PDU is not
    /// there yet (or the session is closed). Outputs and notes are appended.
    /// The shell calls this again only after the previous answer has been
    /// written, so answers are never interleaved and never pile up.
    pub fn receive(
        &mut self,
        input: &[u8],
        cache: &Cache,
        out: &mut Vec<Output>,
        notes: &mut Vec<Note>,
    ) -> usize {
        if self.closed {
            return 0;
        }
        // §5.1: lengths are checked on the header alone, before any body.
        let (h, octets) = match pdu::split(input) {
            Ok(Some(split)) => split,
            Ok(None) => return 0,
            Err(e) => {
                let v = self.reply_version(e.header().version);
                let header = input.get(..HEADER_LEN).unwrap_or_default();
                self.fatal(out, v, ErrorCode::CorruptData, header);
                return HEADER_LEN;
            }
        };
        let len = octets.len();

        // §7: the version.
        let version = match (self.version, Version::new(h.version)) {
            (Some(v), got) if got != Some(v) => {
                if h.kind == kind::ERROR_REPORT {
                    self.close(out, Reason::ErrorReportVersion(h.version));
                } else {
                    // Code 8 does not exist in v0 (RFC 6810 §10); a v0
                    // session gets Unsupported Protocol Version instead.
                    let code = if v == Version::V0 {
                        ErrorCode::UnsupportedVersion
                    } else {
                        ErrorCode::UnexpectedVersion
                    };
                    self.fatal(out, v, code, octets);
                }
                return len;
            }
            (Some(v), _) => v,
            (None, Some(v)) if v <= self.max_version => v,
            (None, _) => {
                if h.kind == kind::ERROR_REPORT {
                    self.close(out, Reason::ErrorReportVersion(h.version));
                } else {
                    // Never echo an unsupported version: answer with ours,
                    // and keep the connection for a query at a lower one.
                    error(out, self.max_version, ErrorCode::UnsupportedVersion, octets);
                    notes.push(Note::VersionTooHigh(h.version));
                }
                return len;
            }
        };

        if !kind::exists_in(h.kind, version) {
            self.fatal(out, version, ErrorCode::UnsupportedPduType, octets);
            return len;
        }
        if !kind::sent_by_router(h.kind) {
            self.fatal(out, version, ErrorCode::InvalidRequest, octets);
            return len;
        }
        match pdu::Pdu::read(h, octets) {
            Ok((_, pdu::Pdu::ResetQuery)) => {
                self.negotiate(version, notes);
                self.reset_query(version, cache, out, notes);
            }
            Ok((_, pdu::Pdu::SerialQuery { session, serial })) => {
                self.negotiate(version, notes);
                self.serial_query(version, session, serial, octets, cache, out, notes);
            }
            Ok((_, pdu::Pdu::ErrorReport(report))) => {
                self.error_report(version, report, out, notes);
            }
            // A router's own PDU types are the three above.
            Ok(_) => self.fatal(out, version, ErrorCode::InvalidRequest, octets),
            Err(_) if h.kind == kind::ERROR_REPORT => self.close(out, Reason::BadErrorReport),
            Err(_) => self.fatal(out, version, ErrorCode::CorruptData, octets),
        }
        len
    }

    /// The cache has a new serial: an established session is to be told
    /// (§8.2), as soon as [`Session::due_notify`] allows.
    pub fn new_serial(&mut self) {
        if self.established && !self.closed {
            self.notify.due = true;
        }
    }

    /// Whether a Serial Notify waits for its time.
    pub fn wants_notify(&self) -> bool {
        self.notify.due && !self.closed
    }

    /// The Serial Notify due at `now`, if one is: for a serial the session
    /// does not have yet, and at most one per `interval` (§8.2) — a later
    /// one is deferred, never dropped, and several coalesce into one.
    pub fn due_notify(
        &mut self,
        now: Instant,
        interval: Duration,
        cache: &Cache,
    ) -> Option<Output> {
        if !self.wants_notify() {
            return None;
        }
        let serial = cache.serial();
        if serial.is_none() || self.notify.told == serial {
            self.notify.due = false;
            return None;
        }
        if self
            .notify
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < interval)
        {
            return None;
        }
        self.notify.due = false;
        let out = self.notify(cache)?;
        self.notify.told = serial;
        self.notify.last = Some(now);
        Some(out)
    }

    /// A Serial Notify for the cache's current serial, if the session is
    /// established (§8.2; none before the first Cache Response, §7).
    pub fn notify(&self, cache: &Cache) -> Option<Output> {
        let (version, serial) = (self.version?, cache.serial()?);
        if !self.established || self.closed {
            return None;
        }
        let mut bytes = Vec::with_capacity(12);
        pdu::serial_notify(&mut bytes, version, cache.session_id(version), serial);
        Some(Output::Pdus { bytes, pdus: 1 })
    }

    /// What to send to a v2 session when the cache goes away for a restart
    /// (§8.5: Cache Restart, non-fatal; other versions have no such code).
    pub fn restart(&mut self) -> Option<Output> {
        if self.version != Some(Version::V2) || self.closed {
            return None;
        }
        let mut bytes = Vec::new();
        pdu::error_report(&mut bytes, Version::V2, ErrorCode::CacheRestart, &[], "");
        Some(Output::Pdus { bytes, pdus: 1 })
    }

    /// The Error Report that turns a connection away before it has a
    /// session (a limit reached: `why`): Internal Error at the highest
    /// version offered, so that no router is made to step down by it,
    /// asking it to try again later.
    pub fn refusal(max_version: Version, why: &str) -> Vec<u8> {
        let text = format!("{why}; try again later");
        let mut report = Vec::with_capacity(32 + text.len());
        pdu::error_report(
            &mut report,
            max_version,
            ErrorCode::InternalError,
            &[],
            &text,
        );
        report
    }

    //--- Queries

    fn negotiate(&mut self, version: Version, notes: &mut Vec<Note>) {
        self.reports = 0;
        if self.version.is_none() {
            self.version = Some(version);
            notes.push(Note::Negotiated(version));
        }
    }

    fn reset_query(
        &mut self,
        v: Version,
        cache: &Cache,
        out: &mut Vec<Output>,
        notes: &mut Vec<Note>,
    ) {
        let (Some(serial), Some(full)) = (cache.serial(), cache.full(v)) else {
            return no_data(out, v, notes);
        };
        notes.push(Note::ResetQuery);
        self.respond(v, serial, full, cache, out);
    }

    #[allow(clippy::too_many_arguments)] // one query's fields and where its answer goes
    fn serial_query(
        &mut self,
        v: Version,
        session: SessionId,
        serial: Serial,
        pdu: &[u8],
        cache: &Cache,
        out: &mut Vec<Output>,
        notes: &mut Vec<Note>,
    ) {
        let Some(current) = cache.serial() else {
            return no_data(out, v, notes);
        };
        if session != cache.session_id(v) {
            // §5.3 (-27): a wrong ID on an established session is corrupt
            // data; on a new connection it is a session from before a
            // restart, and the router needs a Cache Reset.
            if self.established {
                return self.fatal(out, v, ErrorCode::CorruptData, pdu);
            }
            notes.push(Note::SerialQuery {
                serial,
                answer: SerialAnswer::CacheReset,
            });
            return cache_reset(out, v);
        }
        let delta = if serial == current {
            Some(Encoded::empty())
        } else {
            cache.delta(v, serial)
        };
        if let Some(delta) = delta {
            notes.push(Note::SerialQuery {
                serial,
                answer: SerialAnswer::Delta,
            });
            self.respond(v, current, delta, cache, out);
        } else {
            notes.push(Note::SerialQuery {
                serial,
                answer: SerialAnswer::CacheReset,
            });
            cache_reset(out, v);
        }
    }

    /// Cache Response, the payload PDUs, End of Data (§8.1, §8.2).
    fn respond(
        &mut self,
        v: Version,
        serial: Serial,
        body: Encoded,
        cache: &Cache,
        out: &mut Vec<Output>,
    ) {
        let session = cache.session_id(v);
        let mut head = Vec::with_capacity(8);
        pdu::cache_response(&mut head, v, session);
        out.push(Output::Pdus {
            bytes: head,
            pdus: 1,
        });
        if body.pdus > 0 {
            out.push(Output::Shared(body));
        }
        let mut tail = Vec::with_capacity(24);
        pdu::end_of_data(&mut tail, v, session, serial, cache.timers());
        out.push(Output::Pdus {
            bytes: tail,
            pdus: 1,
        });
        self.established = true;
        self.notify.told = Some(serial);
    }

    //--- Errors

    fn error_report(
        &mut self,
        v: Version,
        report: ErrorReport<'_>,
        out: &mut Vec<Output>,
        notes: &mut Vec<Note>,
    ) {
        // §5.8: never answer an Error Report with one. A code not defined
        // for the version drops the session.
        match ErrorCode::for_version(report.code, v) {
            None => self.close(out, Reason::BadErrorReport),
            Some(code) if code.is_fatal_in(v) => {
                self.close(out, Reason::ReceivedError(report.code));
            }
            Some(_) if self.reports >= MAX_REPORTS => self.close(out, Reason::ErrorReportFlood),
            Some(_) => {
                self.reports += 1;
                notes.push(Note::ReceivedError(report.code));
            }
        }
    }

    /// The version for an error before negotiation: the PDU's own if we
    /// speak it, else our highest (§7: never echo an unsupported one).
    fn reply_version(&self, pdu_version: u8) -> Version {
        match (self.version, Version::new(pdu_version)) {
            (Some(v), _) => v,
            (None, Some(v)) if v <= self.max_version => v,
            (None, _) => self.max_version,
        }
    }

    fn fatal(&mut self, out: &mut Vec<Output>, v: Version, code: ErrorCode, pdu: &[u8]) {
        error(out, v, code, pdu);
        self.close(out, Reason::SentError(code));
    }

    fn close(&mut self, out: &mut Vec<Output>, reason: Reason) {
        out.push(Output::Close(reason));
        self.closed = true;
    }
}

fn error(out: &mut Vec<Output>, v: Version, code: ErrorCode, pdu: &[u8]) {
    let mut bytes = Vec::with_capacity(16 + pdu.len());
    pdu::error_report(&mut bytes, v, code, pdu, "");
    out.push(Output::Pdus { bytes, pdus: 1 });
}

/// §8.4: before the first data set, both queries get No Data Available,
/// which is not fatal: the connection stays open.
fn no_data(out: &mut Vec<Output>, v: Version, notes: &mut Vec<Note>) {
    error(out, v, ErrorCode::NoDataAvailable, &[]);
    notes.push(Note::NoData);
}

fn cache_reset(out: &mut Vec<Output>, v: Version) {
    let mut bytes = Vec::with_capacity(8);
    pdu::cache_reset(&mut bytes, v);
    out.push(Output::Pdus { bytes, pdus: 1 });
}

#[cfg(test)]
mod tests;
