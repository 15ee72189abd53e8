//! The cache state served to routers: session IDs, the serial, the current
//! snapshot, a bounded history of net deltas, and the pre-encoded PDU
//! buffers every session writes from.
//!
//! Runs in the rtr worker (unprivileged, sandboxed), single-threaded.
//!
//! For each serial the payload PDUs of the full table, and of the delta
//! from each retained serial, are encoded at most once per protocol version
//! (on first use) into an immutable buffer shared by reference count. A
//! session answering a query queues a reference to that buffer; serving one
//! more router costs a refcount and socket writes, never a re-encode or a
//! copy of the table.
//!
//! The VRPs, nearly all of a table, are kept only in that encoded form:
//! a new snapshot's full table is encoded at once for the version last
//! asked for and its structured VRPs are dropped; other versions are
//! transcoded from it (the VRP PDUs differ only in their version octet),
//! and the next update decodes the old VRPs back to compute its delta.
//! This halves the worker's memory against keeping both forms.

use std::cell::{Cell, OnceCell};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use crate::payload::{Delta, Snapshot, Vrp};
use crate::pdu::{self, DecodeError, Pdu, Serial, SessionId, Timers, Version};

//------------ Encoded -------------------------------------------------------

/// A run of encoded payload PDUs, shared by every session that sends it.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// The PDUs, back to back.
    pub bytes: Arc<[u8]>,
    /// How many there are.
    pub pdus: u32,
}

impl Encoded {
    /// No PDUs: the answer to a Serial Query for the current serial.
    pub fn empty() -> Encoded {
        Encoded {
            bytes: Vec::new().into(),
            pdus: 0,
        }
    }

    fn encode(encode: impl FnOnce(&mut Vec<u8>) -> u32) -> Encoded {
        let mut buf = Vec::new();
        let pdus = encode(&mut buf);
        Encoded {
            bytes: buf.into(),
            pdus,
        }
    }
}

/// One encoding per protocol version, made on first use.
#[derive(Debug, Default)]
struct PerVersion([OnceCell<Encoded>; Version::ALL.len()]);

impl PerVersion {
    fn get(&self, version: Version, encode: impl FnOnce(&mut Vec<u8>) -> u32) -> Encoded {
        self.0[version.index()]
            .get_or_init(|| Encoded::encode(encode))
            .clone()
    }
}

//------------ Corrupt -------------------------------------------------------

/// The cache's own encoding of a table did not decode: a bug, which ends
/// the worker rather than serve a wrong delta.
#[derive(Clone, Debug)]
pub struct Corrupt(String);

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the encoded table does not decode: {}", self.0)
    }
}

impl From<DecodeError> for Corrupt {
    fn from(e: DecodeError) -> Corrupt {
        Corrupt(e.to_string())
    }
}

//------------ Cache ---------------------------------------------------------

/// What a new snapshot changed, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Update {
    /// The new serial.
    pub serial: Serial,
    /// How many VRPs, router keys and ASPAs it holds.
    pub vrps: usize,
    /// See `vrps`.
    pub router_keys: usize,
    /// See `vrps`.
    pub aspas: usize,
    /// Items announced and withdrawn since the previous serial.
    pub announced: usize,
    /// See `announced`.
    pub withdrawn: usize,
}

#[derive(Debug)]
struct Current {
    serial: Serial,
    /// The router keys and ASPAs; its `vrps` stay empty.
    rest: Snapshot,
    /// How many VRPs: the first PDUs of every full table.
    vrps: usize,
    /// The full table encoded when the snapshot came: what the others are
    /// transcoded from and the VRPs decoded from.
    base: Encoded,
    /// The full tables per version, `base` among them.
    full: PerVersion,
}

impl Current {
    fn new(serial: Serial, mut snapshot: Snapshot, version: Version) -> Current {
        let full = PerVersion::default();
        let base = full.get(version, |buf| encode_full(buf, version, &snapshot));
        let vrps = std::mem::take(&mut snapshot.vrps).len();
        Current {
            serial,
            rest: snapshot,
            vrps,
            base,
            full,
        }
    }

    /// The whole snapshot again, VRPs decoded from the base table.
    fn snapshot(&self) -> Result<Snapshot, Corrupt> {
        Ok(Snapshot {
            vrps: decode_vrps(&self.base.bytes, self.vrps)?,
            router_keys: self.rest.router_keys.clone(),
            aspas: self.rest.aspas.clone(),
        })
    }
}

