//! rtrlib's `rtrclient` (Debian package rtr-tools, rtrlib 0.8): started
//! against a daemon, with its printed prefix and router key updates parsed
//! back into a table.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::rtr::{RouterKey, Table, Vrp};
use super::{on_path, LogBuf, WAIT};

/// Find rtrclient, or decide the test is skipped (never under CI).
pub(crate) fn rtrclient() -> Option<PathBuf> {
    let found = on_path("rtrclient");
    if found.is_none() {
        super::skip("rtrclient not installed");
    }
    found
}

//------------ Rtrclient ------------------------------------------------------

/// rtrclient's socket arguments for the `rpki-rtr` SSH subsystem on
/// 127.0.0.1:`port`: `ssh HOST PORT USER PRIVATE_KEY KNOWN_HOSTS`; the
/// host key is checked against the known-hosts file.
pub(crate) fn ssh_socket(port: u16, user: &str, key: &Path, known_hosts: &Path) -> Vec<String> {
    vec![
        "ssh".into(),
        "127.0.0.1".into(),
        port.to_string(),
        user.into(),
        key.display().to_string(),
        known_hosts.display().to_string(),
    ]
}

/// One change rtrclient printed.
#[derive(Debug)]
pub(crate) enum Change {
    Vrp(bool, Vrp),
    Key(bool, RouterKey),
}

/// A running `rtrclient -p -k` on one socket; killed on drop.
pub(crate) struct Rtrclient {
    pub child: Option<Child>,
    pub out: LogBuf,
    pub err: LogBuf,
}

impl Rtrclient {
    pub(crate) fn start(bin: &PathBuf, port: u16) -> Rtrclient {
        Self::start_socket(bin, &["tcp", "127.0.0.1", &port.to_string()])
    }

    /// rtrclient on one socket given as its arguments: `tcp HOST PORT`,
    /// or those of [`ssh_socket`].
    pub(crate) fn start_socket<S: AsRef<OsStr>>(bin: &PathBuf, socket: &[S]) -> Rtrclient {
        // rtrclient writes its updates with stdio; line buffering (stdbuf
        // execs the tool, so the pid stays the same) makes them visible
        // as they happen instead of at exit.
        let mut child = Command::new("stdbuf")
            .arg("-oL")
            .arg(bin)
            .args(["-p", "-k"])
            .args(socket)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn stdbuf rtrclient (stdbuf is in coreutils)");
        let (out, err) = (LogBuf::default(), LogBuf::default());
        out.capture(child.stdout.take().unwrap());
        err.capture(child.stderr.take().unwrap());
        Rtrclient {
            child: Some(child),
            out,
            err,
        }
    }

    /// Every complete change printed so far, in order.
    pub(crate) fn changes(&self) -> Vec<Change> {
        parse(&self.out.text())
    }

    /// Wait until the changes printed so far add up to `want`; returns
    /// how many changes that took. Panics (showing the output) after
    /// `WAIT`.
    pub(crate) fn wait_for(&self, want: &Table, what: &str) -> usize {
        let deadline = Instant::now() + WAIT;
        loop {
            let changes = self.changes();
            let got = apply(&changes);
            if &got == want {
                return changes.len();
            }
            if Instant::now() > deadline {
                got.assert_eq(want, &format!("rtrclient {what}"));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Rtrclient {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(
                Pid::from_raw(i32::try_from(child.id()).unwrap()),
                Signal::SIGKILL,
            );
            let _ = child.wait();
        }
        if thread::panicking() {
            let tail = |text: String| {
                let lines: Vec<&str> = text.lines().collect();
                let from = lines.len().saturating_sub(200);
                format!(
                    "({} lines, last {})\n{}",
                    lines.len(),
                    lines.len() - from,
                    lines[from..].join("\n")
                )
            };
            eprintln!(
                "---- rtrclient stdout {}\n---- rtrclient stderr {}",
                tail(self.out.text()),
                tail(self.err.text())
            );
        }
    }
}

/// Parse rtrclient's `-p` and `-k` output, as far as it is complete:
///
/// ```text
/// + 10.0.0.0                                    24 -  24        64496
/// - HOST:  127.0.0.1:3323
/// ASN:  64496
///   SKI:  00:01:…:13
///   SPKI: 30:59:…:0c:
///         0d:0e:…
/// ```
pub(crate) fn parse(text: &str) -> Vec<Change> {
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let mut lines = complete.lines().peekable();
    let mut out = Vec::new();
    while let Some(line) = lines.next() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] | ["Prefix", ..] => {}
            [sign @ ("+" | "-"), "HOST:", _] => {
                let mut block = Vec::new();
                while block.len() < 3 {
                    match lines.next() {
                        Some(l) => block.push(l),
                        None => return out,
                    }
                }
                let asn = block[0]
                    .strip_prefix("ASN:")
                    .expect(block[0])
                    .trim()
                    .parse()
                    .unwrap();
                let ski = hex_colons(block[1].trim().strip_prefix("SKI:").expect(block[1]));
                let mut spki_text = block[2]
                    .trim()
                    .strip_prefix("SPKI:")
                    .expect(block[2])
                    .to_string();
                while spki_text.trim_end().ends_with(':') {
                    match lines.next() {
                        Some(l) => spki_text.push_str(l.trim()),
                        None => return out,
                    }
                }
                let key = RouterKey {
                    ski: ski.try_into().expect("20-octet SKI"),
                    asn,
                    spki: hex_colons(&spki_text),
                };
                out.push(Change::Key(*sign == "+", key));
            }
            [sign @ ("+" | "-"), addr, len, "-", max_len, asn] => {
                let vrp = Vrp {
                    addr: addr.parse::<IpAddr>().expect(line),
                    len: len.parse().expect(line),
                    max_len: max_len.parse().expect(line),
                    asn: asn.parse().expect(line),
                };
                out.push(Change::Vrp(*sign == "+", vrp));
            }
            _ => panic!("unexpected rtrclient output line: {line:?}"),
        }
    }
    out
}

fn hex_colons(s: &str) -> Vec<u8> {
    s.split(':')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| u8::from_str_radix(h, 16).unwrap_or_else(|_| panic!("hex {h:?} in {s:?}")))
        .collect()
}

/// The table the changes add up to; a change that is not one (adding a
/// record held, removing one not held) panics.
pub(crate) fn apply(changes: &[Change]) -> Table {
    let mut t = Table::default();
    for change in changes {
        match change {
            Change::Vrp(true, v) => assert!(t.vrps.insert(*v), "rtrclient added {v} twice"),
            Change::Vrp(false, v) => assert!(t.vrps.remove(v), "rtrclient removed unknown {v}"),
            Change::Key(true, k) => assert!(t.keys.insert(k.clone()), "rtrclient added {k} twice"),
            Change::Key(false, k) => assert!(t.keys.remove(k), "rtrclient removed unknown {k}"),
        }
    }
    t
}

/// How many single changes turn `old` into `new`.
pub(crate) fn distance(old: &Table, new: &Table) -> usize {
    fn sym<T: Ord>(a: &BTreeSet<T>, b: &BTreeSet<T>) -> usize {
        a.symmetric_difference(b).count()
    }
    sym(&old.vrps, &new.vrps) + sym(&old.keys, &new.keys)
}
