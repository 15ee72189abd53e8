//! `rovctl proxy`: one RTR session carried between standard input and
//! output and a cache's TCP listener, so that sshd can offer rovd as the
//! `rpki-rtr` SSH subsystem (RFC 6810 §7.1, RFC 8210 §9).
//!
//! Run by sshd for each router session, as the SSH login user, with that
//! user's privileges and no sandbox: it opens one TCP connection to the
//! cache (rovd on the loopback address), logs which SSH client it serves
//! and from which local port, and copies octets unchanged in both
//! directions until the cache closes. It never parses RTR, so it serves
//! every protocol version and is never the slow part of a session.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::thread;
use std::time::Duration;

/// The cache when none is named: rovd on the IANA port (RFC 6810 §7).
pub(crate) const DEFAULT_CACHE: &str = "127.0.0.1:323";

/// Octets moved per read: a whole v1 table of a few thousand VRPs in one
/// system call, and never the limit on throughput.
const CHUNK: usize = 256 * 1024;

/// How long to wait for the cache to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the one connection line goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogTo {
    /// syslog, daemon facility, ident `rovctl`; standard error if syslog
    /// cannot be reached.
    Syslog,
    /// Standard error, which an SSH client shows its user.
    Stderr,
}

/// A failure, already reported on standard error.
#[derive(Debug)]
pub(crate) struct Failed;

/// Connect to `cache` (`HOST:PORT`, `[V6]:PORT`, or `HOST` for port 323),
/// log the connection and copy until the cache closes. `Ok` when the cache
/// ended the session; `Err` when there was none or it broke.
pub(crate) fn run(cache: &str, log_to: LogTo) -> Result<(), Failed> {
    let addrs = resolve(cache)?;
    let stream = connect(cache, &addrs)?;
    let local = stream.local_addr().map_err(|e| {
        eprintln!("rovctl: proxy: {cache}: {e}");
        Failed
    })?;
    let peer = stream.peer_addr().unwrap_or(addrs[0]);
    let line = connection_line(std::env::var("SSH_CONNECTION").ok().as_deref(), local, peer);
    log(&line, log_to);
    // Router queries are small and each one wants an answer now.
    let _ = stream.set_nodelay(true);

    // Plain files on duplicates of descriptors 0 and 1: no buffering in
    // between, and no unsafe code to adopt the descriptors.
    let (stdin, stdout) = match (dup(io::stdin().as_fd()), dup(io::stdout().as_fd())) {
        (Ok(i), Ok(o)) => (i, o),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("rovctl: proxy: standard input or output: {e}");
            return Err(Failed);
        }
    };
    let to_cache = stream.try_clone().map_err(|e| {
        eprintln!("rovctl: proxy: {cache}: {e}");
        Failed
    })?;
    // Router to cache on a thread of its own. At the router's end of input
    // the cache is told so (half-close) and still answers what it has
    // been asked; the session ends when the cache closes.
    thread::spawn(move || {
        let (mut from, mut to) = (stdin, to_cache);
        let _ = copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
    let (mut from, mut to) = (stream, stdout);
    match copy(&mut from, &mut to) {
        Ok(_) => Ok(()),
        Err(Broken::Read(e)) => {
            eprintln!("rovctl: proxy: {cache}: {e}");
            Err(Failed)
        }
        // The SSH channel is gone; nobody is left to tell.
        Err(Broken::Write) => Err(Failed),
    }
}

/// The line logged for each session: which SSH client it serves (from
/// sshd's `SSH_CONNECTION`, "client port server port") and the local
/// address the cache sees, which is what rovd logs for the session.
pub(crate) fn connection_line(
    ssh_connection: Option<&str>,
    local: SocketAddr,
    cache: SocketAddr,
) -> String {
    let client = ssh_connection
        .map(|s| s.split_whitespace().collect::<Vec<&str>>())
        .and_then(|f| match f.as_slice() {
            [c, cp, s, sp] => Some(format!("ssh client {c} port {cp} to {s} port {sp}")),
            _ => None,
        })
        .unwrap_or_else(|| "client unknown (no SSH_CONNECTION)".to_string());
    format!("proxy: {client}: session {local} to cache {cache}")
}

fn log(line: &str, log_to: LogTo) {
    if log_to == LogTo::Syslog {
        let formatter = syslog::Formatter3164 {
            facility: syslog::Facility::LOG_DAEMON,
            hostname: None,
            process: "rovctl".into(),
            pid: std::process::id(),
        };
        match syslog::unix(formatter) {
            Ok(mut logger) => {
                if logger.info(line).is_ok() {
                    return;
                }
                eprintln!("rovctl: cannot log to syslog");
            }
            Err(e) => eprintln!("rovctl: cannot reach syslog ({e})"),
        }
    }
    eprintln!("rovctl: {line}");
}

/// `HOST:PORT`, `[V6]:PORT`, `[V6]`, or `HOST` alone for port 323.
fn resolve(cache: &str) -> Result<Vec<SocketAddr>, Failed> {
    if let Ok(a) = cache.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    let bare = (cache.starts_with('[') && cache.ends_with(']')) || !cache.contains(':');
    let with_port = if bare {
        format!("{cache}:323")
    } else {
        cache.to_string()
    };
    match with_port.to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                eprintln!("rovctl: proxy: {cache}: no address");
                return Err(Failed);
            }
            Ok(addrs)
        }
        Err(e) => {
            eprintln!("rovctl: proxy: {cache}: {e}");
            Err(Failed)
        }
    }
}

