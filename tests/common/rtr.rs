//! A small RTR client for the black-box tests, written from RFC 6810 (v0),
//! RFC 8210 (v1) and draft-ietf-sidrops-8210bis-27 (v2) and deliberately
//! independent of the daemon's own codec: it decodes every PDU a cache may
//! send, checks lengths and reserved fields strictly, and panics on anything
//! malformed. On top of the decoder sit the two flows a router runs — Reset
//! Query into a full [`Table`] and Serial Query applied as a delta — which
//! check the rules of a well-formed answer as they go.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long one complete answer (Cache Response … End of Data) may take.
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// 8210bis-27 §5.1: a PDU never exceeds 65,535 octets.
const MAX_PDU_LEN: usize = 65_535;

// PDU types, 8210bis-27 §14.
const SERIAL_NOTIFY: u8 = 0;
const SERIAL_QUERY: u8 = 1;
const RESET_QUERY: u8 = 2;
const CACHE_RESPONSE: u8 = 3;
const IPV4_PREFIX: u8 = 4;
const IPV6_PREFIX: u8 = 6;
const END_OF_DATA: u8 = 7;
const CACHE_RESET: u8 = 8;
const ROUTER_KEY: u8 = 9;
const ERROR_REPORT: u8 = 10;
const ASPA: u8 = 11;

/// Error Report codes used by the tests, 8210bis-27 §13.
pub(crate) const ERR_CORRUPT_DATA: u16 = 0;
pub(crate) const ERR_NO_DATA: u16 = 2;
pub(crate) const ERR_UNSUPPORTED_VERSION: u16 = 4;
pub(crate) const ERR_UNSUPPORTED_PDU: u16 = 5;

//------------ Payload and Table ---------------------------------------------

/// A Validated ROA Payload as a router holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Vrp {
    pub addr: IpAddr,
    pub len: u8,
    pub max_len: u8,
    pub asn: u32,
}

impl fmt::Display for Vrp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}-{} AS{}",
            self.addr, self.len, self.max_len, self.asn
        )
    }
}

/// A BGPsec router key; unique on all three fields (RFC 8210 §5.10).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RouterKey {
    pub ski: [u8; 20],
    pub asn: u32,
    pub spki: Vec<u8>,
}

impl fmt::Display for RouterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key {} AS{} spki {} octets",
            hex(&self.ski),
            self.asn,
            self.spki.len()
        )
    }
}

/// What a router holds from one cache: VRPs, router keys and, per customer
/// AS, one provider set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Table {
    pub vrps: BTreeSet<Vrp>,
    pub keys: BTreeSet<RouterKey>,
    pub aspas: BTreeMap<u32, Vec<u32>>,
}

impl Table {
    /// A short human account of how `self` differs from `want`.
    pub(crate) fn diff(&self, want: &Table) -> String {
        fn side<T: fmt::Display>(out: &mut String, what: &str, items: Vec<T>) {
            if items.is_empty() {
                return;
            }
            let _ = writeln!(out, "  {} {what}:", items.len());
            for item in items.iter().take(10) {
                let _ = writeln!(out, "    {item}");
            }
            if items.len() > 10 {
                out.push_str("    …\n");
            }
        }
        let mut out = String::new();
        side(
            &mut out,
            "VRPs missing",
            want.vrps.difference(&self.vrps).collect(),
        );
        side(
            &mut out,
            "VRPs unexpected",
            self.vrps.difference(&want.vrps).collect(),
        );
        side(
            &mut out,
            "router keys missing",
            want.keys.difference(&self.keys).collect(),
        );
        side(
            &mut out,
            "router keys unexpected",
            self.keys.difference(&want.keys).collect(),
        );
        let aspa = |t: &Table, other: &Table| -> Vec<String> {
            t.aspas
                .iter()
                .filter(|(c, p)| other.aspas.get(c) != Some(p))
                .map(|(c, p)| format!("AS{c} -> {p:?}"))
                .collect()
        };
        side(&mut out, "ASPAs missing or different", aspa(want, self));
        side(&mut out, "ASPAs unexpected or different", aspa(self, want));
        out
    }

