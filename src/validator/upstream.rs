//! Sources with upstreams: what the fetcher sent for each upstream, turned
//! into checked payloads, and the choice of upstream in a failover group.
//!
//! Runs in the validator (unprivileged, chrooted, sandboxed). The fetcher
//! only moves octets and follows the protocols; everything it sends is
//! checked here as a file is: items are re-validated as they are decoded
//! (their checking constructors), RTR changes must apply to the table held
//! exactly, an HTTP body is parsed by the file readers only once it is
//! complete, so that a truncated or failed download never replaces data.
//!
//! An upstream is *healthy* when its last attempt succeeded (an RTR
//! session that is in sync, an HTTP fetch or a 304) and its data is not
//! stale: within the Expire Interval of its last sync (RTR), within
//! `max-age` (HTTP; the age from the data's own time, else
//! `Last-Modified`, else the fetch). A group serves the first healthy
//! upstream in its order; when none is, it keeps what it served while that
//! has data, else the first that has any.

use std::rc::Rc;

use log::{debug, error, info, warn};

use crate::config::{Format, Upstream};
use crate::msg::{Fetched, StreamChecksum, UpstreamState};
use crate::payload::{unix_now, Payload};

use super::input::{self, Payloads, Timed};
use super::sources::{canonicalise, log_rejected};

//------------ Member --------------------------------------------------------

/// One upstream of a source and what it gave.
pub struct Member {
    /// Where it is.
    pub url: Upstream,
    /// Its last complete data, sorted and unique.
    data: Option<Rc<Payloads>>,
    /// What came since the last commit.
    pending: Pending,
    /// Whether the last attempt succeeded.
    ok: bool,
    /// When it last succeeded (Unix seconds).
    pub last_success: Option<u64>,
    /// RTR: the bounded Expire Interval of the last sync.
    pub expire: Option<u32>,
    /// HTTP: the `Last-Modified` time of the data.
    last_modified: Option<u64>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it last failed (Unix seconds).
    pub last_failure: Option<u64>,
}

/// Items or octets since the last commit.
#[derive(Default)]
struct Pending {
    announce: Vec<Payload>,
    withdraw: Vec<Payload>,
    count: u64,
    checksum: StreamChecksum,
    body: Vec<u8>,
}

/// What a message meant for the data of an upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// Nothing to act on yet (items, octets).
    Nothing,
    /// The upstream's state or data changed: choose again.
    Changed,
    /// What came did not apply to the data held (RTR changes) or could
    /// not be used (an HTTP body): ask for all of it, and choose again.
    Resend,
}

impl Member {
    fn new(url: Upstream) -> Member {
        Member {
            url,
            data: None,
            pending: Pending::default(),
            ok: false,
            last_success: None,
            expire: None,
            last_modified: None,
            last_error: None,
            last_failure: None,
        }
    }

    /// The data, if any arrived.
    pub fn data(&self) -> Option<&Payloads> {
        self.data.as_deref()
    }

    /// When the data was made, for its age: RTR, its last sync; HTTP, the
    /// data's own time, else `Last-Modified`, else the last fetch.
    pub fn made(&self, data: &Payloads) -> Option<u64> {
        if self.expire.is_some() {
            return self.last_success;
        }
        data.generated.or(self.last_modified).or(self.last_success)
    }

    /// When its data turns stale, if it can: the Expire Interval after its
    /// last sync (RTR), `max_age` after it was made (HTTP).
    fn stale_at(&self, max_age: u64) -> Option<u64> {
        let data = self.data.as_deref()?;
        let limit = match self.expire {
            Some(e) => u64::from(e),
            None if max_age > 0 => max_age,
            None => return None,
        };
        Some(self.made(data)? + limit + 1)
    }

    /// Healthy: see the module's description.
    fn is_healthy(&self, now: u64, max_age: u64) -> bool {
        self.ok && self.data.is_some() && self.stale_at(max_age).is_none_or(|t| now < t)
    }

