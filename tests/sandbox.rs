//! The privilege separation, checked on the real binary from the outside:
//! what /proc says about each of the three processes, that a forbidden
//! system call ends the rtr worker and with it the daemon, and that real
//! clients are served completely through the locked-down processes.
//!
//! Tests that start rovd as root (port 323, chroot, user switch) skip with
//! a printed reason when not run as root; CI runs them as root.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use common::data::{expected, Data};
use common::rtr::{reset_query, Pdu, RtrClient};
use common::rtrclient::{rtrclient, Rtrclient};
use common::{children_of, is_root, Daemon, PORT, WAIT};
use nix::sys::signal::Signal;

fn needs_root() -> bool {
    if !is_root() {
        println!("skipped: needs root");
    }
    is_root()
}

/// The fields of /proc/PID/status that the sandbox sets.
#[derive(Debug)]
struct Status {
    uid: Vec<u32>,
    gid: Vec<u32>,
    caps: Vec<(String, u64)>,
    no_new_privs: u32,
    seccomp: u32,
}

fn status(pid: u32) -> Status {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |name: &str| -> &str {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
            .trim()
    };
    let ids = |name: &str| {
        field(name)
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect()
    };
    Status {
        uid: ids("Uid"),
        gid: ids("Gid"),
        caps: ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]
            .iter()
            .map(|c| (c.to_string(), u64::from_str_radix(field(c), 16).unwrap()))
            .collect(),
        no_new_privs: field("NoNewPrivs").parse().unwrap(),
        seccomp: field("Seccomp").parse().unwrap(),
    }
}

fn root_of(pid: u32) -> PathBuf {
    fs::read_link(format!("/proc/{pid}/root")).expect("root link")
}

