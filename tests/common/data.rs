//! Test data: a small deterministic generator of rpki-client JSON, and the
//! table a router should end up with for that JSON at each protocol version,
//! computed here from the JSON text alone.

// Draws below small bounds and numbers from JSON this harness wrote: every
// cast is bounded. The generator builds one data set top to bottom.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::too_many_lines
)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::rtr::{mask, RouterKey, Table, Vrp};

/// 2100-01-01T00:00:00Z: far enough that nothing generated expires.
pub(crate) const FAR_FUTURE: u64 = 4_102_444_800;

/// DER prefix of a P-256 SubjectPublicKeyInfo (RFC 5480) up to and
/// including the uncompressed-point marker; 64 octets of point follow, 91
/// in all — the only SPKI size rtrlib 0.8 accepts.
const P256_SPKI_HEAD: &str = "3059301306072a8648ce3d020106082a8648ce3d03010703420004";

/// splitmix64: a deterministic stream, so a failing run can be replayed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

//------------ Data -----------------------------------------------------------

#[derive(Clone, Debug)]
pub(crate) struct Roa {
    pub asn: u32,
    pub addr: IpAddr,
    pub len: u8,
    pub max_len: u8,
    pub ta: &'static str,
}

#[derive(Clone, Debug)]
pub(crate) struct Key {
    pub asn: u32,
    pub ski: [u8; 20],
    pub spki: Vec<u8>,
}

#[derive(Clone, Debug)]
pub(crate) struct AspaObject {
    pub customer: u32,
    pub providers: Vec<u32>,
}

/// The contents of one rpki-client JSON file.
#[derive(Clone, Debug)]
pub(crate) struct Data {
    pub roas: Vec<Roa>,
    pub keys: Vec<Key>,
    pub aspas: Vec<AspaObject>,
}

const TAS: [&str; 5] = ["afrinic", "apnic", "arin", "lacnic", "ripe"];

fn asn(rng: &mut Rng) -> u32 {
    match rng.below(10) {
        0 => 0,
        1..=4 => 64_496 + rng.below(32) as u32,
        5..=7 => 1 + rng.below(65_000) as u32,
        _ => 131_072 + rng.below(4_000_000_000) as u32,
    }
}

fn max_len(rng: &mut Rng, len: u8, bits: u8) -> u8 {
    if rng.below(3) == 0 {
        len + rng.below(u64::from(bits - len) + 1) as u8
    } else {
        len
    }
}

fn spki(rng: &mut Rng) -> Vec<u8> {
    let mut v = unhex(P256_SPKI_HEAD);
    v.extend((0..64).map(|_| rng.next() as u8));
    assert_eq!(v.len(), 91);
    v
}

