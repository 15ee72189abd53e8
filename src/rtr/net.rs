//! The rtr worker's event loop: accepts routers and moves octets between
//! their sockets and their [`Session`]s, takes snapshots off the
//! validator's stream, and asks each session when to notify.
//!
//! Runs in the rtr worker (unprivileged, sandboxed), one thread, mio. All
//! protocol decisions — what to answer, when a Serial Notify is due — are
//! the session's; this file only moves octets and keeps time.
//!
//! Output is a queue of chunks per connection: small PDUs owned by the
//! session and references into the cache's shared, pre-encoded buffers,
//! written with vectored writes. A session's next query is only processed
//! once its previous answer is fully written, so a router that stops
//! reading stalls only itself and holds at most one answer's references.
//! A connection on a TLS listener puts a [`TlsConn`] between its socket and
//! its session; the same bound holds for it (see `tls`).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use nix::sys::socket::{setsockopt, sockopt};

use crate::config::{Config, TlsFiles};
use crate::failed::{Failed, OrFail};
use crate::msg;
use crate::payload::{unix_now, Snapshot};
use crate::pdu::{self, ErrorCode, Timers, Version, MAX_LEN};
use crate::stream::{self, Word};

use super::cache::{Cache, Update};
use super::session::{Note, Output, Reason, SerialAnswer, Session};
use super::tls::{self, TlsConn};
use super::views::export::{Export, Format};
use super::views::status::{self as view, Readiness, SerialRecord, SessionStatus, Stats, Status};
use super::views::{self, Action, Step, Views};

/// How long the loop sleeps at most: the granularity of deferred Serial
/// Notifies, stall checks and accept back-off.
const TICK: Duration = Duration::from_millis(250);

/// Input kept per connection: one PDU of the largest size plus slack.
/// Routers send 8- and 12-octet queries; more than this unprocessed means
/// the router is not reading our answers, and we stop reading too.
const INPUT_LIMIT: usize = MAX_LEN + 4096;

/// Vectored writes take up to this many chunks at once.
const IOV_MAX: usize = 64;

/// Snapshot stream read per wake-up: frames, and octets buffered. A big
/// snapshot arrives over several wake-ups with the sessions served in
/// between.
const STREAM_FRAMES: usize = 32;
const STREAM_OCTETS: usize = 2 << 20;

/// Connections accepted per listener per wake-up: a flood of connects
/// waits its turn behind the sessions already open.
pub const ACCEPT_BATCH: usize = 64;

/// How long accepting stops after a failure such as EMFILE.
const ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// The minimum progress of a router that has an answer pending: in every
/// window of this length during which output waits all along, it must take
/// [`MIN_PROGRESS`] octets. A router that reads a few octets now and then
/// would otherwise hold a whole table's buffer for as long as it likes;
/// the slowest real router takes that much in well under a second.
const PROGRESS_WINDOW: Duration = Duration::from_secs(30);
const MIN_PROGRESS: u64 = 16 * 1024;

/// Router-caused log lines per session (version too high, its Error
/// Reports, queries before data): the first few, then a note that the
/// rest are not logged.
const ROUTER_LINES: u32 = 5;

//------------ Tokens --------------------------------------------------------

/// What an event's token stands for. Every token the loop registers is
/// made by [`Target::token`] and read back by [`Target::of`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The parent's channel.
    Parent,
    /// The validator's snapshot stream.
    Validator,
    /// The control socket.
    Control,
    /// An RTR listener, by index.
    Listener(usize),
    /// An HTTP listener, by index.
    Http(usize),
    /// A view connection, by slot.
    View(usize),
    /// A router session, by slot.
    Conn(usize),
}

/// Where each range of tokens starts; a range ends where the next starts.
/// The listeners' ranges hold [`crate::config::MAX_LISTENERS`] each.
const CONTROL_TOKEN: usize = 2;
const LISTENER_BASE: usize = 16;
const HTTP_BASE: usize = 1024;
const VIEW_BASE: usize = 1 << 15;
const CONN_BASE: usize = 1 << 16;
const _: () = assert!(
    LISTENER_BASE + crate::config::MAX_LISTENERS <= HTTP_BASE
        && HTTP_BASE + crate::config::MAX_LISTENERS <= VIEW_BASE
);

impl Target {
    /// The token to register it with.
    pub fn token(self) -> Token {
        Token(match self {
            Target::Parent => 0,
            Target::Validator => 1,
            Target::Control => CONTROL_TOKEN,
            Target::Listener(i) => LISTENER_BASE + i,
            Target::Http(i) => HTTP_BASE + i,
            Target::View(slot) => VIEW_BASE + slot,
            Target::Conn(slot) => CONN_BASE + slot,
        })
    }

    /// What `token` stands for; `None` for one no target makes.
    pub fn of(token: Token) -> Option<Target> {
        Some(match token.0 {
            0 => Target::Parent,
            1 => Target::Validator,
            CONTROL_TOKEN => Target::Control,
            t if t >= CONN_BASE => Target::Conn(t - CONN_BASE),
            t if t >= VIEW_BASE => Target::View(t - VIEW_BASE),
            t if t >= HTTP_BASE => Target::Http(t - HTTP_BASE),
            t if t >= LISTENER_BASE => Target::Listener(t - LISTENER_BASE),
            _ => return None,
        })
    }
}

//------------ Slots ---------------------------------------------------------

/// Connections by slot, a slot being what their token carries: a slot
/// freed is taken again before the table grows, so that tokens stay
/// within their range and the table as long as the most connections
/// ever open at once.
pub struct Slots<T> {
    items: Vec<Option<T>>,
    free: Vec<usize>,
    live: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            items: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }
}

impl<T> Slots<T> {
    /// The slot the next [`Slots::insert`] takes: the one to register a
    /// connection's token with before it is inserted.
    pub fn next_slot(&self) -> usize {
        self.free.last().copied().unwrap_or(self.items.len())
    }

    /// Put `item` in the slot [`Slots::next_slot`] named; that slot.
    pub fn insert(&mut self, item: T) -> usize {
        self.live += 1;
        if let Some(slot) = self.free.pop() {
            self.items[slot] = Some(item);
            slot
        } else {
            self.items.push(Some(item));
            self.items.len() - 1
        }
    }

