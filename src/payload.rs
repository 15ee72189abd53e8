//! RPKI payloads as rovd serves them: VRPs, BGPsec router keys and ASPA
//! records; the sorted, deduplicated [`Snapshot`] of all of them; and the
//! [`Delta`] between two snapshots.
//!
//! Shared by every process: the validator builds snapshots, the rtr worker
//! diffs and encodes them. No privileges are involved here.
//!
//! The storage order of each type is chosen so that the RTR wire order of
//! draft-ietf-sidrops-8210bis-27 §11.2 falls out of plain iteration:
//! announcements walk a sorted vector backwards (VRPs) or forwards (router
//! keys, ASPA), withdrawals walk it forwards.

use std::cmp::Ordering;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// The largest number of providers an ASPA PDU can carry:
/// (65,535 - 12) / 4 (8210bis-27 §5.12).
pub const ASPA_MAX_PROVIDERS: usize = 16_380;

/// The largest SPKI a Router Key PDU can carry: 65,535 - 32 (§5.11).
pub const SPKI_MAX_LEN: usize = 65_503;

//------------ Time ----------------------------------------------------------

/// `t` as Unix seconds, the unit of every time rovd's payloads, state
/// and views carry; `None` before 1970.
pub fn unix_secs(t: std::time::SystemTime) -> Option<u64> {
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// The current time as Unix seconds.
pub fn unix_now() -> u64 {
    unix_secs(std::time::SystemTime::now()).unwrap_or(0)
}

//------------ Prefix --------------------------------------------------------

/// An IPv4 or IPv6 prefix with its host bits zeroed.
///
/// The address is kept as 16 octets in network order; an IPv4 address sits
/// in the first four. Ordering is IPv4 before IPv6, then address, then
/// length.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "PrefixWire")]
pub struct Prefix {
    v6: bool,
    len: u8,
    addr: [u8; 16],
}

/// A [`Prefix`] as it crosses the IPC boundary, taken only through the
/// checking constructors: a process that receives one trusts its length
/// and host bits no more than a file's.
#[derive(Deserialize)]
struct PrefixWire {
    v6: bool,
    len: u8,
    addr: [u8; 16],
}

impl TryFrom<PrefixWire> for Prefix {
    type Error = PrefixError;

    fn try_from(w: PrefixWire) -> Result<Prefix, PrefixError> {
        if w.v6 {
            return Prefix::v6(Ipv6Addr::from(w.addr), w.len);
        }
        let (v4, rest) = w.addr.split_at(4);
        if rest.iter().any(|&b| b != 0) {
            return Err(PrefixError::HostBits);
        }
        let v4: [u8; 4] = v4.try_into().map_err(|_| PrefixError::Syntax)?;
        Prefix::v4(Ipv4Addr::from(v4), w.len)
    }
}

/// Why a prefix could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixError {
    /// Not "address/length".
    Syntax,
    /// The length exceeds 32 (IPv4) or 128 (IPv6).
    Length,
    /// Bits beyond the prefix length are set.
    HostBits,
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrefixError::Syntax => f.write_str("not ADDRESS/LENGTH"),
            PrefixError::Length => f.write_str("prefix length out of range"),
            PrefixError::HostBits => f.write_str("host bits set beyond the prefix length"),
        }
    }
}

