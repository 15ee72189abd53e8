//! Giving up root: user lookup, chroot, groups, gid and uid, and empty
//! capability sets. Each child runs [`drop_privileges`] first thing after
//! exec, as root (or as whoever started rovd); the parent runs it once the
//! children are spawned, without a chroot. [`close_from`] is run by every
//! process at start-up, before anything else opens a descriptor.
//!
//! The order is the one of bgpd and rpki-client: the user is looked up
//! while /etc is still reachable, capabilities that only root can give up
//! (the bounding set) go while the process is root, then chroot, groups,
//! gid and uid. Everything is checked afterwards; a process that could not
//! drop everything must not run, so every failure is an [`Error`].

use std::fs;
use std::os::fd::RawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::unistd::{
    chdir, geteuid, getgroups, getresgid, getresuid, getuid, setgroups, setresgid, setresuid, Gid,
    Uid, User,
};

use crate::Error;

/// The unprivileged user a process switches to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The login name.
    pub name: String,
    /// Its uid.
    pub uid: Uid,
    /// Its primary group, the only group the process keeps.
    pub gid: Gid,
}

/// Looks `user` up in the password database.
pub fn lookup(user: &str) -> Result<Account, Error> {
    match User::from_name(user) {
        Ok(Some(u)) => Ok(Account {
            name: u.name,
            uid: u.uid,
            gid: u.gid,
        }),
        Ok(None) => Err(Error::new(format!("no such user {user}"))),
        Err(e) => Err(Error::new(format!("looking up user {user}: {e}"))),
    }
}

/// Whether the process runs with effective uid 0.
pub fn is_root() -> bool {
    geteuid().is_root()
}

/// Checks that `dir` is fit to chroot into as `account`: a directory, not a
/// symbolic link, owned by root and writable by nobody else. So must be
/// every directory above it, except that a sticky one (/tmp) may be
/// writable by all: whoever could rename a directory on the way could swap
/// the chroot for one of their own.
pub fn check_chroot_dir(dir: &Path, account: &Account) -> Result<(), Error> {
    let fail = |why: String| Error::new(format!("chroot {}: {why}", dir.display()));
    if !dir.is_absolute() {
        return Err(fail("not an absolute path".into()));
    }
    let meta = fs::symlink_metadata(dir).map_err(|e| fail(e.to_string()))?;
    if meta.file_type().is_symlink() {
        return Err(fail("is a symbolic link".into()));
    }
    if !meta.is_dir() {
        return Err(fail("not a directory".into()));
    }
    if meta.uid() != 0 {
        let owner = if meta.uid() == account.uid.as_raw() {
            format!("{} (uid {})", account.name, meta.uid())
        } else {
            format!("uid {}", meta.uid())
        };
        return Err(fail(format!("owned by {owner}, not root")));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(fail(format!(
            "writable by group or others (mode {:04o})",
            meta.mode() & 0o7777
        )));
    }

    let real = fs::canonicalize(dir).map_err(|e| fail(e.to_string()))?;
    for parent in real.ancestors().skip(1) {
        let meta = fs::metadata(parent).map_err(|e| fail(format!("{}: {e}", parent.display())))?;
        if meta.uid() != 0 {
            return Err(fail(format!(
                "{} is owned by uid {}, not root",
                parent.display(),
                meta.uid()
            )));
        }
        if meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0 {
            return Err(fail(format!(
                "{} is writable by group or others (mode {:04o})",
                parent.display(),
                meta.mode() & 0o7777
            )));
        }
    }
    Ok(())
}

/// What [`drop_privileges`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dropped {
    /// The process was root and is now `user`, chrooted if asked to.
    Switched {
        /// The user the process now runs as.
        user: String,
        /// The directory it is chrooted to.
        chroot: Option<PathBuf>,
    },
    /// The process was not started as root: it stays `uid`, without a
    /// chroot, having given up any capability it had.
    NotRoot {
        /// The uid the process runs as.
        uid: u32,
    },
}

