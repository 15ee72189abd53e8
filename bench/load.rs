//! Load benchmark: how long the real daemon takes from an 800,000-VRP
//! rpki-client JSON file on disk to a new serial in the rtr worker — read,
//! parsed, checked, merged, streamed over the socketpair and diffed — and
//! how much memory the validator needs for it.
//!
//! Run with `cargo bench --bench load` (it starts the built `rovd` in the
//! foreground on a loopback port). `ROVD_BENCH_VRPS` changes the size.
//! Medians of several updates are printed; nothing here asserts a time.

// Sizes and times as f64 for the report: 52 bits of mantissa are plenty.
#![allow(clippy::cast_precision_loss)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rovd::payload::{Aspa, RouterKey, Vrp};
use rovd::testdata::{self, Spec};

fn vm(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|r| r.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn child(parent: u32, title: &str) -> Option<u32> {
    for e in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == Some(parent) && cmd.starts_with(title.as_bytes()) {
            return Some(pid);
        }
    }
    None
}

/// The daemon, stopped by pid however the benchmark ends.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.0.wait();
    }
}

#[allow(clippy::too_many_lines)] // the benchmark, step by step
fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("load: run with `cargo bench --bench load`");
        return;
    }
    let vrps = std::env::var("ROVD_BENCH_VRPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(800_000);
    let spec = Spec {
        vrps,
        ..Spec::full()
    };
    let dir = tempfile::tempdir().unwrap();
    let snapshot = testdata::generate(&spec);
    let json = testdata::to_rpki_client_json(&snapshot);
    let file = dir.path().join("vrps.json");
    fs::write(&file, &json).unwrap();
    let snapshot_bytes = snapshot.vrps.len() * std::mem::size_of::<Vrp>()
        + snapshot
            .router_keys
            .iter()
            .map(|k| std::mem::size_of::<RouterKey>() + k.spki.len())
            .sum::<usize>()
        + snapshot
            .aspas
            .iter()
            .map(|a| std::mem::size_of::<Aspa>() + 4 * a.providers.len())
            .sum::<usize>();
    println!(
        "data: {} VRPs, {} router keys, {} ASPAs; {:.1} MB of JSON; snapshot {:.1} MB",
        snapshot.vrps.len(),
        snapshot.router_keys.len(),
        snapshot.aspas.len(),
        json.len() as f64 / 1e6,
        snapshot_bytes as f64 / 1e6
    );

    // As root, the daemon drops privileges: give it what it needs.
    let mut extra = String::new();
    if nix::unistd::geteuid().is_root() {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let empty = dir.path().join("empty");
        fs::create_dir(&empty).unwrap();
        fs::set_permissions(&empty, fs::Permissions::from_mode(0o755)).unwrap();
        let user = if nix::unistd::User::from_name("_rovd")
            .ok()
            .flatten()
            .is_some()
        {
            "_rovd"
        } else {
            "nobody"
        };
        extra = format!("user = \"{user}\"\nchroot = \"{}\"\n", empty.display());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.path().join("rovd.conf");
    fs::write(
        &conf,
        format!(
            "{extra}[rtr]\nlisten = [\"127.0.0.1:{port}\"]\n\n[[source]]\npath = \"vrps.json\"\n\
             max-age = 0\nmax-drop = 100\n"
        ),
    )
    .unwrap();

    let start = Instant::now();
    let mut rovd = Stopped(
        Command::new(env!("CARGO_BIN_EXE_rovd"))
            .args(["-d", "-f"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rovd"),
    );
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    let stderr = rovd.0.stderr.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send((Instant::now(), line));
        }
    });
    let wait_serial = |n: u32| -> Instant {
        let needle = format!("rtr: serial {n}:");
        loop {
            let (t, line) = rx.recv_timeout(Duration::from_secs(120)).expect("rovd log");
            assert!(
                !(line.contains("killed") || line.contains("exited")),
                "{line}"
            );
            if std::env::var_os("ROVD_BENCH_LOG").is_some() {
                eprintln!("{line}");
            }
            if line.starts_with(&needle) {
                return t;
            }
        }
    };
    let first = wait_serial(0).duration_since(start);
    let pid = rovd.0.id();
    let validator = child(pid, "rovd: validator").expect("validator");
    let rtr = child(pid, "rovd: rtr").expect("rtr");
    let hwm_first = vm(validator, "VmHWM:");

    let mut times = Vec::new();
    for round in 1..=5u32 {
        let next = testdata::mutate(&snapshot, 1.0, u64::from(round));
        let tmp = dir.path().join(".vrps.json");
        fs::write(&tmp, testdata::to_rpki_client_json(&next)).unwrap();
        thread::sleep(Duration::from_millis(300));
        let t0 = Instant::now();
        fs::rename(&tmp, &file).unwrap();
        times.push(wait_serial(round).duration_since(t0));
    }
    times.sort();
    let hwm = vm(validator, "VmHWM:");
    let (v_rss, r_rss, p_rss) = (
        vm(validator, "VmRSS:"),
        vm(rtr, "VmRSS:"),
        vm(pid, "VmRSS:"),
    );
    drop(rovd);

    let mb = |kb: u64| kb as f64 / 1024.0;
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| start to first serial | {first:.2?} |");
    println!(
        "| 1 % change: file renamed to new serial, median of 5 | {:.2?} (min {:.2?}, max {:.2?}) |",
        times[2], times[0], times[4]
    );
    println!(
        "| validator peak RSS, first load | {:.1} MiB |",
        mb(hwm_first)
    );
    println!(
        "| validator peak RSS, after 5 updates | {:.1} MiB ({:.2}× the snapshot) |",
        mb(hwm),
        hwm as f64 * 1024.0 / snapshot_bytes as f64
    );
    println!(
        "| RSS now: parent / validator / rtr | {:.1} / {:.1} / {:.1} MiB |",
        mb(p_rss),
        mb(v_rss),
        mb(r_rss)
    );
}
