//! TCP-MD5 and TCP-AO on rovd's listeners, end to end on loopback: the
//! built rovd with a key for 127.0.0.1 serves `rovctl` with that key
//! exactly the input data, and the kernel drops connection attempts
//! without a key or with a wrong one. The keys are in the key file, which
//! only its owner may read. Also what `rovd -n` refuses: a key file others
//! may read, keys in the configuration itself, a key too long, a bad peer,
//! and TCP-AO on a kernel without it.
//!
//! The TCP-AO cases need Linux 6.7 or later built with `CONFIG_TCP_AO`; on
//! other kernels they say so and pass, also under CI, whose kernel is not
//! ours to choose.

mod common;

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::data::{expected, Data};
use common::{children_of, config, is_root, rovctl, text, write_keys, Daemon, ROVD, WAIT};
use nix::sys::signal::Signal;

const KEY: &str =
    "an RTR key shared by rovd and this test, long enough for the spec: 80 octets....";

/// `rovctl dump` at version 2 from the daemon with `auth` options; the
/// connect timeout is short since a refused attempt ends only with it.
fn dump(d: &Daemon, auth: &[&str]) -> Output {
    let cache = format!("127.0.0.1:{}", d.port);
    let mut args = vec!["dump", "--version", "2", "--connect-timeout", "3"];
    args.extend_from_slice(auth);
    args.push(&cache);
    rovctl(&args)
}

/// The dump succeeded and holds exactly the input.
fn assert_served(out: &Output, json: &str, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: rovctl failed\n{}",
        text(&out.stderr)
    );
    expected(&text(&out.stdout), 2).assert_eq(&expected(json, 2), what);
}

/// The dump could not connect: the kernel dropped the SYN, so the connect
/// timed out, and rovd never saw a session.
fn assert_dropped(d: &Daemon, out: &Output, what: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {err}");
    assert!(out.stdout.is_empty(), "{what}: printed a table");
    assert!(err.contains("timed out"), "{what}: {err}");
    assert_eq!(d.log_count(" opened"), 0, "{what}: a session opened");
}

/// The rtr worker of `d` is sandboxed (seccomp filter, no new privileges)
/// and, when the tests run as root, runs as the unprivileged user: the
/// keyed listener is served by the fully locked-down worker.
fn assert_rtr_locked_down(d: &Daemon) {
    let rtr = children_of(d.pid())
        .into_iter()
        .find(|p| p.argv0 == "rovd: rtr")
        .expect("the rtr worker");
    let status = fs::read_to_string(format!("/proc/{}/status", rtr.pid)).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .unwrap_or_else(|| panic!("no {name} in the rtr worker's status"))
            .trim()
            .to_string()
    };
    assert_eq!(field("Seccomp"), "2", "rtr seccomp mode");
    assert_eq!(field("NoNewPrivs"), "1", "rtr no_new_privs");
    if is_root() {
        let user = nix::unistd::User::from_name("_rovd").unwrap().unwrap();
        let uids: Vec<u32> = field("Uid")
            .split_whitespace()
            .map(|u| u.parse().unwrap())
            .collect();
        assert_eq!(uids, [user.uid.as_raw(); 4], "rtr uids");
        assert_eq!(field("CapEff"), "0000000000000000", "rtr capabilities");
    } else {
        println!("not root: rovd ran without the user switch and chroot");
    }
}

/// Exactly one session opened: the one with the right key. Its log line
/// may reach the capture a moment after rovctl is done.
fn assert_one_session(d: &Daemon) {
    assert!(d.log_wait(WAIT, |t| t.contains(" opened")), "no session");
    assert_eq!(d.log_count(" opened"), 1, "{}", d.log());
}

fn wait_for_serial(d: &Daemon) {
    d.wait_for_log("VRPs,", WAIT);
}

