//! rtrload against a running rovd on 127.0.0.1: the content hash of a
//! file equals what `reset` receives, `follow` converges on the hash of
//! the next file, and `idle` holds its sessions; over TLS with a client
//! certificate, `reset` gets the same hash, and without one nothing. rovd is the workspace's
//! debug build, which `cargo test --workspace` builds first; without it
//! the tests are skipped.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rovd::payload::Snapshot;
use rovd::testdata::{self, Spec};

const RTRLOAD: &str = env!("CARGO_BIN_EXE_rtrload");
const ROVD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/debug/rovd");

/// Bound on every wait.
const WAIT: Duration = Duration::from_secs(30);

fn data(seed: u64) -> Snapshot {
    testdata::generate(&Spec {
        vrps: 2_000,
        seed,
        ..Spec::small()
    })
}

//------------ Rovd ----------------------------------------------------------

/// A running `rovd -d` serving `vrps.json`; stopped by pid on drop.
struct Rovd {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Rovd {
    /// Start rovd on `snapshot`, or `None` if it has not been built.
    fn start(snapshot: &Snapshot) -> Option<Rovd> {
        Self::start_with(snapshot, "", &[])
    }

    /// As [`Rovd::start`], with `extra` configuration at the end and
    /// `files` written beside it first.
    fn start_with(snapshot: &Snapshot, extra: &str, files: &[(&str, &str)]) -> Option<Rovd> {
        if !Path::new(ROVD).exists() {
            eprintln!("skipped: build rovd first ({ROVD} is missing)");
            return None;
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        // A control socket of the test's own, not the system's.
        let mut config = format!("control = \"{}\"\n", dir.path().join("rovd.sock").display());
        if nix::unistd::geteuid().is_root() {
            // rovd drops to its user and chroots: both must be able to
            // reach the data and an empty directory.
            use std::os::unix::fs::PermissionsExt;
            let user = match nix::unistd::User::from_name("_rovd") {
                Ok(Some(_)) => "_rovd",
                _ => "nobody",
            };
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
            let empty = dir.path().join("empty");
            fs::create_dir(&empty).unwrap();
            fs::set_permissions(&empty, fs::Permissions::from_mode(0o755)).unwrap();
            let _ = write!(
                config,
                "user = \"{user}\"\nchroot = \"{}\"\n",
                empty.display()
            );
        }
        let vrps = dir.path().join("vrps.json");
        fs::write(&vrps, testdata::to_rpki_client_json(snapshot)).unwrap();
        let _ = write!(
            config,
            "[rtr]\nlisten = [\"127.0.0.1:{port}\"]\nnotify-interval = 0\n\n\
             [[source]]\npath = \"{}\"\nmax-age = 0\n",
            vrps.display()
        );
        config += extra;
        for (name, text) in files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        let conf = dir.path().join("rovd.conf");
        fs::write(&conf, config).unwrap();
        let child = Command::new(ROVD)
            .arg("-d")
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn rovd");
        let rovd = Rovd { dir, port, child };
        rovd.wait_for_data();
        Some(rovd)
    }

    fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Until a reset succeeds: the port is open and the data loaded.
    fn wait_for_data(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = rtrload(&["reset", &self.target(), "--timeout", "5"]);
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "rovd served no data within {WAIT:?}"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Replace the data file as rpki-client does, with a later mtime.
    fn replace(&self, snapshot: &Snapshot) {
        let (path, tmp) = (self.path("vrps.json"), self.path(".vrps.json.tmp"));
        fs::write(&tmp, testdata::to_rpki_client_json(snapshot)).unwrap();
        let old = fs::metadata(&path).and_then(|m| m.modified()).unwrap();
        let mtime = (old + Duration::from_secs(1)).max(SystemTime::now());
        fs::File::options()
            .write(true)
            .open(&tmp)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        fs::rename(&tmp, &path).unwrap();
    }
}

impl Drop for Rovd {
    fn drop(&mut self) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

//------------ Helpers -------------------------------------------------------

fn rtrload(args: &[&str]) -> Output {
    Command::new(RTRLOAD)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rtrload")
}

/// Run rtrload with `--json`, insist on success, and return the last line.
fn json(args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = rtrload(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rtrload {args:?}: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().expect("output")).expect("JSON")
}

fn file_hash(path: &Path, version: u8) -> String {
    let v = json(&[
        "hash",
        path.to_str().unwrap(),
        "--version",
        &version.to_string(),
    ]);
    v["hash"].as_str().unwrap().to_owned()
}

//------------ Tests ---------------------------------------------------------

#[test]
fn reset_receives_the_file_hash() {
    let Some(rovd) = Rovd::start(&data(1)) else {
        return;
    };
    for version in 0..=2u8 {
        let want = file_hash(&rovd.path("vrps.json"), version);
        let v = json(&[
            "reset",
            &rovd.target(),
            "--sessions",
            "2",
            "--repeat",
            "2",
            "--version",
            &version.to_string(),
            "--expect-hash",
            &want,
        ]);
        let runs = v["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0]["hash"], want.as_str());
        assert_eq!(runs[0]["version"], version);
        assert!(runs[0]["pdus"].as_u64().unwrap() > 2 * 2_000);
    }
    // A wrong expectation fails.
    let out = rtrload(&["reset", &rovd.target(), "--expect-hash", "0123456789abcdef"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected 0123456789abcdef"));
}

#[test]
fn follow_converges_on_the_next_file() {
    follow(false);
}

#[test]
fn joined_sessions_follow_too() {
    follow(true);
}

fn follow(join: bool) {
    let old = data(if join { 5 } else { 2 });
    let Some(rovd) = Rovd::start(&old) else {
        return;
    };
    let new = testdata::mutate(&old, 5.0, 3);
    let target = rovd.target();
    let mut args = vec!["follow", &target, "--sessions", "3", "--timeout", "30"];
    if join {
        args.push("--join");
    }
    let mut child = Command::new(RTRLOAD)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run rtrload follow");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // The line ends by the time rtrload's own timeout does.
    stdout.read_line(&mut line).unwrap();
    assert!(line.starts_with("synced 3 sessions"), "{line:?}");
    rovd.replace(&new);
    let mut rest = String::new();
    stdout.read_line(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "rtrload follow: {status}: {rest}");
    let want = file_hash(&rovd.path("vrps.json"), 2);
    assert!(
        rest.starts_with("updated 3 sessions") && rest.contains(&format!("hash {want}")),
        "{rest:?}"
    );
}

#[test]
fn idle_holds_its_sessions() {
    idle(false);
}

#[test]
fn idle_sessions_can_join() {
    idle(true);
}

fn idle(join: bool) {
    let Some(rovd) = Rovd::start(&data(4)) else {
        return;
    };
    let start = Instant::now();
    let target = rovd.target();
    let mut args = vec!["idle", &target, "--sessions", "10", "--hold", "1"];
    if join {
        args.push("--join");
    }
    let out = rtrload(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(start.elapsed() >= Duration::from_secs(1));
    let mut lines = stdout.lines();
    assert!(lines.next().unwrap().starts_with("established 10 sessions"));
    let want = file_hash(&rovd.path("vrps.json"), 2);
    assert!(lines.next().unwrap().contains(&format!("hash {want}")));
}

#[test]
fn replay_serves_the_same_octets_and_wait_ready_sees_the_table() {
    let Some(rovd) = Rovd::start(&data(6)) else {
        return;
    };
    let want = file_hash(&rovd.path("vrps.json"), 1);
    let ready = json(&[
        "reset",
        &rovd.target(),
        "--version",
        "1",
        "--wait-ready",
        "--expect-hash",
        &want,
    ]);
    assert_eq!(ready["mode"], "ready");
    assert_eq!(ready["hash"], want.as_str());
    let direct = json(&["reset", &rovd.target(), "--version", "1"]);
    let octets = direct["runs"][0]["octets"].as_u64().unwrap();

    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut replay = Command::new(RTRLOAD)
        .args([
            "replay",
            "--from",
            &rovd.target(),
            "--listen",
            &listen,
            "--version",
            "1",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run rtrload replay");
    let mut line = String::new();
    BufReader::new(replay.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).expect("replaying line");
    // The recording is the whole answer, Cache Response to End of Data.
    assert_eq!(info["octets"].as_u64(), Some(octets));
    let checked = json(&["reset", &listen, "--version", "1", "--expect-hash", &want]);
    let framed = json(&[
        "reset",
        &listen,
        "--version",
        "1",
        "--frame-only",
        "--sessions",
        "3",
    ]);
    kill(
        Pid::from_raw(i32::try_from(replay.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    replay.wait().unwrap();
    assert_eq!(checked["runs"][0]["octets"].as_u64(), Some(octets));
    assert_eq!(framed["runs"][0]["octets"].as_u64(), Some(3 * octets));
    assert_eq!(framed["runs"][0]["completed"].as_u64(), Some(3));
}

//------------ TLS -----------------------------------------------------------

/// A certificate authority, and a certificate under it: for a server
/// (127.0.0.1) or a client. PEM certificate and key.
struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn issue(&self, server: bool) -> (String, String) {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(
            rcgen::DnType::CommonName,
            if server { "cache" } else { "router" },
        );
        // Both ends at 127.0.0.1: rovd checks a router's address too.
        p.subject_alt_names.push(rcgen::SanType::IpAddress(
            std::net::Ipv4Addr::LOCALHOST.into(),
        ));
        p.extended_key_usages = vec![if server {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

#[test]
fn reset_over_mutual_tls() {
    let (cache_ca, router_ca, other_ca) =
        (Ca::new("cache CA"), Ca::new("router CA"), Ca::new("other"));
    let (cert, key) = cache_ca.issue(true);
    let (router_cert, router_key) = router_ca.issue(false);
    let (stranger_cert, stranger_key) = other_ca.issue(false);
    let tls_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let extra = format!(
        "\n[tls]\nlisten = [\"127.0.0.1:{tls_port}\"]\ncertificate = \"cache.pem\"\n\
         key = \"cache.key\"\nclient-ca = \"routers.pem\"\n"
    );
    let files = [
        ("cache.pem", cert.as_str()),
        ("cache.key", key.as_str()),
        ("routers.pem", &router_ca.cert.pem()),
        ("ca.pem", &cache_ca.cert.pem()),
        ("other.pem", &other_ca.cert.pem()),
        ("router.pem", router_cert.as_str()),
        ("router.key", router_key.as_str()),
        ("stranger.pem", stranger_cert.as_str()),
        ("stranger.key", stranger_key.as_str()),
    ];
    let Some(rovd) = Rovd::start_with(&data(7), &extra, &files) else {
        return;
    };
    let p = |name: &str| rovd.path(name).display().to_string();
    let target = format!("127.0.0.1:{tls_port}");
    let want = file_hash(&rovd.path("vrps.json"), 2);
    let v = json(&[
        "reset",
        &target,
        "--sessions",
        "2",
        "--tls-ca",
        &p("ca.pem"),
        "--tls-cert",
        &p("router.pem"),
        "--tls-key",
        &p("router.key"),
        "--expect-hash",
        &want,
    ]);
    assert_eq!(v["runs"][0]["hash"], want.as_str());

    // Refused: no client certificate, one from another CA, and a cache
    // certificate the client does not trust.
    let (ca, other) = (p("ca.pem"), p("other.pem"));
    let (stranger, stranger_key) = (p("stranger.pem"), p("stranger.key"));
    let (router, router_key) = (p("router.pem"), p("router.key"));
    for args in [
        vec!["--tls-ca", &ca],
        vec![
            "--tls-ca",
            &ca,
            "--tls-cert",
            &stranger,
            "--tls-key",
            &stranger_key,
        ],
        vec![
            "--tls-ca",
            &other,
            "--tls-cert",
            &router,
            "--tls-key",
            &router_key,
        ],
    ] {
        let mut all = vec!["reset", &target, "--timeout", "10"];
        all.extend(args.iter().copied());
        let out = rtrload(&all);
        assert!(!out.status.success(), "{all:?} succeeded");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("TLS"),
            "{all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
