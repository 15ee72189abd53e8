//! The RTR session state machine, sans I/O: bytes from a router go in,
//! PDUs (owned or shared from the cache) and a close order come out.
//!
//! Runs in the rtr worker (unprivileged, sandboxed). It never touches a
//! socket, so every rule below is tested as a transcript. Section numbers
//! are draft-ietf-sidrops-8210bis-27; the version negotiation follows §7
//! as summarised in rovd's protocol digest §3.

use std::fmt;

use super::cache::{Cache, Encoded};
use super::pdu::{self, kind, ErrorCode, ErrorReport, Header, HEADER_LEN, MAX_LEN};

//------------ Output --------------------------------------------------------

/// What the I/O shell must do, in order.
#[derive(Clone, Debug)]
pub enum Output {
    /// Send these PDUs, owned by this session.
    Pdus { bytes: Vec<u8>, pdus: u32 },
    /// Send a run of payload PDUs shared with other sessions.
    Shared(Encoded),
    /// Close the connection once everything before this has been sent.
    Close(Reason),
}

/// Why a session ends.
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
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::SentError(code) => write!(f, "sent error {} ({})", *code as u16, code.name()),
            Reason::ReceivedError(code) => match ErrorCode::for_version(*code, 2) {
                Some(c) => write!(f, "router reported error {code} ({})", c.name()),
                None => write!(f, "router reported error {code}"),
            },
            Reason::BadErrorReport => f.write_str("malformed Error Report from router"),
            Reason::ErrorReportVersion(v) => write!(f, "Error Report with version {v}"),
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
    Negotiated(u8),
    ResetQuery,
    SerialQuery {
        serial: u32,
        answer: SerialAnswer,
    },
    NoData,
}

/// How a Serial Query was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SerialAnswer {
    Delta,
    CacheReset,
}

//------------ Session -------------------------------------------------------

/// The state of one router connection.
#[derive(Debug)]
pub struct Session {
    /// The highest version offered (C in §7).
    max_version: u8,
    /// The version fixed by the first query answered.
    version: Option<u8>,
    /// Set once a Cache Response went out: from then on the session ID is
    /// established and Serial Notifies may be sent (§7).
    established: bool,
    closed: bool,
}

impl Session {
    /// A new connection, offering versions up to `max_version`.
    pub fn new(max_version: u8) -> Session {
        Session {
            max_version,
            version: None,
            established: false,
            closed: false,
        }
    }

    /// The negotiated version, if any.
    pub fn version(&self) -> Option<u8> {
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
        let Some(h) = Header::parse(input) else {
            return 0;
        };
        let len = h.len as usize;
        // §5.1: lengths are checked on the header alone, before any body.
        if !(HEADER_LEN..=MAX_LEN).contains(&len) {
            let v = self.reply_version(h.version);
            self.fatal(out, v, ErrorCode::CorruptData, &input[..HEADER_LEN]);
            return HEADER_LEN;
        }
        if input.len() < len {
            return 0;
        }
        let pdu = &input[..len];

        // §7: the version.
        if let Some(v) = self.version {
            if h.version != v {
                if h.kind == kind::ERROR_REPORT {
                    self.close(out, Reason::ErrorReportVersion(h.version));
                } else {
                    // Code 8 does not exist in v0 (RFC 6810 §10); a v0
                    // session gets Unsupported Protocol Version instead.
                    let code = if v == 0 {
                        ErrorCode::UnsupportedVersion
                    } else {
                        ErrorCode::UnexpectedVersion
                    };
                    self.fatal(out, v, code, pdu);
                }
                return len;
            }
        } else if h.version > self.max_version {
            if h.kind == kind::ERROR_REPORT {
                self.close(out, Reason::ErrorReportVersion(h.version));
            } else {
                // Never echo an unsupported version: answer with ours, and
                // keep the connection for a query at a lower version.
                error(out, self.max_version, ErrorCode::UnsupportedVersion, pdu);
                notes.push(Note::VersionTooHigh(h.version));
            }
            return len;
        }
        let version = h.version;

        match h.kind {
            kind::RESET_QUERY | kind::SERIAL_QUERY => {
                let expected = if h.kind == kind::RESET_QUERY { 8 } else { 12 };
                if len != expected {
                    self.fatal(out, version, ErrorCode::CorruptData, pdu);
                    return len;
                }
                if self.version.is_none() {
                    self.version = Some(version);
                    notes.push(Note::Negotiated(version));
                }
                if h.kind == kind::RESET_QUERY {
                    self.reset_query(version, cache, out, notes);
                } else {
                    self.serial_query(version, pdu, cache, out, notes);
                }
            }
            kind::ERROR_REPORT => self.error_report(version, pdu, out, notes),
            kind::SERIAL_NOTIFY
            | kind::CACHE_RESPONSE
            | kind::IPV4_PREFIX
            | kind::IPV6_PREFIX
            | kind::END_OF_DATA
            | kind::CACHE_RESET => self.fatal(out, version, ErrorCode::InvalidRequest, pdu),
            kind::ROUTER_KEY if version >= 1 => {
                self.fatal(out, version, ErrorCode::InvalidRequest, pdu)
            }
            kind::ASPA if version >= 2 => self.fatal(out, version, ErrorCode::InvalidRequest, pdu),
            _ => self.fatal(out, version, ErrorCode::UnsupportedPduType, pdu),
        }
        len
    }