/// The three processes, once the children have locked down (the log says
/// so after their seccomp line).
fn processes(daemon: &Daemon) -> (u32, u32, u32) {
    let pid = daemon.pid();
    let deadline = Instant::now() + WAIT;
    loop {
        let kids = children_of(pid);
        let find = |name: &str| kids.iter().find(|p| p.argv0 == name).map(|p| p.pid);
        if let (Some(v), Some(r)) = (find("rovd: validator"), find("rovd: rtr")) {
            assert_eq!(kids.len(), 2, "children of the parent: {kids:?}");
            for k in &kids {
                assert!(children_of(k.pid).is_empty(), "{} has children", k.argv0);
            }
            return (pid, v, r);
        }
        assert!(Instant::now() < deadline, "children not found: {kids:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

fn assert_locked_down(name: &str, pid: u32, s: &Status) {
    for (what, ids) in [("uid", &s.uid), ("gid", &s.gid)] {
        assert_eq!(ids.len(), 4, "{name} {what}s {ids:?}");
        assert!(
            ids.iter().all(|&i| i != 0),
            "{name} (pid {pid}) {what}s {ids:?}"
        );
    }
    for (cap, value) in &s.caps {
        assert_eq!(*value, 0, "{name} (pid {pid}) {cap} = {value:x}");
    }
    assert_eq!(s.no_new_privs, 1, "{name} (pid {pid}) NoNewPrivs");
    assert_eq!(s.seccomp, 2, "{name} (pid {pid}) Seccomp mode");
}

/// rovd started as root on the IANA port: every process ends up
/// unprivileged and sandboxed, and a real client is served fully and
/// incrementally, across a reload, next to many other sessions and every
/// error path.
#[test]
fn as_root_on_port_323_every_process_is_locked_down() {
    if !needs_root() {
        return;
    }
    let data = Data::generate(31, 3000, 1000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let http = common::free_port();
    let config = format!(
        "[rtr]\nlisten = [\"127.0.0.1:{PORT}\"]\nnotify-interval = 0\nmax-sessions-per-address = 100\n\
         [http]\nlisten = [\"127.0.0.1:{http}\"]\n\n[[source]]\npath = \"vrps.json\"\n"
    );
    let mut daemon =
        Daemon::start_with(&config, &[("vrps.json", json1.as_bytes())], Some(323), &[]);
    daemon.wait_for_data(2);
    daemon.wait_for_log("parent: started", WAIT);
    let chroot = daemon.dir.path().join("empty");

    let (parent, validator, rtr) = processes(&daemon);
    for (name, pid) in [("parent", parent), ("validator", validator), ("rtr", rtr)] {
        let s = status(pid);
        assert_locked_down(name, pid, &s);
        let user = nix::unistd::User::from_name("_rovd").unwrap().unwrap();
        assert_eq!(s.uid[0], user.uid.as_raw(), "{name} runs as _rovd");
    }
    assert_eq!(
        root_of(parent),
        Path::new("/"),
        "the parent does not chroot"
    );
    assert_eq!(root_of(rtr), chroot, "rtr's root directory");
    assert_eq!(root_of(validator), chroot, "validator's root directory");

    // A real client, fully and then incrementally.
    if let Some(bin) = rtrclient() {
        let (want1, want2) = (expected(&json1, 1), expected(&json2, 1));
        let client = Rtrclient::start(&bin, 323);
        client.wait_for(&want1, "full sync through the sandbox");
        daemon.replace_file("vrps.json", json2.as_bytes());
        client.wait_for(&want2, "incremental sync through the sandbox");

        // A reload re-reads the configuration in the locked-down parent
        // and the sources in the locked-down validator; sessions stay.
        daemon.signal(Signal::SIGHUP);
        daemon.wait_for_log("validator: reloading all sources", WAIT);
        daemon.replace_file("vrps.json", json1.as_bytes());
        client.wait_for(&want1, "sync after a reload");
    }

    // Many concurrent sessions at every version, and the error paths.
    let clients: Vec<_> = (0..60)
        .map(|i| {
            thread::spawn(move || {
                let v = u8::try_from(i % 3).unwrap();
                let mut c = RtrClient::connect(323);
                c.sync_full(v)
            })
        })
        .collect();
    for c in clients {
        c.join().expect("a concurrent session failed");
    }
    let bad: [&[u8]; 6] = [
        &[2, 2, 0, 0, 0, 0, 0, 9, 0], // Reset Query of length 9
        &[2, 12, 0, 0, 0, 0, 0, 8],   // unknown PDU type
        &[2, 4, 0, 0, 0, 0, 0, 8],    // a PDU only caches send
        &[2, 2, 0, 0, 0, 1, 0, 0],    // length above 65,535
        &[9, 2, 0, 0, 0, 0, 0, 8],    // version from the future
        &[2, 10, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0], // router's error
    ];
    for pdu in bad {
        let mut c = RtrClient::connect(323);
        c.send(pdu);
        thread::sleep(Duration::from_millis(50));
    }
    let mut c = RtrClient::connect(323);
    c.send(&reset_query(2));
    assert!(matches!(c.expect_pdu(WAIT), Pdu::CacheResponse { .. }));

    // The views are served by the locked-down rtr process: the control
    // socket and HTTP, the whole table over HTTP too.
    let socket = daemon.path("rovd.sock");
    let out = common::rovctl(&["-s", socket.to_str().unwrap(), "status", "--json"]);
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(status["serial"].as_u64().is_some(), "{status:#}");
    assert!(
        !status["sessions"].as_array().unwrap().is_empty(),
        "{status:#}"
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", http)).unwrap();
    std::io::Write::write_all(&mut s, b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut body = String::new();
    std::io::Read::read_to_string(&mut s, &mut body).unwrap();
    let json = body.split_once("\r\n\r\n").unwrap().1;
    expected(json, 2).assert_eq(&expected(&json1, 2), "/json through the sandbox");

    // Nothing was killed on the way.
    daemon.assert_running();
    assert_eq!(processes(&daemon), (parent, validator, rtr));
    assert!(
        !daemon.log().contains("killed by signal"),
        "{}",
        daemon.log()
    );
}

/// A chroot directory the daemon's user could write to is refused.
#[test]
fn as_root_a_writable_chroot_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    if !needs_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("open");
    fs::create_dir(&empty).unwrap();
    fs::set_permissions(&empty, fs::Permissions::from_mode(0o777)).unwrap();
    let config = format!(
        "chroot = \"{}\"\n[rtr]\nlisten = [\"127.0.0.1:{PORT}\"]\n",
        empty.display()
    );
    // The harness adds its own chroot line as root; this one must win, so
    // give the daemon the file directly.
    let path = dir.path().join("rovd.conf");
    fs::write(
        &path,
        config.replace(PORT, &common::free_port().to_string()),
    )
    .unwrap();
    let out = std::process::Command::new(common::ROVD)
        .args(["-d", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "rovd ran with a writable chroot:\n{log}"
    );
    assert!(
        log.contains(&empty.display().to_string()) && log.contains("writable"),
        "{log}"
    );
}

/// A forbidden system call in the rtr worker — opening a file, creating a
/// socket, executing a program — is ended by the kernel, and the daemon
/// exits naming the worker and the signal. Needs the test-only
/// `sandbox-probe` feature, which the test command turns on.
#[test]
fn forbidden_system_calls_kill_the_rtr_worker() {
    if !cfg!(feature = "sandbox-probe") {
        common::skip("built without the sandbox-probe feature");
        return;
    }
    for probe in ["open", "socket", "exec"] {
        let data = Data::generate(41, 10, 10).to_json();
        let mut daemon = Daemon::spawn_with(
            &common::config(2),
            &[("vrps.json", data.as_bytes())],
            None,
            &[("ROVD_SANDBOX_PROBE", probe)],
        );
        let status = daemon.wait_exit(WAIT);
        assert!(!status.success(), "{probe}: rovd exit status {status}");
        let log = daemon.log();
        assert!(
            log.contains(&format!("sandbox probe: trying to {probe}")),
            "{probe}:\n{log}"
        );
        assert!(
            !log.contains(&format!("sandbox probe: {probe} returned")),
            "{probe}: the forbidden call returned:\n{log}"
        );
        assert_eq!(
            daemon.log_count("rtr killed by signal SIGSYS; shutting down"),
            1,
            "{probe}:\n{log}"
        );
    }
}

/// With `seccomp = "log"` (the field debug switch) the same forbidden
/// calls are let through to the kernel's log, and the daemon lives on.
/// Landlock still refuses the file.
#[test]
fn seccomp_log_mode_lets_forbidden_calls_through() {
    if !cfg!(feature = "sandbox-probe") {
        common::skip("built without the sandbox-probe feature");
        return;
    }
    for probe in ["open", "socket"] {
        let data = Data::generate(42, 10, 10).to_json();
        let config = format!("seccomp = \"log\"\n{}", common::config(2));
        let mut daemon = Daemon::start_with(
            &config,
            &[("vrps.json", data.as_bytes())],
            None,
            &[("ROVD_SANDBOX_PROBE", probe)],
        );
        daemon.wait_for_log(&format!("sandbox probe: {probe} returned"), WAIT);
        daemon.wait_for_data(2);
        daemon.assert_running();
        let log = daemon.log();
        assert!(log.contains("others are logged (debug mode)"), "{log}");
        if probe == "open" {
            assert!(
                log.contains("open returned Err"),
                "Landlock let the open through:\n{log}"
            );
        }
    }
}

/// With a url source, a fourth process: the fetcher, as locked down as
/// the others, chrooted, holding no file — only its channels and sockets —
/// and Landlock (where the kernel has it) lets it connect to the
/// upstream's port only.
#[test]
fn as_root_the_fetcher_is_locked_down_and_holds_no_file() {
    if !needs_root() {
        return;
    }
    let json = Data::generate(33, 300, 100).to_json();
    let upstream = Daemon::start(
        &format!(
            "[rtr]\nlisten = [\"127.0.0.1:{PORT}\"]\nmax-sessions-per-address = 100\n\
             [[source]]\npath = \"vrps.json\"\n"
        ),
        &[("vrps.json", json.as_bytes())],
    );
    upstream.wait_for_data(2);
    let leaf = Daemon::start(
        &format!(
            "[rtr]\nlisten = [\"127.0.0.1:{PORT}\"]\n[[source]]\nurl = \"rtr://127.0.0.1:{}\"\n",
            upstream.port
        ),
        &[],
    );
    let (_, synced) = common::rtr::wait_for_data(leaf.port, 2, WAIT);
    synced
        .table
        .assert_eq(&expected(&json, 2), "through the fetcher");
    leaf.wait_for_log("fetcher: seccomp:", WAIT);

    let kids = children_of(leaf.pid());
    assert_eq!(kids.len(), 3, "children: {kids:?}");
    let fetcher = kids
        .iter()
        .find(|p| p.argv0 == "rovd: fetcher")
        .expect("no fetcher")
        .pid;
    let s = status(fetcher);
    assert_locked_down("fetcher", fetcher, &s);
    let user = nix::unistd::User::from_name("_rovd").unwrap().unwrap();
    assert_eq!(s.uid[0], user.uid.as_raw(), "the fetcher runs as _rovd");
    assert_eq!(root_of(fetcher), leaf.dir.path().join("empty"));
    // Every descriptor is a socket, a pipe or an event file (and standard
    // input, /dev/null); none is a file or a directory.
    for fd in fs::read_dir(format!("/proc/{fetcher}/fd"))
        .unwrap()
        .flatten()
    {
        let target = fs::read_link(fd.path()).unwrap();
        let t = target.to_string_lossy();
        assert!(
            t.starts_with("socket:")
                || t.starts_with("pipe:")
                || t.starts_with("anon_inode:")
                || t == "/dev/null",
            "the fetcher holds {t}"
        );
    }
    let log = leaf.log();
    let landlock = log
        .lines()
        .find(|l| l.starts_with("fetcher: landlock:"))
        .unwrap();
    assert!(
        landlock.contains("not ") || landlock.contains("no filesystem access"),
        "{landlock}"
    );
    if landlock.contains("connect only") {
        assert!(
            landlock.contains(&format!("connect only to port {}", upstream.port)),
            "{landlock}"
        );
    }
    assert!(!log.contains("killed by signal"), "{log}");
}
