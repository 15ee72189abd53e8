//! TLS for the tests: a certificate authority made in the test with rcgen,
//! server and client certificates under it, and a blocking RTR-over-TLS
//! client (rustls, ring) that shares only the PDU decoder of `rtr` — none
//! of the daemon's code.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::rtr::{decode, reset_query, serial_query, Pdu, Synced, Table};

//------------ Pki ------------------------------------------------------------

/// A certificate authority of the test's own.
pub(crate) struct Pki {
    pub ca_pem: String,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

/// A certificate and its key, PEM.
pub(crate) struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Pki {
    pub(crate) fn new(name: &str) -> Pki {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        Pki {
            ca_pem: ca.pem(),
            ca,
            ca_key,
        }
    }

    fn issue(&self, name: &str, server: bool, addr: IpAddr) -> Issued {
        let mut params = if server {
            CertificateParams::new(vec!["localhost".to_string()]).unwrap()
        } else {
            CertificateParams::default()
        };
        params.subject_alt_names.push(SanType::IpAddress(addr));
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub(crate) fn server(&self, name: &str) -> Issued {
        self.issue(name, true, IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// A client (router) certificate for a router at 127.0.0.1, as
    /// 8210bis-27 §9.2 wants it: its address as an iPAddress SAN.
    pub(crate) fn client(&self, name: &str) -> Issued {
        self.client_at(name, IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// A client (router) certificate for a router at `addr`.
    pub(crate) fn client_at(&self, name: &str, addr: IpAddr) -> Issued {
        self.issue(name, false, addr)
    }
}

/// The DER of the first certificate in `pem`.
pub(crate) fn der_of(pem: &str) -> Vec<u8> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .expect("a certificate")
        .unwrap()
        .to_vec()
}

//------------ TlsRtrClient ---------------------------------------------------

/// One RTR-over-TLS connection to the cache on 127.0.0.1.
pub(crate) struct TlsRtrClient {
    stream: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl TlsRtrClient {
    /// Connect and complete the handshake, trusting `ca_pem`, presenting
    /// `client` if given; the handshake's error otherwise.
    pub(crate) fn connect(
        port: u16,
        ca_pem: &str,
        client: Option<&Issued>,
    ) -> Result<Self, String> {
        Self::connect_with(port, ca_pem, client, rustls::DEFAULT_VERSIONS)
    }

    /// As [`TlsRtrClient::connect`], offering only `versions` of TLS.
    pub(crate) fn connect_with(
        port: u16,
        ca_pem: &str,
        client: Option<&Issued>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Result<Self, String> {
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .unwrap()
                .with_root_certificates(roots);
        let config = match client {
            None => builder.with_no_client_auth(),
            Some(c) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(c.cert_pem.as_bytes())
                        .map(Result::unwrap)
                        .collect(),
                    PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).unwrap(),
                )
                .unwrap(),
        };
        let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
        let conn = ClientConnection::new(Arc::new(config), name).unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        sock.set_read_timeout(Some(super::WAIT)).unwrap();
        let mut stream = StreamOwned::new(conn, sock);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| e.to_string())?;
        }
        // TLS 1.3: the server checks the client's certificate after the
        // client considers the handshake done; its verdict comes with the
        // first read.
        Ok(TlsRtrClient {
            stream,
            buf: Vec::new(),
        })
    }

    /// The DER of the certificate the server presented.
    pub(crate) fn server_certificate(&self) -> Vec<u8> {
        self.stream.conn.peer_certificates().unwrap()[0].to_vec()
    }

    pub(crate) fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush())
            .map_err(|e| e.to_string())
    }

    /// The next PDU within `timeout`; `Err` on close, a TLS error or
    /// timeout.
    pub(crate) fn next_pdu(&mut self, timeout: Duration) -> Result<Pdu, String> {
        let deadline = Instant::now() + timeout;
        let mut chunk = vec![0u8; 65_536];
        loop {
            if let Some((pdu, n)) = decode(&self.buf) {
                self.buf.drain(..n);
                return Ok(pdu);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err("timeout".into());
            }
            self.stream
                .sock
                .set_read_timeout(Some(deadline - now))
                .unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("closed".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Cache Response, payload, End of Data.
    fn read_data(&mut self) -> Result<(u16, u32, Vec<Pdu>), String> {
        let (session, mut payload) = loop {
            match self.next_pdu(super::WAIT)? {
                Pdu::CacheResponse { session, .. } => break (session, Vec::new()),
                Pdu::SerialNotify { .. } => {}
                other => return Err(format!("expected Cache Response, got {other:?}")),
            }
        };
        loop {
            match self.next_pdu(super::WAIT)? {
                Pdu::EndOfData { serial, .. } => return Ok((session, serial, payload)),
                p @ (Pdu::Ipv4Prefix { .. }
                | Pdu::Ipv6Prefix { .. }
                | Pdu::RouterKey { .. }
                | Pdu::Aspa { .. }) => payload.push(p),
                other => return Err(format!("unexpected PDU inside an answer: {other:?}")),
            }
        }
    }

    /// Reset Query at `version` and the full data.
    pub(crate) fn sync_full(&mut self, version: u8) -> Result<Synced, String> {
        self.send(&reset_query(version))?;
        let (session, serial, payload) = self.read_data()?;
        Ok(Synced {
            version,
            session,
            serial,
            timers: None,
            table: Table::from_full(&payload),
        })
    }

    /// Wait for a Serial Notify; its serial.
    pub(crate) fn expect_notify(&mut self, timeout: Duration) -> u32 {
        match self.next_pdu(timeout) {
            Ok(Pdu::SerialNotify { serial, .. }) => serial,
            other => panic!("expected Serial Notify, got {other:?}"),
        }
    }

    /// Serial Query from `state` and apply the delta.
    pub(crate) fn sync_serial(&mut self, state: &mut Synced) {
        self.send(&serial_query(state.version, state.session, state.serial))
            .unwrap();
        let (session, serial, payload) = self.read_data().unwrap();
        assert_eq!(session, state.session);
        state.table.apply_delta(&payload);
        state.serial = serial;
    }
}
