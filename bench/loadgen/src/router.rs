//! One simulated router, sans I/O: it queues the queries it wants sent,
//! takes the octets the cache sends, checks every PDU with rovd's strict
//! client decoder, and keeps the table's content hash up to date. Where
//! the socket is, see `drive.rs`.
//!
//! The life of a router: Reset Query, the answer up to End of Data
//! (synced); when following, the first Serial Notify for another serial
//! sends a Serial Query, and the End of Data of that answer (or of a new
//! reset after a Cache Reset) ends it (updated). Section numbers are
//! 8210bis-27.

use std::collections::HashMap;
use std::time::Instant;

use rovd::pdu::{self, kind, ErrorCode, Pdu, Reader, Serial, SessionId, Version};

use crate::hash::{self, ContentHash, ItemHash};

/// Where a router is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Reset Query sent, reading its answer.
    Reset,
    /// Serial Query for a serial another session fetched sent, reading
    /// the (usually empty) answer: a session joined without a full table.
    Joining,
    /// Holding a full table.
    Synced,
    /// Serial Query sent, reading the delta.
    Serial,
    /// Holding the table of the serial a Serial Notify announced.
    Updated,
    /// Ended by a protocol error, the cache, or a timeout.
    Failed(String),
}

/// One RTR session seen from the router's side.
// Independent switches and states of one session, not a mode in disguise.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug)]
pub(crate) struct Router {
    /// The version asked for; lowered if the cache answers at a lower one.
    version: Version,
    /// Whether to answer a Serial Notify with a Serial Query.
    follow: bool,
    /// Whether to check only the PDU framing: no decoding, no hash.
    frame_only: bool,
    pub phase: Phase,
    /// Whether a Cache Response opened the answer being read.
    in_answer: bool,
    /// Whether the current reset follows a Cache Reset (§5.6).
    after_cache_reset: bool,
    pub session: Option<u16>,
    pub serial: Option<u32>,
    /// The serial the first Serial Query went out for, when following.
    pub synced_serial: Option<u32>,
    pub hash: ContentHash,
    /// The hash of each customer's ASPA record: a withdrawal names only
    /// the customer (§5.12), so the hash to subtract must be kept.
    aspas: HashMap<u32, ItemHash>,
    /// Octets waiting to be sent.
    pub out: Vec<u8>,
    pub octets: u64,
    pub pdus: u64,
    /// Whether the run's deadline, not an error, ended the router.
    pub timed_out: bool,
    pub queried_at: Option<Instant>,
    pub synced_at: Option<Instant>,
    pub notified_at: Option<Instant>,
    pub updated_at: Option<Instant>,
    /// When following: keep following until the table has this content
    /// hash (hex), for caches that announce a serial before the one that
    /// carries the change.
    until_hash: Option<String>,
    /// Serials applied after the first sync.
    pub updates: u32,
}

impl Router {
    /// A router that queues its Reset Query at `version` now.
    pub(crate) fn start(version: Version, follow: bool, now: Instant) -> Router {
        let mut out = Vec::with_capacity(pdu::SERIAL_QUERY_LEN);
        pdu::reset_query(&mut out, version);
        Router {
            version,
            follow,
            frame_only: false,
            phase: Phase::Reset,
            in_answer: false,
            after_cache_reset: false,
            session: None,
            serial: None,
            synced_serial: None,
            hash: ContentHash::default(),
            aspas: HashMap::new(),
            out,
            octets: 0,
            pdus: 0,
            timed_out: false,
            queried_at: Some(now),
            synced_at: None,
            notified_at: None,
            updated_at: None,
            until_hash: None,
            updates: 0,
        }
    }

    /// A router that joins at the table `primer` fetched: it queues a
    /// Serial Query for `primer`'s session and serial, and starts from its
    /// content hash, as a router reconnecting to a cache it knows does
    /// (§5.3). Thousands of sessions are established this way without
    /// thousands of full tables.
    pub(crate) fn join(primer: &Router, follow: bool, now: Instant) -> Router {
        let mut r = Router::start(primer.version, follow, now);
        r.out.clear();
        r.session = primer.session;
        r.serial = primer.serial;
        r.hash = primer.hash;
        if follow {
            r.aspas.clone_from(&primer.aspas);
        }
        r.serial_query();
        r.phase = Phase::Joining;
        r
    }

