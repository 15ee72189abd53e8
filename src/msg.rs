//! The IPC messages exchanged by rovd's processes, in one place.
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
//! - parent → fetcher (fd 3), when there are upstreams: the hand-over,
//!   then [`ToFetcher`]
//! - fetcher → validator (the fetcher's fd 4; the validator gets its end in
//!   the hand-over): [`Fetched`]; the validator answers with
//!   [`FromValidator::Resend`] on the same socket
//!
//! A child treats end-of-file on fd 3 as the order to exit.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use log::error;
use serde::{Deserialize, Serialize};

use crate::config::{Config, TcpAo, TcpMd5, TlsFiles, Upstream};
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
    /// validator: its end of the channel from the fetcher, attached.
    Fetcher,
    /// rtr: the control socket, listening, attached.
    Control,
    /// rtr: a bound, listening TCP socket for HTTP, attached.
    HttpListener {
        /// Its address, for the log.
        addr: SocketAddr,
    },
    /// fetcher: what it needs to reach the upstreams.
    Reach(Box<Reach>),
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
            Handover::Fetcher => 7,
            Handover::Reach(_) => 8,
            Handover::Control => 9,
            Handover::HttpListener { .. } => 10,
        }
    }
}

impl Handover {
    /// Whether a descriptor comes with this item.
    fn carries_fd(&self) -> bool {
        matches!(
            self,
            Handover::Listener { .. }
                | Handover::SourceDir { .. }
                | Handover::Watch
                | Handover::Fetcher
                | Handover::Control
                | Handover::HttpListener { .. }
        )
    }

    fn name(&self) -> &'static str {
        match self {
            Handover::Config(_) => "configuration",
            Handover::Listener { .. } => "listener",
            Handover::Tls(_) => "TLS files",
            Handover::SourceDir { .. } => "source directory",
            Handover::Watch => "change notification",
            Handover::Fetcher => "fetcher channel",
            Handover::Control => "control socket",
            Handover::HttpListener { .. } => "HTTP listener",
            Handover::Reach(_) => "upstream addresses and keys",
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
    /// The channel from the fetcher.
    Fetcher(OwnedFd),
    /// The control socket.
    Control(OwnedFd),
    /// A listening socket for HTTP.
    HttpListener {
        /// Its address.
        addr: SocketAddr,
        /// The socket.
        socket: OwnedFd,
    },
    /// What the fetcher needs to reach its upstreams.
    Reach(Box<Reach>),
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
    /// Source directories, the change notification, the fetcher channel.
    Validator,
    /// Upstream addresses and keys.
    Fetcher,
}

impl Taker {
    fn takes(self, item: &Handover) -> bool {
        match item {
            Handover::Config(_) | Handover::Done => true,
            Handover::Listener { .. }
            | Handover::Tls(_)
            | Handover::Control
            | Handover::HttpListener { .. } => self == Taker::Rtr,
            Handover::SourceDir { .. } | Handover::Watch | Handover::Fetcher => {
                self == Taker::Validator
            }
            Handover::Reach(_) => self == Taker::Fetcher,
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
            (Handover::Fetcher, Some(fd)) => Handed::Fetcher(fd),
            (Handover::Control, Some(fd)) => Handed::Control(fd),
            (Handover::HttpListener { addr }, Some(socket)) => {
                Handed::HttpListener { addr, socket }
            }
            (Handover::Reach(r), _) => Handed::Reach(r),
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

/// What the rtr worker asks of the parent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum FromRtr {
    /// `rovctl reload` came over the control socket: reload as on SIGHUP.
    Reload,
}

impl privsep::Message for FromRtr {
    fn kind(&self) -> u16 {
        match self {
            FromRtr::Reload => 26,
        }
    }
}

/// What the parent tells the fetcher after start-up.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ToFetcher {
    /// The configuration, again on every reload, with what reaches the
    /// upstreams it names.
    Config(Box<Config>, Box<Reach>),
    /// Fetch every upstream now (SIGHUP): a Serial Query to each RTR
    /// upstream, a request to each HTTP one. What the validator asks for
    /// one upstream is [`FromValidator::Resend`].
    Refetch,
}

impl privsep::Message for ToFetcher {
    fn kind(&self) -> u16 {
        match self {
            ToFetcher::Config(..) => 40,
            ToFetcher::Refetch => 41,
        }
    }
}

/// What the validator asks of the fetcher, on the channel the fetcher
/// sends it [`Fetched`] on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum FromValidator {
    /// Send this upstream's data again: an RTR upstream's whole table
    /// (the validator's copy did not take a delta), an HTTP upstream's
    /// next body unconditionally (it could not use the last one).
    Resend(Upstream),
}

impl privsep::Message for FromValidator {
    fn kind(&self) -> u16 {
        match self {
            FromValidator::Resend(_) => 42,
        }
    }
}

/// What only the parent can give the fetcher: the upstreams' addresses
/// (the fetcher has no resolver: it cannot read a file), the PEM files of
/// TLS upstreams, and the key file's keys for upstream addresses.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reach {
    /// Each upstream host as written in a `url`, with its addresses.
    pub hosts: Vec<(String, Vec<IpAddr>)>,
    /// The `ca-file`, `client-certificate` and `client-key` files, by path.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// The system's CA certificates, PEM, when a TLS upstream has no
    /// `ca-file`.
    pub system_roots: Option<Vec<u8>>,
    /// TCP-MD5 keys whose peer prefix holds an upstream address.
    pub tcp_md5: Vec<TcpMd5>,
    /// TCP-AO keys whose peer prefix holds an upstream address.
    pub tcp_ao: Vec<TcpAo>,
}