    /// Panic with a readable difference unless `self` equals `want`.
    pub(crate) fn assert_eq(&self, want: &Table, context: &str) {
        assert!(
            self == want,
            "{context}: table differs ({} VRPs, {} keys, {} ASPAs; want {}, {}, {}):\n{}",
            self.vrps.len(),
            self.keys.len(),
            self.aspas.len(),
            want.vrps.len(),
            want.keys.len(),
            want.aspas.len(),
            self.diff(want)
        );
    }

    /// Load the payload of a Reset Query answer: announcements only, each
    /// record once, one ASPA per customer (8210bis-27 §5.5, §5.12).
    pub(crate) fn from_full(payload: &[Pdu]) -> Table {
        let mut t = Table::default();
        for pdu in payload {
            match pdu {
                Pdu::Ipv4Prefix { announce, vrp, .. } | Pdu::Ipv6Prefix { announce, vrp, .. } => {
                    assert!(announce, "withdrawal in a full answer: {pdu:?}");
                    assert!(t.vrps.insert(*vrp), "VRP {vrp} sent twice in a full answer");
                }
                Pdu::RouterKey { announce, key, .. } => {
                    assert!(announce, "withdrawal in a full answer: {pdu:?}");
                    assert!(
                        t.keys.insert(key.clone()),
                        "{key} sent twice in a full answer"
                    );
                }
                Pdu::Aspa {
                    announce,
                    customer,
                    providers,
                    ..
                } => {
                    assert!(announce, "withdrawal in a full answer: {pdu:?}");
                    let old = t.aspas.insert(*customer, providers.clone());
                    assert!(
                        old.is_none(),
                        "two ASPA PDUs for AS{customer} in a full answer"
                    );
                }
                other => panic!("not a payload PDU: {other:?}"),
            }
        }
        t
    }

    /// Apply the payload of a Serial Query answer. The delta must be the
    /// minimal net change (8210bis-27 §5.3): no withdrawal of a record the
    /// router does not hold, no announcement of one it holds, no record
    /// mentioned twice; an ASPA announcement replaces the customer's record.
    pub(crate) fn apply_delta(&mut self, payload: &[Pdu]) {
        let mut seen_vrps = BTreeSet::new();
        let mut seen_keys = BTreeSet::new();
        let mut seen_customers = BTreeSet::new();
        for pdu in payload {
            match pdu {
                Pdu::Ipv4Prefix { announce, vrp, .. } | Pdu::Ipv6Prefix { announce, vrp, .. } => {
                    assert!(
                        seen_vrps.insert(*vrp),
                        "VRP {vrp} mentioned twice in one delta"
                    );
                    if *announce {
                        assert!(
                            self.vrps.insert(*vrp),
                            "delta announces VRP {vrp} already held"
                        );
                    } else {
                        assert!(self.vrps.remove(vrp), "delta withdraws unknown VRP {vrp}");
                    }
                }
                Pdu::RouterKey { announce, key, .. } => {
                    assert!(
                        seen_keys.insert(key.clone()),
                        "{key} mentioned twice in one delta"
                    );
                    if *announce {
                        assert!(
                            self.keys.insert(key.clone()),
                            "delta announces {key} already held"
                        );
                    } else {
                        assert!(self.keys.remove(key), "delta withdraws unknown {key}");
                    }
                }
                Pdu::Aspa {
                    announce,
                    customer,
                    providers,
                    ..
                } => {
                    assert!(
                        seen_customers.insert(*customer),
                        "ASPA of AS{customer} mentioned twice in one delta"
                    );
                    if *announce {
                        let old = self.aspas.insert(*customer, providers.clone());
                        assert!(
                            old.as_ref() != Some(providers),
                            "delta re-announces the unchanged ASPA of AS{customer}"
                        );
                    } else {
                        assert!(
                            self.aspas.remove(customer).is_some(),
                            "delta withdraws unknown ASPA of AS{customer}"
                        );
                    }
                }
                other => panic!("not a payload PDU: {other:?}"),
            }
        }
    }
}

//------------ Pdu ------------------------------------------------------------

/// End of Data timers (RFC 8210 §6), absent in v0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timers {
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
}

