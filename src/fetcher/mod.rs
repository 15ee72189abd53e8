//! The fetcher process (`rovd: fetcher`): the only process that connects
//! out. Started only when a source has a `url`; it fetches from upstream
//! caches over RTR (`rtr://`, `rtr+tls://`) and HTTP(S) and hands what it
//! got to the validator, which checks, parses and merges it as it does a
//! file.
//!
//! Started by the parent (fork+exec, `--role fetcher`) with its parent
//! channel at fd 3 and its channel to the validator at fd 4. It drops to
//! the configured user and chroots to an empty directory first, then
//! receives the configuration and what only the parent can give it: the
//! upstreams' addresses (resolved by the parent at start-up, so that the
//! fetcher needs no resolver and no file), the PEM files of TLS upstreams
//! and the TCP keys for upstream addresses. Then it locks itself down: no
//! file system at all, TCP connect only to the upstreams' ports (Landlock,
//! where the kernel has it), a seccomp allow-list of its own.
//!
//! - `conn` — one non-blocking connection, TCP keys set, TLS on top
//! - `rtr` — an RTR upstream: rovd as a router, with [`crate::client`]
//! - `web` — an HTTP(S) upstream: conditional, gzip, bounded redirects
//! - `http` — one HTTP/1.1 exchange: request, response, limits
//! - `tls` — the TLS client configuration of a source
//! - `sink` — what goes to the validator
//! - `event_loop` — the links, the parent's orders, the validator's asks

mod conn;
mod event_loop;
pub mod http;
mod rtr;
mod sink;
pub mod tls;
mod web;

use std::path::Path;
use std::process::ExitCode;

use privsep::sandbox::Policy;

use crate::config::{LandlockPolicy, MAX_UPSTREAMS};
use crate::failed::{exit_code, Failed, OrFail};
use crate::msg::{self, Handed, Taker};
use crate::privileges::{self, Role};

use self::event_loop::Fetcher;

/// The fetcher's entry point: `user` and `chroot` come from the parent's
/// command line, everything else over the channel on fd 3.
pub fn main(user: &str, chroot: &Path) -> ExitCode {
    exit_code(run(user, chroot))
}

fn run(user: &str, chroot: &Path) -> Result<(), Failed> {
    // 1. Privileges: the user, the chroot, no capabilities.
    privileges::drop(user, Some(chroot))?;

    // 2. What the parent hands over: the configuration and the upstreams'
    //    addresses, files and keys.
    let (mut parent, validator) = msg::child_channels().or_fail("channels")?;
    let Some(start) = msg::receive_handover(&mut parent, Taker::Fetcher)? else {
        return Ok(());
    };
    let mut reach = None;
    for item in start.handed {
        if let Handed::Reach(r) = item {
            reach = Some(*r);
        }
    }
    let reach = reach.unwrap_or_default();
    let (seccomp, landlock) = (start.config.seccomp, start.config.landlock);
    let mut fetcher =
        Fetcher::new(*start.config, reach, parent, validator).or_fail("event loop")?;

    // 3. Lock down: no files at all, TCP connect to the upstreams' ports
    //    only. The event loop was built first: seccomp has no
    //    epoll_create1.
    privileges::lock_down(&Policy {
        role: Role::Fetcher,
        read_beneath: Vec::new(),
        unveil: Vec::new(),
        // Channels, the log relay, and for every upstream a reload may
        // configure one connection and one closing.
        max_files: 32 + 2 * MAX_UPSTREAMS as u64,
        seccomp: privileges::seccomp_mode(seccomp),
        signals: Vec::new(),
        require_landlock: landlock == LandlockPolicy::Required,
        connect_ports: fetcher.ports().to_vec(),
    })?;

    // 4. Fetch, and hand over what came.
    fetcher.run()
}