impl Data {
    /// `n4` IPv4 and `n6` IPv6 ROA entries (with some repeats, AS0 and
    /// max length above length among them), three router keys, and ASPA
    /// objects covering the merge rules.
    pub(crate) fn generate(seed: u64, n4: usize, n6: usize) -> Data {
        let mut rng = Rng::new(seed);
        let mut roas = Vec::new();
        for _ in 0..n4 {
            let len = 8 + rng.below(17) as u8;
            let first = 1 + rng.below(223) as u32;
            let raw = Ipv4Addr::from((first << 24) | (rng.next() as u32 & 0x00ff_ffff));
            let addr = mask(IpAddr::V4(raw), len);
            let max_len = max_len(&mut rng, len, 32);
            roas.push(Roa {
                asn: asn(&mut rng),
                addr,
                len,
                max_len,
                ta: TAS[rng.below(5) as usize],
            });
        }
        for _ in 0..n6 {
            let len = 16 + rng.below(33) as u8;
            let raw = (0x2000u128 + u128::from(rng.below(0x2000))) << 112
                | (u128::from(rng.next()) << 48);
            let addr = mask(IpAddr::V6(Ipv6Addr::from(raw)), len);
            let max_len = max_len(&mut rng, len, 64.max(len));
            roas.push(Roa {
                asn: asn(&mut rng),
                addr,
                len,
                max_len,
                ta: TAS[rng.below(5) as usize],
            });
        }
        // The same VRP from another trust anchor, and the same prefix for a
        // second origin and a second max length.
        for i in (0..roas.len()).step_by(97) {
            let mut r = roas[i].clone();
            r.ta = "ripe";
            roas.push(r.clone());
            r.asn = r.asn.wrapping_add(1).max(1);
            roas.push(r.clone());
            let bits = if r.addr.is_ipv4() { 32 } else { 128 };
            if r.max_len < bits {
                r.max_len += 1;
                roas.push(r);
            }
        }
        roas.push(Roa {
            asn: 0,
            addr: "192.0.2.0".parse().unwrap(),
            len: 24,
            max_len: 32,
            ta: "arin",
        });
        roas.push(Roa {
            asn: 0,
            addr: "2001:db8::".parse().unwrap(),
            len: 32,
            max_len: 128,
            ta: "ripe",
        });

        // One key for two ASes, and a second key for the first AS.
        let ski1: [u8; 20] = std::array::from_fn(|_| rng.next() as u8);
        let ski2: [u8; 20] = std::array::from_fn(|_| rng.next() as u8);
        let spki1 = spki(&mut rng);
        let keys = vec![
            Key {
                asn: 64_496,
                ski: ski1,
                spki: spki1.clone(),
            },
            Key {
                asn: 4_200_000_001,
                ski: ski1,
                spki: spki1,
            },
            Key {
                asn: 64_496,
                ski: ski2,
                spki: spki(&mut rng),
            },
        ];

        let aspas = vec![
            AspaObject {
                customer: 64_496,
                providers: vec![64_498, 64_497],
            },
            // AS0 alone: "no providers".
            AspaObject {
                customer: 64_500,
                providers: vec![0],
            },
            // Two objects for one customer: the union, AS0 dropped.
            AspaObject {
                customer: 64_501,
                providers: vec![64_511, 64_510],
            },
            AspaObject {
                customer: 64_501,
                providers: vec![64_512, 0, 64_511],
            },
            AspaObject {
                customer: 4_200_000_001,
                providers: vec![4_200_000_002, 65_000, 3_356],
            },
            AspaObject {
                customer: 65_550,
                providers: vec![174],
            },
        ];
        Data { roas, keys, aspas }
    }

    /// rpki-client's JSON output format.
    pub(crate) fn to_json(&self) -> String {
        let roas: Vec<Value> = self
            .roas
            .iter()
            .map(|r| {
                json!({
                    "asn": r.asn,
                    "prefix": format!("{}/{}", r.addr, r.len),
                    "maxLength": r.max_len,
                    "ta": r.ta,
                    "expires": FAR_FUTURE,
                })
            })
            .collect();
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| {
                json!({
                    "asn": k.asn,
                    "ski": super::rtr::hex(&k.ski),
                    "pubkey": base64(&k.spki),
                    "ta": "ripe",
                    "expires": FAR_FUTURE,
                })
            })
            .collect();
        let aspas: Vec<Value> = self
            .aspas
            .iter()
            .map(|a| json!({"customer_asid": a.customer, "expires": FAR_FUTURE, "providers": a.providers}))
            .collect();
        let doc = json!({
            "metadata": {
                "buildmachine": "test.example.net",
                "buildtime": "2026-01-01T00:00:00Z",
                "generated": 1_767_225_600u64,
                "roas": self.roas.len(),
                "vrps": self.roas.len(),
                "bgpsec_pubkeys": self.keys.len(),
                "vaps": self.aspas.len(),
            },
            "roas": roas,
            "bgpsec_keys": keys,
            "aspas": aspas,
        });
        serde_json::to_string_pretty(&doc).unwrap()
    }

    /// The change the update tests make: VRPs added and withdrawn, one max
    /// length changed, one ASPA provider set changed, one ASPA added, one
    /// router key removed.
    pub(crate) fn updated(&self) -> Data {
        let mut d = self.clone();
        let mut rng = Rng::new(0x5eed);
        // Withdraw: drop every entry for a handful of VRPs.
        let gone: Vec<(IpAddr, u8, u8, u32)> = (0..5)
            .map(|i| &d.roas[10 + i * 31])
            .map(|r| (r.addr, r.len, r.max_len, r.asn))
            .collect();
        d.roas
            .retain(|r| !gone.contains(&(r.addr, r.len, r.max_len, r.asn)));
        // Change a max length: every entry of one VRP, so the old one goes.
        let pick = d
            .roas
            .iter()
            .position(|r| r.addr.is_ipv4() && r.max_len < 32)
            .unwrap();
        let old = d.roas[pick].clone();
        for r in &mut d.roas {
            if (r.addr, r.len, r.max_len, r.asn) == (old.addr, old.len, old.max_len, old.asn) {
                r.max_len += 1;
            }
        }
        // Add.
        for i in 0..7u32 {
            let addr = IpAddr::V4(Ipv4Addr::from(0xc633_6400 + (i << 4)));
            d.roas.push(Roa {
                asn: 64_600 + i,
                addr,
                len: 28,
                max_len: 28 + (i % 5) as u8,
                ta: "lacnic",
            });
        }
        let addr: IpAddr = format!("2001:db8:{:x}::", 0x100 + rng.below(0xff))
            .parse()
            .unwrap();
        d.roas.push(Roa {
            asn: 65_551,
            addr,
            len: 48,
            max_len: 56,
            ta: "apnic",
        });
        // ASPA: new provider set, a new customer.
        d.aspas[0].providers = vec![64_497, 64_499, 1299];
        d.aspas.push(AspaObject {
            customer: 65_552,
            providers: vec![6939, 3356],
        });
        // Router key removed.
        d.keys.remove(1);
        d
    }
}

