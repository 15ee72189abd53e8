//! Interop with OpenBGPD (7.7 portable, Debian package openbgpd), which
//! speaks RTR v1 only. bgpd runs in the foreground, privilege-separated as
//! it always is, with its configuration and control socket in a private
//! directory, listening on a free loopback port, without neighbors and
//! without touching the kernel routing table. OpenBGPD cannot list the
//! VRPs it holds: `bgpctl show sets` gives per-family counts of distinct
//! prefixes in its ROA table, and `bgpctl show rtr` the session ID and
//! serial, which are compared with the cache's.
//!
//! bgpd needs root and chroots its engines into the home directory of its
//! user `_openbgpd`, `/run/openbgpd`, which the package leaves to
//! systemd's `RuntimeDirectory=`: where it is missing the test is skipped
//! (under CI it fails), and `install -d -m 0755 /run/openbgpd` fixes it.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use common::clients::{count, opened_peers, peer_of};
use common::data::{expected, Data};
use common::rtr::Table;
use common::{children_of, config, free_port, is_root, still_exists, Daemon, LogBuf, WAIT};

/// OpenBGPD's bgpd and bgpctl, if installed and runnable here.
fn openbgpd() -> Option<(PathBuf, PathBuf)> {
    let bins = ["/usr/sbin/bgpd", "/usr/sbin/bgpctl"].map(PathBuf::from);
    // bgpd -V prints "OpenBGPD 7.7" to stderr; FRR's bgpd is elsewhere.
    let version = run(Command::new(&bins[0]).arg("-V"), Duration::from_secs(5));
    if !bins.iter().all(|b| b.exists())
        || !String::from_utf8_lossy(&version.map(|o| o.stderr).unwrap_or_default())
            .starts_with("OpenBGPD")
    {
        common::skip("OpenBGPD not installed");
        return None;
    }
    if !is_root() {
        common::skip("needs root (OpenBGPD runs privilege-separated)");
        return None;
    }
    let user = ["_openbgpd", "_bgpd"]
        .iter()
        .find_map(|u| nix::unistd::User::from_name(u).ok().flatten());
    let Some(user) = user else {
        common::skip("OpenBGPD's user _openbgpd does not exist");
        return None;
    };
    if !user.dir.is_dir() {
        common::skip(&format!(
            "OpenBGPD chroots into {} ({}'s home), which does not exist: \
             install -d -m 0755 {0}",
            user.dir.display(),
            user.name
        ));
        return None;
    }
    let [bgpd, bgpctl] = bins;
    Some((bgpd, bgpctl))
}

/// Run `cmd` to completion with its output captured, killing it after
/// `timeout`; `None` if it could not run or took too long.
fn run(cmd: &mut Command, timeout: Duration) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let reader = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    Some(Output {
        status: status?,
        stdout,
        stderr,
    })
}

//------------ Openbgpd -------------------------------------------------------

/// What `bgpctl show rtr` and `show sets` say about the one RTR session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RtrState {
    session: Option<u64>,
    serial: Option<u64>,
    /// Distinct IPv4 and IPv6 prefixes in the ROA table.
    prefixes: (u64, u64),
    last_sent_error: Option<String>,
    last_recv_error: Option<String>,
}

/// A running `bgpd -d -v`; stopped, and its children too, on drop.
struct Openbgpd {
    dir: tempfile::TempDir,
    bgpctl: PathBuf,
    child: Option<Child>,
    /// bgpd's log (stderr in the foreground).
    log: LogBuf,
}