fn connect(cache: &str, addrs: &[SocketAddr]) -> Result<TcpStream, Failed> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some((addr, e)),
        }
    }
    if let Some((addr, e)) = last {
        eprintln!("rovctl: proxy: cannot connect to {cache} ({addr}): {e}");
    }
    Err(Failed)
}

fn dup(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<File> {
    fd.try_clone_to_owned().map(File::from)
}

/// Which side of a copy failed.
#[derive(Debug)]
enum Broken {
    Read(io::Error),
    Write,
}

/// Copy until `from` ends; the octets moved.
fn copy(from: &mut impl Read, to: &mut impl Write) -> Result<u64, Broken> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Broken::Read(e)),
        };
        to.write_all(&buf[..n]).map_err(|_| Broken::Write)?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_names_ssh_client_and_local_port() {
        let local: SocketAddr = "127.0.0.1:40406".parse().unwrap();
        let cache: SocketAddr = "127.0.0.1:323".parse().unwrap();
        assert_eq!(
            connection_line(Some("192.0.2.7 50112 192.0.2.1 22"), local, cache),
            "proxy: ssh client 192.0.2.7 port 50112 to 192.0.2.1 port 22: \
             session 127.0.0.1:40406 to cache 127.0.0.1:323"
        );
        assert_eq!(
            connection_line(Some("2001:db8::7 50112 2001:db8::1 22"), local, cache),
            "proxy: ssh client 2001:db8::7 port 50112 to 2001:db8::1 port 22: \
             session 127.0.0.1:40406 to cache 127.0.0.1:323"
        );
        for bad in [None, Some(""), Some("192.0.2.7 50112")] {
            assert_eq!(
                connection_line(bad, local, cache),
                "proxy: client unknown (no SSH_CONNECTION): \
                 session 127.0.0.1:40406 to cache 127.0.0.1:323"
            );
        }
    }

    #[test]
    fn cache_names() {
        let one = |s: &str| resolve(s).unwrap()[0];
        assert_eq!(one("127.0.0.1:3323"), "127.0.0.1:3323".parse().unwrap());
        assert_eq!(one("127.0.0.1"), "127.0.0.1:323".parse().unwrap());
        assert_eq!(one("[::1]:3323"), "[::1]:3323".parse().unwrap());
        assert_eq!(one("[::1]"), "[::1]:323".parse().unwrap());
        assert!(resolve("127.0.0.1:port").is_err());
        assert!(resolve("127.0.0.1:70000").is_err());
    }

    #[test]
    fn copy_moves_every_octet_in_order() {
        let data: Vec<u8> = (0..3 * CHUNK + 17)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        let mut out = Vec::new();
        assert_eq!(copy(&mut &data[..], &mut out).unwrap(), data.len() as u64);
        assert_eq!(out, data);
    }
}
