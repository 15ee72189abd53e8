//! From the sources' last good data to the snapshot stream for the rtr
//! worker: the union of all sources without expired items and without
//! stale sources whose policy drops them, with the local exceptions
//! applied (filters first, then assertions; RFC 8416 §4).
//!
//! Runs in the validator (unprivileged, sandboxed). The VRPs — nearly all
//! of the data — are never copied into a snapshot here: each source keeps
//! them sorted, and they are merged on the fly while they are streamed, so
//! that the validator's memory stays near the size of the data it holds.

use log::{info, warn};

use crate::config::StalePolicy;
use privsep::FrameError;

use crate::msg::StreamChecksum;
use crate::payload::{Aspa, Payload, RouterKey, Snapshot, Vrp};
use crate::stream;

use super::input::Timed;
use super::slurm::Slurm;
use super::sources::Source;

/// What the sources amount to right now.
pub enum Build<'a> {
    /// Nothing has loaded yet: routers hear No Data.
    Nothing,
    /// A stale source with the `stop` policy: serve nothing.
    Stop(String),
    /// This data.
    Serve(Plan<'a>),
}

/// The data to serve: VRPs as sorted runs merged when read, router keys
/// and ASPA (few) already merged.
pub struct Plan<'a> {
    runs: Vec<&'a [Timed<Vrp>]>,
    asserted: Vec<Vrp>,
    slurm: &'a Slurm,
    now: u64,
    /// The router keys to serve: unexpired, not filtered, SLURM's
    /// assertions added; sorted and unique.
    pub router_keys: Vec<RouterKey>,
    /// The ASPA records to serve, the same way, merged per customer.
    pub aspas: Vec<Aspa>,
}

/// Decide what to serve at `now` (Unix seconds). Also returns the first
/// second at which another item will have expired.
#[allow(clippy::missing_panics_doc)] // its `expect` holds: only loaded sources are served
pub fn build<'a>(
    sources: &'a mut [Source],
    slurm: &'a Slurm,
    now: u64,
) -> (Build<'a>, Option<u64>) {
    let mut served = Vec::new();
    let mut loaded = sources.is_empty();
    for s in sources.iter_mut() {
        if s.data().is_none() {
            continue;
        }
        loaded = true;
        s.note_expiry(now);
        if !s.is_stale(now) {
            if s.stale_reported {
                info!("{}: fresh again", s.name);
            }
            s.stale_reported = false;
        }
        if s.is_stale(now) {
            let age = s.age(now).unwrap_or(0);
            let name = s.name.clone();
            let limit = s.limit_name();
            let first = !s.stale_reported;
            s.stale_reported = true;
            match s.stale_policy {
                StalePolicy::Stop => {
                    return (Build::Stop(format!("{name} is stale ({age} s old)")), None);
                }
                StalePolicy::Drop => {
                    if first {
                        warn!("{name}: data is {age} s old, older than {limit} allows: not served");
                    }
                    continue;
                }
                StalePolicy::Keep => {
                    if first {
                        warn!(
                            "{name}: data is {age} s old, older than {limit} allows: served anyway"
                        );
                    }
                }
            }
        }
        served.push(&*s);
    }
    if !loaded {
        return (Build::Nothing, None);
    }

    let mut next_expiry: Option<u64> = None;
    let mut note = |expires: Option<u64>| {
        // Valid up to and including its expiry second; gone the next.
        if let Some(t) = expires.filter(|&t| t >= now) {
            next_expiry = Some(next_expiry.map_or(t + 1, |n| n.min(t + 1)));
        }
    };
    let mut keys: Vec<RouterKey> = slurm.bgpsec_assertions.clone();
    let mut aspas: Vec<Aspa> = slurm.aspa_assertions.clone();
    let mut runs = Vec::new();
    for s in served {
        let data = s.data().expect("only loaded sources are served");
        for t in &data.vrps {
            note(t.expires());
        }
        runs.push(&data.vrps[..]);
        for t in &data.router_keys {
            note(t.expires());
            if !t.is_expired(now) && !slurm.filters_router_key(&t.item) {
                keys.push(t.item.clone());
            }
        }
        for t in &data.aspas {
            note(t.expires());
            if !t.is_expired(now) && !slurm.filters_aspa(t.item.customer) {
                aspas.push(t.item.clone());
            }
        }
    }
    let (merged, oversized) = Snapshot::build(Vec::new(), keys, aspas);
    for customer in oversized {
        warn!("ASPA of AS{customer}: more than 16380 providers, not served");
    }
    let mut asserted = slurm.prefix_assertions.clone();
    asserted.sort_unstable();
    asserted.dedup();
    let plan = Plan {
        runs,
        asserted,
        slurm,
        now,
        router_keys: merged.router_keys,
        aspas: merged.aspas,
    };
    (Build::Serve(plan), next_expiry)
}