    /// Take one message of the fetcher's for this upstream; `body` is the
    /// frame's body, for the checksum of items. `format` and `max_size`
    /// are the source's.
    pub fn take(&mut self, msg: Fetched, body: &[u8], format: Format, max_size: u64) -> Taken {
        let now = unix_now();
        match msg {
            Fetched::Items {
                announce, items, ..
            } => {
                self.pending.count += items.len() as u64;
                self.pending.checksum.update(body);
                if announce {
                    self.pending.announce.extend(items);
                } else {
                    self.pending.withdraw.extend(items);
                }
                Taken::Nothing
            }
            Fetched::Synced {
                full,
                count,
                checksum,
                expire,
                ..
            } => self.synced(full, count, checksum, expire, now),
            Fetched::Body { octets, .. } => {
                if (self.pending.body.len() + octets.len()) as u64 <= max_size {
                    self.pending.body.extend_from_slice(&octets);
                }
                self.pending.count += octets.len() as u64;
                Taken::Nothing
            }
            Fetched::Downloaded {
                length,
                last_modified,
                ..
            } => self.downloaded(length, last_modified, format, max_size, now),
            Fetched::Current { expire, .. } => {
                self.pending = Pending::default();
                self.expire = expire.or(self.expire.filter(|_| self.url.scheme.is_rtr()));
                self.succeeded(now);
                Taken::Changed
            }
            Fetched::Failed { reason, .. } => self.failed(&reason),
        }
    }

    /// RTR End of Data: the items since the last commit are the table or
    /// its changes.
    fn synced(&mut self, full: bool, count: u64, checksum: u64, expire: u32, now: u64) -> Taken {
        let pending = std::mem::take(&mut self.pending);
        if pending.count != count || pending.checksum.value() != checksum {
            error!(
                "{}: {} items arrived, {count} were sent; asking for the whole table",
                self.url, pending.count
            );
            return Taken::Resend;
        }
        let applied = if full {
            Ok(table(pending.announce))
        } else {
            match &self.data {
                Some(old) => apply(old, pending.announce, pending.withdraw),
                None => Err("changes before any table".to_string()),
            }
        };
        let new = match applied {
            Ok(new) => new,
            Err(why) => {
                error!("{}: {why}; asking for the whole table", self.url);
                return Taken::Resend;
            }
        };
        debug!(
            "{}: {} {}: {} VRPs, {} router keys, {} ASPAs",
            self.url,
            count,
            if full { "items" } else { "changes" },
            new.vrps.len(),
            new.router_keys.len(),
            new.aspas.len()
        );
        if count > 0 || self.data.is_none() {
            self.data = Some(Rc::new(new));
        }
        self.succeeded(now);
        self.expire = Some(expire);
        Taken::Changed
    }

    /// HTTP: the body is complete; parse it.
    fn downloaded(
        &mut self,
        length: u64,
        last_modified: Option<u64>,
        format: Format,
        max_size: u64,
        now: u64,
    ) -> Taken {
        let pending = std::mem::take(&mut self.pending);
        let name = self.url.to_string();
        if pending.count != length || pending.body.len() as u64 != length {
            let why = if length > max_size {
                format!("body of {length} octets is larger than max-size")
            } else {
                format!("{} octets arrived, {length} were sent", pending.count)
            };
            self.failed(&why);
            return Taken::Resend;
        }
        match input::read(&pending.body[..], format) {
            Ok((mut new, rejected)) => {
                log_rejected(&name, &rejected);
                canonicalise(&mut new);
                debug!(
                    "{name}: {} VRPs, {} router keys, {} ASPAs",
                    new.vrps.len(),
                    new.router_keys.len(),
                    new.aspas.len()
                );
                self.data = Some(Rc::new(new));
                self.last_modified = last_modified;
                self.expire = None;
                self.succeeded(now);
                Taken::Changed
            }
            Err(e) => {
                // Asked again unconditionally: a 304 must not confirm it.
                self.failed(&e.to_string());
                Taken::Resend
            }
        }
    }

    fn succeeded(&mut self, now: u64) {
        if !self.ok && self.last_error.is_some() {
            info!("{}: reachable again", self.url);
        }
        self.ok = true;
        self.last_success = Some(now);
        self.last_error = None;
    }

