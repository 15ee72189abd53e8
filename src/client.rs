//! The router's side of an RTR session, sans I/O: it queues the queries a
//! router sends, takes the cache's octets, checks every PDU against the
//! rules of draft-ietf-sidrops-8210bis-27 §8 and §11, and keeps the table
//! the cache has given it, applying each delta only once its End of Data
//! has arrived.
//!
//! Used by `rovctl`, to fetch a cache's table, and by the upstream RTR
//! client of the fetcher process. No I/O and no privileges here: the
//! caller moves the octets (see [`Client::take_output`]) and decides when
//! to ask (after a Serial Notify, at the Refresh Interval). Section numbers
//! are 8210bis-27 unless marked otherwise.

use std::collections::BTreeMap;
use std::fmt;

use crate::payload::{Aspa, Delta, RouterKey, Snapshot, Vrp};
use crate::pdu::{self, ErrorCode, ErrorReport, Pdu, Serial, SessionId, Timers, Version};

//------------ Event ---------------------------------------------------------

/// What a PDU from the cache amounted to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An answer is complete: the table is at `serial` now. `full`: it was
    /// the answer to a Reset Query and replaced the table (see
    /// [`Client::table`]); `changes`: what a Serial Query's answer changed
    /// against the table before, empty when `full`.
    Synced {
        /// The cache's session.
        session: SessionId,
        /// The serial the table is at.
        serial: Serial,
        /// Whether the whole table was replaced.
        full: bool,
        /// What was announced and withdrawn; empty when `full`.
        changes: Delta,
        /// The cache's timers; none in v0.
        timers: Option<Timers>,
    },
    /// The cache has a new serial (§8.2): time for a Serial Query.
    Notified(Serial),
    /// The cache could not answer the Serial Query from the serial held
    /// (§5.6, §8.3): a Reset Query has been queued.
    CacheReset,
    /// The cache has no data yet (§8.4): ask again later.
    NoData,
    /// The cache speaks a lower version (§7): a Reset Query at `Version`
    /// has been queued.
    Downgraded(Version),
    /// The session is over: the cache sent a fatal Error Report, or broke
    /// the protocol (an Error Report to it has been queued). Close the
    /// connection once the output is written.
    Failed(Failure),
}

/// Why a session failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The cache sent an Error Report with this code and text.
    Refused {
        /// The version of the report.
        version: Version,
        /// Its error code.
        code: u16,
        /// Its text.
        text: String,
    },
    /// The cache broke the protocol; this was reported to it with `code`.
    Broken {
        /// What was wrong.
        what: String,
        /// The Error Report code sent.
        code: ErrorCode,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused {
                version,
                code,
                text,
            } => {
                let name =
                    ErrorCode::for_version(*code, *version).map_or("unknown code", ErrorCode::name);
                write!(
                    f,
                    "cache sent Error Report {code} ({name}) at version {version}"
                )?;
                if !text.is_empty() {
                    write!(f, ": {text}")?;
                }
                Ok(())
            }
            Failure::Broken { what, code } => {
                write!(f, "{what} (reported as {})", code.name())
            }
        }
    }
}

//------------ Client --------------------------------------------------------

/// Where the session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No query outstanding.
    Idle,
    /// A query sent; its answer has not begun (a Cache Response, or Cache
    /// Reset, No Data, an error).
    Asked(Query),
    /// Inside the answer to a query, after its Cache Response.
    Answering(Query),
    /// Failed; nothing more is taken.
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Query {
    Reset,
    Serial,
}

/// One router session with a cache.
#[derive(Debug)]
pub struct Client {
    /// The version asked for; lowered once if the cache speaks a lower one.
    version: Version,
    /// Fixed by the first Cache Response.
    negotiated: bool,
    state: State,
    session: Option<SessionId>,
    serial: Option<Serial>,
    timers: Option<Timers>,
    table: Snapshot,
    /// The answer being read.
    pending: Pending,
    /// Octets to send to the cache.
    output: Vec<u8>,
}

/// What an answer has said so far.
#[derive(Debug, Default)]
struct Pending {
    /// To a Reset Query: the new table, unsorted; checked for records
    /// announced twice at End of Data.
    full: Snapshot,
    /// To a Serial Query: each record's state at the end, announced or
    /// withdrawn; an ASPA customer's new record, or none.
    vrps: BTreeMap<Vrp, bool>,
    router_keys: BTreeMap<RouterKey, bool>,
    aspas: BTreeMap<u32, Option<Aspa>>,
}

