//! RTR over TLS (RFC 8210 §9, 8210bis-27 §9): the built `rovd` with a
//! `[tls]` listener, certificates made in the test by rcgen.
//!
//! - RTRTR's `rtr-tls` unit syncs over TLS and holds exactly the input;
//!   with the wrong CA it gets nothing and rovd logs the failed handshake.
//!   (RTRTR 0.3.3's `rtr-tls` unit cannot present a client certificate:
//!   mutual TLS is tested with this suite's own rustls client. RTRTR
//!   0.3.3 built with `--locked` cannot run `rtr-tls` at all: its rustls
//!   gets both the ring and the aws-lc-rs provider, picks neither and
//!   panics. These tests therefore use RTRTR 0.3.2, which `.ci/run`
//!   installs beside the other, in `$CARGO_HOME/rtrtr-0.3.2`.)
//! - With `client-ca`, only a router with a certificate from that CA is
//!   served.
//! - SIGHUP with a new certificate: the established session goes on (Serial
//!   Notify, Serial Query), a new one sees the new certificate.
//! - `rovd -n` refuses a key that does not belong to the certificate.
//!
//! Run as root, the daemon starts as root through the common harness and
//! serves TLS from its chrooted, seccomp-filtered rtr worker.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::data::{expected, Data};
use common::rtrtr::Rtrtr;
use common::tls::{der_of, Issued, Pki, TlsRtrClient};
use common::{config, free_port, is_root, Daemon, WAIT};
use nix::sys::signal::Signal;

/// The standard configuration plus a TLS listener on `tls_port`, with the
/// server certificate and key in `server.pem` and `server.key`.
fn tls_config(tls_port: u16, client_ca: bool) -> String {
    let mut c = format!(
        "{}\n[tls]\nlisten = [\"127.0.0.1:{tls_port}\"]\n\
         certificate = \"server.pem\"\nkey = \"server.key\"\n",
        config(2)
    );
    if client_ca {
        c.push_str("client-ca = \"routers.pem\"\n");
    }
    c
}

/// A daemon serving `json` over plain RTR and TLS, with `server` as its
/// certificate and, if given, client certificates required from
/// `client_ca`.
fn start(json: &str, server: &Issued, client_ca: Option<&str>) -> (Daemon, u16) {
    let tls_port = free_port();
    let mut files: Vec<(&str, &[u8])> = vec![
        ("vrps.json", json.as_bytes()),
        ("server.pem", server.cert_pem.as_bytes()),
        ("server.key", server.key_pem.as_bytes()),
    ];
    if let Some(ca) = client_ca {
        files.push(("routers.pem", ca.as_bytes()));
    }
    let daemon = Daemon::start(&tls_config(tls_port, client_ca.is_some()), &files);
    daemon.wait_for_data(2);
    if is_root() {
        assert!(daemon.log().contains("rtr: running as _rovd, chrooted"));
    }
    (daemon, tls_port)
}

//------------ RTRTR ----------------------------------------------------------

/// RTRTR 0.3.2: `ROVD_RTRTR_TLS`, else where `.ci/run` installs it.
fn rtrtr() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let found = std::env::var_os("ROVD_RTRTR_TLS")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join("rtrtr-0.3.2/bin/rtrtr")))
        .filter(|p| p.is_file());
    if found.is_none() {
        common::skip(
            "RTRTR 0.3.2 not installed \
             (cargo install --locked rtrtr@0.3.2 --root ~/.cargo/rtrtr-0.3.2)",
        );
    }
    found
}

#[test]
fn rtrtr_syncs_over_tls() {
    let Some(bin) = rtrtr() else { return };
    let pki = Pki::new("rovd test CA");
    let json = Data::generate(81, 20_000, 8_000).to_json();
    let (daemon, tls_port) = start(&json, &pki.server("rovd"), None);
    let rtrtr = Rtrtr::tls(&bin, tls_port, &pki.ca_pem);
    let want = expected(&json, 2);
    assert!(!want.keys.is_empty() && !want.aspas.is_empty(), "test data");
    rtrtr.wait_for(2, &want, "RTRTR over TLS");
    let log = daemon.log();
    assert!(
        log.contains(": tls TLSv1_3 ") && log.contains("no client certificate"),
        "{log}"
    );
}

