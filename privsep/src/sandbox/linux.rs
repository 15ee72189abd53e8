//! The Linux sandbox: no new privileges, Landlock and a seccomp allow-list.
//! Entered by all three processes, unprivileged, at the end of start-up.
//!
//! Each role's system calls are one `const` list below, one line per call,
//! grouped by why the role needs them; a call with an argument condition
//! says so on its line. Everything else kills the process (or, in debug
//! mode, is logged by the kernel and allowed). The lists are for glibc on
//! `x86_64` and `aarch64`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::fd::{AsRawFd, BorrowedFd};

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus, NetPort,
    PathBeneath, RestrictionStatus, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetError,
    RulesetStatus, Scope, ABI,
};
use nix::sys::stat::{fstat, SFlag};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::{Policy, Role, SeccompMode, Status};
use crate::tcpsig::linux as tcpsig;
use crate::Error;

pub(super) const CHROOTS_VALIDATOR: bool = true;

pub(super) fn apply(policy: &Policy) -> Result<Status, Error> {
    // Compiled first, so that a bad list fails before anything is applied.
    let (program, count) = compile(policy.role, policy.seccomp, &policy.signals)?;

    nix::sys::prctl::set_no_new_privs()
        .map_err(|e| Error::new(format!("prctl PR_SET_NO_NEW_PRIVS: {e}")))?;
    let rlimits = super::limit_resources(policy.max_files)?;
    let landlock = landlock(policy)?;
    seccompiler::apply_filter_all_threads(&program)
        .map_err(|e| Error::new(format!("seccomp: {e}")))?;

    let seccomp = match policy.seccomp {
        SeccompMode::Kill => {
            format!("seccomp: {count} system calls allowed, others kill the process")
        }
        SeccompMode::Log => {
            format!("seccomp: {count} system calls allowed, others are logged (debug mode)")
        }
    };
    Ok(Status {
        landlock,
        seccomp,
        rlimits,
    })
}

//------------ Landlock ------------------------------------------------------

/// The newest Landlock ABI whose access rights are handled; an older
/// kernel enforces the part it knows.
const LANDLOCK_ABI: ABI = ABI::V10;

/// Denies all filesystem access but reading beneath `read_beneath`, TCP
/// bind, TCP connect but to `connect_ports`, and, for the children,
/// signals and abstract unix sockets beyond the process. The parent keeps
/// signals: it must be able to kill its children, which are not inside
/// its sandbox.
fn landlock(policy: &Policy) -> Result<String, Error> {
    let fail = |e: RulesetError| Error::new(format!("landlock: {e}"));
    let scopes: BitFlags<Scope> = match policy.role {
        Role::Parent => Scope::AbstractUnixSocket.into(),
        Role::Validator | Role::Rtr | Role::Fetcher => Scope::AbstractUnixSocket | Scope::Signal,
    };
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(LANDLOCK_ABI))
        .map_err(fail)?
        .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
        .map_err(fail)?
        .scope(scopes)
        .map_err(fail)?
        .create()
        .map_err(fail)?;
    for &fd in &policy.read_beneath {
        let access = if is_dir(fd)? {
            AccessFs::ReadFile | AccessFs::ReadDir
        } else {
            AccessFs::ReadFile.into()
        };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, access))
            .map_err(fail)?;
    }
    for &port in &policy.connect_ports {
        ruleset = ruleset
            .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
            .map_err(fail)?;
    }
    let (enforced, described) = if landlock_hidden() {
        (false, "landlock: not enabled in this kernel".to_string())
    } else {
        let status = ruleset.restrict_self().map_err(fail)?;
        let enforced = status.ruleset != RulesetStatus::NotEnforced;
        (enforced, describe(&status, policy))
    };
    if !enforced && policy.require_landlock {
        return Err(Error::new(format!(
            "{described}, and it is required: without it the process can reach \
             files beyond its sandbox (set landlock = \"best-effort\" to start anyway)"
        )));
    }
    Ok(described)
}

/// Test builds only: whether to act as on a kernel without Landlock
/// (`ROVD_SANDBOX_PROBE_NO_LANDLOCK` set), to test the refusal.
#[cfg(feature = "probe")]
fn landlock_hidden() -> bool {
    std::env::var_os("ROVD_SANDBOX_PROBE_NO_LANDLOCK").is_some()
}

#[cfg(not(feature = "probe"))]
fn landlock_hidden() -> bool {
    false
}