#[test]
fn tcp_md5_serves_only_the_right_key() {
    let json = Data::generate(31, 1500, 700).to_json();
    let keys = format!("[[tcp-md5]]\npeer = \"127.0.0.1\"\nkey = \"{KEY}\"\n");
    let mut d = Daemon::start_with_keys(&config(2), &keys, &[("vrps.json", json.as_bytes())]);
    let key_file = d.dir.path().join("rovd.keys");
    assert_eq!(
        fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    wait_for_serial(&d);
    assert_rtr_locked_down(&d);
    assert!(
        d.log()
            .contains(&format!("127.0.0.1:{}: 1 TCP-MD5/TCP-AO keys set", d.port)),
        "{}",
        d.log()
    );

    assert_dropped(&d, &dump(&d, &[]), "no key");
    assert_dropped(
        &d,
        &dump(&d, &["--tcp-md5-key", "not the key"]),
        "wrong key",
    );
    let out = dump(&d, &["--tcp-md5-key", KEY]);
    assert_served(&out, &json, "TCP-MD5 dump");
    assert_one_session(&d);

    // A router without a key of its own is served as before: 127.0.0.2
    // has none.
    let from = SocketAddr::from(([127, 0, 0, 2], 0));
    let stream = connect_from(from, SocketAddr::from(([127, 0, 0, 1], d.port)));
    d.wait_for_log("session 127.0.0.2:", WAIT);
    drop(stream);

    // The key file is read once, at start-up: a reload, which the
    // unprivileged parent does, keeps the keys in force, and a new key
    // file needs a restart.
    fs::write(&key_file, keys.replace(KEY, "another key")).unwrap();
    d.signal(Signal::SIGHUP);
    d.wait_for_log("configuration reloaded", WAIT);
    assert_served(
        &dump(&d, &["--tcp-md5-key", KEY]),
        &json,
        "TCP-MD5 dump after a reload",
    );
    let moved = fs::read_to_string(&d.config_path)
        .unwrap()
        .replace("rovd.keys", "other.keys");
    fs::write(&d.config_path, moved).unwrap();
    d.signal(Signal::SIGHUP);
    d.wait_for_log("key-file changed: restart required", WAIT);
    assert_served(
        &dump(&d, &["--tcp-md5-key", KEY]),
        &json,
        "TCP-MD5 dump after the refused reload",
    );
    d.assert_running();
}

/// A plain TCP connection from the local address `from`.
fn connect_from(from: SocketAddr, to: SocketAddr) -> TcpStream {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    let (SocketAddr::V4(from), SocketAddr::V4(to)) = (from, to) else {
        panic!("IPv4 only")
    };
    bind(fd.as_raw_fd(), &SockaddrIn::from(from)).unwrap();
    connect(fd.as_raw_fd(), &SockaddrIn::from(to)).unwrap();
    TcpStream::from(fd)
}

#[test]
fn tcp_ao_serves_only_the_right_key() {
    if !privsep::tcpsig::ao_supported().unwrap() {
        println!(
            "skipped: kernel has no TCP-AO (Linux 6.7 or later with CONFIG_TCP_AO; this is {})",
            kernel_release()
        );
        return;
    }
    let json = Data::generate(32, 1500, 700).to_json();
    let keys = format!(
        "[[tcp-ao]]\npeer = \"127.0.0.0/8\"\nkey = \"{KEY}\"\n\
         send-id = 1\nrecv-id = 2\nalgorithm = \"hmac-sha1\"\n"
    );
    let d = Daemon::start_with_keys(&config(2), &keys, &[("vrps.json", json.as_bytes())]);
    wait_for_serial(&d);
    assert_rtr_locked_down(&d);

    assert_dropped(&d, &dump(&d, &[]), "no key");
    let wrong = ["--tcp-ao-key", "not the key", "--tcp-ao-ids", "2:1"];
    assert_dropped(&d, &dump(&d, &wrong), "wrong key");
    let right = ["--tcp-ao-key", KEY, "--tcp-ao-ids", "2:1"];
    assert_served(&dump(&d, &right), &json, "TCP-AO dump");
    assert_one_session(&d);
}

fn kernel_release() -> String {
    nix::sys::utsname::uname().map_or_else(
        |_| "unknown".into(),
        |u| u.release().to_string_lossy().into_owned(),
    )
}

/// `rovd -n -f FILE` for a configuration whose key file holds `keys`,
/// written with `mode`; the path of the key file.
fn check(keys: &str, mode: u32) -> (Output, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("rovd.conf");
    fs::write(&conf, "key-file = \"rovd.keys\"\n").unwrap();
    let path = dir.path().join("rovd.keys");
    write_keys(&path, keys);
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    let out = Command::new(ROVD)
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .output()
        .unwrap();
    (out, path, dir)
}

fn assert_refused(out: &Output, path: &Path, what: &[&str]) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    for w in what {
        assert!(err.contains(w), "no {w:?} in {err}");
    }
    assert!(!err.contains(KEY), "the key shows in {err}");
}

