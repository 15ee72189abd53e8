//! The state of each source of the validator: where its data comes from
//! (a file, or upstreams — see `upstream`), the data in force, and the
//! rules it is held to — staleness, the guard against sudden large drops,
//! and files caught half-written.
//!
//! Runs in the validator (unprivileged, chrooted, sandboxed). Files are
//! opened by name beneath directory descriptors the parent opened.

use std::cmp::Ordering;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{debug, error, info, warn};
use privsep::fs::FileStamp;

use crate::config::{self, StalePolicy};

use super::input::{self, Format, Payloads, Timed};
use super::slurm::{self, Slurm};
use super::upstream::{Group, Taken};
use crate::msg::{Fetched, SourceState};
use crate::payload::{unix_now, unix_secs};

/// How long a file changed in place must sit still before it is read: a
/// writer that does not rename may still be writing.
pub const SETTLE: Duration = Duration::from_secs(1);

/// The largest SLURM file read: local exceptions are written by hand or
/// exported from a registry (dn42's whole export is under 1 MiB), and a
/// file is read into memory whole.
pub const SLURM_MAX: u64 = 16 << 20;

/// How soon a file that changed while it was read, or did not parse while
/// fresh, is looked at again.
const RETRY: Duration = Duration::from_millis(500);

//------------ Dirs ----------------------------------------------------------

/// The directories the parent opened for us, by path.
pub struct Dirs(pub Vec<(PathBuf, OwnedFd)>);

impl Dirs {
    /// The index of the directory opened for `dir`, if one was.
    pub fn find(&self, dir: &Path) -> Option<usize> {
        self.0.iter().position(|(p, _)| p == dir)
    }

    /// The stamp of `name` beneath directory `dir`, if it can be had.
    pub fn stat(&self, dir: usize, name: &Path) -> Option<FileStamp> {
        privsep::fs::stat_beneath(self.0[dir].1.as_fd(), name).ok()
    }

    /// Open `name` beneath directory `dir` for reading.
    pub fn open(&self, dir: usize, name: &Path) -> std::io::Result<File> {
        privsep::fs::open_beneath(self.0[dir].1.as_fd(), name)
    }
}

//------------ Reading a file safely -----------------------------------------

/// What became of an attempt to read a file.
pub enum Read<T> {
    /// Nothing new to read.
    Unchanged,
    /// The file is in flux; look again at the given time.
    Later(Instant),
    /// Read and parsed.
    Data(T),
    /// Unreadable or unparseable; already logged.
    Failed,
}

/// A file named `name` beneath directory `dir`, watched for changes.
pub struct Watched {
    /// The path as configured, for log lines.
    pub path: PathBuf,
    dir: usize,
    name: PathBuf,
    /// The version last read (or failed, or held back).
    stamp: Option<FileStamp>,
    retry_at: Option<Instant>,
}

impl Watched {
    /// The file at `path`, if the parent opened its directory.
    pub fn new(path: &Path, dirs: &Dirs) -> Option<Watched> {
        Some(Watched {
            path: path.to_path_buf(),
            dir: dirs.find(path.parent()?)?,
            name: PathBuf::from(path.file_name()?),
            stamp: None,
            retry_at: None,
        })
    }

    /// The file's current stamp.
    pub fn stamp(&self, dirs: &Dirs) -> Option<FileStamp> {
        dirs.stat(self.dir, &self.name)
    }

    /// Its modification time, if it exists.
    pub fn mtime(&self, dirs: &Dirs) -> Option<SystemTime> {
        let s = self.stamp(dirs)?;
        let t = Duration::new(
            u64::try_from(s.mtime).unwrap_or(0),
            u32::try_from(s.mtime_nsec.clamp(0, 999_999_999)).unwrap_or(0),
        );
        Some(UNIX_EPOCH + t)
    }