impl Client {
    /// A session that starts at `version` with a Reset Query.
    pub fn new(version: Version) -> Client {
        let mut c = Client {
            version,
            negotiated: false,
            state: State::Idle,
            session: None,
            serial: None,
            timers: None,
            table: Snapshot::default(),
            pending: Pending::default(),
            output: Vec::new(),
        };
        c.reset_query();
        c
    }

    /// The version the session speaks.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The cache's session and the serial of the table, once synced.
    pub fn position(&self) -> Option<(SessionId, Serial)> {
        Some((self.session?, self.serial?))
    }

    /// The cache's End of Data timers, once synced at v1 or v2.
    pub fn timers(&self) -> Option<Timers> {
        self.timers
    }

    /// The table as of the last complete answer.
    pub fn table(&self) -> &Snapshot {
        &self.table
    }

    /// The table as of the last complete answer, taken out. The client is
    /// left with an empty table and no serial for it, so that a refresh
    /// after asks for the whole table again.
    pub fn take_table(&mut self) -> Snapshot {
        self.serial = None;
        std::mem::take(&mut self.table)
    }

    /// Whether a query is outstanding.
    pub fn is_waiting(&self) -> bool {
        matches!(self.state, State::Asked(_) | State::Answering(_))
    }

    /// Whether the session failed.
    pub fn is_failed(&self) -> bool {
        self.state == State::Done
    }

    /// Octets to send to the cache, taken out.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Ask for the changes since the table's serial (§8.2), or for the
    /// whole table if there is none yet. Nothing if a query is
    /// outstanding.
    pub fn refresh(&mut self) {
        if self.state != State::Idle {
            return;
        }
        match self.position() {
            Some((session, serial)) => {
                pdu::serial_query(&mut self.output, self.version, session, serial);
                self.state = State::Asked(Query::Serial);
            }
            None => self.reset_query(),
        }
    }

    /// A new connection to the same cache: the table and its position are
    /// kept, and the first query is a Serial Query for them (§8.1: a
    /// router may resume; a cache that lost them answers Cache Reset), or
    /// a Reset Query if the table has no position yet. The version stays.
    pub fn resume(&mut self) {
        self.output.clear();
        self.pending = Pending::default();
        self.negotiated = false;
        self.state = State::Idle;
        self.refresh();
    }

    fn reset_query(&mut self) {
        pdu::reset_query(&mut self.output, self.version);
        self.state = State::Asked(Query::Reset);
        self.pending = Pending::default();
    }

    /// Take at most one PDU from the start of `input`: the octets it took
    /// (0 while the PDU is incomplete) and what it amounted to.
    pub fn receive(&mut self, input: &[u8], events: &mut Vec<Event>) -> usize {
        if self.state == State::Done {
            return 0;
        }
        match Pdu::decode_from_cache(input) {
            Ok(None) => 0,
            Ok(Some((version, pdu, len))) => {
                let octets = input.get(..len).unwrap_or_default();
                if let Some(event) = self.pdu(version, pdu, octets) {
                    events.push(event);
                }
                len
            }
            Err(e) => {
                let octets = input.get(..pdu::HEADER_LEN).unwrap_or(input);
                // A version or type the session cannot read has its own
                // code (§12); anything else is Corrupt Data.
                let code = match e {
                    pdu::DecodeError::Version(_) => ErrorCode::UnsupportedVersion,
                    pdu::DecodeError::Type(_) => ErrorCode::UnsupportedPduType,
                    _ => ErrorCode::CorruptData,
                };
                events.push(self.broken(code, octets, e.to_string()));
                input
                    .len()
                    .min(e.header().len as usize)
                    .max(pdu::HEADER_LEN)
            }
        }
    }