    /// The item in `slot`, if one is.
    pub fn get(&self, slot: usize) -> Option<&T> {
        self.items.get(slot).and_then(Option::as_ref)
    }

    /// See [`Slots::get`].
    pub fn get_mut(&mut self, slot: usize) -> Option<&mut T> {
        self.items.get_mut(slot).and_then(Option::as_mut)
    }

    /// Take the item out of `slot`, which is free then.
    pub fn remove(&mut self, slot: usize) -> Option<T> {
        let item = self.items.get_mut(slot).and_then(Option::take)?;
        self.free.push(slot);
        self.live -= 1;
        Some(item)
    }

    /// How many items there are.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Every slot that may hold an item, to go through by slot.
    pub fn slots(&self) -> std::ops::Range<usize> {
        0..self.items.len()
    }

    /// Every item.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter().flatten()
    }

    /// Every item with its slot.
    pub fn entries(&self) -> impl Iterator<Item = (usize, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(slot, item)| Some((slot, item.as_ref()?)))
    }

    /// Every item.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.items.iter_mut().flatten()
    }

    /// Drop every item.
    pub fn clear(&mut self) {
        *self = Slots::default();
    }
}

//------------ Accepts -------------------------------------------------------

/// How the listeners, RTR and views alike, are accepted on: at most
/// [`ACCEPT_BATCH`] connections per listener per turn of the loop (a
/// listener whose batch was full is come back to on the next turn), and
/// after a failure such as EMFILE none at all for a moment, after which
/// every listener is tried again. Events are edge-triggered: a client
/// left in a queue would otherwise wait until another one connects.
#[derive(Debug, Default)]
pub struct Accepts {
    paused_until: Option<Instant>,
    more: Vec<Target>,
}

/// What one `accept` came to.
#[derive(Debug)]
pub enum Accepted<T> {
    /// A connection.
    Take(T),
    /// Interrupted: try again.
    Again,
    /// Nothing more on this listener for now.
    Stop,
}

impl<T> Accepted<T> {
    /// The connection made into something else.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Accepted<U> {
        match self {
            Accepted::Take(x) => Accepted::Take(f(x)),
            Accepted::Again => Accepted::Again,
            Accepted::Stop => Accepted::Stop,
        }
    }
}

impl Accepts {
    /// Whether accepting is paused.
    pub fn paused(&self) -> bool {
        self.paused_until.is_some()
    }

    /// What the result of one `accept` on `what` means; a failure other
    /// than an empty queue pauses accepting.
    pub fn check<T>(
        &mut self,
        result: io::Result<T>,
        what: impl fmt::Display,
        now: Instant,
    ) -> Accepted<T> {
        match result {
            Ok(x) => Accepted::Take(x),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Accepted::Stop,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Accepted::Again,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning or
                // dying; the tick retries.
                warn!("{what}: accept: {e}; pausing new connections for a moment");
                self.paused_until = Some(now + ACCEPT_PAUSE);
                Accepted::Stop
            }
        }
    }

    /// `target` used up its batch: more may wait.
    pub fn full(&mut self, target: Target) {
        self.more.push(target);
    }

    /// Whether a listener is to be come back to without waiting.
    pub fn waiting(&self) -> bool {
        !self.more.is_empty()
    }

    /// The listeners whose batch was full, to accept on again now.
    pub fn take_more(&mut self) -> Vec<Target> {
        std::mem::take(&mut self.more)
    }

    /// Whether a pause ends at `now`: every listener is to be tried.
    pub fn resume(&mut self, now: Instant) -> bool {
        if self.paused_until.is_some_and(|t| now >= t) {
            self.paused_until = None;
            return true;
        }
        false
    }
}

//------------ Settings ------------------------------------------------------

/// The parts of the configuration the event loop uses.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The highest version offered.
    pub max_version: Version,
    /// The End of Data timers.
    pub timers: Timers,
    /// Serials kept for Serial Queries.
    pub history: usize,
    /// The least time between two Serial Notifies to one session.
    pub notify_interval: Duration,
    /// The most sessions at once.
    pub max_sessions: usize,
    /// The most sessions from one source address.
    pub max_per_address: usize,
    /// How long a new connection has for its TLS handshake and first
    /// query.
    pub query_timeout: Duration,
}

impl Settings {
    /// The settings of a configuration.
    pub fn from_config(c: &Config) -> Settings {
        Settings {
            max_version: Version::new(c.rtr.max_version).unwrap_or(Version::MAX),
            timers: Timers {
                refresh: c.rtr.refresh,
                retry: c.rtr.retry,
                expire: c.rtr.expire,
            },
            history: c.rtr.history,
            notify_interval: Duration::from_secs(c.rtr.notify_interval.into()),
            max_sessions: c.rtr.max_sessions,
            max_per_address: c.rtr.max_sessions_per_address,
            query_timeout: Duration::from_secs(c.rtr.query_timeout.into()),
        }
    }

    /// How long a session may go without a PDU from its router: twice the
    /// Expire Interval (§6). A router that has not asked for that long
    /// holds no valid data from this cache and is gone.
    fn idle_limit(&self) -> Duration {
        Duration::from_secs(2 * u64::from(self.timers.expire))
    }
}

//------------ Close ---------------------------------------------------------

/// Why a connection ends, as its log line says.
#[derive(Debug)]
pub enum Close {
    /// The protocol ended the session (an Error Report either way).
    Protocol(Reason),
    /// The router closed the connection.
    ByRouter,
    /// No query within the query timeout of the connection's start.
    NoQuery(Duration),
    /// No PDU from the router for the idle limit.
    Idle(Duration),
    /// The router took too little of a pending answer in a progress
    /// window.
    TooSlow {
        /// Octets it took in the window.
        octets: u64,
    },
    /// The socket failed.
    Io(io::Error),
    /// The TLS layer failed.
    Tls(String),
    /// The cache withdrew its data (a stale source with policy `stop`).
    NoData,
}

