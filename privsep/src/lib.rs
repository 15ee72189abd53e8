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
//! - [`signals`]: signal delivery into a mio loop through a self-pipe.

#![deny(
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]

pub mod channel;
pub mod frame;
pub mod signals;
pub mod spawn;

pub use channel::Channel;
pub use frame::{Frame, FrameError};
pub use signals::SignalPipe;
pub use spawn::{inherit, spawn, Executable};

/// A message type that can travel over a channel.
pub trait Message: serde::Serialize + serde::de::DeserializeOwned {
    /// The frame type number of this message.
    fn kind(&self) -> u16;
}
