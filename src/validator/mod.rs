//! The validator process: reads the configured sources and local
//! exceptions, builds the payload snapshot and streams it to the rtr
//! worker.
//!
//! Started by the parent (fork+exec, `--role validator`) with its parent
//! channel at fd 3 and the snapshot channel to rtr at fd 4. It is the only
//! process that parses input files, and it does so unprivileged: it drops
//! to the configured user and chroots to an empty directory first, then
//! receives from the parent the open directories that hold its sources
//! (and, on Linux, an inotify descriptor watching them), and locks itself
//! down to reading beneath them. Files are opened by name relative to
//! those directories, so a file replaced by rename is picked up.
//!
//! A new snapshot is built when a source or SLURM file changes (inotify,
//! or polling where there is none), on a reload (SIGHUP, which also lets
//! held-back updates through), when an item's `expires` time passes, and
//! when a source turns stale. A source that fails to read or parse is
//! logged with file, position and reason, and its last good data stays in
//! the snapshot.
//!
//! - `input` — the payload file formats (`input::json`, `input::csv`)
//! - `build` — the union of the sources, with SLURM, streamed to rtr
//! - `slurm` — local exceptions (RFC 8416)
//! - `sources` — per-file state: last good data, staleness, guard

pub mod build;
pub mod input;
pub mod slurm;
pub mod sources;

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{error, info, warn};
use mio::{Events, Interest, Poll, Token};

use crate::config::Config;
use crate::msg::{self, ToValidator};
use crate::privileges::{self, Role};
use privsep::sandbox::Policy;

use self::build::Build;
use self::slurm::Slurm;
use self::sources::{unix_now, Dirs, Outcome, SlurmSource, Source};

/// How often files are looked at without a change notification: often
/// where polling is all there is, rarely as a safety net next to inotify.
const POLL_PLAIN: Duration = Duration::from_secs(1);
const POLL_WATCHED: Duration = Duration::from_secs(30);

const PARENT: Token = Token(0);
const WATCH: Token = Token(1);

//------------ SLURM ---------------------------------------------------------

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

//------------ main ----------------------------------------------------------

