//! One connection to an upstream: a non-blocking TCP socket, with the
//! key file's TCP-MD5 or TCP-AO key set before it connects, and TLS on top
//! when the URL asks for it. Plaintext goes in and out; the caller drives
//! it from the event loop when the socket is ready.
//!
//! Runs in the fetcher (unprivileged, chrooted, sandboxed): it opens
//! sockets to the addresses the parent resolved, never a file.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use mio::net::TcpStream;
use nix::sys::socket::{
    connect, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use crate::msg::Reach;

/// Ciphertext and plaintext read from the socket at once, at most.
const READ_CHUNK: usize = 64 * 1024;

/// A connection being established or established.
pub(super) struct Conn {
    stream: TcpStream,
    /// The address connected to.
    pub(super) peer: SocketAddr,
    tls: Option<ClientConnection>,
    /// Plaintext waiting for the socket (without TLS).
    out: Vec<u8>,
    connected: bool,
}

/// What one turn of reading gave.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Got {
    /// Plaintext octets appended to the input.
    pub(super) octets: usize,
    /// The peer closed the connection.
    pub(super) closed: bool,
    /// Whether the socket may have more right now (a chunk was read
    /// whole): come back before waiting for readiness.
    pub(super) more: bool,
}

impl Conn {
    /// Start connecting to `peer`, with its key from `reach` if the key
    /// file has one; TLS with `tls` and the server name `name` once
    /// connected.
    pub(super) fn start(
        peer: SocketAddr,
        reach: &Reach,
        tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    ) -> io::Result<Conn> {
        let family = if peer.is_ipv6() {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        let fd = socket(
            family,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )?;
        set_keys(&fd, peer, reach)?;
        setsockopt(&fd, sockopt::TcpNoDelay, &true)?;
        setsockopt(&fd, sockopt::KeepAlive, &true)?;
        let sa = match peer {
            SocketAddr::V4(a) => SockaddrStorage::from(a),
            SocketAddr::V6(a) => SockaddrStorage::from(a),
        };
        match connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &sa) {
            Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => {}
            Err(e) => return Err(e.into()),
        }
        let tls = match tls {
            Some((config, name)) => Some(
                ClientConnection::new(config, name)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            ),
            None => None,
        };
        Ok(Conn {
            stream: TcpStream::from_std(std::net::TcpStream::from(fd)),
            peer,
            tls,
            out: Vec::new(),
            connected: false,
        })
    }

    /// The socket, to register with the event loop.
    pub(super) fn source(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Whether the TCP connection is up: once the socket turned writable,
    /// `Err` with the reason if the connect failed.
    pub(super) fn check_connected(&mut self) -> io::Result<bool> {
        if self.connected {
            return Ok(true);
        }
        if let Some(e) = self.stream.take_error()? {
            return Err(e);
        }
        match self.stream.peer_addr() {
            Ok(_) => {
                self.connected = true;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Queue plaintext to send.
    pub(super) fn queue(&mut self, data: &[u8]) -> io::Result<()> {
        if let Some(t) = &mut self.tls {
            return t.writer().write_all(data);
        }
        self.out.extend_from_slice(data);
        Ok(())
    }

    /// Write what waits, as far as the socket takes it.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        if !self.connected {
            return Ok(());
        }
        match &mut self.tls {
            Some(t) => {
                while t.wants_write() {
                    match t.write_tls(&mut self.stream) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            None => {
                while !self.out.is_empty() {
                    match self.stream.write(&self.out) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => {
                            self.out.drain(..n);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(())
    }

    /// Read one chunk from the socket and append the plaintext it holds
    /// to `input`. A TLS error (a bad certificate, a broken record) is an
    /// `Err` that names it.
    pub(super) fn read_some(&mut self, input: &mut Vec<u8>) -> io::Result<Got> {
        if !self.connected {
            return Ok(Got::default());
        }
        if self.tls.is_some() {
            return self.read_tls(input);
        }
        let mut got = Got::default();
        let start = input.len();
        input.resize(start + READ_CHUNK, 0);
        let res = self.stream.read(&mut input[start..]);
        match res {
            Ok(0) => {
                input.truncate(start);
                got.closed = true;
            }
            Ok(n) => {
                input.truncate(start + n);
                got.octets = n;
                got.more = true;
            }
            Err(e) => {
                input.truncate(start);
                match e.kind() {
                    io::ErrorKind::WouldBlock => {}
                    io::ErrorKind::Interrupted => got.more = true,
                    _ => return Err(e),
                }
            }
        }
        Ok(got)
    }

    /// [`Conn::read_some`] through TLS. A connection closed without
    /// `close_notify` is an `UnexpectedEof` error.
    fn read_tls(&mut self, input: &mut Vec<u8>) -> io::Result<Got> {
        let mut got = Got::default();
        let Some(t) = &mut self.tls else {
            return Ok(got);
        };
        match t.read_tls(&mut self.stream) {
            Ok(0) => got.closed = true,
            Ok(_) => got.more = true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => got.more = true,
            Err(e) => return Err(e),
        }
        let state = t
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}")))?;
        let mut want = state.plaintext_bytes_to_read();
        while want > 0 {
            let start = input.len();
            input.resize(start + want, 0);
            match t.reader().read(&mut input[start..]) {
                Ok(0) => {
                    input.truncate(start);
                    break;
                }
                Ok(n) => {
                    input.truncate(start + n);
                    got.octets += n;
                    want -= n.min(want);
                }
                Err(e) => {
                    input.truncate(start);
                    if e.kind() == io::ErrorKind::WouldBlock {
                        break;
                    }
                    return Err(e);
                }
            }
        }
        if got.closed && !state.peer_has_closed() {
            // TCP closed without close_notify: what came is in `input`.
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if state.peer_has_closed() {
            got.closed = true;
        }
        // The handshake may have something to say.
        self.flush()?;
        Ok(got)
    }
}

/// Set the key file's key for `peer`, if it has one: TCP-AO before
/// TCP-MD5 (the key file lets no prefix have both).
fn set_keys(fd: &OwnedFd, peer: SocketAddr, reach: &Reach) -> io::Result<()> {
    use privsep::tcpsig;
    let ip = peer.ip();
    if let Some(k) = reach.tcp_ao.iter().find(|k| k.peer.contains(ip)) {
        return tcpsig::add_ao_key(fd.as_fd(), &k.kernel_key(Some(ip)));
    }
    if let Some(k) = reach.tcp_md5.iter().find(|k| k.peer.contains(ip)) {
        return tcpsig::add_md5_key(fd.as_fd(), &k.kernel_key(Some(ip)));
    }
    Ok(())
}