    /// Follow until the table's content hash is `hex`, not only to the
    /// first new serial.
    pub(crate) fn until_hash(mut self, hex: &str) -> Router {
        self.until_hash = Some(hex.to_ascii_lowercase());
        self
    }

    /// Check only that the PDUs are framed right and find End of Data:
    /// what is left of the client's work when a benchmark measures the
    /// cache and not its own decoder. The hash stays empty.
    pub(crate) fn frame_only(mut self) -> Router {
        self.frame_only = true;
        self
    }

    /// The version the session runs at.
    pub(crate) fn version(&self) -> u8 {
        self.version.number()
    }

    /// End the router with `why`, unless it has already ended.
    pub(crate) fn fail(&mut self, why: impl Into<String>) {
        if !matches!(self.phase, Phase::Failed(_)) {
            self.phase = Phase::Failed(why.into());
        }
    }

    /// Take the complete PDUs at the start of `buf` and return how many
    /// octets they took; the rest waits for more. Stops at the first error.
    pub(crate) fn receive(&mut self, buf: &[u8], now: Instant) -> usize {
        if self.frame_only {
            return self.frame(buf, now);
        }
        let mut used = 0;
        while !matches!(self.phase, Phase::Failed(_)) {
            match Pdu::decode_from_cache(buf.get(used..).unwrap_or_default()) {
                Ok(None) => break,
                Ok(Some((version, pdu, len))) => {
                    used += len;
                    self.pdus += 1;
                    if let Err(why) = self.pdu(version, pdu, now) {
                        self.fail(why);
                    }
                }
                Err(e) => self.fail(format!("undecodable PDU: {e}")),
            }
        }
        used
    }

    /// `receive` without decoding: §5.1 headers only.
    fn frame(&mut self, buf: &[u8], now: Instant) -> usize {
        let mut used = 0;
        while let Some(rest) = buf.get(used..) {
            let (h, pdu) = match pdu::split(rest) {
                Ok(Some(split)) => split,
                Ok(None) => break,
                Err(e) => {
                    let len = e.header().len;
                    self.fail(format!("PDU length {len} out of bounds"));
                    break;
                }
            };
            used += pdu.len();
            self.pdus += 1;
            let res = match h.kind {
                kind::CACHE_RESPONSE => {
                    self.session = Some(h.field);
                    self.in_answer = true;
                    Ok(())
                }
                kind::END_OF_DATA if pdu.len() >= 12 => {
                    let mut r = Reader::new(pdu);
                    self.in_answer = false;
                    self.serial = r.take(pdu::HEADER_LEN).and_then(|_| r.u32());
                    self.phase = Phase::Synced;
                    self.synced_at = Some(now);
                    Ok(())
                }
                kind::ERROR_REPORT => Err(format!("cache sent Error Report {}", h.field)),
                kind::SERIAL_NOTIFY => Ok(()),
                _ if self.in_answer => Ok(()),
                other => Err(format!("PDU type {other} outside an answer")),
            };
            if let Err(why) = res {
                self.fail(why);
                break;
            }
        }
        used
    }