    /// When a retry is due, if one is.
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Read and parse the file with `parse` if it changed since the last
    /// time (or `force`). A file changed in place is only read once it has
    /// sat still for [`SETTLE`]; one that changes while it is read, or that
    /// fails to parse while it is fresh, is tried again shortly — so a
    /// half-written file is never taken for a complete shorter one and a
    /// writer caught mid-way is not reported as broken.
    pub fn read<T>(
        &mut self,
        dirs: &Dirs,
        force: bool,
        parse: impl FnOnce(File) -> Result<T, String>,
    ) -> Read<T> {
        let now = Instant::now();
        let due = self.retry_at.is_some_and(|t| now >= t);
        let before = self.stamp(dirs);
        if !force && !due && before == self.stamp {
            return match self.retry_at {
                Some(t) => Read::Later(t),
                None => Read::Unchanged,
            };
        }
        self.retry_at = None;
        let name = self.path.display();
        let Some(before) = before else {
            self.stamp = None;
            error!("{name}: cannot be found; keeping the previous data");
            return Read::Failed;
        };
        // Replaced by rename (a new inode): complete. Changed in place:
        // wait until it has been still for a moment.
        let in_place = self.stamp.is_some_and(|s| s.inode == before.inode);
        let age = SystemTime::now()
            .duration_since(stamp_time(&before))
            .unwrap_or(Duration::ZERO);
        if in_place && age < SETTLE {
            debug!("{name}: changing, reading it once it has settled");
            return self.later(SETTLE.saturating_sub(age));
        }
        let file = match dirs.open(self.dir, &self.name) {
            Ok(f) => f,
            Err(e) => {
                self.stamp = Some(before);
                error!("{name}: {e}; keeping the previous data");
                return Read::Failed;
            }
        };
        let parsed = parse(file);
        let after = self.stamp(dirs);
        if after != Some(before) {
            debug!("{name}: changed while being read, reading it again");
            return self.later(RETRY);
        }
        self.stamp = Some(before);
        match parsed {
            Ok(data) => Read::Data(data),
            Err(reason) if age < SETTLE + RETRY * 4 => {
                debug!("{name}: {reason}; fresh, trying again shortly");
                self.stamp = None;
                self.later(RETRY)
            }
            Err(reason) => {
                error!("{name}: {reason}; keeping the previous data");
                Read::Failed
            }
        }
    }

    fn later<T>(&mut self, wait: Duration) -> Read<T> {
        let t = Instant::now() + wait;
        self.retry_at = Some(t);
        Read::Later(t)
    }
}

fn stamp_time(s: &FileStamp) -> SystemTime {
    UNIX_EPOCH
        + Duration::new(
            u64::try_from(s.mtime).unwrap_or(0),
            u32::try_from(s.mtime_nsec.clamp(0, 999_999_999)).unwrap_or(0),
        )
}

//------------ Source --------------------------------------------------------

/// What one look at a source amounted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The data in use stays as it was.
    Unchanged,
    /// A new version of the data is in use.
    Changed,
}

/// Where a source's data comes from.
pub enum Origin {
    /// A file, read beneath a directory the parent opened.
    File(Watched),
    /// Upstreams, fetched by the fetcher: one, or a failover group.
    Upstreams(Group),
}

/// One configured payload source and the data it contributes.
pub struct Source {
    /// The path or URL, for log lines.
    pub name: String,
    /// Where the data comes from.
    pub origin: Origin,
    format: Format,
    max_age: u64,
    /// What stale data leads to.
    pub stale_policy: StalePolicy,
    max_drop: u8,
    /// HTTP upstreams: the largest body taken.
    max_size: u64,
    /// The data in force, each vector sorted by item without duplicates.
    /// Shared with the upstream it came from, if it did.
    data: Option<Rc<Payloads>>,
    /// When that data was read, and when the file was written.
    pub last_success: Option<SystemTime>,
    mtime: Option<SystemTime>,
    /// Why the last look did not take in the file, if it did not.
    pub last_error: Option<String>,
    /// When a look last failed.
    pub last_failure: Option<SystemTime>,
    /// Why an update is held back by the guard, if one is.
    pub held_back: Option<String>,
    /// Whether the staleness warning was given for the current data.
    pub stale_reported: bool,
    /// A SIGHUP asked to accept what the file holds, and the file has not
    /// been read since (it was still settling): the next read is
    /// confirmed too.
    confirm_pending: bool,
    /// What of the data in force has expired, as last logged.
    pub expired: Expired,
}

/// The payloads of a source's data that have expired: not served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// VRPs.
    pub vrps: usize,
    /// Router keys.
    pub router_keys: usize,
    /// ASPA records.
    pub aspas: usize,
    /// The latest expiry time among them (Unix seconds).
    pub newest: Option<u64>,
    /// Whether every payload of the source has expired.
    pub all: bool,
}

