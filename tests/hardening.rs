//! What a host on the network, or a hostile input, cannot do to rovd: hold
//! connections without a word, take the table from one address, flood the
//! log with Error Reports; hang the validator with a FIFO or a huge SLURM
//! file; and what rovd does for the operator: a clean environment for its
//! children, Landlock or a clear refusal, syslog lines that survive a
//! syslogd restart, and a SIGHUP that accepts a held-back update even while
//! the file settles. End to end on the built binary, loopback only.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::thread;
use std::time::{Duration, Instant};

use common::data::{expected, Data};
use common::rtr::RtrClient;
use common::{children_of, config, free_port, skip, Daemon, WAIT};
use nix::sys::signal::Signal;

/// The common test configuration, whose source may change entirely from
/// one update to the next (no `max-drop` guard).
fn unguarded() -> String {
    config(2).replace(
        "path = \"vrps.json\"\n",
        "path = \"vrps.json\"\nmax-drop = 100\n",
    )
}

/// [`unguarded`] with `[rtr]` keys set: `key = value` lines, replacing the
/// common value where there is one.
fn config_with(rtr: &str) -> String {
    let mut conf = unguarded();
    for line in rtr.lines() {
        let key = line.split(" = ").next().unwrap();
        let old = conf.lines().find(|l| l.starts_with(&format!("{key} = ")));
        conf = match old {
            Some(old) => conf.replacen(old, line, 1),
            None => conf.replacen("[rtr]\n", &format!("[rtr]\n{line}\n"), 1),
        };
    }
    conf
}

/// A plain TCP connection to the daemon from `from` (a loopback address).
fn connect_from(from: [u8; 4], port: u16) -> TcpStream {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    let [a, b, c, d] = from;
    bind(fd.as_raw_fd(), &SockaddrIn::new(a, b, c, d, 0)).unwrap();
    connect(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, port)).unwrap();
    TcpStream::from(fd)
}

/// Everything the cache sends on `stream` until it closes, within
/// `timeout`; panics if it does not close.
fn read_to_close(stream: &mut TcpStream, timeout: Duration) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "not closed within {timeout:?}; got {got:?}"
        );
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// The Error Report a refused connection gets: its code and text.
fn refusal(octets: &[u8]) -> (u16, String) {
    assert!(octets.len() >= 16, "no Error Report: {octets:?}");
    assert_eq!(octets[1], 10, "not an Error Report: {octets:?}");
    let code = u16::from_be_bytes([octets[2], octets[3]]);
    let n = u32::from_be_bytes(octets[8..12].try_into().unwrap()) as usize;
    let text = &octets[16 + n..];
    (code, String::from_utf8_lossy(text).into_owned())
}

fn data() -> (String, Vec<u8>) {
    let json = Data::generate(71, 300, 100).to_json();
    let bytes = json.clone().into_bytes();
    (json, bytes)
}

//------------ No lock-out ---------------------------------------------------

#[test]
fn a_connection_that_says_nothing_is_closed_after_the_query_timeout() {
    let (json, bytes) = data();
    let d = Daemon::start(&config_with("query-timeout = 2"), &[("vrps.json", &bytes)]);
    let (_, synced) = d.wait_for_data(2);
    synced
        .table
        .assert_eq(&expected(&json, 2), "a router that asks");
    let opened = Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    let got = read_to_close(&mut silent, Duration::from_secs(10));
    assert!(got.is_empty(), "{got:?}");
    assert!(opened.elapsed() >= Duration::from_secs(2));
    d.wait_for_log("closed (no query within 2 s)", WAIT);
    // A router that asks in time is served.
    let mut late = RtrClient::connect(d.port);
    thread::sleep(Duration::from_secs(1));
    late.sync_full(1)
        .table
        .assert_eq(&expected(&json, 1), "a router that asks within the timeout");
}