impl Prefix {
    /// An IPv4 prefix; fails on a bad length or set host bits.
    pub fn v4(addr: Ipv4Addr, len: u8) -> Result<Self, PrefixError> {
        if len > 32 {
            return Err(PrefixError::Length);
        }
        let bits = u32::from(addr);
        if bits & !mask32(len) != 0 {
            return Err(PrefixError::HostBits);
        }
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&addr.octets());
        Ok(Prefix {
            v6: false,
            len,
            addr: a,
        })
    }

    /// An IPv6 prefix; fails on a bad length or set host bits.
    pub fn v6(addr: Ipv6Addr, len: u8) -> Result<Self, PrefixError> {
        if len > 128 {
            return Err(PrefixError::Length);
        }
        let bits = u128::from(addr);
        if bits & !mask128(len) != 0 {
            return Err(PrefixError::HostBits);
        }
        Ok(Prefix {
            v6: true,
            len,
            addr: addr.octets(),
        })
    }

    /// Whether this is an IPv6 prefix.
    pub fn is_v6(&self) -> bool {
        self.v6
    }

    /// The prefix length.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether this is a zero-length (default) prefix.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The longest length a prefix of this family may have.
    pub fn max_len_limit(&self) -> u8 {
        if self.v6 {
            128
        } else {
            32
        }
    }

    /// The address octets as they go on the wire: 4 for IPv4, 16 for IPv6.
    pub fn octets(&self) -> &[u8] {
        if self.v6 {
            &self.addr
        } else {
            &self.addr[..4]
        }
    }

    fn key(&self) -> (bool, [u8; 16]) {
        (self.v6, self.addr)
    }
}

fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

impl std::str::FromStr for Prefix {
    type Err = PrefixError;

    /// `a.b.c.d/len` or `v6::/len`, with the address as std parses it and
    /// the length in decimal digits only; host bits must be clear.
    fn from_str(text: &str) -> Result<Self, PrefixError> {
        let (addr, len) = text.split_once('/').ok_or(PrefixError::Syntax)?;
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|c| c.is_ascii_digit()) {
            return Err(PrefixError::Syntax);
        }
        let len: u8 = len.parse().map_err(|_| PrefixError::Length)?;
        if addr.contains(':') {
            Prefix::v6(addr.parse().map_err(|_| PrefixError::Syntax)?, len)
        } else {
            Prefix::v4(addr.parse().map_err(|_| PrefixError::Syntax)?, len)
        }
    }
}

impl Ord for Prefix {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key()).then(self.len.cmp(&other.len))
    }
}

impl PartialOrd for Prefix {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.v6 {
            write!(f, "{}/{}", Ipv6Addr::from(self.addr), self.len)
        } else {
            let a: [u8; 4] = self.addr[..4].try_into().expect("four octets");
            write!(f, "{}/{}", Ipv4Addr::from(a), self.len)
        }
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

//------------ Vrp -----------------------------------------------------------

/// A Validated ROA Payload: prefix, maximum length and origin AS.
///
/// Stored order: family, address, max length, prefix length, ASN — all
/// ascending. 8210bis-27 §11.2.1 sends announcements in exactly the reverse
/// of this order and withdrawals in this order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "VrpWire")]
pub struct Vrp {
    /// The ROA prefix.
    pub prefix: Prefix,
    /// The longest prefix length the origin may announce (RFC 6482 §3.3).
    pub max_len: u8,
    /// The origin AS.
    pub asn: u32,
}

impl Vrp {
    /// A VRP, checking prefix length ≤ max length ≤ the family's limit.
    pub fn new(prefix: Prefix, max_len: u8, asn: u32) -> Result<Self, &'static str> {
        if max_len < prefix.len() {
            return Err("max length is smaller than the prefix length");
        }
        if max_len > prefix.max_len_limit() {
            return Err("max length exceeds the address family's length");
        }
        Ok(Vrp {
            prefix,
            max_len,
            asn,
        })
    }
}

impl Ord for Vrp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.prefix
            .key()
            .cmp(&other.prefix.key())
            .then(self.max_len.cmp(&other.max_len))
            .then(self.prefix.len.cmp(&other.prefix.len))
            .then(self.asn.cmp(&other.asn))
    }
}

impl PartialOrd for Vrp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for Vrp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{} AS{}", self.prefix, self.max_len, self.asn)
    }
}

//------------ RouterKey -----------------------------------------------------

