//! Deterministic, realistic payload sets for tests, benchmarks and the
//! demo: a [`Spec`] and a seed always give the same [`Snapshot`], and
//! [`mutate`] the same next one. No process runs this in service; it needs
//! no privileges and uses no randomness from the system.
//!
//! The shapes follow the global RPKI: IPv4 mostly /24 with a spread up to
//! /8, IPv6 mostly /32 to /48, about one VRP in ten with a max length above
//! its prefix length, a few hundred AS0 VRPs per 100,000, a popular minority
//! of origin ASes, P-256 router keys, and ASPA customers with one to eight
//! transit providers (some with AS0 alone).

// Draws below small bounds, low bits of random words, and percentages of
// counts: every cast here is bounded or takes the bits it means to.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss
)]

use std::collections::HashSet;
use std::fmt::Write;

use base64::Engine;

use crate::payload::{Aspa, Prefix, RouterKey, Snapshot, Vrp};

//------------ Spec ----------------------------------------------------------

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Number of distinct VRPs.
    pub vrps: usize,
    /// Share of them that are IPv6, in percent.
    pub v6_percent: u8,
    /// Number of distinct origin ASes to draw from (at most 300,000).
    pub asns: u32,
    /// Number of router keys.
    pub router_keys: usize,
    /// Number of ASPA customers.
    pub aspas: usize,
    /// Seed of the generator: the same seed gives the same data.
    pub seed: u64,
}

impl Spec {
    /// A set for unit and end-to-end tests.
    pub fn small() -> Spec {
        Spec {
            vrps: 30_000,
            v6_percent: 22,
            asns: 5_000,
            router_keys: 4,
            aspas: 100,
            seed: 1,
        }
    }

    /// A set of the size of today's global RPKI.
    pub fn full() -> Spec {
        Spec {
            vrps: 800_000,
            v6_percent: 22,
            asns: 80_000,
            router_keys: 10,
            aspas: 1_000,
            seed: 0x0072_6f76_6421,
        }
    }
}

//------------ Rng -----------------------------------------------------------

