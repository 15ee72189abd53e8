//! `rovctl` end to end: `dump` from the built rovd at every version, read
//! back with this suite's independent parser and compared with the input
//! exactly; a dump served again by a second rovd and `diff`ed against the
//! first; `diff` against a changed file; the error exits. StayRTR (Debian
//! `stayrtr`, v0 and v1 here) serves the same rpki-client JSON, and what
//! `rovctl` reads from it must match the expected table and rovd's.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use common::clients::Service;
use common::data::{expected, Data};
use common::rtr::{Table, Vrp};
use common::{config, free_port, on_path, rovctl, text, Daemon, WAIT};

fn code(out: &Output) -> i32 {
    out.status.code().expect("rovctl ended by a signal")
}

/// Run `rovctl` and insist on `want` as its exit status.
fn run(want: i32, args: &[&str]) -> Output {
    let out = rovctl(args);
    assert_eq!(
        code(&out),
        want,
        "rovctl {args:?}\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// The VRPs of rpki-client CSV, parsed here from the text.
fn csv_vrps(csv: &str) -> BTreeSet<Vrp> {
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("ASN,IP Prefix,Max Length,Trust Anchor,Expires")
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 5, "CSV line {line}");
            let (a, len) = f[1].split_once('/').unwrap();
            Vrp {
                addr: a.parse::<IpAddr>().unwrap(),
                len: len.parse().unwrap(),
                max_len: f[2].parse().unwrap(),
                asn: f[0].strip_prefix("AS").unwrap().parse().unwrap(),
            }
        })
        .collect()
}

#[test]
fn dump_every_version_and_format() {
    let json = Data::generate(21, 3000, 1500).to_json();
    let d = Daemon::start(&config(2), &[("vrps.json", json.as_bytes())]);
    d.wait_for_data(2);
    for version in 0..=2u8 {
        let v = version.to_string();
        let want = expected(&json, version);
        let out = run(0, &["dump", "--version", &v, &addr(d.port)]);
        // Read at v2, so that anything beyond the version shows up too.
        expected(&text(&out.stdout), 2).assert_eq(&want, &format!("json dump at v{version}"));
        assert_eq!(
            rovd::validator::input::read(
                &out.stdout[..],
                rovd::validator::input::Format::default()
            )
            .expect("rovd reads the dump")
            .1
            .count,
            0
        );

        let out = run(
            0,
            &["dump", "--version", &v, "--format", "csv", &addr(d.port)],
        );
        let csv = text(&out.stdout);
        assert_eq!(csv_vrps(&csv), want.vrps, "csv dump at v{version}");
        let (payloads, rejected) =
            rovd::validator::input::read(csv.as_bytes(), rovd::validator::input::Format::default())
                .expect("read csv");
        assert_eq!(rejected.count, 0);
        assert_eq!(payloads.vrps.len(), want.vrps.len());
        if version > 0 {
            assert!(text(&out.stderr).contains("VRPs only"));
        }
    }
}

#[test]
fn dump_served_again_diffs_equal() {
    let json = Data::generate(22, 2000, 1000).to_json();
    let a = Daemon::start(&config(2), &[("vrps.json", json.as_bytes())]);
    a.wait_for_data(2);
    let out = run(0, &["dump", &addr(a.port)]);
    let b = Daemon::start(&config(2), &[("vrps.json", &out.stdout)]);
    b.wait_for_data(2);
    for version in [None, Some("0"), Some("1"), Some("2")] {
        let mut args = vec!["diff"];
        if let Some(v) = version {
            args.extend(["--version", v]);
        }
        let (pa, pb) = (addr(a.port), addr(b.port));
        args.extend([pa.as_str(), pb.as_str()]);
        let out = run(0, &args);
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    }
    // The cache against its own source file, and the dump against it.
    let source = a.path("vrps.json");
    let dumped = b.path("vrps.json");
    run(0, &["diff", &addr(a.port), source.to_str().unwrap()]);
    run(
        0,
        &["diff", dumped.to_str().unwrap(), source.to_str().unwrap()],
    );
}

#[test]
fn diff_against_changed_file() {
    let data = Data::generate(23, 500, 200);
    let json = data.to_json();
    let d = Daemon::start(&config(2), &[("vrps.json", json.as_bytes())]);
    d.wait_for_data(2);
    let dir = tempfile::tempdir().unwrap();
    let changed = dir.path().join("changed.json");
    fs::write(&changed, data.updated().to_json()).unwrap();
    let changed = changed.to_str().unwrap();

    let out = run(1, &["diff", &addr(d.port), changed]);
    let diff = text(&out.stdout);
    let lines: Vec<&str> = diff.lines().collect();
    assert_eq!(lines[0], format!("--- {}", addr(d.port)));
    assert_eq!(lines[1], format!("+++ {changed}"));
    for line in [
        "+vrp 198.51.100.0/28 max 28 AS64600",
        "+vrp 198.51.100.16/28 max 29 AS64601",
        "-aspa AS64496 providers AS64497 AS64498",
        "+aspa AS64496 providers AS1299 AS64497 AS64499",
        "+aspa AS65552 providers AS3356 AS6939",
    ] {
        assert!(lines.contains(&line), "no {line:?} in\n{diff}");
    }
    let removed = &data.keys[1];
    let key = format!(
        "-key AS{} ski {}",
        removed.asn,
        common::rtr::hex(&removed.ski)
    );
    assert!(
        lines
            .iter()
            .any(|l| l.to_lowercase().starts_with(&key.to_lowercase())),
        "no {key:?} in\n{diff}"
    );
    // The expected tables tell how many lines there must be.
    let (old, new) = (expected(&json, 2), expected(&data.updated().to_json(), 2));
    let vrp_lines = old.vrps.symmetric_difference(&new.vrps).count();
    let key_lines = old.keys.symmetric_difference(&new.keys).count();
    let aspa_lines: usize = old
        .aspas
        .keys()
        .chain(new.aspas.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|c| match (old.aspas.get(c), new.aspas.get(c)) {
            (Some(x), Some(y)) if x == y => 0,
            (Some(_), Some(_)) => 2,
            _ => 1,
        })
        .sum();
    assert_eq!(
        lines.len(),
        2 + vrp_lines + key_lines + aspa_lines,
        "{diff}"
    );

    // At v0 the file is cut to VRPs as the cache is.
    let out = run(1, &["diff", "--version", "0", &addr(d.port), changed]);
    let diff = text(&out.stdout);
    assert_eq!(diff.lines().count(), 2 + vrp_lines, "{diff}");
    assert!(diff.lines().skip(2).all(|l| l[1..].starts_with("vrp ")));
}