impl Reach {
    /// The addresses of `host`, as resolved.
    pub fn addrs(&self, host: &str) -> Option<&[IpAddr]> {
        self.hosts
            .iter()
            .find(|(h, _)| h == host)
            .map(|(_, a)| a.as_slice())
    }

    /// Where `url` is: its host's address at its port if the host is an
    /// address, else its resolved addresses, if any, at its port.
    pub fn socket_addrs(&self, url: &Upstream) -> Vec<SocketAddr> {
        let ips = match url.host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => self
                .addrs(&url.host)
                .map(<[IpAddr]>::to_vec)
                .unwrap_or_default(),
        };
        ips.into_iter()
            .map(|ip| SocketAddr::new(ip, url.port))
            .collect()
    }

    /// The contents of the file at `path`, as read.
    pub fn file(&self, path: &std::path::Path) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, b)| b.as_slice())
    }
}

impl fmt::Debug for Reach {
    // Keys and client keys never go into a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reach")
            .field("hosts", &self.hosts)
            .field(
                "files",
                &self.files.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .field("system_roots", &self.system_roots.as_ref().map(Vec::len))
            .field("tcp_md5", &self.tcp_md5.len())
            .field("tcp_ao", &self.tcp_ao.len())
            .finish()
    }
}

//------------ fetcher → validator -------------------------------------------

/// What the fetcher got from an upstream, for the validator to check and
/// take in. Items and body octets accumulate per upstream until `Synced`
/// or `Downloaded` commits them; `Failed` drops them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Fetched {
    /// RTR: items of the upstream's next table (`full`), or changes to the
    /// last one: announced (`announce`) or withdrawn. About
    /// [`BATCH_BYTES`] of them per frame.
    Items {
        /// The upstream.
        url: Upstream,
        /// Announced, else withdrawn.
        announce: bool,
        /// The items.
        items: Vec<Payload>,
    },
    /// RTR: End of Data. The items since the last commit are the whole
    /// table (`full`) or the changes to it; `count` of them, with the
    /// [`StreamChecksum`] of their frames' bodies.
    Synced {
        /// The upstream.
        url: Upstream,
        /// A whole table, else changes.
        full: bool,
        /// Items since the last commit.
        count: u64,
        /// Their checksum.
        checksum: u64,
        /// The upstream's Expire Interval within the source's bounds: the
        /// data is good that long after this sync.
        expire: u32,
    },
    /// HTTP: the next part of a response body, decompressed.
    Body {
        /// The upstream.
        url: Upstream,
        /// The octets.
        #[serde(with = "serde_bytes")]
        octets: Vec<u8>,
    },
    /// HTTP: the body is complete, `length` octets.
    Downloaded {
        /// The upstream.
        url: Upstream,
        /// Octets in all `Body` frames since the last commit.
        length: u64,
        /// The `Last-Modified` time, Unix seconds, if sent.
        last_modified: Option<u64>,
    },
    /// The data held is still current: an RTR upstream answered with no
    /// change (its Expire Interval, bounded), an HTTP one with 304 Not
    /// Modified (no interval).
    Current {
        /// The upstream.
        url: Upstream,
        /// RTR: the bounded Expire Interval.
        expire: Option<u32>,
    },
    /// The upstream could not be reached or broke its protocol; what came
    /// since the last commit is void. Its data is kept, as data that is
    /// no longer confirmed.
    Failed {
        /// The upstream.
        url: Upstream,
        /// Why, for the log and the status.
        reason: String,
    },
}