/// Every PDU a cache may send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pdu {
    SerialNotify {
        version: u8,
        session: u16,
        serial: u32,
    },
    CacheResponse {
        version: u8,
        session: u16,
    },
    Ipv4Prefix {
        version: u8,
        announce: bool,
        vrp: Vrp,
    },
    Ipv6Prefix {
        version: u8,
        announce: bool,
        vrp: Vrp,
    },
    EndOfData {
        version: u8,
        session: u16,
        serial: u32,
        timers: Option<Timers>,
    },
    CacheReset {
        version: u8,
    },
    RouterKey {
        version: u8,
        announce: bool,
        key: RouterKey,
    },
    ErrorReport {
        version: u8,
        code: u16,
        pdu: Vec<u8>,
        text: String,
    },
    Aspa {
        version: u8,
        announce: bool,
        customer: u32,
        providers: Vec<u32>,
    },
}

impl Pdu {
    pub(crate) fn version(&self) -> u8 {
        match *self {
            Pdu::SerialNotify { version, .. }
            | Pdu::CacheResponse { version, .. }
            | Pdu::Ipv4Prefix { version, .. }
            | Pdu::Ipv6Prefix { version, .. }
            | Pdu::EndOfData { version, .. }
            | Pdu::CacheReset { version }
            | Pdu::RouterKey { version, .. }
            | Pdu::ErrorReport { version, .. }
            | Pdu::Aspa { version, .. } => version,
        }
    }