#[test]
fn error_exits() {
    // Nothing listens: exit 2 with a message, for dump and for diff.
    let port = free_port();
    let out = run(2, &["dump", &addr(port)]);
    assert!(
        text(&out.stderr).contains("onnection refused"),
        "{}",
        text(&out.stderr)
    );
    let out = run(2, &["diff", &addr(port), &addr(port)]);
    assert!(text(&out.stderr).contains(&addr(port)));
    // Neither a file nor a cache.
    let out = run(2, &["diff", "no/such/file.json", &addr(port)]);
    assert!(text(&out.stderr).contains("no/such/file.json"));
    // clap refuses version 3.
    run(2, &["dump", "--version", "3", &addr(port)]);

    // A cache of version 0 only: an explicit v2 is refused naming v0; the
    // default falls back to v0 on a new connection.
    let json = Data::generate(24, 300, 100).to_json();
    let d = Daemon::start(&config(0), &[("vrps.json", json.as_bytes())]);
    d.wait_for_data(0);
    let out = run(1, &["dump", "--version", "2", &addr(d.port)]);
    let err = text(&out.stderr);
    assert!(
        err.contains("version 2") && err.contains("offers version 0"),
        "{err}"
    );
    let out = run(0, &["dump", &addr(d.port)]);
    expected(&text(&out.stdout), 2).assert_eq(&expected(&json, 0), "fallback to v0");
    assert!(text(&out.stdout).contains("\"rtr_version\": 0"));
    run(2, &["diff", "--version", "1", &addr(d.port), &addr(d.port)]);
}

//------------ StayRTR ---------------------------------------------------------

fn stayrtr() -> Option<PathBuf> {
    let found = on_path("stayrtr");
    if found.is_none() {
        common::skip("stayrtr not installed");
    }
    found
}

/// A running StayRTR serving v0 and v1 from a file in a private directory;
/// killed and reaped on drop.
struct StayRtr {
    _dir: tempfile::TempDir,
    port: u16,
    service: Service,
}

impl StayRtr {
    fn start(bin: &Path, json: &str) -> StayRtr {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("rpki.json");
        fs::write(&cache, json).unwrap();
        let port = free_port();
        let service = Service::spawn(
            "stayrtr",
            Command::new(bin)
                .current_dir(dir.path())
                .arg(format!("-bind=127.0.0.1:{port}"))
                .arg(format!("-cache={}", cache.display()))
                .arg("-checktime=false")
                .arg(format!("-metrics.addr=127.0.0.1:{}", free_port()))
                .arg("-protocol=1"),
        );
        let s = StayRtr {
            _dir: dir,
            port,
            service,
        };
        let at = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect_timeout(&at, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "stayrtr did not accept within {WAIT:?}:\n{}",
                s.service.log.text()
            );
            thread::sleep(Duration::from_millis(50));
        }
        s
    }

    /// `rovctl dump --version 1`, once StayRTR has loaded its data.
    fn dump_v1(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = rovctl(&["dump", "--version", "1", &addr(self.port)]);
            if code(&out) == 0 {
                return text(&out.stdout);
            }
            assert!(
                Instant::now() < deadline,
                "no table from stayrtr: {}\n{}",
                text(&out.stderr),
                self.service.log.text()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn stayrtr_matches_rovd_at_v1() {
    let Some(bin) = stayrtr() else { return };
    let json = Data::generate(25, 2000, 1000).to_json();
    let s = StayRtr::start(&bin, &json);
    let want: Table = expected(&json, 1);
    expected(&s.dump_v1(), 2).assert_eq(&want, "stayrtr v1 dump");
    // StayRTR answers a v2 query at v1 rather than with an error; asked
    // for v2 explicitly, rovctl names the version it got.
    let out = run(1, &["dump", "--version", "2", &addr(s.port)]);
    assert!(
        text(&out.stderr).contains("at version 1"),
        "{}",
        text(&out.stderr)
    );

    let d = Daemon::start(&config(2), &[("vrps.json", json.as_bytes())]);
    d.wait_for_data(1);
    let out = run(0, &["diff", "--version", "1", &addr(s.port), &addr(d.port)]);
    assert!(out.stdout.is_empty());
    // Without --version StayRTR refuses v2 and is asked again at v1; rovd
    // is then compared at v1 too.
    let out = run(0, &["diff", &addr(s.port), &addr(d.port)]);
    assert!(
        text(&out.stderr).contains("comparing at 1"),
        "{}",
        text(&out.stderr)
    );
}
