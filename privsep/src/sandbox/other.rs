//! Systems without a sandbox rovd knows: only the rlimits apply. Entered by
//! all three processes, unprivileged, at the end of start-up.

use super::{Policy, Status};
use crate::Error;

pub(super) const CHROOTS_VALIDATOR: bool = true;

pub(super) fn apply(policy: &Policy) -> Result<Status, Error> {
    let rlimits = super::limit_resources(policy.max_files)?;
    Ok(Status {
        landlock: "landlock: not available on this system, no filesystem sandbox".into(),
        seccomp: "seccomp: not available on this system, no system call filter".into(),
        rlimits,
    })
}