    fn is_payload(&self) -> bool {
        matches!(
            self,
            Pdu::Ipv4Prefix { .. }
                | Pdu::Ipv6Prefix { .. }
                | Pdu::RouterKey { .. }
                | Pdu::Aspa { .. }
        )
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// Check the announce/withdraw flags octet: bit 0 is the flag, the other
/// bits are reserved and a cache sends them as zero.
fn flags(b: u8, pdu: &[u8]) -> bool {
    assert_eq!(b & !1, 0, "reserved flag bits set in {}", hex(pdu));
    b & 1 == 1
}

/// Decode the first PDU in `buf`: `None` while it is incomplete, otherwise
/// the PDU and its length. Panics on a malformed PDU, and on a header that
/// announces an impossible length before waiting for its body.
#[allow(clippy::too_many_lines)] // one arm per PDU type, as §5 lists them
pub(crate) fn decode(buf: &[u8]) -> Option<(Pdu, usize)> {
    if buf.len() < 8 {
        return None;
    }
    let version = buf[0];
    let kind = buf[1];
    let len = be32(buf, 4) as usize;
    let head = hex(&buf[..8]);
    assert!(version <= 2, "PDU with unknown version {version}: {head}");
    assert!(
        (8..=MAX_PDU_LEN).contains(&len),
        "PDU length {len} out of range: {head}"
    );
    // Fixed lengths are checked from the header alone.
    let fixed = match kind {
        SERIAL_NOTIFY => Some(12),
        CACHE_RESPONSE | CACHE_RESET => Some(8),
        IPV4_PREFIX => Some(20),
        IPV6_PREFIX => Some(32),
        END_OF_DATA => Some(if version == 0 { 12 } else { 24 }),
        ROUTER_KEY => {
            assert!(version >= 1, "Router Key PDU in a v0 session: {head}");
            assert!(len > 32, "Router Key PDU without SPKI: {head}");
            None
        }
        ERROR_REPORT => {
            assert!(len >= 16, "Error Report shorter than 16: {head}");
            None
        }
        ASPA => {
            assert!(version >= 2, "ASPA PDU in a v{version} session: {head}");
            assert!(
                len >= 12 && (len - 12) % 4 == 0,
                "ASPA PDU length {len}: {head}"
            );
            None
        }
        SERIAL_QUERY | RESET_QUERY => panic!("cache sent a router-only PDU: {head}"),
        other => panic!("unknown PDU type {other}: {head}"),
    };
    if let Some(want) = fixed {
        assert_eq!(
            len, want,
            "wrong length for PDU type {kind} v{version}: {head}"
        );
    }
    if buf.len() < len {
        return None;
    }
    let b = &buf[..len];
    let zero16 = |what: &str| assert_eq!(be16(b, 2), 0, "{what}: octets 2-3 not zero: {}", hex(b));
    let pdu = match kind {
        SERIAL_NOTIFY => Pdu::SerialNotify {
            version,
            session: be16(b, 2),
            serial: be32(b, 8),
        },
        CACHE_RESPONSE => Pdu::CacheResponse {
            version,
            session: be16(b, 2),
        },
        IPV4_PREFIX | IPV6_PREFIX => {
            zero16("prefix PDU");
            assert_eq!(b[11], 0, "prefix PDU: octet 11 not zero: {}", hex(b));
            let announce = flags(b[8], b);
            let (len, max_len) = (b[9], b[10]);
            let (addr, asn, bits) = if kind == IPV4_PREFIX {
                let a: [u8; 4] = b[12..16].try_into().unwrap();
                (IpAddr::V4(Ipv4Addr::from(a)), be32(b, 16), 32)
            } else {
                let a: [u8; 16] = b[12..28].try_into().unwrap();
                (IpAddr::V6(Ipv6Addr::from(a)), be32(b, 28), 128)
            };
            assert!(
                len <= max_len && max_len <= bits,
                "prefix PDU: length {len} max length {max_len}: {}",
                hex(b)
            );
            assert_eq!(
                mask(addr, len),
                addr,
                "prefix PDU: host bits set: {}",
                hex(b)
            );
            let vrp = Vrp {
                addr,
                len,
                max_len,
                asn,
            };
            if kind == IPV4_PREFIX {
                Pdu::Ipv4Prefix {
                    version,
                    announce,
                    vrp,
                }
            } else {
                Pdu::Ipv6Prefix {
                    version,
                    announce,
                    vrp,
                }
            }
        }
        END_OF_DATA => Pdu::EndOfData {
            version,
            session: be16(b, 2),
            serial: be32(b, 8),
            timers: (version > 0).then(|| Timers {
                refresh: be32(b, 12),
                retry: be32(b, 16),
                expire: be32(b, 20),
            }),
        },
        CACHE_RESET => {
            zero16("Cache Reset");
            Pdu::CacheReset { version }
        }
        ROUTER_KEY => {
            assert_eq!(b[3], 0, "Router Key: octet 3 not zero: {}", hex(b));
            Pdu::RouterKey {
                version,
                announce: flags(b[2], b),
                key: RouterKey {
                    ski: b[8..28].try_into().unwrap(),
                    asn: be32(b, 28),
                    spki: b[32..].to_vec(),
                },
            }
        }
        ERROR_REPORT => {
            let n = be32(b, 8) as usize;
            assert!(
                12 + n + 4 <= len,
                "Error Report: encapsulated length {n}: {}",
                hex(b)
            );
            let m = be32(b, 12 + n) as usize;
            assert_eq!(
                16 + n + m,
                len,
                "Error Report: inconsistent lengths: {}",
                hex(b)
            );
            let text = std::str::from_utf8(&b[16 + n..])
                .unwrap_or_else(|_| panic!("Error Report: text not UTF-8: {}", hex(b)));
            Pdu::ErrorReport {
                version,
                code: be16(b, 2),
                pdu: b[12..12 + n].to_vec(),
                text: text.to_string(),
            }
        }
        ASPA => {
            // 8210bis-27 §5.12: flags in octet 2, customer at 8, providers after.
            assert_eq!(b[3], 0, "ASPA: octet 3 not zero: {}", hex(b));
            let announce = flags(b[2], b);
            let customer = be32(b, 8);
            let providers: Vec<u32> = (12..len).step_by(4).map(|at| be32(b, at)).collect();
            if announce {
                assert!(
                    !providers.is_empty(),
                    "ASPA announcement without providers: {}",
                    hex(b)
                );
                assert!(
                    providers.windows(2).all(|w| w[0] < w[1]),
                    "ASPA providers not strictly increasing: {}",
                    hex(b)
                );
                assert!(
                    providers.len() == 1 || !providers.contains(&0),
                    "ASPA with AS0 among other providers: {}",
                    hex(b)
                );
            } else {
                assert_eq!(len, 12, "ASPA withdrawal with providers: {}", hex(b));
            }
            Pdu::Aspa {
                version,
                announce,
                customer,
                providers,
            }
        }
        _ => unreachable!(),
    };
    Some((pdu, len))
}

/// `addr` with every bit beyond `len` cleared.
pub(crate) fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

//------------ Queries --------------------------------------------------------

pub(crate) fn reset_query(version: u8) -> Vec<u8> {
    // version, type 2, zero, length 8 (RFC 8210 §5.4)
    let mut b = vec![version, RESET_QUERY, 0, 0];
    b.extend_from_slice(&8u32.to_be_bytes());
    b
}

pub(crate) fn serial_query(version: u8, session: u16, serial: u32) -> Vec<u8> {
    // version, type 1, session id, length 12, serial (RFC 8210 §5.3)
    let mut b = vec![version, SERIAL_QUERY];
    b.extend_from_slice(&session.to_be_bytes());
    b.extend_from_slice(&12u32.to_be_bytes());
    b.extend_from_slice(&serial.to_be_bytes());
    b
}

//------------ RtrClient ------------------------------------------------------

/// What the connection produced next.
#[derive(Debug)]
pub(crate) enum Event {
    Pdu(Pdu),
    Timeout,
    Closed,
}

/// The cache's answer to a query.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Cache Response, payload, End of Data.
    Data {
        session: u16,
        serial: u32,
        timers: Option<Timers>,
        payload: Vec<Pdu>,
    },
    CacheReset,
    Error {
        version: u8,
        code: u16,
        text: String,
    },
}

/// What a router knows after a sync: the cache's session and serial at one
/// protocol version, and the data.
#[derive(Clone, Debug)]
pub(crate) struct Synced {
    pub version: u8,
    pub session: u16,
    pub serial: u32,
    pub timers: Option<Timers>,
    pub table: Table,
}

/// One RTR connection to the cache.
pub(crate) struct RtrClient {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Serial Notify PDUs seen between answers, oldest first.
    pub notifies: Vec<(u16, u32)>,
}

impl RtrClient {
    pub(crate) fn connect(port: u16) -> RtrClient {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_nodelay(true).unwrap();
        RtrClient {
            stream,
            buf: Vec::new(),
            notifies: Vec::new(),
        }
    }

