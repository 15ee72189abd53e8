//! Change notification for source directories: inotify(7) on Linux.
//!
//! The parent, still privileged and outside any chroot, creates the watch
//! on the directories it also opens for the validator and hands the
//! descriptor over; the validator only reads from it (any event means
//! "look at your sources again"), which needs no system call beyond read.
//! Elsewhere there is no watch and the validator polls.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

/// A descriptor that becomes readable when something changes in one of
/// `dirs`: a file written, created, renamed into place, removed. `None`
/// where the platform has no such facility.
#[cfg(target_os = "linux")]
pub fn watch_dirs(dirs: &[&Path]) -> io::Result<Option<OwnedFd>> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    use std::os::fd::AsFd;

    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
    let mask = AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_ONLYDIR;
    for dir in dirs {
        inotify.add_watch(*dir, mask).map_err(|e| {
            io::Error::new(io::Error::from(e).kind(), format!("{}: {e}", dir.display()))
        })?;
    }
    // Nix keeps the descriptor inside `Inotify`; a duplicate is the owned
    // handle, and the original closes when `inotify` goes.
    Ok(Some(inotify.as_fd().try_clone_to_owned()?))
}

/// A descriptor that becomes readable when something changes in one of
/// `dirs`: a file written, created, renamed into place, removed. `None`
/// where the platform has no such facility.
#[cfg(not(target_os = "linux"))]
pub fn watch_dirs(_dirs: &[&Path]) -> io::Result<Option<OwnedFd>> {
    Ok(None)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_rename_into_a_watched_directory_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let fd = watch_dirs(&[dir.path()])
            .unwrap()
            .expect("inotify on Linux");
        let mut f = std::fs::File::from(fd);
        let mut buf = [0u8; 4096];
        assert_eq!(
            f.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock,
            "no event yet"
        );
        std::fs::write(dir.path().join(".tmp"), "x").unwrap();
        std::fs::rename(dir.path().join(".tmp"), dir.path().join("vrps.json")).unwrap();
        assert!(f.read(&mut buf).unwrap() > 0);
    }

    #[test]
    fn a_missing_directory_is_named() {
        let e = watch_dirs(&[Path::new("/nonexistent/rovd")]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/rovd"), "{e}");
    }
}