    fn pdu(&mut self, version: Version, pdu: Pdu<'_>, octets: &[u8]) -> Option<Event> {
        if let Pdu::ErrorReport(report) = pdu {
            return Some(self.error_report(version, report));
        }
        // §7: a cache of a lower version may answer the first query in it.
        if !self.negotiated && version < self.version && matches!(pdu, Pdu::CacheResponse { .. }) {
            self.version = version;
        }
        if version != self.version {
            let code = if self.version == Version::V0 {
                ErrorCode::UnsupportedVersion
            } else {
                ErrorCode::UnexpectedVersion
            };
            let what = format!(
                "PDU at version {version} in a version {} session",
                self.version
            );
            return Some(self.broken(code, octets, what));
        }
        match (self.state, pdu) {
            // §8.2: a notify may come at any time; it is acted on only
            // between answers, and only for a serial not held.
            (_, Pdu::SerialNotify { session, serial }) => {
                let ours = self
                    .position()
                    .is_some_and(|(s, n)| s == session && n == serial);
                (self.state == State::Idle && self.session == Some(session) && !ours)
                    .then_some(Event::Notified(serial))
            }
            (State::Asked(query), Pdu::CacheResponse { session }) => {
                if query == Query::Serial && self.session != Some(session) {
                    let what = format!("Cache Response for session {session} to a Serial Query");
                    return Some(self.broken(ErrorCode::CorruptData, octets, what));
                }
                self.negotiated = true;
                self.session = Some(session);
                self.state = State::Answering(query);
                None
            }
            (State::Asked(Query::Serial), Pdu::CacheReset) => {
                self.reset_query();
                Some(Event::CacheReset)
            }
            (State::Answering(query), Pdu::Prefix { announce, vrp }) => {
                self.payload(query, announce, octets, |t, p| match query {
                    Query::Reset => {
                        p.full.vrps.push(vrp);
                        Ok(())
                    }
                    Query::Serial => change(&t.vrps, &mut p.vrps, vrp, announce),
                })
            }
            (State::Answering(query), Pdu::RouterKey { announce, key }) => {
                self.payload(query, announce, octets, |t, p| match query {
                    Query::Reset => {
                        p.full.router_keys.push(key);
                        Ok(())
                    }
                    Query::Serial => change(&t.router_keys, &mut p.router_keys, key, announce),
                })
            }
            (State::Answering(query), Pdu::Aspa { announce, aspa }) => {
                self.payload(query, announce, octets, |t, p| match query {
                    Query::Reset => {
                        p.full.aspas.push(aspa);
                        Ok(())
                    }
                    Query::Serial => change_aspa(&t.aspas, &mut p.aspas, aspa, announce),
                })
            }
            (
                State::Answering(query),
                Pdu::EndOfData {
                    session,
                    serial,
                    timers,
                },
            ) => {
                if self.session != Some(session) {
                    let what = format!("End of Data for session {session}");
                    return Some(self.broken(ErrorCode::CorruptData, octets, what));
                }
                Some(self.commit(query, session, serial, timers, octets))
            }
            (_, other) => {
                let what = format!("{other:?} out of place");
                Some(self.broken(ErrorCode::InvalidRequest, octets, what))
            }
        }
    }

    /// A payload PDU inside an answer: `apply` records it in the pending
    /// answer against the table, or says why it cannot be.
    fn payload(
        &mut self,
        query: Query,
        announce: bool,
        octets: &[u8],
        apply: impl FnOnce(&Snapshot, &mut Pending) -> Result<(), Conflict>,
    ) -> Option<Event> {
        // §5.5, §8.1: the answer to a Reset Query only announces.
        if query == Query::Reset && !announce {
            let what = "withdrawal in the answer to a Reset Query".to_string();
            return Some(self.broken(ErrorCode::CorruptData, octets, what));
        }
        match apply(&self.table, &mut self.pending) {
            Ok(()) => None,
            Err(conflict) => Some(self.conflict(conflict, octets)),
        }
    }

    fn conflict(&mut self, conflict: Conflict, octets: &[u8]) -> Event {
        match conflict {
            Conflict::Duplicate => self.broken(
                ErrorCode::DuplicateAnnouncement,
                octets,
                "an announcement of a record already held".into(),
            ),
            Conflict::Unknown => self.broken(
                ErrorCode::WithdrawalOfUnknownRecord,
                octets,
                "a withdrawal of a record not held".into(),
            ),
        }
    }

    /// End of Data: the answer becomes the table.
    fn commit(
        &mut self,
        query: Query,
        session: SessionId,
        serial: Serial,
        timers: Option<Timers>,
        octets: &[u8],
    ) -> Event {
        let pending = std::mem::take(&mut self.pending);
        let (full, changes) = match query {
            Query::Reset => {
                let Some(new) = whole(pending.full) else {
                    return self.conflict(Conflict::Duplicate, octets);
                };
                self.table = new;
                (true, Delta::default())
            }
            Query::Serial => {
                let changes = pending.delta(&self.table);
                self.table = std::mem::take(&mut self.table).apply_owned(&changes);
                (false, changes)
            }
        };
        self.serial = Some(serial);
        self.timers = timers;
        self.state = State::Idle;
        Event::Synced {
            session,
            serial,
            full,
            changes,
            timers,
        }
    }