impl Close {
    /// The cause as the metrics count it.
    fn cause(&self) -> &'static str {
        match self {
            Close::Protocol(Reason::SentError(_)) => "error-sent",
            Close::Protocol(Reason::ReceivedError(_)) => "error-received",
            Close::Protocol(Reason::ErrorReportFlood) => "error-flood",
            Close::Protocol(_) => "bad-error-report",
            Close::ByRouter => "router",
            Close::NoQuery(_) => "no-query",
            Close::Idle(_) => "idle",
            Close::TooSlow { .. } => "too-slow",
            Close::Io(_) => "io",
            Close::Tls(_) => "tls",
            Close::NoData => "no-data",
        }
    }
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Close::Protocol(reason) => reason.fmt(f),
            Close::ByRouter => f.write_str("closed by router"),
            Close::NoQuery(t) => write!(f, "no query within {} s", t.as_secs()),
            Close::Idle(t) => write!(f, "idle: no PDU for {} s", t.as_secs()),
            Close::TooSlow { octets } => write!(
                f,
                "router too slow: took {octets} octets of its answer in {} s",
                PROGRESS_WINDOW.as_secs()
            ),
            Close::Io(e) => e.fmt(f),
            Close::Tls(e) => f.write_str(e),
            Close::NoData => f.write_str("no data to serve"),
        }
    }
}

//------------ Connection ----------------------------------------------------

enum Bytes {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

struct Chunk {
    bytes: Bytes,
    pos: usize,
    pdus: u32,
}

impl Chunk {
    fn rest(&self) -> &[u8] {
        let all: &[u8] = match &self.bytes {
            Bytes::Owned(v) => v,
            Bytes::Shared(a) => a,
        };
        all.get(self.pos..).unwrap_or_default()
    }
}

/// Octets received and not yet taken by the session: `buf[start..]`. A
/// taken PDU only moves `start`; what is left moves to the front when the
/// next read needs the room, so taking many PDUs costs no copying.
#[derive(Default)]
struct Input {
    buf: Vec<u8>,
    start: usize,
}

impl Input {
    fn pending(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// The buffer to append to, with the pending octets at its front.
    fn for_reading(&mut self) -> &mut Vec<u8> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        &mut self.buf
    }
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// The TLS layer, on a TLS listener.
    tls: Option<Box<TlsConn>>,
    session: Session,
    input: Input,
    output: VecDeque<Chunk>,
    /// Close once the output is written.
    closing: Option<Close>,
    eof: bool,
    opened: Instant,
    /// When the router's last PDU was taken, if it has sent one.
    last_pdu: Option<Instant>,
    /// The progress window while output is pending: its start and the
    /// octets the router took since.
    window: Option<(Instant, u64)>,
    /// Router-caused lines logged so far.
    router_lines: u32,
    bytes_sent: u64,
    pdus_sent: u64,
    resets: u32,
    serials: u32,
    /// When the router last queried (Unix seconds), and how.
    last_query: Option<(u64, &'static str)>,
    /// The serial the router was last sent.
    serial: Option<u32>,
    /// When it connected (Unix seconds).
    connected: u64,
}

impl Conn {
    /// What the status shows of this session.
    fn status(&self) -> SessionStatus {
        SessionStatus {
            peer: self.peer.to_string(),
            transport: if self.tls.is_some() { "tls" } else { "tcp" }.into(),
            tls: self.tls.as_ref().and_then(|t| t.details().cloned()),
            version: self.session.version().map(Version::number),
            connected: self.connected,
            last_query: self.last_query.map(|(t, _)| t),
            last_query_kind: self.last_query.map(|(_, k)| k.to_string()),
            serial: self.serial,
            resets: self.resets.into(),
            serial_queries: self.serials.into(),
            pdus_sent: self.pdus_sent,
            octets_sent: self.bytes_sent,
        }
    }

    fn push(&mut self, out: Output) {
        match out {
            Output::Pdus { bytes, pdus } => self.output.push_back(Chunk {
                bytes: Bytes::Owned(bytes),
                pos: 0,
                pdus,
            }),
            Output::Shared(enc) => self.output.push_back(Chunk {
                bytes: Bytes::Shared(enc.bytes),
                pos: 0,
                pdus: enc.pdus,
            }),
            Output::Close(reason) => {
                if self.closing.is_none() {
                    self.closing = Some(Close::Protocol(reason));
                }
            }
        }
    }

    /// Whether anything waits to be written: queued output, or ciphertext.
    fn pending(&self) -> bool {
        !self.output.is_empty() || self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Write as much queued output as the socket takes. Through TLS: write
    /// the waiting ciphertext first, and encrypt more only once the
    /// socket has taken it all.
    fn write(&mut self) -> io::Result<bool> {
        let mut wrote = false;
        loop {
            if let Some(tls) = self.tls.as_mut() {
                let n = tls.flush(&mut self.stream)?;
                let waits = tls.wants_write();
                if n > 0 {
                    wrote = true;
                    self.took(n);
                }
                if waits {
                    break;
                }
            }
            if self.output.is_empty() {
                break;
            }
            let slices: Vec<IoSlice> = self
                .output
                .iter()
                .take(IOV_MAX)
                .map(|c| IoSlice::new(c.rest()))
                .collect();
            let n = match self.tls.as_mut() {
                Some(tls) => match tls.send(&slices)? {
                    // Buffer full (plaintext held during the handshake).
                    0 => break,
                    n => n,
                },
                None => match self.stream.write_vectored(&slices) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                },
            };
            wrote = true;
            self.bytes_sent += n as u64;
            if self.tls.is_none() {
                self.took(n);
            }
            self.advance(n);
        }
        Ok(wrote)
    }

    /// The router took `n` octets off the socket's hands.
    fn took(&mut self, n: usize) {
        if let Some((_, taken)) = self.window.as_mut() {
            *taken += n as u64;
        }
    }

    /// Whether the router took too little in a progress window that ends
    /// now; a window starts when output is pending and ends when none is.
    fn too_slow(&mut self, now: Instant) -> Option<Close> {
        if !self.pending() {
            self.window = None;
            return None;
        }
        let Some((start, taken)) = self.window else {
            self.window = Some((now, 0));
            return None;
        };
        if now.saturating_duration_since(start) < PROGRESS_WINDOW {
            return None;
        }
        self.window = Some((now, 0));
        (taken < MIN_PROGRESS).then_some(Close::TooSlow { octets: taken })
    }

