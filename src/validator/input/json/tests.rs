//! Tests of the JSON reader: a golden file of each producer's shape, odd
//! but valid files, every way an item is rejected and the reason given,
//! and the files rejected as a whole.

// Tables of cases are long by nature.
#![allow(clippy::too_many_lines)]

use super::*;
use crate::validator::input::{self, read, FIRST_REASONS};

macro_rules! fixture {
    ($name:literal) => {
        &include_bytes!(concat!("../../../../tests/fixtures/inputs/", $name))[..]
    };
}

const SPKI_B64: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QA==";
const SKI: &str = "5D4250E2D81D4448D8A29EFCE91D29FF075EC9E2";

/// A P-256 SubjectPublicKeyInfo with the given point coordinates.
fn spki(point: impl Iterator<Item = u8>) -> Box<[u8]> {
    let mut v = vec![
        0x30, 0x59, // SEQUENCE, 89
        0x30, 0x13, // SEQUENCE, 19
        0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // id-ecPublicKey
        0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, // prime256v1
        0x03, 0x42, 0x00, // BIT STRING, 66, no unused bits
        0x04, // uncompressed point
    ];
    v.extend(point);
    assert_eq!(v.len(), 91);
    v.into_boxed_slice()
}

/// The key of `SPKI_B64`: `...PT4/QA==` in base64, `...PT4_QA` in
/// base64url.
fn spki_a() -> Box<[u8]> {
    spki(1..=64)
}

/// A key whose base64 has both '+' and '/'.
fn spki_b() -> Box<[u8]> {
    spki((0xbc..=0xfb).rev())
}

fn ski(hex: &str) -> [u8; 20] {
    item::parse_ski(hex).unwrap()
}

fn v4(s: &str, len: u8, max: u8, asn: u32) -> Vrp {
    Vrp::new(Prefix::v4(s.parse().unwrap(), len).unwrap(), max, asn).unwrap()
}

fn v6(s: &str, len: u8, max: u8, asn: u32) -> Vrp {
    Vrp::new(Prefix::v6(s.parse().unwrap(), len).unwrap(), max, asn).unwrap()
}

fn until<T>(item: T, t: u64) -> Timed<T> {
    Timed::new(item, Some(t))
}

fn always<T>(item: T) -> Timed<T> {
    Timed::new(item, None)
}

fn aspa(customer: u32, providers: &[u32]) -> Aspa {
    Aspa {
        customer,
        providers: providers.to_vec(),
    }
}

fn read_as(bytes: &[u8], format: Format) -> (input::Payloads, Rejected) {
    read(bytes, format).unwrap_or_else(|e| panic!("{e}"))
}

fn read_str(s: &str) -> (input::Payloads, Rejected) {
    read_as(s.as_bytes(), Format::Auto)
}

/// The reason for the single rejected item of an array.
fn one_bad(array: &str, item: &str) -> String {
    let (_, rej) = read_str(&format!("{{\"{array}\": [{item}]}}"));
    assert_eq!(rej.count, 1, "{item}");
    rej.first[0].clone()
}

//--- Golden files, one per shape

#[test]
fn rpki_client() {
    for format in [Format::Auto, Format::RpkiClient, Format::Stayrtr] {
        let (p, rej) = read_as(fixture!("rpki-client.json"), format);
        assert_eq!(rej, Rejected::default());
        assert_eq!(
            p.vrps,
            [
                until(v4("1.0.0.0", 24, 24, 13335), 1_735_718_400),
                until(v4("192.0.2.0", 24, 28, 64496), 1_735_722_000),
                until(v4("198.51.100.0", 24, 32, 0), 1_735_725_600),
                until(v6("2001:db8::", 32, 48, 64497), 1_735_729_200),
                // Duplicates are kept: the snapshot removes them.
                until(v6("2001:db8::", 32, 48, 64497), 1_735_729_200),
            ]
        );
        let keys = [
            until(
                RouterKey {
                    ski: ski("5D4250E2D81D4448D8A29EFCE91D29FF075EC9E2"),
                    asn: 64496,
                    spki: spki_a(),
                },
                1_735_776_000,
            ),
            until(
                RouterKey {
                    ski: ski("BE889B55D0B737397D75C49F485B858FA98AD11F"),
                    asn: 64497,
                    spki: spki_b(),
                },
                1_735_776_001,
            ),
        ];
        assert_eq!(p.router_keys, keys);
        assert_eq!(
            p.aspas,
            [
                until(aspa(64496, &[64498, 64499]), 1_735_696_800),
                until(aspa(64501, &[0]), 1_735_696_801),
            ]
        );
        // 2025-01-01T00:00:00Z
        assert_eq!(p.generated, Some(1_735_689_600));
    }
}