    #[allow(clippy::too_many_lines)] // one arm per PDU type, as §5 lists them
    fn pdu(&mut self, version: Version, pdu: Pdu<'_>, now: Instant) -> Result<(), String> {
        if let Pdu::ErrorReport(report) = &pdu {
            let code = report.code;
            let name = ErrorCode::for_version(code, version).map_or("unknown code", |c| c.name());
            return Err(format!(
                "cache sent Error Report {code} ({name}) at version {version}: {}",
                report.text
            ));
        }
        // As rovctl: a cache may answer the first query at a lower version.
        if self.session.is_none()
            && version < self.version
            && matches!(pdu, Pdu::CacheResponse { .. })
        {
            self.version = version;
        }
        if version != self.version {
            return Err(format!(
                "PDU at version {version} in a version {} session",
                self.version
            ));
        }
        let announce_only = self.phase == Phase::Reset;
        match pdu {
            Pdu::SerialNotify { serial, .. } => {
                // §8.2: a notify may arrive at any time.
                if self.follow && self.phase == Phase::Synced && Some(serial.0) != self.serial {
                    if self.notified_at.is_none() {
                        self.notified_at = Some(now);
                        self.synced_serial = self.serial;
                    }
                    self.serial_query();
                }
                Ok(())
            }
            Pdu::CacheResponse {
                session: SessionId(session),
            } => {
                if self.in_answer {
                    return Err("Cache Response inside an answer".into());
                }
                if !matches!(self.phase, Phase::Reset | Phase::Serial | Phase::Joining) {
                    return Err("Cache Response without a query".into());
                }
                if matches!(self.phase, Phase::Serial | Phase::Joining)
                    && self.session != Some(session)
                {
                    return Err(format!("Cache Response for another session ({session})"));
                }
                self.session = Some(session);
                self.in_answer = true;
                Ok(())
            }
            Pdu::CacheReset => {
                // §5.6: the answer to a Serial Query the cache cannot serve.
                if !matches!(self.phase, Phase::Serial | Phase::Joining) || self.in_answer {
                    return Err("Cache Reset not in answer to a Serial Query".into());
                }
                // A joining router that must reset is simply not joined.
                self.after_cache_reset = self.phase == Phase::Serial;
                self.phase = Phase::Reset;
                self.hash = ContentHash::default();
                self.aspas.clear();
                pdu::reset_query(&mut self.out, self.version);
                Ok(())
            }
            Pdu::Prefix { announce, vrp } => {
                self.payload(announce, announce_only)?;
                self.apply(announce, hash::vrp(&vrp));
                Ok(())
            }
            Pdu::RouterKey { announce, key } => {
                self.payload(announce, announce_only)?;
                self.apply(announce, hash::router_key(&key));
                Ok(())
            }
            Pdu::Aspa { announce, aspa } => {
                self.payload(announce, announce_only)?;
                // §5.12: an announcement replaces the customer's record.
                let old = if announce {
                    let new = hash::aspa(&aspa);
                    self.hash.add(new);
                    self.aspas.insert(aspa.customer, new)
                } else {
                    let old = self.aspas.remove(&aspa.customer);
                    if old.is_none() {
                        return Err(format!("withdrawal of unknown ASPA AS{}", aspa.customer));
                    }
                    old
                };
                if let Some(old) = old {
                    if announce_only {
                        return Err(format!("two ASPA records for AS{}", aspa.customer));
                    }
                    self.hash.remove(old);
                }
                Ok(())
            }
            Pdu::EndOfData {
                session: SessionId(session),
                serial: Serial(serial),
                ..
            } => {
                if !self.in_answer {
                    return Err("End of Data without Cache Response".into());
                }
                if Some(session) != self.session {
                    return Err(format!("End of Data for another session ({session})"));
                }
                self.in_answer = false;
                self.serial = Some(serial);
                if self.phase == Phase::Joining {
                    self.phase = Phase::Synced;
                    self.synced_at = Some(now);
                } else if self.phase == Phase::Serial || self.after_cache_reset {
                    self.updates += 1;
                    self.after_cache_reset = false;
                    let reached = match &self.until_hash {
                        Some(want) => *want == self.hash.hex(),
                        None => true,
                    };
                    // Not there yet: wait for the next Serial Notify.
                    self.phase = if reached {
                        Phase::Updated
                    } else {
                        Phase::Synced
                    };
                    self.updated_at = Some(now);
                } else {
                    self.phase = Phase::Synced;
                    self.synced_at = Some(now);
                }
                Ok(())
            }
            Pdu::ErrorReport(_) | Pdu::ResetQuery | Pdu::SerialQuery { .. } => {
                Err("a PDU no cache sends".into())
            }
        }
    }

    /// Check that a payload PDU may come now.
    fn payload(&self, announce: bool, announce_only: bool) -> Result<(), String> {
        if !self.in_answer {
            return Err("payload PDU outside an answer".into());
        }
        if !announce && announce_only {
            return Err("withdrawal in the answer to a Reset Query".into());
        }
        Ok(())
    }

    fn apply(&mut self, announce: bool, item: ItemHash) {
        if announce {
            self.hash.add(item);
        } else {
            self.hash.remove(item);
        }
    }