impl Expired {
    /// What of `data` has expired at `now`.
    pub fn of(data: &Payloads, now: u64) -> Expired {
        fn count<T>(items: &[Timed<T>], now: u64, newest: &mut Option<u64>) -> usize {
            let mut n = 0;
            for t in items.iter().filter(|t| t.is_expired(now)) {
                n += 1;
                *newest = (*newest).max(t.expires());
            }
            n
        }
        let mut newest = None;
        let vrps = count(&data.vrps, now, &mut newest);
        let router_keys = count(&data.router_keys, now, &mut newest);
        let aspas = count(&data.aspas, now, &mut newest);
        let total = data.vrps.len() + data.router_keys.len() + data.aspas.len();
        Expired {
            vrps,
            router_keys,
            aspas,
            newest,
            all: total > 0 && vrps + router_keys + aspas == total,
        }
    }

    /// How many in all.
    pub fn total(&self) -> usize {
        self.vrps + self.router_keys + self.aspas
    }
}

impl Source {
    /// The source of `c`: a file if the parent opened its directory, or
    /// its upstreams.
    pub fn new(c: &config::Source, dirs: &Dirs) -> Option<Source> {
        let origin = match c.file() {
            Some(path) => Origin::File(Watched::new(path, dirs)?),
            None => Origin::Upstreams(Group::new(&c.url)),
        };
        Some(Source {
            name: c.name(),
            origin,
            format: c.format,
            max_age: c.max_age,
            stale_policy: c.stale,
            max_drop: c.max_drop,
            max_size: c.max_size,
            data: None,
            last_success: None,
            mtime: None,
            last_error: None,
            last_failure: None,
            held_back: None,
            stale_reported: false,
            confirm_pending: false,
            expired: Expired::default(),
        })
    }

    /// Whether `c` configures this same source: the same file, or the
    /// same upstreams in the same order.
    pub fn is(&self, c: &config::Source) -> bool {
        match (&self.origin, c.file()) {
            (Origin::File(w), Some(path)) => w.path == path,
            (Origin::Upstreams(g), None) => g.urls().eq(c.url.iter()),
            _ => false,
        }
    }

    /// Take the settings of `c` for a source that stays across a reload.
    pub fn reconfigure(&mut self, c: &config::Source) {
        self.format = c.format;
        self.max_age = c.max_age;
        self.stale_policy = c.stale;
        self.max_drop = c.max_drop;
        self.max_size = c.max_size;
    }

    /// The data in force, if any.
    pub fn data(&self) -> Option<&Payloads> {
        self.data.as_deref()
    }

    /// Whether `url` is one of this source's upstreams.
    pub fn has_upstream(&self, url: &crate::config::Upstream) -> bool {
        matches!(&self.origin, Origin::Upstreams(g) if g.urls().any(|u| u == url))
    }

    /// Take what the fetcher sent for upstream `url` of this source, if
    /// it is one of its upstreams; `body` is the message's frame body.
    pub fn take_fetched(&mut self, msg: Fetched, body: &[u8]) -> Option<Taken> {
        let Origin::Upstreams(group) = &mut self.origin else {
            return None;
        };
        let member = group.member(msg.url())?;
        Some(member.take(msg, body, self.format, self.max_size))
    }

    /// Look at the file and take in a new version if there is one.
    /// `confirm` (SIGHUP) re-reads it even if unchanged and lets an update
    /// through the guard. Sources with upstreams only re-check which
    /// upstream is in force.
    pub fn poll(&mut self, dirs: &Dirs, confirm: bool) -> (Outcome, Option<Instant>) {
        let Origin::File(file) = &mut self.origin else {
            return (self.select(unix_now(), confirm), None);
        };
        let format = self.format;
        let read = file.read(dirs, confirm, |f| {
            input::read(f, format).map_err(|e| e.to_string())
        });
        // A confirmation holds until the file is read: a file rewritten in
        // place must first sit still, and the SIGHUP that came meanwhile
        // is for what it then holds.
        let confirm = confirm || self.confirm_pending;
        self.confirm_pending = false;
        let (mut new, rejected) = match read {
            Read::Unchanged => return (Outcome::Unchanged, None),
            Read::Later(t) => {
                self.confirm_pending = confirm;
                return (Outcome::Unchanged, Some(t));
            }
            Read::Failed => {
                self.last_error = Some("unreadable or unparseable".into());
                self.last_failure = Some(SystemTime::now());
                self.log_state();
                return (Outcome::Unchanged, None);
            }
            Read::Data(d) => d,
        };
        log_rejected(&self.name, &rejected);
        canonicalise(&mut new);
        let mtime = file.mtime(dirs);
        let outcome = self.take(Rc::new(new), confirm);
        if outcome == Outcome::Changed {
            self.mtime = mtime;
        }
        (outcome, None)
    }