impl Fetched {
    /// The upstream the message is about.
    pub fn url(&self) -> &Upstream {
        match self {
            Fetched::Items { url, .. }
            | Fetched::Synced { url, .. }
            | Fetched::Body { url, .. }
            | Fetched::Downloaded { url, .. }
            | Fetched::Current { url, .. }
            | Fetched::Failed { url, .. } => url,
        }
    }
}

impl privsep::Message for Fetched {
    fn kind(&self) -> u16 {
        match self {
            Fetched::Items { .. } => 48,
            Fetched::Synced { .. } => 49,
            Fetched::Body { .. } => 50,
            Fetched::Downloaded { .. } => 51,
            Fetched::Current { .. } => 52,
            Fetched::Failed { .. } => 53,
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
    /// The state of every source, for `rovctl status`, the metrics and the
    /// status page; sent whenever it changes, between snapshots.
    Sources(Vec<SourceState>),
}

/// What the validator knows of one source, for the state views.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// The path or URL the log names it by.
    pub name: String,
    /// `file`, or the scheme of its upstreams (`rtr`, `https`, …; `group`
    /// for a failover group of several).
    pub kind: String,
    /// When its data was last taken in (Unix seconds).
    pub last_success: Option<u64>,
    /// When the last attempt failed, and why.
    pub last_failure: Option<u64>,
    /// See `last_failure`; `None` once an attempt succeeded again.
    pub last_error: Option<String>,
    /// When the data in force was made, for its age (Unix seconds).
    pub made: Option<u64>,
    /// How old it may be, seconds; 0 for no limit.
    pub limit: u64,
    /// Whether it is stale, and what that does (`keep`, `drop`, `stop`).
    pub stale: bool,
    /// See `stale`.
    pub policy: String,
    /// Why an update is held back by `max-drop`, if one is.
    pub held_back: Option<String>,
    /// Payloads of the data in force.
    pub vrps: u64,
    /// See `vrps`.
    pub router_keys: u64,
    /// See `vrps`.
    pub aspas: u64,
    /// Of these, expired and not served.
    pub expired_vrps: u64,
    /// See `expired_vrps`.
    pub expired_router_keys: u64,
    /// See `expired_vrps`.
    pub expired_aspas: u64,
    /// The latest expiry among the expired (Unix seconds).
    pub expired_newest: Option<u64>,
    /// Whether every payload has expired.
    pub all_expired: bool,
    /// Its upstreams, in order, if it has any.
    pub upstreams: Vec<UpstreamState>,
}

/// One upstream of a source, for the state views.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamState {
    /// The URL.
    pub url: String,
    /// Whether it is healthy now.
    pub healthy: bool,
    /// Whether its data is the one served.
    pub in_force: bool,
    /// When it last succeeded (Unix seconds).
    pub last_success: Option<u64>,
    /// Why its last attempt failed, if it did.
    pub last_error: Option<String>,
    /// RTR: the Expire Interval of its last sync, bounded.
    pub expire: Option<u32>,
}

impl privsep::Message for Snapshot {
    fn kind(&self) -> u16 {
        match self {
            Snapshot::Begin { .. } => 32,
            Snapshot::Batch(_) => 33,
            Snapshot::End { .. } => 34,
            Snapshot::NoData { .. } => 35,
            Snapshot::Sources(_) => 36,
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

    #[test]
    fn an_upstream_is_at_its_address_or_its_host_s_resolved_ones() {
        let reach = Reach {
            hosts: vec![(
                "cache.example.net".into(),
                vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
            )],
            ..Reach::default()
        };
        let at = |url: &str| {
            let url = Upstream::parse(url).unwrap();
            let addrs = reach.socket_addrs(&url);
            addrs.iter().map(ToString::to_string).collect::<Vec<_>>()
        };
        assert_eq!(
            at("rtr://cache.example.net:8282"),
            ["192.0.2.1:8282", "[2001:db8::1]:8282"]
        );
        assert_eq!(
            at("https://cache.example.net/rpki.json"),
            ["192.0.2.1:443", "[2001:db8::1]:443"]
        );
        assert_eq!(at("rtr://192.0.2.9"), ["192.0.2.9:323"]);
        assert_eq!(at("http://[2001:db8::9]:8080/x"), ["[2001:db8::9]:8080"]);
        assert!(at("rtr://elsewhere.example.net").is_empty());
    }
}