impl Plan<'_> {
    /// The VRPs to serve, sorted and unique.
    pub fn vrps(&self) -> VrpMerge<'_> {
        VrpMerge {
            heads: self.runs.iter().map(|r| (*r, 0)).collect(),
            asserted: &self.asserted,
            next_asserted: 0,
            slurm: self.slurm,
            now: self.now,
            last: None,
        }
    }

    /// Counts and a digest of the content, to skip sending what rtr has.
    // An SPKI and a provider list are bounded by SPKI_MAX_LEN and
    // ASPA_MAX_PROVIDERS when read.
    #[allow(clippy::cast_possible_truncation)]
    pub fn summary(&self) -> (u64, u64) {
        let mut c = StreamChecksum::default();
        let mut n = 0u64;
        for v in self.vrps() {
            n += 1;
            c.update(v.prefix.octets());
            c.update(&[v.prefix.len(), v.max_len, u8::from(v.prefix.is_v6())]);
            c.update(&v.asn.to_be_bytes());
        }
        for k in &self.router_keys {
            c.update(&k.ski);
            c.update(&k.asn.to_be_bytes());
            c.update(&(k.spki.len() as u32).to_be_bytes());
            c.update(&k.spki);
        }
        for a in &self.aspas {
            c.update(&a.customer.to_be_bytes());
            c.update(&(a.providers.len() as u32).to_be_bytes());
            for p in &a.providers {
                c.update(&p.to_be_bytes());
            }
        }
        (n, c.value())
    }

    /// Stream the data to rtr (see [`crate::stream`]). `vrps` is the count
    /// from [`Plan::summary`].
    pub fn send(&self, rtr: &mut privsep::Channel, vrps: u64) -> Result<(), FrameError> {
        let counts = stream::Counts {
            vrps,
            router_keys: self.router_keys.len() as u64,
            aspas: self.aspas.len() as u64,
        };
        let items = self
            .vrps()
            .map(Payload::Vrp)
            .chain(self.router_keys.iter().cloned().map(Payload::RouterKey))
            .chain(self.aspas.iter().cloned().map(Payload::Aspa));
        #[cfg(feature = "sandbox-probe")]
        if probe::truncates() {
            return probe::send_truncated(counts, items, rtr);
        }
        stream::write(counts, items, |frame| Ok(rtr.send_encoded(frame)?))
    }
}

//------------ VrpMerge ------------------------------------------------------

/// The sorted union of the sources' VRP runs, without expired and filtered
/// ones, and of the asserted VRPs (never filtered), each VRP once.
pub struct VrpMerge<'a> {
    heads: Vec<(&'a [Timed<Vrp>], usize)>,
    asserted: &'a [Vrp],
    next_asserted: usize,
    slurm: &'a Slurm,
    now: u64,
    last: Option<Vrp>,
}

