//! Test support: runs one `#[ignore]`d test of this test binary in a child
//! process, so that it can drop privileges or enter a sandbox without
//! touching the test process. The child reports lines starting with
//! "probe: " on stdout and then waits for stdin to close, so that the
//! parent can inspect it in /proc while it is still alive. A probe that
//! takes longer than a minute is killed, so a broken one fails its test
//! instead of hanging it.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Set to the test name in the child.
const ENV: &str = "ROVD_PRIVSEP_PROBE";

/// The parent's handle on a running probe.
pub(crate) struct Probe {
    child: Child,
    out: BufReader<ChildStdout>,
    /// Dropped when the probe is finished, which stops the watchdog.
    _done: mpsc::Sender<()>,
}

impl Probe {
    /// Starts the ignored test `name` (full path) with `env` set.
    pub(crate) fn start(name: &str, env: &[(&str, &str)]) -> Probe {
        Probe::start_with(name, env, |_| {})
    }

    /// Like [`Probe::start`], letting `setup` adjust the command.
    pub(crate) fn start_with(
        name: &str,
        env: &[(&str, &str)],
        setup: impl FnOnce(&mut Command),
    ) -> Probe {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = Command::new(exe);
        cmd.args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV, name)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        setup(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (done, watch) = mpsc::channel::<()>();
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
        std::thread::spawn(move || {
            if watch.recv_timeout(Duration::from_secs(60)) == Err(mpsc::RecvTimeoutError::Timeout) {
                let _ = kill(pid, Signal::SIGKILL);
            }
        });
        Probe {
            child,
            out,
            _done: done,
        }
    }

    /// The child's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next report of the child, without the "probe: " prefix; `None`
    /// once its stdout is closed.
    pub(crate) fn next(&mut self) -> Option<String> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.out.read_line(&mut line).unwrap() == 0 {
                return None;
            }
            // The harness may have printed the test name on the same line.
            if let Some(at) = line.find("probe: ") {
                return Some(line[at + 7..].trim_end().to_string());
            }
        }
    }

    /// The next report, which must start with `key`; returns the rest.
    pub(crate) fn expect(&mut self, key: &str) -> String {
        match self.next() {
            Some(line) => match line.strip_prefix(key) {
                Some(rest) => rest.trim_start().to_string(),
                None => panic!("expected {key:?}, got {line:?}"),
            },
            None => panic!("expected {key:?}, probe ended: {}", self.stderr_now()),
        }
    }

    /// Field `name` of the /proc status of the child's thread `tid`, e.g.
    /// "Uid". Capability sets and `no_new_privs` are per thread, and the
    /// harness runs the test in a thread of its own.
    pub(crate) fn proc_status(&self, tid: &str, name: &str) -> String {
        let path = format!("/proc/{}/task/{tid}/status", self.pid());
        let status = std::fs::read_to_string(path).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in /proc status"))
            .trim()
            .to_string()
    }

    /// Lets the child go on past [`wait_for_parent`], and waits for it;
    /// returns how it ended, the reports it made meanwhile, and its stderr.
    pub(crate) fn finish(mut self) -> (ExitStatus, Vec<String>, String) {
        drop(self.child.stdin.take());
        let mut reports = Vec::new();
        while let Some(line) = self.next() {
            reports.push(line);
        }
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (self.child.wait().unwrap(), reports, err)
    }

    fn stderr_now(&mut self) -> String {
        let _ = self.child.kill();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        err
    }
}

/// Whether this process is the probe child for test `name`.
pub(crate) fn active(name: &str) -> bool {
    std::env::var(ENV).is_ok_and(|v| v == name)
}

/// Reports `msg` to the parent.
pub(crate) fn say(msg: &str) {
    let mut out = std::io::stdout().lock();
    out.write_all(format!("probe: {msg}\n").as_bytes()).unwrap();
    out.flush().unwrap();
}

/// The id of the calling thread, for [`Probe::proc_status`].
pub(crate) fn tid() -> String {
    nix::unistd::gettid().to_string()
}

/// Blocks until the parent calls [`Probe::finish`].
pub(crate) fn wait_for_parent() {
    let mut buf = [0u8; 64];
    while std::io::stdin().read(&mut buf).is_ok_and(|n| n > 0) {}
}

/// Ends the child now, successfully, without going back to the test
/// harness.
pub(crate) fn exit() -> ! {
    std::process::exit(0)
}

/// The signal that ended `status`, if any.
pub(crate) fn signal(status: ExitStatus) -> Option<i32> {
    status.signal()
}