/// A BGPsec router key (RFC 8210 §5.10): unique on {SKI, ASN, SPKI}.
///
/// Stored order is the wire order of 8210bis-27 §11.2.2: SKI, SPKI length,
/// SPKI octets, ASN.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RouterKeyWire")]
pub struct RouterKey {
    /// The Subject Key Identifier of the router certificate.
    pub ski: [u8; 20],
    /// The AS the router certificate is for.
    pub asn: u32,
    /// The router's public key, a DER SubjectPublicKeyInfo.
    pub spki: Box<[u8]>,
}

impl Ord for RouterKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.ski
            .cmp(&other.ski)
            .then(self.spki.len().cmp(&other.spki.len()))
            .then(self.spki.cmp(&other.spki))
            .then(self.asn.cmp(&other.asn))
    }
}

impl PartialOrd for RouterKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for RouterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RouterKey(AS{} ski=", self.asn)?;
        for b in &self.ski {
            write!(f, "{b:02x}")?;
        }
        write!(f, " spki={} octets)", self.spki.len())
    }
}

//------------ Aspa ----------------------------------------------------------

/// An ASPA record: a customer AS and its provider set, sorted and unique,
/// already merged over all ASPA objects of the customer (8210bis-27 §5.12).
///
/// Stored order: customer, then providers. A snapshot holds at most one
/// record per customer.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "AspaWire")]
pub struct Aspa {
    /// The Customer AS.
    pub customer: u32,
    /// The Provider ASes, sorted and unique; `[0]` alone for none (AS0).
    pub providers: Vec<u32>,
}

impl Aspa {
    /// Normalise a merged provider set: sort, deduplicate, and drop AS0 if
    /// any other provider is present (§5.12: AS0 only alone).
    pub fn normalise(customer: u32, mut providers: Vec<u32>) -> Self {
        providers.sort_unstable();
        providers.dedup();
        if providers.len() > 1 && providers[0] == 0 {
            providers.remove(0);
        }
        Aspa {
            customer,
            providers,
        }
    }
}

impl fmt::Debug for Aspa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aspa(AS{} => {:?})", self.customer, self.providers)
    }
}

//------------ Checks at the IPC boundary ------------------------------------

/// A [`Vrp`] as it crosses the IPC boundary: taken through [`Vrp::new`].
#[derive(Deserialize)]
struct VrpWire {
    prefix: Prefix,
    max_len: u8,
    asn: u32,
}

impl TryFrom<VrpWire> for Vrp {
    type Error = &'static str;

    fn try_from(w: VrpWire) -> Result<Vrp, &'static str> {
        Vrp::new(w.prefix, w.max_len, w.asn)
    }
}

/// A [`RouterKey`] as it crosses the IPC boundary: an SPKI that fits a
/// Router Key PDU (8210bis-27 §5.11).
#[derive(Deserialize)]
struct RouterKeyWire {
    ski: [u8; 20],
    asn: u32,
    spki: Box<[u8]>,
}

impl TryFrom<RouterKeyWire> for RouterKey {
    type Error = String;

    fn try_from(w: RouterKeyWire) -> Result<RouterKey, String> {
        if w.spki.is_empty() || w.spki.len() > SPKI_MAX_LEN {
            return Err(format!(
                "router key SPKI of {} octets (1 to {SPKI_MAX_LEN})",
                w.spki.len()
            ));
        }
        Ok(RouterKey {
            ski: w.ski,
            asn: w.asn,
            spki: w.spki,
        })
    }
}

/// An [`Aspa`] as it crosses the IPC boundary: providers sorted, unique
/// and few enough for an ASPA PDU (8210bis-27 §5.12).
#[derive(Deserialize)]
struct AspaWire {
    customer: u32,
    providers: Vec<u32>,
}

impl TryFrom<AspaWire> for Aspa {
    type Error = String;

