//! The validator process: reads the configured sources, builds the
//! payload snapshot and streams it to the rtr worker.
//!
//! Started by the parent (fork+exec, `--role validator`) with its parent
//! channel at fd 3 and the snapshot channel to rtr at fd 4. It is the only
//! process that parses input files, and it does so unprivileged: it drops
//! to the configured user and chroots to an empty directory first, then
//! receives from the parent the open directories that hold its sources,
//! and locks itself down to reading beneath them. Sources are opened by
//! name relative to those directories, so a file replaced by rename is
//! picked up.
//!
//! It re-reads a source when the file changes (polled by modification
//! time, size and inode), and every source when the parent forwards a
//! reload (SIGHUP). A source that fails to read or parse is logged with
//! file, position and reason, and its last good data stays in the
//! snapshot.

pub mod json;

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use log::{error, info, warn};
use mio::{Events, Interest, Poll, Token};

use crate::config::Config;
use crate::msg::{self, StreamChecksum, ToValidator};
use crate::payload::{Aspa, Payload, RouterKey, Snapshot, Vrp};
use crate::privileges::{self, Role};
use privsep::fs::FileStamp;
use privsep::sandbox::Policy;

/// How often source files are checked for changes.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

const PARENT: Token = Token(0);

//------------ Sources -------------------------------------------------------

/// The directories the parent opened for us, by path.
struct Dirs(Vec<(PathBuf, OwnedFd)>);

impl Dirs {
    fn find(&self, dir: &Path) -> Option<usize> {
        self.0.iter().position(|(p, _)| p == dir)
    }
}

/// One configured source and its last good data.
struct Source {
    path: PathBuf,
    dir: usize,
    name: PathBuf,
    stamp: Option<FileStamp>,
    data: Option<json::Payloads>,
}

impl Source {
    /// The source at `path`, if its directory is one of `dirs`.
    fn new(path: &Path, dirs: &Dirs) -> Option<Source> {
        let dir = dirs.find(path.parent()?)?;
        Some(Source {
            path: path.to_path_buf(),
            dir,
            name: PathBuf::from(path.file_name()?),
            stamp: None,
            data: None,
        })
    }

    fn stamp(&self, dirs: &Dirs) -> Option<FileStamp> {
        privsep::fs::stat_beneath(dirs.0[self.dir].1.as_fd(), &self.name).ok()
    }

