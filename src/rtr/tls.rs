//! RTR over TLS (RFC 8210 §9, 8210bis-27 §9): the server configuration
//! built from the certificate, key and client CA the parent read, and the
//! TLS layer of one router connection between its socket and its session.
//!
//! Runs in the rtr worker (unprivileged, sandboxed): the worker never opens
//! a file, it gets the PEM bytes over its channel. The parent also builds a
//! configuration once, only to check the files (`rovd -n`, start-up,
//! reload; see `parent::tls`) before handing them over. rustls with the ring provider, TLS 1.2
//! and 1.3; it needs no system call beyond what plain RTR uses, but
//! `getrandom`. The provider, the versions and the reading of PEM
//! certificates are shared with the fetcher's client side
//! (`fetcher::tls`).
//!
//! The session state machine does not know about TLS: plaintext goes in
//! and out of [`TlsConn`] exactly as it would go to and from a socket. The
//! worker's back-pressure carries over: rustls takes plaintext only while
//! less than [`BUFFER_LIMIT`] of ciphertext waits for the socket, so a
//! router that stops reading holds that much and its references into the
//! shared buffers, no more.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::IpAddr;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, SupportedProtocolVersion};

use super::views::status::TlsStatus;
use crate::config::TlsFiles;

/// Ciphertext a connection buffers at most before it stops taking
/// plaintext; the same bound holds plaintext queued during the handshake.
pub const BUFFER_LIMIT: usize = 64 * 1024;

//------------ ServerConfig --------------------------------------------------

/// Which of the `[tls]` files something is wrong with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// `certificate`: the server's chain.
    Certificate,
    /// `key`: the server's private key.
    Key,
    /// `client-ca`: the authorities of router certificates.
    ClientCa,
}

/// A file that cannot be used, and why.
#[derive(Debug)]
pub struct BadFile {
    /// The file.
    pub part: Part,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for BadFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.part {
            Part::Certificate => "certificate",
            Part::Key => "key",
            Part::ClientCa => "client-ca",
        };
        write!(f, "{what}: {}", self.reason)
    }
}

fn bad(part: Part, reason: impl ToString) -> BadFile {
    BadFile {
        part,
        reason: reason.to_string(),
    }
}

/// The TLS versions rovd speaks, to routers and to upstreams alike.
pub(crate) static VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The crypto provider rovd's TLS uses, server and client: ring.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file, at least one; an error says what is
/// wrong with the file.
pub(crate) fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err("no CERTIFICATE in the file".into());
    }
    Ok(certs)
}

/// [`pem_certificates`] of the `[tls]` file `part`.
fn certificates(pem: &[u8], part: Part) -> Result<Vec<CertificateDer<'static>>, BadFile> {
    pem_certificates(pem).map_err(|e| bad(part, e))
}

/// What new TLS connections are served with.
#[derive(Clone)]
pub struct Server {
    /// The rustls configuration, shared by every connection.
    pub config: Arc<ServerConfig>,
    /// Whether a client certificate must name the router's address.
    pub check_client_address: bool,
}

/// [`server_config`] and the address rule of `files`.
pub fn server(files: &TlsFiles) -> Result<Server, BadFile> {
    Ok(Server {
        config: server_config(files)?,
        check_client_address: files.check_client_address,
    })
}

