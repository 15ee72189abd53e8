//! The sandbox each process enters once it holds everything it needs:
//! after [`privdrop`](crate::privdrop) and after receiving its descriptors
//! from the parent. All three processes call [`apply`], unprivileged by
//! then; as the last step of start-up for the children, and after spawning
//! them and handing over the listeners for the parent.
//!
//! On every system: no new processes, no core dumps, a bound on open files
//! and (unless stderr is a log file) no file growth, through rlimits.
//!
//! On Linux: `PR_SET_NO_NEW_PRIVS`, then Landlock, best effort: no
//! filesystem access except reading beneath the directories of
//! [`Policy::read_beneath`], no TCP bind, no TCP connect but to the ports
//! of [`Policy::connect_ports`]; then a seccomp
//! allow-list per [`Role`], compiled before it is applied, that kills the
//! process on any other system call (or logs it, in debug mode). The
//! validator is chrooted like the rtr worker and reads its sources through
//! directory fds the parent opened ([`CHROOTS_VALIDATOR`]).
//!
//! On OpenBSD: `unveil` of [`Policy::unveil`], then `pledge` per role. The
//! validator is not chrooted there: it unveils its source directories
//! read-only instead, as rpki-client does (`pledge` forbids passing
//! directory fds).
//!
//! Elsewhere: the rlimits only, and [`Status`] says so.
//!
//! Call [`apply`] before the process starts any thread: Landlock restricts
//! the calling thread only, and afterwards no thread can be created.

use std::fmt::Write as _;
use std::os::fd::BorrowedFd;
use std::path::Path;

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::stat::{fstat, SFlag};

use crate::Error;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as imp;
#[cfg(target_os = "openbsd")]
mod openbsd;
#[cfg(target_os = "openbsd")]
use openbsd as imp;
#[cfg(not(any(target_os = "linux", target_os = "openbsd")))]
mod other;
#[cfg(not(any(target_os = "linux", target_os = "openbsd")))]
use other as imp;

#[cfg(target_os = "linux")]
pub use linux::allowed_syscalls;

/// Whether the validator chroots (and reads its sources through directory
/// fds opened by the parent) or, false, unveils its source directories.
pub const CHROOTS_VALIDATOR: bool = imp::CHROOTS_VALIDATOR;

/// Which of rovd's processes a sandbox is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The parent: supervises the children, re-reads the configuration.
    Parent,
    /// The validator: reads the sources, builds snapshots.
    Validator,
    /// The rtr worker: serves routers on listeners it was handed.
    Rtr,
    /// The fetcher: connects to upstream caches, nothing else.
    Fetcher,
}

/// What the seccomp filter does with a system call not on the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeccompMode {
    /// Kill the process (the default).
    Kill,
    /// Allow it and have the kernel log it (audit log, `dmesg`): for
    /// finding what a list lacks.
    Log,
}

/// What a process may still do once sandboxed.
#[derive(Debug)]
pub struct Policy<'a> {
    /// The process's role, which selects its system call list and pledge.
    pub role: Role,
    /// Directories (or files) whose contents may be read (Linux, Landlock):
    /// the validator's source directories, the parent's configuration
    /// directory.
    pub read_beneath: Vec<BorrowedFd<'a>>,
    /// Paths and unveil(2) permissions such as "r" (OpenBSD only).
    pub unveil: Vec<(&'a Path, &'a str)>,
    /// Highest number of open files (`RLIMIT_NOFILE`), at most the current
    /// hard limit.
    pub max_files: u64,
    /// Kill or log on a forbidden system call (Linux).
    pub seccomp: SeccompMode,
    /// Processes besides itself the process may signal (Linux: seccomp
    /// pins `kill` to these): the parent's children.
    pub signals: Vec<i32>,
    /// Refuse, rather than go on without, where the kernel has no
    /// Landlock (Linux).
    pub require_landlock: bool,
    /// TCP ports the process may connect to (Linux, Landlock ABI 4 and
    /// later): the fetcher's upstreams. Empty: no TCP connect at all.
    pub connect_ports: Vec<u16>,
}

/// What [`apply`] achieved, one log line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Landlock (or unveil) status, starting with "landlock:" ("unveil:").
    pub landlock: String,
    /// Seccomp (or pledge) status, starting with "seccomp:" ("pledge:").
    pub seccomp: String,
    /// Resource limits, starting with "rlimits:".
    pub rlimits: String,
}

/// Enters the sandbox of `policy.role`. Irreversible; a failure leaves the
/// process partly sandboxed, and it must exit.
pub fn apply(policy: &Policy) -> Result<Status, Error> {
    imp::apply(policy)
}

/// Sets the rlimits every role has and says what they are.
fn limit_resources(max_files: u64) -> Result<String, Error> {
    let set = |res: Resource, name: &str, value: u64| {
        setrlimit(res, value, value)
            .map_err(|e| Error::new(format!("setrlimit {name} {value}: {e}")))
    };
    set(Resource::RLIMIT_NPROC, "RLIMIT_NPROC", 0)?;
    set(Resource::RLIMIT_CORE, "RLIMIT_CORE", 0)?;

    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|e| Error::new(format!("getrlimit RLIMIT_NOFILE: {e}")))?;
    let files = max_files.min(hard);
    set(Resource::RLIMIT_NOFILE, "RLIMIT_NOFILE", files)?;
    let mut status =
        format!("rlimits: no new processes, no core dumps, at most {files} open files");
    if files < max_files {
        let _ = write!(status, " (the hard limit; {max_files} asked for)");
    }

    // Log lines appended to a file on stderr would raise SIGXFSZ.
    let stderr_is_file = fstat(2)
        .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG);
    if stderr_is_file {
        status += ", file size not limited (stderr is a file)";
    } else {
        set(Resource::RLIMIT_FSIZE, "RLIMIT_FSIZE", 0)?;
        status += ", no file growth";
    }
    Ok(status)
}
