//! The parent process: binds the listeners, starts the validator, the
//! rtr worker and (for sources with a url) the fetcher, and supervises
//! them.
//!
//! Starts as the user that started rovd (root on a real system, to bind
//! port 323) and keeps that only through start-up, which reads top to
//! bottom. Before it is called, `main` has read the configuration, the
//! TLS certificate and key, and what reaches the upstreams (names
//! resolved, CA and client files read), the same for `rovd -n` as for the
//! daemon. Then: listeners (plain and TLS), each with the routers'
//! TCP-MD5/TCP-AO keys, the control socket and the HTTP listeners →
//! source directories → spawn the children → hand rtr its listeners and
//! the certificate, the validator its directories and the fetcher the
//! upstreams' addresses (the configuration they get has no TCP keys) →
//! drop to the configured user (no chroot: the configuration is re-read
//! on SIGHUP) → lock down to supervision and reload → event loop.
//! Afterwards it only reacts to signals and to rtr's requests: SIGHUP or
//! `rovctl reload` reloads the configuration and has the validator re-read
//! its sources (and re-reads the TLS certificate and key, now as the
//! unprivileged user), SIGTERM/SIGINT shut everything down in order,
//! SIGCHLD means a child died — which ends the whole daemon with a log
//! line naming the child and how it ended.

mod children;
mod listen;
pub mod tls;
pub mod upstreams;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use log::{error, info, warn};
use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::Signal;

use privsep::sandbox::Policy;

use crate::config::{Config, LandlockPolicy, TlsFiles};
use crate::failed::{exit_code, Failed, OrFail};
use crate::msg;
use crate::privileges::{self, Role};

use self::children::{Children, Handed};
pub use self::listen::check_tcp_auth;

const SIGNALS: Token = Token(0);
const CHILDREN: Token = Token(1);
const LOGS: Token = Token(2);
const FROM_RTR: Token = Token(3);

/// What the parent was started with.
pub struct Options {
    /// The configuration file, absolute.
    pub config_path: PathBuf,
    /// Its contents, checked.
    pub config: Config,
    /// The `[tls]` files, read and checked.
    pub tls: Option<TlsFiles>,
    /// What reaches the upstreams, if any: names resolved, CA and client
    /// files read.
    pub reach: Option<msg::Reach>,
    /// `-d`: stay in the foreground and log to standard error.
    pub foreground: bool,
    /// How many `-v`.
    pub verbose: u8,
    /// Whether the parent logs to syslog, and the children through it.
    pub relay_logs: bool,
}

/// The parent's entry point, after the configuration has been read.
pub fn main(opts: Options) -> ExitCode {
    exit_code(run(opts))
}

fn run(opts: Options) -> Result<(), Failed> {
    let Options {
        config_path,
        config,
        tls,
        reach,
        foreground,
        verbose,
        relay_logs,
    } = opts;

    // 1. While we may still bind and read anything (the TLS files and the
    //    upstreams' addresses were read with the configuration): the
    //    listeners with the routers' TCP keys, the source directories (the
    //    validator reads through them), the TLS files' directories (for a
    //    reload), and a change notification.
    let listeners = listen::bind_all(&config)?;
    let http = listen::bind_http(&config)?;
    let control = listen::bind_control(&config)?;
    let source_dirs = open_dirs(config.source_dirs(Path::is_dir), "source directory")?;
    let tls_dirs = open_dirs(config.tls_dirs(), "TLS directory")?;
    let watch = watch(&source_dirs);

    // 2. Detach, and start the children.
    if !foreground {
        nix::unistd::daemon(false, false).or_fail("daemon")?;
    }
    crate::log::detached();
    let exe = privsep::Executable::current().or_fail("cannot find my own executable")?;
    let signals = privsep::SignalPipe::new(&[
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGCHLD,
    ])
    .or_fail("signals")?;
    let mut children = Children::spawn(&exe, &config, foreground, verbose, relay_logs)
        .or_fail("cannot start the children")?;
    let known_dirs = source_dirs.iter().map(|(path, _)| path.clone()).collect();
    let handed = Handed {
        listeners,
        tls,
        source_dirs,
        watch,
        reach: reach.clone(),
        control,
        http,
    };
    children
        .hand_over(&config, handed)
        .or_fail("cannot configure the children")?;

    // 3. Drop to the user, then lock down to what supervision and reload
    //    need: reading the configuration file's directory and those of the
    //    TLS files, signals, waiting for the children, their channels.
    let mut parent = Parent::new(config_path, config, known_dirs, children, signals, reach)?;
    privileges::drop(&parent.config.user, None)?;
    // Opened as the user that re-reads it: one it may not read fails now,
    // not at the first reload.
    let config_dir = parent.config_path.parent().unwrap_or(Path::new("/"));
    let config_dir = privsep::fs::open_dir(config_dir)
        .or_fail(format!("configuration directory {}", config_dir.display()))?;
    let mut read_beneath = vec![config_dir.as_fd()];
    read_beneath.extend(tls_dirs.iter().map(|(_, fd)| fd.as_fd()));
    privileges::lock_down(&Policy {
        role: Role::Parent,
        read_beneath,
        unveil: parent.reread_files(),
        max_files: 32,
        seccomp: privileges::seccomp_mode(parent.config.seccomp),
        signals: parent.children.pids(),
        require_landlock: parent.config.landlock == LandlockPolicy::Required,
        connect_ports: Vec::new(),
    })?;
    info!("started");

    // 4. Supervise until a signal says otherwise.
    parent.run()
}

