//! The harness shared by the black-box and interop tests: it runs the built
//! `rovd` binary in the foreground on a free loopback port with its
//! configuration and data in a temporary directory, captures its log, and
//! always stops and reaps it. The RTR client and the test data live in the
//! submodules and share nothing with the daemon's own code.

#![allow(dead_code)]

pub(crate) mod bird;
pub(crate) mod clients;
pub(crate) mod data;
pub(crate) mod peers;
pub(crate) mod rtr;
pub(crate) mod rtrclient;
pub(crate) mod rtrtr;
pub(crate) mod tls;
pub(crate) mod upstream;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub(crate) const ROVD: &str = env!("CARGO_BIN_EXE_rovd");
pub(crate) const ROVCTL: &str = env!("CARGO_BIN_EXE_rovctl");

/// Run the built rovctl with `args` and no input; what it printed.
pub(crate) fn rovctl(args: &[&str]) -> std::process::Output {
    Command::new(ROVCTL)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn {ROVCTL}: {e}"))
}

/// Output as text, for messages and matching.
pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The placeholder a configuration uses for the listening port.
pub(crate) const PORT: &str = "@PORT@";

/// Bound on start-up, data and log waits; generous for debug builds on a
/// loaded CI machine, but every wait has one.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// The standard test configuration: one source `vrps.json`, notifies
/// without delay.
pub(crate) fn config(max_version: u8) -> String {
    format!(
        "[rtr]\n\
         listen = [\"127.0.0.1:{PORT}\"]\n\
         max-version = {max_version}\n\
         refresh = 3600\n\
         retry = 600\n\
         expire = 7200\n\
         history = 10\n\
         notify-interval = 0\n\
         max-sessions = 100\n\
         max-sessions-per-address = 100\n\
         \n\
         [[source]]\n\
         path = \"vrps.json\"\n"
    )
}

/// Whether the tests run as root, so that rovd drops to its user and
/// chroots for real.
pub(crate) fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Prepare `dir` for a daemon started as root: the daemon's user must be
/// able to read the data in it, and the children need an empty,
/// root-owned directory to chroot into. Returns the configuration lines
/// that point rovd at it.
pub(crate) fn as_root(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    assert!(
        nix::unistd::User::from_name("_rovd")
            .ok()
            .flatten()
            .is_some(),
        "as root, the tests need the system user _rovd \
         (systemd-sysusers systemd/rovd.sysusers, or useradd --system _rovd)"
    );
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    let empty = dir.join("empty");
    fs::create_dir_all(&empty).unwrap();
    fs::set_permissions(&empty, fs::Permissions::from_mode(0o755)).unwrap();
    format!("chroot = \"{}\"\n", empty.display())
}

/// Write a key file: mode 0600 from its creation on, owned by the user
/// running the test (root under CI), as rovd requires of it.
pub(crate) fn write_keys(path: &Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(text.as_bytes()).unwrap();
    // Whatever the umask took away, exactly 0600.
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .unwrap();
}

/// A test cannot run here (a client is not installed, a feature is not
/// built): say so, unless this is CI, which must run everything.
pub(crate) fn skip(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{why}, and CI must not skip"
    );
    println!("skipped: {why}");
}

/// A port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// Shared, growing text of a child's output.
#[derive(Clone, Default)]
pub(crate) struct LogBuf(Arc<Mutex<String>>);

