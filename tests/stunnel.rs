//! RTR over TLS with stunnel in front of rovd, as README.md's "TLS with
//! stunnel" shows it: the shipped `etc/stunnel-rovd.conf`, with only its
//! port, address and file names changed for the test, terminates TLS and
//! passes the session to rovd. A CA and a server certificate for the DNS
//! name `localhost` are made with the `openssl` command in a temporary
//! directory; StayRTR's `rtrdump` (Debian stayrtr), checking the server
//! certificate against that CA and name, fetches the table over TLS, and
//! what it wrote equals the input exactly at version 1, VRPs and router
//! keys. The TLS port answers no plain RTR.
//!
//! RTRTR 0.3.3, the client the other interop tests use for version 2,
//! cannot be used here: its `rtr-tls` unit panics before connecting
//! ("Could not automatically determine the process-level `CryptoProvider`"
//! from rustls 0.23), as built from crates.io with its lock file.

mod common;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::clients::{run, sessions, Service};
use common::data::{expected, Data};
use common::rtr::reset_query;
use common::{config, free_port, is_root, on_path, Daemon, WAIT};

/// The documented stunnel configuration.
const RECIPE: &str = include_str!("../etc/stunnel-rovd.conf");

/// stunnel (Debian's binary is `stunnel4`, with `stunnel` beside it), or
/// the test is skipped (never under CI).
fn stunnel() -> Option<PathBuf> {
    let found = on_path("stunnel4").or_else(|| on_path("stunnel"));
    if found.is_none() {
        common::skip("stunnel not installed (Debian stunnel4)");
    }
    found
}

/// StayRTR's `rtrdump` (Debian stayrtr), or the test is skipped (never
/// under CI).
fn rtrdump() -> Option<PathBuf> {
    let found = on_path("rtrdump");
    if found.is_none() {
        common::skip("rtrdump not installed (Debian stayrtr)");
    }
    found
}

/// A CA and a server certificate for `localhost` signed by it, in `dir`:
/// `ca.crt`, `rovd.crt`, `rovd.key`.
fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        run(Command::new("openssl").current_dir(dir).args(args))
            .unwrap_or_else(|e| panic!("openssl {args:?}: {e}"));
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.crt", "-days", "2"],
            &["-subj", "/CN=rovd test CA"],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "rovd.key",
                "-out",
                "rovd.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    fs::write(
        dir.join("server.ext"),
        "subjectAltName = DNS:localhost\n\
         basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "rovd.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "2",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "rovd.crt",
    ]);
}

/// The recipe with `lines` (a setting's whole line, as documented) each
/// replaced once; `None` drops the line.
fn adapt(recipe: &str, lines: &[(&str, Option<String>)]) -> String {
    let mut out: Vec<String> = recipe.lines().map(str::to_string).collect();
    for (from, to) in lines {
        let at: Vec<usize> = (0..out.len()).filter(|&i| out[i] == *from).collect();
        assert_eq!(at.len(), 1, "{from:?} in etc/stunnel-rovd.conf");
        match to {
            Some(to) => out[at[0]].clone_from(to),
            None => {
                out.remove(at[0]);
            }
        }
    }
    out.join("\n") + "\n"
}

/// A running stunnel with the adapted recipe; stopped on drop.
struct Stunnel {
    service: Service,
    port: u16,
}

impl Stunnel {
    fn start(bin: &Path, dir: &Path, rovd_port: u16) -> Stunnel {
        let port = free_port();
        let file = |name: &str| dir.join(name).display().to_string();
        let mut lines = vec![
            (
                "accept = :::324",
                Some(format!("accept = 127.0.0.1:{port}")),
            ),
            (
                "connect = 127.0.0.1:323",
                Some(format!("connect = 127.0.0.1:{rovd_port}")),
            ),
            (
                "cert = /etc/stunnel/rovd.crt",
                Some(format!("cert = {}", file("rovd.crt"))),
            ),
            (
                "key = /etc/stunnel/rovd.key",
                Some(format!("key = {}", file("rovd.key"))),
            ),
        ];
        if !is_root() {
            // Only root can switch to stunnel's user; the rest is the same.
            lines.push(("setuid = stunnel4", None));
            lines.push(("setgid = stunnel4", None));
        }
        let conf = dir.join("stunnel.conf");
        fs::write(&conf, adapt(RECIPE, &lines)).unwrap();
        let mut stunnel = Stunnel {
            service: Service::spawn("stunnel", Command::new(bin).arg(&conf)),
            port,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = stunnel.service.exited() {
                panic!("stunnel exited ({status}):\n{}", stunnel.service.log.text());
            }
            assert!(
                Instant::now() < deadline,
                "stunnel did not listen:\n{}",
                stunnel.service.log.text()
            );
            thread::sleep(Duration::from_millis(50));
        }
        stunnel
    }
}

#[test]
fn rtrdump_over_tls_through_stunnel() {
    let Some(stunnel_bin) = stunnel() else { return };
    let Some(rtrdump_bin) = rtrdump() else { return };
    let data = Data::generate(95, 20_000, 8_000);
    let json = data.to_json();
    let daemon = Daemon::start(&config(2), &[("vrps.json", json.as_bytes())]);
    daemon.wait_for_data(1);
    // Version 1, VRPs and router keys: rtrdump's version 2 is an early
    // draft's, with another ASPA PDU.
    let want = expected(&json, 1);
    assert!(!want.keys.is_empty(), "test data");

    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let stunnel = Stunnel::start(&stunnel_bin, dir.path(), daemon.port);

    // Plain RTR on the TLS port gets no RTR answer: stunnel takes the
    // query for a broken handshake and closes.
    let mut plain = TcpStream::connect(("127.0.0.1", stunnel.port)).unwrap();
    plain.set_read_timeout(Some(WAIT)).unwrap();
    plain.write_all(&reset_query(2)).unwrap();
    let mut answer = Vec::new();
    match plain.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("plain RTR to stunnel: {e}"),
    }
    assert!(
        answer.first() != Some(&2),
        "stunnel answered plain RTR: {answer:02x?}"
    );
    let mark = daemon.log().len();

    // rtrdump checks the certificate against the name it connects to
    // and the system's roots, which Go lets SSL_CERT_FILE replace.
    let out = dir.path().join("rtrdump.json");
    run(Command::new(&rtrdump_bin)
        .env("SSL_CERT_FILE", dir.path().join("ca.crt"))
        .args(["-type", "tls", "-tls.validate", "-rtr.version", "1"])
        .arg("-connect")
        .arg(format!("localhost:{}", stunnel.port))
        .arg("-file")
        .arg(&out))
    .unwrap_or_else(|e| panic!("rtrdump over TLS: {e}"));
    // rtrdump writes what it received as JSON of the shape the test data
    // has; read back with the same parser, it must be the input exactly.
    let got = expected(&fs::read_to_string(&out).unwrap(), 1);
    got.assert_eq(&want, "rtrdump over TLS through stunnel");

    // rovd served one v1 session to stunnel, on the loopback address.
    let log = daemon.log();
    let later = sessions(&log[mark..]);
    let served: Vec<_> = later.iter().filter(|(_, s)| s.resets > 0).collect();
    assert_eq!(served.len(), 1, "{later:?}\n{log}");
    let (peer, s) = served[0];
    assert!(peer.starts_with("127.0.0.1:"), "{peer}");
    assert_eq!((s.resets, s.versions.as_slice()), (1, &[1u8][..]), "{s:?}");
    assert!(
        stunnel
            .service
            .log
            .text()
            .contains("accepted connection from 127.0.0.1"),
        "{}",
        stunnel.service.log.text()
    );
}
