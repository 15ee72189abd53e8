//! Reading files beneath a directory fd. The parent opens each source
//! directory with [`open_dir`] (as root, before anything is dropped) and
//! passes the fd to the validator, which runs unprivileged in an empty
//! chroot and reads its sources with [`open_beneath`], [`stat_beneath`]
//! and [`list_beneath`]; Landlock then allows reading beneath those fds
//! only.
//!
//! Names are single path components: no `/`, no `..`, and a symbolic link
//! is refused (`O_NOFOLLOW`). With that, plain `openat(2)` cannot leave the
//! directory, so `openat2(2)` and `RESOLVE_BENEATH` would add nothing, and
//! the seccomp filter can keep checking `openat`'s flags (it cannot look
//! into `openat2`'s `struct open_how`).

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstatat, Mode};

/// Opens the directory `path` for use with [`open_beneath`] (read-only,
/// close-on-exec).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(path)?;
    Ok(dir.into())
}

/// Opens the regular file `name` in `dir` for reading. `name` must be one
/// path component; a symbolic link is refused with `ELOOP`. The open does
/// not block (a FIFO or a device named like a source cannot hang the
/// caller), and anything but a regular file is refused with
/// `InvalidInput`.
pub fn open_beneath(dir: BorrowedFd, name: &Path) -> io::Result<File> {
    check_name(name)?;
    let flags = OFlag::O_RDONLY
        | OFlag::O_CLOEXEC
        | OFlag::O_NOCTTY
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK;
    let fd = nix::fcntl::openat(Some(dir.as_raw_fd()), name, flags, Mode::empty())?;
    // SAFETY: openat returned a fresh descriptor that nothing else owns.
    let file = unsafe { File::from_raw_fd(fd) };
    if !file.metadata()?.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// The names in `dir`, without `.` and `..`, sorted.
pub fn list_beneath(dir: BorrowedFd) -> io::Result<Vec<OsString>> {
    // A fresh descriptor of the same directory, read from its start; `dir`
    // itself stays untouched.
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_DIRECTORY;
    let fd = nix::fcntl::openat(Some(dir.as_raw_fd()), ".", flags, Mode::empty())?;
    let mut listing = Dir::from_fd(fd)?;
    let mut names = Vec::new();
    for entry in listing.iter() {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name));
        }
    }
    names.sort();
    Ok(names)
}

/// What tells whether a file changed since it was last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds of the modification time.
    pub mtime_nsec: i64,
    /// Size in bytes.
    pub size: u64,
    /// Inode number: a file replaced by rename has a new one.
    pub inode: u64,
}

/// Stats the file `name` in `dir` without following a symbolic link (a
/// link is stamped as itself and then refused by [`open_beneath`]).
pub fn stat_beneath(dir: BorrowedFd, name: &Path) -> io::Result<FileStamp> {
    check_name(name)?;
    let st = fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    Ok(FileStamp {
        mtime: st.st_mtime,
        #[allow(clippy::unnecessary_cast)]
        mtime_nsec: st.st_mtime_nsec as i64,
        // off_t: a file's size is never negative.
        #[allow(clippy::unnecessary_cast, clippy::cast_sign_loss)]
        size: st.st_size as u64,
        #[allow(clippy::unnecessary_cast)]
        inode: st.st_ino as u64,
    })
}

/// Accepts a single path component other than `.` and `..`.
fn check_name(name: &Path) -> io::Result<()> {
    let bytes = name.as_os_str().as_bytes();
    let bad = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: {why}", name.display()),
        ))
    };
    if bytes.is_empty() {
        return bad("empty file name");
    }
    if bytes.contains(&b'/') {
        return bad("not a plain file name (contains /)");
    }
    if name.as_os_str() == OsStr::new(".") || name.as_os_str() == OsStr::new("..") {
        return bad("not a plain file name");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsFd;

    #[test]
    fn open_and_stat() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("vrps.json"), b"{}").unwrap();
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        std::fs::write(tmp.path().join("sub/inner"), b"x").unwrap();
        std::os::unix::fs::symlink("vrps.json", tmp.path().join("link")).unwrap();
        let dir = open_dir(tmp.path()).unwrap();
        assert_eq!(
            list_beneath(dir.as_fd()).unwrap(),
            ["link", "sub", "vrps.json"]
        );
        // Again: the listing does not consume the directory fd.
        assert_eq!(list_beneath(dir.as_fd()).unwrap().len(), 3);

        let mut s = String::new();
        open_beneath(dir.as_fd(), Path::new("vrps.json"))
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "{}");
        let stamp = stat_beneath(dir.as_fd(), Path::new("vrps.json")).unwrap();
        assert_eq!(stamp.size, 2);
        assert!(stamp.inode != 0 && stamp.mtime > 0);

        let err = open_beneath(dir.as_fd(), Path::new("link")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
        let missing = open_beneath(dir.as_fd(), Path::new("missing")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);

        for name in ["sub/inner", "..", ".", "", "/etc/passwd", "a/", "../x"] {
            let err = open_beneath(dir.as_fd(), Path::new(name)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{name:?}");
            let err = stat_beneath(dir.as_fd(), Path::new(name)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{name:?}");
        }
        // A name that merely starts with dots is a plain name.
        assert_eq!(
            open_beneath(dir.as_fd(), Path::new("..x"))
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn only_regular_files_open_and_a_fifo_does_not_block() {
        let tmp = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(
            &tmp.path().join("vrps.json"),
            Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        let dir = open_dir(tmp.path()).unwrap();
        for name in ["vrps.json", "sub"] {
            let e = open_beneath(dir.as_fd(), Path::new(name)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{name}: {e}");
            assert_eq!(e.to_string(), "not a regular file");
        }
    }

    #[test]
    fn open_dir_wants_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, b"").unwrap();
        assert_eq!(
            open_dir(&file).unwrap_err().raw_os_error(),
            Some(libc::ENOTDIR)
        );
    }
}
