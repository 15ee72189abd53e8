//! Helpers for the tests that run real RTR clients: running their
//! command-line tools with a time limit, running their daemons in the
//! background, stopping them by pid, finding their connection to rovd,
//! and reading rovd's log per session.

use std::collections::BTreeSet;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::LogBuf;

/// How long a client's command-line tool may take for one answer.
pub(crate) const CMD_TIMEOUT: Duration = Duration::from_secs(10);

//------------ Processes ------------------------------------------------------

/// Run a command-line tool, bounded by `CMD_TIMEOUT`: its standard output,
/// or what went wrong.
pub(crate) fn run(cmd: &mut Command) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let (out, err) = (LogBuf::default(), LogBuf::default());
    let readers = [
        out.capture(child.stdout.take().unwrap()),
        err.capture(child.stderr.take().unwrap()),
    ];
    let deadline = Instant::now() + CMD_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    for r in readers {
        let _ = r.join();
    }
    match status {
        Some(s) if s.success() => Ok(out.text()),
        Some(s) => Err(format!("{s}: {}{}", out.text(), err.text())),
        None => Err(format!("no answer within {CMD_TIMEOUT:?}")),
    }
}

/// A program the test runs in the background (a client daemon, sshd,
/// stunnel): its standard output and error captured in `log`, stopped by
/// pid when dropped, and its log printed if the test failed.
pub(crate) struct Service {
    name: &'static str,
    child: Option<Child>,
    pub log: LogBuf,
}

impl Service {
    /// Start `cmd` with no input; panics if it cannot be started.
    pub(crate) fn spawn(name: &'static str, cmd: &mut Command) -> Service {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let log = LogBuf::default();
        log.capture(child.stdout.take().unwrap());
        log.capture(child.stderr.take().unwrap());
        Service {
            name,
            child: Some(child),
            log,
        }
    }

    /// How it ended, if it has.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().unwrap())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            stop(child);
        }
        if thread::panicking() {
            let name = self.name;
            eprintln!(
                "---- {name} log ----\n{}---- end of {name} log ----",
                self.log.text()
            );
        }
    }
}

/// SIGTERM, then SIGKILL after five seconds; always reaped.
pub(crate) fn stop(mut child: Child) {
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    if child.try_wait().ok().flatten().is_none() {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = child.wait();
    }
}

/// The local address of the established TCP connection process `pid`
/// holds to 127.0.0.1:`port`, from /proc.
pub(crate) fn connection_of(pid: u32, port: u16) -> Option<SocketAddr> {
    let inodes: BTreeSet<String> = fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let table = fs::read_to_string("/proc/net/tcp").ok()?;
    let addr = |hex: &str| -> Option<SocketAddr> {
        let (ip, port) = hex.split_once(':')?;
        // The address as the kernel's in-memory word, the port as a number.
        let ip = u32::from_str_radix(ip, 16).ok()?.to_ne_bytes();
        Some(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::from(ip)),
            u16::from_str_radix(port, 16).ok()?,
        ))
    };
    let cache = SocketAddr::from(([127, 0, 0, 1], port));
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
        let (local, remote, state, inode) = (f.get(1)?, f.get(2)?, f.get(3)?, f.get(9)?);
        (*state == "01" && addr(remote)? == cache && inodes.contains(*inode))
            .then(|| addr(local))
            .flatten()
    })
}

//------------ The daemon's log -----------------------------------------------

/// What the daemon logged about one router session.
#[derive(Debug, Default)]
pub(crate) struct SessionLog {
    pub opened: usize,
    /// Versions negotiated.
    pub versions: Vec<u8>,
    /// Query versions answered Unsupported Protocol Version.
    pub version_refused: Vec<u8>,
    pub resets: usize,
    /// Serial Queries answered with a delta.
    pub serials: usize,
    /// Serial Queries answered with Cache Reset.
    pub cache_resets: usize,
    /// Error Reports from the router.
    pub errors: usize,
    pub closed: Option<String>,
}

impl SessionLog {
    /// Whether the session sent any query: not the harness's probe.
    pub(crate) fn queried(&self) -> bool {
        self.resets + self.serials + self.cache_resets + self.version_refused.len() > 0
    }
}

/// The sessions in the daemon's log, by peer address, in order of first
/// mention.
pub(crate) fn sessions(log: &str) -> Vec<(String, SessionLog)> {
    let mut out: Vec<(String, SessionLog)> = Vec::new();
    for line in log.lines() {
        let Some((peer, event)) = line
            .strip_prefix("rtr: session ")
            .and_then(|r| r.split_once(' '))
        else {
            continue;
        };
        let peer = peer.trim_end_matches(':');
        let i = if let Some(i) = out.iter().position(|(p, _)| p == peer) {
            i
        } else {
            out.push((peer.to_string(), SessionLog::default()));
            out.len() - 1
        };
        let s = &mut out[i].1;
        if event == "opened" {
            s.opened += 1;
        } else if event.starts_with("closed (") {
            s.closed = Some(event.to_string());
        } else if event == "reset query" {
            s.resets += 1;
        } else if let Some(rest) = event.strip_prefix("serial query from ") {
            if rest.ends_with("answered Cache Reset") {
                s.cache_resets += 1;
            } else {
                s.serials += 1;
            }
        } else if let Some(v) = event.strip_prefix("version ") {
            s.versions.push(v.parse().expect(line));
        } else if let Some(rest) = event.strip_prefix("query at version ") {
            let v = rest.split(',').next().unwrap();
            s.version_refused.push(v.parse().expect(line));
        } else if event.starts_with("router reported error") {
            s.errors += 1;
        }
    }
    out
}

/// The peer address a `rtr: session PEER …` log line is about.
pub(crate) fn peer_of(line: &str) -> Option<&str> {
    let rest = &line[line.find("rtr: session ")? + "rtr: session ".len()..];
    let end = rest.find(' ')?;
    Some(rest[..end].trim_end_matches(':'))
}

/// The peers of the sessions the daemon opened, in order.
pub(crate) fn opened_peers(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.ends_with(" opened"))
        .filter_map(peer_of)
        .map(str::to_string)
        .collect()
}

/// How many log lines about the session with `who` contain `needle`.
pub(crate) fn count(log: &str, who: &str, needle: &str) -> usize {
    log.lines()
        .filter(|l| peer_of(l) == Some(who) && l.contains(needle))
        .count()
}

/// The daemon's current serial: the last `rtr: serial N: …` line.
pub(crate) fn last_serial(log: &str) -> u32 {
    log.lines()
        .rev()
        .filter_map(|l| l.strip_prefix("rtr: serial "))
        .find_map(|r| r.split(':').next()?.parse().ok())
        .expect("no serial in the daemon's log")
}
