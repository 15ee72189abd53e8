//! The parent process: binds the listeners, starts the validator and the
//! rtr worker, and supervises them.
//!
//! Starts as the user that started rovd (root on a real system, to bind
//! port 323) and keeps that only through start-up, which reads top to
//! bottom: listeners (plain and TLS), each with the routers' TCP-MD5/TCP-AO
//! keys → source directories → TLS certificate and key → spawn both
//! children → hand rtr its listeners and the certificate, and the
//! validator its directories (the configuration they get has no TCP keys)
//! → drop to the configured user (no chroot: the configuration is re-read
//! on SIGHUP) → lock down to supervision and reload → event loop. Afterwards
//! it only reacts to signals: SIGHUP reloads the configuration and has the
//! validator re-read its sources (and re-reads the TLS certificate and key,
//! now as the unprivileged user), SIGTERM/SIGINT shut everything down in
//! order, SIGCHLD means a child died — which ends the whole daemon with
//! one log line naming the child and how it ended.

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode};
use std::time::{Duration, Instant};

use log::{error, info, warn};
use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::Signal;
use nix::sys::socket::{
    bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType,
    SockaddrStorage,
};

use privsep::sandbox::Policy;

use crate::config::{Config, TlsFiles};
use crate::msg::{self, ToRtr, ToValidator};
use crate::privileges::{self, Role};

const SIGNALS: Token = Token(0);

/// How long children get to exit after their channel closes.
const GRACE: Duration = Duration::from_secs(5);

/// What the parent was started with.
pub struct Options {
    pub config_path: PathBuf,
    pub config: Config,
    pub foreground: bool,
    pub verbose: u8,
}

struct Children {
    validator: Child,
    rtr: Child,
    to_validator: privsep::Channel,
    to_rtr: privsep::Channel,
}