/// The net change from a retained older serial to the current one.
#[derive(Debug)]
struct Retained {
    serial: Serial,
    delta: Delta,
    encoded: PerVersion,
}

/// Everything the sessions answer from.
#[derive(Debug)]
pub struct Cache {
    session_ids: [SessionId; Version::ALL.len()],
    timers: Timers,
    history_limit: usize,
    next_serial: Serial,
    /// The version the last full table was asked for: the one a new
    /// snapshot is encoded for first.
    last_full: Cell<Version>,
    current: Option<Current>,
    /// Oldest first.
    history: VecDeque<Retained>,
}

impl Cache {
    /// An empty cache: no data until the first snapshot arrives.
    ///
    /// The session IDs of the three versions derive from one random base
    /// so that they differ from each other (§5.1: not the same ID across
    /// versions).
    pub fn new(session_base: u16, timers: Timers, history_limit: usize) -> Cache {
        Self::with_first_serial(session_base, timers, history_limit, Serial(0))
    }

    /// As [`Cache::new`], with the serial the first snapshot gets.
    pub fn with_first_serial(
        session_base: u16,
        timers: Timers,
        history_limit: usize,
        first_serial: Serial,
    ) -> Cache {
        let id = |v: Version| {
            SessionId(session_base.wrapping_add(u16::from(v.number()).wrapping_mul(0x5555)))
        };
        Cache {
            session_ids: Version::ALL.map(id),
            timers,
            history_limit,
            next_serial: first_serial,
            last_full: Cell::new(Version::V1),
            current: None,
            history: VecDeque::new(),
        }
    }

    /// The session ID for a protocol version.
    pub fn session_id(&self, version: Version) -> SessionId {
        self.session_ids[version.index()]
    }

    /// The End of Data timers.
    pub fn timers(&self) -> &Timers {
        &self.timers
    }

    /// Change the End of Data timers and the history depth (reload).
    pub fn reconfigure(&mut self, timers: Timers, history_limit: usize) {
        self.timers = timers;
        self.history_limit = history_limit;
        self.trim_history();
    }

    /// The current serial, or `None` before the first snapshot.
    pub fn serial(&self) -> Option<Serial> {
        self.current.as_ref().map(|c| c.serial)
    }

    /// Serials a Serial Query can be answered incrementally from, oldest
    /// first, not counting the current one.
    pub fn retained_serials(&self) -> impl Iterator<Item = Serial> + '_ {
        self.history.iter().map(|r| r.serial)
    }

    /// Install a new snapshot. Returns `None` and changes nothing if it
    /// equals the current one: the serial only moves when the data does.
    pub fn update(&mut self, snapshot: Snapshot) -> Result<Option<Update>, Corrupt> {
        let (announced, withdrawn) = match self.current.take() {
            None => (snapshot.len(), 0),
            Some(old) => {
                let before = match old.snapshot() {
                    Ok(s) => s,
                    Err(e) => {
                        self.current = Some(old);
                        return Err(e);
                    }
                };
                let delta = Delta::between(&before, &snapshot);
                drop(before);
                if delta.is_empty() {
                    self.current = Some(old);
                    return Ok(None);
                }
                let counts = (delta.announce.len(), delta.withdraw.len());
                for r in &mut self.history {
                    r.delta = r.delta.then(&delta);
                    r.encoded = PerVersion::default();
                }
                self.history.push_back(Retained {
                    serial: old.serial,
                    delta,
                    encoded: PerVersion::default(),
                });
                counts
            }
        };
        let serial = self.next_serial;
        self.next_serial = serial.next();
        let update = Update {
            serial,
            vrps: snapshot.vrps.len(),
            router_keys: snapshot.router_keys.len(),
            aspas: snapshot.aspas.len(),
            announced,
            withdrawn,
        };
        self.current = Some(Current::new(serial, snapshot, self.last_full.get()));
        self.trim_history();
        Ok(Some(update))
    }

    /// Drop the data and the history: every query gets No Data Available
    /// until the next snapshot, which gets the next serial.
    pub fn clear(&mut self) {
        self.current = None;
        self.history.clear();
    }

    /// Keep at most `history_limit` serials.
    fn trim_history(&mut self) {
        while self.history.len() > self.history_limit {
            self.history.pop_front();
        }
    }

    /// What the served table is made of, to export it: the serial, a full
    /// table encoded for some version whose first `vrps` PDUs are the
    /// VRPs, and the router keys and ASPAs. Shares the encoded table; the
    /// keys and ASPAs, few, are copied.
    pub fn export(&self) -> Option<(Serial, Encoded, usize, Snapshot)> {
        let cur = self.current.as_ref()?;
        Some((cur.serial, cur.base.clone(), cur.vrps, cur.rest.clone()))
    }

    /// How many payloads `version` serves: VRPs, router keys, ASPAs.
    pub fn counts(&self, version: Version) -> Option<(usize, usize, usize)> {
        let cur = self.current.as_ref()?;
        Some((
            cur.vrps,
            if version.has_router_keys() {
                cur.rest.router_keys.len()
            } else {
                0
            },
            if version.has_aspa() {
                cur.rest.aspas.len()
            } else {
                0
            },
        ))
    }

    /// The payload PDUs of the full table for `version`.
    pub fn full(&self, version: Version) -> Option<Encoded> {
        let cur = self.current.as_ref()?;
        self.last_full.set(version);
        Some(cur.full.get(version, |buf| {
            transcode_full(buf, version, &cur.base.bytes, cur.vrps, &cur.rest)
        }))
    }

    /// The payload PDUs of the net change from `serial` to the current
    /// serial for `version`, or `None` if `serial` is not retained. An
    /// exact match of the serial value is required: anything else (older,
    /// "newer", never issued) gets a Cache Reset, which keeps RFC 1982
    /// wrap-around out of the picture.
    pub fn delta(&self, version: Version, serial: Serial) -> Option<Encoded> {
        let r = self.history.iter().find(|r| r.serial == serial)?;
        Some(
            r.encoded
                .get(version, |buf| encode_delta(buf, version, &r.delta)),
        )
    }
}