    /// Put `new` in force, unless the guard holds it back.
    fn take(&mut self, new: Rc<Payloads>, confirm: bool) -> Outcome {
        if let (Some(old), false) = (&self.data, confirm) {
            if let Some(why) = guard(old, &new, self.max_drop) {
                warn!(
                    "{}: update held back: it would {why}; send SIGHUP to accept it, \
                     or raise max-drop",
                    self.name
                );
                self.last_error = Some(format!("update held back: it would {why}"));
                self.held_back = Some(format!("it would {why}"));
                return Outcome::Unchanged;
            }
        }
        self.data = Some(new);
        self.last_success = Some(SystemTime::now());
        self.last_error = None;
        self.held_back = None;
        self.stale_reported = false;
        self.log_state();
        Outcome::Changed
    }

    /// Sources with upstreams: put the data of the first healthy upstream
    /// in force, if it is not already (see [`Group::choose`]). Data the
    /// guard held back is not offered again until it changes or `confirm`.
    pub fn select(&mut self, now: u64, confirm: bool) -> Outcome {
        let max_age = self.max_age;
        let Origin::Upstreams(group) = &mut self.origin else {
            return Outcome::Unchanged;
        };
        let Some((i, data)) = group.choose(now, max_age) else {
            return Outcome::Unchanged;
        };
        let same = self.data.as_ref().is_some_and(|d| Rc::ptr_eq(d, &data));
        let refused = group.refused.as_ref().is_some_and(|d| Rc::ptr_eq(d, &data));
        if (same || refused) && !confirm {
            return Outcome::Unchanged;
        }
        group.refused = None;
        let previous = group.in_force.replace(i);
        let url = group.members[i].url.to_string();
        if same {
            // Confirmed, unchanged.
            self.last_error = None;
            return Outcome::Unchanged;
        }
        let outcome = if self.data.as_deref() == Some(&*data) {
            // Another upstream with the same data: nothing for routers.
            self.data = Some(data);
            self.last_error = None;
            Outcome::Unchanged
        } else {
            let outcome = self.take(data.clone(), confirm);
            if outcome == Outcome::Unchanged {
                if let Origin::Upstreams(g) = &mut self.origin {
                    g.refused = Some(data);
                    g.in_force = previous;
                }
                return outcome;
            }
            outcome
        };
        if previous.is_some_and(|p| p != i) {
            warn!("{}: now served from {url}", self.name);
        }
        outcome
    }

    fn log_state(&self) {
        let name = &self.name;
        let last = |t: Option<SystemTime>| {
            t.and_then(unix_secs)
                .map_or("never".to_string(), |s| format!("@{s}"))
        };
        match (&self.data, &self.last_error) {
            (Some(d), None) => info!(
                "{name}: {} VRPs, {} router keys, {} ASPAs",
                d.vrps.len(),
                d.router_keys.len(),
                d.aspas.len()
            ),
            (Some(d), Some(e)) => warn!(
                "{name}: {e}; serving the data read at {} ({} VRPs, {} router keys, {} ASPAs)",
                last(self.last_success),
                d.vrps.len(),
                d.router_keys.len(),
                d.aspas.len()
            ),
            (None, Some(e)) => warn!("{name}: {e}; no data from it yet"),
            (None, None) => {}
        }
    }