/// A TLS server configuration from the PEM files: TLS 1.2 and 1.3 with the
/// ring provider; with a client CA, routers must present a certificate
/// that chains to it. Fails if a file does not parse or the key does not
/// belong to the certificate.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, BadFile> {
    let chain = certificates(&files.certificate, Part::Certificate)?;
    let key = PrivateKeyDer::from_pem_slice(&files.key).map_err(|e| {
        bad(
            Part::Key,
            format!("no PKCS#8, RSA or SEC1 private key in PEM: {e}"),
        )
    })?;
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| bad(Part::Certificate, e))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(pem, Part::ClientCa)? {
                roots.add(cert).map_err(|e| bad(Part::ClientCa, e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .map_err(|e| bad(Part::ClientCa, e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            bad(Part::Key, "the key does not belong to the certificate")
        }
        e => bad(Part::Key, e),
    })?;
    Ok(Arc::new(config))
}

//------------ TlsConn -------------------------------------------------------

/// The TLS layer of one router connection.
pub struct TlsConn {
    conn: ServerConnection,
    /// The router's address, which its certificate must name if
    /// `check_client_address`.
    peer: IpAddr,
    check_client_address: bool,
    /// Whether the end of the handshake has been reported.
    reported: bool,
    /// What was agreed, once reported.
    details: Option<TlsStatus>,
}

impl TlsConn {
    /// A new server connection for the router at `peer`.
    pub fn new(server: &Server, peer: IpAddr) -> Result<TlsConn, rustls::Error> {
        let mut conn = ServerConnection::new(server.config.clone())?;
        conn.set_buffer_limit(Some(BUFFER_LIMIT));
        Ok(TlsConn {
            conn,
            peer,
            check_client_address: server.check_client_address,
            reported: false,
            details: None,
        })
    }

    /// Whether ciphertext waits for the socket.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Write waiting ciphertext until the socket is full or nothing waits;
    /// the number of octets written.
    pub fn flush(&mut self, stream: &mut impl Write) -> io::Result<usize> {
        let mut total = 0;
        while self.conn.wants_write() {
            match self.conn.write_tls(stream) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// Hand plaintext to TLS: how much it took, 0 when its buffer is full.
    pub fn send(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        self.conn.writer().write_vectored(slices)
    }

    /// Read from the socket and decrypt into `input`, up to `limit` octets
    /// in it. `Ok((got, eof))`; an error is a TLS failure, with the alert
    /// for the router queued (written by the caller's close).
    pub fn receive(
        &mut self,
        stream: &mut impl Read,
        input: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(bool, bool), String> {
        let mut got = false;
        let mut buf = [0u8; 4096];
        loop {
            while input.len() < limit {
                let room = (limit - input.len()).min(buf.len());
                match self.conn.reader().read(&mut buf[..room]) {
                    Ok(0) => return Ok((got, true)),
                    Ok(n) => {
                        input.extend_from_slice(&buf[..n]);
                        got = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // Closed without close_notify: the same to RTR.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok((got, true)),
                    Err(e) => return Err(e.to_string()),
                }
            }
            if input.len() >= limit || !self.conn.wants_read() {
                return Ok((got, false));
            }
            match self.conn.read_tls(stream) {
                // A client that rejects our certificate may just hang up.
                Ok(0) if self.conn.is_handshaking() => {
                    return Err("TLS handshake failed: closed by router".into())
                }
                Ok(0) => return Ok((got, true)),
                Ok(_) => {
                    got = true;
                    if let Err(e) = self.conn.process_new_packets() {
                        return Err(if self.conn.is_handshaking() {
                            format!("TLS handshake failed: {e}")
                        } else {
                            format!("TLS: {e}")
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((got, false)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Once, when the handshake has just completed: what was agreed, and
    /// the router's certificate as a SHA-256 fingerprint if it sent one,
    /// as a log line; [`TlsConn::details`] keeps them from then on. An
    /// error if the certificate does not name the router's address and it
    /// must (8210bis-27 §9.2: the cache checks the source address against
    /// the certificate's iPAddress subjectAltNames).
    pub fn established(&mut self) -> Result<Option<String>, String> {
        if self.reported || self.conn.is_handshaking() {
            return Ok(None);
        }
        self.reported = true;
        let cert = self.conn.peer_certificates().and_then(|c| c.first());
        let client_certificate = cert.map(|c| fingerprint(c));
        if let (Some(cert), Some(fp)) = (cert, &client_certificate) {
            if self.check_client_address {
                names_address(cert, self.peer)
                    .map_err(|e| format!("client certificate SHA-256 {fp} refused: {e}"))?;
            }
        }
        let details = TlsStatus {
            protocol: self
                .conn
                .protocol_version()
                .map_or("?".into(), |v| format!("{v:?}")),
            cipher: self
                .conn
                .negotiated_cipher_suite()
                .map_or("?".into(), |s| format!("{:?}", s.suite())),
            client_certificate,
        };
        let client = match &details.client_certificate {
            Some(fp) => format!("client certificate SHA-256 {fp}"),
            None => "no client certificate".into(),
        };
        let line = format!("tls {} {}, {client}", details.protocol, details.cipher);
        self.details = Some(details);
        Ok(Some(line))
    }

    /// What was agreed, once [`TlsConn::established`] has reported it.
    pub fn details(&self) -> Option<&TlsStatus> {
        self.details.as_ref()
    }

    /// Queue a `close_notify` alert (written by a last [`TlsConn::flush`]).
    pub fn close(&mut self) {
        self.conn.send_close_notify();
    }
}

/// Whether `cert` carries `addr` as an iPAddress subjectAltName. The
/// chain has been verified by then; this is the name check only.
fn names_address(cert: &CertificateDer<'_>, addr: IpAddr) -> Result<(), String> {
    // A v4-mapped IPv6 source is the IPv4 router it stands for.
    let addr = match addr {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4),
        a @ IpAddr::V4(_) => a,
    };
    let cert = webpki::EndEntityCert::try_from(cert).map_err(|e| format!("{e:?}"))?;
    cert.verify_is_valid_for_subject_name(&ServerName::IpAddress(addr.into()))
        .map_err(|_| format!("it does not name {addr} as an iPAddress subjectAltName"))
}

/// SHA-256 of a certificate, hex, colon-separated as `openssl x509
/// -fingerprint` prints it.
pub fn fingerprint(cert: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_file_holds_at_least_one_certificate() {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let pem = made.cert.pem();
        let chain = pem_certificates(format!("{pem}{pem}").as_bytes()).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].as_ref(), made.cert.der().as_ref());
        assert_eq!(
            pem_certificates(made.key_pair.serialize_pem().as_bytes()).unwrap_err(),
            "no CERTIFICATE in the file"
        );
        let broken = pem.replace("MII", "!!!");
        assert!(pem_certificates(broken.as_bytes())
            .unwrap_err()
            .starts_with("not PEM certificates: "));
        let bad = certificates(b"", Part::ClientCa).unwrap_err();
        assert_eq!(bad.to_string(), "client-ca: no CERTIFICATE in the file");
    }
}