//------------ Encoding in §11.2 order ---------------------------------------

/// Index of the first IPv6 VRP in a sorted VRP vector.
fn v6_start(vrps: &[Vrp]) -> usize {
    vrps.partition_point(|v| !v.prefix.is_v6())
}

/// The full table: announcements only (§5.5), IPv4, IPv6, router keys
/// (v1+), ASPA (v2), each in the order of §11.2. Returns the PDU count.
pub fn encode_full(buf: &mut Vec<u8>, version: Version, s: &Snapshot) -> u32 {
    let mut n = 0u32;
    buf.reserve(s.vrps.len() * 24);
    let (v4, v6) = s.vrps.split_at(v6_start(&s.vrps));
    // §11.2.1: announcements by address, max length, length, ASN, all
    // descending — the reverse of the stored order.
    for v in v4.iter().rev().chain(v6.iter().rev()) {
        pdu::vrp(buf, version, true, v);
        n += 1;
    }
    if version.has_router_keys() {
        for k in &s.router_keys {
            pdu::router_key(buf, version, true, k);
            n += 1;
        }
    }
    if version.has_aspa() {
        for a in &s.aspas {
            pdu::aspa_announce(buf, version, a);
            n += 1;
        }
    }
    n
}

/// The full table for `version` from another version's `table` of
/// `vrps` VRPs: its VRP PDUs with the version octet changed, then the
/// version's router keys and ASPAs from `rest`.
fn transcode_full(
    buf: &mut Vec<u8>,
    version: Version,
    table: &[u8],
    vrps: usize,
    rest: &Snapshot,
) -> u32 {
    buf.reserve(table.len() + rest.router_keys.len() * 128 + rest.aspas.len() * 64);
    let mut copied = 0;
    let mut rest_of_table = table;
    while copied < vrps {
        let Ok(Some((_, pdu))) = pdu::split(rest_of_table) else {
            break;
        };
        let start = buf.len();
        buf.extend_from_slice(pdu);
        if let Some(octet) = buf.get_mut(start) {
            *octet = version.number();
        }
        rest_of_table = rest_of_table.get(pdu.len()..).unwrap_or_default();
        copied += 1;
    }
    #[allow(clippy::cast_possible_truncation)] // at most `vrps`, which came from a u32 count
    let copied = copied as u32;
    copied + encode_full(buf, version, rest)
}