fn is_dir(fd: BorrowedFd) -> Result<bool, Error> {
    let st = fstat(fd.as_raw_fd())
        .map_err(|e| Error::new(format!("landlock: fstat fd {}: {e}", fd.as_raw_fd())))?;
    Ok(SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
}

fn describe(status: &RestrictionStatus, policy: &Policy) -> String {
    let abi = match status.landlock {
        LandlockStatus::Available { effective_abi, .. } => effective_abi,
        _ => ABI::Unsupported,
    };
    let mut s = match status.ruleset {
        RulesetStatus::FullyEnforced => format!("landlock: fully enforced (ABI {abi})"),
        RulesetStatus::PartiallyEnforced => format!(
            "landlock: enforced as far as the kernel allows (ABI {abi}, this build knows {LANDLOCK_ABI})"
        ),
        RulesetStatus::NotEnforced => {
            return match status.landlock {
                LandlockStatus::NotEnabled => "landlock: not enabled in this kernel".into(),
                _ => "landlock: not supported by this kernel".into(),
            }
        }
    };
    match policy.read_beneath.len() {
        0 => s += ", no filesystem access",
        1 => s += ", filesystem read-only beneath 1 directory",
        n => {
            let _ = write!(s, ", filesystem read-only beneath {n} directories");
        }
    }
    if abi >= ABI::V4 {
        match policy.connect_ports.as_slice() {
            [] => s += ", TCP bind/connect denied",
            ports => {
                let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
                let _ = write!(
                    s,
                    ", TCP bind denied, connect only to port {}",
                    ports.join(", ")
                );
            }
        }
    }
    if abi >= ABI::V6 {
        s += match policy.role {
            Role::Parent => ", abstract unix sockets confined",
            Role::Validator | Role::Rtr | Role::Fetcher => {
                ", signals and abstract unix sockets confined"
            }
        };
    }
    s
}

//------------ Seccomp -------------------------------------------------------

/// A system call on an allow-list and what its arguments must be.
#[derive(Debug, Clone, Copy)]
struct Allow {
    nr: i64,
    name: &'static str,
    args: Args,
}

#[derive(Debug, Clone, Copy)]
enum Args {
    /// Any arguments.
    Any,
    /// Argument `n` (`prot`) without `PROT_EXEC`.
    NoExec(u8),
    /// Argument `n` (`flags` of an open) read-only, without creating,
    /// truncating or appending.
    ReadOnly(u8),
    /// Argument `n` one of these values.
    OneOf(u8, &'static [u64]),
    /// Arguments 1 and 2 one of these pairs: `setsockopt`'s level and
    /// option name.
    Pairs(&'static [(u64, u64)]),
    /// Argument `n` the process's own pid or one it may signal
    /// ([`Policy::signals`]).
    Pid(u8),
}

/// `sys!(SYS_read)`, or `sys!(SYS_mmap, NoExec(2))` with a condition.
macro_rules! sys {
    ($nr:ident) => {
        sys!($nr, Any)
    };
    ($nr:ident, $($args:tt)+) => {
        Allow {
            nr: libc::$nr,
            name: stringify!($nr),
            args: Args::$($args)+,
        }
    };
}

/// The fcntl(2) commands allowed: descriptor and file status flags.
const FD_FLAGS: &[u64] = &[
    libc::F_GETFD as u64,
    libc::F_SETFD as u64,
    libc::F_GETFL as u64,
    libc::F_SETFL as u64,
];

/// What every role needs: Rust std, mio, the allocator and logging.
const COMMON: &[Allow] = &[
    // I/O on descriptors the process holds: channels, sockets, stderr,
    // source files. Opening is per role.
    sys!(SYS_read),
    sys!(SYS_readv),
    sys!(SYS_pread64),
    sys!(SYS_write),
    sys!(SYS_writev),
    sys!(SYS_lseek),
    sys!(SYS_close),
    // Metadata; std's File::metadata tries statx first.
    sys!(SYS_fstat),
    sys!(SYS_newfstatat),
    sys!(SYS_statx),
    // Memory for the allocator and thread stacks; never executable (W^X).
    sys!(SYS_brk),
    sys!(SYS_mmap, NoExec(2)),
    sys!(SYS_mprotect, NoExec(2)),
    sys!(SYS_munmap),
    sys!(SYS_mremap),
    sys!(SYS_madvise),
    // Waiting: locks, the mio loop, channels blocking in poll.
    sys!(SYS_futex),
    sys!(SYS_epoll_ctl),
    sys!(SYS_epoll_pwait),
    sys!(SYS_epoll_pwait2),
    sys!(SYS_ppoll),
    // Signals: return from the self-pipe handler, restart of interrupted
    // calls, signal masks in libc (abort), std's stack overflow handler.
    sys!(SYS_rt_sigreturn),
    sys!(SYS_restart_syscall),
    sys!(SYS_rt_sigprocmask),
    sys!(SYS_sigaltstack),
    // Randomness (hash keys, session ids) and time where the vDSO cannot.
    sys!(SYS_getrandom),
    sys!(SYS_clock_gettime),
    sys!(SYS_clock_getres),
    sys!(SYS_gettimeofday),
    // Descriptor flags only (non-blocking, close-on-exec): no dup, no locks;
    // ioctl only for std's set_nonblocking.
    sys!(SYS_fcntl, OneOf(1, FD_FLAGS)),
    sys!(SYS_ioctl, OneOf(1, &[libc::FIONBIO])),
    // Messages on connected sockets: channels with fd passing, syslog.
    sys!(SYS_sendto),
    sys!(SYS_sendmsg),
    sys!(SYS_recvfrom),
    sys!(SYS_recvmsg),
    // Exiting, and abort() after a panic (panic = "abort").
    sys!(SYS_exit),
    sys!(SYS_exit_group),
    sys!(SYS_getpid),
    sys!(SYS_gettid),
    // abort() signals its own thread group only.
    sys!(SYS_tgkill, Pid(0)),
    sys!(SYS_sched_yield),
];

/// The socket options the rtr worker sets on the connections it accepts:
/// keepalive and no Nagle delay. Nothing else: not TCP-MD5 or TCP-AO keys
/// (`TCP_MD5SIG`, `TCP_AO_*`), socket filters or `TCP_ULP`.
#[allow(clippy::cast_sign_loss)] // positive libc constants
const RTR_SOCKOPTS: &[(u64, u64)] = &[
    (libc::SOL_SOCKET as u64, libc::SO_KEEPALIVE as u64),
    (libc::IPPROTO_TCP as u64, libc::TCP_NODELAY as u64),
];

/// Calls that only the `x86_64` names of the above have (glibc uses them;
/// `aarch64` has only the p-variants).
#[cfg(target_arch = "x86_64")]
const COMMON_ARCH: &[Allow] = &[sys!(SYS_epoll_wait), sys!(SYS_poll)];
#[cfg(target_arch = "aarch64")]
const COMMON_ARCH: &[Allow] = &[];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("no seccomp system call list for this architecture: add one in sandbox/linux.rs");

/// The rtr worker: no filesystem, no new sockets; serves on listeners it
/// was handed.
const RTR: &[Allow] = &[
    // Accepting routers, the two options of their connections, their
    // addresses for the log, closing them. No getsockopt: nothing to read
    // back, keys least of all.
    sys!(SYS_accept4),
    sys!(SYS_setsockopt, Pairs(RTR_SOCKOPTS)),
    sys!(SYS_getsockname),
    sys!(SYS_getpeername),
    sys!(SYS_shutdown),
];

/// The socket options the fetcher sets on its connections: keepalive, no
/// Nagle delay, and the keys of upstreams the key file names (TCP-MD5,
/// TCP-AO). It reads back only a connect's outcome (`SO_ERROR`).
#[allow(clippy::cast_sign_loss)] // positive libc constants
const FETCHER_SOCKOPTS: &[(u64, u64)] = &[
    (libc::SOL_SOCKET as u64, libc::SO_KEEPALIVE as u64),
    (libc::IPPROTO_TCP as u64, libc::TCP_NODELAY as u64),
    (libc::IPPROTO_TCP as u64, tcpsig::TCP_MD5SIG_EXT as u64),
    (libc::IPPROTO_TCP as u64, tcpsig::TCP_AO_ADD_KEY as u64),
];

#[allow(clippy::cast_sign_loss)] // positive libc constants
const SO_ERROR: &[(u64, u64)] = &[(libc::SOL_SOCKET as u64, libc::SO_ERROR as u64)];

/// The fetcher: no filesystem; TCP connections to its upstreams (Landlock
/// holds connect to their ports).
#[allow(clippy::cast_sign_loss)] // positive libc constants
const FETCHER: &[Allow] = &[
    // New TCP sockets, IPv4 and IPv6 only; connected without blocking.
    sys!(
        SYS_socket,
        OneOf(0, &[libc::AF_INET as u64, libc::AF_INET6 as u64])
    ),
    sys!(SYS_connect),
    sys!(SYS_setsockopt, Pairs(FETCHER_SOCKOPTS)),
    sys!(SYS_getsockopt, Pairs(SO_ERROR)),
    sys!(SYS_getsockname),
    sys!(SYS_getpeername),
    sys!(SYS_shutdown),
];

/// The validator: reads sources beneath its directory fds.
const VALIDATOR: &[Allow] = &[
    // Opening source files read-only, listing SLURM directories.
    sys!(SYS_openat, ReadOnly(2)),
    sys!(SYS_getdents64),
];

/// The parent: supervises the children, re-reads the configuration.
const PARENT: &[Allow] = &[
    // Re-reading the configuration on SIGHUP.
    sys!(SYS_openat, ReadOnly(2)),
    // Reaping the children, and killing those that do not exit in time.
    sys!(SYS_wait4),
    sys!(SYS_waitid),
    sys!(SYS_kill, Pid(0)),
    // Sleeping while waiting for children to exit.
    sys!(SYS_clock_nanosleep),
    sys!(SYS_nanosleep),
    // Connecting to syslog again when syslogd restarts: local sockets
    // only (Landlock denies TCP connect besides).
    sys!(SYS_socket, OneOf(0, &[libc::AF_UNIX as u64])),
    sys!(SYS_connect),
];

fn allow_list(role: Role) -> impl Iterator<Item = &'static Allow> {
    let own = match role {
        Role::Parent => PARENT,
        Role::Validator => VALIDATOR,
        Role::Rtr => RTR,
        Role::Fetcher => FETCHER,
    };
    COMMON.iter().chain(COMMON_ARCH).chain(own)
}

/// The names of the system calls `role` may make, in list order.
pub fn allowed_syscalls(role: Role) -> Vec<&'static str> {
    allow_list(role)
        .map(|a| a.name.trim_start_matches("SYS_"))
        .collect()
}

/// Compiles the allow-list of `role` to BPF, with `signals` the pids
/// besides its own it may signal; also returns its length.
fn compile(role: Role, mode: SeccompMode, signals: &[i32]) -> Result<(BpfProgram, usize), Error> {
    let fail = |e: seccompiler::BackendError| Error::new(format!("seccomp: {e}"));
    let mut pids = vec![std::process::id()];
    pids.extend(signals.iter().filter_map(|&p| u32::try_from(p).ok()));
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for allow in allow_list(role) {
        let chain = allow.rules(&pids).map_err(fail)?;
        if rules.insert(allow.nr, chain).is_some() {
            return Err(Error::new(format!("seccomp: {} listed twice", allow.name)));
        }
    }
    let count = rules.len();
    let mismatch = match mode {
        SeccompMode::Kill => SeccompAction::KillProcess,
        SeccompMode::Log => SeccompAction::Log,
    };
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(fail)?;
    let filter = SeccompFilter::new(rules, mismatch, SeccompAction::Allow, arch).map_err(fail)?;
    let program = BpfProgram::try_from(filter).map_err(fail)?;
    Ok((program, count))
}

impl Allow {
    /// The rule chain of this call: any one rule matching allows it, an
    /// empty chain allows it unconditionally.
    // The flag constants of libc are positive ints; the filter compares
    // the argument's 64 bits.
    #[allow(clippy::cast_sign_loss)]
    fn rules(&self, pids: &[u32]) -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
        let masked = |arg: u8, mask: u64, value: u64| {
            SeccompCondition::new(
                arg,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::MaskedEq(mask),
                value,
            )
            .and_then(|c| SeccompRule::new(vec![c]))
        };
        match self.args {
            Args::Any => Ok(vec![]),
            Args::NoExec(arg) => Ok(vec![masked(arg, libc::PROT_EXEC as u64, 0)?]),
            Args::ReadOnly(arg) => {
                let mask = libc::O_ACCMODE | libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND;
                Ok(vec![masked(arg, mask as u64, libc::O_RDONLY as u64)?])
            }
            Args::OneOf(arg, values) => values
                .iter()
                .map(|&v| {
                    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, v)
                        .and_then(|c| SeccompRule::new(vec![c]))
                })
                .collect(),
            Args::Pairs(pairs) => pairs
                .iter()
                .map(|&(level, name)| {
                    let eq = |arg, v| {
                        SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, v)
                    };
                    SeccompRule::new(vec![eq(1, level)?, eq(2, name)?])
                })
                .collect(),
            Args::Pid(arg) => pids
                .iter()
                .map(|&pid| {
                    SeccompCondition::new(
                        arg,
                        SeccompCmpArgLen::Dword,
                        SeccompCmpOp::Eq,
                        u64::from(pid),
                    )
                    .and_then(|c| SeccompRule::new(vec![c]))
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{self, Probe};
    use std::os::fd::AsFd;
    use std::path::Path;

    const ROLES: [Role; 4] = [Role::Parent, Role::Validator, Role::Rtr, Role::Fetcher];

    #[test]
    fn lists_compile() {
        for role in ROLES {
            for mode in [SeccompMode::Kill, SeccompMode::Log] {
                let (program, count) = compile(role, mode, &[]).unwrap();
                assert_eq!(count, allowed_syscalls(role).len(), "{role:?}");
                assert!(!program.is_empty());
            }
        }
    }

    #[test]
    fn lists_leave_out() {
        let nobody = [
            "socketpair",
            "bind",
            "listen",
            "execve",
            "execveat",
            "fork",
            "vfork",
            "clone",
            "clone3",
            "ptrace",
            "prctl",
            "seccomp",
            "setuid",
            "setresuid",
            "chroot",
            "mount",
            "unshare",
            "setns",
            "rt_sigaction",
            "open",
            "openat2",
            "dup",
            "dup3",
            "memfd_create",
            "process_vm_writev",
            "bpf",
            "io_uring_setup",
            "pkey_mprotect",
        ];
        for role in ROLES {
            let list = allowed_syscalls(role);
            for name in nobody {
                assert!(!list.contains(&name), "{role:?} allows {name}");
            }
            let only = |name: &str, owner: &[Role]| {
                assert_eq!(
                    list.contains(&name),
                    owner.contains(&role),
                    "{role:?} and {name}"
                );
            };
            only("openat", &[Role::Parent, Role::Validator]);
            only("getdents64", &[Role::Validator]);
            for name in ["kill", "wait4", "waitid", "nanosleep"] {
                only(name, &[Role::Parent]);
            }
            // The parent's socket and connect are for syslog, AF_UNIX only;
            // the fetcher's for upstreams, AF_INET and AF_INET6 only.
            for name in ["socket", "connect"] {
                only(name, &[Role::Parent, Role::Fetcher]);
            }
            only("accept4", &[Role::Rtr]);
            only("getsockopt", &[Role::Fetcher]);
            for name in ["setsockopt", "getsockname", "getpeername", "shutdown"] {
                only(name, &[Role::Rtr, Role::Fetcher]);
            }
        }
    }

    /// What a sandbox probe reported before it was let go.
    struct Report {
        landlock: String,
        seccomp: String,
        rlimits: String,
        no_new_privs: String,
        seccomp_mode: String,
        probe: Probe,
    }

    fn sandboxed(env: &[(&str, &str)]) -> Report {
        let mut probe = Probe::start("sandbox::linux::tests::sandbox_probe", env);
        let landlock = probe.expect("landlock:");
        let seccomp = probe.expect("seccomp:");
        let rlimits = probe.expect("rlimits:");
        let tid = probe.expect("tid:");
        assert_eq!(probe.expect("stdout:"), "written");
        Report {
            landlock,
            seccomp,
            rlimits,
            no_new_privs: probe.proc_status(&tid, "NoNewPrivs"),
            seccomp_mode: probe.proc_status(&tid, "Seccomp"),
            probe,
        }
    }

    #[test]
    fn rtr_forbidden_call_kills() {
        let r = sandboxed(&[("ROLE", "rtr"), ("MODE", "kill"), ("FORBIDDEN", "socket")]);
        assert_eq!(r.no_new_privs, "1");
        assert_eq!(r.seccomp_mode, "2");
        let n = allowed_syscalls(Role::Rtr).len();
        assert_eq!(
            r.seccomp,
            format!("{n} system calls allowed, others kill the process")
        );
        assert!(
            r.landlock.contains("no filesystem access"),
            "{}",
            r.landlock
        );
        assert!(
            r.landlock.contains("TCP bind/connect denied") || r.landlock.contains("not "),
            "{}",
            r.landlock
        );
        assert_eq!(
            r.rlimits,
            "no new processes, no core dumps, at most 64 open files, no file growth"
        );
        let (status, reports, err) = r.probe.finish();
        assert_eq!(
            probe::signal(status),
            Some(libc::SIGSYS),
            "{reports:?} {err}"
        );
        assert!(reports.is_empty(), "{reports:?}");
    }

    #[test]
    fn log_mode_lets_it_through() {
        let r = sandboxed(&[("ROLE", "rtr"), ("MODE", "log"), ("FORBIDDEN", "socket")]);
        assert_eq!(r.seccomp_mode, "2");
        assert!(
            r.seccomp.ends_with("others are logged (debug mode)"),
            "{}",
            r.seccomp
        );
        let (status, reports, err) = r.probe.finish();
        assert!(status.success(), "{status:?} {err}");
        assert_eq!(reports, ["socket: created"]);
    }

    #[test]
    fn validator_reads_beneath_only() {
        let granted = tempfile::tempdir().unwrap();
        std::fs::write(granted.path().join("source.json"), "vrps").unwrap();
        let elsewhere = tempfile::NamedTempFile::new().unwrap();
        let mut r = sandboxed(&[
            ("ROLE", "validator"),
            ("MODE", "kill"),
            ("GRANT", granted.path().to_str().unwrap()),
            ("OTHER", elsewhere.path().to_str().unwrap()),
            ("FORBIDDEN", "openat_write"),
        ]);
        assert!(
            r.landlock
                .contains("filesystem read-only beneath 1 directory")
                || r.landlock.starts_with("not "),
            "{}",
            r.landlock
        );
        assert_eq!(r.probe.expect("granted:"), "vrps");
        if !r.landlock.starts_with("not ") {
            assert_eq!(
                r.probe.expect("elsewhere:"),
                format!("error {}", libc::EACCES)
            );
        }
        let (status, reports, err) = r.probe.finish();
        assert_eq!(
            probe::signal(status),
            Some(libc::SIGSYS),
            "{reports:?} {err}"
        );
        assert!(!granted.path().join("new").exists());
    }

    #[test]
    fn executable_memory_kills() {
        let r = sandboxed(&[
            ("ROLE", "validator"),
            ("MODE", "kill"),
            ("FORBIDDEN", "mmap_exec"),
        ]);
        let (status, reports, err) = r.probe.finish();
        assert_eq!(
            probe::signal(status),
            Some(libc::SIGSYS),
            "{reports:?} {err}"
        );
    }

    #[test]
    fn rtr_sets_its_two_socket_options_and_no_other() {
        let mut r = sandboxed(&[("ROLE", "rtr"), ("MODE", "kill"), ("SOCKOPTS", "1")]);
        assert_eq!(r.probe.expect("sockopts:"), "0 0");
        let (status, reports, err) = r.probe.finish();
        assert!(status.success(), "{status:?} {reports:?} {err}");
        for forbidden in ["setsockopt_md5", "getsockopt", "tgkill_other"] {
            let r = sandboxed(&[("ROLE", "rtr"), ("MODE", "kill"), ("FORBIDDEN", forbidden)]);
            let (status, reports, err) = r.probe.finish();
            assert_eq!(
                probe::signal(status),
                Some(libc::SIGSYS),
                "{forbidden}: {reports:?} {err}"
            );
        }
    }

    #[test]
    fn fetcher_connects_to_its_ports_only() {
        let allowed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (a, b) = (
            allowed.local_addr().unwrap().port(),
            other.local_addr().unwrap().port(),
        );
        let mut r = sandboxed(&[
            ("ROLE", "fetcher"),
            ("MODE", "kill"),
            ("PORTS", &a.to_string()),
            ("CONNECT", &format!("{a},{b}")),
        ]);
        let enforced = !r.landlock.starts_with("not ");
        if enforced {
            assert!(
                r.landlock.contains("no filesystem access"),
                "{}",
                r.landlock
            );
        }
        let net = enforced && r.landlock.contains("connect only to");
        if net {
            assert!(
                r.landlock
                    .contains(&format!("TCP bind denied, connect only to port {a}")),
                "{}",
                r.landlock
            );
        }
        assert_eq!(r.probe.expect(&format!("connect {a}:")), "ok");
        let denied = r.probe.expect(&format!("connect {b}:"));
        if net {
            assert_eq!(denied, format!("error {}", libc::EACCES));
        }
        let (status, reports, err) = r.probe.finish();
        assert!(status.success(), "{status:?} {reports:?} {err}");
        // No other kind of socket, no file, no listening.
        for forbidden in ["socket_unix", "open", "getsockopt_other", "tgkill_other"] {
            let r = sandboxed(&[
                ("ROLE", "fetcher"),
                ("MODE", "kill"),
                ("PORTS", &a.to_string()),
                ("FORBIDDEN", forbidden),
            ]);
            let (status, reports, err) = r.probe.finish();
            assert_eq!(
                probe::signal(status),
                Some(libc::SIGSYS),
                "{forbidden}: {reports:?} {err}"
            );
        }
    }

    #[test]
    fn parent_signals_only_what_it_may() {
        let r = sandboxed(&[
            ("ROLE", "parent"),
            ("MODE", "kill"),
            ("FORBIDDEN", "kill_other"),
        ]);
        let (status, reports, err) = r.probe.finish();
        assert_eq!(
            probe::signal(status),
            Some(libc::SIGSYS),
            "{reports:?} {err}"
        );
    }

    #[test]
    fn parent_supervises() {
        let conf = tempfile::tempdir().unwrap();
        std::fs::write(conf.path().join("rovd.conf"), "user = \"_rovd\"").unwrap();
        let mut r = sandboxed(&[
            ("ROLE", "parent"),
            ("MODE", "kill"),
            ("GRANT", conf.path().to_str().unwrap()),
            ("CONFIG", conf.path().join("rovd.conf").to_str().unwrap()),
        ]);
        if !r.landlock.starts_with("not ") {
            assert!(
                r.landlock.ends_with(", abstract unix sockets confined"),
                "{}",
                r.landlock
            );
        }
        assert_eq!(r.probe.expect("config:"), "user = \"_rovd\"");
        assert_eq!(r.probe.expect("parent:"), "kill ok, wait ECHILD, slept");
        let (status, reports, err) = r.probe.finish();
        assert!(status.success(), "{status:?} {reports:?} {err}");
    }

    /// Run by the tests above in a child process, as the environment says.
    #[test]
    #[ignore = "run by the tests above in a child process, as the environment says"]
    // One probe for every case, read top to bottom; the socket option
    // lengths are the size of a C int.
    #[allow(clippy::too_many_lines, clippy::cast_possible_truncation)]
    fn sandbox_probe() {
        if !probe::active("sandbox::linux::tests::sandbox_probe") {
            return;
        }
        let env = |key| std::env::var(key).ok();
        let role = match env("ROLE").as_deref() {
            Some("parent") => Role::Parent,
            Some("validator") => Role::Validator,
            Some("fetcher") => Role::Fetcher,
            _ => Role::Rtr,
        };
        let ports: Vec<u16> = env("PORTS")
            .iter()
            .flat_map(|p| p.split(',').map(|n| n.parse().unwrap()).collect::<Vec<_>>())
            .collect();
        let mode = match env("MODE").as_deref() {
            Some("log") => SeccompMode::Log,
            _ => SeccompMode::Kill,
        };
        let grant = env("GRANT").map(|p| crate::fs::open_dir(Path::new(&p)).unwrap());
        // A TCP socket made before the sandbox, as the rtr worker's are.
        // SAFETY: socket(2) with constant arguments.
        let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        let policy = Policy {
            role,
            read_beneath: grant.iter().map(|fd| fd.as_fd()).collect(),
            unveil: vec![],
            max_files: 64,
            seccomp: mode,
            signals: vec![],
            require_landlock: false,
            connect_ports: ports,
        };
        let status = match super::super::apply(&policy) {
            Ok(status) => status,
            Err(e) => {
                probe::say(&format!("failed: {e}"));
                probe::exit();
            }
        };
        probe::say(&status.landlock);
        probe::say(&status.seccomp);
        probe::say(&status.rlimits);
        probe::say(&format!("tid: {}", probe::tid()));
        probe::say("stdout: written");

        if let Some(dir) = &grant {
            use std::io::Read;
            let mut s = String::new();
            let mut f = crate::fs::open_beneath(dir.as_fd(), Path::new("source.json"))
                .or_else(|_| crate::fs::open_beneath(dir.as_fd(), Path::new("rovd.conf")))
                .unwrap();
            f.read_to_string(&mut s).unwrap();
            if role == Role::Validator {
                probe::say(&format!("granted: {s}"));
            }
        }
        if let Some(path) = env("OTHER") {
            match std::fs::read(path) {
                Ok(_) => probe::say("elsewhere: read"),
                Err(e) => probe::say(&format!("elsewhere: error {}", e.raw_os_error().unwrap())),
            }
        }
        if let Some(path) = env("CONFIG") {
            // Read by path, as the parent does on SIGHUP.
            let conf = std::fs::read_to_string(path).unwrap();
            probe::say(&format!("config: {conf}"));
            let me = nix::unistd::getpid();
            let kill = nix::sys::signal::kill(me, None).map_or("failed", |()| "ok");
            let wait = nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            std::thread::sleep(std::time::Duration::from_millis(1));
            probe::say(&format!(
                "parent: kill {kill}, wait {:?}, slept",
                wait.unwrap_err()
            ));
        }

        if let Some(ports) = env("CONNECT") {
            // A fetcher's connections: a new socket, connect, the outcome.
            for port in ports.split(',') {
                let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
                match std::net::TcpStream::connect(addr) {
                    Ok(_) => probe::say(&format!("connect {port}: ok")),
                    Err(e) => probe::say(&format!(
                        "connect {port}: error {}",
                        e.raw_os_error().unwrap_or(0)
                    )),
                }
            }
        }

        if env("SOCKOPTS").is_some() {
            let one: libc::c_int = 1;
            // SAFETY: setsockopt(2) on our own socket with an int option.
            let set = |level, name| unsafe {
                libc::setsockopt(
                    sock,
                    level,
                    name,
                    (&raw const one).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            let nodelay = set(libc::IPPROTO_TCP, libc::TCP_NODELAY);
            let keepalive = set(libc::SOL_SOCKET, libc::SO_KEEPALIVE);
            probe::say(&format!("sockopts: {nodelay} {keepalive}"));
        }

        probe::wait_for_parent();
        match env("FORBIDDEN").as_deref() {
            Some("setsockopt_md5") => {
                let key = [0u8; 216];
                // SAFETY: setsockopt(2) with a buffer of the size given;
                // the filter ends the process before the kernel reads it.
                let r = unsafe {
                    libc::setsockopt(
                        sock,
                        libc::IPPROTO_TCP,
                        libc::TCP_MD5SIG,
                        key.as_ptr().cast(),
                        key.len() as libc::socklen_t,
                    )
                };
                probe::say(&format!("setsockopt: {r}"));
            }
            Some("getsockopt") => {
                let mut v: libc::c_int = 0;
                let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
                // SAFETY: getsockopt(2) into an int of the size given.
                let r = unsafe {
                    libc::getsockopt(
                        sock,
                        libc::SOL_SOCKET,
                        libc::SO_ERROR,
                        (&raw mut v).cast(),
                        &raw mut len,
                    )
                };
                probe::say(&format!("getsockopt: {r}"));
            }
            Some("getsockopt_other") => {
                let mut v: libc::c_int = 0;
                let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
                // SAFETY: getsockopt(2) into an int of the size given.
                let r = unsafe {
                    libc::getsockopt(
                        sock,
                        libc::SOL_SOCKET,
                        libc::SO_RCVBUF,
                        (&raw mut v).cast(),
                        &raw mut len,
                    )
                };
                probe::say(&format!("getsockopt: {r}"));
            }
            Some("tgkill_other") => {
                // SAFETY: tgkill(2) with signal 0 only checks the target.
                let r = unsafe { libc::syscall(libc::SYS_tgkill, 1, 1, 0) };
                probe::say(&format!("tgkill: {r}"));
            }
            Some("kill_other") => {
                let r = nix::sys::signal::kill(nix::unistd::Pid::from_raw(1), None);
                probe::say(&format!("kill: {r:?}"));
            }
            Some("socket_unix") => {
                // SAFETY: socket(2) with constant arguments.
                let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
                probe::say(&format!("socket: {fd}"));
            }
            Some("open") => {
                let r = std::fs::File::open("/etc/hostname");
                probe::say(&format!("open: {r:?}"));
            }
            Some("socket") => {
                // SAFETY: socket(2) with constant arguments.
                let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
                probe::say(if fd >= 0 {
                    "socket: created"
                } else {
                    "socket: failed"
                });
            }
            Some("openat_write") => {
                let dir = grant.as_ref().unwrap().as_raw_fd();
                // SAFETY: openat(2) with a NUL-terminated name.
                let fd = unsafe {
                    libc::openat(dir, c"new".as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o600)
                };
                probe::say(&format!("openat: {fd}"));
            }
            Some("mmap_exec") => {
                // SAFETY: an anonymous mapping that is never used.
                let p = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        4096,
                        libc::PROT_READ | libc::PROT_EXEC,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                        -1,
                        0,
                    )
                };
                probe::say(&format!("mmap: {p:?}"));
            }
            _ => {}
        }
        probe::exit();
    }
}
