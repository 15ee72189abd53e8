//! The IPC messages exchanged by rovd's three processes, in one place.
//!
//! Every channel is an `AF_UNIX` stream socketpair carrying frames of the
//! `privsep` crate: a fixed header validated first, then a bincode body
//! decoded with a size limit. A malformed frame is fatal for the receiver.
//!
//! Channels (fd numbers as the children see them):
//! - parent → each child (fd 3): the start-up [`Handover`] (descriptors
//!   attached), received by [`receive_handover`], one receiver for both;
//!   then [`ToValidator`] or [`ToRtr`]
//! - validator → rtr (fd 4): the [`Snapshot`] stream, written and read by
//!   [`crate::stream`]
//!
//! A child treats end-of-file on fd 3 as the order to exit.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use log::error;
use serde::{Deserialize, Serialize};

use crate::config::{Config, TlsFiles};
use crate::failed::Failed;
use crate::payload::Payload;

/// Largest body of any frame. Snapshot batches are cut well below it.
pub const MAX_BODY: u32 = 1 << 20;

/// Target size of one batch of payload items on the snapshot channel.
pub const BATCH_BYTES: usize = 64 * 1024;

//------------ parent → child: start-up --------------------------------------

/// What the parent hands a child at start-up, while the child may still
/// take descriptors: the configuration first, then one frame per item,
/// then `Done`. Items that carry a descriptor have it attached to their
/// frame.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Handover {
    /// The configuration, without TCP keys.
    Config(Box<Config>),
    /// rtr: a bound, listening TCP socket, attached; `tls`: its
    /// connections speak RTR over TLS.
    Listener {
        /// The address it is bound to, for the log.
        addr: SocketAddr,
        /// Whether its connections speak TLS.
        tls: bool,
    },
    /// rtr: the TLS certificate chain, key and client CAs, read by the
    /// parent.
    Tls(Box<TlsFiles>),
    /// validator: an open directory holding sources, attached. The
    /// validator reads its sources through these only.
    SourceDir {
        /// The directory's path, to find it by.
        path: PathBuf,
    },
    /// validator: a descriptor that turns readable when something changes
    /// in the source directories (inotify on Linux), attached.
    Watch,
    /// Everything has been handed over.
    Done,
}

impl privsep::Message for Handover {
    fn kind(&self) -> u16 {
        match self {
            Handover::Config(_) => 1,
            Handover::Listener { .. } => 2,
            Handover::Tls(_) => 3,
            Handover::SourceDir { .. } => 4,
            Handover::Watch => 5,
            Handover::Done => 6,
        }
    }
}

impl Handover {
    /// Whether a descriptor comes with this item.
    fn carries_fd(&self) -> bool {
        matches!(
            self,
            Handover::Listener { .. } | Handover::SourceDir { .. } | Handover::Watch
        )
    }

    fn name(&self) -> &'static str {
        match self {
            Handover::Config(_) => "configuration",
            Handover::Listener { .. } => "listener",
            Handover::Tls(_) => "TLS files",
            Handover::SourceDir { .. } => "source directory",
            Handover::Watch => "change notification",
            Handover::Done => "end of hand-over",
        }
    }
}

/// One item a child received at start-up, with its descriptor.
#[derive(Debug)]
pub enum Handed {
    /// A listening TCP socket.
    Listener {
        /// Its address.
        addr: SocketAddr,
        /// Whether it is for TLS.
        tls: bool,
        /// The socket.
        socket: OwnedFd,
    },
    /// The TLS files.
    Tls(Box<TlsFiles>),
    /// An open source directory.
    SourceDir {
        /// Its path.
        path: PathBuf,
        /// The directory.
        dir: OwnedFd,
    },
    /// The change notification.
    Watch(OwnedFd),
}

/// What a child got at start-up.
#[derive(Debug)]
pub struct StartUp {
    /// The configuration.
    pub config: Box<Config>,
    /// Everything else, in the order it came.
    pub handed: Vec<Handed>,
}

/// The kinds of start-up item a child takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taker {
    /// Listeners and TLS files.
    Rtr,
    /// Source directories and the change notification.
    Validator,
}

impl Taker {
    fn takes(self, item: &Handover) -> bool {
        match item {
            Handover::Config(_) | Handover::Done => true,
            Handover::Listener { .. } | Handover::Tls(_) => self == Taker::Rtr,
            Handover::SourceDir { .. } | Handover::Watch => self == Taker::Validator,
        }
    }
}

/// Receive the start-up hand-over on a child's parent channel (blocking).
/// `Ok(None)` if the parent went away before it began: an orderly exit.
/// The configuration must come first; an item this child does not take,
/// an item without its descriptor or a descriptor where none belongs is
/// fatal (logged).
pub fn receive_handover(
    parent: &mut privsep::Channel,
    taker: Taker,
) -> Result<Option<StartUp>, Failed> {
    let broken = |what: String| {
        error!("parent channel: {what}");
        Failed
    };
    let mut config = None;
    let mut handed = Vec::new();
    loop {
        let mut frame = match parent.recv() {
            Ok(Some(frame)) => frame,
            Ok(None) if config.is_none() => return Ok(None),
            Ok(None) => return Err(broken("closed during start-up".into())),
            Err(e) => return Err(broken(e.to_string())),
        };
        let fd = frame.fd.take();
        let item = frame
            .decode::<Handover>(MAX_BODY)
            .map_err(|e| broken(e.to_string()))?;
        if !taker.takes(&item) {
            return Err(broken(format!("unexpected {} at start-up", item.name())));
        }
        if item.carries_fd() != fd.is_some() {
            return Err(broken(format!(
                "{} {} a descriptor",
                item.name(),
                if fd.is_some() { "with" } else { "without" }
            )));
        }
        if config.is_none() && !matches!(item, Handover::Config(_)) {
            return Err(broken(format!("{} before the configuration", item.name())));
        }
        let handed_item = match (item, fd) {
            (Handover::Config(c), _) => {
                config = Some(c);
                continue;
            }
            (Handover::Done, _) => break,
            (Handover::Listener { addr, tls }, Some(socket)) => {
                Handed::Listener { addr, tls, socket }
            }
            (Handover::Tls(files), _) => Handed::Tls(files),
            (Handover::SourceDir { path }, Some(dir)) => Handed::SourceDir { path, dir },
            (Handover::Watch, Some(fd)) => Handed::Watch(fd),
            (item, None) => return Err(broken(format!("{} without a descriptor", item.name()))),
        };
        handed.push(handed_item);
    }
    let config = config.ok_or_else(|| broken("no configuration".into()))?;
    Ok(Some(StartUp { config, handed }))
}

