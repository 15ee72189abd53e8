//! Interop with BIRD 2 (Debian package bird2, BIRD 2.0.12): its `rpki`
//! protocol syncs from the built `rovd` into two ROA tables, read back with
//! `birdc`, which must hold exactly the input VRPs; a change must then
//! arrive incrementally, through Serial Notify and Serial Query on the same
//! session. BIRD 2.0 speaks RTR v1 and falls back to v0 when the cache
//! answers Unsupported Protocol Version; it accepts Router Key PDUs at v1
//! and drops them, and knows no ASPA. BIRD runs in the foreground in a
//! temporary directory of its own, with its own configuration, control
//! socket, pid file and log.

mod common;

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::clients::*;
use common::data::{expected, Data};
use common::rtr::{Table, Vrp};
use common::{config, on_path, Daemon, LogBuf, WAIT};

/// The highest RTR version BIRD 2.0 speaks (`RPKI_MAX_VERSION` in its
/// proto/rpki); it starts every session there.
const BIRD_VERSION: u8 = 1;

/// Bound on one `birdc` command.

//------------ Tests ----------------------------------------------------------

#[test]
fn bird_v1_full_sync_and_incremental_update() {
    sync_and_follow(2, 1, 31);
}

#[test]
fn bird_falls_back_to_v0() {
    sync_and_follow(0, 0, 32);
}

/// BIRD against rovd with `max_version`, ending up at `version`: a full
/// sync of some 29,000 VRPs, then a change followed on the same session.
#[allow(clippy::too_many_lines)] // one session's story, start to end
fn sync_and_follow(max_version: u8, version: u8, seed: u64) {
    let Some(bins) = bird() else { return };
    let data = Data::generate(seed, 20_000, 8_000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let (full1, full2) = (expected(&json1, version), expected(&json2, version));
    if version >= 1 {
        // BIRD must take the Router Key PDUs (and a withdrawal) in its stride.
        assert!(
            !full1.keys.is_empty() && full1.keys != full2.keys,
            "test data without key change"
        );
    }
    let (want1, want2) = (bird_view(&full1), bird_view(&full2));
    assert_ne!(want1, want2, "test data without VRP change");
    // Every VRP BIRD drops, it must say it dropped, once.
    let bogus1 = full1.vrps.len() - want1.vrps.len();
    let bogus2 = bogus1
        + full2
            .vrps
            .difference(&full1.vrps)
            .filter(|v| !bird_keeps(v))
            .count();
    assert!(bogus1 > 0, "test data without loopback prefixes");

    let daemon = Daemon::start(&config(max_version), &[("vrps.json", json1.as_bytes())]);
    // Data first, so that BIRD's first query is answered with it.
    daemon.wait_for_log("rtr: serial ", WAIT);
    let bird = Bird::start(&bins, daemon.port);

    bird.wait_for(&want1, &format!("v{version} full sync"));
    assert_eq!(
        count(&bird.log(), "Ignoring bogus route"),
        bogus1,
        "BIRD's warnings for loopback VRPs"
    );
    let status = bird.status();
    assert_eq!(status.version, version, "BIRD's protocol version");
    assert_eq!(status.serial, last_serial(&daemon.log()), "BIRD's serial");

    daemon.replace_file("vrps.json", json2.as_bytes());
    bird.wait_for(&want2, &format!("v{version} after the change"));
    assert_eq!(
        count(&bird.log(), "Ignoring bogus route"),
        bogus2,
        "BIRD's warnings for loopback VRPs after the change"
    );
    let status = bird.status();
    assert_eq!(status.version, version, "BIRD's protocol version");
    assert_eq!(
        status.serial,
        last_serial(&daemon.log()),
        "BIRD's serial after the change"
    );

    // The daemon's view: one session for the data, still open, with one
    // Reset Query and the change fetched by Serial Query.
    assert!(
        daemon.log_wait(Duration::from_secs(5), |t| t
            .contains(": serial query from ")),
        "no Serial Query logged"
    );
    let peer = bird.peer(daemon.port);
    let log = daemon.log();
    let sessions = sessions(&log);
    let queried: Vec<&(String, SessionLog)> =
        sessions.iter().filter(|(_, s)| s.queried()).collect();
    let fallback = max_version < BIRD_VERSION;
    let (now, refused) = match queried.as_slice() {
        [only] if !fallback => (only, None),
        [first, second] if fallback => (second, Some(first)),
        other => panic!("BIRD's sessions: {other:#?}"),
    };
    assert_eq!(now.0, peer.to_string(), "BIRD's session in the log");
    let s = &now.1;
    assert_eq!(s.opened, 1, "{peer}: sessions opened");
    assert_eq!(s.versions, [version], "{peer}: negotiated version");
    assert_eq!(s.resets, 1, "{peer}: Reset Queries");
    assert!(
        s.serials >= 1,
        "{peer}: no Serial Query answered with a delta"
    );
    assert_eq!(
        s.cache_resets, 0,
        "{peer}: Serial Queries answered Cache Reset"
    );
    assert_eq!(s.errors, 0, "{peer}: errors reported by BIRD");
    assert_eq!(s.closed, None, "{peer}: session closed");
    if let Some((first, s)) = refused {
        // v1 first, refused; BIRD reconnects at v0.
        assert_eq!(
            s.version_refused,
            [BIRD_VERSION],
            "{first}: refused versions"
        );
        assert_eq!((s.resets, s.serials), (0, 0), "{first}: answered queries");
        assert!(s.closed.is_some(), "{first}: refused session still open");
    }

    // BIRD's view of the same.
    let blog = bird.log();
    assert!(
        blog.contains("Received Serial Notify packet"),
        "BIRD saw no Serial Notify"
    );
    assert_eq!(
        count(&blog, "Sending Reset Query packet"),
        1 + usize::from(fallback),
        "BIRD's Reset Queries"
    );
    assert!(
        !blog.contains("Sending Error packet"),
        "BIRD sent an Error Report"
    );
    if fallback {
        assert!(
            blog.contains(&format!(
                "Downgrading from protocol version {BIRD_VERSION} to version {version}"
            )),
            "BIRD did not log its downgrade"
        );
    } else {
        // Every router key announced, then the one withdrawn: received,
        // and dropped without complaint.
        assert_eq!(
            count(&blog, "Received Router Key packet (ignored)"),
            full1.keys.len() + full1.keys.symmetric_difference(&full2.keys).count(),
            "Router Key PDUs BIRD received"
        );
        // v1 End of Data carries the cache's timers; BIRD adopts them.
        assert!(
            blog.contains("New interval values: refresh: 3600s, retry: keeps 5s, expire: 7200s"),
            "BIRD did not take the End of Data timers"
        );
    }
}

/// What BIRD 2.0 keeps of `t`: the VRPs, less those it refuses.
fn bird_view(t: &Table) -> Table {
    Table {
        vrps: t.vrps.iter().filter(|v| bird_keeps(v)).copied().collect(),
        ..Table::default()
    }
}

/// Whether BIRD takes `vrp` into its ROA table. Its route import
/// (`rte_validate` in nest/rt-table.c) refuses, with "Ignoring bogus
/// route", any net whose address `net_classify` puts at host or link
/// scope: for the addresses the test data uses (IPv4 1–223.x, IPv6
/// `2000::/3`) that is 127.0.0.0/8, loopback. Other addresses are not
/// expected here.
fn bird_keeps(vrp: &Vrp) -> bool {
    match vrp.addr {
        IpAddr::V4(a) => {
            let first = a.octets()[0];
            assert!((1..=223).contains(&first), "test data: {vrp}");
            first != 127
        }
        IpAddr::V6(a) => {
            assert_eq!(a.segments()[0] & 0xe000, 0x2000, "test data: {vrp}");
            true
        }
    }
}

fn count(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

//------------ BIRD -----------------------------------------------------------

/// The two programs of the bird2 package.
struct Bins {
    bird: PathBuf,
    birdc: PathBuf,
}

/// Find BIRD, or decide the test is skipped (never under CI).
fn bird() -> Option<Bins> {
    let find = |name: &str| {
        on_path(name).or_else(|| {
            ["/usr/sbin", "/usr/local/sbin"]
                .iter()
                .map(|d| Path::new(d).join(name))
                .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file()))
        })
    };
    if let (Some(bird), Some(birdc)) = (find("bird"), find("birdc")) {
        Some(Bins { bird, birdc })
    } else {
        common::skip("bird not installed");
        None
    }
}

