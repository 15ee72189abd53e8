//! Starting a role: fork+exec of rovd's own executable with the channels on
//! fds 3 and 4 (and the log relay on 5). [`spawn`] is used by the parent, as root, during start-up;
//! [`inherit`] by each child, first thing after exec, still with the
//! privileges it was started with.
//!
//! Between fork and exec the child does nothing but `dup2` (the only thing
//! that is safe there after fork in a process that may have had threads);
//! everything else is set up by std's `Command` or by the child itself after
//! exec. Every other descriptor of the parent is close-on-exec and vanishes.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::stat::{fstat, SFlag};

/// Descriptors at or above this are never the target of a `dup2`.
const FD_HIGH: RawFd = 10;

/// rovd's own executable, resolved once at start-up.
///
/// On Linux this holds an fd of the running binary and execs it through
/// `/proc/self/fd/N`, so replacing the file on disk (a package upgrade)
/// cannot change what the children run. Elsewhere it is the path of the
/// running binary.
#[derive(Debug)]
pub struct Executable {
    path: PathBuf,
    #[cfg(target_os = "linux")]
    _fd: OwnedFd,
}

impl Executable {
    /// Resolves the running executable.
    #[cfg(target_os = "linux")]
    pub fn current() -> io::Result<Executable> {
        // File::open uses O_RDONLY | O_CLOEXEC.
        let file = File::open("/proc/self/exe")?;
        let fd = dup_high(file.as_raw_fd())?;
        Ok(Executable {
            path: format!("/proc/self/fd/{}", fd.as_raw_fd()).into(),
            _fd: fd,
        })
    }

    /// Resolves the running executable.
    #[cfg(not(target_os = "linux"))]
    pub fn current() -> io::Result<Executable> {
        Ok(Executable {
            path: std::env::current_exe()?,
        })
    }

    /// The path the children are executed from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Starts `exe` as a child role with `fds` as its descriptors 3, 4, …
/// (at most [`MAX_CHILD_FDS`]): its channels, and the log relay.
///
/// `title` becomes the child's argv\[0\], e.g. "rovd: validator". The child's
/// stdin is /dev/null; stdout and stderr are inherited; its environment is
/// empty.
pub fn spawn(
    exe: &Executable,
    title: &str,
    args: &[&str],
    fds: &[BorrowedFd],
) -> io::Result<Child> {
    spawn_program(exe.path(), title, args, fds)
}

/// The most descriptors [`spawn`] hands a child: 3 to 5.
pub const MAX_CHILD_FDS: usize = 3;

/// Like [`spawn`] for any program.
pub fn spawn_program(
    path: &Path,
    title: &str,
    args: &[&str],
    fds: &[BorrowedFd],
) -> io::Result<Child> {
    if fds.is_empty() || fds.len() > MAX_CHILD_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} descriptors for a child (1 to {MAX_CHILD_FDS})",
                fds.len()
            ),
        ));
    }
    // Copies at high numbers, so that a dup2 to 3 cannot overwrite the
    // source of a later one.
    let sources = fds
        .iter()
        .map(|fd| dup_high(fd.as_raw_fd()))
        .collect::<io::Result<Vec<OwnedFd>>>()?;
    let mut raw = [-1 as RawFd; MAX_CHILD_FDS];
    for (slot, fd) in raw.iter_mut().zip(&sources) {
        *slot = fd.as_raw_fd();
    }
    let count = sources.len();

    // Descriptors std opens for the child (/dev/null, its exec error pipe)
    // must not land on the targets either, or the dup2s would close them:
    // occupy any free number up to the last target until the child is
    // started.
    let last = RawFd::try_from(2 + count).unwrap_or(RawFd::MAX);
    let _placeholders = fill_low_fds(last)?;

    let mut cmd = Command::new(path);
    // A clean environment: nothing of the starting shell's (locale, proxy
    // settings, library paths) reaches a child.
    cmd.arg0(title).args(args).stdin(Stdio::null()).env_clear();
    #[cfg(feature = "probe")]
    cmd.envs(std::env::vars().filter(|(k, _)| k.starts_with("ROVD_SANDBOX_PROBE")));
    // SAFETY: the closure only calls dup2(2), which is async-signal-safe,
    // on descriptors that stay open in the parent until spawn returns; it
    // reads a fixed array and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            for (target, &source) in (3..).zip(raw.iter().take(count)) {
                if libc::dup2(source, target) == -1 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn();
    drop(sources);
    child
}