    fn failed(&mut self, why: &str) -> Taken {
        self.pending = Pending::default();
        self.ok = false;
        match &self.data {
            Some(_) => warn!("{}: {why}; keeping its data", self.url),
            None => warn!("{}: {why}; no data from it yet", self.url),
        }
        self.last_error = Some(why.to_string());
        self.last_failure = Some(unix_now());
        Taken::Changed
    }
}

/// A whole table from its announced items.
fn table(items: Vec<Payload>) -> Payloads {
    let mut p = Payloads::default();
    for item in items {
        match item {
            Payload::Vrp(v) => p.vrps.push(Timed::new(v, None)),
            Payload::RouterKey(k) => p.router_keys.push(Timed::new(k, None)),
            Payload::Aspa(a) => p.aspas.push(Timed::new(a, None)),
        }
    }
    canonicalise(&mut p);
    p
}

/// `old` with `withdraw` removed and `announce` added; every withdrawn
/// item must be held and every announced one new (the fetcher's client
/// checked this against the same table; a miss means the copies differ).
fn apply(
    old: &Payloads,
    announce: Vec<Payload>,
    withdraw: Vec<Payload>,
) -> Result<Payloads, String> {
    let add = table(announce);
    let remove = table(withdraw);
    let mut new = Payloads {
        vrps: merge(&old.vrps, &add.vrps, &remove.vrps)?,
        router_keys: merge(&old.router_keys, &add.router_keys, &remove.router_keys)?,
        aspas: merge(&old.aspas, &add.aspas, &remove.aspas)?,
        generated: None,
    };
    new.shrink_to_fit();
    Ok(new)
}

/// Sorted `held` without the sorted `remove`, with the sorted `add`.
fn merge<T: Ord + Clone + std::fmt::Debug>(
    held: &[Timed<T>],
    add: &[Timed<T>],
    remove: &[Timed<T>],
) -> Result<Vec<Timed<T>>, String> {
    let mut out = Vec::with_capacity(held.len() + add.len());
    let (mut r, mut a) = (0, 0);
    for h in held {
        if remove.get(r).is_some_and(|x| x.item == h.item) {
            r += 1;
            continue;
        }
        if let Some(x) = remove.get(r).filter(|x| x.item < h.item) {
            return Err(format!("withdrawal of {:?}, which is not held", x.item));
        }
        while let Some(x) = add.get(a).filter(|x| x.item <= h.item) {
            if x.item == h.item {
                return Err(format!("announcement of {:?}, which is held", x.item));
            }
            out.push(x.clone());
            a += 1;
        }
        out.push(h.clone());
    }
    if let Some(x) = remove.get(r) {
        return Err(format!("withdrawal of {:?}, which is not held", x.item));
    }
    out.extend_from_slice(&add[a..]);
    Ok(out)
}

//------------ Group ---------------------------------------------------------

/// The upstreams of one source, in order of preference.
pub struct Group {
    /// The upstreams.
    pub members: Vec<Member>,
    /// The one whose data is in force.
    pub in_force: Option<usize>,
    /// Data the drop guard held back: not offered again unless confirmed.
    pub refused: Option<Rc<Payloads>>,
}

impl Group {
    /// The group of `urls`, nothing fetched yet.
    pub fn new(urls: &[Upstream]) -> Group {
        Group {
            members: urls.iter().cloned().map(Member::new).collect(),
            in_force: None,
            refused: None,
        }
    }

    /// The URLs, in order.
    pub fn urls(&self) -> impl Iterator<Item = &Upstream> {
        self.members.iter().map(|m| &m.url)
    }

    /// Take over the state of the upstreams of `old` that are in this
    /// group too: a reload that regroups keeps what was fetched.
    pub fn adopt(&mut self, old: &mut Group) {
        for m in &mut self.members {
            if let Some(o) = old.members.iter_mut().find(|o| o.url == m.url) {
                std::mem::swap(m, o);
            }
        }
    }

    /// The upstream whose data is in force.
    pub fn in_force(&self) -> Option<&Member> {
        self.members.get(self.in_force?)
    }