/// What `show protocols all` says about the RPKI session.
struct Status {
    version: u8,
    serial: u32,
}

/// A running `bird -f` with everything in a temporary directory; stopped
/// and reaped on drop, its log shown if the test failed.
struct Bird {
    dir: tempfile::TempDir,
    birdc: PathBuf,
    child: Option<Child>,
    out: LogBuf,
}

impl Bird {
    fn start(bins: &Bins, port: u16) -> Bird {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = |name: &str| dir.path().join(name);
        // The refresh interval stays the cache's 3600 s (v1) or BIRD's
        // default 3600 s (v0), so a Serial Query within the test can only
        // follow a Serial Notify; a failed connection is retried after 5 s.
        let conf = format!(
            "router id 10.255.0.1;\n\
             log \"{log}\" all;\n\
             roa4 table r4;\n\
             roa6 table r6;\n\
             protocol rpki rovd {{\n\
             \tdebug {{ states, events, packets }};\n\
             \troa4 {{ table r4; }};\n\
             \troa6 {{ table r6; }};\n\
             \tremote 127.0.0.1 port {port};\n\
             \tretry keep 5;\n\
             }}\n",
            log = path("bird.log").display()
        );
        fs::write(path("bird.conf"), conf).unwrap();
        let mut child = Command::new(&bins.bird)
            .arg("-f")
            .arg("-c")
            .arg(path("bird.conf"))
            .arg("-s")
            .arg(path("bird.ctl"))
            .arg("-P")
            .arg(path("bird.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bins.bird.display()));
        let out = LogBuf::default();
        out.capture(child.stdout.take().unwrap());
        out.capture(child.stderr.take().unwrap());
        let mut bird = Bird {
            dir,
            birdc: bins.birdc.clone(),
            child: Some(child),
            out,
        };
        let deadline = Instant::now() + WAIT;
        while bird.birdc(&["show", "status"]).is_err() {
            if let Some(status) = bird.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("bird exited during start-up ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "birdc got no answer within {WAIT:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
        bird
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("bird running").id()
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("bird.log")).unwrap_or_default()
    }

    /// Run `birdc` on this BIRD's control socket.
    fn birdc(&self, args: &[&str]) -> Result<String, String> {
        run(Command::new(&self.birdc)
            .arg("-s")
            .arg(self.dir.path().join("bird.ctl"))
            .args(args))
    }

    fn must(&self, args: &[&str]) -> String {
        self.birdc(args)
            .unwrap_or_else(|e| panic!("birdc {}: {e}", args.join(" ")))
    }

    /// Routes in ROA table `name`, by `show route table NAME count`.
    fn count(&self, name: &str) -> usize {
        let text = self.must(&["show", "route", "table", name, "count"]);
        text.lines()
            .find(|l| l.ends_with(&format!("in table {name}")))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("birdc count for {name}: {text:?}"))
    }

    /// The ROA tables as a [`Table`], every route parsed exactly.
    fn table(&self) -> Table {
        let mut t = Table::default();
        for name in ["r4", "r6"] {
            let text = self.must(&["show", "route", "table", name]);
            for vrp in parse_roa_table(&text, name) {
                assert!(t.vrps.insert(vrp), "birdc listed {vrp} twice");
            }
        }
        t
    }

    /// Wait until BIRD's ROA tables hold exactly `want`; panics with the
    /// difference after `WAIT`.
    fn wait_for(&self, want: &Table, what: &str) {
        let want4 = want.vrps.iter().filter(|v| v.addr.is_ipv4()).count();
        let want6 = want.vrps.len() - want4;
        let deadline = Instant::now() + WAIT;
        loop {
            // Counting is cheap; the full listing only when it can match.
            if (self.count("r4"), self.count("r6")) == (want4, want6) && &self.table() == want {
                return;
            }
            if Instant::now() > deadline {
                self.table().assert_eq(want, &format!("BIRD {what}"));
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    fn status(&self) -> Status {
        let text = self.must(&["show", "protocols", "all", "rovd"]);
        let field = |key: &str| -> &str {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(key))
                .map_or_else(|| panic!("no {key:?} in {text}"), str::trim)
        };
        assert_eq!(field("Status:"), "Established", "BIRD's cache status");
        Status {
            version: field("Protocol version:").parse().unwrap(),
            serial: field("Serial number:").parse().unwrap(),
        }
    }

    /// The local address of BIRD's connection to the cache on `port`.
    fn peer(&self, port: u16) -> SocketAddr {
        connection_of(self.pid(), port)
            .unwrap_or_else(|| panic!("bird holds no connection to port {port}"))
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            stop(child);
        }
        if thread::panicking() {
            // A packet trace line per prefix is too much to show.
            let log = self.log();
            let prefixes = count(&log, "Prefix packet (");
            let rest: Vec<&str> = log
                .lines()
                .filter(|l| !l.contains("Prefix packet ("))
                .collect();
            eprintln!(
                "---- bird output\n{}---- bird log ({prefixes} prefix packet lines left out)\n{}\n\
                 ---- end of bird log",
                self.out.text(),
                rest.join("\n")
            );
        }
    }
}

/// Parse `birdc show route table NAME` of ROA table `r4` or `r6`:
///
/// ```text
/// BIRD 2.0.12 ready.
/// Table r4:
/// 192.0.2.0/24-28 AS64496  [rovd 13:41:47.429] * (100)
/// 10.0.0.0/8-8 AS0      [rovd 13:41:47.429] * (100)
/// ```
fn parse_roa_table(text: &str, name: &str) -> Vec<Vrp> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with("BIRD ") || line == format!("Table {name}:") {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let parsed = (|| {
            let [net, asn, proto, ..] = words.as_slice() else {
                return None;
            };
            if *proto != "[rovd" {
                return None;
            }
            let (addr, lens) = net.split_once('/')?;
            let (len, max_len) = lens.split_once('-')?;
            Some(Vrp {
                addr: addr.parse().ok()?,
                len: len.parse().ok()?,
                max_len: max_len.parse().ok()?,
                asn: asn.strip_prefix("AS")?.parse().ok()?,
            })
        })();
        match parsed {
            Some(vrp) if vrp.addr.is_ipv4() == (name == "r4") => out.push(vrp),
            _ => panic!("unexpected line in table {name}: {line:?}"),
        }
    }
    out
}
