//! The rtr worker's event loop: accepts routers, moves bytes between their
//! sockets and their [`Session`]s, receives snapshots from the validator
//! and tells established sessions about new serials.
//!
//! Runs in the rtr worker (unprivileged, sandboxed), one thread, mio.
//!
//! Output is a queue of chunks per connection: small PDUs owned by the
//! session and references into the cache's shared, pre-encoded buffers,
//! written with vectored writes. A session's next query is only processed
//! once its previous answer is fully written, so a router that stops
//! reading stalls only itself and holds at most one answer's references.
//! A connection on a TLS listener puts a [`TlsConn`] between its socket and
//! its session; the same bound holds for it (see `tls`).

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use nix::sys::socket::{setsockopt, sockopt};

use crate::config::{Config, TlsFiles};
use crate::msg;
use crate::payload::{Payload, Snapshot};

use super::cache::{Cache, Update};
use super::pdu::{self, Timers, MAX_LEN};
use super::session::{Note, Output, SerialAnswer, Session};
use super::tls::{self, TlsConn};

const PARENT: Token = Token(0);
const VALIDATOR: Token = Token(1);
const LISTENER_BASE: usize = 16;
const CONN_BASE: usize = 1 << 16;

/// How long the loop sleeps at most: the granularity of deferred Serial
/// Notifies, stall checks and accept back-off.
const TICK: Duration = Duration::from_millis(250);

/// Input kept per connection: one PDU of the largest size plus slack.
/// Routers send 8- and 12-octet queries; more than this unprocessed means
/// the router is not reading our answers, and we stop reading too.
const INPUT_LIMIT: usize = MAX_LEN + 4096;

/// Vectored writes take up to this many chunks at once.
const IOV_MAX: usize = 64;

//------------ Settings ------------------------------------------------------

/// The parts of the configuration the event loop uses.
#[derive(Clone, Debug)]
pub struct Settings {
    pub max_version: u8,
    pub timers: Timers,
    pub history: usize,
    pub notify_interval: Duration,
    pub max_sessions: usize,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        Settings {
            max_version: c.rtr.max_version,
            timers: Timers {
                refresh: c.rtr.refresh,
                retry: c.rtr.retry,
                expire: c.rtr.expire,
            },
            history: c.rtr.history,
            notify_interval: Duration::from_secs(c.rtr.notify_interval.into()),
            max_sessions: c.rtr.max_sessions,
        }
    }

    /// §9: a transport with no write progress for three retry intervals is
    /// considered failed.
    fn stall_limit(&self) -> Duration {
        Duration::from_secs(3 * u64::from(self.timers.retry))
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
        match &self.bytes {
            Bytes::Owned(v) => &v[self.pos..],
            Bytes::Shared(a) => &a[self.pos..],
        }
    }
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// The TLS layer, on a TLS listener.
    tls: Option<Box<TlsConn>>,
    session: Session,
    input: Vec<u8>,
    output: VecDeque<Chunk>,
    /// Close once the output is written.
    closing: Option<String>,
    eof: bool,
    /// The serial of the last End of Data or Serial Notify sent.
    told_serial: Option<u32>,
    last_notify: Option<Instant>,
    notify_due: bool,
    last_progress: Instant,
    bytes_sent: u64,
    pdus_sent: u64,
    resets: u32,
    serials: u32,
}

