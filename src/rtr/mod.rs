//! The rtr worker process: serves the cache to routers over RTR.
//!
//! Started by the parent (fork+exec, `--role rtr`) with its parent channel
//! at fd 3 and the validator's snapshot channel at fd 4. It receives the
//! configuration and the listening sockets from the parent, then serves
//! routers from one mio thread until the parent closes fd 3. It never
//! opens a file or a socket of its own: everything it needs is handed in.
//!
//! - `pdu` — the wire format of every PDU, v0 to v2
//! - `session` — the per-router protocol state machine, sans I/O
//! - `cache` — serial, history of deltas and the shared encoded buffers
//! - `net` — the event loop around them
//! - `tls` — RTR over TLS: the server configuration and a connection's
//!   TLS layer

pub mod cache;
pub mod client;
pub mod net;
pub mod pdu;
pub mod session;
pub mod tls;

use std::path::Path;
use std::process::ExitCode;

use log::{error, info};
use privsep::sandbox::Policy;

use crate::msg::{self, ToRtr};
use crate::privileges::{self, Role};

/// The rtr worker's entry point: `user` and `chroot` come from the
/// parent's command line, everything else over the channel on fd 3.
pub fn main(user: &str, chroot: &Path) -> ExitCode {
    // 1. Privileges: the user, the chroot, no capabilities.
    if privileges::drop(user, Some(chroot)).is_err() {
        return ExitCode::FAILURE;
    }

    // 2. What the parent hands over: the configuration, then every
    //    listening socket and, for TLS, the certificate and key.
    let (mut parent, validator) = match msg::child_channels() {
        Ok(channels) => channels,
        Err(e) => {
            error!("channels: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut config = None;
    let mut listeners = Vec::new();
    let mut tls_listeners = Vec::new();
    let mut tls_files = None;
    loop {
        let mut frame = match parent.recv() {
            Ok(Some(frame)) => frame,
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => {
                error!("parent channel: {e}");
                return ExitCode::FAILURE;
            }
        };
        let fd = frame.fd.take();
        match frame.decode::<ToRtr>(msg::MAX_BODY) {
            Ok(ToRtr::Config(c)) => config = Some(c),
            Ok(ToRtr::Tls(files)) => tls_files = Some(files),
            Ok(ToRtr::Listener { addr, tls }) => match fd {
                Some(fd) if tls => tls_listeners.push(std::net::TcpListener::from(fd)),
                Some(fd) => listeners.push(std::net::TcpListener::from(fd)),
                None => {
                    error!("parent channel: listener {addr} without a socket");
                    return ExitCode::FAILURE;
                }
            },
            Ok(ToRtr::ListenersDone) => break,
            Err(e) => {
                error!("parent channel: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let Some(config) = config else {
        error!("parent channel: no configuration");
        return ExitCode::FAILURE;
    };
    let session_base = match random_u16() {
        Ok(r) => r,
        Err(e) => {
            error!("random session ID: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut server =
        match net::Server::new(net::Settings::from_config(&config), listeners, session_base) {
            Ok(s) => s,
            Err(e) => {
                error!("event loop: {e}");
                return ExitCode::FAILURE;
            }
        };
    if !tls_listeners.is_empty() {
        let Some(files) = tls_files else {
            error!("parent channel: TLS listeners without a certificate");
            return ExitCode::FAILURE;
        };
        if let Err(e) = server.set_tls(&files) {
            error!("TLS {e}");
            return ExitCode::FAILURE;
        }
        for l in tls_listeners {
            if let Err(e) = server.listen_tls(l) {
                error!("event loop: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Err(e) = server.attach(parent, validator) {
        error!("event loop: {e}");
        return ExitCode::FAILURE;
    }

    // 3. Lock down: no filesystem, no sockets but the ones accepted, a
    //    descriptor for every session and a few more.
    let policy = Policy {
        role: Role::Rtr,
        read_beneath: Vec::new(),
        unveil: Vec::new(),
        max_files: config.rtr.max_sessions as u64 + 64,
        seccomp: privileges::seccomp_mode(config.seccomp),
    };
    if privileges::lock_down(&policy).is_err() {
        return ExitCode::FAILURE;
    }
    #[cfg(feature = "sandbox-probe")]
    probe::run();

    // 4. Serve.
    match server.run() {
        net::Exit::Shutdown => {
            server.shut_down();
            info!("exiting");
            ExitCode::SUCCESS
        }
        net::Exit::Failed => ExitCode::FAILURE,
    }
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

    pub fn run() {
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
