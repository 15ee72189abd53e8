//! Tests of the SLURM reader: the RFC 8416 example and dn42's files, each
//! check of the conformance list (C101 to C111) by a good and a bad file,
//! what a bad entry costs in each section, broken JSON, and the
//! combination of several files (§4.2).

use super::*;
use crate::payload::Snapshot;

const RFC8416_EXAMPLE: &[u8] = include_bytes!("../../../tests/fixtures/slurm/rfc8416-example.json");
const V2_ASPA: &[u8] = include_bytes!("../../../tests/fixtures/slurm/v2-aspa.json");
const DN42_EXTRA: &[u8] = include_bytes!("../../../tests/fixtures/slurm/dn42-extra-members.json");
const DN42_NULL: &[u8] = include_bytes!("../../../tests/fixtures/slurm/dn42-null-prefix.json");
/// dn42's export as published, three broken assertions among 3,312.
const DN42_EXPORT: &[u8] =
    include_bytes!("../../../tests/fixtures/slurm/dn42-export-2022-01-29.json");

/// base64url of the SKIs 1..=20, "12345678901234567890" and
/// "deadbeatdeadbeatdead".
const SKI_A: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQ";
const SKI_B: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA";
const SKI_C: &str = "ZGVhZGJlYXRkZWFkYmVhdGRlYWQ";
const SPKI: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4_QA";

fn ski_a() -> [u8; 20] {
    core::array::from_fn(|i| u8::try_from(i).unwrap() + 1)
}

fn ski_b() -> [u8; 20] {
    *b"12345678901234567890"
}

fn v4(s: &str, len: u8, max: u8, asn: u32) -> Vrp {
    Vrp::new(Prefix::v4(s.parse().unwrap(), len).unwrap(), max, asn).unwrap()
}

fn v6(s: &str, len: u8, max: u8, asn: u32) -> Vrp {
    Vrp::new(Prefix::v6(s.parse().unwrap(), len).unwrap(), max, asn).unwrap()
}

fn key(ski: [u8; 20], asn: u32) -> RouterKey {
    RouterKey {
        ski,
        asn,
        spki: vec![0x30, 0x00].into_boxed_slice(),
    }
}

/// A version 2 file with the given arrays; the rest empty.
fn file(version: u32, members: &[(&str, &str)]) -> String {
    let get = |name: &str| {
        members
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("[]", |(_, v)| *v)
            .to_string()
    };
    let mut aspa_f = String::new();
    let mut aspa_a = String::new();
    if let Some((_, v)) = members.iter().find(|(n, _)| *n == "aspaFilters") {
        aspa_f = format!(", \"aspaFilters\": {v}");
    }
    if let Some((_, v)) = members.iter().find(|(n, _)| *n == "aspaAssertions") {
        aspa_a = format!(", \"aspaAssertions\": {v}");
    }
    format!(
        r#"{{ "slurmVersion": {version},
  "validationOutputFilters": {{ "prefixFilters": {}, "bgpsecFilters": {}{aspa_f} }},
  "locallyAddedAssertions": {{ "prefixAssertions": {}, "bgpsecAssertions": {}{aspa_a} }} }}"#,
        get("prefixFilters"),
        get("bgpsecFilters"),
        get("prefixAssertions"),
        get("bgpsecAssertions"),
    )
}