//------------ parent → child: afterwards ------------------------------------

/// What the parent tells the validator after start-up.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ToValidator {
    /// The configuration, again on every reload.
    Config(Box<Config>),
    /// Re-read every source now and accept held-back updates (SIGHUP).
    Reload,
}

impl privsep::Message for ToValidator {
    fn kind(&self) -> u16 {
        match self {
            ToValidator::Config(_) => 16,
            ToValidator::Reload => 17,
        }
    }
}

/// What the parent tells the rtr worker after start-up.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ToRtr {
    /// The configuration, again on every reload.
    Config(Box<Config>),
    /// The TLS files, re-read on a reload. Apply to new connections only.
    Tls(Box<TlsFiles>),
}

impl privsep::Message for ToRtr {
    fn kind(&self) -> u16 {
        match self {
            ToRtr::Config(_) => 24,
            ToRtr::Tls(_) => 25,
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
    /// A snapshot starts, with how many items of each type it holds.
    Begin {
        /// VRPs.
        vrps: u64,
        /// Router keys.
        router_keys: u64,
        /// ASPA records.
        aspas: u64,
    },
    /// The next items, in order: about [`BATCH_BYTES`] of them.
    Batch(Vec<Payload>),
    /// The snapshot is complete.
    End {
        /// Items in all `Batch`es.
        count: u64,
        /// The [`StreamChecksum`] of the `Batch` bodies.
        checksum: u64,
    },
    /// Serve nothing until the next snapshot: a source is stale and its
    /// policy is `stop`.
    NoData {
        /// Why, for the rtr worker's log.
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
    /// Add the octets of one `Batch` body.
    pub fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The checksum of everything added so far.
    pub fn value(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn config() -> Box<Config> {
        Box::new(Config::parse(std::path::Path::new("/etc/rovd.conf"), "").unwrap())
    }

    fn null() -> std::fs::File {
        std::fs::File::open("/dev/null").unwrap()
    }

    /// What `send` puts on a channel, received by a `taker`.
    fn receive(
        taker: Taker,
        send: impl FnOnce(&mut privsep::Channel) -> Result<(), privsep::FrameError>,
    ) -> Result<Option<StartUp>, Failed> {
        let (mut parent, mut child) = privsep::Channel::pair(MAX_BODY).unwrap();
        send(&mut parent).unwrap();
        drop(parent);
        receive_handover(&mut child, taker)
    }

    #[test]
    fn each_child_gets_its_items_with_their_descriptors() {
        let dir = null();
        let start = receive(Taker::Validator, |p| {
            p.send(&Handover::Config(config()))?;
            let path = PathBuf::from("/var/db/rpki-client");
            p.send_with_fd(&Handover::SourceDir { path }, dir.as_fd())?;
            p.send_with_fd(&Handover::Watch, dir.as_fd())?;
            p.send(&Handover::Done)
        })
        .unwrap()
        .unwrap();
        assert_eq!(start.config, config());
        assert!(matches!(
            start.handed[..],
            [Handed::SourceDir { .. }, Handed::Watch(_)]
        ));
        // The parent gone before a word: an orderly exit.
        assert!(receive(Taker::Rtr, |_| Ok(())).unwrap().is_none());
    }

    #[test]
    fn anything_out_of_place_is_refused() {
        let fd = null();
        let addr: SocketAddr = "127.0.0.1:323".parse().unwrap();
        let listener = Handover::Listener { addr, tls: false };
        // A listener for the validator.
        let r = receive(Taker::Validator, |p| {
            p.send(&Handover::Config(config()))?;
            p.send_with_fd(&listener, fd.as_fd())?;
            p.send(&Handover::Done)
        });
        assert_eq!(r.unwrap_err(), Failed);
        // A listener without its socket.
        let r = receive(Taker::Rtr, |p| {
            p.send(&Handover::Config(config()))?;
            p.send(&listener)?;
            p.send(&Handover::Done)
        });
        assert_eq!(r.unwrap_err(), Failed);
        // A descriptor where none belongs.
        let r = receive(Taker::Rtr, |p| {
            p.send_with_fd(&Handover::Config(config()), fd.as_fd())?;
            p.send(&Handover::Done)
        });
        assert_eq!(r.unwrap_err(), Failed);
        // Anything before the configuration, and a hand-over cut short.
        let r = receive(Taker::Rtr, |p| p.send(&Handover::Done));
        assert_eq!(r.unwrap_err(), Failed);
        let r = receive(Taker::Rtr, |p| p.send(&Handover::Config(config())));
        assert_eq!(r.unwrap_err(), Failed);
    }
}