    /// The member for `url`, if it is one of this group.
    pub fn member(&mut self, url: &Upstream) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| &m.url == url)
    }

    /// Which upstream's data to serve at `now`: the first healthy one;
    /// else the one in force while it has data; else the first with any.
    pub fn choose(&self, now: u64, max_age: u64) -> Option<(usize, Rc<Payloads>)> {
        let with_data = |i: usize| Some((i, self.members.get(i)?.data.clone()?));
        self.members
            .iter()
            .position(|m| m.is_healthy(now, max_age))
            .and_then(with_data)
            .or_else(|| self.in_force.and_then(with_data))
            .or_else(|| {
                let i = self.members.iter().position(|m| m.data.is_some())?;
                with_data(i)
            })
    }

    /// What the state views show of each upstream.
    pub fn states(&self, now: u64, max_age: u64) -> Vec<UpstreamState> {
        self.members
            .iter()
            .enumerate()
            .map(|(i, m)| UpstreamState {
                url: m.url.to_string(),
                healthy: m.is_healthy(now, max_age),
                in_force: self.in_force == Some(i),
                last_success: m.last_success,
                last_error: m.last_error.clone(),
                expire: m.expire,
            })
            .collect()
    }

    /// The next second at which an upstream's health changes by time
    /// alone.
    pub fn next_turn(&self, now: u64, max_age: u64) -> Option<u64> {
        self.members
            .iter()
            .filter(|m| m.ok)
            .filter_map(|m| m.stale_at(max_age))
            .filter(|&t| t > now)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{Prefix, Vrp};

    fn url(s: &str) -> Upstream {
        Upstream::parse(s).unwrap()
    }

    fn vrp(i: u32) -> Vrp {
        let p = Prefix::v4(std::net::Ipv4Addr::from(i << 8), 24).unwrap();
        Vrp::new(p, 24, 64496).unwrap()
    }

    /// The messages of a whole table, or of changes, as the fetcher sends
    /// them, each with its frame body.
    fn sync(u: &Upstream, full: bool, add: &[u32], remove: &[u32]) -> Vec<(Fetched, Vec<u8>)> {
        let mut out = Vec::new();
        let mut checksum = StreamChecksum::default();
        let mut count = 0;
        for (announce, ids) in [(false, remove), (true, add)] {
            if ids.is_empty() {
                continue;
            }
            let msg = Fetched::Items {
                url: u.clone(),
                announce,
                items: ids.iter().map(|&i| Payload::Vrp(vrp(i))).collect(),
            };
            let body = bincode::serialize(&msg).unwrap();
            checksum.update(&body);
            count += ids.len() as u64;
            out.push((msg, body));
        }
        out.push((
            Fetched::Synced {
                url: u.clone(),
                full,
                count,
                checksum: checksum.value(),
                expire: 7200,
            },
            Vec::new(),
        ));
        out
    }

    fn feed(m: &mut Member, msgs: Vec<(Fetched, Vec<u8>)>) -> Taken {
        let mut last = Taken::Nothing;
        for (msg, body) in msgs {
            last = m.take(msg, &body, Format::Auto, 1 << 20);
        }
        last
    }

    fn vrps(m: &Member) -> Vec<Vrp> {
        m.data().unwrap().vrps.iter().map(|t| t.item).collect()
    }

    #[test]
    fn tables_and_changes_apply_exactly() {
        let u = url("rtr://192.0.2.1");
        let mut m = Member::new(u.clone());
        assert_eq!(
            feed(&mut m, sync(&u, true, &[3, 1, 2], &[])),
            Taken::Changed
        );
        assert_eq!(vrps(&m), [vrp(1), vrp(2), vrp(3)]);
        assert_eq!(feed(&mut m, sync(&u, false, &[4, 0], &[2])), Taken::Changed);
        assert_eq!(vrps(&m), [vrp(0), vrp(1), vrp(3), vrp(4)]);
        // A withdrawal of what is not held, an announcement of what is:
        // the copies differ, the whole table is asked for, nothing changes.
        assert_eq!(feed(&mut m, sync(&u, false, &[], &[2])), Taken::Resend);
        assert_eq!(feed(&mut m, sync(&u, false, &[1], &[])), Taken::Resend);
        assert_eq!(vrps(&m), [vrp(0), vrp(1), vrp(3), vrp(4)]);
        // Changes before any table, and a count that does not match.
        let mut fresh = Member::new(u.clone());
        assert_eq!(feed(&mut fresh, sync(&u, false, &[1], &[])), Taken::Resend);
        let mut short = sync(&u, true, &[1, 2], &[]);
        short.remove(0);
        assert_eq!(feed(&mut fresh, short), Taken::Resend);
        assert!(fresh.data().is_none());
    }

    fn body(u: &Upstream, text: &str) -> Vec<(Fetched, Vec<u8>)> {
        vec![
            (
                Fetched::Body {
                    url: u.clone(),
                    octets: text.as_bytes().to_vec(),
                },
                Vec::new(),
            ),
            (
                Fetched::Downloaded {
                    url: u.clone(),
                    length: text.len() as u64,
                    last_modified: None,
                },
                Vec::new(),
            ),
        ]
    }

    #[test]
    fn a_body_is_taken_only_whole_and_parsed() {
        let u = url("https://example.net/vrps.json");
        let mut m = Member::new(u.clone());
        let good = r#"{"roas": [{"prefix": "192.0.2.0/24", "maxLength": 24, "asn": "AS64496"}]}"#;
        assert_eq!(feed(&mut m, body(&u, good)), Taken::Changed);
        assert_eq!(m.data().unwrap().vrps.len(), 1);
        assert!(m.is_healthy(unix_now(), 0));
        // Cut short: the length does not match; kept, but not healthy.
        let mut cut = body(&u, good);
        if let Fetched::Body { octets, .. } = &mut cut[0].0 {
            octets.truncate(10);
        }
        feed(&mut m, cut);
        assert_eq!(m.data().unwrap().vrps.len(), 1);
        assert!(!m.is_healthy(unix_now(), 0));
        assert!(m.last_error.as_ref().unwrap().contains("arrived"));
        // Garbage: a parse error, data kept.
        feed(&mut m, body(&u, "{\"roas\": [}"));
        assert_eq!(m.data().unwrap().vrps.len(), 1);
        assert!(m.last_error.is_some());
        // 304: healthy again.
        let current = Fetched::Current {
            url: u.clone(),
            expire: None,
        };
        assert_eq!(m.take(current, &[], Format::Auto, 1 << 20), Taken::Changed);
        assert!(m.is_healthy(unix_now(), 0));
    }

    #[test]
    fn a_group_serves_the_first_healthy_upstream() {
        let a = url("rtr://192.0.2.1");
        let b = url("rtr://192.0.2.2");
        let mut g = Group::new(&[a.clone(), b.clone()]);
        assert!(g.choose(unix_now(), 0).is_none());
        feed(g.member(&b).unwrap(), sync(&b, true, &[1], &[]));
        assert_eq!(g.choose(unix_now(), 0).unwrap().0, 1);
        feed(g.member(&a).unwrap(), sync(&a, true, &[1], &[]));
        assert_eq!(g.choose(unix_now(), 0).unwrap().0, 0);
        let failed = Fetched::Failed {
            url: a.clone(),
            reason: "connection refused".into(),
        };
        g.member(&a).unwrap().take(failed, &[], Format::Auto, 0);
        assert_eq!(g.choose(unix_now(), 0).unwrap().0, 1);
        // Both down: the one in force stays.
        g.in_force = Some(1);
        let failed = Fetched::Failed {
            url: b.clone(),
            reason: "connection refused".into(),
        };
        g.member(&b).unwrap().take(failed, &[], Format::Auto, 0);
        assert_eq!(g.choose(unix_now(), 0).unwrap().0, 1);
        // Past the Expire Interval, a member is not healthy.
        feed(g.member(&a).unwrap(), sync(&a, false, &[], &[]));
        let now = unix_now();
        assert_eq!(g.choose(now, 0).unwrap().0, 0);
        assert_eq!(g.next_turn(now, 0), Some(now + 7201));
        assert_eq!(g.choose(now + 7201, 0).unwrap().0, 1);
    }
}
