//! Logging for all three processes: to stderr in the foreground (`-d`),
//! to syslog (daemon facility, ident "rovd") when detached. Every line
//! carries the role of the process that wrote it.
//!
//! Only the parent talks to syslog. The children are chrooted and may not
//! open a socket, so they could never reconnect once syslogd restarts:
//! they hand each line to the parent as a datagram over a socketpair (the
//! log relay, fd 5), without ever waiting for it — a line the parent is
//! too busy to take is counted and said later. The parent, which is not
//! chrooted, reconnects to syslog when a send fails.
//!
//! Set up first thing in each process, before any privilege is dropped.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use log::{Level, LevelFilter, Metadata, Record};

/// The syslog socket when none is named.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// The longest line relayed; longer ones are cut at a character boundary.
const RELAY_MAX: usize = 4096;

/// Datagrams the parent takes off the relay per call of [`relay`].
const RELAY_BATCH: usize = 256;

/// How soon a failed syslog connection is tried again.
const RECONNECT: Duration = Duration::from_secs(1);

/// Where log lines go.
#[derive(Debug)]
pub enum Target {
    /// Standard error, in the foreground (`-d`).
    Stderr,
    /// Syslog through this socket, daemon facility, ident "rovd": the
    /// parent.
    Syslog(PathBuf),
    /// The parent, over the log relay: the children of a parent that logs
    /// to syslog.
    Relay(UnixDatagram),
}

/// Whether errors also go to the terminal: set by [`echo_errors`] for the
/// parent while it logs to syslog and still has the terminal that started
/// it, so that a start-up failure is seen where rovd was started; cleared
/// by [`detached`].
static ECHO_ERRORS: AtomicBool = AtomicBool::new(false);

/// Lines a child could not hand to the parent, not yet said.
static DROPPED: AtomicU64 = AtomicU64::new(0);

static LOGGER: OnceLock<Logger> = OnceLock::new();

struct Logger {
    role: &'static str,
    level: LevelFilter,
    sink: Sink,
}

enum Sink {
    Stderr,
    Syslog(Mutex<Syslog>),
    Relay(UnixDatagram),
}

/// The parent's syslog connection, made again when it breaks.
struct Syslog {
    path: PathBuf,
    logger: Option<syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>>,
    next_try: Instant,
}

impl Syslog {
    fn connect(&mut self) {
        let formatter = syslog::Formatter3164 {
            facility: syslog::Facility::LOG_DAEMON,
            hostname: None,
            process: "rovd".into(),
            pid: std::process::id(),
        };
        self.logger = syslog::unix_custom(formatter, &self.path).ok();
        if self.logger.is_none() {
            // Not there (yet): do not try again for every line.
            self.next_try = Instant::now() + RECONNECT;
        }
    }

    /// Send `msg`; on failure connect again (at most once per
    /// [`RECONNECT`]) and send once more.
    fn send(&mut self, level: Level, msg: &str) {
        for _ in 0..2 {
            if self.logger.is_none() {
                if Instant::now() < self.next_try {
                    return;
                }
                self.connect();
            }
            let Some(l) = self.logger.as_mut() else {
                return;
            };
            let sent = match level {
                Level::Error => l.err(msg),
                Level::Warn => l.warning(msg),
                Level::Info => l.info(msg),
                Level::Debug | Level::Trace => l.debug(msg),
            };
            if sent.is_ok() {
                return;
            }
            // syslogd went away (restarted, rotated its socket).
            self.logger = None;
        }
    }
}

impl Sink {
    fn write(&self, level: Level, line: &str) {
        match self {
            Sink::Stderr => {
                let _ = std::io::stderr()
                    .lock()
                    .write_all(format!("{line}\n").as_bytes());
            }
            Sink::Syslog(s) => {
                if let Ok(mut s) = s.lock() {
                    s.send(level, line);
                }
            }
            Sink::Relay(sock) => {
                let dropped = DROPPED.load(Ordering::Relaxed);
                if dropped > 0
                    && send_relay(
                        sock,
                        Level::Warn,
                        &format!("{dropped} log lines dropped: the parent was not taking them"),
                    )
                {
                    DROPPED.fetch_sub(dropped, Ordering::Relaxed);
                }
                if !send_relay(sock, level, line) {
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// One line to the parent, without waiting: its level's number, then the
/// text. False if the relay is full.
fn send_relay(sock: &UnixDatagram, level: Level, line: &str) -> bool {
    let mut cut = line.len().min(RELAY_MAX);
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut datagram = Vec::with_capacity(cut + 1);
    #[allow(clippy::cast_possible_truncation)] // log levels are 1 to 5
    datagram.push(level as usize as u8);
    datagram.extend_from_slice(line.as_bytes().get(..cut).unwrap_or_default());
    sock.send(&datagram).is_ok()
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if record.level() == Level::Error && ECHO_ERRORS.load(Ordering::Relaxed) {
            let line = format!("rovd: {}\n", record.args());
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
        let line = format!("{}: {}", self.role, record.args());
        self.sink.write(record.level(), &line);
    }

    fn flush(&self) {}
}

/// Install the process-wide logger. `verbose` counts `-v` flags: 0 logs
/// informational lines, 1 adds debug, 2 and more add trace.
pub fn init(role: &'static str, target: Target, verbose: u8) {
    let level = match verbose {
        0 => LevelFilter::Info,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let sink = match target {
        Target::Stderr => Sink::Stderr,
        Target::Syslog(path) => {
            let mut syslog = Syslog {
                path,
                logger: None,
                next_try: Instant::now(),
            };
            syslog.connect();
            if syslog.logger.is_none() {
                eprintln!(
                    "rovd: {role}: cannot reach syslog at {}; trying again as lines come",
                    syslog.path.display()
                );
            }
            Sink::Syslog(Mutex::new(syslog))
        }
        Target::Relay(sock) => {
            let _ = sock.set_nonblocking(true);
            Sink::Relay(sock)
        }
    };
    if LOGGER.set(Logger { role, level, sink }).is_ok() {
        if let Some(logger) = LOGGER.get() {
            if log::set_logger(logger).is_ok() {
                log::set_max_level(level);
            }
        }
    }
}

/// Take the lines the children relayed (at most a batch) and log them as
/// they came, each with its level and its child's role: the parent's
/// side of the log relay. False once the relay is closed and empty.
pub fn relay(sock: &UnixDatagram) -> bool {
    let Some(logger) = LOGGER.get() else {
        return true;
    };
    let mut buf = vec![0u8; RELAY_MAX + 1];
    for _ in 0..RELAY_BATCH {
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        };
        let Some((&level, text)) = buf.get(..n).and_then(<[u8]>::split_first) else {
            continue;
        };
        let level = match level {
            1 => Level::Error,
            2 => Level::Warn,
            3 => Level::Info,
            4 => Level::Debug,
            _ => Level::Trace,
        };
        logger.sink.write(level, &String::from_utf8_lossy(text));
    }
    true
}

/// Also show errors on standard error, as `rovd: …`, until [`detached`]:
/// for the parent's start-up when it logs to syslog.
pub fn echo_errors() {
    ECHO_ERRORS.store(true, Ordering::Relaxed);
}

/// The process no longer has the terminal that started it: errors go to
/// the log only.
pub fn detached() {
    ECHO_ERRORS.store(false, Ordering::Relaxed);
}