impl Conn {
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
                    self.closing = Some(reason.to_string());
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
                if tls.flush(&mut self.stream)? > 0 {
                    wrote = true;
                }
                if tls.wants_write() {
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
            let mut n = match self.tls.as_mut() {
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
            while n > 0 {
                let front = self.output.front_mut().expect("written bytes were queued");
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
        if wrote {
            self.last_progress = Instant::now();
        }
        Ok(wrote)
    }

    /// Read what the socket has, up to the input limit.
    fn read(&mut self) -> Result<bool, String> {
        if let Some(tls) = self.tls.as_mut() {
            if self.eof {
                return Ok(false);
            }
            let (got, eof) = tls.receive(&mut self.stream, &mut self.input, INPUT_LIMIT)?;
            self.eof = eof;
            if let Some(what) = tls.established()? {
                info!("session {}: {what}", self.peer);
            }
            return Ok(got);
        }
        let mut got = false;
        let mut buf = [0u8; 4096];
        while !self.eof && self.input.len() < INPUT_LIMIT {
            let room = (INPUT_LIMIT - self.input.len()).min(buf.len());
            match self.stream.read(&mut buf[..room]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.input.extend_from_slice(&buf[..n]);
                    got = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(got)
    }
}

//------------ Incoming snapshot ---------------------------------------------

/// A snapshot being received from the validator, built aside.
#[derive(Default)]
struct Incoming {
    snapshot: Snapshot,
    count: u64,
    checksum: msg::StreamChecksum,
}

/// Why the loop ended.
pub enum Exit {
    /// The parent closed its channel: orderly shutdown.
    Shutdown,
    /// Something that cannot be handled; already logged.
    Failed,
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
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    live: usize,
    cache: Cache,
    parent: Option<privsep::Channel>,
    validator: Option<privsep::Channel>,
    incoming: Option<Incoming>,
    accept_paused_until: Option<Instant>,
}

impl Server {
    /// A server on already-bound listening sockets. The session IDs come
    /// from `session_base` (random in the daemon).
    pub fn new(
        settings: Settings,
        listeners: Vec<std::net::TcpListener>,
        session_base: u16,
    ) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut ls = Vec::new();
        for (i, l) in listeners.into_iter().enumerate() {
            l.set_nonblocking(true)?;
            let addr = l.local_addr()?;
            let mut l = TcpListener::from_std(l);
            poll.registry()
                .register(&mut l, Token(LISTENER_BASE + i), Interest::READABLE)?;
            info!("listening on {addr}");
            ls.push((l, addr, false));
        }
        let cache = Cache::new(session_base, settings.timers, settings.history);
        Ok(Server {
            poll,
            settings,
            listeners: ls,
            tls: None,
            conns: Vec::new(),
            free: Vec::new(),
            live: 0,
            cache,
            parent: None,
            validator: None,
            incoming: None,
            accept_paused_until: None,
        })
    }

    /// Add a listening socket whose connections speak TLS.
    pub fn listen_tls(&mut self, listener: std::net::TcpListener) -> io::Result<()> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let mut l = TcpListener::from_std(listener);
        let token = Token(LISTENER_BASE + self.listeners.len());
        self.poll
            .registry()
            .register(&mut l, token, Interest::READABLE)?;
        info!("listening on {addr} (tls)");
        self.listeners.push((l, addr, true));
        Ok(())
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
            PARENT,
            Interest::READABLE,
        )?;
        reg.register(
            &mut mio::unix::SourceFd(&validator.as_raw_fd()),
            VALIDATOR,
            Interest::READABLE,
        )?;
        self.parent = Some(parent);
        self.validator = Some(validator);
        Ok(())
    }

    /// Install a snapshot directly (what a complete stream from the
    /// validator does).
    pub fn install(&mut self, snapshot: Snapshot) -> Option<Update> {
        let update = self.cache.update(snapshot);
        privsep::memory::release_free_memory();
        let update = update?;
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
        for i in 0..self.conns.len() {
            if let Some(conn) = self.conns[i].as_mut() {
                if conn.session.is_established() {
                    conn.notify_due = true;
                    self.notify_if_due(i, now);
                }
            }
        }
        Some(update)
    }

    /// Serve nothing: drop the data, close every session so that routers
    /// turn to another cache, and answer new ones with No Data Available.
    pub fn withdraw(&mut self, reason: &str) {
        self.cache.clear();
        warn!("no data to serve ({reason}): closing all sessions");
        for slot in 0..self.conns.len() {
            if self.conns[slot].is_some() {
                self.close(slot, "no data to serve");
            }
        }
    }

    /// Run until the parent closes its channel (never, without one).
    pub fn run(&mut self) -> Exit {
        let mut events = Events::with_capacity(1024);
        loop {
            if let Err(e) = self.poll.poll(&mut events, Some(TICK)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                error!("poll: {e}");
                return Exit::Failed;
            }
            for event in events.iter() {
                match event.token() {
                    PARENT => {
                        if let Some(exit) = self.handle_parent() {
                            return exit;
                        }
                    }
                    VALIDATOR => {
                        if !self.handle_validator() {
                            return Exit::Failed;
                        }
                    }
                    Token(t) if t >= CONN_BASE => self.drive(t - CONN_BASE),
                    Token(t) => self.accept(t - LISTENER_BASE),
                }
            }
            self.tick();
        }
    }

    /// Tell v2 sessions the cache is restarting (§8.5), give the words a
    /// moment to leave, and close everything.
    pub fn shut_down(&mut self) {
        for slot in self.conns.iter_mut() {
            if let Some(conn) = slot.as_mut() {
                if let Some(out) = conn.session.restart() {
                    conn.push(out);
                    let _ = conn.write();
                }
            }
        }
        let n = self.conns.iter().flatten().count();
        if n > 0 {
            info!("closing {n} sessions");
        }
        self.conns.clear();
    }

    //--- IPC

    fn handle_parent(&mut self) -> Option<Exit> {
        let parent = self.parent.as_mut()?;
        let open = match parent.fill() {
            Ok(open) => open,
            Err(e) => {
                error!("parent channel: {e}");
                return Some(Exit::Failed);
            }
        };
        let mut configs = Vec::new();
        let mut tls_files = Vec::new();
        loop {
            match parent.next_frame() {
                Ok(Some(frame)) => match frame.decode::<msg::ToRtr>(msg::MAX_BODY) {
                    Ok(msg::ToRtr::Config(config)) => configs.push(config),
                    Ok(msg::ToRtr::Tls(files)) => tls_files.push(files),
                    Ok(other) => {
                        error!("parent channel: unexpected {other:?}");
                        return Some(Exit::Failed);
                    }
                    Err(e) => {
                        error!("parent channel: {e}");
                        return Some(Exit::Failed);
                    }
                },
                Ok(None) => break,
                Err(e) => {
                    error!("parent channel: {e}");
                    return Some(Exit::Failed);
                }
            }
        }
        for config in configs {
            self.reconfigure(&config);
        }
        for files in tls_files {
            match self.set_tls(&files) {
                Ok(()) => info!("TLS certificate reloaded; new sessions use it"),
                Err(e) => error!("TLS {e}; keeping the current certificate"),
            }
        }
        if open {
            None
        } else {
            Some(Exit::Shutdown)
        }
    }

    fn reconfigure(&mut self, config: &Config) {
        let s = Settings::from_config(config);
        self.cache.reconfigure(s.timers, s.history);
        self.settings = s;
        info!("configuration reloaded");
    }

    /// Read the snapshot stream; false if it is broken or gone (fatal).
    fn handle_validator(&mut self) -> bool {
        let Some(validator) = self.validator.as_mut() else {
            return true;
        };
        let open = match validator.fill() {
            Ok(open) => open,
            Err(e) => {
                error!("validator channel: {e}");
                return false;
            }
        };
        let mut complete = Vec::new();
        let mut no_data = None;
        loop {
            let frame = match validator.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    error!("validator channel: {e}");
                    return false;
                }
            };
            let message = match frame.decode::<msg::Snapshot>(msg::MAX_BODY) {
                Ok(m) => m,
                Err(e) => {
                    error!("validator channel: {e}");
                    return false;
                }
            };
            match (message, self.incoming.as_mut()) {
                (
                    msg::Snapshot::Begin {
                        vrps,
                        router_keys,
                        aspas,
                    },
                    _,
                ) => {
                    let cap = |n: u64| usize::try_from(n).unwrap_or(0).min(16 << 20);
                    let mut inc = Incoming::default();
                    inc.snapshot.vrps.reserve_exact(cap(vrps));
                    inc.snapshot.router_keys.reserve_exact(cap(router_keys));
                    inc.snapshot.aspas.reserve_exact(cap(aspas));
                    self.incoming = Some(inc);
                }
                (msg::Snapshot::Batch(items), Some(inc)) => {
                    inc.checksum.update(&frame.body);
                    inc.count += items.len() as u64;
                    for item in items {
                        match item {
                            Payload::Vrp(v) => inc.snapshot.vrps.push(v),
                            Payload::RouterKey(k) => inc.snapshot.router_keys.push(k),
                            Payload::Aspa(a) => inc.snapshot.aspas.push(a),
                        }
                    }
                }
                (msg::Snapshot::End { count, checksum }, Some(_)) => {
                    let inc = self.incoming.take().expect("matched Some");
                    if inc.count != count || inc.checksum.value() != checksum {
                        error!(
                            "validator channel: snapshot of {} items (checksum {:016x}) \
                             announced as {count} ({checksum:016x})",
                            inc.count,
                            inc.checksum.value()
                        );
                        return false;
                    }
                    if !is_canonical(&inc.snapshot) {
                        error!("validator channel: snapshot not sorted and unique");
                        return false;
                    }
                    complete.push(inc.snapshot);
                    no_data = None;
                }
                (msg::Snapshot::NoData { reason }, _) => {
                    self.incoming = None;
                    complete.clear();
                    no_data = Some(reason);
                }
                (other, None) => {
                    error!(
                        "validator channel: {} outside a snapshot",
                        kind_name(&other)
                    );
                    return false;
                }
            }
        }
        // Only the newest word counts: a complete snapshot, or no data.
        if let Some(reason) = no_data {
            self.withdraw(&reason);
        } else if let Some(snapshot) = complete.pop() {
            self.install(snapshot);
        }
        if !open {
            error!("validator channel closed");
        }
        open
    }

    //--- Connections

    fn accept(&mut self, index: usize) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let Some((listener, _, is_tls)) = self.listeners.get(index) else {
                return;
            };
            let is_tls = *is_tls;
            let (stream, peer) = match listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning or
                    // dying; the tick retries.
                    warn!("accept: {e}; pausing new sessions for a moment");
                    self.accept_paused_until = Some(Instant::now() + Duration::from_secs(1));
                    return;
                }
            };
            if self.live >= self.settings.max_sessions {
                warn!(
                    "session {peer} refused: limit of {} sessions reached",
                    self.settings.max_sessions
                );
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
                        continue;
                    }
                }
            } else {
                None
            };
            let _ = stream.set_nodelay(true);
            let _ = setsockopt(&stream, sockopt::KeepAlive, &true);
            let slot = self.free.pop().unwrap_or_else(|| {
                self.conns.push(None);
                self.conns.len() - 1
            });
            let mut conn = Conn {
                stream,
                peer,
                tls,
                session: Session::new(self.settings.max_version),
                input: Vec::new(),
                output: VecDeque::new(),
                closing: None,
                eof: false,
                told_serial: None,
                last_notify: None,
                notify_due: false,
                last_progress: Instant::now(),
                bytes_sent: 0,
                pdus_sent: 0,
                resets: 0,
                serials: 0,
            };
            if let Err(e) = self.poll.registry().register(
                &mut conn.stream,
                Token(CONN_BASE + slot),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                warn!("session {peer} refused: {e}");
                self.free.push(slot);
                continue;
            }
            info!("session {peer} opened");
            self.conns[slot] = Some(conn);
            self.live += 1;
            self.drive(slot);
        }
    }

    /// Move everything that can move on one connection: answer queries
    /// while nothing is queued, write, read; until no progress is made.
    fn drive(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let mut outs = Vec::new();
        let mut notes = Vec::new();
        let result = loop {
            let mut progress = false;
            while conn.output.is_empty() && conn.closing.is_none() {
                let n = conn
                    .session
                    .receive(&conn.input, &self.cache, &mut outs, &mut notes);
                if n == 0 {
                    break;
                }
                conn.input.drain(..n);
                for note in notes.drain(..) {
                    note_session(conn, &self.cache, note);
                }
                for out in outs.drain(..) {
                    conn.push(out);
                }
                progress = true;
            }
            match conn.write() {
                Ok(wrote) => progress |= wrote,
                Err(e) => break Some(e.to_string()),
            }
            if !conn.pending() {
                if let Some(reason) = conn.closing.take() {
                    break Some(reason);
                }
            }
            match conn.read() {
                Ok(got) => progress |= got,
                Err(e) => break Some(e),
            }
            if conn.eof && !conn.pending() && pdu::complete_len(&conn.input).is_none() {
                break Some("closed by router".into());
            }
            if !progress {
                break None;
            }
        };
        if let Some(reason) = result {
            self.close(slot, &reason);
        }
    }

    fn close(&mut self, slot: usize, reason: &str) {
        let Some(mut conn) = self.conns[slot].take() else {
            return;
        };
        if let Some(tls) = conn.tls.as_mut() {
            // A last word: the alert after a failure, else close_notify.
            tls.close();
            let _ = tls.flush(&mut conn.stream);
        }
        let _ = self.poll.registry().deregister(&mut conn.stream);
        self.free.push(slot);
        self.live -= 1;
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

    /// Queue a deferred Serial Notify if its time has come (§8.2: at most
    /// one per interval per session; coalesced, never dropped), and write
    /// it. Sessions with nothing to say are not touched.
    fn notify_if_due(&mut self, slot: usize, now: Instant) {
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        if !conn.notify_due || conn.closing.is_some() {
            return;
        }
        if conn.told_serial.is_some() && conn.told_serial == self.cache.serial() {
            conn.notify_due = false;
            return;
        }
        if let Some(last) = conn.last_notify {
            if now.duration_since(last) < self.settings.notify_interval {
                return;
            }
        }
        conn.notify_due = false;
        if let Some(out) = conn.session.notify(&self.cache) {
            conn.push(out);
            conn.told_serial = self.cache.serial();
            conn.last_notify = Some(now);
            self.drive(slot);
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        if self.accept_paused_until.is_some_and(|t| now >= t) {
            self.accept_paused_until = None;
            for i in 0..self.listeners.len() {
                self.accept(i);
            }
        }
        let stall = self.settings.stall_limit();
        for slot in 0..self.conns.len() {
            let Some(conn) = self.conns[slot].as_ref() else {
                continue;
            };
            if conn.pending() && now.duration_since(conn.last_progress) > stall {
                self.close(slot, "transport stalled");
                continue;
            }
            if conn.notify_due {
                self.notify_if_due(slot, now);
            }
        }
    }
}

/// Count and log what a session did.
fn note_session(conn: &mut Conn, cache: &Cache, note: Note) {
    let peer = conn.peer;
    match note {
        Note::Negotiated(v) => debug!("session {peer}: version {v}"),
        Note::VersionTooHigh(v) => {
            info!("session {peer}: query at version {v}, answered Unsupported Protocol Version")
        }
        Note::ReceivedError(code) => info!("session {peer}: router reported error {code}"),
        Note::NoData => info!("session {peer}: no data yet, answered No Data Available"),
        Note::ResetQuery => {
            conn.resets += 1;
            conn.told_serial = cache.serial();
            debug!("session {peer}: reset query");
        }
        Note::SerialQuery { serial, answer } => {
            conn.serials += 1;
            match answer {
                SerialAnswer::Delta => {
                    conn.told_serial = cache.serial();
                    debug!("session {peer}: serial query from {serial}");
                }
                SerialAnswer::CacheReset => {
                    debug!("session {peer}: serial query from {serial}, answered Cache Reset")
                }
            }
        }
    }
}

/// Whether every vector is strictly increasing (sorted, no duplicates) and
/// ASPA customers are unique.
fn is_canonical(s: &Snapshot) -> bool {
    s.vrps.windows(2).all(|w| w[0] < w[1])
        && s.router_keys.windows(2).all(|w| w[0] < w[1])
        && s.aspas.windows(2).all(|w| w[0].customer < w[1].customer)
        && s.aspas.iter().all(|a| !a.providers.is_empty())
}

fn kind_name(m: &msg::Snapshot) -> &'static str {
    match m {
        msg::Snapshot::Begin { .. } => "Begin",
        msg::Snapshot::Batch(_) => "Batch",
        msg::Snapshot::End { .. } => "End",
        msg::Snapshot::NoData { .. } => "NoData",
    }
}
