//! Interop with FRR's bgpd (FRR 8.4, Debian packages frr and
//! frr-rpki-rtrlib; its RPKI module is built on rtrlib 0.8, which speaks
//! RTR v1 and falls back to v0). bgpd runs without zebra, without a BGP
//! listener and without neighbors, with its configuration, pid file, vty
//! socket and log in a private directory; the test reads back the whole
//! prefix table through the vty socket and compares it exactly with the
//! input, after a full sync and again after an incremental update.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use common::clients::{count, opened_peers, peer_of};
use common::data::{expected, Data};
use common::rtr::{Table, Vrp};
use common::{config, Daemon, LogBuf, WAIT};

const BGPD: &str = "/usr/lib/frr/bgpd";

/// The RPKI module, wherever the multiarch layout puts it.
const RPKI_MODULES: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/frr/modules/bgpd_rpki.so",
    "/usr/lib/aarch64-linux-gnu/frr/modules/bgpd_rpki.so",
    "/usr/lib/frr/modules/bgpd_rpki.so",
];

/// Whether FRR's bgpd and its RPKI module are installed.
fn frr() -> bool {
    if !Path::new(BGPD).exists() {
        common::skip("FRR not installed");
        return false;
    }
    if !RPKI_MODULES.iter().any(|m| Path::new(m).exists()) {
        common::skip("frr-rpki-rtrlib not installed");
        return false;
    }
    true
}

//------------ Frr ------------------------------------------------------------

/// A running FRR bgpd with the RPKI module and one cache; stopped and
/// reaped on drop.
struct Frr {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// bgpd's stdout and stderr; rtrlib writes its debug log to stdout.
    out: LogBuf,
}

impl Frr {
    /// Start bgpd against the cache on 127.0.0.1:`port`. The polling
    /// period is an hour, so that anything arriving sooner came by Serial
    /// Notify.
    fn start(port: u16) -> Frr {
        let dir = tempfile::tempdir().expect("temporary directory");
        let d = dir.path().display();
        let conf = format!(
            "log file {d}/frr.log debugging\n\
             debug rpki\n\
             rpki\n \
             rpki polling_period 3600\n \
             rpki cache 127.0.0.1 {port} preference 1\n\
             exit\n"
        );
        let conf_path = dir.path().join("bgpd.conf");
        fs::write(&conf_path, conf).unwrap();
        // -Z no zebra (its socket is still tried, so -z puts it in `dir`),
        // -n no kernel routes, -p 0 no BGP listener, -P 0 no TCP vty, -S
        // no user switch. Outside `dir`, bgpd only makes sure /var/run/frr
        // exists and keeps a crash log directory /var/tmp/frr/bgpd.PID,
        // which it removes when it exits.
        let mut child = Command::new(BGPD)
            .args(["-M", "rpki", "-Z", "-n", "-S", "-p", "0", "-P", "0"])
            .arg("-z")
            .arg(dir.path().join("zserv.api"))
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(dir.path().join("bgpd.pid"))
            .arg("--vty_socket")
            .arg(dir.path())
            .arg("--log")
            .arg(format!("file:{d}/frr.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {BGPD}: {e}"));
        let out = LogBuf::default();
        out.capture(child.stdout.take().unwrap());
        out.capture(child.stderr.take().unwrap());
        Frr {
            dir,
            child: Some(child),
            out,
        }
    }