#[test]
fn rpki_client_8_4_provider_authorizations() {
    let (p, rej) = read_as(fixture!("rpki-client-8.4.json"), Format::RpkiClient);
    assert_eq!(rej, Rejected::default());
    assert_eq!(
        p.vrps,
        [
            until(v4("1.178.112.0", 20, 20, 12975), 1_683_277_596),
            until(v6("2001:db8:100::", 40, 48, 702), 1_683_277_597),
        ]
    );
    assert!(p.router_keys.is_empty());
    assert_eq!(
        p.aspas,
        [
            until(aspa(28, &[25377, 41106]), 1_683_277_596),
            until(aspa(28, &[15987]), 1_683_272_548),
        ]
    );
    assert_eq!(p.generated, Some(1_683_211_927));
}

#[test]
fn stayrtr() {
    let (p, rej) = read_as(fixture!("stayrtr.json"), Format::Stayrtr);
    // metadata.valid comes last and still caps every item.
    let valid = 1_643_864_200;
    assert_eq!(
        p.vrps,
        [
            until(v4("10.0.0.0", 8, 24, 4_242_420_916), valid),
            until(v6("fd00:1234::", 32, 64, 4_242_421_171), valid),
            until(v4("172.20.0.0", 14, 28, 64511), 1_643_800_000),
        ]
    );
    assert_eq!(
        p.router_keys,
        [until(
            RouterKey {
                ski: ski("c0ffee00112233445566778899aabbccddeeff00"),
                asn: 64496,
                spki: spki_a(),
            },
            valid
        )]
    );
    assert_eq!(p.aspas, [until(aspa(64497, &[64500]), 1_643_500_000)]);
    assert_eq!(p.generated, Some(1_643_432_200));
    assert_eq!(rej.count, 2);
    assert_eq!(
        rej.first,
        [
            "roas[3]: asn is not an AS number: \"AS\"",
            "aspas[0]: customer AS64496 listed as its own provider",
        ]
    );
}

#[test]
fn routinator() {
    for format in [Format::Auto, Format::Routinator] {
        let (p, rej) = read_as(fixture!("routinator.json"), format);
        assert_eq!(rej, Rejected::default());
        assert_eq!(
            p.vrps,
            [
                always(v4("93.175.147.0", 24, 24, 196_615)),
                always(v6("2001:7fb:fd03::", 48, 48, 196_615)),
            ]
        );
        assert_eq!(
            p.router_keys,
            [always(RouterKey {
                ski: ski("0A1B2C3D4E5F60718293A4B5C6D7E8F901234567"),
                asn: 211_321,
                spki: spki_b(),
            })]
        );
        assert_eq!(p.aspas, [always(aspa(64496, &[64499, 64511, 65551]))]);
        assert_eq!(p.generated, Some(1_685_455_841));
    }
}

#[test]
fn routinator_jsonext() {
    let (p, rej) = read_as(fixture!("routinator-jsonext.json"), Format::Routinator);
    assert_eq!(rej, Rejected::default());
    assert_eq!(p.vrps, [always(v4("185.49.142.0", 24, 24, 211_321))]);
    assert_eq!(
        p.router_keys,
        [always(RouterKey {
            ski: ski("0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"),
            asn: 211_321,
            spki: spki_a(),
        })]
    );
    assert_eq!(p.aspas, [always(aspa(64496, &[64499]))]);
    assert_eq!(p.generated, Some(1_658_818_561));
}

#[test]
fn rtrtr() {
    let (p, rej) = read_as(fixture!("rtrtr.json"), Format::Rtrtr);
    assert_eq!(rej, Rejected::default());
    assert_eq!(
        p.vrps,
        [
            always(v6("fd00:1234::", 32, 48, 42)),
            always(v4("192.0.2.0", 24, 24, 4_200_000_000)),
        ]
    );
    assert!(p.router_keys.is_empty());
    assert_eq!(
        p.aspas,
        [always(aspa(42, &[44, 45])), always(aspa(45, &[46]))]
    );
    assert_eq!(p.generated, None);
}

