//! Upstreams a test controls, for the tests of what rovd's routers see when
//! the caches and servers it fetches from misbehave: a fake RTR cache that
//! serves a table, says nothing or answers with junk; an HTTP server that
//! serves a body, an error status, a body cut short or half a body; and a
//! relay whose far end the test moves from one cache to the next while
//! the connection to it is held. Each runs on threads of its own on
//! 127.0.0.1, is told to stop and joined when dropped, and records what it
//! received. The router side, [`Router`], follows a cache the way a router
//! does — a Serial Query after each Serial Notify — and says exactly what
//! each answer changed.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::rtr::{Answer, Event, Pdu, RtrClient, Synced, Table, Vrp};
use super::WAIT;

/// How often the threads here look at their stop flag.
const TICK: Duration = Duration::from_millis(20);

/// A listener on a free port of 127.0.0.1 that does not block in accept.
fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// Accept on `listener` until `stop`, handing each connection to `serve`
/// on a thread of its own; joins them all before it returns.
fn accept_loop(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    serve: impl Fn(TcpStream) + Send + Sync + 'static,
) -> JoinHandle<()> {
    let serve = Arc::new(serve);
    thread::spawn(move || {
        let mut conns = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream.set_nodelay(true).unwrap();
                    let serve = serve.clone();
                    conns.push(thread::spawn(move || serve(stream)));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(TICK),
                Err(e) => panic!("accept: {e}"),
            }
        }
        for c in conns {
            let _ = c.join();
        }
    })
}

/// Read what `stream` has within one [`TICK`]: `None` once the peer has
/// closed (or reset) the connection.
fn read_tick(stream: &mut TcpStream, into: &mut Vec<u8>) -> Option<usize> {
    stream.set_read_timeout(Some(TICK)).unwrap();
    let mut chunk = [0u8; 16_384];
    match stream.read(&mut chunk) {
        Ok(0) => None,
        Ok(n) => {
            into.extend_from_slice(&chunk[..n]);
            Some(n)
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Some(0),
        Err(e) if e.kind() == ErrorKind::Interrupted => Some(0),
        Err(_) => None,
    }
}

/// Wait until `pred` holds, for at most `timeout`.
pub(crate) fn wait_until(timeout: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if pred() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(TICK);
    }
}

//------------ RTR octets -----------------------------------------------------

/// One PDU as the fake cache sees it: the header's fields and all of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawPdu {
    pub version: u8,
    pub kind: u8,
    /// Octets 2 and 3: a session id or an error code.
    pub field: u16,
    pub octets: Vec<u8>,
}

/// PDU type of an Error Report (RFC 8210 §5.11).
pub(crate) const ERROR_REPORT: u8 = 10;
/// PDU type of a Serial Query (RFC 8210 §5.3).
pub(crate) const SERIAL_QUERY: u8 = 1;
/// PDU type of a Reset Query (RFC 8210 §5.4).
pub(crate) const RESET_QUERY: u8 = 2;

/// The complete PDUs at the start of `bytes`, split by their Length
/// fields; stops at an incomplete one or an impossible length.
pub(crate) fn split_pdus(bytes: &[u8]) -> (Vec<RawPdu>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while bytes.len() >= at + 8 {
        let b = &bytes[at..];
        let len = u32::from_be_bytes(b[4..8].try_into().unwrap()) as usize;
        if !(8..=65_535).contains(&len) || b.len() < len {
            break;
        }
        out.push(RawPdu {
            version: b[0],
            kind: b[1],
            field: u16::from_be_bytes([b[2], b[3]]),
            octets: b[..len].to_vec(),
        });
        at += len;
    }
    (out, at)
}