    /// Log a line the router caused, as long as this session has not used
    /// up its share.
    fn router_line(&mut self, line: std::fmt::Arguments<'_>) {
        self.router_lines += 1;
        match self.router_lines {
            n if n <= ROUTER_LINES => info!("session {}: {line}", self.peer),
            n if n == ROUTER_LINES + 1 => info!(
                "session {}: more router-caused events; not logged for this session",
                self.peer
            ),
            _ => {}
        }
    }

    /// Drop `n` written octets from the front of the queue.
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.output.front_mut() else {
                return;
            };
            let left = front.rest().len();
            if n >= left {
                n -= left;
                self.pdus_sent += u64::from(front.pdus);
                self.output.pop_front();
            } else {
                front.pos += n;
                n = 0;
            }
        }
    }

    /// Read what the socket has, up to the input limit.
    fn read(&mut self) -> Result<bool, Close> {
        if self.eof {
            return Ok(false);
        }
        let input = self.input.for_reading();
        if let Some(tls) = self.tls.as_mut() {
            let (got, eof) = tls
                .receive(&mut self.stream, input, INPUT_LIMIT)
                .map_err(Close::Tls)?;
            self.eof = eof;
            if let Some(what) = tls.established().map_err(Close::Tls)? {
                info!("session {}: {what}", self.peer);
            }
            return Ok(got);
        }
        let mut got = false;
        let mut buf = [0u8; 4096];
        while !self.eof && input.len() < INPUT_LIMIT {
            let room = (INPUT_LIMIT - input.len()).min(buf.len());
            match self.stream.read(&mut buf[..room]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    input.extend_from_slice(buf.get(..n).unwrap_or_default());
                    got = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Close::Io(e)),
            }
        }
        Ok(got)
    }

    /// Whether the router has closed and nothing is left to answer.
    fn finished(&self) -> bool {
        self.eof
            && !self.pending()
            && !matches!(pdu::split(self.input.pending()), Ok(Some(_)) | Err(_))
    }
}

//------------ Server --------------------------------------------------------

/// The rtr worker's state: listeners, connections, the cache.
pub struct Server {
    poll: Poll,
    settings: Settings,
    /// Each listener, with whether it is for TLS.
    listeners: Vec<(TcpListener, SocketAddr, bool)>,
    /// What new TLS connections use; replaced on reload.
    tls: Option<tls::Server>,
    conns: Slots<Conn>,
    cache: Cache,
    parent: Option<privsep::Channel>,
    validator: Option<privsep::Channel>,
    /// The snapshot stream from the validator.
    stream: stream::Reader,
    /// The validator's channel may hold more than one wake-up took.
    stream_more: bool,
    /// Accept batches and pauses, for every listener.
    accepts: Accepts,
    /// Sessions per router address.
    per_address: HashMap<IpAddr, usize>,
    /// Connections turned away since start-up.
    refused: u64,
    /// The control socket and the HTTP listener, with what they show.
    views: Views,
    /// When the worker started (Unix seconds).
    started: u64,
}

impl Server {
    /// A server on already-bound listening sockets. The session IDs come
    /// from `session_base` (random in the daemon).
    pub fn new(
        settings: Settings,
        listeners: Vec<std::net::TcpListener>,
        session_base: u16,
    ) -> io::Result<Server> {
        let cache = Cache::new(session_base, settings.timers, settings.history);
        let mut server = Server {
            poll: Poll::new()?,
            settings,
            listeners: Vec::new(),
            tls: None,
            conns: Slots::default(),
            cache,
            parent: None,
            validator: None,
            stream: stream::Reader::new(),
            stream_more: false,
            accepts: Accepts::default(),
            per_address: HashMap::new(),
            refused: 0,
            views: Views::default(),
            started: unix_now(),
        };
        for l in listeners {
            server.listen(l, false)?;
        }
        Ok(server)
    }