impl LogBuf {
    /// Copy lines from `from` into the buffer on a thread of its own.
    pub(crate) fn capture(&self, from: impl Read + Send + 'static) -> thread::JoinHandle<()> {
        let buf = self.0.clone();
        thread::spawn(move || {
            let mut r = BufReader::new(from);
            let mut line = Vec::new();
            while r.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                buf.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&line));
                line.clear();
            }
        })
    }

    pub(crate) fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    /// Wait until `pred` holds for the text, for at most `timeout`.
    pub(crate) fn wait(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&self.0.lock().unwrap()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

//------------ Daemon ---------------------------------------------------------

/// A running `rovd -d`; stopped and reaped on drop.
pub(crate) struct Daemon {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub config_path: PathBuf,
    child: Option<Child>,
    log: LogBuf,
    /// The threads copying its standard output and error into `log`.
    readers: Vec<thread::JoinHandle<()>>,
}

impl Daemon {
    /// Write `config` (with [`PORT`] replaced by a free port) and `files`
    /// into a fresh directory, start the daemon on it and wait until the
    /// port accepts connections.
    pub(crate) fn start(config: &str, files: &[(&str, &[u8])]) -> Daemon {
        Self::start_with(config, files, None, &[])
    }

    /// As [`Daemon::start`], on `port` if given (else a free one; the
    /// configuration must then use [`PORT`]) and with extra environment
    /// variables.
    pub(crate) fn start_with(
        config: &str,
        files: &[(&str, &[u8])],
        port: Option<u16>,
        env: &[(&str, &str)],
    ) -> Daemon {
        let mut daemon = Self::spawn_with(config, files, port, env);
        daemon.wait_for_port();
        daemon
    }

    /// As [`Daemon::start_with`], without waiting for the port.
    pub(crate) fn spawn_with(
        config: &str,
        files: &[(&str, &[u8])],
        port: Option<u16>,
        env: &[(&str, &str)],
    ) -> Daemon {
        Self::spawn_inner(config, files, port, env, None, &[])
    }

    /// As [`Daemon::start`], with more command-line arguments.
    pub(crate) fn start_args(config: &str, files: &[(&str, &[u8])], args: &[&str]) -> Daemon {
        let mut daemon = Self::spawn_inner(config, files, None, &[], None, args);
        daemon.wait_for_port();
        daemon
    }

    /// As [`Daemon::start`], for a configuration with TCP keys: the file is
    /// written with mode 0640 (as root owned by root and the group of
    /// `_rovd`, which re-reads it on SIGHUP), and the daemon counts as
    /// started when rtr logs that it listens, since a plain connection
    /// from 127.0.0.1 is dropped if the configuration has a key for it.
    pub(crate) fn start_with_keys(config: &str, keys: &str, files: &[(&str, &[u8])]) -> Daemon {
        let mut daemon = Self::spawn_with_keys(config, keys, files);
        let line = format!("listening on 127.0.0.1:{}", daemon.port);
        if !daemon.log.wait(WAIT, |t| t.contains(&line)) {
            daemon.assert_running();
            panic!("no log line with {line:?} within {WAIT:?}");
        }
        daemon
    }

    /// As [`Daemon::start_with_keys`], without waiting for the listener.
    pub(crate) fn spawn_with_keys(config: &str, keys: &str, files: &[(&str, &[u8])]) -> Daemon {
        Self::spawn_inner(config, files, None, &[], Some(keys), &[])
    }

    fn spawn_inner(
        config: &str,
        files: &[(&str, &[u8])],
        port: Option<u16>,
        env: &[(&str, &str)],
        keys: Option<&str>,
        args: &[&str],
    ) -> Daemon {
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = port.unwrap_or_else(free_port);
        assert!(config.contains(PORT), "configuration without {PORT}");
        let config_path = dir.path().join("rovd.conf");
        let mut config = config.replace(PORT, &port.to_string());
        if is_root() {
            config = format!("{}{config}", as_root(dir.path()));
        }
        // A control socket of the test's own, not the system's.
        if !config.contains("control =") {
            let socket = dir.path().join("rovd.sock");
            config = format!("control = \"{}\"\n{config}", socket.display());
        }
        if let Some(keys) = keys {
            write_keys(&dir.path().join("rovd.keys"), keys);
            config = format!("key-file = \"rovd.keys\"\n{config}");
        }
        fs::write(&config_path, config).unwrap();
        for (name, bytes) in files {
            fs::write(dir.path().join(name), bytes).unwrap();
        }
        let mut child = Command::new(ROVD)
            .envs(env.iter().copied())
            .arg("-d")
            .arg("-v")
            .arg("-f")
            .arg(&config_path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {ROVD}: {e}"));
        let log = LogBuf::default();
        let readers = vec![
            log.capture(child.stdout.take().unwrap()),
            log.capture(child.stderr.take().unwrap()),
        ];
        Daemon {
            dir,
            port,
            config_path,
            child: Some(child),
            log,
            readers,
        }
    }

    fn wait_for_port(&mut self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + WAIT;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("rovd exited during start-up ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "rovd did not accept on {addr} within {WAIT:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon running").id()
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Everything the daemon logged so far.
    pub(crate) fn log(&self) -> String {
        self.log.text()
    }

    /// Wait until the log contains `needle`; panics after `timeout`.
    pub(crate) fn wait_for_log(&self, needle: &str, timeout: Duration) {
        assert!(
            self.log.wait(timeout, |t| t.contains(needle)),
            "no log line with {needle:?} within {timeout:?}"
        );
    }

    /// Wait until `pred` holds for the log, for at most `timeout`.
    pub(crate) fn log_wait(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        self.log.wait(timeout, pred)
    }

    /// Number of log lines containing `needle`.
    pub(crate) fn log_count(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// Replace a data file the way rpki-client does (write aside, rename),
    /// with an mtime strictly later than the old one's so a poll by mtime
    /// and size cannot miss the change.
    pub(crate) fn replace_file(&self, name: &str, bytes: &[u8]) {
        let path = self.path(name);
        let tmp = self.path(&format!(".{name}.tmp"));
        fs::write(&tmp, bytes).unwrap();
        let now = SystemTime::now();
        let mtime = match fs::metadata(&path).and_then(|m| m.modified()) {
            Ok(old) if old + Duration::from_secs(1) > now => old + Duration::from_secs(1),
            _ => now,
        };
        fs::File::options()
            .write(true)
            .open(&tmp)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        fs::rename(&tmp, &path).unwrap();
    }

    pub(crate) fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(i32::try_from(self.pid()).unwrap()), sig).expect("signal rovd");
    }

    /// Wait for the daemon to exit; panics after `timeout`.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("daemon running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                // Its last lines: the pipes close once every rovd
                // process has gone, and the readers have copied them.
                while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(10));
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "rovd did not exit within {timeout:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Panics if the daemon has exited.
    pub(crate) fn assert_running(&mut self) {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            panic!("rovd exited unexpectedly ({status})");
        }
    }

    /// Connect and sync fully at `version` as soon as the daemon has data.
    pub(crate) fn wait_for_data(&self, version: u8) -> (rtr::RtrClient, rtr::Synced) {
        rtr::wait_for_data(self.port, version, WAIT)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            clients::stop(child);
        }
        if thread::panicking() {
            // Let the capture threads take in the last lines.
            thread::sleep(Duration::from_millis(200));
            eprintln!(
                "---- rovd log ----\n{}---- end of rovd log ----",
                self.log()
            );
        }
    }
}

//------------ /proc ----------------------------------------------------------

/// A process as /proc shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub state: char,
    pub start_time: u64,
    pub argv0: String,
}

/// Read /proc/`pid`, or `None` if there is no such process.
pub(crate) fn proc_info(pid: u32) -> Option<Proc> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    Some(Proc {
        pid,
        state: fields[0].chars().next()?,
        ppid: fields[1].parse().ok()?,
        start_time: fields[19].parse().ok()?,
        argv0: String::from_utf8_lossy(argv0).into_owned(),
    })
}

/// The processes whose parent is `ppid`.
pub(crate) fn children_of(ppid: u32) -> Vec<Proc> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if let Some(p) = proc_info(pid) {
            if p.ppid == ppid {
                out.push(p);
            }
        }
    }
    out
}

/// Whether the process seen as `p` still exists (a zombie counts; a new
/// process that reused the pid does not).
pub(crate) fn still_exists(p: &Proc) -> bool {
    proc_info(p.pid).is_some_and(|now| now.start_time == p.start_time)
}

/// `name` as found on PATH, if it is an executable there.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
