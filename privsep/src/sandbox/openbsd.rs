//! The OpenBSD sandbox: unveil(2) and pledge(2). Entered by all three
//! processes, unprivileged, at the end of start-up.
//!
//! The validator is not chrooted here: pledge(2) does not let directory
//! fds be passed ("recvfd"), so it unveils its source directories
//! read-only instead, as rpki-client does.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use super::{Policy, Role, Status};
use crate::Error;

pub(super) const CHROOTS_VALIDATOR: bool = false;

pub(super) fn apply(policy: &Policy) -> Result<Status, Error> {
    let rlimits = super::limit_resources(policy.max_files)?;
    let landlock = unveil_all(policy)?;
    // kill(2) needs "proc" (the parent stops its children); wait4(2) is in
    // "stdio". The rtr worker got its listeners during start-up, before
    // this: it keeps no "recvfd", so nothing can hand it more.
    let promises = match policy.role {
        Role::Parent => "stdio rpath proc",
        Role::Validator => "stdio rpath",
        Role::Rtr | Role::Fetcher => "stdio inet",
    };
    let c = CString::new(promises).expect("no NUL in promises");
    // SAFETY: `c` is a NUL-terminated string that outlives the call; a null
    // execpromises leaves those unchanged.
    if unsafe { libc::pledge(c.as_ptr(), ptr::null()) } == -1 {
        let e = std::io::Error::last_os_error();
        return Err(Error::new(format!("pledge \"{promises}\": {e}")));
    }
    Ok(Status {
        landlock,
        seccomp: format!("pledge: \"{promises}\""),
        rlimits,
    })
}

/// Unveils each path of the policy, or hides the whole filesystem if there
/// is none, then locks the list.
fn unveil_all(policy: &Policy) -> Result<String, Error> {
    let hide_all = [(Path::new("/"), "")];
    let paths: &[(&Path, &str)] = if policy.unveil.is_empty() {
        &hide_all[..]
    } else {
        &policy.unveil[..]
    };
    for &(path, perms) in paths {
        let fail = |e: String| Error::new(format!("unveil {} \"{perms}\": {e}", path.display()));
        let p = CString::new(path.as_os_str().as_bytes()).map_err(|e| fail(e.to_string()))?;
        let m = CString::new(perms).map_err(|e| fail(e.to_string()))?;
        // SAFETY: both are NUL-terminated strings that outlive the call.
        if unsafe { libc::unveil(p.as_ptr(), m.as_ptr()) } == -1 {
            return Err(fail(std::io::Error::last_os_error().to_string()));
        }
    }
    // SAFETY: two null pointers lock the unveil list.
    if unsafe { libc::unveil(ptr::null(), ptr::null()) } == -1 {
        let e = std::io::Error::last_os_error();
        return Err(Error::new(format!("unveil locking: {e}")));
    }
    Ok(match policy.unveil.len() {
        0 => "unveil: no filesystem access".into(),
        n => format!("unveil: {n} paths visible, list locked"),
    })
}