    /// Run one command on bgpd's vty socket: the command goes out
    /// NUL-terminated, the answer ends in three NULs and a status octet.
    /// `None` while the socket is not up yet or the command fails, as
    /// `show rpki` commands do before the first connection to the cache.
    fn vty(&mut self, cmd: &str) -> Option<String> {
        self.assert_running();
        let mut s = UnixStream::connect(self.dir.path().join("bgpd.vty")).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(cmd.as_bytes()).unwrap();
        s.write_all(b"\0").unwrap();
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 65_536];
        loop {
            match s.read(&mut chunk) {
                Ok(0) => panic!("bgpd closed the vty during {cmd:?}"),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => panic!("vty {cmd:?}: {e}"),
            }
            let n = buf.len();
            if n >= 4 && buf[n - 4..n - 1] == [0, 0, 0] {
                let status = buf[n - 1];
                buf.truncate(n - 4);
                return (status == 0).then(|| String::from_utf8_lossy(&buf).into_owned());
            }
        }
    }

    /// The VRPs bgpd holds, and the per-family counts it reports.
    fn prefix_table(&mut self) -> Option<(BTreeSet<Vrp>, usize, usize)> {
        parse_prefix_table(&self.vty("show rpki prefix-table")?)
    }

    /// Wait until bgpd holds exactly the VRPs of `want`; panics with the
    /// difference after `WAIT`.
    fn wait_for(&mut self, want: &Table, what: &str) {
        let deadline = Instant::now() + WAIT;
        let counts = family_counts(&want.vrps);
        loop {
            let got = self.prefix_table();
            if let Some((vrps, n4, n6)) = &got {
                if vrps == &want.vrps {
                    assert_eq!((*n4, *n6), counts, "FRR's prefix counts, {what}");
                    return;
                }
            }
            if Instant::now() > deadline {
                let (vrps, ..) = got.unwrap_or_default();
                let got = Table {
                    vrps,
                    ..Table::default()
                };
                got.assert_eq(want, &format!("FRR {what}"));
            }
            thread::sleep(Duration::from_millis(250));
        }
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            panic!("FRR bgpd exited ({status})");
        }
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id();
            let _ = kill(Pid::from_raw(i32::try_from(pid).unwrap()), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            if child.try_wait().ok().flatten().is_none() {
                let _ = kill(Pid::from_raw(i32::try_from(pid).unwrap()), Signal::SIGKILL);
                let _ = child.wait();
                // Killed, bgpd could not remove its crash log directory.
                let _ = fs::remove_dir_all(format!("/var/tmp/frr/bgpd.{pid}"));
            }
        }
        if thread::panicking() {
            thread::sleep(Duration::from_millis(200));
            let log = fs::read_to_string(self.dir.path().join("frr.log")).unwrap_or_default();
            eprintln!(
                "---- FRR bgpd output {}\n---- FRR frr.log {}",
                tail(&self.out.text()),
                tail(&log)
            );
        }
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(200);
    format!(
        "({} lines, last {})\n{}",
        lines.len(),
        lines.len() - from,
        lines[from..].join("\n")
    )
}

/// Parse FRR 8.4's `show rpki prefix-table`:
///
/// ```text
/// RPKI/RTR prefix table
/// Prefix                                   Prefix Length  Origin-AS
/// 192.0.2.0                                   24 -  26        64496
/// Number of IPv4 Prefixes: 1
/// Number of IPv6 Prefixes: 0
/// ```
///
/// `None` unless the output is complete.
fn parse_prefix_table(text: &str) -> Option<(BTreeSet<Vrp>, usize, usize)> {
    let mut vrps = BTreeSet::new();
    let (mut n4, mut n6) = (None, None);
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] | ["RPKI/RTR" | "Prefix", ..] => {}
            ["Number", "of", "IPv4", "Prefixes:", n] => n4 = n.parse().ok(),
            ["Number", "of", "IPv6", "Prefixes:", n] => n6 = n.parse().ok(),
            [addr, len, "-", max_len, asn] => {
                let vrp = Vrp {
                    addr: addr.parse().expect(line),
                    len: len.parse().expect(line),
                    max_len: max_len.parse().expect(line),
                    asn: asn.parse().expect(line),
                };
                assert!(vrps.insert(vrp), "FRR lists {vrp} twice");
            }
            _ => panic!("unexpected line in FRR's prefix table: {line:?}"),
        }
    }
    Some((vrps, n4?, n6?))
}

/// IPv4 and IPv6 VRPs in `vrps`.
fn family_counts(vrps: &BTreeSet<Vrp>) -> (usize, usize) {
    let n4 = vrps.iter().filter(|v| v.addr.is_ipv4()).count();
    (n4, vrps.len() - n4)
}

//------------ Daemon log -----------------------------------------------------

//------------ Tests ----------------------------------------------------------