/// SplitMix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// A value from a table of (value, weight in 1/10,000).
    fn pick(&mut self, table: &[(u8, u16)]) -> u8 {
        let mut r = self.below(10_000) as u16;
        for &(v, w) in table {
            if r < w {
                return v;
            }
            r -= w;
        }
        table[table.len() - 1].0
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let r = self.next().to_be_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// IPv4 prefix lengths in 1/10,000, after the global set of early 2020.
const V4_LENGTHS: &[(u8, u16)] = &[
    (24, 5528),
    (23, 930),
    (22, 1420),
    (21, 580),
    (20, 490),
    (19, 400),
    (18, 190),
    (17, 140),
    (16, 220),
    (15, 40),
    (14, 30),
    (13, 10),
    (12, 10),
    (11, 5),
    (10, 3),
    (9, 2),
    (8, 2),
];

/// IPv6 prefix lengths in 1/10,000, after the same set.
const V6_LENGTHS: &[(u8, u16)] = &[
    (48, 3930),
    (32, 2410),
    (29, 880),
    (40, 610),
    (36, 540),
    (44, 340),
    (46, 290),
    (38, 170),
    (64, 170),
    (39, 140),
    (47, 90),
    (30, 70),
    (37, 50),
    (33, 40),
    (35, 40),
    (42, 40),
    (45, 40),
    (31, 30),
    (34, 30),
    (43, 30),
    (28, 20),
    (41, 20),
    (56, 20),
];

/// Number of providers of an ASPA customer, in 1/10,000.
const ASPA_PROVIDERS: &[(u8, u16)] = &[
    (1, 3000),
    (2, 3000),
    (3, 1500),
    (4, 1000),
    (5, 600),
    (6, 400),
    (7, 300),
    (8, 200),
];

/// DER prefix of an ECDSA P-256 SubjectPublicKeyInfo (RFC 8208 §3.1): the
/// algorithm identifiers and the BIT STRING header up to the uncompressed
/// point marker 04; the 64 octets of X and Y follow.
const P256_SPKI_PREFIX: [u8; 27] = [
    0x30, 0x59, // SEQUENCE, 89
    0x30, 0x13, // SEQUENCE, 19
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // id-ecPublicKey
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, // prime256v1
    0x03, 0x42, 0x00, // BIT STRING, 66, no unused bits
    0x04, // uncompressed point
];

//------------ generate ------------------------------------------------------

/// Generate a snapshot with exactly `spec.vrps` VRPs, `spec.router_keys`
/// keys and `spec.aspas` ASPA records (the last capped by `spec.asns`).
pub fn generate(spec: &Spec) -> Snapshot {
    let mut rng = Rng::new(spec.seed);
    let asns = asn_table(&mut rng, spec.asns.clamp(1, 300_000) as usize);

    let mut vrps: Vec<Vrp> = Vec::with_capacity(spec.vrps);
    while vrps.len() < spec.vrps {
        for _ in vrps.len()..spec.vrps {
            let asn = if rng.chance(3) {
                0
            } else {
                popular(&mut rng, &asns)
            };
            let v6 = rng.below(100) < u64::from(spec.v6_percent);
            vrps.push(random_vrp(&mut rng, asn, v6));
        }
        vrps.sort_unstable();
        vrps.dedup();
    }

    let router_keys = (0..spec.router_keys)
        .map(|_| {
            let asn = popular(&mut rng, &asns);
            random_key(&mut rng, asn)
        })
        .collect();

    // Customers are distinct; providers come from the most popular ASes,
    // as transit networks would.
    let mut order: Vec<u32> = asns.clone();
    let customers = spec.aspas.min(order.len());
    for i in 0..customers {
        let j = i + rng.below((order.len() - i) as u64) as usize;
        order.swap(i, j);
    }
    let transit = &asns[..asns.len().min(500)];
    let aspas = order[..customers]
        .iter()
        .map(|&c| random_aspa(&mut rng, c, transit))
        .collect();

    Snapshot::build(vrps, router_keys, aspas).0
}

/// `n` distinct AS numbers, mostly 16-bit, the rest from the 32-bit range
/// RIRs have assigned; reserved and private numbers left out.
fn asn_table(rng: &mut Rng, n: usize) -> Vec<u32> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let asn = if rng.chance(650) {
            1 + rng.below(64_495) as u32
        } else {
            131_072 + rng.below(270_000) as u32
        };
        if asn != 23_456 && seen.insert(asn) {
            out.push(asn);
        }
    }
    out
}

/// An AS from the table, skewed towards its start.
fn popular(rng: &mut Rng, asns: &[u32]) -> u32 {
    let u = rng.below(1 << 32);
    asns[((((u * u) >> 32) * asns.len() as u64) >> 32) as usize]
}

/// A VRP of `asn`, near the address space the AS usually originates from.
fn random_vrp(rng: &mut Rng, asn: u32, v6: bool) -> Vrp {
    let home = mix(u64::from(asn) ^ 0x5eed);
    let ranged = rng.chance(100);
    if v6 {
        let len = rng.pick(V6_LENGTHS);
        // Inside 2000::/4, one /32 per AS, the rest random.
        let top = 0x2000_0000 | (home as u32 & 0x0fff_ffff);
        let bits = (u128::from(top) << 96) | (u128::from(rng.next()) << 32);
        let addr = bits & (u128::MAX << (128 - u32::from(len)));
        let max = if !ranged {
            len
        } else if len < 48 {
            len + 1 + rng.below(u64::from(48 - len)) as u8
        } else {
            len + 1 + rng.below(u64::from((128 - len).min(16))) as u8
        };
        let prefix = Prefix::v6(addr.into(), len).expect("masked");
        Vrp::new(prefix, max, asn).expect("max length in range")
    } else {
        let len = rng.pick(V4_LENGTHS);
        // A public first octet, one /12 of it per AS, the rest random.
        let mut first = 1 + (home % 223) as u32;
        if first == 10 || first == 127 {
            first += 1;
        }
        let bits =
            (first << 24) | ((home >> 8) as u32 & 0x00f0_0000) | (rng.next() as u32 & 0x000f_ffff);
        let addr = bits & (u32::MAX << (32 - u32::from(len)));
        let max = if !ranged {
            len
        } else if len < 24 {
            len + 1 + rng.below(u64::from(24 - len)) as u8
        } else {
            len + 1 + rng.below(4) as u8
        };
        let prefix = Prefix::v4(addr.into(), len).expect("masked");
        Vrp::new(prefix, max, asn).expect("max length in range")
    }
}

