//! The IPC messages exchanged by rovd's three processes, in one place.
//!
//! Every channel is an `AF_UNIX` stream socketpair carrying frames of the
//! `privsep` crate: a fixed header validated first, then a bincode body
//! decoded with a size limit. A malformed frame is fatal for the receiver.
//!
//! Channels (fd numbers as the children see them):
//! - parent → validator (fd 3): [`ToValidator`]
//! - parent → rtr (fd 3): [`ToRtr`], listening sockets attached as fds
//! - validator → rtr (fd 4): [`Snapshot`] stream
//!
//! A child treats end-of-file on fd 3 as the order to exit.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{Config, TlsFiles};
use crate::payload::Payload;

/// Largest body of any frame. Snapshot batches are cut well below it.
pub const MAX_BODY: u32 = 1 << 20;

/// Target size of one batch of payload items on the snapshot channel.
pub const BATCH_BYTES: usize = 64 * 1024;

//------------ parent → validator --------------------------------------------

/// What the parent tells the validator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ToValidator {
    /// The configuration; the first message, and again on every reload.
    Config(Box<Config>),
    /// An open directory holding sources, attached to the frame as an fd.
    /// Only at start-up: the validator reads its sources through these.
    SourceDir { path: PathBuf },
    /// A descriptor that turns readable when something changes in the
    /// source directories (inotify on Linux), attached as an fd.
    Watch,
    /// All source directories have been passed.
    SourceDirsDone,
    /// Re-read every source now (SIGHUP).
    Reload,
}

impl privsep::Message for ToValidator {
    fn kind(&self) -> u16 {
        match self {
            ToValidator::Config(_) => 1,
            ToValidator::SourceDir { .. } => 2,
            ToValidator::SourceDirsDone => 3,
            ToValidator::Reload => 4,
            ToValidator::Watch => 5,
        }
    }
}

//------------ parent → rtr --------------------------------------------------

/// What the parent tells the rtr worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ToRtr {
    /// The configuration; the first message, and again on every reload.
    Config(Box<Config>),
    /// A bound, listening TCP socket, attached to the frame as an fd;
    /// `tls`: its connections speak RTR over TLS.
    Listener { addr: String, tls: bool },
    /// The TLS certificate chain, key and client CAs, read by the parent:
    /// before `ListenersDone` if TLS is configured, and again on every
    /// reload that could read them. Applies to new connections only.
    Tls(Box<TlsFiles>),
    /// All listeners have been passed.
    ListenersDone,
}

impl privsep::Message for ToRtr {
    fn kind(&self) -> u16 {
        match self {
            ToRtr::Config(_) => 16,
            ToRtr::Listener { .. } => 17,
            ToRtr::ListenersDone => 18,
            ToRtr::Tls(_) => 19,
        }
    }
}

//------------ validator → rtr -----------------------------------------------

/// The snapshot stream from the validator to the rtr worker.
///
/// `Begin`, any number of `Batch`es, `End`. The rtr worker builds the new
/// set aside and swaps it in only after an `End` whose count and checksum
/// match what it received. `NoData` stands alone.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Snapshot {
    Begin {
        vrps: u64,
        router_keys: u64,
        aspas: u64,
    },
    Batch(Vec<Payload>),
    End {
        count: u64,
        checksum: u64,
    },
    /// Serve nothing until the next snapshot: a source is stale and its
    /// policy is `stop`.
    NoData {
        reason: String,
    },
}

impl privsep::Message for Snapshot {
    fn kind(&self) -> u16 {
        match self {
            Snapshot::Begin { .. } => 32,
            Snapshot::Batch(_) => 33,
            Snapshot::End { .. } => 34,
            Snapshot::NoData { .. } => 35,
        }
    }
}

/// A child's two channels: to the parent at fd 3, to its sibling at fd 4.
pub fn child_channels() -> std::io::Result<(privsep::Channel, privsep::Channel)> {
    let parent = privsep::inherit(3)?;
    let sibling = privsep::inherit(4)?;
    Ok((
        privsep::Channel::new(parent, MAX_BODY),
        privsep::Channel::new(sibling, MAX_BODY),
    ))
}

/// Checksum over a snapshot stream: FNV-1a (64 bit) of the bincode bodies of
/// all `Batch` frames in order. Computed by sender and receiver alike.
#[derive(Clone, Copy, Debug)]
pub struct StreamChecksum(u64);

impl Default for StreamChecksum {
    fn default() -> Self {
        StreamChecksum(0xcbf2_9ce4_8422_2325)
    }
}

impl StreamChecksum {
    pub fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn value(&self) -> u64 {
        self.0
    }
}
