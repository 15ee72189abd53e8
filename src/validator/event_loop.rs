//! The validator's event loop: when to look at the files, when to build a
//! new snapshot, and what rtr was last told.
//!
//! Runs in the validator (unprivileged, chrooted, sandboxed), one thread,
//! mio. Files are looked at when the change notification fires, when a
//! retry or the safety-net poll is due, and on SIGHUP (a reload, which
//! also lets held-back updates through). A snapshot is built when a look
//! changed something, when an item's `expires` time passes, and when a
//! source turns stale; it is sent only if it differs from what rtr has.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{error, info, warn};
use mio::{Events, Interest, Poll, Token};

use crate::config::Config;
use crate::failed::{Failed, OrFail};
use crate::msg::{self, Fetched, FromValidator, ToValidator};

use super::build::{self, Build};
use super::slurm::Slurm;
use super::sources::{Dirs, Origin, Outcome, SlurmSource, Source};
use super::upstream::Taken;
use crate::payload::unix_now;

/// How often files are looked at without a change notification: often
/// where polling is all there is, rarely as a safety net next to inotify.
const POLL_PLAIN: Duration = Duration::from_secs(1);
const POLL_WATCHED: Duration = Duration::from_secs(30);

const PARENT: Token = Token(0);
const WATCH: Token = Token(1);
const FETCHER: Token = Token(2);

/// How much of the fetcher's output is read before it is taken in: a
/// table arrives in many frames, and is not buffered whole.
const FETCHER_BUDGET: usize = 1 << 20;

/// What the rtr worker was last sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Served {
    /// Nothing yet.
    Nothing,
    /// A snapshot with this content digest.
    Data(u64),
    /// `NoData`: a stale source with policy `stop`.
    Stopped,
}

/// Why the files are to be looked at on the next turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Look {
    /// Only if a timer says so.
    WhenDue,
    /// The change notification fired.
    Notified,
    /// The fetcher brought something: choose among upstreams again.
    Fetched,
    /// SIGHUP: read everything again and accept held-back updates.
    Reload,
}

/// The validator's state between two turns of the loop.
pub(super) struct Validator {
    config: Config,
    dirs: Dirs,
    watch: Option<File>,
    parent: privsep::Channel,
    rtr: privsep::Channel,
    /// From the fetcher, when there are upstreams.
    fetcher: Option<privsep::Channel>,
    poll: Poll,
    sources: Vec<Source>,
    slurms: Vec<SlurmSource>,
    /// The SLURM files in force, combined.
    slurm: Slurm,
    served: Served,
    look: Look,
    /// When the files were last looked at, and the earliest retry due.
    last_look: Instant,
    retry_at: Option<Instant>,
    /// The first second at which another item expires.
    next_expiry: Option<u64>,
    /// The sources' state as the rtr worker last had it.
    states: Vec<msg::SourceState>,
}

impl Validator {
    /// The loop's state, with the channels registered.
    pub(super) fn new(
        config: Config,
        dirs: Dirs,
        watch: Option<File>,
        parent: privsep::Channel,
        rtr: privsep::Channel,
        fetcher: Option<privsep::Channel>,
    ) -> std::io::Result<Validator> {
        let poll = Poll::new()?;
        if let Some(f) = &fetcher {
            f.set_nonblocking(true)?;
            poll.registry().register(
                &mut mio::unix::SourceFd(&f.as_raw_fd()),
                FETCHER,
                Interest::READABLE,
            )?;
        }
        parent.set_nonblocking(true)?;
        poll.registry().register(
            &mut mio::unix::SourceFd(&parent.as_raw_fd()),
            PARENT,
            Interest::READABLE,
        )?;
        if let Some(w) = &watch {
            poll.registry().register(
                &mut mio::unix::SourceFd(&w.as_raw_fd()),
                WATCH,
                Interest::READABLE,
            )?;
        }
        let mut v = Validator {
            config,
            dirs,
            watch,
            parent,
            rtr,
            fetcher,
            poll,
            sources: Vec::new(),
            slurms: Vec::new(),
            slurm: Slurm::default(),
            served: Served::Nothing,
            look: Look::Reload,
            last_look: Instant::now(),
            retry_at: None,
            next_expiry: None,
            states: Vec::new(),
        };
        v.configure();
        Ok(v)
    }

    /// The source directories it reads beneath.
    pub(super) fn dirs(&self) -> &Dirs {
        &self.dirs
    }

