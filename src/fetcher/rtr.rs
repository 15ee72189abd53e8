//! An RTR upstream (`rtr://`, `rtr+tls://`): rovd as a router towards
//! another cache, with the session logic of [`crate::client`].
//!
//! Runs in the fetcher (unprivileged, sandboxed), driven by its event
//! loop. The first connection asks at version 2 and takes the version the
//! cache answers with (8210bis-27 §7); the table follows by Reset Query,
//! then by Serial Query at the cache's Refresh Interval and on each Serial
//! Notify. A connection that ends (closed, broken, refused, silent while an
//! answer is due) is tried again after the Retry Interval; once a
//! connection has synced, the next one resumes with a Serial Query for the
//! table held (§8.1), and a cache that lost it answers Cache Reset. The
//! cache's timers are held within the source's bounds (`min-refresh`
//! … `max-expire`); v0 has none, and RFC 6810 §6's suggestion stands.
//!
//! What it learns goes to the validator: the whole table after a reset,
//! only the changes after a Serial Query, "current" when nothing changed,
//! and "failed" when a connection ends. The validator counts the data as
//! expired once the Expire Interval has passed without a sync.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, info};
use mio::{Interest, Registry};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use crate::client::{Client, Event};
use crate::config::{Source, Upstream};
use crate::pdu::{Timers, Version};

use super::conn::Conn;
use super::event_loop::Ctx;
use super::sink::{Reported, Sink};

/// Where the link is.
enum State {
    /// Not connected; the next attempt is at `next`.
    Waiting,
    /// Connecting to the `addr`-th address; given up at `next`.
    Connecting { conn: Conn, addr: usize },
    /// Connected: the session runs.
    Up {
        conn: Conn,
        input: Vec<u8>,
        /// Whether this connection has synced once.
        synced: bool,
        /// When the cache was last heard.
        heard: Instant,
    },
}

/// One RTR upstream.
pub(super) struct RtrLink {
    /// The upstream.
    pub(super) url: Upstream,
    /// The source's settings the link was made with.
    pub(super) source: Source,
    addrs: Vec<SocketAddr>,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    client: Client,
    state: State,
    /// When to act next: connect, give up connecting, refresh.
    next: Instant,
    /// The failure last reported to the validator, not to repeat it.
    reported: Reported,
    /// What the session said in the last round, to act on.
    events: Vec<Event>,
}

impl RtrLink {
    /// A link to `url`, a member of `source`, at `addrs`; TLS with `tls`.
    pub(super) fn new(
        url: Upstream,
        source: Source,
        addrs: Vec<SocketAddr>,
        tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    ) -> RtrLink {
        RtrLink {
            url,
            source,
            addrs,
            tls,
            client: Client::new(Version::MAX),
            state: State::Waiting,
            next: Instant::now(),
            reported: Reported::default(),
            events: Vec::new(),
        }
    }

    /// When the link must act at the latest.
    pub(super) fn deadline(&self) -> Instant {
        match &self.state {
            State::Up { heard, .. } if self.client.is_waiting() => {
                self.next.min(*heard + self.timeout())
            }
            _ => self.next,
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.source.timeout.into())
    }

    /// The cache's timers within the source's bounds.
    fn timers(&self) -> Timers {
        self.source.bounded(self.client.timers())
    }

    /// Close the connection, if any.
    pub(super) fn close(&mut self, registry: &Registry) {
        match std::mem::replace(&mut self.state, State::Waiting) {
            State::Connecting { mut conn, .. } | State::Up { mut conn, .. } => {
                let _ = registry.deregister(conn.source());
            }
            State::Waiting => {}
        }
    }

    /// Fetch now (SIGHUP): a Serial Query if the session is idle, an
    /// attempt to connect if it is down.
    pub(super) fn refetch(&mut self) {
        match self.state {
            State::Waiting => self.next = Instant::now(),
            State::Up { .. } => {
                self.client.refresh();
                self.next = Instant::now();
            }
            State::Connecting { .. } => {}
        }
    }

