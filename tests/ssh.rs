//! RTR over SSH (RFC 6810 §7.1, RFC 8210 §9): rovd offered as the
//! `rpki-rtr` subsystem of a real OpenSSH sshd through `rovctl proxy`,
//! configured with the shipped `etc/sshd-rpki-rtr.conf`.
//!
//! `rovctl proxy` is first checked on its own: octets unchanged both ways,
//! the half-close, its log line, and the failure to connect. Then, as root
//! (sshd's privilege separation needs it) and with the login user
//! `rovd-rtr` that `.ci/run` creates, the test starts its own sshd on a
//! free loopback port with its own host key and an authorized key in a
//! temporary directory: rtrlib's `rtrclient` syncs over SSH and follows an
//! update, `ssh -s … rpki-rtr` gets the whole version 2 table, both equal
//! to the input exactly, and the user can get nothing but the proxy — no
//! command, no terminal, no forwarding. rovd's log shows each proxied
//! session under the local port the proxy logged for the SSH client.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::clients::{sessions, Service};
use common::data::{expected, Data};
use common::rtr::{decode, reset_query, Pdu, Table};
use common::rtrclient::{distance, rtrclient, ssh_socket, Rtrclient};
use common::{config, free_port, is_root, Daemon, LogBuf, ROVCTL, WAIT};

const SSHD: &str = "/usr/sbin/sshd";
/// The routers' login user of the recipe; `.ci/run` creates it.
const USER: &str = "rovd-rtr";
/// The documented sshd configuration, adapted below to the test's paths.
const RECIPE: &str = include_str!("../etc/sshd-rpki-rtr.conf");

//------------ Running a command with its input ------------------------------

/// What a command did with its input: exit status (`None` if it had to be
/// killed after `WAIT`), standard output, standard error.
struct Ran {
    status: Option<ExitStatus>,
    out: Vec<u8>,
    err: String,
}

impl Ran {
    fn ok(&self, what: &str) {
        assert!(
            self.status.is_some_and(|s| s.success()),
            "{what}: {:?}\nstderr:\n{}",
            self.status,
            self.err
        );
    }
}

/// Run `cmd`, write `input` to its standard input and close it, and
/// collect everything it writes until it exits (at most `WAIT`).
fn exchange(cmd: &mut Command, input: &[u8]) -> Ran {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
        // Dropping stdin is the end of input the tested side sees.
    });
    let mut stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let err = LogBuf::default();
    let err_reader = err.capture(child.stderr.take().unwrap());
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    let out = reader.join().unwrap();
    let _ = err_reader.join();
    Ran {
        status,
        out,
        err: err.text(),
    }
}

/// The table in `bytes`, which must be exactly one complete answer to a
/// Reset Query at `version` and nothing else.
fn full_answer(bytes: &[u8], version: u8) -> Table {
    let mut pdus = Vec::new();
    let mut at = 0;
    while let Some((pdu, n)) = decode(&bytes[at..]) {
        pdus.push(pdu);
        at += n;
    }
    assert_eq!(at, bytes.len(), "octets after the last whole PDU");
    assert!(
        matches!(pdus.first(), Some(Pdu::CacheResponse { version: v, .. }) if *v == version),
        "answer does not start with a v{version} Cache Response: {:?}",
        pdus.first()
    );
    assert!(
        matches!(pdus.last(), Some(Pdu::EndOfData { version: v, .. }) if *v == version),
        "answer does not end with a v{version} End of Data: {:?}",
        pdus.last()
    );
    let payload = &pdus[1..pdus.len() - 1];
    assert!(payload.iter().all(|p| p.version() == version));
    Table::from_full(payload)
}

/// The local address the proxy used, from its log line
/// (`… session 127.0.0.1:PORT to cache …`).
fn proxied_from(line: &str) -> String {
    line.split(": session ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no session address in {line:?}"))
        .to_string()
}