fn random_key(rng: &mut Rng, asn: u32) -> RouterKey {
    let mut ski = [0u8; 20];
    rng.fill(&mut ski);
    let mut spki = P256_SPKI_PREFIX.to_vec();
    spki.resize(P256_SPKI_PREFIX.len() + 64, 0);
    rng.fill(&mut spki[P256_SPKI_PREFIX.len()..]);
    RouterKey {
        ski,
        asn,
        spki: spki.into_boxed_slice(),
    }
}

fn random_aspa(rng: &mut Rng, customer: u32, transit: &[u32]) -> Aspa {
    if rng.chance(40) {
        return Aspa {
            customer,
            providers: vec![0],
        };
    }
    let want = rng.pick(ASPA_PROVIDERS) as usize;
    let mut providers = Vec::with_capacity(want);
    while providers.is_empty() || (providers.len() < want && transit.len() > want) {
        let p = transit[rng.below(transit.len() as u64) as usize];
        if p != customer && !providers.contains(&p) {
            providers.push(p);
        }
        if transit.len() == 1 && p == customer {
            providers.push(0);
        }
    }
    Aspa::normalise(customer, providers)
}

//------------ mutate --------------------------------------------------------

/// The next snapshot after `snapshot`: about `percent` % of the VRPs
/// changed (a third withdrawn, a third with a new max length, the rest new),
/// about `percent` % of the ASPA customers with a changed provider set, and
/// one router key replaced by a new one. Each kind changes at least once
/// when it is not empty and `percent` is above zero.
pub fn mutate(snapshot: &Snapshot, percent: f64, seed: u64) -> Snapshot {
    let mut rng = Rng::new(seed ^ 0x6d75_7461_7465);
    let share = |n: usize| -> usize {
        if n == 0 || percent <= 0.0 {
            0
        } else {
            ((n as f64 * percent / 100.0).round() as usize).clamp(1, n)
        }
    };

    let old = &snapshot.vrps;
    let mut keep = vec![true; old.len()];
    let mut vrps: Vec<Vrp> = Vec::new();
    let changes = share(old.len());
    let (withdraw, reshape) = (changes.div_ceil(3), changes / 3);
    let add = changes - withdraw - reshape;
    for _ in 0..withdraw {
        keep[rng.below(old.len() as u64) as usize] = false;
    }
    for _ in 0..reshape {
        let i = rng.below(old.len() as u64) as usize;
        let v = old[i];
        let max = if v.max_len < v.prefix.max_len_limit() {
            v.max_len + 1
        } else {
            v.max_len - 1
        };
        if let Ok(changed) = Vrp::new(v.prefix, max, v.asn) {
            keep[i] = false;
            vrps.push(changed);
        }
    }
    let v6_share = if old.is_empty() {
        220
    } else {
        (old.iter().filter(|v| v.prefix.is_v6()).count() * 1000 / old.len()) as u64
    };
    for _ in 0..add {
        let asn = if old.is_empty() {
            64_496
        } else {
            old[rng.below(old.len() as u64) as usize].asn
        };
        let v6 = rng.chance(v6_share);
        vrps.push(random_vrp(&mut rng, asn, v6));
    }
    vrps.extend(old.iter().zip(&keep).filter(|(_, &k)| k).map(|(v, _)| *v));

    let mut router_keys = snapshot.router_keys.clone();
    if percent > 0.0 && !router_keys.is_empty() {
        let gone = router_keys.swap_remove(rng.below(router_keys.len() as u64) as usize);
        router_keys.push(random_key(&mut rng, gone.asn));
    }

    let mut aspas = snapshot.aspas.clone();
    let transit: Vec<u32> = aspas
        .iter()
        .flat_map(|a| a.providers.iter().copied())
        .filter(|&p| p != 0)
        .collect();
    for _ in 0..share(aspas.len()) {
        let i = rng.below(aspas.len() as u64) as usize;
        for _ in 0..8 {
            let changed = change_providers(&mut rng, &aspas[i], &transit);
            if changed != aspas[i] {
                aspas[i] = changed;
                break;
            }
        }
    }

    Snapshot::build(vrps, router_keys, aspas).0
}