    fn error_report(&mut self, version: Version, report: ErrorReport<'_>) -> Event {
        let code = ErrorCode::for_version(report.code, version);
        match code {
            // §8.4: no data yet; the query is over, ask again later.
            Some(ErrorCode::NoDataAvailable) => {
                self.state = State::Idle;
                Event::NoData
            }
            // §7: before the version is fixed, a lower one offered.
            Some(ErrorCode::UnsupportedVersion) if !self.negotiated && version < self.version => {
                self.version = version;
                self.reset_query();
                Event::Downgraded(version)
            }
            // §8.5: the cache is restarting; the data stays good until
            // it expires, the session is over.
            _ => {
                self.state = State::Done;
                Event::Failed(Failure::Refused {
                    version,
                    code: report.code,
                    text: report.text.to_string(),
                })
            }
        }
    }

    /// The cache broke the protocol: report it to the cache (§5.8) and end.
    fn broken(&mut self, code: ErrorCode, octets: &[u8], what: String) -> Event {
        pdu::error_report(&mut self.output, self.version, code, octets, &what);
        self.state = State::Done;
        Event::Failed(Failure::Broken { what, code })
    }
}

//------------ Applying changes ----------------------------------------------

/// Why a payload PDU cannot be applied (§11.4).
enum Conflict {
    /// Announced while held, or twice in one answer (error 7).
    Duplicate,
    /// Withdrawn while not held (error 6).
    Unknown,
}

/// Record `item` announced or withdrawn in a Serial Query's answer, whose
/// records so far are `changes`, against the sorted `held`.
fn change<T: Ord>(
    held: &[T],
    changes: &mut BTreeMap<T, bool>,
    item: T,
    announce: bool,
) -> Result<(), Conflict> {
    let now_held = match changes.get(&item) {
        Some(&state) => state,
        None => held.binary_search(&item).is_ok(),
    };
    match (announce, now_held) {
        (true, true) => Err(Conflict::Duplicate),
        (false, false) => Err(Conflict::Unknown),
        _ => {
            changes.insert(item, announce);
            Ok(())
        }
    }
}

/// An ASPA record announced or withdrawn: an announcement for a customer
/// replaces its record (§5.12); a withdrawal names only the customer,
/// which must be held.
fn change_aspa(
    held: &[Aspa],
    changes: &mut BTreeMap<u32, Option<Aspa>>,
    aspa: Aspa,
    announce: bool,
) -> Result<(), Conflict> {
    let customer = aspa.customer;
    if announce {
        changes.insert(customer, Some(Aspa::normalise(customer, aspa.providers)));
        return Ok(());
    }
    let now_held = match changes.get(&customer) {
        Some(record) => record.is_some(),
        None => held.binary_search_by_key(&customer, |a| a.customer).is_ok(),
    };
    if !now_held {
        return Err(Conflict::Unknown);
    }
    changes.insert(customer, None);
    Ok(())
}

impl Pending {
    /// The net change a Serial Query's answer makes to `table`.
    fn delta(self, table: &Snapshot) -> Delta {
        let mut d = Delta::default();
        for (vrp, held) in self.vrps {
            let was = table.vrps.binary_search(&vrp).is_ok();
            match (was, held) {
                (false, true) => d.announce.vrps.push(vrp),
                (true, false) => d.withdraw.vrps.push(vrp),
                _ => {}
            }
        }
        for (key, held) in self.router_keys {
            let was = table.router_keys.binary_search(&key).is_ok();
            match (was, held) {
                (false, true) => d.announce.router_keys.push(key),
                (true, false) => d.withdraw.router_keys.push(key),
                _ => {}
            }
        }
        for (customer, record) in self.aspas {
            let old = table
                .aspas
                .binary_search_by_key(&customer, |a| a.customer)
                .ok()
                .and_then(|i| table.aspas.get(i));
            if old == record.as_ref() {
                continue;
            }
            d.withdraw.aspas.extend(old.cloned());
            d.announce.aspas.extend(record);
        }
        d
    }
}

/// The table a Reset Query's answer announced, sorted; `None` if it
/// announced a record (or an ASPA customer) twice.
fn whole(mut s: Snapshot) -> Option<Snapshot> {
    s.vrps.sort_unstable();
    s.router_keys.sort_unstable();
    s.aspas.sort_unstable_by_key(|a| a.customer);
    let unique = s.vrps.windows(2).all(|w| w[0] != w[1])
        && s.router_keys.windows(2).all(|w| w[0] != w[1])
        && s.aspas.windows(2).all(|w| w[0].customer != w[1].customer);
    for a in &mut s.aspas {
        *a = Aspa::normalise(a.customer, std::mem::take(&mut a.providers));
    }
    unique.then_some(s)
}

#[cfg(test)]
mod tests;