    /// Add a listening socket; `tls`: its connections speak TLS.
    pub fn listen(&mut self, listener: std::net::TcpListener, tls: bool) -> io::Result<()> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let mut l = TcpListener::from_std(listener);
        let token = Target::Listener(self.listeners.len()).token();
        self.poll
            .registry()
            .register(&mut l, token, Interest::READABLE)?;
        info!("listening on {addr}{}", if tls { " (tls)" } else { "" });
        self.listeners.push((l, addr, tls));
        Ok(())
    }

    /// Serve the control socket `fd`.
    pub fn control(&mut self, fd: std::os::fd::OwnedFd) -> io::Result<()> {
        self.views.control(fd, self.poll.registry())
    }

    /// Serve HTTP on the listening socket `fd`, bound to `addr`.
    pub fn http(&mut self, fd: std::os::fd::OwnedFd, addr: SocketAddr) -> io::Result<()> {
        self.views.http(fd, addr, self.poll.registry())
    }

    /// Use this certificate, key and client CA for new TLS connections;
    /// established ones keep theirs. On failure the current ones stay.
    pub fn set_tls(&mut self, files: &TlsFiles) -> Result<(), tls::BadFile> {
        self.tls = Some(tls::server(files)?);
        Ok(())
    }

    /// Attach the IPC channels: the parent's (configuration, shutdown) and
    /// the validator's (snapshots).
    pub fn attach(
        &mut self,
        parent: privsep::Channel,
        validator: privsep::Channel,
    ) -> io::Result<()> {
        parent.set_nonblocking(true)?;
        validator.set_nonblocking(true)?;
        let reg = self.poll.registry();
        reg.register(
            &mut mio::unix::SourceFd(&parent.as_raw_fd()),
            Target::Parent.token(),
            Interest::READABLE,
        )?;
        reg.register(
            &mut mio::unix::SourceFd(&validator.as_raw_fd()),
            Target::Validator.token(),
            Interest::READABLE,
        )?;
        self.parent = Some(parent);
        self.validator = Some(validator);
        Ok(())
    }

    /// Install a snapshot directly (what a complete stream from the
    /// validator does); `None` if it changes nothing. An error is fatal:
    /// the cache's own encoding did not decode.
    pub fn install(&mut self, snapshot: Snapshot) -> Result<Option<Update>, super::cache::Corrupt> {
        let update = self.cache.update(snapshot);
        privsep::memory::release_free_memory();
        let update = update?;
        // Installed: whatever withdrew the data no longer holds.
        self.views.no_data = None;
        let Some(update) = update else {
            return Ok(None);
        };
        self.views.serial(SerialRecord {
            serial: update.serial.0,
            time: unix_now(),
            announced: update.announced as u64,
            withdrawn: update.withdrawn as u64,
        });
        info!(
            "serial {}: {} VRPs, {} router keys, {} ASPAs (+{} -{})",
            update.serial,
            update.vrps,
            update.router_keys,
            update.aspas,
            update.announced,
            update.withdrawn
        );
        let now = Instant::now();
        for slot in self.conns.slots() {
            if let Some(conn) = self.conns.get_mut(slot) {
                conn.session.new_serial();
                self.notify(slot, now);
            }
        }
        Ok(Some(update))
    }

    /// Serve nothing: drop the data, close every session so that routers
    /// turn to another cache, and answer new ones with No Data Available.
    pub fn withdraw(&mut self, reason: &str) {
        self.cache.clear();
        self.views.no_data = Some(reason.to_string());
        warn!("no data to serve ({reason}): closing all sessions");
        for slot in self.conns.slots() {
            if self.conns.get(slot).is_some() {
                self.close(slot, Close::NoData);
            }
        }
    }

    /// Serve until the parent closes its channel: `Ok` then, [`Failed`]
    /// after a failure that has been logged.
    pub fn run(&mut self) -> Result<(), Failed> {
        let mut events = Events::with_capacity(1024);
        loop {
            // More of the snapshot stream, of a listener's queue or of an
            // export waits: come straight back.
            let timeout =
                if self.stream_more || self.accepts.waiting() || !self.views.more.is_empty() {
                    Duration::ZERO
                } else {
                    TICK
                };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).or_fail("poll");
            }
            let mut validator = self.stream_more;
            for event in &events {
                match Target::of(event.token()) {
                    Some(Target::Parent) => {
                        let open = self.handle_parent()?;
                        if !open {
                            return Ok(());
                        }
                    }
                    Some(Target::Validator) => validator = true,
                    Some(Target::Conn(slot)) => self.drive(slot),
                    Some(Target::View(slot)) => self.drive_view(slot),
                    Some(t @ (Target::Listener(_) | Target::Control | Target::Http(_))) => {
                        self.accept_on(t);
                    }
                    None => {}
                }
            }
            for slot in std::mem::take(&mut self.views.more) {
                self.drive_view(slot);
            }
            if validator {
                self.handle_validator()?;
            }
            for target in self.accepts.take_more() {
                self.accept_on(target);
            }
            self.tick();
        }
    }

    /// Tell v2 sessions the cache is restarting (§8.5), give the words a
    /// moment to leave, and close everything.
    pub fn shut_down(&mut self) {
        for conn in self.conns.iter_mut() {
            if let Some(out) = conn.session.restart() {
                conn.push(out);
                let _ = conn.write();
            }
        }
        let n = self.conns.len();
        if n > 0 {
            info!("closing {n} sessions");
        }
        self.conns.clear();
    }

    //--- IPC

    /// Take what the parent sent; false once it has closed its channel.
    fn handle_parent(&mut self) -> Result<bool, Failed> {
        let Some(parent) = self.parent.as_mut() else {
            return Ok(true);
        };
        let open = parent.fill().or_fail("parent channel")?;
        let mut configs = Vec::new();
        let mut tls_files = Vec::new();
        while let Some(frame) = parent.next_frame().or_fail("parent channel")? {
            match frame
                .decode::<msg::ToRtr>(msg::MAX_BODY)
                .or_fail("parent channel")?
            {
                msg::ToRtr::Config(config) => configs.push(config),
                msg::ToRtr::Tls(files) => tls_files.push(files),
            }
        }
        for config in configs {
            self.reconfigure(&config);
        }
        for files in tls_files {
            match self.set_tls(&files) {
                Ok(()) => info!("TLS certificate reloaded; new sessions use it"),
                Err(e) => error!("TLS {e}; keeping the current TLS certificate"),
            }
        }
        Ok(open)
    }

    fn reconfigure(&mut self, config: &Config) {
        let s = Settings::from_config(config);
        self.cache.reconfigure(s.timers, s.history);
        self.settings = s;
        info!("configuration reloaded");
    }

    /// Take a bounded share of the snapshot stream; [`Failed`] if it is
    /// broken or gone.
    fn handle_validator(&mut self) -> Result<(), Failed> {
        let Some(validator) = self.validator.as_mut() else {
            return Ok(());
        };
        let more = validator
            .fill_some(STREAM_OCTETS)
            .or_fail("validator channel")?;
        let (word, frames_left) = self
            .stream
            .take_some(STREAM_FRAMES, || validator.next_frame())
            .or_fail("validator channel")?;
        let closed = validator.is_closed();
        self.stream_more = more || frames_left;
        if let Some(states) = self.stream.take_sources() {
            self.views.sources = states;
        }
        match word {
            Some(Word::NoData(reason)) => self.withdraw(&reason),
            Some(Word::Snapshot(snapshot)) => {
                self.install(snapshot).or_fail("snapshot")?;
            }
            None => {}
        }
        if closed && !self.stream_more {
            error!("validator channel closed");
            return Err(Failed);
        }
        Ok(())
    }

    //--- Connections

    /// Accept on the listener `target` stands for.
    fn accept_on(&mut self, target: Target) {
        match target {
            Target::Listener(index) => self.accept(index),
            Target::Control | Target::Http(_) => self.accept_view(target),
            _ => {}
        }
    }

    /// Accept what listener `index` has, a batch at a time (see
    /// [`Accepts`]). A connection beyond the limits gets an Error Report
    /// and is closed.
    fn accept(&mut self, index: usize) {
        if self.accepts.paused() {
            return;
        }
        for _ in 0..ACCEPT_BATCH {
            let Some((listener, addr, is_tls)) = self.listeners.get(index) else {
                return;
            };
            let is_tls = *is_tls;
            let result = listener.accept();
            let (stream, peer) = match self.accepts.check(result, addr, Instant::now()) {
                Accepted::Take(x) => x,
                Accepted::Again => continue,
                Accepted::Stop => return,
            };
            let refusal = self.refusal(peer);
            if let Some((cause, why)) = refusal {
                Stats::count(&mut self.views.stats.refused, cause);
                self.refuse(stream, peer, is_tls, &why);
                continue;
            }
            let tls = if is_tls {
                let made = self
                    .tls
                    .as_ref()
                    .ok_or_else(|| "no TLS certificate".to_string())
                    .and_then(|t| TlsConn::new(t, peer.ip()).map_err(|e| e.to_string()));
                match made {
                    Ok(t) => Some(Box::new(t)),
                    Err(e) => {
                        warn!("session {peer} refused: {e}");
                        Stats::count(&mut self.views.stats.refused, "tls");
                        continue;
                    }
                }
            } else {
                None
            };
            let _ = stream.set_nodelay(true);
            let _ = setsockopt(&stream, sockopt::KeepAlive, &true);
            let now = Instant::now();
            let mut conn = Conn {
                stream,
                peer,
                tls,
                session: Session::new(self.settings.max_version),
                input: Input::default(),
                output: VecDeque::new(),
                closing: None,
                eof: false,
                opened: now,
                last_pdu: None,
                window: None,
                router_lines: 0,
                bytes_sent: 0,
                pdus_sent: 0,
                resets: 0,
                serials: 0,
                last_query: None,
                serial: None,
                connected: unix_now(),
            };
            if let Err(e) = self.poll.registry().register(
                &mut conn.stream,
                Target::Conn(self.conns.next_slot()).token(),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                warn!("session {peer} refused: {e}");
                continue;
            }
            info!("session {peer} opened");
            self.views.stats.opened += 1;
            let slot = self.conns.insert(conn);
            *self.per_address.entry(peer.ip()).or_default() += 1;
            self.drive(slot);
        }
        // The batch is used up and more may wait: come back without
        // waiting for a new event.
        self.accepts.full(Target::Listener(index));
    }

    /// Why a connection from `peer` is turned away, if it is: a limit
    /// reached, named by its key.
    fn refusal(&self, peer: SocketAddr) -> Option<(&'static str, String)> {
        let from_peer = self.per_address.get(&peer.ip()).copied().unwrap_or(0);
        if self.conns.len() >= self.settings.max_sessions {
            Some((
                "max-sessions",
                format!("limit of {} sessions reached", self.settings.max_sessions),
            ))
        } else if from_peer >= self.settings.max_per_address {
            Some((
                "max-sessions-per-address",
                format!(
                    "limit of {} sessions from {} reached",
                    self.settings.max_per_address,
                    peer.ip()
                ),
            ))
        } else {
            None
        }
    }

    /// Turn a connection away: the session's refusal, if it fits the
    /// socket at once, then close. A TLS connection is only closed: it has
    /// no channel for a report before its handshake.
    fn refuse(&mut self, mut stream: TcpStream, peer: SocketAddr, tls: bool, why: &str) {
        self.refused += 1;
        if self.refused <= ROUTER_LINES.into() || self.refused.is_power_of_two() {
            warn!(
                "session {peer} refused: {why} ({} refused so far)",
                self.refused
            );
        }
        if !tls {
            let _ = stream.write(&Session::refusal(self.settings.max_version, why));
        }
    }

    /// Move everything that can move on one connection: answer queries
    /// while nothing is queued, write, read; until no progress is made.
    fn drive(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let mut outs = Vec::new();
        let mut notes = Vec::new();
        let result = loop {
            let mut progress = false;
            while conn.output.is_empty() && conn.closing.is_none() {
                let n =
                    conn.session
                        .receive(conn.input.pending(), &self.cache, &mut outs, &mut notes);
                if n == 0 {
                    break;
                }
                conn.input.consume(n);
                conn.last_pdu = Some(Instant::now());
                for note in notes.drain(..) {
                    note_session(conn, note, &mut self.views.stats, &self.cache);
                }
                for out in outs.drain(..) {
                    conn.push(out);
                }
                progress = true;
            }
            match conn.write() {
                Ok(wrote) => progress |= wrote,
                Err(e) => break Some(Close::Io(e)),
            }
            if !conn.pending() {
                if let Some(reason) = conn.closing.take() {
                    break Some(reason);
                }
            }
            match conn.read() {
                Ok(got) => progress |= got,
                Err(close) => break Some(close),
            }
            if conn.finished() {
                break Some(Close::ByRouter);
            }
            if !progress {
                break None;
            }
        };
        if let Some(reason) = result {
            self.close(slot, reason);
        }
    }

    fn close(&mut self, slot: usize, reason: Close) {
        let Some(mut conn) = self.conns.remove(slot) else {
            return;
        };
        if let Some(tls) = conn.tls.as_mut() {
            // A last word: the alert after a failure, else close_notify.
            tls.close();
            let _ = tls.flush(&mut conn.stream);
        }
        let _ = self.poll.registry().deregister(&mut conn.stream);
        if let Some(n) = self.per_address.get_mut(&conn.peer.ip()) {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&conn.peer.ip());
            }
        }
        let stats = &mut self.views.stats;
        Stats::count(&mut stats.closed, reason.cause());
        stats.closed_pdus += conn.pdus_sent;
        stats.closed_octets += conn.bytes_sent;
        match &reason {
            Close::Protocol(Reason::SentError(code)) => {
                Stats::count(&mut stats.errors_sent, code.value());
            }
            Close::Protocol(Reason::ReceivedError(code)) => {
                Stats::count(&mut stats.errors_received, *code);
            }
            _ => {}
        }
        let version = conn
            .session
            .version()
            .map_or("none".into(), |v| v.to_string());
        info!(
            "session {} closed ({reason}): {}version {version}, {} reset and {} serial queries, \
             {} PDUs and {} octets sent",
            conn.peer,
            if conn.tls.is_some() { "tls, " } else { "" },
            conn.resets,
            conn.serials,
            conn.pdus_sent,
            conn.bytes_sent
        );
    }

    /// Queue the session's Serial Notify if it is due now, and write it.
    fn notify(&mut self, slot: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.closing.is_some() {
            return;
        }
        let interval = self.settings.notify_interval;
        if let Some(out) = conn.session.due_notify(now, interval, &self.cache) {
            conn.push(out);
            self.views.stats.notifies += 1;
            self.drive(slot);
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        for slot in self.views.overdue(now, self.poll.registry()) {
            self.drive_view(slot);
        }
        if self.accepts.resume(now) {
            let views = self.views.listeners();
            for target in (0..self.listeners.len()).map(Target::Listener).chain(views) {
                self.accept_on(target);
            }
        }
        let (first, idle) = (self.settings.query_timeout, self.settings.idle_limit());
        for slot in self.conns.slots() {
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            let close = overdue(conn.opened, conn.last_pdu, now, first, idle)
                .or_else(|| conn.too_slow(now));
            if let Some(close) = close {
                self.close(slot, close);
            } else if conn.session.wants_notify() {
                self.notify(slot, now);
            }
        }
    }
}

