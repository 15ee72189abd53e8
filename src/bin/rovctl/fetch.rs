//! One connection to a cache and one Reset Query on it, read to End of
//! Data: what `rovctl dump` and `rovctl diff` ask a cache.
//!
//! Run by the operator, with that user's privileges and no sandbox. The
//! PDUs are decoded with rovd's own codec ([`rovd::pdu`]); with
//! `--tcp-md5-key` or `--tcp-ao-key` the key is added to the socket
//! (through `privsep::tcpsig`) before it connects.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::{Failed, Query, TcpAuth};
use rovd::client::{Client, Event, Failure};
use rovd::payload::Snapshot;
use rovd::pdu::{ErrorCode, Serial, SessionId, Version};

/// A cache's whole table, as one Reset Query got it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Table {
    /// The version the cache answered at.
    pub(crate) version: Version,
    /// The session of the data.
    pub(crate) session: SessionId,
    /// The serial of the data.
    pub(crate) serial: Serial,
    /// The data.
    pub(crate) snapshot: Snapshot,
}

/// The IANA port for RTR over plain TCP (RFC 6810 §7).
const RTR_PORT: u16 = 323;

/// The whole table of the cache at `target`, with the version fallback
/// described at the top of this file.
pub(super) fn fetch(target: &str, query: &Query) -> Result<Table, Failed> {
    let addrs = resolve(target)?;
    let version = query.version.unwrap_or(Version::MAX);
    let fetch_at = |addrs: &[SocketAddr], version| fetch_at(target, addrs, version, query);
    match fetch_at(&addrs, version) {
        Err(Fetch::Refused {
            version: offered,
            code,
            ..
        }) if code == ErrorCode::UnsupportedVersion.value() && offered < version => {
            if query.version.is_some() {
                eprintln!(
                    "rovctl: {target}: cache does not speak RTR version {version}; \
                     it offers version {offered} (try --version {offered})"
                );
                return Err(Failed::Refused);
            }
            eprintln!("rovctl: {target}: cache offers RTR version {offered}, asking again");
            fetch_at(&addrs, offered).map_err(|e| e.report(target))
        }
        Ok(table) if table.version != version => {
            if query.version.is_some() {
                eprintln!(
                    "rovctl: {target}: cache answered a version {version} query at version {} \
                     (try --version {})",
                    table.version, table.version
                );
                return Err(Failed::Refused);
            }
            eprintln!(
                "rovctl: {target}: cache answered at RTR version {}",
                table.version
            );
            Ok(table)
        }
        res => res.map_err(|e| e.report(target)),
    }
}

/// How one Reset Query went wrong.
enum Fetch {
    Refused {
        version: Version,
        code: u16,
        text: String,
    },
    Trouble(String),
}

impl Fetch {
    fn report(self, target: &str) -> Failed {
        match self {
            Fetch::Refused {
                version,
                code,
                text,
            } => {
                let e = Failure::Refused {
                    version,
                    code,
                    text,
                };
                eprintln!("rovctl: {target}: {e}");
                Failed::Refused
            }
            Fetch::Trouble(why) => {
                eprintln!("rovctl: {target}: {why}");
                Failed::Trouble
            }
        }
    }
}

/// `HOST`, `HOST:PORT`, `[V6]:PORT`, `[V6]` or a bare IPv6 address.
fn resolve(target: &str) -> Result<Vec<SocketAddr>, Failed> {
    let (host, port) = if let Some(rest) = target.strip_prefix('[') {
        match rest.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, port)) => (host, port.strip_prefix(':')),
            None => (target, None),
        }
    } else {
        match target.split_once(':') {
            Some((host, port)) if !port.contains(':') => (host, Some(port)),
            _ => (target, None),
        }
    };
    let port = match port.map(str::parse::<u16>) {
        None => RTR_PORT,
        Some(Ok(p)) => p,
        Some(Err(_)) => {
            eprintln!("rovctl: {target}: not a file, and no HOST:PORT");
            return Err(Failed::Trouble);
        }
    };
    match (host, port).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                eprintln!("rovctl: {target}: no address");
                return Err(Failed::Trouble);
            }
            Ok(addrs)
        }
        Err(e) => {
            eprintln!("rovctl: {target}: not a file, and {host}: {e}");
            Err(Failed::Trouble)
        }
    }
}