    fn try_from(w: AspaWire) -> Result<Aspa, String> {
        if w.providers.len() > ASPA_MAX_PROVIDERS {
            return Err(format!(
                "ASPA of AS{} with {} providers (at most {ASPA_MAX_PROVIDERS})",
                w.customer,
                w.providers.len()
            ));
        }
        if w.providers.windows(2).any(|p| p[0] >= p[1]) {
            return Err(format!("ASPA of AS{} with unsorted providers", w.customer));
        }
        Ok(Aspa {
            customer: w.customer,
            providers: w.providers,
        })
    }
}

//------------ Payload -------------------------------------------------------

/// One payload item of any type, as streamed from the validator to rtr.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// A Validated ROA Payload.
    Vrp(Vrp),
    /// A BGPsec router key.
    RouterKey(RouterKey),
    /// An ASPA record.
    Aspa(Aspa),
}

//------------ Snapshot ------------------------------------------------------

/// A complete payload set: three sorted vectors without duplicates (and for
/// ASPA, without two records for one customer).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The VRPs, in stored order.
    pub vrps: Vec<Vrp>,
    /// The router keys, in stored order.
    pub router_keys: Vec<RouterKey>,
    /// The ASPA records, one per customer, in stored order.
    pub aspas: Vec<Aspa>,
}

impl Snapshot {
    /// Build a snapshot from items in any order, with any duplicates.
    ///
    /// ASPA records for the same customer are merged into one (the union of
    /// their providers, normalised); records whose merged set exceeds
    /// [`ASPA_MAX_PROVIDERS`] cannot be sent and are returned separately so
    /// the caller can log them.
    pub fn build(
        mut vrps: Vec<Vrp>,
        mut router_keys: Vec<RouterKey>,
        mut aspas: Vec<Aspa>,
    ) -> (Self, Vec<u32>) {
        vrps.sort_unstable();
        vrps.dedup();
        router_keys.sort_unstable();
        router_keys.dedup();
        aspas.sort_unstable_by_key(|a| a.customer);
        let mut merged: Vec<Aspa> = Vec::with_capacity(aspas.len());
        for a in aspas {
            match merged.last_mut() {
                Some(last) if last.customer == a.customer => {
                    last.providers.extend_from_slice(&a.providers);
                }
                _ => merged.push(a),
            }
        }
        let mut oversized = Vec::new();
        let aspas = merged
            .into_iter()
            .filter_map(|a| {
                let a = Aspa::normalise(a.customer, a.providers);
                if a.providers.is_empty() {
                    None
                } else if a.providers.len() > ASPA_MAX_PROVIDERS {
                    oversized.push(a.customer);
                    None
                } else {
                    Some(a)
                }
            })
            .collect();
        (
            Snapshot {
                vrps,
                router_keys,
                aspas,
            },
            oversized,
        )
    }

    /// Whether all three vectors are empty.
    pub fn is_empty(&self) -> bool {
        self.vrps.is_empty() && self.router_keys.is_empty() && self.aspas.is_empty()
    }

    /// Number of items of all types.
    pub fn len(&self) -> usize {
        self.vrps.len() + self.router_keys.len() + self.aspas.len()
    }

    /// Apply a delta: the result is `self - withdraw + announce`, made in
    /// one pass that moves the items kept rather than copying them. An
    /// announcement of an item held leaves it held once; a withdrawal of
    /// an item not held is ignored.
    #[must_use]
    pub fn apply_owned(self, delta: &Delta) -> Snapshot {
        Snapshot {
            vrps: apply_sorted(self.vrps, &delta.announce.vrps, &delta.withdraw.vrps),
            router_keys: apply_sorted(
                self.router_keys,
                &delta.announce.router_keys,
                &delta.withdraw.router_keys,
            ),
            aspas: apply_sorted(self.aspas, &delta.announce.aspas, &delta.withdraw.aspas),
        }
    }
}

//------------ Delta ---------------------------------------------------------