#[test]
fn one_address_cannot_take_the_table() {
    let (json, bytes) = data();
    let conf = config_with("max-sessions-per-address = 3");
    let d = Daemon::start(&conf, &[("vrps.json", &bytes)]);
    d.wait_for_data(2);
    let held: Vec<TcpStream> = (0..3)
        .map(|_| connect_from([127, 0, 0, 2], d.port))
        .collect();
    d.log_wait(WAIT, |t| t.matches("session 127.0.0.2:").count() >= 3);
    let mut fourth = connect_from([127, 0, 0, 2], d.port);
    let (code, text) = refusal(&read_to_close(&mut fourth, WAIT));
    assert_eq!(code, 1, "Internal Error");
    assert!(
        text.contains("limit of 3 sessions from 127.0.0.2"),
        "{text}"
    );
    d.wait_for_log("refused: limit of 3 sessions from 127.0.0.2 reached", WAIT);
    // Another address is served as before.
    let mut router = RtrClient::connect(d.port);
    router
        .sync_full(2)
        .table
        .assert_eq(&expected(&json, 2), "a router from 127.0.0.1");
    drop(held);
}

#[test]
fn a_full_table_and_every_view_connection_leave_descriptors_to_spare() {
    let (_, bytes) = data();
    let http = free_port();
    let conf = format!(
        "{}[http]\nlisten = [\"127.0.0.1:{http}\"]\n",
        config_with("max-sessions-per-address = 16\nmax-sessions = 16")
    );
    let mut d = Daemon::start(&conf, &[("vrps.json", &bytes)]);
    let _router = d.wait_for_data(2);
    let held: Vec<TcpStream> = (0..15)
        .map(|_| TcpStream::connect(("127.0.0.1", d.port)).unwrap())
        .collect();
    d.log_wait(WAIT, |t| t.matches(" opened").count() >= 16);
    // All but one of the view connections rovd takes at once (64).
    let views: Vec<TcpStream> = (0..63)
        .map(|_| TcpStream::connect(("127.0.0.1", http)).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(300));
    let mut last = TcpStream::connect(("127.0.0.1", http)).unwrap();
    last.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let answer = String::from_utf8_lossy(&read_to_close(&mut last, WAIT)).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    let mut one_more = TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    let (_, text) = refusal(&read_to_close(&mut one_more, WAIT));
    assert!(text.contains("limit of 16 sessions reached"), "{text}");
    assert!(!d.log().contains("accept: "), "{}", d.log());
    d.assert_running();
    drop((held, views));
}

#[test]
fn a_full_table_turns_new_connections_away_and_keeps_serving_its_routers() {
    let (json, bytes) = data();
    let conf = config_with("max-sessions-per-address = 4\nmax-sessions = 4");
    let d = Daemon::start(&conf, &[("vrps.json", &bytes)]);
    let (mut router, mut synced) = d.wait_for_data(2);
    let held: Vec<TcpStream> = (0..3)
        .map(|_| connect_from([127, 0, 0, 3], d.port))
        .collect();
    d.log_wait(WAIT, |t| t.matches("session 127.0.0.3:").count() >= 3);
    let mut one_more = TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    let (_, text) = refusal(&read_to_close(&mut one_more, WAIT));
    assert!(text.contains("limit of 4 sessions reached"), "{text}");
    // The router already in still follows an update.
    let json2 = Data::generate(72, 300, 100).to_json();
    d.replace_file("vrps.json", json2.as_bytes());
    router.expect_notify(WAIT);
    assert!(router.sync_serial(&mut synced));
    synced.table.assert_eq(
        &expected(&json2, 2),
        "the router already in, after an update",
    );
    drop((held, json));
}

//------------ Bounded per session -------------------------------------------