    /// What the state views show of this source at `now`.
    pub fn state(&self, now: u64) -> SourceState {
        let secs = |t: Option<SystemTime>| t.and_then(unix_secs);
        let (kind, upstreams) = match &self.origin {
            Origin::File(_) => ("file".to_string(), Vec::new()),
            Origin::Upstreams(g) => {
                let kind = match g.members.as_slice() {
                    [one] => one.url.scheme.as_str().to_string(),
                    _ => "group".to_string(),
                };
                (kind, g.states(now, self.max_age))
            }
        };
        let (last_failure, last_error) = match &self.origin {
            Origin::Upstreams(g) => {
                // A group fails when its upstream in force does.
                let m = g.in_force().or(g.members.first());
                let error = self
                    .last_error
                    .clone()
                    .or_else(|| m.and_then(|m| m.last_error.clone()));
                (m.and_then(|m| m.last_failure), error)
            }
            Origin::File(_) => (secs(self.last_failure), self.last_error.clone()),
        };
        let d = self.data();
        let count = |f: fn(&Payloads) -> usize| d.map_or(0, f) as u64;
        SourceState {
            name: self.name.clone(),
            kind,
            last_success: secs(self.last_success),
            last_failure,
            last_error,
            made: self.age(now).map(|a| now - a),
            limit: self.limit(),
            stale: self.is_stale(now),
            policy: match self.stale_policy {
                StalePolicy::Keep => "keep",
                StalePolicy::Drop => "drop",
                StalePolicy::Stop => "stop",
            }
            .to_string(),
            held_back: self.held_back.clone(),
            vrps: count(|p| p.vrps.len()),
            router_keys: count(|p| p.router_keys.len()),
            aspas: count(|p| p.aspas.len()),
            expired_vrps: self.expired.vrps as u64,
            expired_router_keys: self.expired.router_keys as u64,
            expired_aspas: self.expired.aspas as u64,
            expired_newest: self.expired.newest,
            all_expired: self.expired.all,
            upstreams,
        }
    }

    /// Count what of the data has expired at `now`, and say so when that
    /// changed: how many of each type, the newest expiry among them, and a
    /// warning when nothing of the source is left.
    pub fn note_expiry(&mut self, now: u64) {
        let Some(data) = self.data.as_deref() else {
            return;
        };
        let e = Expired::of(data, now);
        if e == self.expired {
            return;
        }
        self.expired = e;
        if e.total() == 0 {
            return;
        }
        let newest = e.newest.map_or_else(String::new, |t| {
            let at = UNIX_EPOCH + Duration::from_secs(t);
            format!(" (the newest expired {})", httpdate::fmt_http_date(at))
        });
        let counts = format!(
            "{} VRPs, {} router keys, {} ASPAs",
            e.vrps, e.router_keys, e.aspas
        );
        if e.all {
            warn!(
                "{}: every payload has expired{newest}: {counts}, none served; \
                 is the validator behind it running?",
                self.name
            );
        } else {
            info!("{}: {counts} expired{newest}, not served", self.name);
        }
    }

    /// The age of the data: from the time its producer says it was made,
    /// else from the file's modification time (the response's
    /// `Last-Modified`, the last fetch). For an RTR upstream, from its last
    /// successful sync.
    pub fn age(&self, now: u64) -> Option<u64> {
        let data = self.data.as_ref()?;
        let made = match &self.origin {
            Origin::File(_) => data.generated.or_else(|| unix_secs(self.mtime?))?,
            Origin::Upstreams(g) => g.in_force()?.made(data)?,
        };
        Some(now.saturating_sub(made))
    }

    /// How old the data may be: `max-age`, or for an RTR upstream its
    /// Expire Interval; 0 for no limit.
    fn limit(&self) -> u64 {
        match &self.origin {
            Origin::Upstreams(g) => match g.in_force().and_then(|m| m.expire) {
                Some(expire) => u64::from(expire),
                None => self.max_age,
            },
            Origin::File(_) => self.max_age,
        }
    }