/// The change between two snapshots: items only in the new one (`announce`)
/// and items only in the old one (`withdraw`), each sorted.
///
/// For ASPA a changed provider set appears as the old record in `withdraw`
/// and the new one in `announce`; the encoder turns that pair into a single
/// replacing announcement as §5.12 requires.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// Items only in the new snapshot.
    pub announce: Snapshot,
    /// Items only in the old snapshot.
    pub withdraw: Snapshot,
}

impl Delta {
    /// The delta from `old` to `new`, by a linear merge.
    pub fn between(old: &Snapshot, new: &Snapshot) -> Delta {
        let (av, wv) = diff_sorted(&old.vrps, &new.vrps);
        let (ak, wk) = diff_sorted(&old.router_keys, &new.router_keys);
        let (aa, wa) = diff_sorted(&old.aspas, &new.aspas);
        Delta {
            announce: Snapshot {
                vrps: av,
                router_keys: ak,
                aspas: aa,
            },
            withdraw: Snapshot {
                vrps: wv,
                router_keys: wk,
                aspas: wa,
            },
        }
    }

    /// The net delta of `self` followed by `next`: what changed from the
    /// start of `self` to the end of `next`, with changes that cancel out
    /// removed (8210bis-27 §5.3: the minimal set of changes).
    #[must_use]
    pub fn then(&self, next: &Delta) -> Delta {
        fn compose<T: Ord + Clone>(a1: &[T], w1: &[T], a2: &[T], w2: &[T]) -> (Vec<T>, Vec<T>) {
            // announced = (A1 \ W2) ∪ (A2 \ W1); withdrawn = (W1 \ A2) ∪ (W2 \ A1)
            let a = union_sorted(&minus_sorted(a1, w2), &minus_sorted(a2, w1));
            let w = union_sorted(&minus_sorted(w1, a2), &minus_sorted(w2, a1));
            (a, w)
        }
        let (av, wv) = compose(
            &self.announce.vrps,
            &self.withdraw.vrps,
            &next.announce.vrps,
            &next.withdraw.vrps,
        );
        let (ak, wk) = compose(
            &self.announce.router_keys,
            &self.withdraw.router_keys,
            &next.announce.router_keys,
            &next.withdraw.router_keys,
        );
        let (aa, wa) = compose(
            &self.announce.aspas,
            &self.withdraw.aspas,
            &next.announce.aspas,
            &next.withdraw.aspas,
        );
        Delta {
            announce: Snapshot {
                vrps: av,
                router_keys: ak,
                aspas: aa,
            },
            withdraw: Snapshot {
                vrps: wv,
                router_keys: wk,
                aspas: wa,
            },
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.announce.is_empty() && self.withdraw.is_empty()
    }

    /// Number of items mentioned.
    pub fn len(&self) -> usize {
        self.announce.len() + self.withdraw.len()
    }
}

//------------ Sorted-vector set operations ---------------------------------

/// Items only in `new` and items only in `old`.
fn diff_sorted<T: Ord + Clone>(old: &[T], new: &[T]) -> (Vec<T>, Vec<T>) {
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < old.len() && j < new.len() {
        match old[i].cmp(&new[j]) {
            Ordering::Less => {
                removed.push(old[i].clone());
                i += 1;
            }
            Ordering::Greater => {
                added.push(new[j].clone());
                j += 1;
            }
            Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    removed.extend_from_slice(&old[i..]);
    added.extend_from_slice(&new[j..]);
    (added, removed)
}

fn minus_sorted<T: Ord + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for x in a {
        while j < b.len() && b[j] < *x {
            j += 1;
        }
        if j < b.len() && b[j] == *x {
            continue;
        }
        out.push(x.clone());
    }
    out
}

fn union_sorted<T: Ord + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => {
                out.push(a[i].clone());
                i += 1;
            }
            Ordering::Greater => {
                out.push(b[j].clone());
                j += 1;
            }
            Ordering::Equal => {
                out.push(a[i].clone());
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// The sorted `base` without `withdraw` and with `announce`, all three
/// sorted, in one pass: the items of `base` are moved, the announcements
/// cloned. An announced item already in `base` is there once after, even
/// if it was also withdrawn; withdrawals of items not in `base` are
/// ignored.
fn apply_sorted<T: Ord + Clone>(base: Vec<T>, announce: &[T], withdraw: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(base.len() + announce.len());
    let (mut a, mut w) = (announce.iter().peekable(), withdraw.iter().peekable());
    for x in base {
        while let Some(y) = a.next_if(|y| **y < x) {
            out.push(y.clone());
        }
        while w.next_if(|y| **y < x).is_some() {}
        if a.next_if(|y| **y == x).is_some() || w.next_if(|y| **y == x).is_none() {
            out.push(x);
        }
    }
    out.extend(a.cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str, len: u8, max: u8, asn: u32) -> Vrp {
        Vrp::new(Prefix::v4(s.parse().unwrap(), len).unwrap(), max, asn).unwrap()
    }

    #[test]
    fn prefix_checks() {
        assert_eq!(
            Prefix::v4("10.0.0.1".parse().unwrap(), 24),
            Err(PrefixError::HostBits)
        );
        assert_eq!(
            Prefix::v4("10.0.0.0".parse().unwrap(), 33),
            Err(PrefixError::Length)
        );
        assert!(Prefix::v4("0.0.0.0".parse().unwrap(), 0).is_ok());
        assert!(Prefix::v6("2001:db8::".parse().unwrap(), 32).is_ok());
        assert_eq!(
            Prefix::v6("2001:db8::1".parse().unwrap(), 64),
            Err(PrefixError::HostBits)
        );
        assert_eq!(
            Prefix::v6("::".parse().unwrap(), 129),
            Err(PrefixError::Length)
        );
        let p = Prefix::v6("2001:db8::".parse().unwrap(), 32).unwrap();
        assert_eq!(p.to_string(), "2001:db8::/32");
        assert_eq!("2001:db8::/32".parse::<Prefix>(), Ok(p));
        assert_eq!(
            "10.0.0.0/8".parse::<Prefix>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        for bad in [
            "10.0.0.0",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0/8",
            "x/8",
            "/8",
        ] {
            assert_eq!(bad.parse::<Prefix>(), Err(PrefixError::Syntax), "{bad}");
        }
        assert_eq!("10.0.0.0/33".parse::<Prefix>(), Err(PrefixError::Length));
        assert_eq!("10.0.0.0/999".parse::<Prefix>(), Err(PrefixError::Length));
        assert_eq!("10.0.0.1/8".parse::<Prefix>(), Err(PrefixError::HostBits));
        assert!(Vrp::new(p, 31, 1).is_err());
        assert!(Vrp::new(p, 129, 1).is_err());
    }

    #[test]
    fn vrp_order_is_family_addr_maxlen_len_asn() {
        let mut v = [
            v4("64.64.64.64", 28, 30, 17),
            v4("64.64.64.64", 27, 30, 16),
            v4("64.64.64.64", 28, 31, 16),
            v4("32.64.64.64", 28, 30, 16),
            v4("64.64.64.64", 28, 30, 15),
        ];
        v.sort();
        let got: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
        assert_eq!(
            got,
            [
                "32.64.64.64/28-30 AS16",
                "64.64.64.64/27-30 AS16",
                "64.64.64.64/28-30 AS15",
                "64.64.64.64/28-30 AS17",
                "64.64.64.64/28-31 AS16",
            ]
        );
        let six = Vrp::new(Prefix::v6("::".parse().unwrap(), 0).unwrap(), 0, 0).unwrap();
        assert!(six > v[4]);
    }

    #[test]
    fn aspa_merge_and_as0() {
        let (s, over) = Snapshot::build(
            vec![],
            vec![],
            vec![
                Aspa {
                    customer: 5,
                    providers: vec![3, 0],
                },
                Aspa {
                    customer: 5,
                    providers: vec![2, 3],
                },
                Aspa {
                    customer: 7,
                    providers: vec![0],
                },
                Aspa {
                    customer: 8,
                    providers: vec![0, 0],
                },
            ],
        );
        assert!(over.is_empty());
        assert_eq!(
            s.aspas,
            vec![
                Aspa {
                    customer: 5,
                    providers: vec![2, 3]
                },
                Aspa {
                    customer: 7,
                    providers: vec![0]
                },
                Aspa {
                    customer: 8,
                    providers: vec![0]
                },
            ]
        );
        let big: Vec<u32> = (1..=u32::try_from(ASPA_MAX_PROVIDERS).unwrap() + 1).collect();
        let (s, over) = Snapshot::build(
            vec![],
            vec![],
            vec![Aspa {
                customer: 1,
                providers: big,
            }],
        );
        assert!(s.aspas.is_empty());
        assert_eq!(over, vec![1]);
    }

    #[test]
    #[allow(clippy::cast_possible_truncation)] // low bits of a random word
    fn delta_composition_is_net_change() {
        // Pseudo-random chain of snapshots; composing all deltas must equal
        // the direct delta, and applying it must give the final snapshot.
        let mut seed = 0x1234_5678_u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut snaps = Vec::new();
        for _ in 0..6 {
            let mut vrps = Vec::new();
            for _ in 0..200 {
                let r = rnd();
                vrps.push(v4(
                    &format!("10.{}.0.0", r % 40),
                    16,
                    16 + (r >> 8) as u8 % 3,
                    (r >> 16) as u32 % 4,
                ));
            }
            let mut aspas = Vec::new();
            for c in 0..10 {
                if rnd() % 4 != 0 {
                    aspas.push(Aspa {
                        customer: c,
                        providers: vec![(rnd() % 3) as u32],
                    });
                }
            }
            snaps.push(Snapshot::build(vrps, vec![], aspas).0);
        }
        for start in 0..snaps.len() {
            let mut acc = Delta::default();
            for k in start..snaps.len() - 1 {
                acc = acc.then(&Delta::between(&snaps[k], &snaps[k + 1]));
            }
            let last = snaps.last().unwrap();
            assert_eq!(acc, Delta::between(&snaps[start], last));
            assert_eq!(snaps[start].clone().apply_owned(&acc), *last);
        }
    }

    #[test]
    #[allow(clippy::cast_possible_truncation)] // low bits of a random word
    fn applying_in_one_pass_equals_withdrawing_then_uniting() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // Sorted, from 0..range; `unique` or with repeats.
        let mut sorted = |n: u64, range: u64, unique: bool| {
            let mut v: Vec<u64> = (0..rnd() % n).map(|_| rnd() % range).collect();
            v.sort_unstable();
            if unique {
                v.dedup();
            }
            v
        };
        for round in 0..2000 {
            let range = 1 + round % 60;
            let base = sorted(40, range, true);
            // Announcements held and not, withdrawals held and not, the
            // same item in both, even repeats: the old way's answer.
            let announce = sorted(20, range, round % 3 != 0);
            let withdraw = sorted(20, range, round % 5 != 0);
            let two_pass = union_sorted(&minus_sorted(&base, &withdraw), &announce);
            let one_pass = apply_sorted(base.clone(), &announce, &withdraw);
            assert_eq!(one_pass, two_pass, "{base:?} + {announce:?} - {withdraw:?}");
        }
        // And on snapshots of every type.
        let mut snap = |vrps: u64, aspas: u64| {
            let vrps = (0..vrps)
                .map(|_| {
                    let r = rnd();
                    v4(
                        &format!("10.{}.0.0", r % 30),
                        16,
                        16 + (r >> 8) as u8 % 3,
                        1,
                    )
                })
                .collect();
            let aspas = (0..aspas)
                .map(|_| Aspa {
                    customer: (rnd() % 12) as u32,
                    providers: vec![(rnd() % 3) as u32 + 1],
                })
                .collect();
            Snapshot::build(vrps, vec![], aspas).0
        };
        for _ in 0..50 {
            let (base, announce, withdraw) = (snap(60, 8), snap(20, 4), snap(20, 4));
            let delta = Delta { announce, withdraw };
            let two_pass = Snapshot {
                vrps: union_sorted(
                    &minus_sorted(&base.vrps, &delta.withdraw.vrps),
                    &delta.announce.vrps,
                ),
                router_keys: Vec::new(),
                aspas: union_sorted(
                    &minus_sorted(&base.aspas, &delta.withdraw.aspas),
                    &delta.announce.aspas,
                ),
            };
            assert_eq!(base.apply_owned(&delta), two_pass);
        }
    }

    #[test]
    fn cancelling_changes_vanish() {
        let a = Snapshot::build(vec![v4("10.0.0.0", 8, 8, 1)], vec![], vec![]).0;
        let b = Snapshot::default();
        let d = Delta::between(&a, &b).then(&Delta::between(&b, &a));
        assert!(d.is_empty());
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    /// What a compromised sender could put on the channel: the same
    /// layout as the real types, any values.
    #[derive(Serialize)]
    struct RawPrefix {
        v6: bool,
        len: u8,
        addr: [u8; 16],
    }

    #[derive(Serialize)]
    struct RawVrp {
        prefix: RawPrefix,
        max_len: u8,
        asn: u32,
    }

    fn vrp_from(raw: &RawVrp) -> Result<Vrp, bincode::Error> {
        bincode::deserialize(&bincode::serialize(raw).unwrap())
    }

    #[test]
    fn values_from_the_channel_pass_the_same_checks_as_values_from_files() {
        let good = Vrp::new(Prefix::v4(Ipv4Addr::new(192, 0, 2, 0), 24).unwrap(), 24, 1).unwrap();
        let back: Vrp = bincode::deserialize(&bincode::serialize(&good).unwrap()).unwrap();
        assert_eq!(back, good);
        let mut addr = [0u8; 16];
        addr[..4].copy_from_slice(&[192, 0, 2, 0]);
        let raw = |v6, len, addr, max_len| RawVrp {
            prefix: RawPrefix { v6, len, addr },
            max_len,
            asn: 1,
        };
        assert!(vrp_from(&raw(false, 24, addr, 24)).is_ok());
        for (what, bad) in [
            ("length beyond 32", raw(false, 33, addr, 33)),
            ("host bits", raw(false, 16, addr, 24)),
            ("octets past an IPv4 address", {
                let mut a = addr;
                a[9] = 1;
                raw(false, 24, a, 24)
            }),
            ("max length below the length", raw(false, 24, addr, 23)),
            ("max length beyond the family", raw(true, 24, [0; 16], 129)),
        ] {
            assert!(vrp_from(&bad).is_err(), "{what} accepted");
        }
        let key = |spki: Vec<u8>| {
            bincode::deserialize::<RouterKey>(
                &bincode::serialize(&([0u8; 20], 1u32, spki.into_boxed_slice())).unwrap(),
            )
        };
        assert!(key(vec![0x30]).is_ok());
        assert!(key(vec![]).is_err());
        assert!(key(vec![0; SPKI_MAX_LEN + 1]).is_err());
        let aspa = |providers: Vec<u32>| {
            bincode::deserialize::<Aspa>(&bincode::serialize(&(7u32, providers)).unwrap())
        };
        assert!(aspa(vec![1, 2]).is_ok());
        assert!(aspa(vec![2, 1]).is_err());
        let too_many = u32::try_from(ASPA_MAX_PROVIDERS).unwrap() + 1;
        assert!(aspa((1..=too_many).collect()).is_err());
    }
}