    /// Serial Query (§5.3): 12 octets.
    fn serial_query(&mut self) {
        let session = SessionId(self.session.unwrap_or(0));
        let serial = Serial(self.serial.unwrap_or(0));
        pdu::serial_query(&mut self.out, self.version, session, serial);
        self.phase = Phase::Serial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rovd::payload::{Delta, Snapshot};
    use rovd::pdu::{self, Timers};
    use rovd::testdata::{self, Spec};

    const V1: Version = Version::V1;
    const V2: Version = Version::V2;

    fn reset_query(v: Version) -> Vec<u8> {
        let mut q = Vec::new();
        pdu::reset_query(&mut q, v);
        q
    }

    const TIMERS: Timers = Timers {
        refresh: 3600,
        retry: 600,
        expire: 7200,
    };

    fn full(out: &mut Vec<u8>, s: &Snapshot, session: u16, serial: u32) {
        pdu::cache_response(out, V2, SessionId(session));
        s.vrps.iter().for_each(|v| pdu::vrp(out, V2, true, v));
        s.router_keys
            .iter()
            .for_each(|k| pdu::router_key(out, V2, true, k));
        s.aspas.iter().for_each(|a| pdu::aspa_announce(out, V2, a));
        pdu::end_of_data(out, V2, SessionId(session), Serial(serial), &TIMERS);
    }

    /// Feed `octets` in pieces of `step`, as a socket might deliver them.
    fn feed(r: &mut Router, octets: &[u8], step: usize) {
        let mut buf = Vec::new();
        for piece in octets.chunks(step) {
            buf.extend_from_slice(piece);
            let used = r.receive(&buf, Instant::now());
            buf.drain(..used);
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn reset_then_delta_matches_new_snapshot() {
        let old = testdata::generate(&Spec {
            vrps: 500,
            ..Spec::small()
        });
        let new = testdata::mutate(&old, 10.0, 7);
        let mut r = Router::start(V2, true, Instant::now());
        assert_eq!(r.out, reset_query(V2));
        r.out.clear();
        let mut octets = Vec::new();
        full(&mut octets, &old, 9, 1);
        feed(&mut r, &octets, 7);
        assert_eq!(r.phase, Phase::Synced);
        assert_eq!(r.hash, ContentHash::of_snapshot(&old, 2));

        let mut octets = Vec::new();
        pdu::serial_notify(&mut octets, V2, SessionId(9), Serial(2));
        feed(&mut r, &octets, 12);
        assert_eq!(r.phase, Phase::Serial);
        assert_eq!(r.out, [2, 1, 0, 9, 0, 0, 0, 12, 0, 0, 0, 1]);

        let d = Delta::between(&old, &new);
        let mut octets = Vec::new();
        pdu::cache_response(&mut octets, V2, SessionId(9));
        d.withdraw
            .vrps
            .iter()
            .for_each(|v| pdu::vrp(&mut octets, V2, false, v));
        d.announce
            .vrps
            .iter()
            .for_each(|v| pdu::vrp(&mut octets, V2, true, v));
        d.withdraw
            .router_keys
            .iter()
            .for_each(|k| pdu::router_key(&mut octets, V2, false, k));
        d.announce
            .router_keys
            .iter()
            .for_each(|k| pdu::router_key(&mut octets, V2, true, k));
        // A changed ASPA is announced once; a removed one withdrawn.
        for a in &d.withdraw.aspas {
            if !d.announce.aspas.iter().any(|n| n.customer == a.customer) {
                pdu::aspa_withdraw(&mut octets, V2, a.customer);
            }
        }
        d.announce
            .aspas
            .iter()
            .for_each(|a| pdu::aspa_announce(&mut octets, V2, a));
        pdu::end_of_data(&mut octets, V2, SessionId(9), Serial(2), &TIMERS);
        feed(&mut r, &octets, 1000);
        assert_eq!(r.phase, Phase::Updated);
        assert_eq!(r.serial, Some(2));
        assert_eq!(r.hash, ContentHash::of_snapshot(&new, 2));
    }

    #[test]
    fn until_hash_follows_past_a_serial_without_the_change() {
        let old = testdata::generate(&Spec {
            vrps: 200,
            ..Spec::small()
        });
        let new = testdata::mutate(&old, 10.0, 5);
        let want = ContentHash::of_snapshot(&new, 2).hex();
        let mut r = Router::start(V2, true, Instant::now()).until_hash(&want);
        r.out.clear();
        let mut octets = Vec::new();
        full(&mut octets, &old, 3, 1);
        feed(&mut r, &octets, 64);
        // Serial 2 changes nothing: not there yet, still following.
        let mut octets = Vec::new();
        pdu::serial_notify(&mut octets, V2, SessionId(3), Serial(2));
        feed(&mut r, &octets, 12);
        r.out.clear();
        let mut octets = Vec::new();
        pdu::cache_response(&mut octets, V2, SessionId(3));
        pdu::end_of_data(&mut octets, V2, SessionId(3), Serial(2), &TIMERS);
        feed(&mut r, &octets, 64);
        assert_eq!((r.phase.clone(), r.updates), (Phase::Synced, 1));
        let first_notify = r.notified_at;
        // Serial 3 carries it.
        let mut octets = Vec::new();
        pdu::serial_notify(&mut octets, V2, SessionId(3), Serial(3));
        feed(&mut r, &octets, 12);
        assert_eq!(r.out, [2, 1, 0, 3, 0, 0, 0, 12, 0, 0, 0, 2]);
        let d = Delta::between(&old, &new);
        let mut octets = Vec::new();
        pdu::cache_response(&mut octets, V2, SessionId(3));
        rovd::rtr::cache::encode_delta(&mut octets, V2, &d);
        pdu::end_of_data(&mut octets, V2, SessionId(3), Serial(3), &TIMERS);
        feed(&mut r, &octets, 1000);
        assert_eq!((r.phase.clone(), r.updates), (Phase::Updated, 2));
        assert_eq!(r.hash.hex(), want);
        // Timed from the first notify.
        assert_eq!(r.notified_at, first_notify);
        assert_eq!(r.synced_serial, Some(1));
    }

    #[test]
    fn joined_router_starts_from_the_primer_table() {
        let s = testdata::generate(&Spec {
            vrps: 300,
            ..Spec::small()
        });
        let mut primer = Router::start(V2, false, Instant::now());
        let mut octets = Vec::new();
        full(&mut octets, &s, 4, 17);
        feed(&mut primer, &octets, 100);
        assert_eq!(primer.phase, Phase::Synced);

        let mut r = Router::join(&primer, true, Instant::now());
        assert_eq!(r.phase, Phase::Joining);
        assert_eq!(r.out, [2, 1, 0, 4, 0, 0, 0, 12, 0, 0, 0, 17]);
        let mut octets = Vec::new();
        pdu::cache_response(&mut octets, V2, SessionId(4));
        pdu::end_of_data(&mut octets, V2, SessionId(4), Serial(17), &TIMERS);
        feed(&mut r, &octets, 5);
        assert_eq!(r.phase, Phase::Synced);
        assert_eq!(r.hash, ContentHash::of_snapshot(&s, 2));
        assert_eq!(r.serial, Some(17));
    }

    #[test]
    fn frame_only_finds_end_of_data_without_decoding() {
        let s = testdata::generate(&Spec {
            vrps: 300,
            ..Spec::small()
        });
        let mut r = Router::start(V1, false, Instant::now()).frame_only();
        let mut octets = Vec::new();
        full(&mut octets, &s, 4, 9);
        feed(&mut r, &octets, 333);
        assert_eq!(r.phase, Phase::Synced);
        assert_eq!(r.serial, Some(9));
        assert_eq!(usize::try_from(r.pdus).unwrap(), s.len() + 2);
        // A PDU outside an answer is still caught.
        let mut r = Router::start(V1, false, Instant::now()).frame_only();
        r.receive(&octets[8..], Instant::now());
        assert!(matches!(r.phase, Phase::Failed(_)));
    }

    #[test]
    fn rejects_withdrawal_in_reset_and_error_report() {
        let s = testdata::generate(&Spec {
            vrps: 10,
            ..Spec::small()
        });
        let mut r = Router::start(V2, false, Instant::now());
        let mut octets = Vec::new();
        pdu::cache_response(&mut octets, V2, SessionId(1));
        pdu::vrp(&mut octets, V2, false, &s.vrps[0]);
        feed(&mut r, &octets, 64);
        assert!(matches!(r.phase, Phase::Failed(ref w) if w.contains("withdrawal")));

        let mut r = Router::start(V2, false, Instant::now());
        let mut octets = Vec::new();
        pdu::error_report(&mut octets, V2, ErrorCode::NoDataAvailable, &[], "");
        r.receive(&octets, Instant::now());
        assert!(matches!(r.phase, Phase::Failed(ref w) if w.contains("Error Report 2")));
    }
}