    /// Look, build, send, sleep; until the parent closes its channel.
    pub(super) fn run(&mut self) -> Result<(), Failed> {
        let mut events = Events::with_capacity(8);
        loop {
            let changed = self.look_at_files();
            self.rebuild(changed)?;
            self.send_states()?;
            let timeout = self.next_wake().saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e).or_fail("poll");
                }
            }
            let mut from_parent = false;
            for event in &events {
                match event.token() {
                    WATCH => {
                        self.drain_watch();
                        self.look = self.look.max(Look::Notified);
                    }
                    PARENT => from_parent = true,
                    FETCHER => self.handle_fetcher()?,
                    _ => {}
                }
            }
            if from_parent && !self.handle_parent()? {
                info!("exiting");
                return Ok(());
            }
        }
    }

    /// Look at the files if something says they may have changed; whether
    /// the data in force changed.
    fn look_at_files(&mut self) -> bool {
        let now = Instant::now();
        let reload = self.look == Look::Reload;
        // Upstreams: choose again every turn; cheap, and a member's health
        // also turns with time.
        let mut chosen = false;
        if !reload {
            let t = unix_now();
            for s in &mut self.sources {
                chosen |= s.select(t, false) == Outcome::Changed;
            }
        }
        let due = matches!(self.look, Look::Notified | Look::Reload)
            || self.retry_at.is_some_and(|t| now >= t)
            || now >= self.last_look + self.safety_interval();
        self.look = Look::WhenDue;
        if !due {
            return chosen;
        }
        self.retry_at = None;
        self.last_look = now;
        let mut retry = None;
        let mut note = |t: Option<Instant>| {
            if let Some(t) = t {
                retry = Some(retry.map_or(t, |r: Instant| r.min(t)));
            }
        };
        let mut changed = reload || chosen;
        for s in &mut self.sources {
            let (outcome, again) = s.poll(&self.dirs, reload);
            changed |= outcome == Outcome::Changed;
            note(again);
        }
        let mut slurm_changed = false;
        for s in &mut self.slurms {
            let (c, again) = s.poll(&self.dirs, reload);
            slurm_changed |= c;
            note(again);
        }
        self.retry_at = retry;
        if slurm_changed || reload {
            self.slurm = combine(&self.slurms, &self.slurm);
            changed = true;
        }
        changed
    }

    /// Build and send a new snapshot if the data changed, an item expired
    /// or a source turned stale.
    fn rebuild(&mut self, changed: bool) -> Result<(), Failed> {
        let now = unix_now();
        // A source that turned stale, or fresh again (its data confirmed
        // unchanged: a file touched, an upstream back with what it had).
        let stale_turn = self
            .sources
            .iter()
            .any(|s| s.is_stale(now) != s.stale_reported);
        let expired = self.next_expiry.is_some_and(|t| now >= t);
        if !(changed || expired || stale_turn) {
            return Ok(());
        }
        let (built, next_expiry) = build::build(&mut self.sources, &self.slurm, now);
        let sent = match built {
            Build::Nothing => Ok(()),
            Build::Stop(_) if self.served == Served::Stopped => Ok(()),
            Build::Stop(reason) => {
                error!("{reason}: serving no data until it is fresh again");
                self.served = Served::Stopped;
                crate::stream::write_no_data(reason, |f| Ok(self.rtr.send_encoded(f)?))
            }
            Build::Serve(plan) => {
                if self.served == Served::Stopped {
                    info!("all sources fresh again: serving data");
                }
                let (vrps, digest) = plan.summary();
                if self.served == Served::Data(digest) {
                    Ok(())
                } else {
                    self.served = Served::Data(digest);
                    plan.send(&mut self.rtr, vrps)
                }
            }
        };
        self.next_expiry = next_expiry;
        sent.or_fail("snapshot channel")?;
        privsep::memory::release_free_memory();
        Ok(())
    }

    /// Tell the rtr worker the sources' state, if it changed.
    fn send_states(&mut self) -> Result<(), Failed> {
        let now = unix_now();
        let states: Vec<msg::SourceState> = self.sources.iter().map(|s| s.state(now)).collect();
        if states != self.states || self.states.is_empty() && !states.is_empty() {
            self.rtr
                .send(&msg::Snapshot::Sources(states.clone()))
                .or_fail("snapshot channel")?;
            self.states = states;
        }
        Ok(())
    }

    /// When the loop must wake at the latest: the safety-net look, a
    /// retry, the next expiry, a source turning stale.
    fn next_wake(&self) -> Instant {
        let mut until = self.last_look + self.safety_interval();
        if let Some(t) = self.retry_at {
            until = until.min(t);
        }
        let now = unix_now();
        let at_second = |t: u64| {
            let at = UNIX_EPOCH + Duration::from_secs(t);
            let wait = at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            Instant::now() + wait
        };
        let stale = self.sources.iter().filter_map(|s| s.stale_at(now));
        for t in self.next_expiry.into_iter().chain(stale) {
            until = until.min(at_second(t));
        }
        until
    }

    fn safety_interval(&self) -> Duration {
        if self.watch.is_some() {
            POLL_WATCHED
        } else {
            POLL_PLAIN
        }
    }

    /// Read everything pending on the change notification: its content
    /// does not matter, only that something changed.
    fn drain_watch(&mut self) {
        let Some(watch) = self.watch.as_mut() else {
            return;
        };
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(watch, &mut buf) {
            if n == 0 {
                break;
            }
        }
    }

    /// Take what the fetcher sent, as far as the socket has it, a bounded
    /// amount at a time. The fetcher ending is the parent's business: it
    /// ends the daemon.
    fn handle_fetcher(&mut self) -> Result<(), Failed> {
        let Some(fetcher) = self.fetcher.as_mut() else {
            return Ok(());
        };
        let mut resend = Vec::new();
        loop {
            let more = fetcher
                .fill_some(FETCHER_BUDGET)
                .or_fail("fetcher channel")?;
            while let Some(frame) = fetcher.next_frame().or_fail("fetcher channel")? {
                let msg = frame
                    .decode::<Fetched>(msg::MAX_BODY)
                    .or_fail("fetcher channel")?;
                let url = msg.url().clone();
                let taken = self
                    .sources
                    .iter_mut()
                    .find(|s| s.has_upstream(&url))
                    .and_then(|s| s.take_fetched(msg, &frame.body));
                match taken {
                    Some(Taken::Changed) => self.look = self.look.max(Look::Fetched),
                    Some(Taken::Resend) => {
                        resend.push(url);
                        self.look = self.look.max(Look::Fetched);
                    }
                    Some(Taken::Nothing) | None => {}
                }
            }
            if !more {
                break;
            }
        }
        for url in resend {
            fetcher
                .send(&FromValidator::Resend(url))
                .or_fail("fetcher channel")?;
        }
        Ok(())
    }

    /// Take what the parent sent; false once it has closed the channel.
    fn handle_parent(&mut self) -> Result<bool, Failed> {
        let open = self.parent.fill().or_fail("parent channel")?;
        while let Some(frame) = self.parent.next_frame().or_fail("parent channel")? {
            match frame
                .decode::<ToValidator>(msg::MAX_BODY)
                .or_fail("parent channel")?
            {
                ToValidator::Config(c) => {
                    self.config = *c;
                    self.configure();
                }
                ToValidator::Reload => {
                    info!("reloading all sources; held-back updates are accepted");
                    self.look = Look::Reload;
                }
            }
        }
        Ok(open)
    }

    /// Take a new source list, keeping the state of sources that stay. A
    /// source whose directory was not opened at start-up cannot be read
    /// (the parent refuses such a reload; this is the second line of
    /// defence).
    fn configure(&mut self) {
        let mut old = std::mem::take(&mut self.sources);
        for c in &self.config.sources {
            if let Some(i) = old.iter().position(|o| o.is(c)) {
                let mut s = old.swap_remove(i);
                s.reconfigure(c);
                self.sources.push(s);
            } else if let Some(mut new) = Source::new(c, &self.dirs) {
                if let Origin::Upstreams(group) = &mut new.origin {
                    for o in &mut old {
                        if let Origin::Upstreams(g) = &mut o.origin {
                            group.adopt(g);
                        }
                    }
                }
                self.sources.push(new);
            } else {
                error!("{}: directory not open: restart required", c.name());
            }
        }
        let mut old = std::mem::take(&mut self.slurms);
        for c in &self.config.slurm {
            if let Some(i) = old.iter().position(|o| o.path == c.path) {
                self.slurms.push(old.swap_remove(i));
            } else if let Some(new) = SlurmSource::new(&c.path, &self.dirs) {
                self.slurms.push(new);
            } else {
                error!("{}: directory not open: restart required", c.path.display());
            }
        }
        if self.config.sources.is_empty() {
            warn!("no sources configured: serving an empty table");
        }
    }
}

/// The SLURM files in force, combined; the previous combination if the
/// files in force cannot be combined.
fn combine(slurms: &[SlurmSource], previous: &Slurm) -> Slurm {
    let files: Vec<(String, Slurm)> = slurms
        .iter()
        .flat_map(|s| s.in_force().map(|(name, slurm)| (name, slurm.clone())))
        .collect();
    match Slurm::combine(files) {
        Ok(s) => s,
        Err(e) => {
            error!("SLURM files cannot be used together: {e}; keeping the previous set");
            previous.clone()
        }
    }
}
