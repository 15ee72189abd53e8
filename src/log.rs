//! Logging for all three processes: to stderr in the foreground (`-d`),
//! to syslog (daemon facility, ident "rovd") when detached. Every line
//! carries the role of the process that wrote it.
//!
//! Set up first thing in each process, before any privilege is dropped:
//! the syslog socket is connected here, so a chrooted child keeps it.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use log::{Level, LevelFilter, Metadata, Record};

/// Where log lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Standard error, in the foreground (`-d`).
    Stderr,
    /// Syslog, daemon facility, ident "rovd".
    Syslog,
}

/// Whether errors also go to the terminal: set by [`echo_errors`] for the
/// parent while it logs to syslog and still has the terminal that started
/// it, so that a start-up failure is seen where rovd was started; cleared
/// by [`detached`].
static ECHO_ERRORS: AtomicBool = AtomicBool::new(false);

struct Logger {
    role: &'static str,
    level: LevelFilter,
    sink: Sink,
}

enum Sink {
    Stderr,
    Syslog(Mutex<syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>>),
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        match &self.sink {
            Sink::Stderr => {
                let line = format!("{}: {}\n", self.role, record.args());
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Sink::Syslog(logger) => {
                let msg = format!("{}: {}", self.role, record.args());
                if record.level() == Level::Error && ECHO_ERRORS.load(Ordering::Relaxed) {
                    let line = format!("rovd: {}\n", record.args());
                    let _ = std::io::stderr().lock().write_all(line.as_bytes());
                }
                let Ok(mut l) = logger.lock() else { return };
                let _ = match record.level() {
                    Level::Error => l.err(msg),
                    Level::Warn => l.warning(msg),
                    Level::Info => l.info(msg),
                    Level::Debug | Level::Trace => l.debug(msg),
                };
            }
        }
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
        Target::Syslog => {
            let formatter = syslog::Formatter3164 {
                facility: syslog::Facility::LOG_DAEMON,
                hostname: None,
                process: "rovd".into(),
                pid: std::process::id(),
            };
            match syslog::unix(formatter) {
                Ok(l) => Sink::Syslog(Mutex::new(l)),
                Err(e) => {
                    eprintln!("rovd: {role}: cannot reach syslog ({e}), logging to stderr");
                    Sink::Stderr
                }
            }
        }
    };
    let logger = Box::new(Logger { role, level, sink });
    if log::set_boxed_logger(logger).is_ok() {
        log::set_max_level(level);
    }
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
