//! The two steps every rovd process takes to give up what it does not
//! need, with the log lines that say what was done. The mechanisms live in
//! the `privsep` crate; this is where each role's `main` calls them.
//!
//! 1. [`drop`]: user lookup, chroot, groups, gid, uid; every capability
//!    set empty. As root only: started as a normal user this is skipped
//!    with one line.
//! 2. [`lock_down`]: no new privileges, resource limits, Landlock and a
//!    seccomp allow-list (pledge and unveil on OpenBSD). Always.
//!
//! Between the two a process takes what the parent hands over (listening
//! sockets, source directories), which is why they are separate.

use std::path::Path;

use log::{error, info, warn};

pub use privsep::sandbox::{Role, SeccompMode};

use crate::config::SeccompAction;
use crate::failed::Failed;

/// Become the unprivileged `user`, chrooted to `chroot` if given.
pub fn drop(user: &str, chroot: Option<&Path>) -> Result<(), Failed> {
    match privsep::privdrop::drop_privileges(user, chroot) {
        Ok(privsep::privdrop::Dropped::Switched {
            user,
            chroot: Some(dir),
        }) => {
            info!("running as {user}, chrooted to {}", dir.display());
            Ok(())
        }
        Ok(privsep::privdrop::Dropped::Switched { user, chroot: None }) => {
            info!("running as {user}");
            Ok(())
        }
        Ok(privsep::privdrop::Dropped::NotRoot { uid }) => {
            info!("not started as root: running as uid {uid}, without chroot or user switch");
            Ok(())
        }
        Err(e) => {
            error!("cannot drop privileges: {e}");
            Err(Failed)
        }
    }
}

/// The seccomp mode the configuration asks for.
pub fn seccomp_mode(action: SeccompAction) -> SeccompMode {
    match action {
        SeccompAction::Kill => SeccompMode::Kill,
        SeccompAction::Log => SeccompMode::Log,
    }
}

/// Apply the role's sandbox and log what it amounts to on this system.
pub fn lock_down(policy: &privsep::sandbox::Policy) -> Result<(), Failed> {
    match privsep::sandbox::apply(policy) {
        Ok(status) => {
            info!("{}", status.rlimits);
            // Without Landlock what it would have confined rests on the
            // rest of the sandbox (rtr has nothing Landlock adds to).
            let without = match policy.role {
                Role::Parent | Role::Validator => "files are confined by the user and seccomp only",
                Role::Fetcher => "connections are not confined to the upstreams' ports",
                Role::Rtr => "",
            };
            if status.landlock.starts_with("landlock: not ") && !without.is_empty() {
                warn!(
                    "{}: {without} (landlock = \"best-effort\")",
                    status.landlock
                );
            } else {
                info!("{}", status.landlock);
            }
            info!("{}", status.seccomp);
            Ok(())
        }
        Err(e) => {
            error!("cannot apply the sandbox: {e}");
            Err(Failed)
        }
    }
}
