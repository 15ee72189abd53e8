//! The I/O around the routers: connecting many sessions a few at a time,
//! then driving them on worker threads, each with a mio poll over its
//! share of the sockets and a 64 KiB read buffer per session. With
//! [`Tls`], each session runs RTR over TLS (rustls, ring) on its socket.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use rovd::pdu::Version;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use crate::router::{Phase, Router};

/// The read buffer of each session: one maximal PDU fits (§5.1).
const READ_BUFFER: usize = 64 * 1024;

/// Reads of one socket per wake-up before the others get a turn.
const READS_PER_TURN: usize = 64;

/// Longest time a worker sleeps before it looks at the clock and flags.
const TICK: Duration = Duration::from_millis(50);

/// When a worker is done with its routers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Until {
    /// Every router holds a full table.
    Synced,
    /// Every router has applied the update a Serial Notify announced.
    Updated,
    /// The stop flag is set.
    Stopped,
}

/// How each router begins, and what it checks on the way.
#[derive(Clone)]
pub(crate) struct Start {
    first: First,
    /// Check only the framing, no content (see [`Router::frame_only`]).
    frame_only: bool,
    /// When following: the content hash (hex) to follow updates to.
    until_hash: Option<String>,
}

#[derive(Clone)]
enum First {
    /// A Reset Query at this version.
    Reset(Version),
    /// A Serial Query for the table this router fetched.
    Join(Arc<Router>),
}

impl Start {
    /// Each router sends a Reset Query at `version`.
    pub(crate) fn reset(version: Version) -> Start {
        Start {
            first: First::Reset(version),
            frame_only: false,
            until_hash: None,
        }
    }

    /// Each router joins at the table `primer` fetched (§5.3).
    pub(crate) fn join(primer: Router) -> Start {
        Start {
            first: First::Join(Arc::new(primer)),
            frame_only: false,
            until_hash: None,
        }
    }

    pub(crate) fn frame_only(self, frame_only: bool) -> Start {
        Start { frame_only, ..self }
    }

    pub(crate) fn until_hash(self, hex: Option<&str>) -> Start {
        Start {
            until_hash: hex.map(str::to_string),
            ..self
        }
    }

    fn router(&self, follow: bool, now: Instant) -> Router {
        let r = match &self.first {
            First::Reset(version) => Router::start(*version, follow, now),
            First::Join(primer) => Router::join(primer, follow, now),
        };
        let r = if self.frame_only { r.frame_only() } else { r };
        match &self.until_hash {
            Some(hex) => r.until_hash(hex),
            None => r,
        }
    }
}

/// RTR over TLS: the client configuration and the name the cache's
/// certificate must carry.
pub(crate) struct Tls {
    pub config: Arc<ClientConfig>,
    pub name: ServerName<'static>,
}

/// What the workers share with the thread that started them.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Routers that reached their first End of Data.
    pub synced: AtomicUsize,
    /// Routers that failed.
    pub failed: AtomicUsize,
    /// Set to end every worker.
    pub stop: AtomicBool,
}

