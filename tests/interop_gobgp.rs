//! Interop with GoBGP (Debian package gobgpd, GoBGP 3.10): `gobgpd`, with
//! no BGP listener and its API on loopback, syncs from the built `rovd`,
//! and its ROA table, read back with `gobgp rpki table`, must hold exactly
//! the input VRPs; a change must then arrive incrementally, through Serial
//! Notify and Serial Query on the same session. GoBGP speaks RTR v0 only
//! (RFC 6810): it sends every query at v0 and has no version negotiation,
//! so a cache offering v2 must answer it at v0. It has no refresh timer of
//! its own either: Serial Notify is what makes it ask.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::clients::*;
use common::data::{expected, Data};
use common::rtr::{Table, Vrp};
use common::{config, free_port, on_path, Daemon, LogBuf, WAIT};

/// Bound on one `gobgp` command.

//------------ Tests ----------------------------------------------------------

#[test]
fn gobgp_v0_full_sync_and_incremental_update() {
    let Some(bins) = gobgp() else { return };
    let data = Data::generate(41, 20_000, 8_000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    // v0: VRPs only, all GoBGP keeps anyway.
    let (want1, want2) = (expected(&json1, 0), expected(&json2, 0));
    assert_ne!(want1, want2, "test data without VRP change");

    // A cache that offers up to v2, as deployed.
    let daemon = Daemon::start(&config(2), &[("vrps.json", json1.as_bytes())]);
    // Data first, so that GoBGP's first query is answered with it.
    daemon.wait_for_log("rtr: serial ", WAIT);
    let gobgpd = Gobgpd::start(&bins, daemon.port);

    gobgpd.wait_for(&want1, "v0 full sync");
    let status = gobgpd.status();
    assert_eq!(status.serial, last_serial(&daemon.log()), "GoBGP's serial");

    daemon.replace_file("vrps.json", json2.as_bytes());
    gobgpd.wait_for(&want2, "v0 after the change");
    let status = gobgpd.status();
    assert_eq!(
        status.serial,
        last_serial(&daemon.log()),
        "GoBGP's serial after the change"
    );
    // GoBGP's own counters, for this connection.
    let stat = |key: &str| {
        *status
            .messages
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in GoBGP's message statistics"))
    };
    assert_eq!(stat("ResetQuery"), 1, "GoBGP's Reset Queries");
    assert!(stat("SerialNotify") >= 1, "GoBGP saw no Serial Notify");
    assert!(stat("SerialQuery") >= 1, "GoBGP sent no Serial Query");
    assert_eq!(stat("CacheReset"), 0, "Cache Resets GoBGP received");
    assert_eq!(stat("Error"), 0, "Error Reports GoBGP received");

    // The daemon's view: one session for the data, still open, at v0, with
    // one Reset Query and the change fetched by Serial Query.
    assert!(
        daemon.log_wait(Duration::from_secs(5), |t| t
            .contains(": serial query from ")),
        "no Serial Query logged"
    );
    let peer = gobgpd.peer();
    let log = daemon.log();
    let sessions = sessions(&log);
    let queried: Vec<&(String, SessionLog)> =
        sessions.iter().filter(|(_, s)| s.queried()).collect();
    let [(addr, s)] = queried.as_slice() else {
        panic!("GoBGP's sessions: {queried:#?}");
    };
    assert_eq!(*addr, peer.to_string(), "GoBGP's session in the log");
    assert_eq!(s.opened, 1, "{peer}: sessions opened");
    assert_eq!(s.versions, [0], "{peer}: negotiated version");
    assert_eq!(s.resets, 1, "{peer}: Reset Queries");
    assert!(
        s.serials >= 1,
        "{peer}: no Serial Query answered with a delta"
    );
    assert_eq!(
        s.cache_resets, 0,
        "{peer}: Serial Queries answered Cache Reset"
    );
    assert_eq!(s.errors, 0, "{peer}: errors reported by GoBGP");
    assert_eq!(s.closed, None, "{peer}: session closed");
}

//------------ GoBGP ----------------------------------------------------------

/// The two programs of the gobgpd package.
struct Bins {
    gobgpd: PathBuf,
    gobgp: PathBuf,
}

/// Find GoBGP, or decide the test is skipped (never under CI).
fn gobgp() -> Option<Bins> {
    let find = |name: &str| {
        on_path(name).or_else(|| {
            ["/usr/bin", "/usr/sbin", "/usr/local/bin"]
                .iter()
                .map(|d| Path::new(d).join(name))
                .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file()))
        })
    };
    if let (Some(gobgpd), Some(gobgp)) = (find("gobgpd"), find("gobgp")) {
        Some(Bins { gobgpd, gobgp })
    } else {
        common::skip("gobgpd not installed");
        None
    }
}

/// What `gobgp rpki server ADDR` says about the session.
struct Status {
    serial: u32,
    /// IPv4 and IPv6 ROA records held.
    records: (usize, usize),
    /// Message statistics, since the connection came up.
    messages: BTreeMap<String, u64>,
}

/// A running `gobgpd` with its configuration in a temporary directory,
/// its gRPC API on a loopback port and no BGP listener; stopped and
/// reaped on drop, its output shown if the test failed.
struct Gobgpd {
    _dir: tempfile::TempDir,
    gobgp: PathBuf,
    api: u16,
    /// The cache's port, as GoBGP names the cache in its table.
    cache: u16,
    child: Option<Child>,
    out: LogBuf,
}