#[test]
fn tls_1_2_and_1_3_both_serve_the_table() {
    let pki = Pki::new("rovd test CA");
    let json = Data::generate(85, 3_000, 1_000).to_json();
    let (daemon, tls_port) = start(&json, &pki.server("rovd"), None);
    let want = expected(&json, 2);
    for (version, name) in [
        (&rustls::version::TLS12, "TLSv1_2"),
        (&rustls::version::TLS13, "TLSv1_3"),
    ] {
        TlsRtrClient::connect_with(tls_port, &pki.ca_pem, None, &[version])
            .unwrap()
            .sync_full(2)
            .unwrap()
            .table
            .assert_eq(&want, name);
        assert!(
            daemon.log_wait(WAIT, |l| l.contains(&format!(": tls {name} "))),
            "{}",
            daemon.log()
        );
    }
}

#[test]
fn rtrtr_with_a_wrong_ca_gets_nothing() {
    let Some(bin) = rtrtr() else { return };
    let (pki, other) = (Pki::new("rovd test CA"), Pki::new("another CA"));
    let json = Data::generate(82, 2_000, 500).to_json();
    let (daemon, tls_port) = start(&json, &pki.server("rovd"), None);
    let rtrtr = Rtrtr::tls(&bin, tls_port, &other.ca_pem);
    // RTRTR refuses rovd's certificate and says so with an alert.
    daemon.wait_for_log("TLS handshake failed", WAIT);
    assert!(!daemon.log().contains(": tls TLSv1"), "{}", daemon.log());
    assert_eq!(rtrtr.table(2), None, "RTRTR has data it cannot have got");
}

//------------ Mutual TLS -----------------------------------------------------

#[test]
fn client_certificates_from_the_client_ca_only() {
    let (pki, routers, other) = (
        Pki::new("rovd test CA"),
        Pki::new("router CA"),
        Pki::new("another CA"),
    );
    let json = Data::generate(83, 5_000, 1_000).to_json();
    let (daemon, tls_port) = start(&json, &pki.server("rovd"), Some(&routers.ca_pem));
    let want = expected(&json, 2);

    // The right certificate: the exact data.
    let router = routers.client("router-1");
    let mut c = TlsRtrClient::connect(tls_port, &pki.ca_pem, Some(&router)).unwrap();
    c.sync_full(2)
        .unwrap()
        .table
        .assert_eq(&want, "mTLS router");
    let fp = rovd::rtr::tls::fingerprint(&der_of(&router.cert_pem));
    assert!(
        daemon
            .log()
            .contains(&format!("client certificate SHA-256 {fp}")),
        "{}",
        daemon.log()
    );

    // No certificate, and one from another CA: no data.
    let stranger = other.client("router-2");
    for (what, client) in [("no certificate", None), ("another CA", Some(&stranger))] {
        let before = daemon.log_count("TLS handshake failed");
        let got =
            TlsRtrClient::connect(tls_port, &pki.ca_pem, client).and_then(|mut c| c.sync_full(2));
        assert!(got.is_err(), "{what}: served {got:?}");
        assert!(
            daemon.log_wait(WAIT, |l| l.matches("TLS handshake failed").count() > before),
            "{what}: {}",
            daemon.log()
        );
    }
    // The right CA, but a certificate for another router's address: the
    // handshake succeeds, the address check (8210bis-27 §9.2) ends it.
    let elsewhere = routers.client_at("router-3", "192.0.2.3".parse().unwrap());
    let got = TlsRtrClient::connect(tls_port, &pki.ca_pem, Some(&elsewhere))
        .and_then(|mut c| c.sync_full(2));
    assert!(got.is_err(), "another router's certificate: served {got:?}");
    assert!(
        daemon.log_wait(WAIT, |l| l.contains(
            "refused: it does not name 127.0.0.1 as an iPAddress subjectAltName"
        )),
        "{}",
        daemon.log()
    );
    // The good session is still there.
    c.send(&common::rtr::reset_query(2)).unwrap();
    drop(daemon);

    // With the check off, the chain alone decides.
    let tls_port = free_port();
    let server = pki.server("rovd");
    let daemon = Daemon::start(
        &(tls_config(tls_port, true) + "check-client-address = false\n"),
        &[
            ("vrps.json", json.as_bytes()),
            ("server.pem", server.cert_pem.as_bytes()),
            ("server.key", server.key_pem.as_bytes()),
            ("routers.pem", routers.ca_pem.as_bytes()),
        ],
    );
    daemon.wait_for_data(2);
    TlsRtrClient::connect(tls_port, &pki.ca_pem, Some(&elsewhere))
        .unwrap()
        .sync_full(2)
        .unwrap()
        .table
        .assert_eq(&want, "check-client-address = false");
}