/// Becomes `user`, chrooted to `chroot` if given, with every capability
/// set empty; or, when not root, just empties the capability sets.
///
/// As root: looks the user up, checks the chroot directory, empties the
/// bounding, ambient and inheritable capability sets, chroots and changes
/// to the new root, keeps only the user's primary group, and sets the real,
/// effective and saved gid and uid. Then verifies all of it. Refuses a user
/// with uid or gid 0.
///
/// Not as root (tests, a demo, a service manager that starts rovd as its
/// user): there is nothing to switch, but capabilities the process was
/// given (ambient ones from a service manager) are still dropped. The
/// bounding set needs `CAP_SETPCAP` to shrink, so it is emptied only if
/// the process has that.
pub fn drop_privileges(user: &str, chroot: Option<&Path>) -> Result<Dropped, Error> {
    if !is_root() {
        caps::give_up()?;
        caps::verify_empty(false)?;
        return Ok(Dropped::NotRoot {
            uid: getuid().as_raw(),
        });
    }

    let account = lookup(user)?;
    if account.uid.is_root() {
        return Err(Error::new(format!(
            "user {user} has uid 0: refusing to run as root"
        )));
    }
    if account.gid.as_raw() == 0 {
        return Err(Error::new(format!(
            "user {user} has gid 0: refusing to run in group 0"
        )));
    }
    if let Some(dir) = chroot {
        check_chroot_dir(dir, &account)?;
    }

    // While root: the bounding set needs CAP_SETPCAP. The permitted and
    // effective sets go with setresuid below; chroot and setresuid need
    // them until then.
    caps::drop_bounding()?;
    caps::clear_inherited()?;

    if let Some(dir) = chroot {
        nix::unistd::chroot(dir)
            .map_err(|e| Error::new(format!("chroot {}: {e}", dir.display())))?;
        chdir("/").map_err(|e| Error::new(format!("chdir / in {}: {e}", dir.display())))?;
    }
    let (uid, gid) = (account.uid, account.gid);
    setgroups(&[gid]).map_err(|e| Error::new(format!("setgroups {gid}: {e}")))?;
    setresgid(gid, gid, gid).map_err(|e| Error::new(format!("setresgid {gid}: {e}")))?;
    setresuid(uid, uid, uid).map_err(|e| Error::new(format!("setresuid {uid}: {e}")))?;

    verify_ids(&account)?;
    caps::verify_empty(true)?;
    Ok(Dropped::Switched {
        user: account.name,
        chroot: chroot.map(Path::to_path_buf),
    })
}

/// Checks that the process is `account` and nothing else: real, effective
/// and saved ids, and the supplementary groups.
fn verify_ids(account: &Account) -> Result<(), Error> {
    let fail = |why: String| Error::new(format!("after switching to {}: {why}", account.name));
    let u = getresuid().map_err(|e| fail(format!("getresuid: {e}")))?;
    if [u.real, u.effective, u.saved]
        .iter()
        .any(|&id| id != account.uid || id.is_root())
    {
        return Err(fail(format!(
            "uids are {}/{}/{}, not {}",
            u.real, u.effective, u.saved, account.uid
        )));
    }
    let g = getresgid().map_err(|e| fail(format!("getresgid: {e}")))?;
    if [g.real, g.effective, g.saved]
        .iter()
        .any(|&id| id != account.gid || id.as_raw() == 0)
    {
        return Err(fail(format!(
            "gids are {}/{}/{}, not {}",
            g.real, g.effective, g.saved, account.gid
        )));
    }
    let groups = getgroups().map_err(|e| fail(format!("getgroups: {e}")))?;
    if groups != [account.gid] {
        return Err(fail(format!("supplementary groups are {groups:?}")));
    }
    Ok(())
}

#[cfg(target_os = "linux")]
mod caps {
    //! The five Linux capability sets. After setresuid from root to another
    //! user the kernel empties the permitted and effective sets; the
    //! bounding set (what an exec of a file with capabilities could gain)
    //! and the ambient set (what survives exec) must be emptied by hand,
    //! the bounding set while the process still has `CAP_SETPCAP`.

    use ::caps::{CapSet, Capability};

    use crate::Error;

    /// Highest capability number the kernel could know.
    const CAP_MAX: u8 = 63;