    /// What the limit is called in log lines.
    pub fn limit_name(&self) -> &'static str {
        match &self.origin {
            Origin::Upstreams(g) if g.in_force().and_then(|m| m.expire).is_some() => {
                "the upstream's expire interval"
            }
            _ => "max-age",
        }
    }

    /// Whether the data is older than its limit allows.
    pub fn is_stale(&self, now: u64) -> bool {
        let limit = self.limit();
        limit > 0 && self.age(now).is_some_and(|a| a > limit)
    }

    /// When the data turns stale, if it is not yet and can; for upstreams
    /// also when another of the group's data does (and the group's choice
    /// may change).
    pub fn stale_at(&self, now: u64) -> Option<u64> {
        let limit = self.limit();
        let own = if limit == 0 || self.is_stale(now) {
            None
        } else {
            self.age(now).map(|age| now + limit - age + 1)
        };
        let group = match &self.origin {
            Origin::Upstreams(g) => g.next_turn(now, self.max_age),
            Origin::File(_) => None,
        };
        match (own, group) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Log what a read skipped.
pub fn log_rejected(name: &str, rejected: &input::Rejected) {
    if rejected.count > 0 {
        warn!("{name}: {} invalid entries skipped", rejected.count);
        for reason in &rejected.first {
            warn!("{name}: {reason}");
        }
    }
}

/// Sort each vector by item and drop duplicates, keeping the latest
/// expiry of identical items (the payload is valid while any object
/// behind it is).
pub fn canonicalise(p: &mut Payloads) {
    fn one<T: Ord>(v: &mut Vec<Timed<T>>) {
        v.sort_unstable_by(|a, b| {
            a.item
                .cmp(&b.item)
                .then_with(|| later_first(a.expires(), b.expires()))
        });
        v.dedup_by(|next, kept| next.item == kept.item);
        // Grown as the file was read: give back what growth left over.
        v.shrink_to_fit();
    }
    one(&mut p.vrps);
    one(&mut p.router_keys);
    one(&mut p.aspas);
}

/// Orders expiry times latest first, "never" before any time.
fn later_first(a: Option<u64>, b: Option<u64>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => y.cmp(&x),
    }
}

/// Why an update from `old` to `new` must be held back, if it must: it
/// empties the source, or removes more than `max_drop` percent of it.
pub fn guard(old: &Payloads, new: &Payloads, max_drop: u8) -> Option<String> {
    if max_drop >= 100 {
        return None;
    }
    let total = old.vrps.len() + old.router_keys.len() + old.aspas.len();
    if total == 0 {
        return None;
    }
    let now = new.vrps.len() + new.router_keys.len() + new.aspas.len();
    if now == 0 {
        return Some(format!("remove all {total} payloads"));
    }
    let removed = removed(&old.vrps, &new.vrps)
        + removed(&old.router_keys, &new.router_keys)
        + removed(&old.aspas, &new.aspas);
    (removed * 100 > usize::from(max_drop) * total).then(|| {
        format!(
            "remove {removed} of {total} payloads ({}%, max-drop is {max_drop}%)",
            removed * 100 / total
        )
    })
}