//------------ Views ---------------------------------------------------------

impl Server {
    /// Accept on the control socket or an HTTP listener.
    fn accept_view(&mut self, target: Target) {
        let registry = self.poll.registry();
        for slot in self.views.accept(target, &mut self.accepts, registry) {
            self.drive_view(slot);
        }
    }

    /// Move a view connection on; answer its request once complete.
    fn drive_view(&mut self, slot: usize) {
        loop {
            match self.views.step(slot, self.poll.registry()) {
                Step::Request(req) => {
                    let (response, action) = views::route(&req, &*self);
                    match action {
                        Action::None => {}
                        Action::Reload => {
                            info!("reload asked on the control socket");
                            self.ask_reload();
                        }
                    }
                    self.views.respond(slot, response, req.head_only());
                }
                Step::Wait | Step::Closed => return,
            }
        }
    }

    /// When the data served was made: its oldest source's time, else the
    /// current serial's.
    fn data_made(&self) -> u64 {
        self.views
            .sources
            .iter()
            .filter_map(|s| s.made)
            .min()
            .or_else(|| self.views.serials.front().map(|r| r.time))
            .unwrap_or_else(unix_now)
    }

    /// Ask the parent to reload, as SIGHUP does.
    fn ask_reload(&mut self) {
        if let Some(parent) = self.parent.as_mut() {
            if let Err(e) = parent.send(&msg::FromRtr::Reload) {
                warn!("cannot ask the parent to reload: {e}");
            }
        }
    }