#[test]
fn demo_file_is_clean() {
    let (p, rej) = read_as(
        include_bytes!("../../../../etc/demo/rpki-client.json"),
        Format::Auto,
    );
    assert_eq!(rej.count, 0, "{:?}", rej.first);
    assert_eq!(
        (p.vrps.len(), p.router_keys.len(), p.aspas.len()),
        (40, 2, 3)
    );
    assert_eq!(p.vrps.iter().filter(|v| v.item.asn == 0).count(), 1);
    assert!(p.vrps.iter().all(|v| v.expires().is_some()));
    assert!(p.router_keys.iter().all(|k| k.item.spki.len() == 91));
    assert_eq!(p.generated, Some(1_767_268_800));
}

#[test]
fn generated_data_round_trip() {
    use crate::payload::Snapshot;
    use crate::testdata::{generate, to_rpki_client_json, Spec};

    /// A reader that hands over one octet at a time.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    let s = generate(&Spec {
        vrps: 3_000,
        v6_percent: 22,
        asns: 500,
        router_keys: 5,
        aspas: 40,
        seed: 9,
    });
    let text = to_rpki_client_json(&s);
    let (p, rej) = read_as(text.as_bytes(), Format::RpkiClient);
    assert_eq!(rej.count, 0, "{:?}", rej.first);
    assert!(p.vrps.iter().all(|v| v.expires().is_some()));
    let untimed = |p: input::Payloads| {
        Snapshot::build(
            p.vrps.into_iter().map(|t| t.item).collect(),
            p.router_keys.into_iter().map(|t| t.item).collect(),
            p.aspas.into_iter().map(|t| t.item).collect(),
        )
        .0
    };
    assert_eq!(untimed(p), s);

    // The same through a reader that hands over one octet at a time.
    let (p, rej) = read(Trickle(text.as_bytes()), Format::Auto).unwrap();
    assert_eq!(rej.count, 0);
    assert_eq!(untimed(p), s);
}

//--- Odd but valid

#[test]
fn lenient_shapes() {
    let text = format!(
        r#"{{
	"roas": [
		{{ "asn": "AS64496", "prefix": "192.0.2.0/24", "maxLength": 28, "future": {{ "x": [1, 2] }} }},
		{{ "asn": "as64497", "prefix": "2001:DB8::/32", "maxLength": 48 }},
		{{ "asn": "0", "prefix": "198.51.100.0/24", "maxLength": 32 }},
		{{ "prefix": "0.0.0.0/0", "maxLength": 0, "asn": 4294967295 }},
		{{ "asn": 1, "prefix": "\u0032001:db8:1::/48", "maxLength": 48, "asn": 2 }},
		{{ "asn": 1, "prefix": "10.0.0.0/8", "maxLength": 8, "expires": 0 }}
	],
	"bgpsec_keys": [
		{{ "asn": "AS64497", "ski": "be889b55d0b737397d75c49f485b858fa98ad11f", "pubkey": "{}" }}
	],
	"routerKeys": [
		{{ "asn": 64498, "SKI": "{SKI}", "routerPublicKey": "{SPKI_B64}" }}
	],
	"aspas": [
		{{ "customer": "AS64497", "providers": [ "AS64500", 0, "64500" ] }},
		{{ "customer_asid": 5, "customer": 6, "providers": [ 7 ] }}
	],
	"something_new": [ {{ "a": 1 }} ],
	"metadata": "not an object"
}}"#,
        SPKI_B64.trim_end_matches('=')
    );
    let (p, rej) = read_str(&text);
    assert_eq!(rej, Rejected::default());
    assert_eq!(
        p.vrps,
        [
            always(v4("192.0.2.0", 24, 28, 64496)),
            always(v6("2001:db8::", 32, 48, 64497)),
            always(v4("198.51.100.0", 24, 32, 0)),
            always(v4("0.0.0.0", 0, 0, u32::MAX)),
            always(v6("2001:db8:1::", 48, 48, 2)),
            until(v4("10.0.0.0", 8, 8, 1), 0),
        ]
    );
    let asns: Vec<u32> = p.router_keys.iter().map(|k| k.item.asn).collect();
    assert_eq!(asns, [64497, 64498]);
    assert!(p.router_keys.iter().all(|k| k.item.spki == spki_a()));
    assert_eq!(
        p.aspas,
        [
            always(aspa(64497, &[64500, 0, 64500])),
            always(aspa(5, &[7]))
        ]
    );
    assert_eq!(p.generated, None);
}