/// The parent's entry point, after the configuration has been read.
pub fn main(opts: Options) -> ExitCode {
    let Options {
        config_path,
        mut config,
        foreground,
        verbose,
    } = opts;

    // Listeners first, while we may still hold the privilege to bind, each
    // with the routers' TCP keys before it listens.
    let mut listeners = Vec::new();
    let plain = config.listen_addrs().iter().map(|&a| (a, false));
    let tls = config.tls_listen_addrs().iter().map(|&a| (a, true));
    for (addr, is_tls) in plain.chain(tls) {
        match bind_listener(addr, &config) {
            Ok(fd) => listeners.push((addr, is_tls, fd)),
            Err(e) => return start_failed(foreground, format!("listen on {addr}: {e}")),
        }
    }
    // The directories of the sources, opened while we may still read
    // anything; the validator reads its sources through them.
    let mut source_dirs = Vec::new();
    for dir in config.source_dirs(Path::is_dir) {
        match privsep::fs::open_dir(&dir) {
            Ok(fd) => source_dirs.push((dir, fd)),
            Err(e) => {
                let what = format!("source directory {}: {e}", dir.display());
                return start_failed(foreground, what);
            }
        }
    }
    // The TLS certificate, key and client CA, read while we may read
    // anything, checked, and handed to rtr as bytes. Their directories stay
    // readable for a reload.
    let mut tls_files = None;
    if let Some(tls) = &config.tls {
        match crate::rtr::tls::load(tls) {
            Ok(f) => tls_files = Some(f),
            Err(e) => return start_failed(foreground, e),
        }
    }
    let mut tls_dirs = Vec::new();
    for dir in config.tls_dirs() {
        match privsep::fs::open_dir(&dir) {
            Ok(fd) => tls_dirs.push(fd),
            Err(e) => {
                let what = format!("TLS directory {}: {e}", dir.display());
                return start_failed(foreground, what);
            }
        }
    }
    // A change notification on those directories, where there is one.
    let dir_paths: Vec<&Path> = source_dirs.iter().map(|(p, _)| p.as_path()).collect();
    let watch = match privsep::watch::watch_dirs(&dir_paths) {
        Ok(w) => w,
        Err(e) => {
            warn!("cannot watch the source directories ({e}); polling them");
            None
        }
    };
    drop(dir_paths);
    if !foreground {
        if let Err(e) = nix::unistd::daemon(false, false) {
            error!("daemon: {e}");
            return ExitCode::FAILURE;
        }
    }

    let exe = match privsep::Executable::current() {
        Ok(exe) => exe,
        Err(e) => {
            error!("cannot find my own executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let signals = match privsep::SignalPipe::new(&[
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGCHLD,
    ]) {
        Ok(s) => s,
        Err(e) => {
            error!("signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut children = match spawn_children(&exe, &config, foreground, verbose) {
        Ok(c) => c,
        Err(e) => {
            error!("cannot start the children: {e}");
            return ExitCode::FAILURE;
        }
    };

    // Hand out the configuration, the listeners and the source
    // directories, then let go of them.
    let handed = (|| {
        let v = &mut children.to_validator;
        v.send(&ToValidator::Config(Box::new(config.without_keys())))?;
        for (path, fd) in &source_dirs {
            v.send_with_fd(&ToValidator::SourceDir { path: path.clone() }, fd.as_fd())?;
        }
        if let Some(fd) = &watch {
            v.send_with_fd(&ToValidator::Watch, fd.as_fd())?;
        }
        v.send(&ToValidator::SourceDirsDone)?;
        let r = &mut children.to_rtr;
        r.send(&ToRtr::Config(Box::new(config.without_keys())))?;
        if let Some(files) = tls_files.take() {
            r.send(&ToRtr::Tls(Box::new(files)))?;
        }
        for (addr, tls, fd) in &listeners {
            r.send_with_fd(
                &ToRtr::Listener {
                    addr: addr.to_string(),
                    tls: *tls,
                },
                fd.as_fd(),
            )?;
        }
        r.send(&ToRtr::ListenersDone)
    })();
    let known_dirs: Vec<PathBuf> = source_dirs.into_iter().map(|(path, _)| path).collect();
    drop(watch);
    drop(listeners);
    if let Err(e) = handed {
        error!("cannot configure the children: {e}");
        return stop(children, ExitCode::FAILURE);
    }

    // The event loop's pieces, before the lock-down forbids making them.
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            error!("event loop: {e}");
            return stop(children, ExitCode::FAILURE);
        }
    };
    let mut signals = signals;
    if let Err(e) = poll
        .registry()
        .register(&mut signals, SIGNALS, Interest::READABLE)
    {
        error!("event loop: {e}");
        return stop(children, ExitCode::FAILURE);
    }
    // Drop to the user, then lock down to what supervision and reload
    // need: reading the configuration file's directory and those of the
    // TLS files, signals, waiting for and signalling the children, writing
    // to the channels.
    if privileges::drop(&config.user, None).is_err() {
        return stop(children, ExitCode::FAILURE);
    }
    let config_dir = config_path.parent().unwrap_or(Path::new("/"));
    let config_dir_fd = match privsep::fs::open_dir(config_dir) {
        Ok(fd) => fd,
        Err(e) => {
            error!("configuration directory {}: {e}", config_dir.display());
            return stop(children, ExitCode::FAILURE);
        }
    };
    let mut read_beneath = vec![config_dir_fd.as_fd()];
    read_beneath.extend(tls_dirs.iter().map(|fd| fd.as_fd()));
    let mut unveil = vec![(config_path.as_path(), "r")];
    let tls_paths = config.tls.as_ref().map(|t| t.files()).unwrap_or_default();
    unveil.extend(tls_paths.iter().map(|p| (*p, "r")));
    let policy = Policy {
        role: Role::Parent,
        read_beneath,
        unveil,
        max_files: 32,
        seccomp: privileges::seccomp_mode(config.seccomp),
    };
    if privileges::lock_down(&policy).is_err() {
        return stop(children, ExitCode::FAILURE);
    }
    drop(policy);
    drop(tls_paths);
    info!("started");

    let mut events = Events::with_capacity(4);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            error!("poll: {e}");
            return stop(children, ExitCode::FAILURE);
        }
        for signal in signals.drain() {
            match signal {
                Signal::SIGTERM | Signal::SIGINT => {
                    info!("{signal}: shutting down");
                    return stop(children, ExitCode::SUCCESS);
                }
                Signal::SIGHUP => reload(&config_path, &known_dirs, &mut config, &mut children),
                Signal::SIGCHLD => {
                    if let Some(ended) = reap(&mut children) {
                        error!("{ended}; shutting down");
                        return stop(children, ExitCode::FAILURE);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Re-read the configuration; pass it on and have the validator re-read
/// its sources. What was fixed at start-up — listeners, user, chroot,
/// source directories — cannot change without a restart: such a reload is
/// refused as a whole.
fn reload(path: &Path, known_dirs: &[PathBuf], config: &mut Config, children: &mut Children) {
    info!("SIGHUP: reloading {}", path.display());
    let new = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            error!("{e}; keeping the running configuration");
            return;
        }
    };
    if let Some(key) = config.restart_required(&new) {
        error!(
            "{}: {key} changed: restart required; keeping the running configuration",
            path.display()
        );
        return;
    }
    if let Some(dir) = new
        .source_dirs(Path::is_dir)
        .into_iter()
        .find(|d| !known_dirs.contains(d))
    {
        error!(
            "{}: source directory {} was not open at start-up: restart required; \
             keeping the running configuration",
            path.display(),
            dir.display()
        );
        return;
    }
    *config = new;
    let sent = children
        .to_rtr
        .send(&ToRtr::Config(Box::new(config.without_keys())))
        .and_then(|_| {
            children
                .to_validator
                .send(&ToValidator::Config(Box::new(config.without_keys())))
        })
        .and_then(|_| children.to_validator.send(&ToValidator::Reload));
    if let Err(e) = sent {
        error!("cannot pass on the reload: {e}");
    }
    if let Some(files) = reload_tls(config) {
        if let Err(e) = children.to_rtr.send(&ToRtr::Tls(Box::new(files))) {
            error!("cannot pass on the TLS certificate: {e}");
        }
    }
}

/// Re-read and check the TLS files, now as the unprivileged user; `None`
/// (logged) if there are none or they cannot be used, and rtr keeps the
/// ones it has.
fn reload_tls(config: &Config) -> Option<TlsFiles> {
    match crate::rtr::tls::load(config.tls.as_ref()?) {
        Ok(files) => Some(files),
        Err(e) => {
            error!("{e}; keeping the current TLS certificate");
            None
        }
    }
}

/// A start-up failure: logged, and when detaching also told to the
/// terminal that started rovd, since nobody may read the log yet.
fn start_failed(foreground: bool, what: impl std::fmt::Display) -> ExitCode {
    error!("{what}");
    if !foreground {
        eprintln!("rovd: {what}");
    }
    ExitCode::FAILURE
}

/// A bound, listening TCP socket with the TCP keys of `config`. IPv6
/// sockets are v6-only so that `[::]` and `0.0.0.0` can both be
/// configured.
fn bind_listener(addr: SocketAddr, config: &Config) -> Result<OwnedFd, String> {
    let family = if addr.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| e.to_string())?;
    setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(|e| e.to_string())?;
    if addr.is_ipv6() {
        setsockopt(&fd, sockopt::Ipv6V6Only, &true).map_err(|e| e.to_string())?;
    }
    let sa = match addr {
        SocketAddr::V4(a) => SockaddrStorage::from(a),
        SocketAddr::V6(a) => SockaddrStorage::from(a),
    };
    bind(fd.as_raw_fd(), &sa).map_err(|e| e.to_string())?;
    let keys = apply_tcp_auth(fd.as_fd(), family, config)?;
    if keys > 0 {
        info!("{addr}: {keys} TCP-MD5/TCP-AO keys set");
    }
    listen(&fd, Backlog::new(1024).unwrap_or(Backlog::MAXCONN)).map_err(|e| e.to_string())?;
    Ok(fd)
}

/// Whether this system can set the keys `config` has: TCP-AO needs Linux
/// 6.7 or later built with it. Serving those routers without their keys
/// is no choice, so `main` refuses to start (and `-n` to pass) without.
pub fn check_tcp_auth(config: &Config) -> Result<(), String> {
    if config.tcp_ao.is_empty() {
        return Ok(());
    }
    match privsep::tcpsig::ao_supported() {
        Ok(true) => Ok(()),
        Ok(false) if cfg!(target_os = "linux") => {
            Err("tcp-ao keys are configured, but this kernel has no TCP-AO \
             (it needs Linux 6.7 or later built with CONFIG_TCP_AO)"
                .into())
        }
        Ok(false) => {
            Err("tcp-ao keys are configured, but TCP-AO is available on Linux only".into())
        }
        Err(e) => Err(format!("cannot tell whether the kernel has TCP-AO: {e}")),
    }
}

/// Add the TCP-MD5 and TCP-AO keys of `config` for peers of the socket's
/// address `family` to the TCP socket `fd`, a listener before it listens:
/// the connections it accepts inherit them. Returns how many were added.
///
/// The kernel then drops every segment from such a peer that lacks a valid
/// signature, the SYN included; peers without a key are served as before
/// (on OpenBSD, where the socket option is only on or off, every peer of
/// the socket needs a `tcpmd5` security association).
pub fn apply_tcp_auth(
    fd: BorrowedFd,
    family: AddressFamily,
    config: &Config,
) -> Result<usize, String> {
    use privsep::tcpsig::{self, AoKey, Md5Key};
    let ours = |a: std::net::IpAddr| (family == AddressFamily::Inet6) == a.is_ipv6();
    let mut n = 0;
    for k in config.tcp_md5.iter().filter(|k| ours(k.peer.addr)) {
        let key = Md5Key {
            peer: k.peer.addr,
            prefix_len: k.peer.len,
            key: k.key.octets(),
        };
        tcpsig::add_md5_key(fd, &key).map_err(|e| format!("tcp-md5 key for {}: {e}", k.peer))?;
        n += 1;
    }
    for k in config.tcp_ao.iter().filter(|k| ours(k.peer.addr)) {
        let key = AoKey {
            peer: k.peer.addr,
            prefix_len: k.peer.len,
            key: k.key.octets(),
            send_id: k.send_id,
            recv_id: k.recv_id,
            algorithm: k.algorithm.into(),
        };
        tcpsig::add_ao_key(fd, &key).map_err(|e| {
            format!(
                "tcp-ao key for {} (send-id {}, recv-id {}): {e}",
                k.peer, k.send_id, k.recv_id
            )
        })?;
        n += 1;
    }
    Ok(n)
}

/// Start validator and rtr with their channels: parent↔validator and
/// parent↔rtr at fd 3, validator↔rtr at fd 4 of both.
fn spawn_children(
    exe: &privsep::Executable,
    config: &Config,
    foreground: bool,
    verbose: u8,
) -> std::io::Result<Children> {
    let (to_validator, validator_end) = privsep::Channel::pair(msg::MAX_BODY)?;
    let (to_rtr, rtr_end) = privsep::Channel::pair(msg::MAX_BODY)?;
    let (snap_v, snap_r) = privsep::Channel::pair(msg::MAX_BODY)?;
    // What a child needs before it reads anything from its channel.
    let mut args = vec![
        "--user".to_string(),
        config.user.clone(),
        "--chroot".to_string(),
        config.chroot.display().to_string(),
    ];
    if foreground {
        args.push("-d".to_string());
    }
    if verbose > 0 {
        args.push(format!("-{}", "v".repeat(verbose.into())));
    }
    let spawn = |role: &str, title: &str, fd3: &privsep::Channel, fd4: &privsep::Channel| {
        let mut a: Vec<&str> = vec!["--role", role];
        a.extend(args.iter().map(String::as_str));
        privsep::spawn(exe, title, &a, fd3.as_fd(), Some(fd4.as_fd()))
    };
    let validator = spawn("validator", "rovd: validator", &validator_end, &snap_v)?;
    let rtr = match spawn("rtr", "rovd: rtr", &rtr_end, &snap_r) {
        Ok(c) => c,
        Err(e) => {
            let mut validator = validator;
            let _ = validator.kill();
            let _ = validator.wait();
            return Err(e);
        }
    };
    Ok(Children {
        validator,
        rtr,
        to_validator,
        to_rtr,
    })
}

/// If a child has ended, say which and how.
///
/// One child's end usually ends the other: its channel closes. So when one
/// has ended, the other gets a moment to end too, and the line names the
/// cause — the one killed by a signal, else the one found first.
fn reap(children: &mut Children) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;

    let mut ended: Vec<(&str, std::process::ExitStatus)> = Vec::new();
    let deadline = Instant::now() + Duration::from_millis(200);
    loop {
        for (name, child) in [
            ("validator", &mut children.validator),
            ("rtr", &mut children.rtr),
        ] {
            if ended.iter().any(|(n, _)| *n == name) {
                continue;
            }
            match child.try_wait() {
                Ok(Some(status)) => ended.push((name, status)),
                Ok(None) => {}
                Err(e) => return Some(format!("{name}: {e}")),
            }
        }
        if ended.is_empty() || ended.len() == 2 || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let cause = ended
        .iter()
        .find(|(_, s)| s.signal().is_some())
        .or(ended.first())?;
    Some(format!("{} {}", cause.0, describe(cause.1)))
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        format!("exited with status {code}")
    } else if let Some(sig) = status.signal() {
        match Signal::try_from(sig) {
            Ok(s) => format!("killed by signal {s}"),
            Err(_) => format!("killed by signal {sig}"),
        }
    } else {
        format!("ended: {status}")
    }
}

/// Orderly shutdown: close both channels (children exit on end-of-file),
/// wait for them, and kill what does not go in time.
fn stop(children: Children, code: ExitCode) -> ExitCode {
    let Children {
        mut validator,
        mut rtr,
        to_validator,
        to_rtr,
    } = children;
    drop(to_validator);
    drop(to_rtr);
    let deadline = Instant::now() + GRACE;
    for (name, child) in [("validator", &mut validator), ("rtr", &mut rtr)] {
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    warn!("{name} did not exit in time; killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    info!("exiting");
    code
}