    fn read(&self, dirs: &Dirs) -> std::io::Result<Vec<u8>> {
        let mut file = privsep::fs::open_beneath(dirs.0[self.dir].1.as_fd(), &self.name)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// Read and parse the file; on failure log why and keep the old data.
    /// Returns whether the data changed.
    fn load(&mut self, dirs: &Dirs) -> bool {
        self.stamp = self.stamp(dirs);
        let name = self.path.display();
        let bytes = match self.read(dirs) {
            Ok(b) => b,
            Err(e) => {
                error!("{name}: {e}; keeping the previous data");
                return false;
            }
        };
        match json::parse(&bytes) {
            Ok((data, rejected)) => {
                if rejected.count > 0 {
                    warn!("{name}: {} invalid entries skipped", rejected.count);
                    for reason in &rejected.first {
                        warn!("{name}: {reason}");
                    }
                }
                info!(
                    "{name}: {} VRPs, {} router keys, {} ASPAs",
                    data.vrps.len(),
                    data.router_keys.len(),
                    data.aspas.len()
                );
                self.data = Some(data);
                true
            }
            Err(e) => {
                error!("{name}: {e}; keeping the previous data");
                false
            }
        }
    }
}

/// The union of every source's last good data, or `None` if no source has
/// ever loaded (so that routers hear No Data rather than an empty table).
fn build(sources: &[Source]) -> Option<Snapshot> {
    let loaded: Vec<&json::Payloads> = sources.iter().filter_map(|s| s.data.as_ref()).collect();
    if loaded.is_empty() && !sources.is_empty() {
        return None;
    }
    let mut vrps: Vec<Vrp> = Vec::new();
    let mut keys: Vec<RouterKey> = Vec::new();
    let mut aspas: Vec<Aspa> = Vec::new();
    for d in loaded {
        vrps.extend_from_slice(&d.vrps);
        keys.extend_from_slice(&d.router_keys);
        aspas.extend_from_slice(&d.aspas);
    }
    let (snapshot, oversized) = Snapshot::build(vrps, keys, aspas);
    for customer in oversized {
        warn!("ASPA of AS{customer}: more than 16380 providers, not served");
    }
    Some(snapshot)
}

//------------ Streaming -----------------------------------------------------

/// Send a snapshot to rtr: Begin, bounded batches, End with count and
/// checksum. Returns the checksum, which also identifies the content.
fn send(rtr: &mut privsep::Channel, s: &Snapshot) -> Result<u64, privsep::FrameError> {
    rtr.send(&msg::Snapshot::Begin {
        vrps: s.vrps.len() as u64,
        router_keys: s.router_keys.len() as u64,
        aspas: s.aspas.len() as u64,
    })?;
    let mut checksum = StreamChecksum::default();
    let mut count = 0u64;
    let mut batch = Vec::new();
    let mut size = 0;
    let mut frame = Vec::new();
    let mut flush = |batch: &mut Vec<Payload>, size: &mut usize| {
        count += batch.len() as u64;
        let message = msg::Snapshot::Batch(std::mem::take(batch));
        frame.clear();
        privsep::frame::encode(&message, false, msg::MAX_BODY, &mut frame)?;
        checksum.update(&frame[privsep::frame::HEADER_LEN..]);
        rtr.send_encoded(&frame)?;
        *size = 0;
        Ok::<_, privsep::FrameError>(())
    };
    let items = s
        .vrps
        .iter()
        .map(|v| Payload::Vrp(*v))
        .chain(s.router_keys.iter().map(|k| Payload::RouterKey(k.clone())))
        .chain(s.aspas.iter().map(|a| Payload::Aspa(a.clone())));
    for item in items {
        // An upper bound of the item's bincode size.
        size += match &item {
            Payload::Vrp(_) => 32,
            Payload::RouterKey(k) => 48 + k.spki.len(),
            Payload::Aspa(a) => 16 + 5 * a.providers.len(),
        };
        batch.push(item);
        if size >= msg::BATCH_BYTES {
            flush(&mut batch, &mut size)?;
        }
    }
    if !batch.is_empty() {
        flush(&mut batch, &mut size)?;
    }
    let checksum = checksum.value();
    rtr.send(&msg::Snapshot::End { count, checksum })?;
    Ok(checksum)
}

//------------ main ----------------------------------------------------------

/// The validator's entry point: `user` and `chroot` come from the
/// parent's command line, everything else over the channel on fd 3.
pub fn main(user: &str, chroot: &Path) -> ExitCode {
    // 1. Privileges: the user, the chroot (where the platform confines the
    //    validator that way), no capabilities.
    let chroot = privsep::sandbox::CHROOTS_VALIDATOR.then_some(chroot);
    if privileges::drop(user, chroot).is_err() {
        return ExitCode::FAILURE;
    }

    // 2. What the parent hands over: the configuration, then the open
    //    directories of the sources.
    let (mut parent, mut rtr) = match msg::child_channels() {
        Ok(channels) => channels,
        Err(e) => {
            error!("channels: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut config = None;
    let mut dirs = Dirs(Vec::new());
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
        match (frame.decode::<ToValidator>(msg::MAX_BODY), fd) {
            (Ok(ToValidator::Config(c)), None) => config = Some(c),
            (Ok(ToValidator::SourceDir { path }), Some(fd)) => dirs.0.push((path, fd)),
            (Ok(ToValidator::SourceDirsDone), None) => break,
            (Ok(other), _) => {
                error!("parent channel: unexpected {other:?} at start-up");
                return ExitCode::FAILURE;
            }
            (Err(e), _) => {
                error!("parent channel: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let Some(config) = config else {
        error!("parent channel: no configuration");
        return ExitCode::FAILURE;
    };
    let Ok(mut poll) = Poll::new() else {
        error!("cannot create the event loop");
        return ExitCode::FAILURE;
    };
    if let Err(e) = parent.set_nonblocking(true).and_then(|_| {
        poll.registry().register(
            &mut mio::unix::SourceFd(&parent.as_raw_fd()),
            PARENT,
            Interest::READABLE,
        )
    }) {
        error!("parent channel: {e}");
        return ExitCode::FAILURE;
    }

    // 3. Lock down: read files beneath the source directories, nothing
    //    else.
    let policy = Policy {
        role: Role::Validator,
        read_beneath: dirs.0.iter().map(|(_, fd)| fd.as_fd()).collect(),
        unveil: dirs.0.iter().map(|(p, _)| (p.as_path(), "r")).collect(),
        max_files: 64,
        seccomp: privileges::seccomp_mode(config.seccomp),
    };
    if privileges::lock_down(&policy).is_err() {
        return ExitCode::FAILURE;
    }
    drop(policy);

    // 4. Read, build, stream; again whenever something changes.
    let mut sources: Vec<Source> = Vec::new();
    configure(&mut sources, &config, &dirs);
    let mut sent: Option<u64> = None;
    let mut reload_all = true;
    let mut events = Events::with_capacity(8);
    loop {
        let mut changed = false;
        for s in sources.iter_mut() {
            if reload_all || s.stamp(&dirs) != s.stamp {
                changed |= s.load(&dirs);
            }
        }
        if reload_all || changed {
            if let Some(snapshot) = build(&sources) {
                let digest = content_digest(&snapshot);
                if sent != Some(digest) {
                    if let Err(e) = send(&mut rtr, &snapshot) {
                        error!("snapshot channel: {e}");
                        return ExitCode::FAILURE;
                    }
                    sent = Some(digest);
                }
            }
        }
        reload_all = false;

        if let Err(e) = poll.poll(&mut events, Some(POLL_INTERVAL)) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                error!("poll: {e}");
                return ExitCode::FAILURE;
            }
        }
        if events.is_empty() {
            continue;
        }
        match parent.fill() {
            Ok(true) => {}
            Ok(false) => {
                info!("exiting");
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                error!("parent channel: {e}");
                return ExitCode::FAILURE;
            }
        }
        loop {
            match parent
                .next_frame()
                .map(|f| f.map(|f| f.decode::<ToValidator>(msg::MAX_BODY)))
            {
                Ok(None) => break,
                Ok(Some(Ok(ToValidator::Config(c)))) => configure(&mut sources, &c, &dirs),
                Ok(Some(Ok(ToValidator::Reload))) => {
                    info!("reloading all sources");
                    reload_all = true;
                }
                Ok(Some(Ok(other))) => {
                    error!("parent channel: unexpected {other:?}");
                    return ExitCode::FAILURE;
                }
                Ok(Some(Err(e))) | Err(e) => {
                    error!("parent channel: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
}

/// Take a new source list, keeping the state of sources that stay. A
/// source whose directory was not opened at start-up cannot be read (the
/// parent refuses such a reload; this is the second line of defence).
fn configure(sources: &mut Vec<Source>, config: &Config, dirs: &Dirs) {
    let mut old = std::mem::take(sources);
    for s in &config.sources {
        if let Some(i) = old.iter().position(|o| o.path == s.path) {
            sources.push(old.swap_remove(i));
        } else if let Some(new) = Source::new(&s.path, dirs) {
            sources.push(new);
        } else {
            error!("{}: directory not open: restart required", s.path.display());
        }
    }
    if config.sources.is_empty() {
        warn!("no sources configured: serving an empty table");
    }
}

/// A digest of a snapshot's content, to skip sending an unchanged one.
fn content_digest(s: &Snapshot) -> u64 {
    let mut c = StreamChecksum::default();
    for v in &s.vrps {
        c.update(v.prefix.octets());
        c.update(&[v.prefix.len(), v.max_len, u8::from(v.prefix.is_v6())]);
        c.update(&v.asn.to_be_bytes());
    }
    for k in &s.router_keys {
        c.update(&k.ski);
        c.update(&k.asn.to_be_bytes());
        c.update(&(k.spki.len() as u32).to_be_bytes());
        c.update(&k.spki);
    }
    for a in &s.aspas {
        c.update(&a.customer.to_be_bytes());
        c.update(&(a.providers.len() as u32).to_be_bytes());
        for p in &a.providers {
            c.update(&p.to_be_bytes());
        }
    }
    c.value()
}