impl Openbgpd {
    /// Start bgpd with one RTR session to 127.0.0.1:`port`.
    fn start(bgpd: &Path, bgpctl: &Path, port: u16) -> Openbgpd {
        let dir = tempfile::tempdir().expect("temporary directory");
        let conf = format!(
            "AS 64496\n\
             router-id 127.0.0.1\n\
             fib-update no\n\
             listen on 127.0.0.1 port {}\n\
             socket \"{}\"\n\
             rtr 127.0.0.1 {{\n\
             \tdescr \"rovd\"\n\
             \tport {port}\n\
             }}\n",
            free_port(),
            dir.path().join("bgpd.sock").display()
        );
        let conf_path = dir.path().join("bgpd.conf");
        fs::write(&conf_path, conf).unwrap();
        // bgpd re-executes argv[0] for its engines: an absolute path, so
        // that no other bgpd on PATH (FRR's, say) is picked up.
        let mut child = Command::new(bgpd)
            .args(["-d", "-v", "-f"])
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bgpd.display()));
        let log = LogBuf::default();
        log.capture(child.stdout.take().unwrap());
        log.capture(child.stderr.take().unwrap());
        Openbgpd {
            dir,
            bgpctl: bgpctl.to_path_buf(),
            child: Some(child),
            log,
        }
    }

    /// `bgpctl -j ARGS` on this bgpd's socket; `None` until it answers.
    fn bgpctl(&mut self, args: &[&str]) -> Option<Value> {
        self.assert_running();
        let out = run(
            Command::new(&self.bgpctl)
                .arg("-s")
                .arg(self.dir.path().join("bgpd.sock"))
                .arg("-j")
                .args(args),
            Duration::from_secs(10),
        )?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// The RTR session's state, once bgpd answers.
    fn state(&mut self) -> Option<RtrState> {
        let rtr = self.bgpctl(&["show", "rtr"])?;
        let sets = self.bgpctl(&["show", "sets"])?;
        let rtrs = rtr["rtrs"].as_array()?;
        assert_eq!(rtrs.len(), 1, "RTR sessions: {rtr}");
        let s = &rtrs[0];
        let text = |key: &str| s[key].as_str().map(str::to_string);
        let mut state = RtrState {
            session: s["session_id"].as_u64(),
            serial: s["serial"].as_u64(),
            last_sent_error: text("last_sent_error"),
            last_recv_error: text("last_recv_error"),
            ..RtrState::default()
        };
        for set in sets["sets"].as_array().into_iter().flatten() {
            if set["type"] == "ROA" {
                state.prefixes = (
                    set["num_IPv4"].as_u64().unwrap_or(0),
                    set["num_IPv6"].as_u64().unwrap_or(0),
                );
            }
        }
        Some(state)
    }

    /// Wait until `pred` holds for the RTR state; panics after `WAIT`.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&RtrState) -> bool) -> RtrState {
        let deadline = Instant::now() + WAIT;
        loop {
            let state = self.state();
            if let Some(s) = &state {
                if pred(s) {
                    return s.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "OpenBGPD {what}: not within {WAIT:?}; last state {state:?}"
            );
            thread::sleep(Duration::from_millis(250));
        }
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            panic!("OpenBGPD bgpd exited ({status})");
        }
    }
}

impl Drop for Openbgpd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The engines are bgpd's children, not ours: note them before
            // the parent goes, and make sure they went with it.
            let engines = children_of(child.id());
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
            for p in engines {
                if still_exists(&p) {
                    let _ = kill(
                        Pid::from_raw(i32::try_from(p.pid).unwrap()),
                        Signal::SIGKILL,
                    );
                }
            }
        }
        if thread::panicking() {
            thread::sleep(Duration::from_millis(200));
            eprintln!(
                "---- OpenBGPD log\n{}---- end of OpenBGPD log",
                self.log.text()
            );
        }
    }
}

/// What OpenBGPD counts for `table`: distinct prefixes per family, its ROA
/// table being a trie with one node per prefix that holds the origins and
/// maximum lengths.
fn prefix_counts(table: &Table) -> (u64, u64) {
    let prefixes: BTreeSet<(IpAddr, u8)> = table.vrps.iter().map(|v| (v.addr, v.len)).collect();
    let n4 = prefixes.iter().filter(|(a, _)| a.is_ipv4()).count() as u64;
    (n4, prefixes.len() as u64 - n4)
}

//------------ Daemon log -----------------------------------------------------

//------------ Tests ----------------------------------------------------------