//------------ Reload ---------------------------------------------------------

#[test]
fn sighup_gives_new_sessions_the_new_certificate() {
    let (old_ca, new_ca) = (Pki::new("old CA"), Pki::new("new CA"));
    let (old, new) = (old_ca.server("rovd old"), new_ca.server("rovd new"));
    let data = Data::generate(84, 3_000, 1_000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let (daemon, tls_port) = start(&json1, &old, None);

    let mut first = TlsRtrClient::connect(tls_port, &old_ca.ca_pem, None).unwrap();
    assert_eq!(first.server_certificate(), der_of(&old.cert_pem));
    let mut state = first.sync_full(2).unwrap();
    state
        .table
        .assert_eq(&expected(&json1, 2), "before the reload");

    fs::write(daemon.path("server.pem"), &new.cert_pem).unwrap();
    fs::write(daemon.path("server.key"), &new.key_pem).unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for_log("TLS certificate reloaded", WAIT);

    // The established session follows a change.
    daemon.replace_file("vrps.json", json2.as_bytes());
    let serial = first.expect_notify(WAIT);
    first.sync_serial(&mut state);
    assert_eq!(state.serial, serial);
    state
        .table
        .assert_eq(&expected(&json2, 2), "established session after the reload");

    // A new session gets the new certificate; the old CA no longer works.
    let mut second = TlsRtrClient::connect(tls_port, &new_ca.ca_pem, None).unwrap();
    assert_eq!(second.server_certificate(), der_of(&new.cert_pem));
    second
        .sync_full(2)
        .unwrap()
        .table
        .assert_eq(&expected(&json2, 2), "new session");
    assert!(TlsRtrClient::connect(tls_port, &old_ca.ca_pem, None).is_err());

    // A broken certificate on the next reload: logged, the current one stays.
    fs::write(daemon.path("server.pem"), "not a certificate\n").unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for_log("keeping the current TLS certificate", WAIT);
    let mut third = TlsRtrClient::connect(tls_port, &new_ca.ca_pem, None).unwrap();
    assert_eq!(third.server_certificate(), der_of(&new.cert_pem));
    third.sync_full(2).unwrap();
}

//------------ rovd -n --------------------------------------------------------

#[test]
fn check_refuses_a_key_of_another_certificate() {
    let pki = Pki::new("rovd test CA");
    let (a, b) = (pki.server("a"), pki.server("b"));
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("rovd.conf");
    fs::write(&conf, tls_config(324, false).replace("@PORT@", "323")).unwrap();
    fs::write(dir.path().join("vrps.json"), "{\"roas\": []}").unwrap();
    fs::write(dir.path().join("server.pem"), &a.cert_pem).unwrap();
    let check = || {
        Command::new(common::ROVD)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .output()
            .unwrap()
    };

    fs::write(dir.path().join("server.key"), &a.key_pem).unwrap();
    let out = check();
    assert!(out.status.success(), "{out:?}");

    fs::write(dir.path().join("server.key"), &b.key_pem).unwrap();
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    let key = dir.path().join("server.key");
    assert!(
        err.contains(&format!("{}: ", key.display())) && err.contains("does not belong"),
        "{err}"
    );

    fs::write(dir.path().join("server.pem"), "garbage\n").unwrap();
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    let cert = dir.path().join("server.pem");
    assert!(err.contains(&format!("{}: ", cert.display())), "{err}");
}
