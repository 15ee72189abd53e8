//! The listening sockets: bound by the parent while it may still bind
//! port 323, each with the routers' TCP-MD5 and TCP-AO keys set before it
//! listens, then handed to the rtr worker; the HTTP listeners and the
//! control socket likewise.
//!
//! Runs in the parent, as root at start-up (and for `rovd -n`, which only
//! checks that the kernel can take the keys).

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use log::{error, info};
use nix::sys::socket::{
    bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType,
    SockaddrStorage,
};

use crate::config::Config;
use crate::failed::{Failed, OrFail};

/// A bound, listening socket and what it is for.
pub(super) struct Listener {
    pub(super) addr: SocketAddr,
    pub(super) tls: bool,
    pub(super) socket: OwnedFd,
}

/// Every listener of `config`: plain RTR, then TLS.
pub(super) fn bind_all(config: &Config) -> Result<Vec<Listener>, Failed> {
    let plain = config.listen_addrs().iter().map(|&a| (a, false));
    let tls = config.tls_listen_addrs().iter().map(|&a| (a, true));
    plain
        .chain(tls)
        .map(|(addr, tls)| {
            let socket = bind_listener(addr, config).or_fail(format!("listen on {addr}"))?;
            Ok(Listener { addr, tls, socket })
        })
        .collect()
}

/// The `[http]` listeners: plain TCP, no keys.
pub(super) fn bind_http(config: &Config) -> Result<Vec<(SocketAddr, OwnedFd)>, Failed> {
    config
        .http
        .listen
        .iter()
        .map(|&addr| {
            let socket = bind_plain(addr).or_fail(format!("HTTP listen on {addr}"))?;
            Ok((addr, socket))
        })
        .collect()
}

/// The control socket, if there is to be one: bound at its path, which a
/// socket left behind by an earlier run may hold (one a running rovd
/// still answers on is not taken over), readable and writable by root
/// and the group of `user` only (mode 0660), as OpenBSD daemons do it.
pub(super) fn bind_control(config: &Config) -> Result<Option<OwnedFd>, Failed> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    use std::os::unix::net::{UnixListener, UnixStream};
    let Some(path) = config.control_path() else {
        return Ok(None);
    };
    let name = path.display();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            error!("control socket {name}: exists and is not a socket");
            return Err(Failed);
        }
        if UnixStream::connect(path).is_ok() {
            error!("control socket {name}: in use (is another rovd running?)");
            return Err(Failed);
        }
        std::fs::remove_file(path).or_fail(format!("control socket {name}"))?;
    }
    let listener = UnixListener::bind(path).or_fail(format!("control socket {name}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .or_fail(format!("control socket {name}"))?;
    if privsep::privdrop::is_root() {
        let account = privsep::privdrop::lookup(&config.user).map_err(|e| {
            error!("control socket {name}: {e}");
            Failed
        })?;
        nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(0)), Some(account.gid))
            .or_fail(format!("control socket {name}"))?;
    }
    info!("control socket {name}");
    Ok(Some(OwnedFd::from(listener)))
}

/// Backlogs: after a restart every router reconnects at once; scrapers
/// and load balancers come a few at a time.
const RTR_BACKLOG: i32 = 1024;
const HTTP_BACKLOG: i32 = 128;

/// A bound, listening RTR socket with the TCP keys of `config`.
fn bind_listener(addr: SocketAddr, config: &Config) -> Result<OwnedFd, String> {
    bind_tcp(addr, RTR_BACKLOG, |fd, family| {
        let keys = apply_tcp_auth(fd, family, config)?;
        if keys > 0 {
            info!("{addr}: {keys} TCP-MD5/TCP-AO keys set");
        }
        Ok(())
    })
}

/// A bound, listening HTTP socket: no keys.
fn bind_plain(addr: SocketAddr) -> Result<OwnedFd, String> {
    bind_tcp(addr, HTTP_BACKLOG, |_, _| Ok(()))
}

/// A TCP socket bound to `addr`, prepared by `before_listen` (which sees
/// it and its family) and then listening. IPv6 sockets are v6-only so
/// that `[::]` and `0.0.0.0` can both be configured.
fn bind_tcp(
    addr: SocketAddr,
    backlog: i32,
    before_listen: impl FnOnce(BorrowedFd<'_>, AddressFamily) -> Result<(), String>,
) -> Result<OwnedFd, String> {
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
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr)).map_err(|e| e.to_string())?;
    before_listen(fd.as_fd(), family)?;
    listen(&fd, Backlog::new(backlog).unwrap_or(Backlog::MAXCONN)).map_err(|e| e.to_string())?;
    Ok(fd)
}

/// Whether this system can set the keys `config` has: TCP-AO needs Linux
/// 6.7 or later built with it. Serving those routers without their keys
/// is no choice, so start-up (and `-n`) refuses without.
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
fn apply_tcp_auth(fd: BorrowedFd, family: AddressFamily, config: &Config) -> Result<usize, String> {
    use privsep::tcpsig;
    let ours = |a: std::net::IpAddr| (family == AddressFamily::Inet6) == a.is_ipv6();
    let mut n = 0;
    for k in config.tcp_md5.iter().filter(|k| ours(k.peer.addr)) {
        tcpsig::add_md5_key(fd, &k.kernel_key(None))
            .map_err(|e| format!("tcp-md5 key for {}: {e}", k.peer))?;
        n += 1;
    }
    for k in config.tcp_ao.iter().filter(|k| ours(k.peer.addr)) {
        tcpsig::add_ao_key(fd, &k.kernel_key(None)).map_err(|e| {
            format!(
                "tcp-ao key for {} (send-id {}, recv-id {}): {e}",
                k.peer, k.send_id, k.recv_id
            )
        })?;
        n += 1;
    }
    Ok(n)
}