    /// A Serial Notify for the current serial, if the session is
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
        if self.version != Some(2) || self.closed {
            return None;
        }
        let mut bytes = Vec::new();
        pdu::error_report(&mut bytes, 2, ErrorCode::CacheRestart, &[], "");
        Some(Output::Pdus { bytes, pdus: 1 })
    }

    //--- Queries

    fn reset_query(&mut self, v: u8, cache: &Cache, out: &mut Vec<Output>, notes: &mut Vec<Note>) {
        let (Some(serial), Some(full)) = (cache.serial(), cache.full(v)) else {
            return no_data(out, v, notes);
        };
        notes.push(Note::ResetQuery);
        self.respond(v, serial, full, cache, out);
    }

    fn serial_query(
        &mut self,
        v: u8,
        pdu: &[u8],
        cache: &Cache,
        out: &mut Vec<Output>,
        notes: &mut Vec<Note>,
    ) {
        let Some(current) = cache.serial() else {
            return no_data(out, v, notes);
        };
        let (session, serial) = pdu::serial_query(pdu).expect("length checked");
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
            Some(Encoded {
                bytes: Vec::new().into(),
                pdus: 0,
            })
        } else {
            cache.delta(v, serial)
        };
        match delta {
            Some(delta) => {
                notes.push(Note::SerialQuery {
                    serial,
                    answer: SerialAnswer::Delta,
                });
                self.respond(v, current, delta, cache, out);
            }
            None => {
                notes.push(Note::SerialQuery {
                    serial,
                    answer: SerialAnswer::CacheReset,
                });
                cache_reset(out, v);
            }
        }
    }

    /// Cache Response, the payload PDUs, End of Data (§8.1, §8.2).
    fn respond(&mut self, v: u8, serial: u32, body: Encoded, cache: &Cache, out: &mut Vec<Output>) {
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
    }

    //--- Errors

    fn error_report(&mut self, v: u8, pdu: &[u8], out: &mut Vec<Output>, notes: &mut Vec<Note>) {
        // §5.8: never answer an Error Report with one. A malformed report
        // or one with a code not defined for the version drops the session.
        let Some(report) = ErrorReport::parse(pdu) else {
            return self.close(out, Reason::BadErrorReport);
        };
        match ErrorCode::for_version(report.code, v) {
            None => self.close(out, Reason::BadErrorReport),
            Some(code) if code.is_fatal_in(v) => {
                self.close(out, Reason::ReceivedError(report.code))
            }
            Some(_) => notes.push(Note::ReceivedError(report.code)),
        }
    }

    /// The version for an error before negotiation: the PDU's own if we
    /// speak it, else our highest (§7: never echo an unsupported one).
    fn reply_version(&self, pdu_version: u8) -> u8 {
        match self.version {
            Some(v) => v,
            None if pdu_version <= self.max_version => pdu_version,
            None => self.max_version,
        }
    }

    fn fatal(&mut self, out: &mut Vec<Output>, v: u8, code: ErrorCode, pdu: &[u8]) {
        error(out, v, code, pdu);
        self.close(out, Reason::SentError(code));
    }

    fn close(&mut self, out: &mut Vec<Output>, reason: Reason) {
        out.push(Output::Close(reason));
        self.closed = true;
    }
}

fn error(out: &mut Vec<Output>, v: u8, code: ErrorCode, pdu: &[u8]) {
    let mut bytes = Vec::with_capacity(16 + pdu.len());
    pdu::error_report(&mut bytes, v, code, pdu, "");
    out.push(Output::Pdus { bytes, pdus: 1 });
}

/// §8.4: before the first data set, both queries get No Data Available,
/// which is not fatal: the connection stays open.
fn no_data(out: &mut Vec<Output>, v: u8, notes: &mut Vec<Note>) {
    error(out, v, ErrorCode::NoDataAvailable, &[]);
    notes.push(Note::NoData);
}

fn cache_reset(out: &mut Vec<Output>, v: u8) {
    let mut bytes = Vec::with_capacity(8);
    pdu::cache_reset(&mut bytes, v);
    out.push(Output::Pdus { bytes, pdus: 1 });
}

#[cfg(test)]
mod tests;