/// Open `count` sessions to `addr`, at most `window` connects in flight so
/// that the cache's listen backlog is not overrun.
pub(crate) fn connect(
    addr: SocketAddr,
    count: usize,
    window: usize,
    deadline: Instant,
) -> Result<Vec<TcpStream>, String> {
    let window = window.clamp(1, count.max(1));
    let slots: Arc<Mutex<Vec<Option<TcpStream>>>> =
        Arc::new(Mutex::new((0..count).map(|_| None).collect()));
    let failure: Arc<Mutex<Option<String>>> = Arc::default();
    let connectors: Vec<_> = (0..window)
        .map(|first| {
            let (slots, failure) = (slots.clone(), failure.clone());
            thread::spawn(move || {
                for i in (first..count).step_by(window) {
                    if failure.lock().unwrap().is_some() {
                        return;
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    let res = if left.is_zero() {
                        Err(io::Error::from(io::ErrorKind::TimedOut))
                    } else {
                        TcpStream::connect_timeout(&addr, left.min(Duration::from_secs(10)))
                    };
                    match res {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            slots.lock().unwrap()[i] = Some(s);
                        }
                        Err(e) => {
                            failure
                                .lock()
                                .unwrap()
                                .get_or_insert(format!("connect {addr} (session {i}): {e}"));
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    for c in connectors {
        c.join().expect("connector thread");
    }
    if let Some(why) = failure.lock().unwrap().take() {
        return Err(why);
    }
    let streams = std::mem::take(&mut *slots.lock().unwrap());
    Ok(streams.into_iter().map(|s| s.expect("connected")).collect())
}

/// Drive one router per stream on `threads` workers until `until` or
/// `deadline`; routers not done by then fail. Returned in stream order.
pub(crate) fn run(
    streams: Vec<TcpStream>,
    tls: Option<Arc<Tls>>,
    start: &Start,
    until: Until,
    threads: usize,
    deadline: Instant,
    progress: &Arc<Progress>,
) -> Vec<Router> {
    let count = streams.len();
    let threads = threads.clamp(1, count.max(1));
    let mut shares: Vec<Vec<(usize, TcpStream)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, s) in streams.into_iter().enumerate() {
        shares[i % threads].push((i, s));
    }
    let workers: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let (progress, tls, start) = (progress.clone(), tls.clone(), start.clone());
            thread::spawn(move || worker(share, tls, &start, until, deadline, &progress))
        })
        .collect();
    let mut routers: Vec<Option<Router>> = (0..count).map(|_| None).collect();
    for w in workers {
        for (i, r) in w.join().expect("worker thread") {
            routers[i] = Some(r);
        }
    }
    routers.into_iter().map(|r| r.expect("router")).collect()
}

struct Conn {
    index: usize,
    stream: mio::net::TcpStream,
    tls: Option<Box<ClientConnection>>,
    router: Router,
    buf: Box<[u8]>,
    have: usize,
    open: bool,
    /// Whether `Progress::synced` counts this router.
    counted: bool,
}

fn worker(
    share: Vec<(usize, TcpStream)>,
    tls: Option<Arc<Tls>>,
    start: &Start,
    until: Until,
    deadline: Instant,
    progress: &Progress,
) -> Vec<(usize, Router)> {
    let follow = until == Until::Updated;
    let mut poll = Poll::new().expect("mio poll");
    let mut events = Events::with_capacity(1024);
    let mut conns: Vec<Conn> = Vec::with_capacity(share.len());
    for (n, (index, s)) in share.into_iter().enumerate() {
        let mut router = start.router(follow, Instant::now());
        let mut stream = match s.set_nonblocking(true) {
            Ok(()) => mio::net::TcpStream::from_std(s),
            Err(e) => {
                router.fail(format!("set non-blocking: {e}"));
                conns_push_closed(&mut conns, index, router, s);
                progress.failed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let conn = match &tls {
            None => None,
            Some(t) => match ClientConnection::new(t.config.clone(), t.name.clone()) {
                Ok(c) => Some(Box::new(c)),
                Err(e) => {
                    router.fail(format!("TLS: {e}"));
                    None
                }
            },
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = poll.registry().register(&mut stream, Token(n), interest) {
            router.fail(format!("register with poll: {e}"));
        }
        conns.push(Conn {
            index,
            stream,
            tls: conn,
            router,
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            have: 0,
            open: true,
            counted: false,
        });
        let c = conns.last_mut().expect("just pushed");
        flush(c);
        settle(c, progress);
    }
    // Sockets that still had data when their turn ended.
    let mut pending: Vec<usize> = Vec::new();
    loop {
        if done(&conns, until) || progress.stop.load(Ordering::Relaxed) {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let wait = if pending.is_empty() {
            TICK.min(deadline - now)
        } else {
            Duration::ZERO
        };
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            assert!(e.kind() == io::ErrorKind::Interrupted, "mio poll: {e}");
        }
        let mut ready: Vec<usize> = std::mem::take(&mut pending);
        ready.extend(events.iter().map(|e| e.token().0));
        ready.sort_unstable();
        ready.dedup();
        for n in ready {
            let c = &mut conns[n];
            if !c.open {
                continue;
            }
            if read(c) {
                pending.push(n);
            }
            flush(c);
            settle(c, progress);
        }
    }
    conns
        .into_iter()
        .map(|mut c| {
            if c.open && !finished(&c.router, until) {
                c.router.timed_out = true;
                c.router
                    .fail(format!("timed out in phase {:?}", c.router.phase));
            }
            (c.index, c.router)
        })
        .collect()
}

/// Keep a router that never got a socket in the results.
fn conns_push_closed(conns: &mut Vec<Conn>, index: usize, router: Router, s: TcpStream) {
    conns.push(Conn {
        index,
        stream: mio::net::TcpStream::from_std(s),
        tls: None,
        router,
        buf: Box::default(),
        have: 0,
        open: false,
        counted: false,
    });
}

/// Read and decode what the socket holds; true if it may hold more.
fn read(c: &mut Conn) -> bool {
    if c.tls.is_some() {
        return read_tls(c);
    }
    for _ in 0..READS_PER_TURN {
        match c.stream.read(&mut c.buf[c.have..]) {
            Ok(0) => {
                c.router.fail("cache closed the connection");
                return false;
            }
            Ok(n) => {
                c.router.octets += n as u64;
                c.have += n;
                let used = c.router.receive(&c.buf[..c.have], Instant::now());
                c.buf.copy_within(used..c.have, 0);
                c.have -= used;
                if matches!(c.router.phase, Phase::Failed(_)) {
                    return false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                c.router.fail(format!("read: {e}"));
                return false;
            }
        }
    }
    true
}

/// Hand decrypted octets to the router; false if it failed.
fn take(c: &mut Conn, n: usize) -> bool {
    c.router.octets += n as u64;
    c.have += n;
    let used = c.router.receive(&c.buf[..c.have], Instant::now());
    c.buf.copy_within(used..c.have, 0);
    c.have -= used;
    !matches!(c.router.phase, Phase::Failed(_))
}

/// [`read`] through TLS: ciphertext from the socket, plaintext to the
/// router.
fn read_tls(c: &mut Conn) -> bool {
    for _ in 0..READS_PER_TURN {
        let tls = c.tls.as_mut().expect("a TLS session");
        match tls.read_tls(&mut c.stream) {
            Ok(0) => {
                c.router.fail("cache closed the connection");
                return false;
            }
            Ok(_) => {
                if let Err(e) = tls.process_new_packets() {
                    c.router.fail(format!("TLS: {e}"));
                    return false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                c.router.fail(format!("read: {e}"));
                return false;
            }
        }
        loop {
            let tls = c.tls.as_mut().expect("a TLS session");
            match tls.reader().read(&mut c.buf[c.have..]) {
                Ok(0) => {
                    c.router.fail("cache closed the connection");
                    return false;
                }
                Ok(n) => {
                    if !take(c, n) {
                        return false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    c.router.fail(format!("TLS read: {e}"));
                    return false;
                }
            }
        }
    }
    true
}

/// Send what the router queued, as far as the socket takes it.
fn flush(c: &mut Conn) {
    if let Some(tls) = c.tls.as_mut() {
        if !c.router.out.is_empty() {
            // Queries are a few octets: rustls buffers them whole.
            match tls.writer().write_all(&c.router.out) {
                Ok(()) => c.router.out.clear(),
                Err(e) => c.router.fail(format!("TLS write: {e}")),
            }
        }
        while c.open && tls.wants_write() {
            match tls.write_tls(&mut c.stream) {
                Ok(0) => c.router.fail("write: connection closed"),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => c.router.fail(format!("write: {e}")),
            }
            if matches!(c.router.phase, Phase::Failed(_)) {
                break;
            }
        }
        return;
    }
    while c.open && !c.router.out.is_empty() {
        match c.stream.write(&c.router.out) {
            Ok(0) => c.router.fail("write: connection closed"),
            Ok(n) => {
                c.router.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => c.router.fail(format!("write: {e}")),
        }
        if matches!(c.router.phase, Phase::Failed(_)) {
            break;
        }
    }
}

/// Count a router's progress once, and close the socket of a failed one.
fn settle(c: &mut Conn, progress: &Progress) {
    if !c.open {
        return;
    }
    if matches!(c.router.phase, Phase::Failed(_)) {
        c.open = false;
        let _ = c.stream.shutdown(std::net::Shutdown::Both);
        progress.failed.fetch_add(1, Ordering::Relaxed);
        if c.counted {
            progress.synced.fetch_sub(1, Ordering::Relaxed);
        }
    } else if c.router.synced_at.is_some() && !c.counted {
        c.counted = true;
        progress.synced.fetch_add(1, Ordering::Relaxed);
    }
}

fn finished(r: &Router, until: Until) -> bool {
    match until {
        Until::Synced => !matches!(r.phase, Phase::Reset | Phase::Joining),
        Until::Updated => matches!(r.phase, Phase::Updated | Phase::Failed(_)),
        // Held sessions are never done, but ended well if synced.
        Until::Stopped => !matches!(r.phase, Phase::Reset | Phase::Joining),
    }
}

fn done(conns: &[Conn], until: Until) -> bool {
    until != Until::Stopped && conns.iter().all(|c| finished(&c.router, until))
}