/// Descriptors below 64 taken over by [`inherit`], one bit each.
static INHERITED: AtomicU64 = AtomicU64::new(0);

/// Takes ownership of socket `fd` that the parent passed with [`spawn`],
/// and marks it close-on-exec.
///
/// Call it at start-up, before anything else opens descriptors. Fails if
/// `fd` is not an open socket (the program was not started by `spawn`), is
/// 64 or above, or was taken before.
pub fn inherit(fd: RawFd) -> io::Result<OwnedFd> {
    let not_ours =
        |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("fd {fd}: {why}"));
    if !(0..64).contains(&fd) {
        return Err(not_ours("out of range"));
    }
    let st = fstat(fd)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFSOCK {
        return Err(not_ours("not a socket"));
    }
    if INHERITED.fetch_or(1 << fd, Ordering::SeqCst) & (1 << fd) != 0 {
        return Err(not_ours("already taken"));
    }
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    // SAFETY: `fd` is open, the bit set above makes this its only owner in
    // this process, and the caller has not opened anything that could have
    // taken the number since exec.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Duplicates `fd` to a close-on-exec descriptor numbered `FD_HIGH` or above.
fn dup_high(fd: RawFd) -> io::Result<OwnedFd> {
    let new = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(FD_HIGH))?;
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) returned a fresh descriptor that
    // nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Opens /dev/null (close-on-exec) until every descriptor up to `last`