/// Open directories by path, each for reading beneath it.
fn open_dirs(paths: Vec<PathBuf>, what: &str) -> Result<Vec<(PathBuf, OwnedFd)>, Failed> {
    paths
        .into_iter()
        .map(|dir| {
            let fd = privsep::fs::open_dir(&dir).or_fail(format!("{what} {}", dir.display()))?;
            Ok((dir, fd))
        })
        .collect()
}

/// A change notification on the source directories, where there is one.
fn watch(dirs: &[(PathBuf, OwnedFd)]) -> Option<OwnedFd> {
    let paths: Vec<&Path> = dirs.iter().map(|(p, _)| p.as_path()).collect();
    match privsep::watch::watch_dirs(&paths) {
        Ok(w) => w,
        Err(e) => {
            warn!("cannot watch the source directories ({e}); polling them");
            None
        }
    }
}

//------------ Parent --------------------------------------------------------

/// The parent after start-up: it reacts to signals only.
struct Parent {
    config_path: PathBuf,
    config: Config,
    /// The source directories opened at start-up: a reload cannot add one.
    known_dirs: Vec<PathBuf>,
    /// What the fetcher got at start-up: the upstream addresses resolved
    /// then and the system's CA store read then stay for reloads.
    reach: Option<msg::Reach>,
    /// The upstream ports at start-up: the fetcher's sandbox allows no
    /// others.
    ports: Vec<u16>,
    /// The upstreams' TLS files at start-up, to re-read (OpenBSD unveils
    /// them).
    upstream_files: Vec<PathBuf>,
    children: Children,
    signals: privsep::SignalPipe,
    poll: Poll,
}

impl Parent {
    fn new(
        config_path: PathBuf,
        config: Config,
        known_dirs: Vec<PathBuf>,
        children: Children,
        mut signals: privsep::SignalPipe,
        reach: Option<msg::Reach>,
    ) -> Result<Parent, Failed> {
        let poll = Poll::new().or_fail("event loop")?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .or_fail("event loop")?;
        if let Some(logs) = children.logs() {
            poll.registry()
                .register(
                    &mut mio::unix::SourceFd(&logs.as_raw_fd()),
                    LOGS,
                    Interest::READABLE,
                )
                .or_fail("event loop")?;
        }
        // What rtr asks: a reload from the control socket. The same
        // descriptor is also watched for turning writable, so it is
        // registered once, for both.
        let rtr_fd = children.rtr_fd();
        if let Some(fd) = rtr_fd {
            poll.registry()
                .register(
                    &mut mio::unix::SourceFd(&fd),
                    FROM_RTR,
                    Interest::READABLE | Interest::WRITABLE,
                )
                .or_fail("event loop")?;
        }
        // Writable again: a child took what waited for it.
        for fd in children
            .channel_fds()
            .into_iter()
            .filter(|&fd| Some(fd) != rtr_fd)
        {
            poll.registry()
                .register(&mut mio::unix::SourceFd(&fd), CHILDREN, Interest::WRITABLE)
                .or_fail("event loop")?;
        }
        let ports = config.upstream_ports();
        let upstream_files = config.upstream_tls_files();
        Ok(Parent {
            config_path,
            config,
            known_dirs,
            reach,
            ports,
            upstream_files,
            children,
            signals,
            poll,
        })
    }