/// The VRPs of a full table's first `count` PDUs, in stored order: the
/// table holds each family in reverse (§11.2.1).
fn decode_vrps(table: &[u8], count: usize) -> Result<Vec<Vrp>, Corrupt> {
    let mut vrps = Vec::with_capacity(count);
    let mut rest = table;
    while vrps.len() < count {
        match Pdu::decode(rest)? {
            Some((_, Pdu::Prefix { vrp, .. }, len)) => {
                vrps.push(vrp);
                rest = rest.get(len..).unwrap_or_default();
            }
            other => return Err(Corrupt(format!("VRP {} is {other:?}", vrps.len()))),
        }
    }
    let split = v6_start(&vrps);
    let (v4, v6) = vrps.split_at_mut(split);
    v4.reverse();
    v6.reverse();
    Ok(vrps)
}

/// A delta: per type, announcements before withdrawals (§11.2), with the
/// version's filtering. An ASPA customer whose provider set changed is sent
/// as one replacing announcement without a withdrawal (§5.12).
pub fn encode_delta(buf: &mut Vec<u8>, version: Version, d: &Delta) -> u32 {
    let mut n = 0u32;
    let (a, w) = (&d.announce, &d.withdraw);
    let (a4, a6) = a.vrps.split_at(v6_start(&a.vrps));
    let (w4, w6) = w.vrps.split_at(v6_start(&w.vrps));
    for (ann, wd) in [(a4, w4), (a6, w6)] {
        for v in ann.iter().rev() {
            pdu::vrp(buf, version, true, v);
            n += 1;
        }
        for v in wd {
            pdu::vrp(buf, version, false, v);
            n += 1;
        }
    }
    if version.has_router_keys() {
        for k in &a.router_keys {
            pdu::router_key(buf, version, true, k);
            n += 1;
        }
        for k in &w.router_keys {
            pdu::router_key(buf, version, false, k);
            n += 1;
        }
    }
    if version.has_aspa() {
        for x in &a.aspas {
            pdu::aspa_announce(buf, version, x);
            n += 1;
        }
        let mut replaced = a.aspas.iter().map(|x| x.customer).peekable();
        for x in &w.aspas {
            while replaced.next_if(|&c| c < x.customer).is_some() {}
            if replaced.peek() == Some(&x.customer) {
                continue;
            }
            pdu::aspa_withdraw(buf, version, x.customer);
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{Aspa, Prefix, RouterKey, Vrp};

    const TIMERS: Timers = Timers {
        refresh: 3600,
        retry: 600,
        expire: 7200,
    };

    fn v4(s: &str, len: u8, max: u8, asn: u32) -> Vrp {
        Vrp::new(Prefix::v4(s.parse().unwrap(), len).unwrap(), max, asn).unwrap()
    }

    fn snap(vrps: Vec<Vrp>, aspas: Vec<Aspa>) -> Snapshot {
        Snapshot::build(vrps, vec![], aspas).0
    }

    #[test]
    fn session_ids_differ_per_version() {
        for base in [0u16, 1, 0x5555, 0xaaab, 0xffff] {
            let c = Cache::new(base, TIMERS, 10);
            let ids = Version::ALL.map(|v| c.session_id(v));
            assert!(
                ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
                "{ids:?}"
            );
        }
    }

    #[test]
    fn serial_moves_only_on_change() {
        let mut c = Cache::new(7, TIMERS, 10);
        assert!(c.full(Version::V2).is_none());
        let s = snap(vec![v4("10.0.0.0", 8, 8, 1)], vec![]);
        assert_eq!(c.update(s.clone()).unwrap().unwrap().serial, Serial(0));
        assert!(c.update(s).unwrap().is_none());
        assert_eq!(c.serial(), Some(Serial(0)));
        let u = c
            .update(snap(vec![v4("10.0.0.0", 8, 9, 1)], vec![]))
            .unwrap()
            .unwrap();
        assert_eq!((u.serial, u.announced, u.withdrawn), (Serial(1), 1, 1));
        assert_eq!(c.retained_serials().collect::<Vec<_>>(), [Serial(0)]);
    }

    #[test]
    fn history_is_bounded_and_wraps() {
        let mut c = Cache::with_first_serial(1, TIMERS, 3, Serial(u32::MAX - 1));
        let mut vrps = vec![v4("10.0.0.0", 8, 8, 1), v4("11.0.0.0", 8, 8, 1)];
        for i in 0..6u32 {
            vrps.push(v4(&format!("12.{i}.0.0"), 16, 16, i));
            c.update(snap(vrps.clone(), vec![])).unwrap();
        }
        // Serials: MAX-1, MAX, 0, 1, 2, 3 — current 3, three retained.
        assert_eq!(c.serial(), Some(Serial(3)));
        assert_eq!(
            c.retained_serials().collect::<Vec<_>>(),
            [Serial(0), Serial(1), Serial(2)]
        );
        assert!(c.delta(Version::V2, Serial(u32::MAX)).is_none());
        assert_eq!(c.delta(Version::V2, Serial(0)).unwrap().pdus, 3);
        assert_eq!(c.delta(Version::V0, Serial(2)).unwrap().pdus, 1);
    }

    #[test]
    fn aspa_change_is_a_single_replacement() {
        let d = Delta::between(
            &snap(
                vec![],
                vec![
                    Aspa {
                        customer: 1,
                        providers: vec![2],
                    },
                    Aspa {
                        customer: 3,
                        providers: vec![4],
                    },
                ],
            ),
            &snap(
                vec![],
                vec![
                    Aspa {
                        customer: 1,
                        providers: vec![2, 5],
                    },
                    Aspa {
                        customer: 6,
                        providers: vec![0],
                    },
                ],
            ),
        );
        let mut buf = Vec::new();
        assert_eq!(encode_delta(&mut buf, Version::V2, &d), 3);
        assert_eq!(
            buf,
            [
                // announce AS1 => [2, 5]
                2, 11, 1, 0, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 5,
                // announce AS6 => [0]
                2, 11, 1, 0, 0, 0, 0, 16, 0, 0, 0, 6, 0, 0, 0, 0, // withdraw AS3
                2, 11, 0, 0, 0, 0, 0, 12, 0, 0, 0, 3,
            ]
        );
        let mut buf = Vec::new();
        assert_eq!(encode_delta(&mut buf, Version::V1, &d), 0);
        assert!(buf.is_empty());
    }

    #[test]
    fn transcoded_tables_equal_direct_encodings_and_updates_see_old_vrps() {
        use crate::testdata::{self, Spec};
        let old = testdata::generate(&Spec {
            vrps: 3_000,
            ..Spec::small()
        });
        let new = testdata::mutate(&old, 5.0, 3);
        for first in Version::ALL {
            let mut c = Cache::new(0, TIMERS, 10);
            c.update(old.clone()).unwrap();
            // The first request decides what the next snapshot is encoded as.
            c.full(first);
            for v in [Version::V2, Version::V0, Version::V1] {
                let mut want = Vec::new();
                let n = encode_full(&mut want, v, &old);
                let got = c.full(v).unwrap();
                assert_eq!((got.pdus, &got.bytes[..]), (n, &want[..]), "v{v}");
            }
            let u = c.update(new.clone()).unwrap().unwrap();
            let d = Delta::between(&old, &new);
            assert_eq!(
                (u.announced, u.withdrawn),
                (d.announce.len(), d.withdraw.len())
            );
            for v in Version::ALL {
                let mut want = Vec::new();
                encode_full(&mut want, v, &new);
                assert_eq!(&c.full(v).unwrap().bytes[..], &want[..]);
                let mut want = Vec::new();
                encode_delta(&mut want, v, &d);
                assert_eq!(&c.delta(v, Serial(0)).unwrap().bytes[..], &want[..]);
            }
            // The same data again is no update.
            assert!(c.update(new.clone()).unwrap().is_none());
        }
    }

    #[test]
    fn full_table_filters_per_version() {
        let key = RouterKey {
            ski: [9; 20],
            asn: 65000,
            spki: vec![1, 2, 3].into(),
        };
        let s = Snapshot::build(
            vec![v4("10.0.0.0", 8, 8, 1)],
            vec![key],
            vec![Aspa {
                customer: 1,
                providers: vec![2],
            }],
        )
        .0;
        let mut c = Cache::new(0, TIMERS, 10);
        c.update(s).unwrap();
        let [v0, v1, v2] = Version::ALL;
        assert_eq!(c.full(v0).unwrap().pdus, 1);
        assert_eq!(c.full(v1).unwrap().pdus, 2);
        assert_eq!(c.full(v2).unwrap().pdus, 3);
        assert_eq!(c.full(v0).unwrap().bytes.len(), 20);
        assert_eq!(c.full(v1).unwrap().bytes.len(), 20 + 35);
        assert_eq!(c.full(v2).unwrap().bytes.len(), 20 + 35 + 16);
        // Shared, not re-encoded.
        assert!(Arc::ptr_eq(
            &c.full(v2).unwrap().bytes,
            &c.full(v2).unwrap().bytes
        ));
    }
}
