//! The rtr worker process: serves the cache to routers over RTR.
//!
//! Started by the parent (fork+exec, `--role rtr`) with its parent channel
//! at fd 3 and the validator's snapshot channel at fd 4. It receives the
//! configuration and the listening sockets from the parent, then serves
//! routers from one mio thread until the parent closes fd 3. It never
//! opens a file or a socket of its own: everything it needs is handed in.
//!
//! - `session` — the per-router protocol state machine, sans I/O, on the
//!   shared codec in [`crate::pdu`]
//! - `cache` — serial, history of deltas and the shared encoded buffers
//! - `net` — the event loop around them
//! - `tls` — RTR over TLS: the server configuration and a connection's
//!   TLS layer
//! - `views` — the control socket and the HTTP listener: status, metrics,
//!   health, the status page and the data as JSON and CSV

pub mod cache;
pub mod net;
pub mod session;
pub mod tls;
pub mod views;

use std::path::Path;
use std::process::ExitCode;

use log::info;
use privsep::sandbox::Policy;

use crate::failed::{exit_code, Failed, OrFail};
use crate::msg::{self, Handed, Taker};
use crate::privileges::{self, Role};

/// The rtr worker's entry point: `user` and `chroot` come from the
/// parent's command line, everything else over the channel on fd 3.
pub fn main(user: &str, chroot: &Path) -> ExitCode {
    exit_code(run(user, chroot))
}

fn run(user: &str, chroot: &Path) -> Result<(), Failed> {
    // 1. Privileges: the user, the chroot, no capabilities.
    privileges::drop(user, Some(chroot))?;

    // 2. What the parent hands over: the configuration, every listening
    //    socket and, for TLS, the certificate and key.
    let (mut parent, validator) = msg::child_channels().or_fail("channels")?;
    let Some(start) = msg::receive_handover(&mut parent, Taker::Rtr)? else {
        return Ok(());
    };
    let session_base = random_u16().or_fail("random session ID")?;
    let listeners = start
        .handed
        .iter()
        .filter(|h| matches!(h, Handed::Listener { .. } | Handed::HttpListener { .. }))
        .count() as u64;
    let settings = net::Settings::from_config(&start.config);
    let mut server = net::Server::new(settings, Vec::new(), session_base).or_fail("event loop")?;
    for item in start.handed {
        match item {
            Handed::Listener { tls, socket, .. } => {
                server.listen(socket.into(), tls).or_fail("event loop")?;
            }
            Handed::Tls(files) => server.set_tls(&files).or_fail("TLS")?,
            Handed::Control(fd) => server.control(fd).or_fail("control socket")?,
            Handed::HttpListener { addr, socket } => {
                server.http(socket, addr).or_fail("HTTP listener")?;
            }
            Handed::SourceDir { .. } | Handed::Watch(_) | Handed::Fetcher(_) | Handed::Reach(_) => {
            }
        }
    }
    server.attach(parent, validator).or_fail("event loop")?;

    // 3. Lock down: no filesystem, no sockets but the ones accepted. The
    //    event loop was built first: seccomp has no epoll_create1. A
    //    descriptor for every session and every view connection, one per
    //    listener, and a margin for the standard ones, the channels, the
    //    epoll and signal descriptors and a connection being refused.
    privileges::lock_down(&Policy {
        role: Role::Rtr,
        read_beneath: Vec::new(),
        unveil: Vec::new(),
        max_files: start.config.rtr.max_sessions as u64 + views::MAX_CONNS as u64 + listeners + 32,
        seccomp: privileges::seccomp_mode(start.config.seccomp),
        signals: Vec::new(),
        // No file system at all (seccomp has no open): nothing for
        // Landlock to keep it from.
        require_landlock: false,
        connect_ports: Vec::new(),
    })?;
    #[cfg(feature = "sandbox-probe")]
    probe::run();

    // 4. Serve until the parent closes its channel.
    server.run()?;
    server.shut_down();
    info!("exiting");
    Ok(())
}

/// A session ID base from the OS's CSPRNG (8210bis-27 §5.1).
fn random_u16() -> Result<u16, getrandom::Error> {
    let mut b = [0u8; 2];
    getrandom::getrandom(&mut b)?;
    Ok(u16::from_be_bytes(b))
}

/// A test-only probe: with the `sandbox-probe` feature, the environment
/// variable `ROVD_SANDBOX_PROBE` makes the rtr worker try something its
/// sandbox forbids right after locking down, so that a test can see the
/// kernel end it.
#[cfg(feature = "sandbox-probe")]
mod probe {
    use log::warn;

    pub(super) fn run() {
        let Ok(what) = std::env::var("ROVD_SANDBOX_PROBE") else {
            return;
        };
        warn!("sandbox probe: trying to {what}");
        match what.as_str() {
            "open" => {
                let r = std::fs::File::open("/etc/passwd");
                warn!("sandbox probe: open returned {r:?}");
            }
            "socket" => {
                let r = std::net::UdpSocket::bind("127.0.0.1:0");
                warn!("sandbox probe: socket returned {r:?}");
            }
            "exec" => {
                let prog = c"/bin/true";
                let r = nix::unistd::execv(prog, &[prog]);
                warn!("sandbox probe: exec returned {r:?}");
            }
            other => warn!("sandbox probe: unknown probe {other}"),
        }
    }
}