/// The validator's entry point: `user` and `chroot` come from the
/// parent's command line, everything else over the channel on fd 3.
pub fn main(user: &str, chroot: &Path) -> ExitCode {
    // 1. Privileges: the user, the chroot (where the platform confines the
    //    validator that way), no capabilities.
    let chroot = privsep::sandbox::CHROOTS_VALIDATOR.then_some(chroot);
    if privileges::drop(user, chroot).is_err() {
        return ExitCode::FAILURE;
    }

    // 2. What the parent hands over: the configuration, the open
    //    directories of the sources, and a change notification on them.
    let (mut parent, mut rtr) = match msg::child_channels() {
        Ok(channels) => channels,
        Err(e) => {
            error!("channels: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut config = None;
    let mut dirs = Dirs(Vec::new());
    let mut watch = None;
    loop {
        let mut frame = match parent.recv() {
            Ok(Some(frame)) => frame,
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => {
                error!("parent channel: {e}");
                return ExitCode::FAILURE;
            }
        };
        let fd = frame.fd.take();
        match (frame.decode::<ToValidator>(msg::MAX_BODY), fd) {
            (Ok(ToValidator::Config(c)), None) => config = Some(c),
            (Ok(ToValidator::SourceDir { path }), Some(fd)) => dirs.0.push((path, fd)),
            (Ok(ToValidator::Watch), Some(fd)) => watch = Some(File::from(fd)),
            (Ok(ToValidator::SourceDirsDone), None) => break,
            (Ok(other), _) => {
                error!("parent channel: unexpected {other:?} at start-up");
                return ExitCode::FAILURE;
            }
            (Err(e), _) => {
                error!("parent channel: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let Some(mut config) = config else {
        error!("parent channel: no configuration");
        return ExitCode::FAILURE;
    };
    let Ok(mut poll) = Poll::new() else {
        error!("cannot create the event loop");
        return ExitCode::FAILURE;
    };
    let registered = parent.set_nonblocking(true).and_then(|_| {
        poll.registry().register(
            &mut mio::unix::SourceFd(&parent.as_raw_fd()),
            PARENT,
            Interest::READABLE,
        )?;
        if let Some(w) = &watch {
            use std::os::fd::AsRawFd;
            poll.registry().register(
                &mut mio::unix::SourceFd(&w.as_raw_fd()),
                WATCH,
                Interest::READABLE,
            )?;
        }
        Ok(())
    });
    if let Err(e) = registered {
        error!("event loop: {e}");
        return ExitCode::FAILURE;
    }

    // 3. Lock down: read files beneath the source directories, nothing
    //    else.
    let policy = Policy {
        role: Role::Validator,
        read_beneath: dirs.0.iter().map(|(_, fd)| fd.as_fd()).collect(),
        unveil: dirs.0.iter().map(|(p, _)| (p.as_path(), "r")).collect(),
        max_files: 64,
        seccomp: privileges::seccomp_mode(config.seccomp),
    };
    if privileges::lock_down(&policy).is_err() {
        return ExitCode::FAILURE;
    }
    drop(policy);

    // 4. Read, build, stream; again whenever something changes.
    let mut sources: Vec<Source> = Vec::new();
    let mut slurms: Vec<SlurmSource> = Vec::new();
    configure(&mut sources, &mut slurms, &config, &dirs);
    let mut slurm = Slurm::default();
    let mut sent: Option<u64> = None;
    let mut stopped = false;
    let mut force = true;
    let mut look = true;
    let mut wake: Option<Instant> = None;
    let mut next_expiry: Option<u64> = None;
    let safety = if watch.is_some() {
        POLL_WATCHED
    } else {
        POLL_PLAIN
    };
    let mut last_look = Instant::now();
    let mut events = Events::with_capacity(8);
    loop {
        // Look at the files, if something says they may have changed.
        let now_i = Instant::now();
        let mut changed = force;
        if look || force || wake.is_some_and(|t| now_i >= t) || now_i >= last_look + safety {
            wake = None;
            last_look = now_i;
            let mut note = |t: Option<Instant>| {
                if let Some(t) = t {
                    wake = Some(wake.map_or(t, |w: Instant| w.min(t)));
                }
            };
            for s in sources.iter_mut() {
                let (outcome, retry) = s.poll(&dirs, force);
                changed |= outcome == Outcome::Changed;
                note(retry);
            }
            let mut slurm_changed = false;
            for s in slurms.iter_mut() {
                let (c, retry) = s.poll(&dirs, force);
                slurm_changed |= c;
                note(retry);
            }
            if slurm_changed || force {
                slurm = combine(&slurms, &slurm);
                changed = true;
            }
        }
        let now = unix_now();
        let stale_turn = sources.iter().any(|s| s.is_stale(now) && !s.stale_reported);
        let expired = next_expiry.is_some_and(|t| now >= t);
        if changed || expired || stale_turn {
            let (built, expiry) = build::build(&mut sources, &slurm, now);
            next_expiry = expiry;
            let result = match built {
                Build::Nothing => Ok(()),
                Build::Stop(reason) => {
                    if !stopped {
                        error!("{reason}: serving no data until it is fresh again");
                        stopped = true;
                        sent = None;
                        rtr.send(&msg::Snapshot::NoData { reason })
                    } else {
                        Ok(())
                    }
                }
                Build::Serve(plan) => {
                    if stopped {
                        info!("all sources fresh again: serving data");
                        stopped = false;
                    }
                    let (vrps, digest) = plan.summary();
                    if sent == Some(digest) {
                        Ok(())
                    } else {
                        sent = Some(digest);
                        plan.send(&mut rtr, vrps)
                    }
                }
            };
            if let Err(e) = result {
                error!("snapshot channel: {e}");
                return ExitCode::FAILURE;
            }
            privsep::memory::release_free_memory();
        }
        force = false;
        look = false;

        // Sleep until a file may have changed, a retry or an expiry is
        // due, or a source turns stale.
        let now = unix_now();
        let mut until = last_look + safety;
        if let Some(w) = wake {
            until = until.min(w);
        }
        let mut seconds = |t: u64| {
            let at = UNIX_EPOCH + Duration::from_secs(t);
            let wait = at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            until = until.min(Instant::now() + wait);
        };
        if let Some(t) = next_expiry {
            seconds(t);
        }
        for t in sources.iter().filter_map(|s| s.stale_at(now)) {
            seconds(t);
        }
        let timeout = until.saturating_duration_since(Instant::now());
        if let Err(e) = poll.poll(&mut events, Some(timeout)) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                error!("poll: {e}");
                return ExitCode::FAILURE;
            }
        }
        for event in events.iter() {
            if event.token() == WATCH {
                if let Some(w) = watch.as_mut() {
                    drain(w);
                }
                look = true;
            }
        }
        if !events.iter().any(|e| e.token() == PARENT) {
            continue;
        }
        match parent.fill() {
            Ok(true) => {}
            Ok(false) => {
                info!("exiting");
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                error!("parent channel: {e}");
                return ExitCode::FAILURE;
            }
        }
        loop {
            match parent
                .next_frame()
                .map(|f| f.map(|f| f.decode::<ToValidator>(msg::MAX_BODY)))
            {
                Ok(None) => break,
                Ok(Some(Ok(ToValidator::Config(c)))) => {
                    config = c;
                    configure(&mut sources, &mut slurms, &config, &dirs);
                }
                Ok(Some(Ok(ToValidator::Reload))) => {
                    info!("reloading all sources; held-back updates are accepted");
                    force = true;
                }
                Ok(Some(Ok(other))) => {
                    error!("parent channel: unexpected {other:?}");
                    return ExitCode::FAILURE;
                }
                Ok(Some(Err(e))) | Err(e) => {
                    error!("parent channel: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
}

/// Read everything pending on the change notification: its content does
/// not matter, only that something changed.
fn drain(watch: &mut File) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = std::io::Read::read(watch, &mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// Take a new source list, keeping the state of sources that stay. A
/// source whose directory was not opened at start-up cannot be read (the
/// parent refuses such a reload; this is the second line of defence).
fn configure(
    sources: &mut Vec<Source>,
    slurms: &mut Vec<SlurmSource>,
    config: &Config,
    dirs: &Dirs,
) {
    let mut old = std::mem::take(sources);
    for c in &config.sources {
        if let Some(i) = old.iter().position(|o| o.file.path == c.path) {
            let mut s = old.swap_remove(i);
            s.reconfigure(c);
            sources.push(s);
        } else if let Some(new) = Source::new(c, dirs) {
            sources.push(new);
        } else {
            error!("{}: directory not open: restart required", c.path.display());
        }
    }
    let mut old = std::mem::take(slurms);
    for c in &config.slurm {
        if let Some(i) = old.iter().position(|o| o.path == c.path) {
            slurms.push(old.swap_remove(i));
        } else if let Some(new) = SlurmSource::new(&c.path, dirs) {
            slurms.push(new);
        } else {
            error!("{}: directory not open: restart required", c.path.display());
        }
    }
    if config.sources.is_empty() {
        warn!("no sources configured: serving an empty table");
    }
}