#[test]
fn check_refuses_keys_others_may_read() {
    let keys = format!("[[tcp-md5]]\npeer = \"192.0.2.1\"\nkey = \"{KEY}\"\n");
    let (out, _path, _dir) = check(&keys, 0o600);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "configuration OK\n");
    for mode in [0o640, 0o644, 0o660, 0o604] {
        let (out, path, _dir) = check(&keys, mode);
        assert_refused(&out, &path, &["chmod 600", &format!("{mode:04o}")]);
    }
    // Keys in the configuration, which the unprivileged parent re-reads
    // and so must be readable by _rovd, are refused at their line.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("rovd.conf");
    fs::write(&conf, format!("[rtr]\nrefresh = 100\n{keys}")).unwrap();
    let out = Command::new(ROVD)
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .output()
        .unwrap();
    assert_refused(&out, &conf, &[":4:", "key file (key-file)"]);
}

#[test]
fn check_refuses_bad_keys_and_peers() {
    let long = "k".repeat(81);
    let (out, path, _dir) = check(
        &format!("[[tcp-md5]]\npeer = \"192.0.2.1\"\nkey = \"{long}\"\n"),
        0o600,
    );
    assert_refused(&out, &path, &[":2:", "81 octets", "1 to 80"]);
    assert!(!text(&out.stderr).contains(&long));
    for (peer, why) in [
        ("router.example.net", "not an address"),
        ("192.0.2.1/24", "host bits"),
        ("2001:db8::/200", "0 to 128"),
    ] {
        let (out, path, _dir) = check(
            &format!("\n[[tcp-ao]]\npeer = \"{peer}\"\nkey = \"k\"\nsend-id = 1\nrecv-id = 1\nalgorithm = \"hmac-sha1\"\n"),
            0o600,
        );
        assert_refused(&out, &path, &[":3:", why]);
    }
}

/// `-n` also checks what the configuration needs of the system: TCP-AO
/// keys on a kernel without TCP-AO are refused, never ignored.
#[test]
fn check_knows_whether_the_kernel_has_tcp_ao() {
    let conf = "[[tcp-ao]]\npeer = \"192.0.2.1\"\nkey = \"k\"\nsend-id = 1\nrecv-id = 1\n\
                algorithm = \"cmac-aes128\"\n";
    let (out, path, _dir) = check(conf, 0o600);
    if privsep::tcpsig::ao_supported().unwrap() {
        assert!(out.status.success(), "{}", text(&out.stderr));
    } else {
        assert_refused(&out, &path, &["this kernel has no TCP-AO", "Linux 6.7"]);
    }
}

/// The daemon does not start on a kernel without TCP-AO either; with it,
/// it starts and its listener refuses a plain connection from the peer.
#[test]
fn start_without_tcp_ao_fails_clearly() {
    if privsep::tcpsig::ao_supported().unwrap() {
        println!("kernel has TCP-AO: covered by tcp_ao_serves_only_the_right_key");
        return;
    }
    let keys = "[[tcp-ao]]\npeer = \"127.0.0.1\"\nkey = \"k\"\nsend-id = 1\nrecv-id = 1\n\
                algorithm = \"hmac-sha1\"\n";
    let json = Data::generate(33, 10, 10).to_json();
    let mut d = Daemon::spawn_with_keys(&config(2), keys, &[("vrps.json", json.as_bytes())]);
    let status = d.wait_exit(WAIT);
    assert!(!status.success());
    // The capture thread may still be taking in the last line.
    d.wait_for_log("this kernel has no TCP-AO", WAIT);
    assert!(
        TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], d.port)),
            Duration::from_secs(1)
        )
        .is_err(),
        "something listens"
    );
}