    /// Empties the bounding set: the capabilities the caps crate knows,
    /// then any newer one the kernel has.
    pub(super) fn drop_bounding() -> Result<(), Error> {
        ::caps::clear(None, CapSet::Bounding)
            .map_err(|e| Error::new(format!("emptying the capability bounding set: {e}")))?;
        for cap in first_unknown()..=CAP_MAX {
            match bounding_has(cap) {
                Ok(false) => {}
                Ok(true) => {
                    // SAFETY: PR_CAPBSET_DROP takes a capability number and
                    // touches no memory of ours.
                    let rc =
                        unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap)) };
                    if rc != 0 {
                        let e = std::io::Error::last_os_error();
                        return Err(Error::new(format!(
                            "dropping capability {cap} from the bounding set: {e}"
                        )));
                    }
                }
                // EINVAL: past the last capability of this kernel.
                Err(()) => break,
            }
        }
        Ok(())
    }

    /// Empties the ambient and inheritable sets: what would survive an exec.
    pub(super) fn clear_inherited() -> Result<(), Error> {
        for set in [CapSet::Ambient, CapSet::Inheritable] {
            ::caps::clear(None, set).map_err(|e| {
                Error::new(format!("emptying the {} capability set: {e}", name(set)))
            })?;
        }
        Ok(())
    }

    /// Empties every set a process that is not root may empty: the
    /// bounding set if it holds `CAP_SETPCAP`, then ambient, inheritable,
    /// permitted and effective.
    pub(super) fn give_up() -> Result<(), Error> {
        if ::caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
            drop_bounding()?;
        }
        clear_inherited()?;
        ::caps::clear(None, CapSet::Permitted)
            .map_err(|e| Error::new(format!("emptying the permitted capability set: {e}")))
    }

    /// Verifies that the effective, permitted, inheritable and ambient
    /// sets are empty, and the bounding set too if `bounding`.
    pub(super) fn verify_empty(bounding: bool) -> Result<(), Error> {
        let mut sets = vec![
            CapSet::Effective,
            CapSet::Permitted,
            CapSet::Inheritable,
            CapSet::Ambient,
        ];
        if bounding {
            sets.push(CapSet::Bounding);
        }
        for set in sets {
            let held = ::caps::read(None, set).map_err(|e| {
                Error::new(format!("reading the {} capability set: {e}", name(set)))
            })?;
            if !held.is_empty() {
                let mut held: Vec<String> = held.iter().map(ToString::to_string).collect();
                held.sort();
                return Err(Error::new(format!(
                    "the {} capability set is not empty: {}",
                    name(set),
                    held.join(", ")
                )));
            }
        }
        if bounding {
            for cap in first_unknown()..=CAP_MAX {
                if bounding_has(cap) == Ok(true) {
                    return Err(Error::new(format!(
                        "the bounding capability set is not empty: capability {cap}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The first capability number the caps crate does not know.
    fn first_unknown() -> u8 {
        ::caps::all()
            .iter()
            .map(|c| c.index() + 1)
            .max()
            .unwrap_or(0)
    }

    /// Whether capability number `cap` is in the bounding set; `Err` if the
    /// kernel does not know it.
    fn bounding_has(cap: u8) -> Result<bool, ()> {
        // SAFETY: PR_CAPBSET_READ takes a capability number and touches no
        // memory of ours.
        match unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(cap)) } {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(()),
        }
    }

    fn name(set: CapSet) -> &'static str {
        match set {
            CapSet::Ambient => "ambient",
            CapSet::Bounding => "bounding",
            CapSet::Effective => "effective",
            CapSet::Inheritable => "inheritable",
            CapSet::Permitted => "permitted",
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod caps {
    //! Systems without capabilities: root is the only privilege, and the
    //! uid switch gives it up.

    use crate::Error;

    pub(super) fn drop_bounding() -> Result<(), Error> {
        Ok(())
    }

    pub(super) fn clear_inherited() -> Result<(), Error> {
        Ok(())
    }

    pub(super) fn give_up() -> Result<(), Error> {
        Ok(())
    }

    pub(super) fn verify_empty(_bounding: bool) -> Result<(), Error> {
        Ok(())
    }
}

/// Closes every descriptor numbered `first` or above, so that nothing a
/// process inherited by accident survives. The parent calls it with 3 at
/// start-up, the children with 5 (their channels are 3 and 4).
///
/// Call it first thing in `main`, before anything opens a descriptor:
/// whatever owned a descriptor it closes would go on using a closed or,
/// worse, reused number.
pub fn close_from(first: RawFd) {
    let first = first.max(0);
    #[cfg(target_os = "linux")]
    {
        #[allow(clippy::cast_sign_loss)] // `first` is at least 0, see above
        // SAFETY: close_range(2) only closes descriptors, and the caller
        // guarantees none at or above `first` is owned by anything.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                first as libc::c_uint,
                libc::c_uint::MAX,
                0 as libc::c_uint,
            )
        };
        if rc == 0 {
            return;
        }
        // Before Linux 5.9: close what /proc lists.
        if let Ok(dir) = fs::read_dir("/proc/self/fd") {
            let open: Vec<RawFd> = dir
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|&fd| fd >= first)
                .collect();
            // The descriptor of the listing itself is closed by now and
            // fails with EBADF, like any other that is not open.
            for fd in open {
                // SAFETY: as above.
                unsafe { libc::close(fd) };
            }
            return;
        }
    }
    #[cfg(target_os = "openbsd")]
    {
        // SAFETY: as above; closefrom(2) fails only if nothing was open.
        unsafe { libc::closefrom(first) };
    }
    #[cfg(not(target_os = "openbsd"))]
    {
        let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(1024, |(soft, _)| soft.min(1 << 16) as RawFd);
        for fd in first..limit {
            // SAFETY: as above.
            unsafe { libc::close(fd) };
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::probe::{self, Probe};
    use std::os::unix::fs::PermissionsExt;

    fn nobody() -> Account {
        lookup("nobody").unwrap()
    }

    /// A fresh directory that passes `check_chroot_dir` when run as root.
    fn chroot_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[test]
    fn lookup_users() {
        let nobody = nobody();
        assert_eq!(nobody.name, "nobody");
        assert!(!nobody.uid.is_root());
        let err = lookup("_rovd_no_such_user").unwrap_err();
        assert_eq!(err.to_string(), "no such user _rovd_no_such_user");
    }

    #[test]
    fn chroot_dir_checks() {
        let dir = chroot_dir();
        let path = dir.path();
        if is_root() {
            check_chroot_dir(path, &nobody()).unwrap();
        }

        fs::set_permissions(path, fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_chroot_dir(path, &nobody()).unwrap_err().to_string();
        let want = if is_root() {
            format!(
                "chroot {}: writable by group or others (mode 0777)",
                path.display()
            )
        } else {
            "not root".into()
        };
        assert!(err.contains(&want), "{err}");
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();

        if is_root() {
            std::os::unix::fs::chown(path, Some(65534), None).unwrap();
        }
        let err = check_chroot_dir(path, &nobody()).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("chroot {}: owned by ", path.display())),
            "{err}"
        );
        assert!(err.ends_with(", not root"), "{err}");
        if is_root() {
            assert!(err.contains("nobody (uid 65534)"), "{err}");
            std::os::unix::fs::chown(path, Some(0), None).unwrap();
        }

        let link = path.with_extension("link");
        std::os::unix::fs::symlink(path, &link).unwrap();
        let err = check_chroot_dir(&link, &nobody()).unwrap_err().to_string();
        let _ = fs::remove_file(&link);
        assert_eq!(
            err,
            format!("chroot {}: is a symbolic link", link.display())
        );

        let file = path.join("file");
        fs::write(&file, b"").unwrap();
        let err = check_chroot_dir(&file, &nobody()).unwrap_err().to_string();
        assert_eq!(err, format!("chroot {}: not a directory", file.display()));

        let err = check_chroot_dir(Path::new("relative"), &nobody()).unwrap_err();
        assert_eq!(err.to_string(), "chroot relative: not an absolute path");
    }

    #[test]
    fn chroot_dir_parents() {
        if !is_root() {
            return;
        }
        let top = chroot_dir();
        let inner = top.path().join("empty");
        fs::create_dir(&inner).unwrap();
        check_chroot_dir(&inner, &nobody()).unwrap();

        // Whoever may write the parent could swap the chroot.
        fs::set_permissions(top.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_chroot_dir(&inner, &nobody()).unwrap_err().to_string();
        let real = fs::canonicalize(top.path()).unwrap();
        assert!(
            err.ends_with(&format!(
                "{} is writable by group or others (mode 0777)",
                real.display()
            )),
            "{err}"
        );
        // Unless it is sticky, as /tmp is.
        fs::set_permissions(top.path(), fs::Permissions::from_mode(0o1777)).unwrap();
        check_chroot_dir(&inner, &nobody()).unwrap();
    }

    #[test]
    fn refusals_before_any_change() {
        if !is_root() {
            return;
        }
        // Both fail before anything is changed, so the test process may
        // call them.
        let err = drop_privileges("root", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "user root has uid 0: refusing to run as root"
        );
        let err = drop_privileges("_rovd_no_such_user", None).unwrap_err();
        assert_eq!(err.to_string(), "no such user _rovd_no_such_user");
        let dir = chroot_dir();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o775)).unwrap();
        let err = drop_privileges("nobody", Some(dir.path())).unwrap_err();
        assert!(
            err.to_string().contains("writable by group or others"),
            "{err}"
        );
        assert!(is_root());
    }

    #[test]
    fn drop_to_nobody() {
        if !is_root() {
            println!("skipped: needs root");
            return;
        }
        let dir = chroot_dir();
        let path = dir.path().to_str().unwrap();
        let mut probe = Probe::start("privdrop::tests::drop_probe", &[("CHROOT", path)]);
        let report = probe.expect("dropped:");
        let tid = probe.expect("tid:");
        assert_eq!(
            report,
            format!("Switched {{ user: \"nobody\", chroot: Some({path:?}) }}")
        );
        for id in ["Uid", "Gid"] {
            let ids: Vec<_> = probe
                .proc_status(&tid, id)
                .split_whitespace()
                .map(String::from)
                .collect();
            assert_eq!(ids, ["65534"; 4], "{id}");
        }
        assert_eq!(probe.proc_status(&tid, "Groups"), "65534");
        for set in ["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"] {
            assert_eq!(probe.proc_status(&tid, set), "0000000000000000", "{set}");
        }
        let root = fs::read_link(format!("/proc/{}/root", probe.pid())).unwrap();
        assert_eq!(root, fs::canonicalize(dir.path()).unwrap());
        let (status, _, err) = probe.finish();
        assert!(status.success(), "{status:?}: {err}");
    }

    /// Run by `drop_to_nobody` in a child process.
    #[test]
    #[ignore = "run by drop_to_nobody in a child process"]
    fn drop_probe() {
        if !probe::active("privdrop::tests::drop_probe") {
            return;
        }
        let dir = std::env::var("CHROOT").unwrap();
        match drop_privileges("nobody", Some(Path::new(&dir))) {
            Ok(dropped) => probe::say(&format!("dropped: {dropped:?}")),
            Err(e) => probe::say(&format!("failed: {e}")),
        }
        probe::say(&format!("tid: {}", probe::tid()));
        // Nothing of the old root is reachable.
        assert!(!Path::new("/proc/self").exists());
        probe::wait_for_parent();
        probe::exit();
    }

    #[test]
    fn not_root() {
        if !is_root() {
            // The test process itself is the case; its capability sets are
            // empty already, so this changes nothing.
            assert_eq!(
                drop_privileges("nobody", None).unwrap(),
                Dropped::NotRoot {
                    uid: getuid().as_raw()
                }
            );
            return;
        }
        // Started as nobody, with no capabilities.
        let mut probe = Probe::start_with("privdrop::tests::not_root_probe", &[], |cmd| {
            use std::os::unix::process::CommandExt;
            cmd.uid(65534).gid(65534);
        });
        assert_eq!(probe.expect("dropped:"), "NotRoot { uid: 65534 }");
        let (status, _, err) = probe.finish();
        assert!(status.success(), "{status:?}: {err}");
    }

    /// Run by `not_root` in a child process.
    #[test]
    #[ignore = "run by not_root in a child process"]
    fn not_root_probe() {
        if !probe::active("privdrop::tests::not_root_probe") {
            return;
        }
        match drop_privileges("nobody", Some(Path::new("/nonexistent"))) {
            Ok(dropped) => probe::say(&format!("dropped: {dropped:?}")),
            Err(e) => probe::say(&format!("failed: {e}")),
        }
        probe::exit();
    }

    #[test]
    fn closes_from() {
        let mut probe = Probe::start("privdrop::tests::close_from_probe", &[]);
        assert_eq!(
            probe.expect("open:"),
            "40 true, 41 false, 42 false, 60 false"
        );
        let (status, _, err) = probe.finish();
        assert!(status.success(), "{status:?}: {err}");
    }

    /// Run by `closes_from` in a child process.
    #[test]
    #[ignore = "run by closes_from in a child process"]
    fn close_from_probe() {
        if !probe::active("privdrop::tests::close_from_probe") {
            return;
        }
        for fd in [40, 41, 60] {
            // SAFETY: fds 40, 41 and 60 are not in use in the probe.
            assert_eq!(unsafe { libc::dup2(1, fd) }, fd);
        }
        close_from(41);
        let open = |fd| nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_ok();
        probe::say(&format!(
            "open: 40 {}, 41 {}, 42 {}, 60 {}",
            open(40),
            open(41),
            open(42),
            open(60)
        ));
        probe::exit();
    }
}