    pub(crate) fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send to cache");
    }

    /// Send, and say whether it went: for a router the cache may close.
    pub(crate) fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The client's end of the connection: how the cache's log names it.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local address")
    }

    /// The next PDU, or why there is none within `timeout`.
    pub(crate) fn next_event(&mut self, timeout: Duration) -> Event {
        let deadline = Instant::now() + timeout;
        let mut chunk = vec![0u8; 65_536];
        loop {
            if let Some((pdu, n)) = decode(&self.buf) {
                self.buf.drain(..n);
                return Event::Pdu(pdu);
            }
            let now = Instant::now();
            if now >= deadline {
                return Event::Timeout;
            }
            self.stream.set_read_timeout(Some(deadline - now)).unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    assert!(
                        self.buf.is_empty(),
                        "connection closed inside a PDU: {}",
                        hex(&self.buf)
                    );
                    return Event::Closed;
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Event::Closed,
                Err(e) => panic!("read from cache: {e}"),
            }
        }
    }

    /// The next PDU; panics on timeout or close.
    pub(crate) fn expect_pdu(&mut self, timeout: Duration) -> Pdu {
        match self.next_event(timeout) {
            Event::Pdu(pdu) => pdu,
            other => panic!("expected a PDU within {timeout:?}, got {other:?}"),
        }
    }

    /// Panics unless the cache sends nothing for `timeout`.
    pub(crate) fn expect_silence(&mut self, timeout: Duration) {
        match self.next_event(timeout) {
            Event::Timeout => {}
            other => panic!("expected silence for {timeout:?}, got {other:?}"),
        }
    }

    /// Panics unless the cache closes the connection within `timeout`
    /// (PDUs before the close are returned).
    pub(crate) fn expect_close(&mut self, timeout: Duration) -> Vec<Pdu> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            match self.next_event(deadline.saturating_duration_since(Instant::now())) {
                Event::Pdu(pdu) => seen.push(pdu),
                Event::Closed => return seen,
                Event::Timeout => panic!("cache did not close within {timeout:?}; sent {seen:?}"),
            }
        }
    }

    /// Wait for a Serial Notify (one already seen counts).
    pub(crate) fn expect_notify(&mut self, timeout: Duration) -> (u16, u32) {
        if !self.notifies.is_empty() {
            return self.notifies.remove(0);
        }
        match self.expect_pdu(timeout) {
            Pdu::SerialNotify {
                session, serial, ..
            } => (session, serial),
            other => panic!("expected Serial Notify, got {other:?}"),
        }
    }

    /// Read one complete answer to a query sent at `version`. Serial Notify
    /// PDUs before the answer are kept in `notifies`; anything else out of
    /// place panics.
    pub(crate) fn read_answer(&mut self, version: u8) -> Answer {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let next =
            |c: &mut RtrClient| c.expect_pdu(deadline.saturating_duration_since(Instant::now()));
        let session = loop {
            match next(self) {
                Pdu::SerialNotify {
                    version: v,
                    session,
                    serial,
                } => {
                    assert_eq!(v, version, "Serial Notify at another version");
                    self.notifies.push((session, serial));
                }
                Pdu::CacheResponse {
                    version: v,
                    session,
                } => {
                    assert_eq!(v, version, "Cache Response at another version");
                    break session;
                }
                Pdu::CacheReset { version: v } => {
                    assert_eq!(v, version, "Cache Reset at another version");
                    return Answer::CacheReset;
                }
                Pdu::ErrorReport {
                    version,
                    code,
                    text,
                    ..
                } => {
                    return Answer::Error {
                        version,
                        code,
                        text,
                    };
                }
                other => panic!("expected Cache Response, got {other:?}"),
            }
        };
        let mut payload = Vec::new();
        loop {
            let pdu = next(self);
            assert_eq!(
                pdu.version(),
                version,
                "PDU at another version inside an answer: {pdu:?}"
            );
            match pdu {
                Pdu::EndOfData {
                    session: s,
                    serial,
                    timers,
                    ..
                } => {
                    assert_eq!(
                        s, session,
                        "End of Data session differs from Cache Response"
                    );
                    return Answer::Data {
                        session,
                        serial,
                        timers,
                        payload,
                    };
                }
                p if p.is_payload() => payload.push(p),
                other => panic!("unexpected PDU inside an answer: {other:?}"),
            }
        }
    }

    /// Reset Query at `version`; the full data, checked.
    pub(crate) fn sync_full(&mut self, version: u8) -> Synced {
        self.send(&reset_query(version));
        match self.read_answer(version) {
            Answer::Data {
                session,
                serial,
                timers,
                payload,
            } => Synced {
                version,
                session,
                serial,
                timers,
                table: Table::from_full(&payload),
            },
            other => panic!("Reset Query v{version}: expected data, got {other:?}"),
        }
    }

    /// Serial Query from `state`; applies the delta and moves `state` to the
    /// new serial. Returns false (leaving `state` alone) on Cache Reset.
    pub(crate) fn sync_serial(&mut self, state: &mut Synced) -> bool {
        self.send(&serial_query(state.version, state.session, state.serial));
        match self.read_answer(state.version) {
            Answer::Data {
                session,
                serial,
                timers,
                payload,
            } => {
                assert_eq!(
                    session, state.session,
                    "Serial Query answered with another session"
                );
                state.table.apply_delta(&payload);
                state.serial = serial;
                state.timers = timers;
                true
            }
            Answer::CacheReset => false,
            other @ Answer::Error { .. } => {
                panic!("Serial Query v{}: got {other:?}", state.version)
            }
        }
    }
}

/// Connect and Reset Query until the cache has data (it answers Error
/// Report "No Data Available" until its first snapshot).
pub(crate) fn wait_for_data(port: u16, version: u8, timeout: Duration) -> (RtrClient, Synced) {
    let deadline = Instant::now() + timeout;
    loop {
        let mut client = RtrClient::connect(port);
        client.send(&reset_query(version));
        match client.read_answer(version) {
            Answer::Data {
                session,
                serial,
                timers,
                payload,
            } => {
                let table = Table::from_full(&payload);
                return (
                    client,
                    Synced {
                        version,
                        session,
                        serial,
                        timers,
                        table,
                    },
                );
            }
            Answer::Error {
                code: ERR_NO_DATA, ..
            } if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            other => panic!("waiting for data at v{version}: {other:?}"),
        }
    }
}
