//! Privilege separation primitives for rovd.
//!
//! rovd runs as three processes: the parent (root only during start-up),
//! the validator and the rtr worker (both unprivileged and sandboxed). This
//! crate is what they share below the protocol level, and the only place in
//! rovd with `unsafe` code and platform specifics:
//!
//! - [`frame`]: the IPC frame header and the body codec;
//! - [`channel`]: framed messages and fd passing over socketpairs;
//! - [`mod@spawn`]: starting a role by fork+exec of rovd's own executable with
//!   its channels on fds 3 and 4;
//! - [`signals`]: signal delivery into a mio loop through a self-pipe;
//! - [`privdrop`]: user switch, chroot and empty capability sets (as root);
//! - [`sandbox`]: what each role may still do afterwards: rlimits, Landlock
//!   and a seccomp allow-list on Linux, pledge and unveil on OpenBSD;
//! - [`fs`]: reading files beneath directory fds the parent opened;
//! - [`tcpsig`]: TCP-MD5 and TCP-AO keys on sockets.

#![deny(
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]

pub mod channel;
pub mod frame;
pub mod fs;
pub mod memory;
pub mod privdrop;
#[cfg(all(test, target_os = "linux"))]
mod probe;
pub mod sandbox;
pub mod signals;
pub mod spawn;
pub mod tcpsig;
pub mod watch;

use std::fmt;

pub use channel::Channel;
pub use frame::{Frame, FrameError};
pub use signals::SignalPipe;
pub use spawn::{inherit, spawn, Executable};

/// A failure to drop privileges or to apply the sandbox. The message says
/// what failed and with which path or user; the process cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    pub(crate) fn new(msg: impl Into<String>) -> Error {
        Error(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// A message type that can travel over a channel.
pub trait Message: serde::Serialize + serde::de::DeserializeOwned {
    /// The frame type number of this message.
    fn kind(&self) -> u16;
}