/// A full sync at v1 and a change followed on the same session: session ID,
/// serial and per-family prefix counts as the cache has them.
#[test]
fn openbgpd_v1_sync_and_serial_update() {
    let Some((bgpd, bgpctl)) = openbgpd() else {
        return;
    };
    let data = Data::generate(41, 20_000, 8_000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let daemon = Daemon::start(&config(2), &[("vrps.json", json1.as_bytes())]);
    // The harness's own session gives the session ID and serial to expect;
    // OpenBGPD's sessions are the others.
    let (probe, synced) = daemon.wait_for_data(1);
    drop(probe);
    daemon.wait_for_log(": reset query", WAIT);
    let ours = opened_peers(&daemon.log());
    let theirs = || -> Vec<String> {
        let mut s = opened_peers(&daemon.log());
        s.retain(|p| !ours.contains(p));
        s
    };
    let (want1, want2) = (expected(&json1, 1), expected(&json2, 1));
    synced.table.assert_eq(&want1, "harness client");
    let (counts1, counts2) = (prefix_counts(&want1), prefix_counts(&want2));
    assert_ne!(counts1, counts2, "test data: the change leaves the counts");

    let started = Instant::now();
    let mut bgpd = Openbgpd::start(&bgpd, &bgpctl, daemon.port);
    let state = bgpd.wait_for("full sync", |s| {
        s.session.is_some() && s.serial.is_some() && s.prefixes == counts1
    });
    println!(
        "OpenBGPD synced {} VRPs ({counts1:?} prefixes) in {:?}",
        want1.vrps.len(),
        started.elapsed()
    );
    assert_eq!(
        (state.session, state.serial),
        (
            Some(u64::from(synced.session)),
            Some(u64::from(synced.serial))
        ),
        "OpenBGPD's session ID and serial"
    );
    assert_eq!((state.last_sent_error, state.last_recv_error), (None, None));
    let log = daemon.log();
    let peers = theirs();
    assert_eq!(peers.len(), 1, "OpenBGPD sessions: {peers:?}");
    let peer = &peers[0];
    assert!(
        log.lines()
            .any(|l| peer_of(l) == Some(peer.as_str()) && l.ends_with(": version 1")),
        "OpenBGPD's session is not at v1"
    );
    assert_eq!(count(&log, peer, ": reset query"), 1);

    // rovd's refresh interval is an hour: the change comes by Serial
    // Notify, which OpenBGPD answers by running its refresh timer at once.
    let changed = Instant::now();
    daemon.replace_file("vrps.json", json2.as_bytes());
    let next = Some(u64::from(synced.serial) + 1);
    let state = bgpd.wait_for("after the change", |s| {
        s.serial == next && s.prefixes == counts2
    });
    println!(
        "OpenBGPD followed the change ({counts2:?} prefixes) in {:?}",
        changed.elapsed()
    );
    assert_eq!(state.session, Some(u64::from(synced.session)));
    let query = format!(": serial query from {}", synced.serial);
    assert!(
        daemon.log_wait(WAIT, |log| count(log, peer, &query) >= 1),
        "no Serial Query from OpenBGPD"
    );
    let log = daemon.log();
    assert_eq!(theirs(), peers, "OpenBGPD reconnected for the update");
    assert_eq!(count(&log, peer, ": reset query"), 1, "OpenBGPD reset");
    assert_eq!(count(&log, peer, &query), 1, "OpenBGPD's Serial Queries");
    assert_eq!(
        count(&log, peer, " closed ("),
        0,
        "OpenBGPD's session closed"
    );
}

/// A cache capped at v0 refuses OpenBGPD's v1 queries; OpenBGPD does not
/// fall back, shows the error and keeps retrying, and the cache stays up
/// for routers that do speak v0.
#[test]
fn openbgpd_refused_by_v0_cache() {
    let Some((bgpd, bgpctl)) = openbgpd() else {
        return;
    };
    let data = Data::generate(42, 2_000, 1_000);
    let json = data.to_json();
    let mut daemon = Daemon::start(&config(0), &[("vrps.json", json.as_bytes())]);
    drop(daemon.wait_for_data(0));
    daemon.wait_for_log(": reset query", WAIT);
    let ours = opened_peers(&daemon.log());

    let mut bgpd = Openbgpd::start(&bgpd, &bgpctl, daemon.port);
    daemon.wait_for_log(
        "query at version 1, answered Unsupported Protocol Version",
        WAIT,
    );
    let state = bgpd.wait_for("error state", |s| {
        s.last_sent_error.is_some() || s.last_recv_error.is_some()
    });
    println!("OpenBGPD against a v0 cache: {state:?}");
    assert_eq!(
        (state.session, state.serial, state.prefixes),
        (None, None, (0, 0)),
        "OpenBGPD has data from a v0 cache"
    );
    // Every one of its sessions was refused at v1 and closed; none went
    // on at v0.
    assert!(daemon.log_wait(WAIT, |log| {
        let peers: Vec<String> = opened_peers(log)
            .into_iter()
            .filter(|p| !ours.contains(p))
            .collect();
        !peers.is_empty()
            && peers.iter().all(|p| {
                count(log, p, " closed (") == 1
                    && count(log, p, ": version 0") == 0
                    && count(log, p, ": reset query") == 0
            })
    }));
    bgpd.assert_running();
    daemon.assert_running();
    let (_, synced) = daemon.wait_for_data(0);
    synced
        .table
        .assert_eq(&expected(&json, 0), "v0 client after OpenBGPD");
}

#[test]
fn openbgpd_prefix_counts() {
    let data = Data::generate(43, 50, 20);
    let table = expected(&data.to_json(), 1);
    let (n4, n6) = prefix_counts(&table);
    assert!(n4 + n6 < table.vrps.len() as u64, "no shared prefixes");
    assert_eq!(
        peer_of("rtr: session 127.0.0.1:4711 closed (closed by router): version 1"),
        Some("127.0.0.1:4711")
    );
}