impl Gobgpd {
    fn start(bins: &Bins, port: u16) -> Gobgpd {
        let dir = tempfile::tempdir().expect("temporary directory");
        let conf = dir.path().join("gobgpd.toml");
        // port = -1: no BGP listener.
        fs::write(
            &conf,
            format!(
                "[global.config]\n\
                 \x20 as = 64512\n\
                 \x20 router-id = \"10.255.0.1\"\n\
                 \x20 port = -1\n\
                 \n\
                 [[rpki-servers]]\n\
                 \x20 [rpki-servers.config]\n\
                 \x20   address = \"127.0.0.1\"\n\
                 \x20   port = {port}\n"
            ),
        )
        .unwrap();
        let api = free_port();
        let mut child = Command::new(&bins.gobgpd)
            .arg("-f")
            .arg(&conf)
            .arg(format!("--api-hosts=127.0.0.1:{api}"))
            .args(["--pprof-disable", "--log-plain", "--log-level=debug"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bins.gobgpd.display()));
        let out = LogBuf::default();
        out.capture(child.stdout.take().unwrap());
        out.capture(child.stderr.take().unwrap());
        let mut gobgpd = Gobgpd {
            _dir: dir,
            gobgp: bins.gobgp.clone(),
            api,
            cache: port,
            child: Some(child),
            out,
        };
        let deadline = Instant::now() + WAIT;
        while gobgpd.gobgp(&["rpki", "server"]).is_err() {
            if let Some(status) = gobgpd.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("gobgpd exited during start-up ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "gobgp got no answer within {WAIT:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
        gobgpd
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("gobgpd running").id()
    }

    /// Run `gobgp` against this gobgpd's API.
    fn gobgp(&self, args: &[&str]) -> Result<String, String> {
        run(Command::new(&self.gobgp)
            .args(["-u", "127.0.0.1", "-p", &self.api.to_string()])
            .args(args))
    }

    fn must(&self, args: &[&str]) -> String {
        self.gobgp(args)
            .unwrap_or_else(|e| panic!("gobgp {}: {e}", args.join(" ")))
    }

    fn status(&self) -> Status {
        let text = self.must(&["rpki", "server", "127.0.0.1"]);
        assert!(
            text.lines()
                .next()
                .is_some_and(|l| l.ends_with("State: Up")),
            "GoBGP's session is not up:\n{text}"
        );
        let fields: BTreeMap<&str, &str> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let field = |key: &str| {
            *fields
                .get(key)
                .unwrap_or_else(|| panic!("no {key:?} in {text}"))
        };
        let (v4, v6) = field("Record").split_once('/').expect(&text);
        Status {
            serial: field("Serial").parse().expect(&text),
            records: (v4.parse().expect(&text), v6.parse().expect(&text)),
            messages: fields
                .iter()
                .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
                .collect(),
        }
    }

    /// The ROA table as a [`Table`], every row parsed exactly.
    fn table(&self, cache: &str) -> Table {
        let mut t = Table::default();
        for family in ["ipv4", "ipv6"] {
            let text = self.must(&["rpki", "table", "-a", family]);
            for vrp in parse_roa_table(&text, family == "ipv4", cache) {
                assert!(t.vrps.insert(vrp), "gobgp listed {vrp} twice");
            }
        }
        t
    }

    /// Wait until GoBGP's ROA table holds exactly `want`; panics with the
    /// difference after `WAIT`.
    fn wait_for(&self, want: &Table, what: &str) {
        let want4 = want.vrps.iter().filter(|v| v.addr.is_ipv4()).count();
        let want6 = want.vrps.len() - want4;
        let cache = format!("127.0.0.1:{}", self.cache);
        let deadline = Instant::now() + WAIT;
        loop {
            // Counting is cheap; the full listing only when it can match.
            let up = self
                .gobgp(&["rpki", "server"])
                .is_ok_and(|t| t.contains(" Up "));
            if up && self.status().records == (want4, want6) && &self.table(&cache) == want {
                return;
            }
            if Instant::now() > deadline {
                self.table(&cache).assert_eq(want, &format!("GoBGP {what}"));
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// The local address of GoBGP's connection to the cache.
    fn peer(&self) -> SocketAddr {
        connection_of(self.pid(), self.cache)
            .unwrap_or_else(|| panic!("gobgpd holds no connection to port {}", self.cache))
    }
}

impl Drop for Gobgpd {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            stop(child);
        }
        if thread::panicking() {
            eprintln!(
                "---- gobgpd output\n{}---- end of gobgpd output",
                self.out.text()
            );
        }
    }
}

/// Parse `gobgp rpki table -a FAMILY`, every row from `cache`:
///
/// ```text
/// Network            Maxlen AS         Server
/// 192.0.2.0/24       28     64496      127.0.0.1:3323
/// ```
fn parse_roa_table(text: &str, ipv4: bool, cache: &str) -> Vec<Vrp> {
    let mut out = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() || words == ["Network", "Maxlen", "AS", "Server"] {
            continue;
        }
        let parsed = (|| {
            let [net, max_len, asn, server] = words.as_slice() else {
                return None;
            };
            if server != &cache {
                return None;
            }
            let (addr, len) = net.split_once('/')?;
            Some(Vrp {
                addr: addr.parse().ok()?,
                len: len.parse().ok()?,
                max_len: max_len.parse().ok()?,
                asn: asn.parse().ok()?,
            })
        })();
        match parsed {
            Some(vrp) if vrp.addr.is_ipv4() == ipv4 => out.push(vrp),
            _ => panic!("unexpected line in gobgp rpki table: {line:?}"),
        }
    }
    out
}