/// One connection, one Reset Query at `version`, read to End of Data
/// within the query's timeout.
fn fetch_at(
    target: &str,
    addrs: &[SocketAddr],
    version: Version,
    query: &Query,
) -> Result<Table, Fetch> {
    let timeout = Duration::from_secs(query.timeout);
    let deadline = Instant::now() + timeout;
    let connect_timeout = Duration::from_secs(query.connect_timeout).min(timeout);
    let mut last = None;
    let mut stream = None;
    for addr in addrs {
        match connect(addr, &query.auth, connect_timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            // A cache that wants a key from this host and gets none or a
            // wrong one drops the SYN without a word.
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                last = Some(format!(
                    "connect to {addr}: {e} (a cache that requires TCP-MD5 or TCP-AO \
                     drops connections without the right key)"
                ));
            }
            Err(e) => last = Some(format!("connect to {addr}: {e}")),
        }
    }
    let Some(mut stream) = stream else {
        return Err(Fetch::Trouble(
            last.unwrap_or_else(|| format!("{target}: no address")),
        ));
    };
    let io_err = |e: io::Error| Fetch::Trouble(format!("{e}"));
    let mut client = Client::new(version);
    stream.write_all(&client.take_output()).map_err(io_err)?;

    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut chunk = vec![0u8; 1 << 16];
    let mut events = Vec::new();
    loop {
        let mut at = 0;
        loop {
            let n = client.receive(buf.get(at..).unwrap_or_default(), &mut events);
            at += n;
            // What the client has to say to the cache (an Error Report
            // before it gives up) goes out first.
            let _ = stream.write_all(&client.take_output());
            for event in events.drain(..) {
                if let Some(outcome) = outcome(&mut client, event) {
                    return outcome;
                }
            }
            if n == 0 {
                break;
            }
        }
        buf.drain(..at);
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Fetch::Trouble(format!(
                "no End of Data within {} seconds",
                timeout.as_secs()
            )));
        }
        stream.set_read_timeout(Some(left)).map_err(io_err)?;
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(Fetch::Trouble(
                    "cache closed the connection before End of Data".into(),
                ))
            }
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(io_err(e)),
        }
    }
}

/// What an event of the client means for one Reset Query: its table,
/// why there is none, or nothing yet.
fn outcome(client: &mut Client, event: Event) -> Option<Result<Table, Fetch>> {
    let refused = |version, code: ErrorCode| Fetch::Refused {
        version,
        code: code.value(),
        text: String::new(),
    };
    Some(match event {
        Event::Synced {
            full: true,
            session,
            serial,
            ..
        } => Ok(Table {
            version: client.version(),
            session,
            serial,
            snapshot: client.take_table(),
        }),
        // §7: in v0 and v1 the error ends the session; a new connection
        // asks again (see `fetch`).
        Event::Downgraded(offered) => Err(refused(offered, ErrorCode::UnsupportedVersion)),
        Event::NoData => Err(refused(client.version(), ErrorCode::NoDataAvailable)),
        Event::Failed(Failure::Refused {
            version,
            code,
            text,
        }) => Err(Fetch::Refused {
            version,
            code,
            text,
        }),
        Event::Failed(e @ Failure::Broken { .. }) => {
            Err(Fetch::Trouble(format!("malformed answer: {e}")))
        }
        Event::Synced { .. } | Event::Notified(_) | Event::CacheReset => return None,
    })
}

/// A TCP connection to `addr` within `timeout`, with the key of `auth` (if
/// any) added to the socket before it connects.
fn connect(addr: &SocketAddr, auth: &TcpAuth, timeout: Duration) -> io::Result<TcpStream> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::socket::{
        connect, getsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage,
    };
    use privsep::tcpsig::{self, AoKey, Md5Key};
    use std::os::fd::AsFd;

    let family = if addr.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    let fd = socket(family, SockType::Stream, flags, None)?;
    let prefix_len = if addr.is_ipv6() { 128 } else { 32 };
    if let Some(key) = &auth.tcp_md5_key {
        let key = Md5Key {
            peer: addr.ip(),
            prefix_len,
            key: key.as_bytes(),
        };
        tcpsig::add_md5_key(fd.as_fd(), &key)
            .map_err(|e| io::Error::new(e.kind(), format!("TCP-MD5 key: {e}")))?;
    }
    if let (Some(key), Some((send_id, recv_id))) = (&auth.tcp_ao_key, auth.tcp_ao_ids) {
        let key = AoKey {
            peer: addr.ip(),
            prefix_len,
            key: key.as_bytes(),
            send_id,
            recv_id,
            algorithm: auth.tcp_ao_algorithm.into(),
        };
        tcpsig::add_ao_key(fd.as_fd(), &key)
            .map_err(|e| io::Error::new(e.kind(), format!("TCP-AO key: {e}")))?;
    }
    let sa = match addr {
        SocketAddr::V4(a) => SockaddrStorage::from(*a),
        SocketAddr::V6(a) => SockaddrStorage::from(*a),
    };
    match connect(fd.as_raw_fd(), &sa) {
        Ok(()) => {}
        Err(nix::errno::Errno::EINPROGRESS) => {
            let deadline = Instant::now() + timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(ErrorKind::TimedOut, "connection timed out"));
                }
                let wait = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)];
                match poll(&mut fds, wait) {
                    Ok(0) | Err(nix::errno::Errno::EINTR) => {}
                    Ok(_) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            match getsockopt(&fd, sockopt::SocketError)? {
                0 => {}
                e => return Err(io::Error::from_raw_os_error(e)),
            }
        }
        Err(e) => return Err(e.into()),
    }
    let stream = TcpStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}