    /// The validator's copy did not take a change: send the whole table
    /// again, if there is one.
    pub(super) fn resend(&mut self, sink: &mut Sink) -> Result<(), privsep::FrameError> {
        if self.client.position().is_some() {
            let expire = self.timers().expire;
            sink.table(&self.url, self.client.table(), expire)?;
        }
        Ok(())
    }

    /// Act on readiness or a deadline.
    pub(super) fn act(&mut self, ctx: &mut Ctx<'_>) -> Result<(), privsep::FrameError> {
        let now = Instant::now();
        loop {
            match &mut self.state {
                State::Waiting => {
                    if now < self.next {
                        return Ok(());
                    }
                    self.connect(0, ctx)?;
                    if matches!(self.state, State::Waiting) {
                        return Ok(());
                    }
                }
                State::Connecting { conn, addr } => {
                    let addr = *addr;
                    match conn.check_connected() {
                        Ok(true) => {
                            debug!("{}: connected to {}", self.url, conn.peer);
                            let State::Connecting { conn, .. } =
                                std::mem::replace(&mut self.state, State::Waiting)
                            else {
                                unreachable!("matched above")
                            };
                            self.client.resume();
                            self.state = State::Up {
                                conn,
                                input: Vec::new(),
                                synced: false,
                                heard: now,
                            };
                            self.next = now + self.timeout();
                        }
                        Ok(false) if now < self.next => return Ok(()),
                        Ok(false) => {
                            let why = format!("{}: no answer in time", conn.peer);
                            return self.next_address(addr, why, ctx);
                        }
                        Err(e) => {
                            let why = format!("{}: {e}", conn.peer);
                            return self.next_address(addr, why, ctx);
                        }
                    }
                }
                State::Up { .. } => return self.talk(now, ctx),
            }
        }
    }