fn ok(text: &str) -> Slurm {
    parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn err(text: &str) -> String {
    match parse(text.as_bytes()) {
        Ok(s) => panic!("accepted: {s:?}\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// The reasons the assertions of `text` were skipped for, the file being
/// accepted.
fn skipped(text: &str) -> Vec<String> {
    let s = ok(text);
    assert_eq!(s.skipped.count, s.skipped.first.len(), "{text}");
    s.skipped.first
}

/// The VRPs left after applying `s` to `vrps`, through `Snapshot::build`.
fn served(s: &Slurm, mut vrps: Vec<Vrp>) -> Vec<Vrp> {
    s.apply(&mut vrps, &mut Vec::new(), &mut Vec::new());
    Snapshot::build(vrps, Vec::new(), Vec::new()).0.vrps
}

//--- Good files

#[test]
fn rfc8416_example() {
    let s = parse(RFC8416_EXAMPLE).unwrap();
    assert_eq!(
        s.prefix_filters,
        vec![
            PrefixFilter {
                prefix: Some(Prefix::v4("192.0.2.0".parse().unwrap(), 24).unwrap()),
                asn: None,
                comment: Some("All VRPs encompassed by prefix".to_string()),
            },
            PrefixFilter {
                prefix: None,
                asn: Some(64496),
                comment: Some("All VRPs matching ASN".to_string()),
            },
            PrefixFilter {
                prefix: Some(Prefix::v4("198.51.100.0".parse().unwrap(), 24).unwrap()),
                asn: Some(64497),
                comment: Some("All VRPs encompassed by prefix, matching ASN".to_string()),
            },
        ]
    );
    assert_eq!(
        s.bgpsec_filters,
        vec![
            BgpsecFilter {
                asn: Some(64496),
                ski: None,
                comment: Some("All keys for ASN".to_string()),
            },
            BgpsecFilter {
                asn: None,
                ski: Some(ski_b()),
                comment: Some("Key matching Router SKI".to_string()),
            },
            BgpsecFilter {
                asn: Some(64497),
                ski: Some(*b"deadbeatdeadbeatdead"),
                comment: Some("Key for ASN 64497 matching Router SKI".to_string()),
            },
        ]
    );
    assert_eq!(
        s.prefix_assertions,
        vec![
            v4("198.51.100.0", 24, 24, 64496),
            v6("2001:db8::", 32, 48, 64496)
        ]
    );
    assert_eq!(s.bgpsec_assertions.len(), 1);
    assert_eq!(s.bgpsec_assertions[0].asn, 64496);
    assert_eq!(s.bgpsec_assertions[0].ski, ski_a());
    assert_eq!(s.bgpsec_assertions[0].spki.len(), 91);
    assert_eq!(s.bgpsec_assertions[0].spki[0], 0x30);
    assert!(s.aspa_filters.is_empty() && s.aspa_assertions.is_empty());
    assert!(s.ignored.is_empty());
}

#[test]
fn dn42_extra_members_are_ignored_and_counted() {
    let s = parse(DN42_EXTRA).unwrap();
    assert_eq!(
        s.prefix_assertions,
        vec![
            v6("fd00:114:514::", 48, 64, 4_242_420_916),
            v4("172.20.0.0", 24, 28, 4_242_422_601),
            v4("10.100.0.0", 14, 24, 64654),
        ]
    );
    let ignored: Vec<(&str, usize)> = s.ignored.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        ignored,
        vec![
            ("locallyAddedAssertions.prefixAssertions[].mnt-by", 3),
            ("locallyAddedAssertions.prefixAssertions[].source", 3),
        ]
    );
}

//--- C101: required members

#[test]
fn c101_missing_member_rejected() {
    let full = file(1, &[]);
    assert_eq!(ok(&full), Slurm::default());
    for (member, place) in [
        ("\"slurmVersion\": 1,", "SLURM file"),
        (
            "\"validationOutputFilters\": { \"prefixFilters\": [], \"bgpsecFilters\": [] },",
            "SLURM file",
        ),
        (
            ",\n  \"locallyAddedAssertions\": { \"prefixAssertions\": [], \"bgpsecAssertions\": [] }",
            "SLURM file",
        ),
        ("\"prefixFilters\": [], ", "validationOutputFilters"),
        (", \"bgpsecFilters\": []", "validationOutputFilters"),
        ("\"prefixAssertions\": [], ", "locallyAddedAssertions"),
        (", \"bgpsecAssertions\": []", "locallyAddedAssertions"),
    ] {
        let text = full.replacen(member, "", 1);
        assert_ne!(text, full, "{member}");
        let name = member.split('"').nth(1).unwrap();
        assert_eq!(
            err(&text),
            format!("{place}: missing member \"{name}\""),
            "{text}"
        );
    }
}

#[test]
fn structure_is_strict_entries_are_not() {
    let text = file(1, &[]).replacen(
        "{ \"slurmVersion\"",
        "{ \"slurmversion\": 1, \"slurmVersion\"",
        1,
    );
    assert_eq!(err(&text), "SLURM file: unknown member \"slurmversion\"");
    let text = file(1, &[]).replacen(
        "\"bgpsecFilters\": []",
        "\"bgpsecFilters\": [], \"bgpsecFilter\": []",
        1,
    );
    assert_eq!(
        err(&text),
        "validationOutputFilters: unknown member \"bgpsecFilter\""
    );
    let s = ok(&file(
        1,
        &[(
            "prefixFilters",
            r#"[{ "asn": 1, "note": "x", "ticket": 42 }]"#,
        )],
    ));
    assert_eq!(s.prefix_filters.len(), 1);
    assert_eq!(s.ignored.len(), 2);
}

//--- C102..C104: prefix filters

#[test]
fn c102_prefix_only_filter_removes_equal_or_more_specific() {
    let s = ok(&file(
        1,
        &[("prefixFilters", r#"[{ "prefix": "192.0.2.0/24" }]"#)],
    ));
    let kept = served(
        &s,
        vec![
            v4("192.0.2.0", 24, 24, 64496),
            v4("192.0.2.0", 24, 32, 0),
            v4("192.0.2.128", 25, 25, 1),
            v4("192.0.2.255", 32, 32, 4_294_967_295),
            v4("192.0.0.0", 16, 24, 64496),
            v4("192.0.3.0", 24, 24, 64496),
            v6("2001:db8::", 32, 48, 64496),
        ],
    );
    assert_eq!(
        kept,
        vec![
            v4("192.0.0.0", 16, 24, 64496),
            v4("192.0.3.0", 24, 24, 64496),
            v6("2001:db8::", 32, 48, 64496),
        ]
    );
    // IPv6, and an odd length.
    let s = ok(&file(
        1,
        &[("prefixFilters", r#"[{ "prefix": "2001:db8::/31" }]"#)],
    ));
    assert!(s.filters_vrp(&v6("2001:db9:1::", 48, 48, 1)));
    assert!(!s.filters_vrp(&v6("2001:dba::", 32, 32, 1)));
    assert!(!s.filters_vrp(&v6("2001:db8::", 30, 32, 1)));
    assert!(!s.filters_vrp(&v4("32.1.13.184", 32, 32, 1)));
    // The default route covers its whole family.
    let s = ok(&file(
        1,
        &[("prefixFilters", r#"[{ "prefix": "0.0.0.0/0" }]"#)],
    ));
    assert!(s.filters_vrp(&v4("10.0.0.0", 8, 8, 1)));
    assert!(!s.filters_vrp(&v6("::", 0, 0, 1)));
}

#[test]
fn c103_asn_only_filter_removes_every_vrp_of_the_origin() {
    let s = ok(&file(1, &[("prefixFilters", r#"[{ "asn": 64496 }]"#)]));
    let kept = served(
        &s,
        vec![
            v4("192.0.2.0", 24, 24, 64496),
            v6("2001:db8::", 32, 48, 64496),
            v4("192.0.2.0", 24, 24, 64497),
        ],
    );
    assert_eq!(kept, vec![v4("192.0.2.0", 24, 24, 64497)]);
}

#[test]
fn c104_prefix_and_asn_filter_needs_both() {
    let s = ok(&file(
        1,
        &[(
            "prefixFilters",
            r#"[{ "prefix": "198.51.100.0/24", "asn": 64497 }]"#,
        )],
    ));
    let kept = served(
        &s,
        vec![
            v4("198.51.100.0", 24, 24, 64497),
            v4("198.51.100.64", 26, 26, 64497),
            v4("198.51.100.0", 24, 24, 64496),
            v4("198.51.0.0", 16, 24, 64497),
        ],
    );
    assert_eq!(
        kept,
        vec![
            v4("198.51.0.0", 16, 24, 64497),
            v4("198.51.100.0", 24, 24, 64496),
        ]
    );
}

#[test]
fn prefix_filter_needs_prefix_or_asn() {
    assert_eq!(
        err(&file(
            1,
            &[("prefixFilters", r#"[{ "comment": "everything?" }]"#)]
        )),
        "validationOutputFilters.prefixFilters[0]: a prefix filter needs a prefix, an asn or both"
    );
    assert_eq!(
        err(&file(
            1,
            &[(
                "prefixFilters",
                r#"[{ "asn": 1 }, { "prefix": "10.0.0.1/8" }]"#
            )]
        )),
        "validationOutputFilters.prefixFilters[1]: host bits set in prefix 10.0.0.1/8; \
         with no valid prefix or asn left the filter would match every VRP"
    );
}

//--- C105: prefix assertions

#[test]
fn c105_assertion_max_length_defaults_to_prefix_length() {
    let s = ok(&file(
        1,
        &[(
            "prefixAssertions",
            r#"[{ "asn": 64496, "prefix": "198.51.100.0/24" },
                    { "asn": 0, "prefix": "2001:DB8::/32", "maxPrefixLength": 48 },
                    { "asn": 4294967295, "prefix": "203.0.113.0/24", "maxPrefixLength": 32 }]"#,
        )],
    ));
    assert_eq!(
        s.prefix_assertions,
        vec![
            v4("198.51.100.0", 24, 24, 64496),
            v6("2001:db8::", 32, 48, 0),
            v4("203.0.113.0", 24, 32, 4_294_967_295),
        ]
    );
    assert_eq!(served(&s, Vec::new()).len(), 3);
}

#[test]
fn c105_assertion_max_length_below_prefix_length_skipped() {
    let list = r#"[{ "asn": 1, "prefix": "10.0.0.0/8" },
            { "asn": 1, "prefix": "10.0.0.0/8" },
            { "asn": 1, "prefix": "10.0.0.0/8" },
            { "asn": 64496, "prefix": "192.0.2.0/24", "maxPrefixLength": 23 }]"#;
    let s = ok(&file(1, &[("prefixAssertions", list)]));
    assert_eq!(s.prefix_assertions, vec![v4("10.0.0.0", 8, 8, 1); 3]);
    assert_eq!(s.skipped.count, 1);
    assert_eq!(
        s.skipped.first,
        vec!["locallyAddedAssertions.prefixAssertions[3]: maxPrefixLength 23 is smaller than the prefix length 24"]
    );
    for (entry, reason) in [
        (
            r#"{ "asn": 1, "prefix": "192.0.2.0/24", "maxPrefixLength": 33 }"#,
            "maxPrefixLength 33 exceeds 32, the longest IPv4 prefix",
        ),
        (
            r#"{ "asn": 1, "prefix": "2001:db8::/32", "maxPrefixLength": 129 }"#,
            "maxPrefixLength 129 exceeds 128, the longest IPv6 prefix",
        ),
        (
            r#"{ "asn": 1, "prefix": "192.0.2.0/24", "maxPrefixLength": "24" }"#,
            "maxPrefixLength must be a number, not a string \"24\"",
        ),
        (
            r#"{ "asn": 1, "prefix": "192.0.2.0/24", "maxPrefixLength": 24.5 }"#,
            "maxPrefixLength must be a number, not a fraction",
        ),
        (
            r#"{ "asn": 1, "prefix": "192.0.2.0/33" }"#,
            "prefix length out of range in 192.0.2.0/33",
        ),
        (
            r#"{ "asn": 1, "prefix": "192.0.2.1/24" }"#,
            "host bits set in prefix 192.0.2.1/24",
        ),
        (
            r#"{ "asn": 1, "prefix": "192.0.2.0" }"#,
            "prefix is not a prefix: \"192.0.2.0\"",
        ),
        (
            r#"{ "asn": 1, "prefix": "192.0.2/24" }"#,
            "prefix is not a prefix: \"192.0.2/24\"",
        ),
        (
            r#"{ "asn": 1, "prefix": "2001:db8::/-1" }"#,
            "prefix is not a prefix: \"2001:db8::/-1\"",
        ),
        (r#"{ "asn": 1 }"#, "missing member \"prefix\""),
        (r#"{ "prefix": "192.0.2.0/24" }"#, "missing member \"asn\""),
        (
            r#"{ "asn": 4294967296, "prefix": "192.0.2.0/24" }"#,
            "asn 4294967296 is out of range",
        ),
        (
            r#"{ "asn": -1, "prefix": "192.0.2.0/24" }"#,
            "asn -1 is out of range",
        ),
        (
            r#"{ "asn": "AS1", "prefix": "192.0.2.0/24" }"#,
            "asn must be a number, not a string \"AS1\"",
        ),
        (
            r#"{ "asn": 1, "prefix": 3221225984 }"#,
            "prefix must be a string, not an integer",
        ),
        (r#""192.0.2.0/24""#, "must be an object, not a string"),
    ] {
        let list = format!(r#"[{entry}, {{ "asn": 1, "prefix": "10.0.0.0/8" }}]"#);
        let s = ok(&file(1, &[("prefixAssertions", &list)]));
        assert_eq!(
            s.prefix_assertions,
            vec![v4("10.0.0.0", 8, 8, 1)],
            "{entry}"
        );
        assert_eq!(
            s.skipped.first,
            vec![format!(
                "locallyAddedAssertions.prefixAssertions[0]: {reason}"
            )],
        );
    }
}

//--- C106: BGPsec filters and assertions

#[test]
fn c106_bgpsec_filters_by_asn_ski_and_both() {
    let keys = || {
        vec![
            key(ski_a(), 64496),
            key(ski_a(), 64497),
            key(ski_b(), 64496),
            key(ski_b(), 64498),
        ]
    };
    let run = |filters: &str| {
        let s = ok(&file(1, &[("bgpsecFilters", filters)]));
        let mut k = keys();
        s.apply(&mut Vec::new(), &mut k, &mut Vec::new());
        k
    };
    assert_eq!(
        run(r#"[{ "asn": 64496 }]"#),
        vec![key(ski_a(), 64497), key(ski_b(), 64498)]
    );
    assert_eq!(
        run(&format!(r#"[{{ "SKI": "{SKI_A}" }}]"#)),
        vec![key(ski_b(), 64496), key(ski_b(), 64498)]
    );
    assert_eq!(
        run(&format!(r#"[{{ "asn": 64496, "SKI": "{SKI_B}" }}]"#)),
        vec![
            key(ski_a(), 64496),
            key(ski_a(), 64497),
            key(ski_b(), 64498)
        ]
    );
    // Padding is tolerated, and so is the URL-safe alphabet in full;
    // a lower-case "ski" is an unknown member, ignored.
    assert_eq!(run(&format!(r#"[{{ "SKI": "{SKI_A}=" }}]"#)).len(), 2);
    let s = ok(&file(
        1,
        &[(
            "bgpsecFilters",
            r#"[{ "SKI": "-_v7-_v7-_v7-_v7-_v7-_v7-_s" }, { "ski": "x", "asn": 1 }]"#,
        )],
    ));
    assert_eq!(s.bgpsec_filters[0].ski, Some([0xfb; 20]));
    assert_eq!(s.bgpsec_filters[1].ski, None);
    for (filter, reason) in [
        (
            r#"{ "comment": "x" }"#,
            "a BGPsec filter needs an asn, a SKI or both",
        ),
        (
            r#"{ "SKI": "Zm9v" }"#,
            "SKI decodes to 3 octets, not 20; \
             with no valid asn or SKI left the filter would match every router key",
        ),
        (
            r#"{ "SKI": "+/v7+/v7+/v7+/v7+/v7+/v7+/s" }"#,
            "SKI is not base64url (Invalid symbol 43, offset 0.): \"+/v7+/v7+/v7+/v7+/v7+/v7+/s\"; \
             with no valid asn or SKI left the filter would match every router key",
        ),
        (
            r#"{ "SKI": 5 }"#,
            "SKI must be a string, not an integer; \
             with no valid asn or SKI left the filter would match every router key",
        ),
    ] {
        assert_eq!(
            err(&file(1, &[("bgpsecFilters", &format!("[{filter}]"))])),
            format!("validationOutputFilters.bgpsecFilters[0]: {reason}"),
        );
    }
}

#[test]
fn c106_bgpsec_assertion_added() {
    let s = ok(&file(
        1,
        &[(
            "bgpsecAssertions",
            &format!(r#"[{{ "asn": 64496, "SKI": "{SKI_C}", "routerPublicKey": "{SPKI}" }}]"#),
        )],
    ));
    let mut keys = vec![key(ski_a(), 1)];
    s.apply(&mut Vec::new(), &mut keys, &mut Vec::new());
    let (snap, _) = Snapshot::build(Vec::new(), keys, Vec::new());
    assert_eq!(snap.router_keys.len(), 2);
    let added = snap
        .router_keys
        .iter()
        .find(|k| k.asn == 64496)
        .expect("asserted key");
    assert_eq!(&added.ski, b"deadbeatdeadbeatdead");
    assert_eq!(added.spki.len(), 91);
    for (entry, reason) in [
        (
            format!(r#"{{ "asn": 1, "SKI": "{SKI_C}" }}"#),
            "missing member \"routerPublicKey\"",
        ),
        (
            format!(r#"{{ "asn": 1, "routerPublicKey": "{SPKI}" }}"#),
            "missing member \"SKI\"",
        ),
        (
            format!(r#"{{ "SKI": "{SKI_C}", "routerPublicKey": "{SPKI}" }}"#),
            "missing member \"asn\"",
        ),
        (
            format!(r#"{{ "asn": 1, "SKI": "{SKI_C}", "routerPublicKey": "" }}"#),
            "routerPublicKey is empty",
        ),
        (
            format!(r#"{{ "asn": 1, "SKI": "{SKI_C}", "routerPublicKey": "a b" }}"#),
            "routerPublicKey is not base64url",
        ),
    ] {
        let list =
            format!(r#"[{entry}, {{ "asn": 2, "SKI": "{SKI_A}", "routerPublicKey": "{SPKI}" }}]"#);
        let s = ok(&file(1, &[("bgpsecAssertions", &list)]));
        assert_eq!(s.bgpsec_assertions.len(), 1, "{entry}");
        assert_eq!(s.bgpsec_assertions[0].asn, 2);
        let e = &s.skipped.first;
        assert_eq!(e.len(), 1, "{entry}: {e:?}");
        assert!(
            e[0].starts_with(&format!(
                "locallyAddedAssertions.bgpsecAssertions[0]: {reason}"
            )),
            "{entry}: {e:?}"
        );
    }
}

//--- C107, C108: application

#[test]
fn c107_filters_first_assertions_survive_them() {
    let s = ok(&file(
        1,
        &[
            (
                "prefixFilters",
                r#"[{ "prefix": "192.0.2.0/24" }, { "asn": 64496 }]"#,
            ),
            ("bgpsecFilters", r#"[{ "asn": 64496 }]"#),
            (
                "prefixAssertions",
                r#"[{ "asn": 64496, "prefix": "192.0.2.0/24" }, { "asn": 7, "prefix": "192.0.2.128/25" }]"#,
            ),
            (
                "bgpsecAssertions",
                &format!(r#"[{{ "asn": 64496, "SKI": "{SKI_C}", "routerPublicKey": "{SPKI}" }}]"#),
            ),
        ],
    ));
    let mut vrps = vec![v4("192.0.2.0", 24, 24, 64496), v4("192.0.2.0", 24, 24, 1)];
    let mut keys = vec![key(ski_a(), 64496)];
    s.apply(&mut vrps, &mut keys, &mut Vec::new());
    let (snap, _) = Snapshot::build(vrps, keys, Vec::new());
    assert_eq!(
        snap.vrps,
        vec![v4("192.0.2.0", 24, 24, 64496), v4("192.0.2.128", 25, 25, 7)]
    );
    assert_eq!(snap.router_keys, s.bgpsec_assertions);
    // The filters would match both assertions.
    assert!(s.prefix_assertions.iter().all(|v| s.filters_vrp(v)));
    assert!(s.bgpsec_assertions.iter().all(|k| s.filters_router_key(k)));
}

#[test]
fn c108_assertion_duplicating_a_vrp_yields_one() {
    let s = ok(&file(
        1,
        &[(
            "prefixAssertions",
            r#"[{ "asn": 64496, "prefix": "198.51.100.0/24" }, { "asn": 64496, "prefix": "198.51.100.0/24", "maxPrefixLength": 24 }]"#,
        )],
    ));
    assert_eq!(
        served(&s, vec![v4("198.51.100.0", 24, 24, 64496)]),
        vec![v4("198.51.100.0", 24, 24, 64496)]
    );
}

//--- C110, C111: ASPA

#[test]
fn c110_aspa_filter_removes_the_customer_entirely() {
    let s = parse(V2_ASPA).unwrap();
    assert_eq!(
        s.aspa_filters,
        vec![AspaFilter {
            customer: 64496,
            comment: Some("ASPAs matching Customer ASID 64496".to_string()),
        }]
    );
    let mut aspas = vec![
        Aspa {
            customer: 64496,
            providers: vec![1, 2],
        },
        Aspa {
            customer: 64496,
            providers: vec![3],
        },
        Aspa {
            customer: 64499,
            providers: vec![1],
        },
    ];
    let s = Slurm {
        aspa_assertions: Vec::new(),
        ..s
    };
    s.apply(&mut Vec::new(), &mut Vec::new(), &mut aspas);
    assert_eq!(
        aspas,
        vec![Aspa {
            customer: 64499,
            providers: vec![1]
        }]
    );
}

#[test]
fn c110_aspa_assertion_unioned_with_the_as0_rule() {
    let s = parse(V2_ASPA).unwrap();
    assert_eq!(
        s.aspa_assertions,
        vec![
            Aspa {
                customer: 64496,
                providers: vec![64497, 64498]
            },
            Aspa {
                customer: 64500,
                providers: vec![0]
            },
        ]
    );
    // Without the filter, the asserted providers join the RPKI ones.
    let s = Slurm {
        aspa_filters: Vec::new(),
        ..s
    };
    let mut aspas = vec![
        Aspa {
            customer: 64496,
            providers: vec![64499, 0],
        },
        Aspa {
            customer: 64500,
            providers: vec![0],
        },
        Aspa {
            customer: 64501,
            providers: vec![0],
        },
    ];
    s.apply(&mut Vec::new(), &mut Vec::new(), &mut aspas);
    let (snap, oversized) = Snapshot::build(Vec::new(), Vec::new(), aspas);
    assert!(oversized.is_empty());
    assert_eq!(
        snap.aspas,
        vec![
            Aspa {
                customer: 64496,
                providers: vec![64497, 64498, 64499]
            },
            Aspa {
                customer: 64500,
                providers: vec![0]
            },
            Aspa {
                customer: 64501,
                providers: vec![0]
            },
        ]
    );
    // An assertion of real providers displaces an RPKI AS0.
    let s = ok(&file(
        2,
        &[(
            "aspaAssertions",
            r#"[{ "customerAsn": 64501, "providerAsns": [7] }]"#,
        )],
    ));
    let mut aspas = vec![Aspa {
        customer: 64501,
        providers: vec![0],
    }];
    s.apply(&mut Vec::new(), &mut Vec::new(), &mut aspas);
    let (snap, _) = Snapshot::build(Vec::new(), Vec::new(), aspas);
    assert_eq!(
        snap.aspas,
        vec![Aspa {
            customer: 64501,
            providers: vec![7]
        }]
    );
}

#[test]
fn c110_both_spellings() {
    let s = ok(&file(
        2,
        &[
            (
                "aspaFilters",
                r#"[{ "customerAsid": 1 }, { "customerAsn": 2 }]"#,
            ),
            (
                "aspaAssertions",
                r#"[{ "customerAsn": 3, "providerAsns": [4] },
                        { "customerAsid": 5, "providers": [6, 7] },
                        { "customerAsid": 8, "providerSet": [9] }]"#,
            ),
        ],
    ));
    assert_eq!(
        s.aspa_filters
            .iter()
            .map(|f| f.customer)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(
        s.aspa_assertions,
        vec![
            Aspa {
                customer: 3,
                providers: vec![4]
            },
            Aspa {
                customer: 5,
                providers: vec![6, 7]
            },
            Aspa {
                customer: 8,
                providers: vec![9]
            },
        ]
    );
    for (entry, reason) in [
        (
            r#"{ "providerAsns": [4] }"#,
            "missing member \"customerAsn\"",
        ),
        (r#"{ "customerAsn": 3 }"#, "missing member \"providerAsns\""),
        (
            r#"{ "customerAsn": 3, "customerAsid": 3, "providerAsns": [4] }"#,
            "both customerAsn and customerAsid are given",
        ),
        (
            r#"{ "customerAsn": 3, "providerAsns": [4], "providers": [4] }"#,
            "both providerAsns and providers are given",
        ),
        (
            r#"{ "customerAsn": 3, "providerAsns": [] }"#,
            "providerAsns is empty",
        ),
        (
            r#"{ "customerAsn": 3, "providerAsns": 4 }"#,
            "providerAsns must be an array, not an integer",
        ),
        (
            r#"{ "customerAsn": 3, "providerAsns": [4, "AS5"] }"#,
            "providerAsns[1] must be a number, not a string \"AS5\"",
        ),
        (
            r#"{ "customerAsn": 3, "providerAsns": [4, 4294967296] }"#,
            "providerAsns[1] 4294967296 is out of range",
        ),
        (
            r#"{ "customerAsn": 3, "providerAsns": [4, 3] }"#,
            "providerAsns[1]: customer AS3 is listed as its own provider",
        ),
        (
            r#"{ "customerAsn": -3, "providerAsns": [4] }"#,
            "customerAsn -3 is out of range",
        ),
    ] {
        let list = format!(r#"[{entry}, {{ "customerAsn": 1, "providerAsns": [2] }}]"#);
        let s = ok(&file(2, &[("aspaAssertions", &list)]));
        assert_eq!(
            s.aspa_assertions,
            vec![Aspa {
                customer: 1,
                providers: vec![2]
            }],
            "{entry}"
        );
        assert_eq!(
            s.skipped.first,
            vec![format!(
                "locallyAddedAssertions.aspaAssertions[0]: {reason}"
            )],
        );
    }
    assert_eq!(
        err(&file(2, &[("aspaFilters", r#"[{ "comment": "who?" }]"#)])),
        "validationOutputFilters.aspaFilters[0]: missing member \"customerAsn\""
    );
}

#[test]
fn c111_v1_with_aspa_rejected() {
    assert_eq!(
        err(&file(1, &[("aspaFilters", "[]")])),
        "validationOutputFilters.aspaFilters: not allowed with slurmVersion 1: ASPA members need version 2"
    );
    assert_eq!(
        err(&file(1, &[("aspaAssertions", r#"[{ "customerAsn": 1, "providerAsns": [2] }]"#)])),
        "locallyAddedAssertions.aspaAssertions: not allowed with slurmVersion 1: ASPA members need version 2"
    );
    // Version 2 without ASPA members is fine.
    assert_eq!(ok(&file(2, &[])), Slurm::default());
    let text = String::from_utf8(V2_ASPA.to_vec())
        .unwrap()
        .replace("\"slurmVersion\": 2", "\"slurmVersion\": 1");
    assert!(err(&text).contains("ASPA members need version 2"));
}

#[test]
fn c111_unknown_version_rejected() {
    for (v, reason) in [
        ("0", "version 0 is not supported (1 or 2)"),
        ("3", "version 3 is not supported (1 or 2)"),
        ("\"1\"", "must be a number, not a string"),
        ("1.0", "must be a number, not a fraction"),
        ("-1", "must be a number, not an integer"),
        ("null", "must be a number, not null"),
    ] {
        let text =
            file(1, &[]).replacen("\"slurmVersion\": 1", &format!("\"slurmVersion\": {v}"), 1);
        assert_eq!(err(&text), format!("slurmVersion: {reason}"), "{v}");
    }
}

//--- What a bad entry costs

const WIDER: &str = "taken as absent: the filter now filters more than written";

#[test]
fn a_filter_with_an_invalid_member_is_widened() {
    // {"prefix": null, "asn": 64500}: every VRP of AS64500.
    let s = ok(&file(
        1,
        &[
            (
                "prefixFilters",
                r#"[{ "prefix": null, "asn": 64500 }, { "prefix": "10.0.0.0/8", "asn": "" }]"#,
            ),
            (
                "prefixAssertions",
                r#"[{ "asn": 7, "prefix": "192.0.2.0/24" }]"#,
            ),
        ],
    ));
    assert_eq!(
        s.prefix_filters,
        vec![
            PrefixFilter {
                prefix: None,
                asn: Some(64500),
                comment: None,
            },
            PrefixFilter {
                prefix: Some(Prefix::v4("10.0.0.0".parse().unwrap(), 8).unwrap()),
                asn: None,
                comment: None,
            },
        ]
    );
    assert_eq!(
        s.widened,
        vec![
            format!("validationOutputFilters.prefixFilters[0]: prefix must be a string, not null; prefix {WIDER}"),
            format!("validationOutputFilters.prefixFilters[1]: asn must be a number, not a string \"\"; asn {WIDER}"),
        ]
    );
    assert_eq!(s.skipped, Rejected::default());
    let kept = served(
        &s,
        vec![
            v4("198.51.100.0", 24, 24, 64500),
            v6("2001:db8::", 32, 48, 64500),
            v4("10.1.0.0", 16, 16, 1),
            v4("198.51.100.0", 24, 24, 64501),
        ],
    );
    assert_eq!(
        kept,
        vec![
            v4("192.0.2.0", 24, 24, 7),
            v4("198.51.100.0", 24, 24, 64501)
        ]
    );

    // {"asn": "x", "SKI": …}: every router key with that SKI.
    let s = ok(&file(
        1,
        &[(
            "bgpsecFilters",
            &format!(r#"[{{ "asn": "x", "SKI": "{SKI_A}" }}, {{ "asn": 64498, "SKI": "Zm9v" }}]"#),
        )],
    ));
    assert_eq!(
        s.bgpsec_filters,
        vec![
            BgpsecFilter {
                asn: None,
                ski: Some(ski_a()),
                comment: None,
            },
            BgpsecFilter {
                asn: Some(64498),
                ski: None,
                comment: None,
            },
        ]
    );
    assert_eq!(
        s.widened,
        vec![
            format!("validationOutputFilters.bgpsecFilters[0]: asn must be a number, not a string \"x\"; asn {WIDER}"),
            format!("validationOutputFilters.bgpsecFilters[1]: SKI decodes to 3 octets, not 20; SKI {WIDER}"),
        ]
    );
    let mut keys = vec![
        key(ski_a(), 64496),
        key(ski_a(), 64497),
        key(ski_b(), 64496),
        key(ski_b(), 64498),
    ];
    s.apply(&mut Vec::new(), &mut keys, &mut Vec::new());
    assert_eq!(keys, vec![key(ski_b(), 64496)]);
}

#[test]
fn a_filter_with_nothing_valid_left_refuses_the_file() {
    assert_eq!(
        err(&file(
            1,
            &[(
                "prefixFilters",
                r#"[{ "asn": 1 }, { "prefix": null, "asn": "x", "comment": "all?" }]"#
            )]
        )),
        "validationOutputFilters.prefixFilters[1]: prefix must be a string, not null; \
         asn must be a number, not a string \"x\"; \
         with no valid prefix or asn left the filter would match every VRP"
    );
    assert_eq!(
        err(&file(
            1,
            &[("bgpsecFilters", r#"[{ "asn": -1, "SKI": null }]"#)]
        )),
        "validationOutputFilters.bgpsecFilters[0]: asn -1 is out of range; \
         SKI must be a string, not null; \
         with no valid asn or SKI left the filter would match every router key"
    );
    assert_eq!(
        err(&file(
            2,
            &[("aspaFilters", r#"[{ "customerAsid": "AS1" }]"#)]
        )),
        "validationOutputFilters.aspaFilters[0]: customerAsid must be a number, \
         not a string \"AS1\"; without a valid customer the filter would match every ASPA"
    );
    assert_eq!(
        err(&file(
            2,
            &[(
                "aspaFilters",
                r#"[{ "customerAsn": 1, "customerAsid": 2 }]"#
            )]
        )),
        "validationOutputFilters.aspaFilters[0]: both customerAsn and customerAsid are given"
    );
    assert_eq!(
        err(&file(1, &[("prefixFilters", "[null]")])),
        "validationOutputFilters.prefixFilters[0]: must be an object, not null"
    );
}

#[test]
fn a_comment_that_is_not_a_string_is_ignored() {
    let s = ok(&file(
        2,
        &[
            ("prefixFilters", r#"[{ "asn": 1, "comment": 7 }]"#),
            ("aspaFilters", r#"[{ "customerAsn": 2, "comment": ["x"] }]"#),
            (
                "prefixAssertions",
                r#"[{ "asn": 3, "prefix": "10.0.0.0/8", "comment": null },
                    { "asn": "", "prefix": "10.0.0.0/8", "comment": null }]"#,
            ),
        ],
    ));
    assert_eq!(
        s.prefix_filters,
        vec![PrefixFilter {
            prefix: None,
            asn: Some(1),
            comment: None,
        }]
    );
    assert_eq!(
        s.aspa_filters,
        vec![AspaFilter {
            customer: 2,
            comment: None,
        }]
    );
    assert_eq!(s.prefix_assertions, vec![v4("10.0.0.0", 8, 8, 3)]);
    assert!(s.widened.is_empty());
    // The skipped assertion's comment is not noted as well.
    assert_eq!(s.skipped.count, 1);
    assert_eq!(s.bad_comments.count, 3);
    assert_eq!(
        s.bad_comments.first,
        vec![
            "validationOutputFilters.prefixFilters[0]: comment must be a string, not an integer; ignored",
            "validationOutputFilters.aspaFilters[0]: comment must be a string, not an array; ignored",
            "locallyAddedAssertions.prefixAssertions[0]: comment must be a string, not null; ignored",
        ]
    );
}

#[test]
fn only_the_first_reasons_are_kept() {
    let list: Vec<String> = (0..25)
        .map(|i| format!(r#"{{ "asn": {i}, "prefix": "10.{i}.0.0/16", "maxPrefixLength": 8 }}"#))
        .collect();
    let s = ok(&file(
        1,
        &[("prefixAssertions", &format!("[{}]", list.join(", ")))],
    ));
    assert!(s.prefix_assertions.is_empty());
    assert_eq!(s.skipped.count, 25);
    assert_eq!(
        s.skipped.first.len(),
        crate::validator::input::item::FIRST_REASONS
    );
    assert_eq!(
        s.skipped.first[0],
        "locallyAddedAssertions.prefixAssertions[0]: maxPrefixLength 8 is smaller than the prefix length 16"
    );
}

//--- Broken files

#[test]
fn dn42_null_prefix_is_skipped_and_the_rest_served() {
    let s = parse(DN42_NULL).unwrap();
    assert_eq!(
        s.prefix_assertions,
        vec![v4("172.20.0.0", 24, 28, 4_242_422_601)]
    );
    assert_eq!(s.skipped.count, 1);
    assert_eq!(
        s.skipped.first,
        vec!["locallyAddedAssertions.prefixAssertions[1]: prefix must be a string, not null"]
    );
    assert_eq!(
        served(&s, Vec::new()),
        vec![v4("172.20.0.0", 24, 28, 4_242_422_601)]
    );
}

#[test]
fn dn42_export_serves_all_but_its_three_broken_assertions() {
    let s = parse(DN42_EXPORT).unwrap();
    assert_eq!(s.prefix_assertions.len(), 3309);
    assert_eq!(s.skipped.count, 3);
    assert_eq!(
        s.skipped.first,
        vec![
            "locallyAddedAssertions.prefixAssertions[123]: prefix must be a string, not null",
            "locallyAddedAssertions.prefixAssertions[1560]: asn must be a number, not a string \"\"",
            "locallyAddedAssertions.prefixAssertions[3311]: asn must be a number, not a string \"\"",
        ]
    );
    // The neighbours of each broken entry are kept, in file order.
    let p = &s.prefix_assertions;
    assert_eq!(p[0], v6("fd00:114:514::", 48, 64, 4_242_420_916));
    assert_eq!(p[122], v6("fd0d:138:9006::", 48, 64, 64663));
    assert_eq!(p[123], v6("fd0d:7f0:3003::", 48, 64, 64663));
    assert_eq!(p[1558], v4("10.100.0.0", 14, 32, 64654));
    assert_eq!(p[1559], v4("10.100.232.0", 21, 24, 64654));
    assert_eq!(p[3308], v4("172.31.0.0", 16, 32, 64654));
    // dn42's own members are ignored in every entry, broken or not.
    let ignored: Vec<(&str, usize)> = s.ignored.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        ignored,
        vec![
            ("locallyAddedAssertions.prefixAssertions[].mnt-by", 3312),
            ("locallyAddedAssertions.prefixAssertions[].source", 3312),
        ]
    );
    assert!(s.prefix_filters.is_empty() && s.bgpsec_filters.is_empty());
    assert!(s.widened.is_empty() && s.bad_comments.count == 0);
    // Served: the kept assertions, once each; entries 842 and 843 are
    // the same.
    assert_eq!(p[841], p[842]);
    assert_eq!(served(&s, Vec::new()).len(), 3308);
}

#[test]
fn broken_files() {
    let good = String::from_utf8(RFC8416_EXAMPLE.to_vec()).unwrap();
    // Truncated anywhere: never accepted, always with a position.
    for cut in [0, 1, good.len() / 3, good.len() / 2, good.len() - 2] {
        let e = parse(&good.as_bytes()[..cut]).unwrap_err();
        assert!(e.line > 0, "cut at {cut}: {e}");
    }
    let e = parse(&good.as_bytes()[..good.len() / 2]).unwrap_err();
    assert!(e.reason.contains("EOF"), "{e}");
    // Empty, garbage, trailing garbage, not an object.
    assert!(parse(b"").unwrap_err().reason.contains("EOF"));
    assert!(parse(b"   \n").unwrap_err().line > 0);
    let e = parse(b"\x00\xff\xfe{\"slurmVersion\": 1}").unwrap_err();
    assert_eq!((e.line, e.column), (1, 1), "{e}");
    assert!(parse(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]).is_err());
    assert!(parse(format!("{good} x").as_bytes()).unwrap_err().line > 0);
    assert_eq!(err("[]"), "SLURM file: must be an object, not an array");
    assert_eq!(err("null"), "SLURM file: must be an object, not null");
    assert_eq!(err("{}"), "SLURM file: missing member \"slurmVersion\"");
    // Wrong types at every level.
    assert_eq!(
        err(&file(1, &[]).replacen("{ \"prefixFilters\": [], \"bgpsecFilters\": [] }", "[]", 1)),
        "validationOutputFilters: must be an object, not an array"
    );
    assert_eq!(
        err(&file(1, &[("prefixFilters", "{}")])),
        "validationOutputFilters.prefixFilters: must be an array, not an object"
    );
    assert_eq!(
        err(&file(1, &[("bgpsecAssertions", "null")])),
        "locallyAddedAssertions.bgpsecAssertions: must be an array, not null"
    );
    assert_eq!(
        skipped(&file(
            1,
            &[(
                "prefixAssertions",
                r#"[{ "asn": 1, "prefix": "10.0.0.0/8" }, "10.0.0.0/8"]"#
            )]
        )),
        vec!["locallyAddedAssertions.prefixAssertions[1]: must be an object, not a string"]
    );
    assert_eq!(
        err(&file(1, &[("bgpsecFilters", r#"[{ "asn": 1 }, 64496]"#)])),
        "validationOutputFilters.bgpsecFilters[1]: must be an object, not an integer"
    );
    // A member given twice is an error with its position.
    let e =
        parse(file(1, &[("prefixFilters", r#"[{ "asn": 1, "asn": 2 }]"#)]).as_bytes()).unwrap_err();
    assert_eq!(e.reason, "member \"asn\" given twice");
    assert_eq!(e.line, 2);
    // Valid UTF-8 is required of strings (serde_json checks).
    let mut bytes = file(
        1,
        &[("prefixFilters", r#"[{ "asn": 1, "comment": "XX" }]"#)],
    )
    .into_bytes();
    let at = bytes.windows(2).position(|w| w == b"XX").unwrap();
    bytes[at] = 0xff;
    assert!(parse(&bytes).unwrap_err().line > 0);
}

//--- combine (§4.2)

fn named(files: &[(&str, &str)]) -> Vec<(String, Slurm)> {
    files.iter().map(|(n, t)| (n.to_string(), ok(t))).collect()
}

#[test]
fn combine_non_overlapping_files_merge() {
    let a = file(
        2,
        &[
            (
                "prefixFilters",
                r#"[{ "prefix": "10.0.0.0/16" }, { "asn": 64496 }]"#,
            ),
            (
                "prefixAssertions",
                r#"[{ "asn": 1, "prefix": "10.1.0.0/16" }, { "asn": 1, "prefix": "10.1.0.0/16" }]"#,
            ),
            ("bgpsecFilters", r#"[{ "asn": 5 }]"#),
            ("aspaFilters", r#"[{ "customerAsid": 9 }]"#),
        ],
    );
    let b = file(
        2,
        &[
            // Same ASN as a's asn-only prefix filter: §4.2 only looks
            // at prefixes for prefix entries.
            ("prefixFilters", r#"[{ "asn": 64496 }, { "prefix": "10.2.0.0/16", "asn": 2 }]"#),
            ("prefixAssertions", r#"[{ "asn": 64496, "prefix": "2001:db8::/32" }, { "asn": 1, "prefix": "10.0.0.0/15", "comment": "x" }]"#),
            ("bgpsecFilters", &format!(r#"[{{ "SKI": "{SKI_A}" }}]"#)),
            ("bgpsecAssertions", &format!(r#"[{{ "asn": 6, "SKI": "{SKI_A}", "routerPublicKey": "{SPKI}" }}]"#)),
            ("aspaAssertions", r#"[{ "customerAsn": 10, "providerAsns": [9] }]"#),
        ],
    )
    .replace("10.0.0.0/15", "10.4.0.0/15");
    let c = String::from_utf8(DN42_EXTRA.to_vec()).unwrap();
    let combined =
        Slurm::combine(named(&[("a.json", &a), ("b.json", &b), ("c.json", &c)])).unwrap();
    assert_eq!(combined.prefix_filters.len(), 4);
    assert_eq!(combined.prefix_assertions.len(), 7);
    assert_eq!(combined.bgpsec_filters.len(), 2);
    assert_eq!(combined.bgpsec_assertions.len(), 1);
    assert_eq!(combined.aspa_filters.len(), 1);
    assert_eq!(combined.aspa_assertions.len(), 1);
    assert_eq!(combined.ignored.values().sum::<usize>(), 6);
    assert!(combined.filters_vrp(&v4("10.0.5.0", 24, 24, 3)));
    assert!(combined.filters_vrp(&v4("10.2.0.0", 16, 16, 2)));
    assert!(!combined.filters_vrp(&v4("10.2.0.0", 16, 16, 3)));
    assert!(combined.filters_aspa(9));
    assert_eq!(Slurm::combine(Vec::new()).unwrap(), Slurm::default());
    let one = Slurm::combine(named(&[("a.json", &a)])).unwrap();
    assert_eq!(one, ok(&a));
}

#[test]
fn combine_overlapping_files_rejected() {
    let a = file(
        1,
        &[
            (
                "prefixFilters",
                r#"[{ "asn": 1 }, { "prefix": "192.0.2.0/24" }]"#,
            ),
            ("bgpsecFilters", r#"[{ "asn": 64496 }]"#),
        ],
    );
    // A more specific prefix in another file's assertion.
    let b = file(
        1,
        &[(
            "prefixAssertions",
            r#"[{ "asn": 7, "prefix": "10.0.0.0/8" }, { "asn": 7, "prefix": "192.0.2.128/25" }]"#,
        )],
    );
    assert_eq!(
        Slurm::combine(named(&[("a.json", &a), ("b.json", &b)])).unwrap_err(),
        "RFC 8416 §4.2: a.json validationOutputFilters.prefixFilters[1] (192.0.2.0/24) overlaps \
         b.json locallyAddedAssertions.prefixAssertions[1] (192.0.2.128/25)"
    );
    // A less specific one, and the same one, either way round.
    let c = file(
        1,
        &[(
            "prefixFilters",
            r#"[{ "prefix": "192.0.0.0/16", "asn": 3 }]"#,
        )],
    );
    assert_eq!(
        Slurm::combine(named(&[("a.json", &a), ("c.json", &c)])).unwrap_err(),
        "RFC 8416 §4.2: c.json validationOutputFilters.prefixFilters[0] (192.0.0.0/16) overlaps \
         a.json validationOutputFilters.prefixFilters[1] (192.0.2.0/24)"
    );
    assert!(Slurm::combine(named(&[("a.json", &a), ("a2.json", &a)])).is_err());
    // Nested prefixes within one file are that file's business, and an
    // unrelated prefix in between does not hide an overlap.
    let d = file(
        1,
        &[(
            "prefixAssertions",
            r#"[{ "asn": 1, "prefix": "172.16.0.0/12" }, { "asn": 1, "prefix": "172.16.0.0/16" }, { "asn": 1, "prefix": "172.16.0.0/16" }, { "asn": 2, "prefix": "172.17.0.0/16" }]"#,
        )],
    );
    let e = file(
        1,
        &[(
            "prefixFilters",
            r#"[{ "prefix": "172.16.4.0/24" }, { "prefix": "172.31.255.0/24" }]"#,
        )],
    );
    assert_eq!(
        Slurm::combine(named(&[("d.json", &d), ("e.json", &e)])).unwrap_err(),
        "RFC 8416 §4.2: d.json locallyAddedAssertions.prefixAssertions[0] (172.16.0.0/12) overlaps \
         e.json validationOutputFilters.prefixFilters[0] (172.16.4.0/24)"
    );
    // BGPsec: the same ASN in two files.
    let f = file(
        1,
        &[(
            "bgpsecAssertions",
            &format!(r#"[{{ "asn": 64496, "SKI": "{SKI_A}", "routerPublicKey": "{SPKI}" }}]"#),
        )],
    );
    assert_eq!(
        Slurm::combine(named(&[("a.json", &a), ("f.json", &f)])).unwrap_err(),
        "RFC 8416 §4.2: a.json validationOutputFilters.bgpsecFilters[0] and \
         f.json locallyAddedAssertions.bgpsecAssertions[0] both use AS64496"
    );
    // ASPA: the same customer in two files.
    let g = file(2, &[("aspaFilters", r#"[{ "customerAsid": 5 }]"#)]);
    let h = file(
        2,
        &[(
            "aspaAssertions",
            r#"[{ "customerAsn": 5, "providerAsns": [6] }]"#,
        )],
    );
    assert_eq!(
        Slurm::combine(named(&[("g.json", &g), ("h.json", &h)])).unwrap_err(),
        "RFC 8416 §4.2: g.json validationOutputFilters.aspaFilters[0] and \
         h.json locallyAddedAssertions.aspaAssertions[0] both use customer AS5"
    );
}

#[test]
fn covers_is_prefix_containment() {
    let p4 = |s: &str, l| Prefix::v4(s.parse().unwrap(), l).unwrap();
    let p6 = |s: &str, l| Prefix::v6(s.parse().unwrap(), l).unwrap();
    assert!(covers(&p4("10.0.0.0", 8), &p4("10.255.0.0", 16)));
    assert!(covers(&p4("10.0.0.0", 8), &p4("10.0.0.0", 8)));
    assert!(!covers(&p4("10.0.0.0", 16), &p4("10.0.0.0", 8)));
    assert!(!covers(&p4("10.0.0.0", 9), &p4("10.128.0.0", 16)));
    assert!(covers(&p4("10.128.0.0", 9), &p4("10.128.0.0", 16)));
    assert!(covers(&p4("0.0.0.0", 0), &p4("255.255.255.255", 32)));
    assert!(!covers(&p4("0.0.0.0", 0), &p6("::", 0)));
    assert!(covers(&p6("2001:db8::", 32), &p6("2001:db8:ffff::", 48)));
    assert!(!covers(&p6("2001:db8::", 33), &p6("2001:db8:8000::", 48)));
    assert!(covers(&p6("::1", 128), &p6("::1", 128)));
}