/// rovd's record of the session from `peer`: opened once, and closed.
fn assert_proxied_session(daemon: &Daemon, peer: &str) -> common::clients::SessionLog {
    let closed = |log: &str| {
        sessions(log)
            .iter()
            .any(|(p, s)| p == peer && s.closed.is_some())
    };
    assert!(
        daemon.log_wait(WAIT, closed),
        "rovd logged no closed session from {peer}:\n{}",
        daemon.log()
    );
    let (_, s) = sessions(&daemon.log())
        .into_iter()
        .find(|(p, _)| p == peer)
        .unwrap();
    assert_eq!(s.opened, 1, "{peer}: {s:?}");
    s
}

//------------ rovctl proxy on its own ----------------------------------------

#[test]
fn proxy_copies_both_ways_and_half_closes() {
    let data = Data::generate(91, 3000, 1500);
    let json = data.to_json();
    let daemon = Daemon::start(&config(2), &[("vrps.json", json.as_bytes())]);
    daemon.wait_for_data(2);
    let cache = format!("127.0.0.1:{}", daemon.port);

    // The whole query, then end of input: the cache still answers it in
    // full, then closes, and the proxy exits 0.
    let ran = exchange(
        Command::new(ROVCTL)
            .args(["proxy", "-d", &cache])
            .env("SSH_CONNECTION", "192.0.2.7 50112 192.0.2.1 22"),
        &reset_query(2),
    );
    ran.ok("rovctl proxy");
    full_answer(&ran.out, 2).assert_eq(&expected(&json, 2), "through rovctl proxy");

    let lines: Vec<&str> = ran.err.lines().collect();
    assert_eq!(lines.len(), 1, "proxy stderr: {}", ran.err);
    let line = lines[0];
    assert!(
        line.starts_with("rovctl: proxy: ssh client 192.0.2.7 port 50112 to 192.0.2.1 port 22: ")
            && line.ends_with(&format!(" to cache {cache}")),
        "{line}"
    );
    let s = assert_proxied_session(&daemon, &proxied_from(line));
    assert_eq!((s.resets, s.versions.as_slice()), (1, &[2u8][..]), "{s:?}");
}

#[test]
fn proxy_without_cache_fails_with_one_line() {
    let port = free_port();
    let ran = exchange(
        Command::new(ROVCTL).args(["proxy", &format!("127.0.0.1:{port}")]),
        &reset_query(1),
    );
    assert_eq!(ran.status.and_then(|s| s.code()), Some(1), "{}", ran.err);
    assert!(ran.out.is_empty());
    assert_eq!(ran.err.lines().count(), 1, "{}", ran.err);
    assert!(
        ran.err.starts_with(&format!(
            "rovctl: proxy: cannot connect to 127.0.0.1:{port}"
        )),
        "{}",
        ran.err
    );
}

//------------ sshd -------------------------------------------------------------

/// A running `sshd -D -e` with the recipe on a free loopback port, in a
/// directory of its own; stopped on drop.
struct Sshd {
    service: Service,
    port: u16,
    dir: tempfile::TempDir,
}