/// FRR against rovd with `max_version`, ending up at `version`: a full
/// sync compared exactly, then a change followed incrementally on the
/// same session.
fn sync_and_follow(max_version: u8, version: u8, seed: u64) {
    if !frr() {
        return;
    }
    let data = Data::generate(seed, 20_000, 8_000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let daemon = Daemon::start(&config(max_version), &[("vrps.json", json1.as_bytes())]);
    // The harness's own session, to wait for data; FRR's are the others.
    let (probe, _) = daemon.wait_for_data(version);
    drop(probe);
    daemon.wait_for_log(": reset query", WAIT);
    let ours = opened_peers(&daemon.log());
    let frr_sessions = || -> Vec<String> {
        let mut s = opened_peers(&daemon.log());
        s.retain(|p| !ours.contains(p));
        s
    };
    // FRR lists VRPs only: no router keys at any version.
    let vrps_of = |json: &str| Table {
        vrps: expected(json, version).vrps,
        ..Table::default()
    };
    let (want1, want2) = (vrps_of(&json1), vrps_of(&json2));
    assert_ne!(want1, want2, "test data without change");

    let started = Instant::now();
    let mut frr = Frr::start(daemon.port);
    frr.wait_for(&want1, &format!("v{version} full sync"));
    println!(
        "FRR synced {} VRPs in {:?}",
        want1.vrps.len(),
        started.elapsed()
    );
    let connection = frr.vty("show rpki cache-connection").unwrap();
    assert!(
        connection.contains(&format!("127.0.0.1 {} pref 1 (connected)", daemon.port)),
        "FRR's cache connection: {connection}"
    );
    let log = daemon.log();
    let peers = frr_sessions();
    let peer = peers.last().expect("no session from FRR").clone();
    let at = format!(": version {version}");
    assert!(
        log.lines()
            .any(|l| l.ends_with(&at) && peer_of(l) == Some(peer.as_str())),
        "FRR's session {peer} is not at v{version}"
    );
    println!("FRR's sessions to reach v{version}: {peers:?}");
    if max_version >= 1 {
        // rtrlib opens with v1: one session, one Reset Query.
        assert_eq!(peers.len(), 1, "FRR sessions: {peers:?}");
    } else {
        // Its v1 Reset Query is refused; it reconnects at v0.
        assert_eq!(peers.len(), 2, "FRR sessions: {peers:?}");
        assert_eq!(
            count(
                &log,
                &peers[0],
                "query at version 1, answered Unsupported Protocol Version"
            ),
            1,
            "FRR's first session was not refused at v1"
        );
    }
    assert_eq!(count(&log, &peer, ": reset query"), 1);

    let changed = Instant::now();
    daemon.replace_file("vrps.json", json2.as_bytes());
    frr.wait_for(&want2, &format!("v{version} after the change"));
    println!("FRR followed the change in {:?}", changed.elapsed());
    // Serial Notify, then Serial Query on the same session: no reconnect
    // and no second Reset Query.
    assert!(
        daemon.log_wait(WAIT, |log| count(log, &peer, ": serial query from ") >= 1),
        "no Serial Query from FRR"
    );
    let log = daemon.log();
    assert_eq!(frr_sessions(), peers, "FRR reconnected for the update");
    assert_eq!(count(&log, &peer, ": reset query"), 1, "FRR reset");
    assert_eq!(count(&log, &peer, " closed ("), 0, "FRR's session closed");
}

#[test]
fn frr_v1_sync_and_serial_update() {
    sync_and_follow(2, 1, 31);
}

#[test]
fn frr_falls_back_to_v0() {
    sync_and_follow(0, 0, 32);
}

#[test]
fn frr_prefix_table_parses() {
    let text = "RPKI/RTR prefix table\n\
                Prefix                                   Prefix Length  Origin-AS\n\
                192.0.2.0                                   24 -  26        64496\n\
                2001:db8::                                  32 -  48            0\n\
                Number of IPv4 Prefixes: 1\n\
                Number of IPv6 Prefixes: 1\n";
    let (vrps, n4, n6) = parse_prefix_table(text).unwrap();
    assert_eq!((n4, n6), (1, 1));
    assert_eq!(family_counts(&vrps), (1, 1));
    assert!(vrps.contains(&Vrp {
        addr: "2001:db8::".parse().unwrap(),
        len: 32,
        max_len: 48,
        asn: 0,
    }));
    assert!(parse_prefix_table("RPKI/RTR prefix table\n").is_none());
    assert_eq!(
        peer_of("rtr: session 127.0.0.1:4711: serial query from 3"),
        Some("127.0.0.1:4711")
    );
    assert_eq!(
        peer_of("rtr: session 127.0.0.1:4711 opened"),
        Some("127.0.0.1:4711")
    );
}
