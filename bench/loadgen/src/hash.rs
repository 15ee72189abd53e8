//! The content hash of an RTR table: what `rtrload` prints for every
//! session and for a payload file, so that a harness can tell that each
//! router ended up with exactly the data set it fed the cache.
//!
//! Each item is encoded canonically as its announcement PDU at version 2
//! (8210bis-27 §5.9–§5.12, header included, whatever version the session
//! ran at), hashed with 64-bit FNV-1a and mixed with the SplitMix64
//! finaliser; the table's hash is the sum of the item hashes modulo 2^64.
//! A sum does not depend on order, so a session can keep it up to date
//! while PDUs stream in, add on announcement and subtract on withdrawal,
//! without holding the table: thousands of sessions of a full table fit in
//! a few megabytes. A record sent twice counts twice and so changes the
//! hash. This is a consistency check, not a cryptographic digest.

use rovd::payload::{Aspa, RouterKey, Snapshot, Vrp};
use rovd::pdu::{self, Version};

/// The hash of one item.
pub(crate) type ItemHash = u64;

/// The running hash of a table and the number of items in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ContentHash {
    sum: u64,
    items: u64,
}

impl ContentHash {
    /// Count an announced item in.
    pub(crate) fn add(&mut self, item: ItemHash) {
        self.sum = self.sum.wrapping_add(item);
        self.items = self.items.wrapping_add(1);
    }

    /// Count a withdrawn item out.
    pub(crate) fn remove(&mut self, item: ItemHash) {
        self.sum = self.sum.wrapping_sub(item);
        self.items = self.items.wrapping_sub(1);
    }

    /// Number of items in the table.
    pub(crate) fn items(&self) -> u64 {
        self.items
    }

    /// The hash as 16 hex digits.
    pub(crate) fn hex(&self) -> String {
        format!("{:016x}", self.sum)
    }

    /// The hash of `snapshot` as a cache serves it at `version`: VRPs at
    /// every version, router keys from version 1, ASPA from version 2.
    pub(crate) fn of_snapshot(snapshot: &Snapshot, version: u8) -> ContentHash {
        let mut h = ContentHash::default();
        snapshot.vrps.iter().for_each(|v| h.add(vrp(v)));
        if version >= 1 {
            snapshot
                .router_keys
                .iter()
                .for_each(|k| h.add(router_key(k)));
        }
        if version >= 2 {
            snapshot.aspas.iter().for_each(|a| h.add(aspa(a)));
        }
        h
    }
}

/// The hash of a VRP.
pub(crate) fn vrp(vrp: &Vrp) -> ItemHash {
    let mut out = Vec::with_capacity(32);
    pdu::vrp(&mut out, Version::V2, true, vrp);
    item(&out)
}

/// The hash of a router key.
pub(crate) fn router_key(key: &RouterKey) -> ItemHash {
    let mut out = Vec::with_capacity(32 + key.spki.len());
    pdu::router_key(&mut out, Version::V2, true, key);
    item(&out)
}

/// The hash of an ASPA record (one customer, all its providers).
pub(crate) fn aspa(aspa: &Aspa) -> ItemHash {
    let mut out = Vec::with_capacity(12 + 4 * aspa.providers.len());
    pdu::aspa_announce(&mut out, Version::V2, aspa);
    item(&out)
}

/// FNV-1a 64 of the canonical encoding, then the SplitMix64 finaliser so
/// that similar encodings do not give related summands.
fn item(encoding: &[u8]) -> ItemHash {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in encoding {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rovd::testdata::{self, Spec};

    #[test]
    fn order_independent_and_reversible() {
        let snapshot = testdata::generate(&Spec {
            vrps: 200,
            ..Spec::small()
        });
        let whole = ContentHash::of_snapshot(&snapshot, 2);
        let mut backwards = ContentHash::default();
        snapshot
            .aspas
            .iter()
            .rev()
            .for_each(|a| backwards.add(aspa(a)));
        snapshot
            .router_keys
            .iter()
            .for_each(|k| backwards.add(router_key(k)));
        snapshot
            .vrps
            .iter()
            .rev()
            .for_each(|v| backwards.add(vrp(v)));
        assert_eq!(whole, backwards);
        assert_eq!(whole.items(), snapshot.len() as u64);
        // Announcing a VRP twice changes the hash; withdrawing it restores it.
        backwards.add(vrp(&snapshot.vrps[0]));
        assert_ne!(whole, backwards);
        backwards.remove(vrp(&snapshot.vrps[0]));
        assert_eq!(whole, backwards);
        // Versions filter by type.
        let v0 = ContentHash::of_snapshot(&snapshot, 0);
        assert_eq!(v0.items(), snapshot.vrps.len() as u64);
        assert_ne!(v0, whole);
    }
}