#[test]
fn missing_arrays_are_empty() {
    for text in [
        r#"{"roas": []}"#,
        r#"{"metadata": {}, "aspas": []}"#,
        r#"{"routerKeys": []}"#,
        r#"{"provider_authorizations": {}}"#,
    ] {
        let (p, rej) = read_str(text);
        assert_eq!(p, input::Payloads::default());
        assert_eq!(rej.count, 0);
    }
}

#[test]
fn no_arrays_at_all_is_not_a_payload_file() {
    let slurm = r#"{
  "slurmVersion": 1,
  "validationOutputFilters": { "prefixFilters": [], "bgpsecFilters": [] },
  "locallyAddedAssertions": {
    "prefixAssertions": [ { "asn": 64496, "prefix": "198.51.100.0/24" } ],
    "bgpsecAssertions": []
  }
}"#;
    for text in [slurm, "{}", r#"{"metadata": {"vrps": 0}}"#] {
        let e = read(text.as_bytes(), Format::Auto).unwrap_err();
        assert_eq!(
            e.reason,
            "no roas, bgpsec_keys, routerKeys or aspas: not a payload file"
        );
    }
    let e = read(slurm.as_bytes(), Format::Auto).unwrap_err();
    assert_eq!((e.line, e.column), (8, Some(1)));
}

