//! BIRD 2 (Debian package bird2) as an RTR client: its `rpki` protocol
//! syncs from a cache into two ROA tables, read back with `birdc`. BIRD runs
//! in the foreground in a temporary directory of its own, with its own
//! configuration, control socket, pid file and log; stopped on drop.

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::clients::{connection_of, run, stop};
use super::rtr::{Table, Vrp};
use super::{on_path, LogBuf, WAIT};

/// The highest RTR version BIRD 2.0 speaks (`RPKI_MAX_VERSION` in its
/// proto/rpki); it starts every session there.
pub(crate) const BIRD_VERSION: u8 = 1;

/// What BIRD 2.0 keeps of `t`: the VRPs, less those it refuses.
pub(crate) fn bird_view(t: &Table) -> Table {
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
pub(crate) fn bird_keeps(vrp: &Vrp) -> bool {
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

pub(crate) fn count(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

//------------ BIRD -----------------------------------------------------------

/// The two programs of the bird2 package.
pub(crate) struct Bins {
    bird: PathBuf,
    birdc: PathBuf,
}

/// Find BIRD, or decide the test is skipped (never under CI).
pub(crate) fn bird() -> Option<Bins> {
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
        super::skip("bird not installed");
        None
    }
}

/// What `show protocols all` says about the RPKI session.
pub(crate) struct Status {
    pub(crate) version: u8,
    pub(crate) serial: u32,
}

/// A running `bird -f` with everything in a temporary directory; stopped
/// and reaped on drop, its log shown if the test failed.
pub(crate) struct Bird {
    dir: tempfile::TempDir,
    birdc: PathBuf,
    child: Option<Child>,
    out: LogBuf,
}

impl Bird {
    pub(crate) fn start(bins: &Bins, port: u16) -> Bird {
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

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("bird running").id()
    }

    pub(crate) fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("bird.log")).unwrap_or_default()
    }

    /// Run `birdc` on this BIRD's control socket.
    pub(crate) fn birdc(&self, args: &[&str]) -> Result<String, String> {
        run(Command::new(&self.birdc)
            .arg("-s")
            .arg(self.dir.path().join("bird.ctl"))
            .args(args))
    }

    pub(crate) fn must(&self, args: &[&str]) -> String {
        self.birdc(args)
            .unwrap_or_else(|e| panic!("birdc {}: {e}", args.join(" ")))
    }

    /// Routes in ROA table `name`, by `show route table NAME count`.
    pub(crate) fn count(&self, name: &str) -> usize {
        let text = self.must(&["show", "route", "table", name, "count"]);
        text.lines()
            .find(|l| l.ends_with(&format!("in table {name}")))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("birdc count for {name}: {text:?}"))
    }

    /// The ROA tables as a [`Table`], every route parsed exactly.
    pub(crate) fn table(&self) -> Table {
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
    pub(crate) fn wait_for(&self, want: &Table, what: &str) {
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

    pub(crate) fn status(&self) -> Status {
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
    pub(crate) fn peer(&self, port: u16) -> SocketAddr {
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