    /// The status document, now.
    fn status(&self) -> Status {
        let sessions: Vec<SessionStatus> = self.conns.iter().map(Conn::status).collect();
        let stats = &self.views.stats;
        let live_pdus: u64 = sessions.iter().map(|s| s.pdus_sent).sum();
        let live_octets: u64 = sessions.iter().map(|s| s.octets_sent).sum();
        let named = |m: &std::collections::BTreeMap<&'static str, u64>| {
            m.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
        };
        let mut status = Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            started: self.started,
            now: unix_now(),
            serial: self.cache.serial().map(|s| s.0),
            no_data: self.views.no_data.clone(),
            session_ids: Version::ALL
                .iter()
                .filter(|v| **v <= self.settings.max_version)
                .map(|&v| view::VersionSession {
                    version: v.number(),
                    session_id: self.cache.session_id(v).0,
                })
                .collect(),
            payloads: Version::ALL
                .iter()
                .filter(|v| **v <= self.settings.max_version)
                .filter_map(|&v| {
                    let (vrps, keys, aspas) = self.cache.counts(v)?;
                    Some(view::VersionPayloads {
                        version: v.number(),
                        vrps: vrps as u64,
                        router_keys: keys as u64,
                        aspas: aspas as u64,
                    })
                })
                .collect(),
            serials: self.views.serials.iter().copied().collect(),
            sources: self.views.sources.clone(),
            counters: view::Counters {
                sessions_opened: stats.opened,
                reset_queries: stats.resets,
                serial_queries: stats.serial_queries,
                cache_resets: stats.cache_resets,
                notifies: stats.notifies,
                pdus_sent: stats.closed_pdus + live_pdus,
                octets_sent: stats.closed_octets + live_octets,
                error_reports_sent: stats.errors_sent.clone(),
                error_reports_received: stats.errors_received.clone(),
                refused: named(&stats.refused),
                closed: named(&stats.closed),
            },
            sessions,
            ready: view::Readiness::default(),
        };
        status.ready = views::State::readiness(self);
        status
    }
}

impl views::State for Server {
    fn status(&self) -> Status {
        Server::status(self)
    }

    fn readiness(&self) -> Readiness {
        view::readiness(
            self.views.no_data.as_deref(),
            self.cache.serial().map(|s| s.0),
            &self.views.sources,
            self.listeners.len(),
        )
    }

    fn export(&self, format: Format) -> Option<Export> {
        let parts = self.cache.export()?;
        Some(Export::new(format, parts, self.data_made()))
    }
}

/// Whether a connection opened at `opened`, whose router last sent a PDU
/// at `last_pdu`, is overdue at `now`: no first query within `first`, or
/// no PDU for `idle`.
fn overdue(
    opened: Instant,
    last_pdu: Option<Instant>,
    now: Instant,
    first: Duration,
    idle: Duration,
) -> Option<Close> {
    match last_pdu {
        None if now.saturating_duration_since(opened) > first => Some(Close::NoQuery(first)),
        Some(t) if now.saturating_duration_since(t) > idle => Some(Close::Idle(idle)),
        _ => None,
    }
}