impl Sshd {
    /// Start sshd serving `rovd_port`, or say why the test is skipped.
    #[allow(clippy::too_many_lines)] // sshd's configuration, keys and start, in order
    fn start(rovd_port: u16) -> Option<Sshd> {
        if !is_root() {
            common::skip("needs root: sshd's privilege separation");
            return None;
        }
        if !Path::new(SSHD).exists() {
            common::skip("sshd not installed (Debian openssh-server)");
            return None;
        }
        let Some(user) = nix::unistd::User::from_name(USER).ok().flatten() else {
            common::skip(&format!(
                "no user {USER}: useradd --system --home-dir /nonexistent \
                 --no-create-home --shell /bin/sh --password '*' {USER} (.ci/run does)"
            ));
            return None;
        };
        // sshd's privilege separation directory, which its package leaves
        // to systemd to create.
        fs::create_dir_all("/run/sshd").unwrap();
        // sshd reads the authorized keys as the user and insists (its
        // StrictModes) that no directory above them is writable by others:
        // not under /tmp, then, but in a root-owned directory the user
        // may enter. The proxy runs from a copy here for the same reason.
        let dir = tempfile::Builder::new()
            .prefix("rovd-ssh-test-")
            .tempdir_in("/run")
            .unwrap();
        let p = |name: &str| dir.path().join(name);
        let mode =
            |path: &Path, m: u32| fs::set_permissions(path, fs::Permissions::from_mode(m)).unwrap();
        mode(dir.path(), 0o755);
        fs::copy(ROVCTL, p("rovctl")).unwrap();
        mode(&p("rovctl"), 0o755);
        for key in ["host_key", "client_key"] {
            common::clients::run(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", ""])
                    .arg("-f")
                    .arg(p(key)),
            )
            .unwrap_or_else(|e| panic!("ssh-keygen: {e}"));
        }
        fs::copy(p("client_key.pub"), p("authorized_keys")).unwrap();
        mode(&p("authorized_keys"), 0o644);
        // The proxy's log line, which would go to syslog: its standard
        // error, appended to a file the user owns.
        fs::write(p("proxy.log"), "").unwrap();
        nix::unistd::chown(&p("proxy.log"), Some(user.uid), Some(user.gid)).unwrap();

        let port = free_port();
        let host_pub = fs::read_to_string(p("host_key.pub")).unwrap();
        fs::write(p("known_hosts"), format!("[127.0.0.1]:{port} {host_pub}")).unwrap();

        let rovctl = p("rovctl").display().to_string();
        let cache = format!("127.0.0.1:{rovd_port}");
        let mut recipe = RECIPE.to_string();
        for (from, to) in [
            (
                "Subsystem rpki-rtr /usr/local/bin/rovctl proxy 127.0.0.1:323".to_string(),
                format!("Subsystem rpki-rtr {rovctl} proxy {cache}"),
            ),
            (
                "ForceCommand /usr/local/bin/rovctl proxy 127.0.0.1:323".to_string(),
                format!(
                    "ForceCommand {rovctl} proxy -d {cache} 2>>{}",
                    p("proxy.log").display()
                ),
            ),
            (
                "AuthorizedKeysFile /etc/ssh/rovd-rtr.keys".to_string(),
                format!("AuthorizedKeysFile {}", p("authorized_keys").display()),
            ),
        ] {
            assert_eq!(recipe.matches(&from).count(), 1, "{from:?} in the recipe");
            recipe = recipe.replace(&from, &to);
        }
        // What a real sshd_config has before the recipe, reduced to this
        // test: no PAM (Debian's stack wants a login environment that a CI
        // container may lack; the recipe does not depend on it), nobody
        // else may log in.
        let conf = format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {}\n\
             PidFile none\n\
             UsePAM no\n\
             PermitRootLogin no\n\
             AllowUsers {USER}\n\
             AuthorizedKeysFile none\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             LogLevel VERBOSE\n\
             \n{recipe}",
            p("host_key").display()
        );
        fs::write(p("sshd_config"), conf).unwrap();

