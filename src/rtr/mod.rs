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

pub mod cache;
pub mod net;
pub mod pdu;
pub mod session;

use std::process::ExitCode;

use log::{error, info};

use crate::msg::{self, ToRtr};

/// The rtr worker's entry point.
pub fn main() -> ExitCode {
    let (mut parent, validator) = match (privsep::inherit(3), privsep::inherit(4)) {
        (Ok(p), Ok(v)) => (
            privsep::Channel::new(p, msg::MAX_BODY),
            privsep::Channel::new(v, msg::MAX_BODY),
        ),
        (Err(e), _) | (_, Err(e)) => {
            error!("channels: {e}");
            return ExitCode::FAILURE;
        }
    };

    // The configuration first, then every listening socket.
    let mut config = None;
    let mut listeners = Vec::new();
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
            Ok(ToRtr::Listener { addr }) => match fd {
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
    if let Err(e) = server.attach(parent, validator) {
        error!("event loop: {e}");
        return ExitCode::FAILURE;
    }
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