/// Count and log what a session did; what the router caused is logged
/// within the session's share of lines.
fn note_session(conn: &mut Conn, note: Note, stats: &mut Stats, cache: &Cache) {
    let peer = conn.peer;
    match note {
        Note::Negotiated(v) => debug!("session {peer}: version {v}"),
        Note::VersionTooHigh(v) => {
            Stats::count(
                &mut stats.errors_sent,
                ErrorCode::UnsupportedVersion.value(),
            );
            conn.router_line(format_args!(
                "query at version {v}, answered Unsupported Protocol Version"
            ));
        }
        Note::ReceivedError(code) => {
            Stats::count(&mut stats.errors_received, code);
            conn.router_line(format_args!("router reported error {code}"));
        }
        Note::NoData => {
            Stats::count(&mut stats.errors_sent, ErrorCode::NoDataAvailable.value());
            conn.router_line(format_args!("no data yet, answered No Data Available"));
        }
        Note::ResetQuery => {
            conn.resets += 1;
            stats.resets += 1;
            conn.last_query = Some((unix_now(), "reset"));
            conn.serial = cache.serial().map(|s| s.0);
            debug!("session {peer}: reset query");
        }
        Note::SerialQuery { serial, answer } => {
            conn.serials += 1;
            conn.last_query = Some((unix_now(), "serial"));
            match answer {
                SerialAnswer::Delta => {
                    stats.serial_queries += 1;
                    conn.serial = cache.serial().map(|s| s.0);
                    debug!("session {peer}: serial query from {serial}");
                }
                SerialAnswer::CacheReset => {
                    stats.cache_resets += 1;
                    debug!("session {peer}: serial query from {serial}, answered Cache Reset");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_and_idle_connections_are_overdue() {
        let t0 = Instant::now();
        let (first, idle) = (Duration::from_secs(30), Duration::from_secs(14_400));
        let at = |s| t0 + Duration::from_secs(s);
        assert!(overdue(t0, None, at(30), first, idle).is_none());
        assert!(matches!(
            overdue(t0, None, at(31), first, idle),
            Some(Close::NoQuery(_))
        ));
        // A router that asked once is held to the idle limit instead: twice
        // the default Expire Interval.
        assert!(overdue(t0, Some(at(1)), at(14_401), first, idle).is_none());
        let idle_close = overdue(t0, Some(at(1)), at(14_402), first, idle);
        assert!(matches!(idle_close, Some(Close::Idle(_))));
        assert_eq!(idle_close.unwrap().to_string(), "idle: no PDU for 14400 s");
        let c = crate::config::Config::parse(std::path::Path::new("x"), "").unwrap();
        assert_eq!(Settings::from_config(&c).idle_limit(), idle);
    }

    #[test]
    fn a_refusal_is_an_internal_error_at_the_highest_version_offered() {
        let report = Session::refusal(Version::V1, "limit of 2 sessions reached");
        assert_eq!(report[0], Version::V1.number());
        let e = pdu::ErrorReport::parse(&report).expect("an Error Report");
        assert_eq!(e.code, ErrorCode::InternalError.value());
        assert_eq!(e.text, "limit of 2 sessions reached; try again later");
        assert!(e.pdu.is_empty());
    }

    #[test]
    fn a_freed_slot_is_taken_before_the_table_grows() {
        let mut slots = Slots::default();
        assert_eq!(slots.next_slot(), 0);
        assert_eq!(slots.insert('a'), 0);
        assert_eq!(slots.next_slot(), 1);
        assert_eq!(slots.insert('b'), 1);
        assert_eq!(slots.insert('c'), 2);
        assert_eq!(slots.remove(1), Some('b'));
        assert_eq!(slots.remove(1), None);
        assert_eq!((slots.len(), slots.get(1)), (2, None));
        assert_eq!(slots.next_slot(), 1);
        assert_eq!(slots.insert('d'), 1);
        assert_eq!(slots.slots(), 0..3);
        *slots.get_mut(2).unwrap() = 'e';
        assert_eq!(slots.iter().collect::<String>(), "ade");
        assert_eq!(slots.remove(0), Some('a'));
        let entries: Vec<(usize, char)> = slots.entries().map(|(i, c)| (i, *c)).collect();
        assert_eq!(entries, [(1, 'd'), (2, 'e')]);
        slots.clear();
        assert!(slots.is_empty());
        assert_eq!(slots.next_slot(), 0);
    }

    #[test]
    fn every_target_reads_back_from_its_token() {
        for t in [
            Target::Parent,
            Target::Validator,
            Target::Control,
            Target::Listener(0),
            Target::Listener(7),
            Target::Http(0),
            Target::Http(3),
            Target::View(0),
            Target::View(views::MAX_CONNS),
            Target::Conn(0),
            Target::Conn(100_000),
        ] {
            assert_eq!(Target::of(t.token()), Some(t), "{t:?}");
        }
        assert_eq!(Target::of(Token(3)), None);
    }

    #[test]
    fn a_failed_accept_pauses_every_listener_until_the_tick_resumes() {
        let t0 = Instant::now();
        let mut a = Accepts::default();
        let empty: io::Result<()> = Err(io::ErrorKind::WouldBlock.into());
        assert!(matches!(a.check(empty, "l", t0), Accepted::Stop));
        assert!(!a.paused());
        let again: io::Result<()> = Err(io::ErrorKind::Interrupted.into());
        assert!(matches!(a.check(again, "l", t0), Accepted::Again));
        let emfile: io::Result<()> = Err(io::Error::from_raw_os_error(nix::libc::EMFILE));
        assert!(matches!(a.check(emfile, "l", t0), Accepted::Stop));
        assert!(a.paused());
        assert!(!a.resume(t0 + ACCEPT_PAUSE / 2));
        assert!(a.paused());
        assert!(a.resume(t0 + ACCEPT_PAUSE));
        assert!(!a.paused());
        assert!(!a.resume(t0 + ACCEPT_PAUSE));
        assert!(matches!(
            a.check(Ok(5), "l", t0).map(|n| n + 1),
            Accepted::Take(6)
        ));
        a.full(Target::Http(1));
        assert!(a.waiting());
        assert_eq!(a.take_more(), [Target::Http(1)]);
        assert!(!a.waiting());
    }

    #[test]
    fn input_is_taken_by_moving_a_cursor_and_compacted_only_to_read() {
        let mut input = Input::default();
        input.for_reading().extend_from_slice(&[1, 2, 3, 4, 5]);
        input.consume(2);
        assert_eq!(input.pending(), [3, 4, 5]);
        assert_eq!(input.buf.len(), 5, "taking a PDU moves nothing");
        input.for_reading().push(6);
        assert_eq!((input.start, &input.buf[..]), (0, &[3, 4, 5, 6][..]));
        input.consume(4);
        assert!(input.pending().is_empty());
        assert!(input.buf.is_empty());
        input.consume(1);
        assert!(input.pending().is_empty());
    }
}