//------------ Expected table -------------------------------------------------

/// The table a router at `version` should hold for rpki-client JSON `text`:
/// VRPs deduplicated; router keys from v1 (RFC 8210); ASPA from v2, one
/// record per customer with the union of its providers, sorted, AS0 only
/// when it is the sole provider (8210bis-27 §5.12). Expired entries are
/// not served.
pub(crate) fn expected(text: &str, version: u8) -> Table {
    let doc: Value = serde_json::from_str(text).expect("test JSON");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let live = |v: &Value| {
        v.get("expires")
            .and_then(Value::as_u64)
            .is_none_or(|e| e > now)
    };
    let items = |key: &str| -> Vec<Value> {
        doc.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter(|v| live(v)).cloned().collect())
            .unwrap_or_default()
    };
    let num =
        |v: &Value, key: &str| -> u64 { v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}")) };
    let mut table = Table::default();
    for roa in items("roas") {
        let prefix = roa["prefix"].as_str().unwrap();
        let (addr, len) = prefix.split_once('/').unwrap();
        let addr: IpAddr = addr.parse().unwrap();
        let len: u8 = len.parse().unwrap();
        assert_eq!(mask(addr, len), addr, "test data: host bits in {prefix}");
        let max_len = roa
            .get("maxLength")
            .and_then(Value::as_u64)
            .map_or(len, |m| m as u8);
        table.vrps.insert(Vrp {
            addr,
            len,
            max_len,
            asn: num(&roa, "asn") as u32,
        });
    }
    if version >= 1 {
        for key in items("bgpsec_keys") {
            let ski = unhex(key["ski"].as_str().unwrap());
            table.keys.insert(RouterKey {
                ski: ski.try_into().expect("20-octet SKI"),
                asn: num(&key, "asn") as u32,
                spki: unbase64(key["pubkey"].as_str().unwrap()),
            });
        }
    }
    if version >= 2 {
        let mut merged: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for aspa in items("aspas") {
            let providers = aspa["providers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_u64().unwrap() as u32);
            merged
                .entry(num(&aspa, "customer_asid") as u32)
                .or_default()
                .extend(providers);
        }
        for (customer, mut providers) in merged {
            providers.sort_unstable();
            providers.dedup();
            if providers.len() > 1 {
                providers.retain(|&p| p != 0);
            }
            table.aspas.insert(customer, providers);
        }
    }
    table
}

//------------ Encodings ------------------------------------------------------

pub(crate) fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) fn unbase64(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = B64
            .iter()
            .position(|&b| b == c)
            .unwrap_or_else(|| panic!("base64: {s}"));
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[test]
fn base64_round_trip() {
    for n in 0..10 {
        let data: Vec<u8> = (0..n).map(|i| (i * 37 + 5) as u8).collect();
        assert_eq!(unbase64(&base64(&data)), data);
    }
    assert_eq!(base64(b"foob"), "Zm9vYg==");
}