    /// The files a reload re-reads: the configuration, the TLS
    /// certificate and key, the upstreams' CA and client files.
    fn reread_files(&self) -> Vec<(&Path, &'static str)> {
        let tls = self
            .config
            .tls
            .as_ref()
            .map(|t| t.files())
            .unwrap_or_default();
        std::iter::once(self.config_path.as_path())
            .chain(tls)
            .chain(self.upstream_files.iter().map(PathBuf::as_path))
            .map(|p| (p, "r"))
            .collect()
    }

    /// What the fetcher needs for `new`, if it runs; an error if `new`
    /// needs what only a restart gives: the fetcher itself, a name not
    /// resolved at start-up, a port its sandbox does not allow.
    fn upstreams_again(&self, new: &Config) -> Result<Option<msg::Reach>, String> {
        if !new.has_upstreams() && !self.children.has_fetcher() {
            return Ok(None);
        }
        let Some(running) = self.reach.as_ref().filter(|_| self.children.has_fetcher()) else {
            return Err(
                "a source with a url needs the fetcher, which starts with rovd: \
                        restart required"
                    .into(),
            );
        };
        if let Some(u) = new.upstreams().find(|u| !self.ports.contains(&u.port)) {
            return Err(format!(
                "url {u}: port {} was not an upstream port at start-up: restart required",
                u.port
            ));
        }
        upstreams::again(new, running).map(Some)
    }

    /// SIGTERM and SIGINT end it well, a child's end badly; SIGHUP
    /// reloads.
    fn run(&mut self) -> Result<(), Failed> {
        let mut events = Events::with_capacity(4);
        loop {
            if let Err(e) = self.poll.poll(&mut events, None) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e).or_fail("poll");
                }
            }
            if events.iter().any(|e| e.token() == LOGS) {
                if let Some(logs) = self.children.logs() {
                    crate::log::relay(logs);
                }
            }
            if events
                .iter()
                .any(|e| e.token() == CHILDREN || (e.token() == FROM_RTR && e.is_writable()))
            {
                if let Err(e) = self.children.post() {
                    error!("cannot pass on the reload: {e}");
                }
            }
            if events
                .iter()
                .any(|e| e.token() == FROM_RTR && (e.is_readable() || e.is_read_closed()))
            {
                match self.children.asked_by_rtr() {
                    Ok(true) => self.reload("rovctl reload"),
                    Ok(false) => {}
                    Err(e) => error!("rtr channel: {e}"),
                }
            }
            for signal in self.signals.drain() {
                match signal {
                    Signal::SIGTERM | Signal::SIGINT => {
                        info!("{signal}: shutting down");
                        return Ok(());
                    }
                    Signal::SIGHUP => self.reload("SIGHUP"),
                    Signal::SIGCHLD => {
                        if let Some(ended) = self.children.reap() {
                            error!("{ended}; shutting down");
                            return Err(Failed);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Re-read the configuration; pass it on and have the validator re-read
    /// its sources. What was fixed at start-up — listeners, user, chroot,
    /// source directories — cannot change without a restart: such a reload
    /// is refused as a whole.
    fn reload(&mut self, why: &str) {
        let path = &self.config_path;
        info!("{why}: reloading {}", path.display());
        let new = match Config::load_again(path, &self.config) {
            Ok(c) => c,
            Err(e) => {
                error!("{e}; keeping the running configuration");
                return;
            }
        };
        if let Some(key) = self.config.restart_required(&new) {
            error!(
                "{}: {key} changed: restart required; keeping the running configuration",
                path.display()
            );
            return;
        }
        if let Some(dir) = new
            .source_dirs(Path::is_dir)
            .into_iter()
            .find(|d| !self.known_dirs.contains(d))
        {
            error!(
                "{}: source directory {} was not open at start-up: restart required; \
                 keeping the running configuration",
                path.display(),
                dir.display()
            );
            return;
        }
        let reach = match self.upstreams_again(&new) {
            Ok(r) => r,
            Err(e) => {
                error!("{}: {e}; keeping the running configuration", path.display());
                return;
            }
        };
        self.config = new;
        if let Some(r) = &reach {
            self.reach = Some(r.clone());
        }
        if let Err(e) = self.children.reload(&self.config, reach) {
            error!("cannot pass on the reload: {e}");
        }
        if let Some(files) = tls::reload(&self.config) {
            if let Err(e) = self.children.reload_tls(files) {
                error!("cannot pass on the TLS certificate: {e}");
            }
        }
    }
}