/// Header of a PDU: version, type, the 16-bit field, the length.
fn header(out: &mut Vec<u8>, version: u8, kind: u8, field: u16, len: u32) {
    out.extend_from_slice(&[version, kind]);
    out.extend_from_slice(&field.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
}

/// The whole answer to a Reset Query at `version`: Cache Response, the
/// VRPs, End of Data (with timers from v1 on).
fn full_answer(version: u8, session: u16, serial: u32, vrps: &[Vrp]) -> Vec<u8> {
    let mut out = Vec::new();
    header(&mut out, version, 3, session, 8);
    for v in vrps {
        let (kind, len, addr, asn) = match v.addr {
            std::net::IpAddr::V4(a) => (4u8, 20, a.octets().to_vec(), v.asn),
            std::net::IpAddr::V6(a) => (6u8, 32, a.octets().to_vec(), v.asn),
        };
        header(&mut out, version, kind, 0, len);
        out.extend_from_slice(&[1, v.len, v.max_len, 0]);
        out.extend_from_slice(&addr);
        out.extend_from_slice(&asn.to_be_bytes());
    }
    end_of_data(&mut out, version, session, serial);
    out
}

/// End of Data at `version`; from v1 on with a Refresh Interval of 1 s,
/// Retry of 1 s and Expire of 600 s (the leaf bounds them anyway).
fn end_of_data(out: &mut Vec<u8>, version: u8, session: u16, serial: u32) {
    if version == 0 {
        header(out, version, 7, session, 12);
        out.extend_from_slice(&serial.to_be_bytes());
    } else {
        header(out, version, 7, session, 24);
        for n in [serial, 1, 1, 600] {
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

//------------ FakeRtr --------------------------------------------------------

/// What the fake RTR cache does with a query.
#[derive(Clone, Debug)]
pub(crate) enum RtrMode {
    /// Answer as a cache does: a Reset Query with the whole table, a
    /// Serial Query for the current session and serial with no changes,
    /// any other Serial Query with Cache Reset.
    Serve,
    /// Take queries and answer nothing.
    Silent,
    /// Answer every query with these octets, then go on reading.
    Junk(Vec<u8>),
}

/// The fake cache's state, shared with its connections.
struct RtrState {
    mode: RtrMode,
    session: u16,
    serial: u32,
    vrps: Vec<Vrp>,
    /// Per connection, in order: what it received and sent.
    conns: Vec<Arc<Mutex<RtrConnLog>>>,
}

/// What one connection to the fake cache saw.
#[derive(Clone, Debug, Default)]
pub(crate) struct RtrConnLog {
    /// The PDUs the client sent, in order.
    pub received: Vec<RawPdu>,
    /// The junk sent on this connection, if any was.
    pub junk: Option<Vec<u8>>,
}

/// An RTR "cache" written for the test, VRPs only.
pub(crate) struct FakeRtr {
    pub port: u16,
    state: Arc<Mutex<RtrState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeRtr {
    /// Listen on a free loopback port in `mode`, with session `session`
    /// and `vrps` at serial 1.
    pub(crate) fn start(mode: RtrMode, session: u16, vrps: &Table) -> FakeRtr {
        let (l, port) = listener();
        let state = Arc::new(Mutex::new(RtrState {
            mode,
            session,
            serial: 1,
            vrps: vrps.vrps.iter().copied().collect(),
            conns: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = accept_loop(l, stop.clone(), move |s| rtr_conn(s, &st, &sp));
        FakeRtr {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// What it does with the next query.
    pub(crate) fn set_mode(&self, mode: RtrMode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// New data at the next serial.
    pub(crate) fn set_vrps(&self, vrps: &Table) {
        let mut s = self.state.lock().unwrap();
        s.vrps = vrps.vrps.iter().copied().collect();
        s.serial += 1;
    }

    /// What every connection so far saw, oldest first.
    pub(crate) fn conns(&self) -> Vec<RtrConnLog> {
        let conns = self.state.lock().unwrap().conns.clone();
        conns.iter().map(|c| c.lock().unwrap().clone()).collect()
    }

    /// The Error Reports received on connections that were sent junk,
    /// each with the junk sent on its connection.
    pub(crate) fn reports_to_junk(&self) -> Vec<(Vec<u8>, RawPdu)> {
        self.conns()
            .into_iter()
            .filter_map(|c| Some((c.junk?, c.received)))
            .flat_map(|(junk, received)| {
                received
                    .into_iter()
                    .filter(|p| p.kind == ERROR_REPORT)
                    .map(move |p| (junk.clone(), p))
            })
            .collect()
    }
}

impl Drop for FakeRtr {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One connection to the fake cache, until the client closes it or the
/// cache stops.
fn rtr_conn(mut stream: TcpStream, state: &Mutex<RtrState>, stop: &AtomicBool) {
    let log = Arc::new(Mutex::new(RtrConnLog::default()));
    state.lock().unwrap().conns.push(log.clone());
    let mut input = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        if read_tick(&mut stream, &mut input).is_none() {
            return;
        }
        let (pdus, used) = split_pdus(&input);
        input.drain(..used);
        for pdu in pdus {
            log.lock().unwrap().received.push(pdu.clone());
            if !matches!(pdu.kind, SERIAL_QUERY | RESET_QUERY) {
                continue;
            }
            let s = state.lock().unwrap();
            let answer = match &s.mode {
                RtrMode::Silent => continue,
                RtrMode::Junk(junk) => {
                    log.lock().unwrap().junk = Some(junk.clone());
                    junk.clone()
                }
                RtrMode::Serve if pdu.kind == RESET_QUERY => {
                    full_answer(pdu.version, s.session, s.serial, &s.vrps)
                }
                RtrMode::Serve => {
                    let serial = u32::from_be_bytes(pdu.octets[8..12].try_into().unwrap());
                    let mut out = Vec::new();
                    if pdu.field == s.session && serial == s.serial {
                        header(&mut out, pdu.version, 3, s.session, 8);
                        end_of_data(&mut out, pdu.version, s.session, s.serial);
                    } else {
                        header(&mut out, pdu.version, 8, 0, 8);
                    }
                    out
                }
            };
            drop(s);
            if stream.write_all(&answer).is_err() {
                return;
            }
        }
    }
}

//------------ FakeHttp -------------------------------------------------------

/// How the HTTP server answers a GET.
#[derive(Clone, Debug)]
pub(crate) enum HttpMode {
    /// 200 with this body and its Content-Length.
    Serve(Vec<u8>),
    /// This status and reason, no body.
    Status(u16, &'static str),
    /// 200 with a Content-Length `extra` octets larger than the body
    /// sent, then the connection is closed.
    ShortLength { body: Vec<u8>, extra: usize },
    /// 200, chunked: the body in chunks, but never the last (zero) chunk;
    /// then the connection is closed.
    ChunkedCut(Vec<u8>),
    /// 200 with the body's Content-Length, the head and half the body,
    /// then nothing until the client gives up.
    Stall(Vec<u8>),
}

/// An HTTP/1.1 server written for the test: one request per connection.
pub(crate) struct FakeHttp {
    pub port: u16,
    mode: Arc<Mutex<HttpMode>>,
    /// The request heads received, in order.
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeHttp {
    /// Listen on a free loopback port, answering in `mode`.
    pub(crate) fn start(mode: HttpMode) -> FakeHttp {
        let (l, port) = listener();
        let mode = Arc::new(Mutex::new(mode));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, r, s) = (mode.clone(), requests.clone(), stop.clone());
        let thread = accept_loop(l, stop.clone(), move |c| http_conn(c, &m, &r, &s));
        FakeHttp {
            port,
            mode,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// How the next request is answered.
    pub(crate) fn set_mode(&self, mode: HttpMode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// How many requests came so far.
    pub(crate) fn requests(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

impl Drop for FakeHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One connection: read the request head, answer in the current mode.
fn http_conn(
    mut stream: TcpStream,
    mode: &Mutex<HttpMode>,
    requests: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if stop.load(Ordering::Relaxed) || read_tick(&mut stream, &mut head).is_none() {
            return;
        }
    }
    requests
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&head).into_owned());
    let mode = mode.lock().unwrap().clone();
    let ok = |len: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{len}Connection: close\r\n\r\n"
        )
    };
    let (out, stall) = match mode {
        HttpMode::Serve(body) => {
            let mut out = ok(&format!("Content-Length: {}\r\n", body.len())).into_bytes();
            out.extend_from_slice(&body);
            (out, false)
        }
        HttpMode::Status(status, reason) => (
            format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .into_bytes(),
            false,
        ),
        HttpMode::ShortLength { body, extra } => {
            let len = format!("Content-Length: {}\r\n", body.len() + extra);
            let mut out = ok(&len).into_bytes();
            out.extend_from_slice(&body);
            (out, false)
        }
        HttpMode::ChunkedCut(body) => {
            let mut out = ok("Transfer-Encoding: chunked\r\n").into_bytes();
            for chunk in body.chunks(4096) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            (out, false)
        }
        HttpMode::Stall(body) => {
            let mut out = ok(&format!("Content-Length: {}\r\n", body.len())).into_bytes();
            out.extend_from_slice(&body[..body.len() / 2]);
            (out, true)
        }
    };
    if stream.write_all(&out).is_err() {
        return;
    }
    if stall {
        // Hold the connection, sending nothing, until the client closes it.
        let mut sink = Vec::new();
        while !stop.load(Ordering::Relaxed) && read_tick(&mut stream, &mut sink).is_some() {
            sink.clear();
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

//------------ Relay ----------------------------------------------------------

/// A TCP relay to a backend port the test sets and changes: a connection
/// accepted while there is no backend (or it refuses) is held, what the
/// client sends kept, until a backend takes it; a connection whose
/// backend closes is closed. So a client's reconnection can wait for a
/// restarted cache instead of failing, and the test sees what the client
/// sent first on each connection.
pub(crate) struct Relay {
    pub port: u16,
    backend: Arc<AtomicU16>,
    /// Per connection, what the client sent.
    sent: Arc<Mutex<Vec<Record>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    /// Listen on a free loopback port, relaying to `backend` (0: none).
    pub(crate) fn start(backend: u16) -> Relay {
        let (l, port) = listener();
        let backend = Arc::new(AtomicU16::new(backend));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s, st) = (backend.clone(), sent.clone(), stop.clone());
        let thread = accept_loop(l, stop.clone(), move |c| relay_conn(c, &b, &s, &st));
        Relay {
            port,
            backend,
            sent,
            stop,
            thread: Some(thread),
        }
    }

    /// Relay new connections (and those held) to `port`; 0 holds them.
    pub(crate) fn set_backend(&self, port: u16) {
        self.backend.store(port, Ordering::Relaxed);
    }

    /// What the client sent on each connection so far, oldest first.
    pub(crate) fn sent(&self) -> Vec<Vec<u8>> {
        let sent = self.sent.lock().unwrap().clone();
        sent.iter().map(|s| s.lock().unwrap().clone()).collect()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a client sent on one relayed connection, growing as it comes.
type Record = Arc<Mutex<Vec<u8>>>;

/// One relayed connection.
fn relay_conn(
    mut client: TcpStream,
    backend: &AtomicU16,
    sent: &Mutex<Vec<Record>>,
    stop: &AtomicBool,
) {
    let record = Arc::new(Mutex::new(Vec::new()));
    sent.lock().unwrap().push(record.clone());
    // Held until a backend accepts; what the client says meanwhile waits.
    let mut pending = Vec::new();
    let mut server = loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let before = pending.len();
        if read_tick(&mut client, &mut pending).is_none() {
            return;
        }
        record.lock().unwrap().extend_from_slice(&pending[before..]);
        let port = backend.load(Ordering::Relaxed);
        if port == 0 {
            continue;
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            break s;
        }
    };
    server.set_nodelay(true).unwrap();
    if server.write_all(&pending).is_err() {
        return;
    }
    let mut buf = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        // Each direction in turn, a tick at most each.
        let Some(n) = read_tick(&mut client, &mut buf) else {
            break;
        };
        if n > 0 {
            record.lock().unwrap().extend_from_slice(&buf);
            if server.write_all(&buf).is_err() {
                break;
            }
            buf.clear();
        }
        let Some(n) = read_tick(&mut server, &mut buf) else {
            break;
        };
        if n > 0 {
            if client.write_all(&buf).is_err() {
                break;
            }
            buf.clear();
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}

//------------ Router ---------------------------------------------------------

/// What one answer to a Serial Query changed for the router.
#[derive(Debug)]
pub(crate) struct Change {
    /// The serial before and after.
    pub from: u32,
    pub to: u32,
    /// Payload PDUs that announced, and that withdrew.
    pub announced: usize,
    pub withdrawn: usize,
}

impl Change {
    /// Whether the answer changed nothing at all: same serial, no payload.
    pub(crate) fn is_nothing(&self) -> bool {
        self.from == self.to && self.announced == 0 && self.withdrawn == 0
    }
}

/// A router on one RTR session with a cache (rovd's downstream side): it
/// holds the table, follows each Serial Notify with a Serial Query, and
/// checks that every answer is a well-formed minimal delta.
pub(crate) struct Router {
    pub client: RtrClient,
    pub state: Synced,
}

impl Router {
    /// Connect to the cache on `port` and sync at version 2 once it has
    /// data.
    pub(crate) fn connect(port: u16) -> Router {
        let (client, state) = super::rtr::wait_for_data(port, 2, WAIT);
        Router { client, state }
    }

    /// The table held.
    pub(crate) fn table(&self) -> &Table {
        &self.state.table
    }

    /// A Serial Query from the serial held; what the answer changed.
    /// Panics on Cache Reset or an error: a router's session must not be
    /// disturbed by what happens upstream.
    pub(crate) fn query(&mut self) -> Change {
        let from = self.state.serial;
        self.client.send(&super::rtr::serial_query(
            self.state.version,
            self.state.session,
            from,
        ));
        let (session, serial, payload) = match self.client.read_answer(self.state.version) {
            Answer::Data {
                session,
                serial,
                payload,
                ..
            } => (session, serial, payload),
            other => panic!("Serial Query from serial {from}: {other:?}"),
        };
        assert_eq!(
            session, self.state.session,
            "the router's session changed under it"
        );
        let announced = payload.iter().filter(|p| announces(p)).count();
        let withdrawn = payload.len() - announced;
        self.state.table.apply_delta(&payload);
        self.state.serial = serial;
        Change {
            from,
            to: serial,
            announced,
            withdrawn,
        }
    }

    /// Wait (up to `timeout`) for a Serial Notify of a serial not held;
    /// whether one came. Panics on anything else.
    pub(crate) fn notified(&mut self, timeout: Duration) -> bool {
        let held = self.state.serial;
        self.client.notifies.retain(|&(_, serial)| serial != held);
        if self.client.notifies.is_empty() {
            match self.client.next_event(timeout) {
                Event::Pdu(Pdu::SerialNotify {
                    session, serial, ..
                }) => self.client.notifies.push((session, serial)),
                Event::Timeout => return false,
                other => panic!("expected Serial Notify, got {other:?}"),
            }
        }
        let session = self.client.notifies[0].0;
        assert_eq!(
            session, self.state.session,
            "Serial Notify of another session"
        );
        true
    }

    /// Wait (up to `timeout`) for a Serial Notify of a serial not held,
    /// then query; what it changed.
    pub(crate) fn follow(&mut self, timeout: Duration) -> Change {
        assert!(
            self.notified(timeout),
            "no Serial Notify within {timeout:?}"
        );
        self.client.notifies.clear();
        self.query()
    }

    /// Nothing comes for `quiet` — no Serial Notify, nothing — and a
    /// Serial Query then finds the same serial and no change.
    pub(crate) fn assert_unchanged(&mut self, quiet: Duration, context: &str) {
        assert!(
            self.client.notifies.is_empty(),
            "{context}: Serial Notify {:?}",
            self.client.notifies
        );
        match self.client.next_event(quiet) {
            Event::Timeout => {}
            other => panic!("{context}: the router got {other:?}"),
        }
        let change = self.query();
        assert!(
            change.is_nothing(),
            "{context}: the router's table changed: {change:?}"
        );
    }
}

/// Whether a payload PDU announces.
fn announces(p: &Pdu) -> bool {
    match p {
        Pdu::Ipv4Prefix { announce, .. }
        | Pdu::Ipv6Prefix { announce, .. }
        | Pdu::RouterKey { announce, .. }
        | Pdu::Aspa { announce, .. } => *announce,
        _ => false,
    }
}

/// The payload PDUs a minimal delta from `old` to `new` has: records
/// gone and records new; an ASPA whose providers changed is one
/// announcement.
pub(crate) fn delta_size(old: &Table, new: &Table) -> (usize, usize) {
    let announced = new.vrps.difference(&old.vrps).count()
        + new.keys.difference(&old.keys).count()
        + new
            .aspas
            .iter()
            .filter(|(c, p)| old.aspas.get(c) != Some(p))
            .count();
    let withdrawn = old.vrps.difference(&new.vrps).count()
        + old.keys.difference(&new.keys).count()
        + old
            .aspas
            .keys()
            .filter(|c| !new.aspas.contains_key(c))
            .count();
    (announced, withdrawn)
}