#[test]
fn metadata_times() {
    let generated = |meta: &str| {
        read_str(&format!(r#"{{"metadata": {meta}, "roas": []}}"#))
            .0
            .generated
    };
    assert_eq!(
        generated(r#"{"buildtime": "2021-07-27T18:56:02Z"}"#),
        Some(1_627_412_162)
    );
    assert_eq!(
        generated(r#"{"generatedTime": "2023-05-30T14:10:41Z"}"#),
        Some(1_685_455_841)
    );
    assert_eq!(
        generated(r#"{"generatedTime": "2023-05-30T14:10:41Z", "generated": 7}"#),
        Some(7)
    );
    assert_eq!(generated(r#"{"buildtime": "yesterday"}"#), None);
    assert_eq!(generated(r#"{"generated": "1685455841"}"#), None);
    assert_eq!(generated(r#"{"generated": -1}"#), None);
    // A count too large to believe sizes nothing ahead.
    let (p, _) = read_str(
        r#"{"metadata": {"uniquevrps": 99999999999}, "roas": [{"asn": 1, "prefix": "10.0.0.0/8", "maxLength": 8}]}"#,
    );
    assert_eq!(p.vrps.len(), 1);
    // valid caps the items' own times.
    let (p, _) = read_str(
        r#"{"roas": [{"asn": 1, "prefix": "10.0.0.0/8", "maxLength": 8, "expires": 50},
                         {"asn": 1, "prefix": "11.0.0.0/8", "maxLength": 8, "expires": 500},
                         {"asn": 1, "prefix": "12.0.0.0/8", "maxLength": 8}],
                "metadata": {"valid": 100}}"#,
    );
    let times: Vec<_> = p.vrps.iter().map(Timed::expires).collect();
    assert_eq!(times, [Some(50), Some(100), Some(100)]);
}

//--- Bad items

#[test]
fn bad_roas() {
    let cases = [
        (
            r#"{"asn": 1, "prefix": null, "maxLength": 24}"#,
            "roas[0]: prefix is null",
        ),
        (
            r#"{"asn": 1, "maxLength": 24}"#,
            "roas[0]: prefix is missing",
        ),
        (
            r#"{"asn": 1, "prefix": 17, "maxLength": 24}"#,
            "roas[0]: prefix is a number",
        ),
        (
            r#"{"asn": 1, "prefix": "10.0.0.0/33", "maxLength": 33}"#,
            "roas[0]: prefix length out of range in 10.0.0.0/33",
        ),
        (
            r#"{"asn": 1, "prefix": "2001:db8::/129", "maxLength": 129}"#,
            "roas[0]: prefix length out of range in 2001:db8::/129",
        ),
        (
            r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 23}"#,
            "roas[0]: maxLength 23 is shorter than the prefix length in 10.0.0.0/24",
        ),
        (
            r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 33}"#,
            "roas[0]: maxLength 33 exceeds the address length in 10.0.0.0/24",
        ),
        (
            r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 100000}"#,
            "roas[0]: maxLength 100000 exceeds the address length in 10.0.0.0/24",
        ),
        (
            r#"{"asn": 1, "prefix": "10.0.0.1/24", "maxLength": 24}"#,
            "roas[0]: host bits set in 10.0.0.1/24",
        ),
        (
            r#"{"asn": 1, "prefix": "2001:db8::1/64", "maxLength": 64}"#,
            "roas[0]: host bits set in 2001:db8::1/64",
        ),
        (
            r#"{"asn": 1, "prefix": "10.0.0.0/24"}"#,
            "roas[0]: maxLength is missing in 10.0.0.0/24",
        ),
        // A numeric string is not a number.
        (
            r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": "24"}"#,
            "roas[0]: maxLength is a string in 10.0.0.0/24",
        ),
        (
            r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": true}"#,
            "roas[0]: maxLength is a boolean in 10.0.0.0/24",
        ),
        (
            r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 24.5}"#,
            "roas[0]: maxLength is not an integer in 10.0.0.0/24",
        ),
        (
            r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 24.0}"#,
            "roas[0]: maxLength is not an integer in 10.0.0.0/24",
        ),
        (
            r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": -1}"#,
            "roas[0]: maxLength is a negative number in 10.0.0.0/24",
        ),
        (
            r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": [24]}"#,
            "roas[0]: maxLength is a list in 10.0.0.0/24",
        ),
        (
            r#"{"asn": 4294967296, "prefix": "10.0.0.0/24", "maxLength": 24}"#,
            "roas[0]: asn 4294967296 out of range",
        ),
        (
            r#"{"asn": "AS4294967296", "prefix": "10.0.0.0/24", "maxLength": 24}"#,
            "roas[0]: asn 4294967296 out of range",
        ),
        (
            r#"{"asn": 1e3, "prefix": "10.0.0.0/24", "maxLength": 24}"#,
            "roas[0]: asn is not an integer",
        ),
        (
            r#"{"asn": "AS", "prefix": "10.0.0.0/24", "maxLength": 24}"#,
            "roas[0]: asn is not an AS number: \"AS\"",
        ),
        (
            r#"{"asn": "AS-1", "prefix": "10.0.0.0/24", "maxLength": 24}"#,
            "roas[0]: asn is not an AS number: \"AS-1\"",
        ),
        (
            r#"{"asn": -5, "prefix": "10.0.0.0/24", "maxLength": 24}"#,
            "roas[0]: asn is a negative number",
        ),
        (
            r#"{"asn": {}, "prefix": "10.0.0.0/24", "maxLength": 24}"#,
            "roas[0]: asn is an object",
        ),
        (
            r#"{"prefix": "10.0.0.0/24", "maxLength": 24}"#,
            "roas[0]: asn is missing",
        ),
        (
            r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 24, "expires": -1}"#,
            "roas[0]: expires is a negative number",
        ),
        (
            r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 24, "expires": "1700000000"}"#,
            "roas[0]: expires is a string",
        ),
        (
            r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 24, "expires": null}"#,
            "roas[0]: expires is null",
        ),
        (
            r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 24, "expires": 1.5}"#,
            "roas[0]: expires is not an integer",
        ),
        (
            r#""10.0.0.0/24""#,
            "roas[0]: item is a string, not an object",
        ),
        (
            r#"[1, 2, {"a": 3}]"#,
            "roas[0]: item is a list, not an object",
        ),
        ("null", "roas[0]: item is null, not an object"),
        ("7", "roas[0]: item is a number, not an object"),
    ];
    for (item, want) in cases {
        assert_eq!(one_bad("roas", item), want, "{item}");
    }
    for prefix in [
        "10.0.0.0",
        "10.0.0/8",
        "10.0.0.0/",
        "10.0.0.0/+8",
        "10.0.0.0/0008",
        "x::/8",
        "10.0.0.0/8/8",
        " 10.0.0.0/8",
        "fe80::1%eth0/64",
    ] {
        let item = format!(r#"{{"asn": 1, "prefix": "{prefix}", "maxLength": 24}}"#);
        assert!(
            one_bad("roas", &item).starts_with("roas[0]: bad prefix syntax"),
            "{prefix}"
        );
    }
}

#[test]
fn bad_router_keys() {
    let cases = [
        (
            format!(
                r#"{{"asn": 1, "ski": "{}", "pubkey": "{SPKI_B64}"}}"#,
                &SKI[..38]
            ),
            "bgpsec_keys[0]: ski is not 20 octets of hex",
        ),
        (
            format!(r#"{{"asn": 1, "ski": "{SKI}00", "pubkey": "{SPKI_B64}"}}"#),
            "bgpsec_keys[0]: ski is not 20 octets of hex",
        ),
        (
            format!(
                r#"{{"asn": 1, "ski": "{}XY", "pubkey": "{SPKI_B64}"}}"#,
                &SKI[..38]
            ),
            "bgpsec_keys[0]: ski is not 20 octets of hex",
        ),
        (
            // base64 of 20 octets, as SLURM writes an SKI.
            format!(
                r#"{{"asn": 1, "ski": "XUJQ4tgdREjYop786R0p/wdeyeI=", "pubkey": "{SPKI_B64}"}}"#
            ),
            "bgpsec_keys[0]: ski is not 20 octets of hex",
        ),
        (
            format!(r#"{{"asn": 1, "ski": 5, "pubkey": "{SPKI_B64}"}}"#),
            "bgpsec_keys[0]: ski is a number",
        ),
        (
            format!(r#"{{"asn": 1, "ski": "{SKI}", "pubkey": "not base64!"}}"#),
            "bgpsec_keys[0]: pubkey is not base64 (",
        ),
        (
            format!(r#"{{"asn": 1, "ski": "{SKI}", "pubkey": "MFkw="}}"#),
            "bgpsec_keys[0]: pubkey is not base64 (",
        ),
        (
            format!(r#"{{"asn": 1, "ski": "{SKI}", "pubkey": "MFkw+_=="}}"#),
            "bgpsec_keys[0]: pubkey is not base64 (",
        ),
        (
            format!(r#"{{"asn": 1, "ski": "{SKI}", "pubkey": ""}}"#),
            "bgpsec_keys[0]: pubkey is empty",
        ),
        (
            // Three octets 01 02 03.
            format!(r#"{{"asn": 1, "ski": "{SKI}", "pubkey": "AQID"}}"#),
            "bgpsec_keys[0]: pubkey is not a DER SEQUENCE: tag 0x01",
        ),
        (
            // SEQUENCE of 89 octets cut short.
            format!(
                r#"{{"asn": 1, "ski": "{SKI}", "pubkey": "{}"}}"#,
                &SPKI_B64[..116]
            ),
            "bgpsec_keys[0]: pubkey is not a DER SEQUENCE: length octets say 89 octets, 85 follow",
        ),
        (
            format!(r#"{{"asn": 1, "ski": "{SKI}"}}"#),
            "bgpsec_keys[0]: pubkey is missing",
        ),
        (
            format!(r#"{{"ski": "{SKI}", "pubkey": "{SPKI_B64}"}}"#),
            "bgpsec_keys[0]: asn is missing",
        ),
        (
            format!(r#"{{"asn": "AS4294967296", "ski": "{SKI}", "pubkey": "{SPKI_B64}"}}"#),
            "bgpsec_keys[0]: asn 4294967296 out of range",
        ),
    ];
    for (item, want) in cases {
        let got = one_bad("bgpsec_keys", &item);
        assert!(got.starts_with(want), "{item}: {got}");
    }
    let got = one_bad(
        "routerKeys",
        &format!(r#"{{"asn": 1, "SKI": "{SKI}", "routerPublicKey": "%%"}}"#),
    );
    assert!(
        got.starts_with("routerKeys[0]: routerPublicKey is not base64 ("),
        "{got}"
    );
}

#[test]
fn named_formats_pin_the_key_encoding() {
    let (p, rej) = read_as(fixture!("rpki-client.json"), Format::Routinator);
    assert!(p.router_keys.is_empty());
    assert_eq!(rej.count, 2);
    assert!(
        rej.first[0].starts_with("bgpsec_keys[0]: pubkey is not unpadded base64url ("),
        "{:?}",
        rej.first
    );
    let (p, rej) = read_as(fixture!("routinator.json"), Format::RpkiClient);
    assert!(p.router_keys.is_empty());
    assert!(
        rej.first[0].starts_with("routerKeys[0]: routerPublicKey is not padded base64 ("),
        "{:?}",
        rej.first
    );
    // Unpadded base64 is fine for auto, not for rpki-client.
    let text = format!(
        r#"{{"bgpsec_keys": [{{"asn": 1, "ski": "{SKI}", "pubkey": "{}"}}]}}"#,
        SPKI_B64.trim_end_matches('=')
    );
    assert_eq!(
        read_as(text.as_bytes(), Format::Auto).0.router_keys.len(),
        1
    );
    assert_eq!(
        read_as(text.as_bytes(), Format::Rtrtr).0.router_keys.len(),
        1
    );
    assert_eq!(read_as(text.as_bytes(), Format::RpkiClient).1.count, 1);
}

#[test]
fn bad_aspas() {
    let cases = [
        (
            r#"{"customer_asid": 5, "providers": []}"#,
            "aspas[0]: empty providers for AS5",
        ),
        (
            r#"{"customer_asid": 5}"#,
            "aspas[0]: providers is missing for AS5",
        ),
        (
            r#"{"customer_asid": 5, "providers": 7}"#,
            "aspas[0]: providers is a number for AS5",
        ),
        (
            r#"{"customer_asid": 5, "providers": [1, 4294967296, "x"]}"#,
            "aspas[0]: providers[1]: provider 4294967296 out of range for AS5",
        ),
        (
            r#"{"customer_asid": 5, "providers": [{"provider_asid": 7}]}"#,
            "aspas[0]: providers[0]: provider is an object for AS5",
        ),
        (
            r#"{"customer_asid": 5, "providers": [6, 5]}"#,
            "aspas[0]: customer AS5 listed as its own provider",
        ),
        (
            r#"{"customer_asid": 0, "providers": [6]}"#,
            "aspas[0]: customer AS0 is not allowed",
        ),
        (r#"{"providers": [1]}"#, "aspas[0]: customer is missing"),
        (
            r#"{"customer_asid": "ASx", "providers": [1]}"#,
            "aspas[0]: customer_asid is not an AS number: \"ASx\"",
        ),
        (
            r#"{"customer": 4294967296, "providers": [1]}"#,
            "aspas[0]: customer 4294967296 out of range",
        ),
        (
            r#"{"customer": 5, "providers": [1], "expires": "soon"}"#,
            "aspas[0]: expires is a string",
        ),
        ("true", "aspas[0]: item is a boolean, not an object"),
    ];
    for (item, want) in cases {
        assert_eq!(one_bad("aspas", item), want, "{item}");
    }
    let (p, rej) = read_str(
        r#"{"provider_authorizations": {
                "ipv4": [ { "customer_asid": 5, "providers": [ 7 ] } ],
                "ipv6": [ { "customer_asid": 5, "providers": [ 0 ] }, { "customer_asid": 6, "providers": [] } ],
                "ipv8": 17
            }}"#,
    );
    assert_eq!(p.aspas, [always(aspa(5, &[7])), always(aspa(5, &[0]))]);
    assert_eq!(
        rej.first,
        ["provider_authorizations.ipv6[1]: empty providers for AS6"]
    );
}

#[test]
fn bad_items_do_not_spoil_the_rest() {
    let mut roas = Vec::new();
    for i in 0..30 {
        roas.push(format!(
            r#"{{"asn": {i}, "prefix": "10.{i}.0.0/16", "maxLength": 16}}"#
        ));
        roas.push(format!(
            r#"{{"asn": {i}, "prefix": "10.{i}.0.1/16", "maxLength": 16}}"#
        ));
        roas.push(r#""junk""#.to_string());
    }
    let (p, rej) = read_str(&format!(r#"{{"roas": [{}]}}"#, roas.join(",")));
    assert_eq!(p.vrps.len(), 30);
    assert_eq!(rej.count, 60);
    assert_eq!(rej.first.len(), FIRST_REASONS);
    assert_eq!(rej.first[0], "roas[1]: host bits set in 10.0.0.1/16");
    assert_eq!(rej.first[1], "roas[2]: item is a string, not an object");
    assert_eq!(rej.first[9], "roas[14]: item is a string, not an object");
}

#[test]
fn long_strings_are_cut_in_reasons() {
    let long = "A".repeat(10_000);
    let got = one_bad(
        "roas",
        &format!(r#"{{"asn": "{long}", "prefix": "10.0.0.0/8", "maxLength": 8}}"#),
    );
    assert!(got.len() < 120, "{got}");
    assert!(got.ends_with("..."));
}

//--- Bad files

#[test]
fn whole_file_errors() {
    let err = |bytes: &[u8]| read(bytes, Format::Auto).unwrap_err();

    let e = err(b"{\n\t\"roas\": [\n\t\t{ \"asn\": 1, \"prefix\": \"10.0.0.0/8\", \"maxLength\": 8 },\n\t\t{ \"asn\": 2, \"pre");
    assert_eq!((e.line, e.column), (4, Some(18)));
    assert_eq!(
        e.to_string(),
        "line 4, column 18: EOF while parsing a string"
    );

    let e = err(b"{\"roas\": [");
    assert_eq!(e.to_string(), "line 1, column 10: EOF while parsing a list");

    assert_eq!(err(b"").to_string(), "line 1: empty file");

    let e = err(b"{\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe");
    assert_eq!(e.line, 1);
    assert!(e.reason.starts_with("key must be a string"), "{e}");

    let e = err(b"[ { \"asn\": 1 } ]");
    assert_eq!(e.line, 1);
    assert!(
        e.reason
            .starts_with("invalid type: sequence, expected a JSON object"),
        "{e}"
    );

    let e = err(b"{\"metadata\": {},\n \"roas\": {\"asn\": 1}}");
    assert_eq!((e.line, e.column), (2, Some(10)));
    assert_eq!(e.reason, "invalid type: map, expected an array for roas");

    let e = err(b"{\"aspas\": null}");
    assert_eq!(e.reason, "invalid type: null, expected an array for aspas");

    let e = err(b"{\"routerKeys\": \"none\"}");
    assert!(e.reason.contains("an array for routerKeys"), "{e}");

    let e = err(b"{\"provider_authorizations\": []}");
    assert!(
        e.reason.contains("an object with ipv4 and ipv6 arrays"),
        "{e}"
    );

    let e = err(b"{\"provider_authorizations\": {\"ipv6\": {}}}");
    assert!(
        e.reason
            .contains("an array for provider_authorizations.ipv6"),
        "{e}"
    );

    let e = err(b"{\"roas\": [], \"roas\": []}");
    assert_eq!(e.reason, "duplicate field `roas`");

    let e = err(b"{\"roas\": []} {}");
    assert_eq!(e.reason, "trailing characters");

    let e = err(b"{\"roas\": [{\"asn\": 1, \"prefix\": \"10.0.0.0/8\",}]}");
    assert_eq!(e.reason, "trailing comma");

    // Not UTF-8 inside a string.
    let e = err(b"{\"roas\": [{\"asn\": 1, \"prefix\": \"\xff\", \"maxLength\": 8}]}");
    assert_eq!(
        e.to_string(),
        "line 1, column 33: invalid unicode code point"
    );

    // Deep nesting is skipped without recursion.
    let mut deep = b"{\"x\": ".to_vec();
    deep.extend(std::iter::repeat_n(b'[', 100_000));
    let e = err(&deep);
    assert_eq!(e.reason, "EOF while parsing a list");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let item = format!(r#"{{"asn": {deep}, "prefix": "10.0.0.0/8", "maxLength": 8}}"#);
    assert_eq!(one_bad("roas", &item), "roas[0]: asn is a list");
}

#[test]
fn read_error_mid_file() {
    struct Cut(&'static [u8]);
    impl Read for Cut {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("device gone"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let e = read(Cut(b"{\"roas\": ["), Format::Auto).unwrap_err();
    assert_eq!(e.to_string(), "line 1, column 10: read error: device gone");
    let e = read(Cut(b"ASN,IP Prefix,Max Length\n"), Format::Auto).unwrap_err();
    assert_eq!(
        (e.line, e.to_string().as_str()),
        (0, "read error: device gone")
    );
}