/// The record with one provider swapped for another, or one added, or the
/// AS0 marker replaced by a real provider.
fn change_providers(rng: &mut Rng, a: &Aspa, transit: &[u32]) -> Aspa {
    let fresh = if transit.is_empty() {
        a.customer.wrapping_add(1).max(1)
    } else {
        transit[rng.below(transit.len() as u64) as usize]
    };
    let mut providers = a.providers.clone();
    if providers == [0] || (providers.len() > 1 && rng.chance(500)) {
        providers.remove(rng.below(providers.len() as u64) as usize);
    }
    if fresh != a.customer {
        providers.push(fresh);
    }
    if providers.is_empty() {
        providers.push(0);
    }
    Aspa::normalise(a.customer, providers)
}

//------------ to_rpki_client_json -------------------------------------------

const TAS: [&str; 5] = ["afrinic", "apnic", "arin", "lacnic", "ripe"];

/// The generated files have a fixed build time, 2025-01-01T00:00:00Z;
/// expiry times are spread after 2100-01-01T00:00:00Z, so that generated
/// data is served whenever it is used.
const EXPIRES: u64 = 4_102_444_800;

/// The snapshot as `rpki-client -j` writes it: a metadata block, one
/// compact line per ROA and ASPA, multi-line router keys, ASNs as numbers.
#[allow(clippy::too_many_lines)] // one writer for the whole file, section by section
pub fn to_rpki_client_json(snapshot: &Snapshot) -> String {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let mut s =
        String::with_capacity(100 * snapshot.vrps.len() + 400 * snapshot.router_keys.len() + 4096);
    let (roas, keys, aspas) = (
        snapshot.vrps.len(),
        snapshot.router_keys.len(),
        snapshot.aspas.len(),
    );
    let certs = roas / 4 + aspas + keys + 1;
    s.push_str("{\n\t\"metadata\": {\n");
    let _ = write!(
        s,
        "\t\t\"buildmachine\": \"testdata.rovd.example\",\n\
         \t\t\"buildtime\": \"2025-01-01T00:00:00Z\",\n\
         \t\t\"elapsedtime\": 301,\n\
         \t\t\"usertime\": 208,\n\
         \t\t\"systemtime\": 113,\n\
         \t\t\"roas\": {},\n\
         \t\t\"failedroas\": 0,\n\
         \t\t\"invalidroas\": 0,\n\
         \t\t\"aspas\": {aspas},\n\
         \t\t\"failedaspas\": 0,\n\
         \t\t\"invalidaspas\": 0,\n\
         \t\t\"bgpsec_pubkeys\": {keys},\n\
         \t\t\"certificates\": {certs},\n\
         \t\t\"invalidcertificates\": 0,\n\
         \t\t\"nonfunctionalcas\": 0,\n\
         \t\t\"taks\": 0,\n\
         \t\t\"tals\": 5,\n\
         \t\t\"invalidtals\": 0,\n\
         \t\t\"talfiles\": [\n",
        roas / 2,
    );
    for (i, ta) in TAS.iter().enumerate() {
        let comma = if i + 1 < TAS.len() { "," } else { "" };
        let _ = writeln!(s, "\t\t\t\"/etc/rpki/{ta}.tal\"{comma}");
    }
    let _ = write!(
        s,
        "\t\t],\n\
         \t\t\"manifests\": {certs},\n\
         \t\t\"failedmanifests\": 0,\n\
         \t\t\"crls\": {certs},\n\
         \t\t\"gbrs\": 0,\n\
         \t\t\"repositories\": {},\n\
         \t\t\"vrps\": {roas},\n\
         \t\t\"uniquevrps\": {roas},\n\
         \t\t\"vaps\": {aspas},\n\
         \t\t\"uniquevaps\": {aspas},\n\
         \t\t\"cachedir_new_files\": 0,\n\
         \t\t\"cachedir_del_files\": 0,\n\
         \t\t\"cachedir_del_dirs\": 0,\n\
         \t\t\"cachedir_superfluous_files\": 0,\n\
         \t\t\"cachedir_del_superfluous_files\": 0\n\
         \t}},\n",
        certs / 30 + 1,
    );

    s.push_str("\t\"roas\": [\n");
    for (i, v) in snapshot.vrps.iter().enumerate() {
        let h = mix(u64::from(v.asn));
        let _ = write!(
            s,
            "{}\t\t{{ \"asn\": {}, \"prefix\": \"{}\", \"maxLength\": {}, \"ta\": \"{}\", \"expires\": {} }}",
            if i == 0 { "" } else { ",\n" },
            v.asn,
            v.prefix,
            v.max_len,
            TAS[(h % 5) as usize],
            EXPIRES + 3600 * 8 + (h >> 8) % 86_400,
        );
    }
    s.push_str("\n\t],\n\t\"bgpsec_keys\": [\n");
    for (i, k) in snapshot.router_keys.iter().enumerate() {
        let mut ski = String::with_capacity(40);
        for b in k.ski {
            let _ = write!(ski, "{b:02X}");
        }
        let _ = write!(
            s,
            "{}\t\t{{\n\t\t\t\"asn\": {},\n\t\t\t\"ski\": \"{ski}\",\n\t\t\t\"pubkey\": \"{}\",\n\
             \t\t\t\"ta\": \"{}\",\n\t\t\t\"expires\": {}\n\t\t}}",
            if i == 0 { "" } else { ",\n" },
            k.asn,
            b64.encode(&k.spki),
            TAS[k.asn as usize % 5],
            EXPIRES + 86_400,
        );
    }
    s.push_str("\n\t],\n\t\"nonfunc_cas\": [\n\t],\n\t\"aspas\": [\n");
    for (i, a) in snapshot.aspas.iter().enumerate() {
        let _ = write!(
            s,
            "{}\t\t{{ \"customer_asid\": {}, \"expires\": {}, \"providers\": [ ",
            if i == 0 { "" } else { ",\n" },
            a.customer,
            EXPIRES + 7200 + u64::from(a.customer) % 86_400,
        );
        for (j, p) in a.providers.iter().enumerate() {
            let _ = write!(s, "{}{p}", if j == 0 { "" } else { ", " });
        }
        s.push_str(" ] }");
    }
    s.push_str("\n\t]\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::Delta;
    use crate::validator::input::{self, Format};

    fn tiny() -> Spec {
        Spec {
            vrps: 5_000,
            v6_percent: 22,
            asns: 800,
            router_keys: 5,
            aspas: 60,
            seed: 7,
        }
    }

    #[test]
    fn same_seed_same_data() {
        let spec = tiny();
        assert_eq!(generate(&spec), generate(&spec));
        let other = generate(&Spec {
            seed: 8,
            ..spec.clone()
        });
        assert_ne!(generate(&spec), other);
        let s = generate(&spec);
        assert_eq!(mutate(&s, 1.0, 3), mutate(&s, 1.0, 3));
        assert_ne!(mutate(&s, 1.0, 3), mutate(&s, 1.0, 4));
    }

    #[test]
    fn counts_and_shapes() {
        let s = generate(&Spec::small());
        assert_eq!(s.vrps.len(), 30_000);
        assert_eq!(s.router_keys.len(), 4);
        assert_eq!(s.aspas.len(), 100);
        assert_eq!(
            Snapshot::build(s.vrps.clone(), s.router_keys.clone(), s.aspas.clone()).0,
            s
        );

        let v6 = s.vrps.iter().filter(|v| v.prefix.is_v6()).count();
        assert!((5_700..=7_500).contains(&v6), "{v6} IPv6");
        let (v4, six): (Vec<&Vrp>, Vec<&Vrp>) = s.vrps.iter().partition(|v| !v.prefix.is_v6());
        let slash24 = v4.iter().filter(|v| v.prefix.len() == 24).count();
        assert!(slash24 * 2 > v4.len(), "{slash24} of {} are /24", v4.len());
        assert!(v4.iter().all(|v| (8..=24).contains(&v.prefix.len())));
        let mid = six
            .iter()
            .filter(|v| (32..=48).contains(&v.prefix.len()))
            .count();
        assert!(
            mid * 10 > six.len() * 8,
            "{mid} of {} in /32-/48",
            six.len()
        );
        let ranged = s.vrps.iter().filter(|v| v.max_len > v.prefix.len()).count();
        assert!((2_000..=4_000).contains(&ranged), "{ranged} ranged");
        let as0 = s.vrps.iter().filter(|v| v.asn == 0).count();
        assert!((30..=200).contains(&as0), "{as0} AS0");
        let origins: HashSet<u32> = s.vrps.iter().map(|v| v.asn).collect();
        assert!(
            origins.len() > 1_000 && origins.len() <= 5_001,
            "{} origins",
            origins.len()
        );

        for k in &s.router_keys {
            assert_eq!(k.spki.len(), 91);
            assert_eq!(k.spki[..27], P256_SPKI_PREFIX);
        }
        assert!(s.aspas.iter().all(|a| (1..=8).contains(&a.providers.len())));
        assert!(s.aspas.iter().all(|a| !a.providers.contains(&a.customer)));
        assert!(s.aspas.iter().any(|a| a.providers == [0]));
        assert!(s.aspas.iter().any(|a| a.providers.len() >= 3));
    }

    #[test]
    fn json_round_trip() {
        let s = generate(&tiny());
        let text = to_rpki_client_json(&s);
        assert!(text.starts_with("{\n\t\"metadata\": {\n\t\t\"buildmachine\""));
        let (p, rej) = input::read(text.as_bytes(), Format::RpkiClient).unwrap();
        assert_eq!(rej.count, 0, "{:?}", rej.first);
        let vrps: Vec<_> = p.vrps.into_iter().map(|t| t.item).collect();
        let keys = p.router_keys.into_iter().map(|t| t.item).collect();
        let aspas = p.aspas.into_iter().map(|t| t.item).collect();
        assert_eq!(vrps, s.vrps);
        assert_eq!(Snapshot::build(vrps, keys, aspas).0, s);
    }

    #[test]
    fn mutate_changes_every_kind() {
        let s = generate(&tiny());
        let m = mutate(&s, 2.0, 11);
        let d = Delta::between(&s, &m);
        let (a, w) = (&d.announce, &d.withdraw);
        assert!(
            (60..=200).contains(&a.vrps.len()),
            "{} announced",
            a.vrps.len()
        );
        assert!(
            (60..=200).contains(&w.vrps.len()),
            "{} withdrawn",
            w.vrps.len()
        );
        // Some withdrawals are max-length changes of the same prefix.
        assert!(w.vrps.iter().any(|o| a
            .vrps
            .iter()
            .any(|n| n.prefix == o.prefix && n.max_len != o.max_len)));
        assert_eq!((a.router_keys.len(), w.router_keys.len()), (1, 1));
        assert_eq!(m.router_keys.len(), s.router_keys.len());
        assert!(!w.aspas.is_empty());
        assert!(a
            .aspas
            .iter()
            .all(|n| w.aspas.iter().any(|o| o.customer == n.customer)));
        assert_eq!(m.aspas.len(), s.aspas.len());

        assert_eq!(mutate(&s, 0.0, 1), s);
        let empty = Snapshot::default();
        assert!(mutate(&empty, 5.0, 1).is_empty());
    }
}