/// is in use.
fn fill_low_fds(last: RawFd) -> io::Result<Vec<File>> {
    let mut held = Vec::new();
    loop {
        let f = File::open("/dev/null")?;
        if f.as_raw_fd() > last {
            return Ok(held);
        }
        held.push(f);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    fn read_all(mut s: UnixStream) -> String {
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// Whether `fd` is open in this process without close-on-exec.
    fn inherited(fd: RawFd) -> bool {
        fcntl(fd, FcntlArg::F_GETFD).is_ok_and(|fl| fl & libc::FD_CLOEXEC == 0)
    }

    #[test]
    fn fds_3_and_4_and_nothing_else() {
        let (a3, b3) = UnixStream::pair().unwrap();
        let (a4, b4) = UnixStream::pair().unwrap();
        // The shell opens nothing of its own for -c; `ls` adds one fd for
        // reading the directory.
        let script = "ls /proc/self/fd >&3; tr '\\0' ' ' </proc/$$/cmdline >&4";
        let mut child = spawn_program(
            Path::new("/bin/sh"),
            "rovd: test",
            &["-c", script],
            &[a3.as_fd(), a4.as_fd()],
        )
        .unwrap();
        drop((a3, a4));
        let fds = read_all(b3);
        let cmdline = read_all(b4);
        assert!(child.wait().unwrap().success());

        // Allowed besides 0-4: descriptors this test process inherited
        // without close-on-exec, and the one `ls` opened.
        let mut fds: Vec<RawFd> = fds.split_whitespace().map(|s| s.parse().unwrap()).collect();
        fds.sort_unstable();
        assert_eq!(fds[..5], [0, 1, 2, 3, 4], "{fds:?}");
        let extra: Vec<_> = fds[5..].iter().filter(|&&fd| !inherited(fd)).collect();
        assert!(extra.len() <= 1, "leaked descriptors: {extra:?} of {fds:?}");
        assert!(cmdline.starts_with("rovd: test -c "), "{cmdline:?}");
    }

    #[test]
    fn the_environment_is_empty() {
        let (a3, b3) = UnixStream::pair().unwrap();
        let script = "env >&3";
        let mut child = spawn_program(
            Path::new("/usr/bin/env"),
            "t",
            &["sh", "-c", script],
            &[a3.as_fd()],
        )
        .unwrap();
        drop(a3);
        let env = read_all(b3);
        child.wait().unwrap();
        // The shell sets PWD (and SHLVL, _) itself; nothing comes from here.
        for line in env.lines() {
            let name = line.split('=').next().unwrap();
            assert!(
                ["PWD", "SHLVL", "_", "OLDPWD"].contains(&name),
                "{line} inherited"
            );
        }
    }

    #[test]
    fn fd4_is_optional() {
        let (a3, b3) = UnixStream::pair().unwrap();
        let script = "echo hello >&3; if : >&4; then echo open >&3; fi 2>/dev/null";
        let mut child =
            spawn_program(Path::new("/bin/sh"), "t", &["-c", script], &[a3.as_fd()]).unwrap();
        drop(a3);
        assert_eq!(read_all(b3), "hello\n");
        child.wait().unwrap();
    }

    #[test]
    fn swapped_sources() {
        // Whatever numbers the sources have, 3 and 4 end up right, even
        // when they are each other's targets.
        let (a, b) = UnixStream::pair().unwrap();
        let (c, d) = UnixStream::pair().unwrap();
        let script = "echo three >&3; echo four >&4";
        let mut child = spawn_program(
            Path::new("/bin/sh"),
            "t",
            &["-c", script],
            &[c.as_fd(), a.as_fd()],
        )
        .unwrap();
        drop((a, c));
        assert_eq!(read_all(d), "three\n");
        assert_eq!(read_all(b), "four\n");
        child.wait().unwrap();
    }

    #[test]
    fn inherit_checks() {
        use std::os::fd::IntoRawFd;
        let (a, _b) = UnixStream::pair().unwrap();
        let raw = a.into_raw_fd();
        let fd = inherit(raw).unwrap();
        assert_eq!(fd.as_raw_fd(), raw);
        assert!(!inherited(raw));
        assert!(inherit(raw).is_err());

        let (rd, _wr) = nix::unistd::pipe().unwrap();
        assert!(inherit(rd.as_raw_fd()).is_err());
        assert!(inherit(64).is_err());
        assert!(inherit(-1).is_err());
    }

    #[test]
    fn missing_program() {
        let (a, _b) = UnixStream::pair().unwrap();
        let err = spawn_program(Path::new("/nonexistent/rovd"), "t", &[], &[a.as_fd()]);
        assert_eq!(err.unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn executable_through_fd() {
        use std::os::unix::fs::MetadataExt;
        let exe = Executable::current().unwrap();
        let path = exe.path().to_str().unwrap();
        let n: RawFd = path
            .strip_prefix("/proc/self/fd/")
            .unwrap()
            .parse()
            .unwrap();
        assert!(n >= FD_HIGH);
        let a = std::fs::metadata(exe.path()).unwrap();
        let b = std::fs::metadata(std::env::current_exe().unwrap()).unwrap();
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));

        // Run this test binary again through the fd, as a child role would
        // be, and let it report on fd 3.
        let (a3, b3) = UnixStream::pair().unwrap();
        let args = [
            "--exact",
            "spawn::tests::child_role",
            "--ignored",
            "--quiet",
        ];
        let mut child = spawn(&exe, "rovd: probe", &args, &[a3.as_fd()]).unwrap();
        drop(a3);
        assert_eq!(read_all(b3), "child role on fd 3\n");
        assert!(child.wait().unwrap().success());
    }

    /// Run by `executable_through_fd` in a child process.
    #[test]
    #[ignore = "run by executable_through_fd in a child process"]
    fn child_role() {
        use std::io::Write;
        if std::env::args().next().as_deref() != Some("rovd: probe") {
            return;
        }
        // SAFETY: in the child, fd 3 is the channel spawn put there, owned
        // by nobody else in this process.
        let mut f = unsafe { File::from_raw_fd(3) };
        f.write_all(b"child role on fd 3\n").unwrap();
    }
}