#[test]
fn error_reports_without_a_query_close_the_session_and_the_log_stays_short() {
    let (_, bytes) = data();
    let d = Daemon::start(&config(2), &[("vrps.json", &bytes)]);
    let (mut router, _) = d.wait_for_data(2);
    // No Data Available: the one code a router may send without ending
    // the session.
    let report = [2, 10, 0, 2, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0];
    for _ in 0..8 {
        router.send(&report);
    }
    router.expect_silence(Duration::from_millis(500));
    router.send(&report);
    router.expect_close(WAIT);
    d.wait_for_log(
        "more than 8 Error Reports from router without a query",
        WAIT,
    );
    let log = d.log();
    assert_eq!(log.matches("router reported error 2").count(), 5, "{log}");
    assert_eq!(
        log.matches("more router-caused events; not logged for this session")
            .count(),
        1,
        "{log}"
    );
}

//------------ Inputs that must not hang or flood the validator --------------

#[test]
fn a_fifo_named_like_a_source_does_not_hang_the_validator() {
    let (json, bytes) = data();
    let conf = format!("{}\n[[source]]\npath = \"trap.json\"\n", unguarded());
    let d = Daemon::start(&conf, &[("vrps.json", &bytes)]);
    nix::unistd::mkfifo(
        &d.path("trap.json"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    d.signal(Signal::SIGHUP);
    d.wait_for_log("trap.json: not a regular file", WAIT);
    // The other source is served and still followed.
    let (mut router, mut synced) = d.wait_for_data(2);
    synced.table.assert_eq(&expected(&json, 2), "beside a FIFO");
    let json2 = Data::generate(73, 300, 100).to_json();
    d.replace_file("vrps.json", json2.as_bytes());
    router.expect_notify(WAIT);
    assert!(router.sync_serial(&mut synced));
    synced
        .table
        .assert_eq(&expected(&json2, 2), "after an update");
}

#[test]
fn a_slurm_file_over_16_mib_is_refused() {
    let (_, bytes) = data();
    let conf = format!("{}\n[[slurm]]\npath = \"big.slurm.json\"\n", config(2));
    let mut big = b"{\"slurmVersion\": 1, \"comment\": \"".to_vec();
    big.resize(17 << 20, b'x');
    big.extend_from_slice(b"\"}");
    let d = Daemon::start(&conf, &[("vrps.json", &bytes), ("big.slurm.json", &big)]);
    d.wait_for_log("big.slurm.json: larger than 16 MiB", WAIT);
    d.wait_for_data(2);
}

//------------ No silent weakening -------------------------------------------

#[test]
fn children_start_with_an_empty_environment() {
    let (_, bytes) = data();
    let d = Daemon::start_with(
        &config(2),
        &[("vrps.json", &bytes)],
        None,
        &[("ROVD_TEST_SECRET", "should stay with the parent")],
    );
    d.wait_for_data(2);
    let children = children_of(d.pid());
    assert_eq!(children.len(), 2, "{children:?}");
    for child in children {
        let env = std::fs::read(format!("/proc/{}/environ", child.pid)).unwrap();
        assert!(
            env.is_empty(),
            "{}: {}",
            child.argv0,
            String::from_utf8_lossy(&env)
        );
    }
}

#[test]
fn without_landlock_rovd_refuses_unless_told_best_effort() {
    if !cfg!(feature = "sandbox-probe") {
        skip("the sandbox-probe feature is not built");
        return;
    }
    let (_, bytes) = data();
    let probe = [("ROVD_SANDBOX_PROBE_NO_LANDLOCK", "1")];
    let mut d = Daemon::spawn_with(&config(2), &[("vrps.json", &bytes)], None, &probe);
    let status = d.wait_exit(WAIT);
    assert!(!status.success());
    d.wait_for_log(
        "landlock: not enabled in this kernel, and it is required",
        WAIT,
    );
    d.wait_for_log("landlock = \"best-effort\"", WAIT);

    let conf = format!("landlock = \"best-effort\"\n{}", config(2));
    let d = Daemon::start_with(&conf, &[("vrps.json", &bytes)], None, &probe);
    d.wait_for_data(2);
    d.wait_for_log(
        "validator: landlock: not enabled in this kernel: files are confined by the user and seccomp only",
        WAIT,
    );
}

//------------ syslog --------------------------------------------------------

/// A syslog daemon on a socket of our own: the lines it received.
struct Syslogd {
    sock: UnixDatagram,
    lines: Vec<String>,
}

impl Syslogd {
    /// A socket anyone may send to, as syslogd's is: the parent, which
    /// reconnects, runs as the unprivileged user by then.
    fn bind(path: &std::path::Path) -> Syslogd {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::remove_file(path);
        let sock = UnixDatagram::bind(path).unwrap();
        let open = |p: &std::path::Path, mode| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        open(path, 0o666);
        open(path.parent().unwrap(), 0o755);
        Syslogd {
            sock,
            lines: Vec::new(),
        }
    }

    /// Read until a line holds each of `want`, within `WAIT`.
    fn wait_for(&mut self, want: &[&str]) {
        let deadline = Instant::now() + WAIT;
        let mut buf = vec![0u8; 8192];
        while !want
            .iter()
            .all(|w| self.lines.iter().any(|l| l.contains(w)))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no syslog lines with all of {want:?}:\n{}",
                self.lines.join("\n")
            );
            self.sock.set_read_timeout(Some(left)).unwrap();
            if let Ok(n) = self.sock.recv(&mut buf) {
                self.lines
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    }
}

#[test]
fn every_process_logs_to_syslog_and_keeps_doing_so_when_syslogd_restarts() {
    let (_, bytes) = data();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("log");
    let mut syslogd = Syslogd::bind(&socket);
    let d = Daemon::start_args(
        &config(2),
        &[("vrps.json", &bytes)],
        &["--syslog", socket.to_str().unwrap()],
    );
    syslogd.wait_for(&["rovd[", "parent: started", "validator: ", "rtr: serial 0"]);
    // RFC 3164, daemon facility (3 × 8) at severity info (6).
    assert!(
        syslogd.lines.iter().any(|l| l.starts_with("<30>")),
        "{:?}",
        syslogd.lines
    );
    // syslogd restarts: a new socket at the same path.
    drop(syslogd);
    let mut syslogd = Syslogd::bind(&socket);
    d.signal(Signal::SIGHUP);
    let want = [
        "parent: SIGHUP: reloading",
        "validator: reloading all sources",
        "rtr: configuration reloaded",
    ];
    syslogd.wait_for(&want);
}

//------------ SIGHUP and a file that is still settling ----------------------

#[test]
fn a_sighup_right_after_an_in_place_rewrite_accepts_the_held_back_update() {
    let json = Data::generate(74, 1000, 200).to_json();
    let conf = config(2).replace(
        "path = \"vrps.json\"\n",
        "path = \"vrps.json\"\nmax-drop = 10\n",
    );
    let d = Daemon::start(&conf, &[("vrps.json", json.as_bytes())]);
    let (mut router, mut synced) = d.wait_for_data(2);
    // Most of the table gone: held back without a confirmation.
    let small = Data::generate(75, 50, 10).to_json();
    std::fs::write(d.path("vrps.json"), &small).unwrap();
    d.wait_for_log("update held back", WAIT);
    // Rewritten in place again and confirmed at once, while the file must
    // still sit still for a second before it is read.
    let smaller = Data::generate(76, 40, 10).to_json();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(d.path("vrps.json"))
        .unwrap();
    f.write_all(smaller.as_bytes()).unwrap();
    drop(f);
    d.signal(Signal::SIGHUP);
    router.expect_notify(Duration::from_secs(20));
    assert!(router.sync_serial(&mut synced));
    synced
        .table
        .assert_eq(&expected(&smaller, 2), "the confirmed update");
    assert_eq!(d.log_count("update held back"), 1, "{}", d.log());
}
