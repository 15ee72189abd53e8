//! The validator process: reads the configured sources and local
//! exceptions, builds the payload snapshot and streams it to the rtr
//! worker.
//!
//! Started by the parent (fork+exec, `--role validator`) with its parent
//! channel at fd 3 and the snapshot channel to rtr at fd 4. It is the only
//! process that parses input files, and it does so unprivileged: it drops
//! to the configured user and chroots to an empty directory first, then
//! receives from the parent the open directories that hold its sources
//! (and, on Linux, an inotify descriptor watching them), and locks itself
//! down to reading beneath them. Files are opened by name relative to
//! those directories, so a file replaced by rename is picked up.
//!
//! A new snapshot is built when a source or SLURM file changes (inotify,
//! or polling where there is none), on a reload (SIGHUP, which also lets
//! held-back updates through), when an item's `expires` time passes, and
//! when a source turns stale. A source that fails to read or parse is
//! logged with file, position and reason, and its last good data stays in
//! the snapshot.
//!
//! - `input` — the payload file formats (`input::json`, `input::csv`)
//! - `build` — the union of the sources, with SLURM, streamed to rtr
//! - `slurm` — local exceptions (RFC 8416)
//! - `sources` — per-source state: last good data, staleness, guard
//! - `upstream` — what the fetcher sent, checked; failover groups
//! - `event_loop` — when to look at the files, rebuild and send

pub mod build;
mod event_loop;
pub mod input;
pub mod slurm;
pub mod sources;
pub mod upstream;

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::ExitCode;

use privsep::sandbox::Policy;

use crate::config::LandlockPolicy;
use crate::failed::{exit_code, Failed, OrFail};
use crate::msg::{self, Handed, Taker};
use crate::privileges::{self, Role};

use self::event_loop::Validator;
use self::sources::Dirs;

/// The validator's entry point: `user` and `chroot` come from the
/// parent's command line, everything else over the channel on fd 3.
pub fn main(user: &str, chroot: &Path) -> ExitCode {
    exit_code(run(user, chroot))
}

fn run(user: &str, chroot: &Path) -> Result<(), Failed> {
    // 1. Privileges: the user, the chroot (where the platform confines the
    //    validator that way), no capabilities.
    let chroot = privsep::sandbox::CHROOTS_VALIDATOR.then_some(chroot);
    privileges::drop(user, chroot)?;

    // 2. What the parent hands over: the configuration, the open
    //    directories of the sources, and a change notification on them.
    let (mut parent, rtr) = msg::child_channels().or_fail("channels")?;
    let Some(start) = msg::receive_handover(&mut parent, Taker::Validator)? else {
        return Ok(());
    };
    let mut dirs = Dirs(Vec::new());
    let mut watch = None;
    let mut fetcher = None;
    for item in start.handed {
        match item {
            Handed::SourceDir { path, dir } => dirs.0.push((path, dir)),
            Handed::Watch(fd) => watch = Some(File::from(fd)),
            Handed::Fetcher(fd) => fetcher = Some(privsep::Channel::new(fd, msg::MAX_BODY)),
            Handed::Listener { .. }
            | Handed::Tls(_)
            | Handed::Reach(_)
            | Handed::Control(_)
            | Handed::HttpListener { .. } => {}
        }
    }
    let (seccomp, landlock) = (start.config.seccomp, start.config.landlock);
    let mut validator =
        Validator::new(*start.config, dirs, watch, parent, rtr, fetcher).or_fail("event loop")?;

    // 3. Lock down: read files beneath the source directories, nothing
    //    else. The event loop was built first: seccomp has no
    //    epoll_create1.
    let dirs = &validator.dirs().0;
    privileges::lock_down(&Policy {
        role: Role::Validator,
        read_beneath: dirs.iter().map(|(_, fd)| fd.as_fd()).collect(),
        unveil: dirs.iter().map(|(p, _)| (p.as_path(), "r")).collect(),
        max_files: 64,
        seccomp: privileges::seccomp_mode(seccomp),
        signals: Vec::new(),
        require_landlock: landlock == LandlockPolicy::Required,
        connect_ports: Vec::new(),
    })?;

    // 4. Read, build, stream; again whenever something changes.
    validator.run()
}