impl Iterator for VrpMerge<'_> {
    type Item = Vrp;

    fn next(&mut self) -> Option<Vrp> {
        loop {
            // The smallest head; runs are few, a linear scan is cheapest.
            let mut best: Option<(Vrp, Option<usize>)> =
                self.asserted.get(self.next_asserted).map(|v| (*v, None));
            for (i, (run, pos)) in self.heads.iter_mut().enumerate() {
                while let Some(t) = run.get(*pos) {
                    if t.is_expired(self.now) || self.slurm.filters_vrp(&t.item) {
                        *pos += 1;
                    } else {
                        break;
                    }
                }
                if let Some(t) = run.get(*pos) {
                    if best.as_ref().is_none_or(|(b, _)| t.item < *b) {
                        best = Some((t.item, Some(i)));
                    }
                }
            }
            let (vrp, from) = best?;
            match from {
                Some(i) => self.heads[i].1 += 1,
                None => self.next_asserted += 1,
            }
            if self.last != Some(vrp) {
                self.last = Some(vrp);
                return Some(vrp);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::Prefix;

    fn vrp(i: u32, asn: u32) -> Vrp {
        let p = Prefix::v4(std::net::Ipv4Addr::from(i << 8), 24).unwrap();
        Vrp::new(p, 24, asn).unwrap()
    }

    #[test]
    fn merge_is_the_sorted_filtered_union() {
        let a: Vec<Timed<Vrp>> = [1, 3, 5, 7]
            .iter()
            .map(|&i| Timed::new(vrp(i, 1), None))
            .collect();
        let b: Vec<Timed<Vrp>> = vec![
            Timed::new(vrp(2, 1), Some(100)), // expired at 101
            Timed::new(vrp(3, 1), None),      // duplicate of a's
            Timed::new(vrp(4, 9), None),      // filtered by ASN
            Timed::new(vrp(6, 1), Some(200)),
        ];
        let slurm = crate::validator::slurm::parse(
            br#"{"slurmVersion": 1,
                 "validationOutputFilters": {"prefixFilters": [{"asn": 9}], "bgpsecFilters": []},
                 "locallyAddedAssertions": {"prefixAssertions": [
                    {"asn": 9, "prefix": "0.0.4.0/24"}, {"asn": 1, "prefix": "0.0.5.0/24"}],
                  "bgpsecAssertions": []}}"#,
        )
        .unwrap();
        let mut asserted = slurm.prefix_assertions.clone();
        asserted.sort();
        let plan = Plan {
            runs: vec![&a, &b],
            asserted,
            slurm: &slurm,
            now: 101,
            router_keys: vec![],
            aspas: vec![],
        };
        let got: Vec<Vrp> = plan.vrps().collect();
        assert_eq!(
            got,
            [
                vrp(1, 1),
                vrp(3, 1),
                vrp(4, 9),
                vrp(5, 1),
                vrp(6, 1),
                vrp(7, 1)
            ]
        );
        assert_eq!(plan.summary().0, 6);
    }
}

/// A test-only fault: with the `sandbox-probe` feature and
/// `ROVD_SANDBOX_PROBE=truncate-snapshot`, the second snapshot is cut
/// after its first batch and the validator exits, as if it died while
/// sending; a test then sees what the rtr worker and the routers do.
#[cfg(feature = "sandbox-probe")]
mod probe {
    use std::sync::atomic::{AtomicU32, Ordering};

    use log::warn;
    use privsep::FrameError;

    use crate::payload::Payload;
    use crate::stream;

    static SENT: AtomicU32 = AtomicU32::new(0);

    pub(super) fn truncates() -> bool {
        std::env::var("ROVD_SANDBOX_PROBE").is_ok_and(|p| p == "truncate-snapshot")
            && SENT.fetch_add(1, Ordering::Relaxed) == 1
    }

    pub(super) fn send_truncated(
        counts: stream::Counts,
        items: impl Iterator<Item = Payload>,
        rtr: &mut privsep::Channel,
    ) -> Result<(), FrameError> {
        let mut frames = 0;
        let _ = stream::write(counts, items, |frame| {
            frames += 1;
            if frames > 2 {
                return Err(FrameError::Truncated);
            }
            Ok(rtr.send_encoded(frame)?)
        });
        warn!(
            "sandbox probe: snapshot cut after {} frames; exiting",
            frames - 1
        );
        std::process::exit(3);
    }
}