        let mut sshd = Sshd {
            service: Service::spawn(
                "sshd",
                Command::new(SSHD)
                    .args(["-D", "-e", "-f"])
                    .arg(p("sshd_config")),
            ),
            port,
            dir,
        };
        let listening = format!("Server listening on 127.0.0.1 port {port}");
        let deadline = Instant::now() + WAIT;
        while !sshd.service.log.text().contains(&listening) {
            if let Some(status) = sshd.service.exited() {
                panic!("sshd exited ({status}):\n{}", sshd.service.log.text());
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not start:\n{}",
                sshd.service.log.text()
            );
            thread::sleep(Duration::from_millis(20));
        }
        Some(sshd)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ssh` with this server's keys and nothing from the invoking user's
    /// configuration; `args` go before the destination, `command` after.
    fn ssh(&self, args: &[&str], command: &[&str]) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .arg("-i")
        .arg(self.path("client_key"))
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            self.path("known_hosts").display()
        ))
        .args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
        ])
        .args(["-p", &self.port.to_string()])
        .args(args)
        .arg(format!("{USER}@127.0.0.1"))
        .args(command);
        cmd
    }

    /// The proxy's log lines so far.
    fn proxy_lines(&self) -> Vec<String> {
        fs::read_to_string(self.path("proxy.log"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The one proxy line logged after the first `before`, checked against
    /// sshd's own record of the client; the local address rovd saw.
    fn new_session(&self, before: usize) -> String {
        let deadline = Instant::now() + WAIT;
        while self.proxy_lines().len() <= before && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let lines = self.proxy_lines();
        assert_eq!(lines.len(), before + 1, "proxy log: {lines:?}");
        let line = &lines[before];
        let prefix = "rovctl: proxy: ssh client 127.0.0.1 port ";
        let client_port = line
            .strip_prefix(prefix)
            .and_then(|r| r.split(' ').next())
            .unwrap_or_else(|| panic!("proxy log line {line:?}"));
        assert!(
            line.contains(&format!(" to 127.0.0.1 port {}: session ", self.port)),
            "{line}"
        );
        let accepted = format!("Accepted publickey for {USER} from 127.0.0.1 port {client_port} ");
        assert!(
            self.service.log.text().contains(&accepted),
            "sshd did not log {accepted:?}:\n{}",
            self.service.log.text()
        );
        proxied_from(line)
    }
}

impl Drop for Sshd {
    // The service prints sshd's own log when it is dropped after this.
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "---- proxy log ----\n{}\n---- end of proxy log ----",
                self.proxy_lines().join("\n")
            );
        }
    }
}

//------------ Over SSH -------------------------------------------------------

/// rtrlib's rtrclient (RTR v1) over SSH: the full table, then an update
/// by Serial Notify and Serial Query, exactly; rovd logs one session from
/// the port the proxy logged for this SSH client.
#[test]
fn rtrclient_over_ssh_syncs_and_follows() {
    let data = Data::generate(92, 2000, 1000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let daemon = Daemon::start(&config(2), &[("vrps.json", json1.as_bytes())]);
    let Some(sshd) = Sshd::start(daemon.port) else {
        return;
    };
    let Some(bin) = rtrclient() else { return };
    daemon.wait_for_data(1);
    let (want1, want2) = (expected(&json1, 1), expected(&json2, 1));
    assert!(
        !want1.keys.is_empty() && distance(&want1, &want2) > 0,
        "test data"
    );

    let client = Rtrclient::start_socket(
        &bin,
        &ssh_socket(
            sshd.port,
            USER,
            &sshd.path("client_key"),
            &sshd.path("known_hosts"),
        ),
    );
    let n1 = client.wait_for(&want1, "rtrclient over SSH, full sync");
    daemon.replace_file("vrps.json", json2.as_bytes());
    let n2 = client.wait_for(&want2, "rtrclient over SSH, after the change");
    assert_eq!(n2 - n1, distance(&want1, &want2), "changes for the update");

    let peer = sshd.new_session(0);
    let (_, s) = sessions(&daemon.log())
        .into_iter()
        .find(|(p, _)| *p == peer)
        .unwrap_or_else(|| panic!("no rovd session from {peer}:\n{}", daemon.log()));
    assert_eq!((s.opened, s.resets), (1, 1), "{s:?}");
    assert!(s.serials >= 1 && s.versions == [1], "{s:?}");
    assert_eq!(s.closed, None, "{s:?}");
}

/// `ssh -s … rpki-rtr` as a router's SSH client would run it: a version 2
/// Reset Query in, end of input, the whole table out, router keys and ASPA
/// included, and a clean exit once rovd closes.
#[test]
fn ssh_subsystem_serves_the_whole_table() {
    let data = Data::generate(93, 20_000, 8_000);
    let json = data.to_json();
    let daemon = Daemon::start(&config(2), &[("vrps.json", json.as_bytes())]);
    let Some(sshd) = Sshd::start(daemon.port) else {
        return;
    };
    daemon.wait_for_data(2);
    let want = expected(&json, 2);
    assert!(!want.keys.is_empty() && !want.aspas.is_empty(), "test data");

    let ran = exchange(&mut sshd.ssh(&["-s"], &["rpki-rtr"]), &reset_query(2));
    ran.ok("ssh -s rpki-rtr");
    full_answer(&ran.out, 2).assert_eq(&want, "ssh -s rpki-rtr");

    let s = assert_proxied_session(&daemon, &sshd.new_session(0));
    assert_eq!((s.resets, s.versions.as_slice()), (1, &[2u8][..]), "{s:?}");
}

/// The routers' user gets the proxy whatever it asks for, and nothing
/// else: a command runs the proxy instead, forwarding either way is
/// refused, there is no other subsystem, and no terminal.
#[test]
fn ssh_user_gets_only_the_proxy() {
    let data = Data::generate(94, 200, 100);
    let daemon = Daemon::start(&config(2), &[("vrps.json", data.to_json().as_bytes())]);
    let Some(sshd) = Sshd::start(daemon.port) else {
        return;
    };
    daemon.wait_for_data(2);

    // A command: the proxy runs in its place, sees the end of input, and
    // rovd logs a session without a query.
    let ran = exchange(&mut sshd.ssh(&[], &["id"]), b"");
    ran.ok("ssh id");
    assert!(
        ran.out.is_empty(),
        "ssh id printed {:?}",
        String::from_utf8_lossy(&ran.out)
    );
    let s = assert_proxied_session(&daemon, &sshd.new_session(0));
    assert!(!s.queried(), "{s:?}");

    // Forwarding to the cache, and from the server back.
    let ran = exchange(
        &mut sshd.ssh(&["-W", &format!("127.0.0.1:{}", daemon.port)], &[]),
        b"",
    );
    assert_ne!(
        ran.status.and_then(|s| s.code()),
        Some(0),
        "ssh -W: {}",
        ran.err
    );
    assert!(
        ran.err.contains("administratively prohibited"),
        "ssh -W: {}",
        ran.err
    );
    let ran = exchange(
        &mut sshd.ssh(
            &[
                "-N",
                "-o",
                "ExitOnForwardFailure=yes",
                "-R",
                &format!("0:127.0.0.1:{}", daemon.port),
            ],
            &[],
        ),
        b"",
    );
    assert_eq!(
        ran.status.and_then(|s| s.code()),
        Some(255),
        "ssh -R: {}",
        ran.err
    );
    assert!(
        ran.err.contains("remote port forwarding failed"),
        "ssh -R: {}",
        ran.err
    );

    // No subsystem but rpki-rtr.
    let ran = exchange(&mut sshd.ssh(&["-s"], &["sftp"]), b"");
    assert_ne!(
        ran.status.and_then(|s| s.code()),
        Some(0),
        "ssh -s sftp: {}",
        ran.err
    );
    assert!(ran.out.is_empty());

    // None of these reached the proxy.
    assert_eq!(sshd.proxy_lines().len(), 1, "{:?}", sshd.proxy_lines());

    // A terminal: refused, and the command does not run. (The client
    // gives up at once, so whether the proxy got to start is left open.)
    let ran = exchange(&mut sshd.ssh(&["-tt"], &["id"]), b"");
    assert!(
        ran.err.contains("PTY allocation request failed"),
        "ssh -tt: {}",
        ran.err
    );
    assert!(
        !String::from_utf8_lossy(&ran.out).contains("uid="),
        "ssh -tt ran id"
    );
}