/// How many items of sorted `old` are not in sorted `new`.
fn removed<T: Ord>(old: &[Timed<T>], new: &[Timed<T>]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < old.len() {
        if j >= new.len() {
            return n + old.len() - i;
        }
        match old[i].item.cmp(&new[j].item) {
            Ordering::Less => {
                n += 1;
                i += 1;
            }
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    n
}

//------------ SLURM ---------------------------------------------------------

/// One `[[slurm]]` entry: a file, or a directory of `*.json` files, each
/// with the last version of it that validated.
pub struct SlurmSource {
    /// The path as configured.
    pub path: PathBuf,
    /// The directory's index when the entry is a directory.
    dir: Option<usize>,
    files: Vec<(Watched, Option<Slurm>)>,
}

impl SlurmSource {
    /// The entry for `path`, if the parent opened it (a directory) or
    /// its directory (a file).
    pub fn new(path: &Path, dirs: &Dirs) -> Option<SlurmSource> {
        if let Some(dir) = dirs.find(path) {
            return Some(SlurmSource {
                path: path.into(),
                dir: Some(dir),
                files: Vec::new(),
            });
        }
        let file = Watched::new(path, dirs)?;
        Some(SlurmSource {
            path: path.into(),
            dir: None,
            files: vec![(file, None)],
        })
    }

    /// Look at every file (and, for a directory, which files there are).
    /// Returns whether anything in force changed, and when to look again.
    pub fn poll(&mut self, dirs: &Dirs, force: bool) -> (bool, Option<Instant>) {
        let mut changed = false;
        if let Some(dir) = self.dir {
            match privsep::fs::list_beneath(dirs.0[dir].1.as_fd()) {
                Ok(names) => {
                    let wanted: Vec<PathBuf> = names
                        .iter()
                        .map(Path::new)
                        .filter(|n| n.extension().is_some_and(|e| e == "json"))
                        .map(|n| self.path.join(n))
                        .collect();
                    let before = self.files.len();
                    self.files.retain(|(f, _)| wanted.contains(&f.path));
                    changed |= self.files.len() != before;
                    for path in wanted {
                        if !self.files.iter().any(|(f, _)| f.path == path) {
                            if let Some(f) = Watched::new(&path, dirs) {
                                self.files.push((f, None));
                            }
                        }
                    }
                    self.files.sort_by(|a, b| a.0.path.cmp(&b.0.path));
                }
                Err(e) => error!(
                    "{}: {e}; keeping the SLURM files in force",
                    self.path.display()
                ),
            }
        }
        let mut next: Option<Instant> = None;
        for (file, good) in &mut self.files {
            let read = file.read(dirs, force, |f| {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut std::io::Read::take(f, SLURM_MAX + 1), &mut bytes)
                    .map_err(|e| e.to_string())?;
                if bytes.len() as u64 > SLURM_MAX {
                    return Err(format!(
                        "larger than {} MiB; not a SLURM file rovd takes",
                        SLURM_MAX >> 20
                    ));
                }
                slurm::parse(&bytes).map_err(|e| e.to_string())
            });
            match read {
                Read::Data(s) => {
                    let name = file.path.display().to_string();
                    log_findings(&name, &s);
                    info!("{name}: SLURM file in force");
                    *good = Some(s);
                    changed = true;
                }
                Read::Later(t) => next = Some(next.map_or(t, |n| n.min(t))),
                Read::Failed => {
                    if good.is_some() {
                        warn!(
                            "{}: the last good version stays in force",
                            file.path.display()
                        );
                    }
                }
                Read::Unchanged => {}
            }
        }
        (changed, next)
    }

    /// The files in force, named.
    pub fn in_force(&self) -> impl Iterator<Item = (String, &Slurm)> {
        self.files
            .iter()
            .filter_map(|(f, s)| Some((f.path.display().to_string(), s.as_ref()?)))
    }
}

/// Log what reading a SLURM file skipped, widened and ignored: once for
/// each version of the file read.
fn log_findings(name: &str, s: &Slurm) {
    if s.skipped.count > 0 {
        warn!("{name}: {} invalid assertions skipped", s.skipped.count);
        for reason in &s.skipped.first {
            warn!("{name}: {reason}");
        }
    }
    for reason in &s.widened {
        warn!("{name}: {reason}");
    }
    if s.bad_comments.count > 0 {
        info!("{name}: {} invalid comments ignored", s.bad_comments.count);
        for reason in &s.bad_comments.first {
            info!("{name}: {reason}");
        }
    }
    if !s.ignored.is_empty() {
        let members: Vec<String> = s
            .ignored
            .iter()
            .map(|(member, n)| format!("{member} ({n})"))
            .collect();
        info!(
            "{name}: members RFC 8416 does not define, ignored: {}",
            members.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{Prefix, Vrp};

    fn vrp(i: u32, expires: Option<u64>) -> Timed<Vrp> {
        let p = Prefix::v4(std::net::Ipv4Addr::from(i << 8), 24).unwrap();
        Timed::new(Vrp::new(p, 24, 64496).unwrap(), expires)
    }

    fn payloads(vrps: Vec<Timed<Vrp>>) -> Payloads {
        Payloads {
            vrps,
            router_keys: vec![],
            aspas: vec![],
            generated: None,
        }
    }

    #[test]
    fn duplicates_keep_the_latest_expiry() {
        let mut p = payloads(vec![
            vrp(2, Some(5)),
            vrp(1, None),
            vrp(2, Some(9)),
            vrp(1, Some(3)),
        ]);
        canonicalise(&mut p);
        let got: Vec<_> = p.vrps.iter().map(Timed::expires).collect();
        assert_eq!(got, [None, Some(9)]);
    }

    #[test]
    fn the_guard_counts_removed_items() {
        let old = payloads((0..10).map(|i| vrp(i, None)).collect());
        // Same size, but 6 of 10 replaced.
        let new = payloads((6..16).map(|i| vrp(i, None)).collect());
        assert!(guard(&old, &new, 50).unwrap().contains("remove 6 of 10"));
        assert!(guard(&old, &new, 60).is_none());
        assert!(guard(&old, &new, 100).is_none());
        let empty = payloads(vec![]);
        assert!(guard(&old, &empty, 99).unwrap().contains("remove all 10"));
        assert!(guard(&empty, &new, 0).is_none());
    }
}