    /// Start connecting to the `i`-th address.
    fn connect(&mut self, i: usize, ctx: &mut Ctx<'_>) -> Result<(), privsep::FrameError> {
        let Some(&peer) = self.addrs.get(i) else {
            let why = if self.addrs.is_empty() {
                format!("{}: no address known for it", self.url.host)
            } else {
                "cannot connect".to_string()
            };
            return self.fail(why, ctx);
        };
        let started = Conn::start(peer, ctx.reach, self.tls.clone()).and_then(|mut conn| {
            ctx.registry.register(
                conn.source(),
                ctx.token,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(conn)
        });
        match started {
            Ok(conn) => {
                self.state = State::Connecting { conn, addr: i };
                self.next =
                    Instant::now() + Duration::from_secs(self.source.connect_timeout.into());
                Ok(())
            }
            Err(e) => self.next_address(i, format!("{peer}: {e}"), ctx),
        }
    }

    /// The `i`-th address failed: try the next, or give up.
    fn next_address(
        &mut self,
        i: usize,
        why: String,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), privsep::FrameError> {
        self.close(ctx.registry);
        if i + 1 < self.addrs.len() {
            debug!("{}: {why}; trying the next address", self.url);
            return self.connect(i + 1, ctx);
        }
        self.fail(format!("cannot connect: {why}"), ctx)
    }

    /// The connection is over (or never came): tell the validator, and
    /// try again after the Retry Interval.
    fn fail(&mut self, why: String, ctx: &mut Ctx<'_>) -> Result<(), privsep::FrameError> {
        // A session that failed before it synced — the cache refused the
        // resumption, or broke the protocol — starts afresh next time (at
        // the version the cache settled on), so that it is not asked the
        // same again. A connection that never came up keeps the position:
        // the cache may well still know it.
        let unsynced = matches!(self.state, State::Up { synced: false, .. });
        self.close(ctx.registry);
        if unsynced {
            self.client = Client::new(self.client.version());
        }
        let retry = self.timers().retry;
        self.next = Instant::now() + Duration::from_secs(retry.into());
        if self.reported.report(ctx.sink, &self.url, &why)? {
            info!("{}: {why}; trying again in {retry} s", self.url);
        } else {
            debug!("{}: {why}; trying again in {retry} s", self.url);
        }
        Ok(())
    }

    /// The session: write, read, act on what came and on the timers.
    fn talk(&mut self, now: Instant, ctx: &mut Ctx<'_>) -> Result<(), privsep::FrameError> {
        let timeout = Duration::from_secs(self.source.timeout.into());
        // Due: a Serial Query at the Refresh Interval (or after No Data).
        if now >= self.next && !self.client.is_waiting() {
            self.client.refresh();
            self.next = now + timeout;
        }
        let mut ended = None;
        while ended.is_none() {
            let (more, end) = self.exchange(now);
            ended = end;
            for event in std::mem::take(&mut self.events) {
                if let Some(why) = self.on_event(event, now, ctx)? {
                    ended = Some(why);
                }
            }
            if !more {
                break;
            }
        }
        if ended.is_some() || self.client.is_failed() {
            // The Error Report the client queued, if any, goes first.
            if let State::Up { conn, .. } = &mut self.state {
                let out = self.client.take_output();
                let _ = conn.queue(&out).and_then(|()| conn.flush());
            }
        }
        if let (None, State::Up { heard, .. }) = (&ended, &self.state) {
            if self.client.is_waiting() && now >= *heard + timeout {
                ended = Some(format!("no answer for {} s (timeout)", self.source.timeout));
            }
        }
        match ended {
            Some(why) => self.fail(why, ctx),
            None => Ok(()),
        }
    }

    /// One round on the socket: write what the client has to say, read a
    /// chunk and let the client take it (its events land in
    /// `self.events`). Whether the socket may have more, and why the
    /// connection ended if it did.
    fn exchange(&mut self, now: Instant) -> (bool, Option<String>) {
        let State::Up {
            conn, input, heard, ..
        } = &mut self.state
        else {
            return (false, None);
        };
        let out = self.client.take_output();
        if let Err(e) = conn.queue(&out).and_then(|()| conn.flush()) {
            return (false, Some(format!("connection lost: {e}")));
        }
        if self.client.is_failed() {
            return (false, None);
        }
        let got = match conn.read_some(input) {
            Ok(got) => got,
            Err(e) => return (false, Some(format!("connection lost: {e}"))),
        };
        if got.octets > 0 {
            *heard = now;
        }
        let mut taken = 0;
        loop {
            let n = self.client.receive(&input[taken..], &mut self.events);
            taken += n;
            if n == 0 || self.client.is_failed() {
                break;
            }
        }
        input.drain(..taken);
        if self.client.is_failed() {
            return (false, None);
        }
        if got.closed {
            return (false, Some("connection closed by the cache".into()));
        }
        (got.more, None)
    }

    /// Act on what the session said; why the connection ends, if it does.
    fn on_event(
        &mut self,
        event: Event,
        now: Instant,
        ctx: &mut Ctx<'_>,
    ) -> Result<Option<String>, privsep::FrameError> {
        match event {
            Event::Synced {
                full,
                changes,
                serial,
                timers,
                ..
            } => {
                let t = self.source.bounded(timers);
                if full {
                    info!(
                        "{}: {} items at serial {serial} (version {})",
                        self.url,
                        self.client.table().len(),
                        self.client.version()
                    );
                    ctx.sink.table(&self.url, self.client.table(), t.expire)?;
                } else {
                    debug!("{}: serial {serial}, {} changes", self.url, changes.len());
                    ctx.sink.delta(&self.url, &changes, t.expire)?;
                }
                if let State::Up { synced, .. } = &mut self.state {
                    *synced = true;
                }
                self.reported.clear();
                self.next = now + Duration::from_secs(t.refresh.into());
            }
            Event::Notified(serial) => {
                debug!("{}: notified of serial {serial}", self.url);
                self.client.refresh();
            }
            Event::CacheReset => info!("{}: Cache Reset: asking for all", self.url),
            Event::Downgraded(v) => {
                info!("{}: the cache speaks version {v}: asking again", self.url);
            }
            Event::NoData => {
                let retry = self.timers().retry;
                self.next = now + Duration::from_secs(retry.into());
                self.reported
                    .report(ctx.sink, &self.url, "the cache has no data yet")?;
            }
            Event::Failed(f) => return Ok(Some(f.to_string())),
        }
        Ok(None)
    }
}
