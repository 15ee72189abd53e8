//! Tests of the item types and checks every payload reader shares: the
//! size and expiry of timed items, AS numbers, prefixes and VRPs, SPKI
//! structure, ASPA rules, times, error text and format names.

use super::*;

#[test]
fn compact_items() {
    assert_eq!(std::mem::size_of::<Timed<Vrp>>(), 28);
    assert!(std::mem::size_of::<Timed<RouterKey>>() <= 48);
    assert!(std::mem::size_of::<Timed<Aspa>>() <= 40);
}

#[test]
fn expiry_times() {
    let t = Timed::new((), Some(1_700_000_000));
    assert_eq!(t.expires(), Some(1_700_000_000));
    assert!(!t.is_expired(1_700_000_000));
    assert!(t.is_expired(1_700_000_001));
    assert_eq!(Timed::new((), Some(0)).expires(), Some(0));
    assert_eq!(Timed::new((), None).expires(), None);
    assert!(!Timed::new((), None).is_expired(u64::MAX));
    // Beyond 32 bits of seconds: in 2106, as good as never.
    assert_eq!(
        Timed::new((), Some(4_294_967_294)).expires(),
        Some(4_294_967_294)
    );
    assert_eq!(Timed::new((), Some(4_294_967_295)).expires(), None);
    assert_eq!(Timed::new((), Some(u64::MAX)).expires(), None);
    let mut t = Timed::new((), None);
    t.expire_by(5);
    assert_eq!(t.expires(), Some(5));
    t.expire_by(9);
    assert_eq!(t.expires(), Some(5));
}

#[test]
fn asns() {
    assert_eq!(asn_text("AS13335", "asn"), Ok(13335));
    assert_eq!(asn_text("as0", "asn"), Ok(0));
    assert_eq!(asn_text("As4294967295", "asn"), Ok(u32::MAX));
    assert_eq!(asn_text("64496", "asn"), Ok(64496));
    assert_eq!(
        asn_text("AS4294967296", "asn"),
        Err("asn 4294967296 out of range".to_string())
    );
    assert_eq!(
        asn_text("AS99999999999999999999999", "asn"),
        Err("asn is not an AS number: \"AS99999999999999999999999\"".to_string())
    );
    for bad in ["", "AS", "AS-1", "AS 1", " 1", "1.5", "ASN1", "+1"] {
        assert!(asn_text(bad, "asn").is_err(), "{bad:?}");
    }
    assert_eq!(asn_number(4_294_967_295, "x"), Ok(u32::MAX));
    assert!(asn_number(1 << 32, "x").is_err());
}

#[test]
fn prefixes_and_vrps() {
    let p = parse_prefix("192.0.2.0/24").unwrap();
    assert_eq!(p.to_string(), "192.0.2.0/24");
    assert_eq!(
        parse_prefix("10.0.0.1/24"),
        Err("host bits set in 10.0.0.1/24".to_string())
    );
    assert_eq!(
        parse_prefix("10.0.0.0/33"),
        Err("prefix length out of range in 10.0.0.0/33".to_string())
    );
    assert!(parse_prefix("2001:DB8::/32").is_ok());
    for bad in [
        "10.0.0.0",
        "10.0.0/8",
        "10.0.0.0/",
        "10.0.0.0/+8",
        "10.0.0.0/0008",
        "x::/8",
    ] {
        assert!(
            parse_prefix(bad)
                .unwrap_err()
                .starts_with("bad prefix syntax"),
            "{bad}"
        );
    }
    assert_eq!(
        vrp(p, 23, 1, "maxLength"),
        Err("maxLength 23 is shorter than the prefix length in 192.0.2.0/24".to_string())
    );
    assert_eq!(
        vrp(p, 33, 1, "Max Length"),
        Err("Max Length 33 exceeds the address length in 192.0.2.0/24".to_string())
    );
    assert_eq!(vrp(p, 32, 7, "maxLength").unwrap().max_len, 32);
    let six = parse_prefix("2001:db8::/32").unwrap();
    assert!(vrp(six, 128, 7, "maxLength").is_ok());
    assert!(vrp(six, 129, 7, "maxLength").is_err());
}

#[test]
fn spki_structure() {
    let mut good = vec![0x30, 0x03, 0x02, 0x01, 0x05];
    assert!(spki(good.clone(), "pubkey").is_ok());
    let mut long = vec![0x30, 0x81, 0x80];
    long.extend([0u8; 0x80]);
    assert!(spki(long.clone(), "pubkey").is_ok());
    let cases: [(Vec<u8>, &str); 8] = [
        (vec![], "pubkey is empty"),
        (vec![0x31, 0x00], "pubkey is not a DER SEQUENCE: tag 0x31"),
        (vec![0x30], "pubkey is not a DER SEQUENCE: no length octets"),
        (
            vec![0x30, 0x80, 0x00, 0x00],
            "pubkey is not a DER SEQUENCE: indefinite length",
        ),
        (vec![0x30, 0x00], "pubkey is not a DER SEQUENCE: empty"),
        (
            vec![0x30, 0x04, 0x02, 0x01, 0x05],
            "pubkey is not a DER SEQUENCE: length octets say 4 octets, 3 follow",
        ),
        (
            vec![0x30, 0x81, 0x03, 0x02, 0x01, 0x05],
            "pubkey is not a DER SEQUENCE: length not in the fewest octets",
        ),
        (
            vec![0x30, 0x82, 0x01],
            "pubkey is not a DER SEQUENCE: bad length octets",
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(
            spki(bytes.clone(), "pubkey").unwrap_err(),
            want,
            "{bytes:02x?}"
        );
    }
    good.push(0);
    assert!(spki(good, "pubkey").is_err());
    long[2] = 0x7f;
    assert!(spki(long, "pubkey").is_err());
    let mut huge = vec![0x30, 0x83, 0x01, 0x00, 0x00];
    huge.resize(5 + 0x10000, 0);
    assert_eq!(
        spki(huge, "pubkey").unwrap_err(),
        "pubkey of 65541 octets is too long"
    );
}

#[test]
fn aspa_rules() {
    assert_eq!(
        aspa(5, vec![7, 0, 7]),
        Ok(Aspa {
            customer: 5,
            providers: vec![7, 0, 7]
        })
    );
    assert_eq!(aspa(5, vec![]).unwrap_err(), "empty providers for AS5");
    assert_eq!(
        aspa(5, vec![1, 5]).unwrap_err(),
        "customer AS5 listed as its own provider"
    );
    assert_eq!(aspa(0, vec![1]).unwrap_err(), "customer AS0 is not allowed");
}

#[test]
fn times() {
    assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_time("2021-07-27T18:56:02Z"), Some(1_627_412_162));
    assert_eq!(parse_time("2023-05-30T14:10:41Z"), Some(1_685_455_841));
    assert_eq!(parse_time("2029-07-18 11:40:32"), Some(1_879_069_232));
    assert_eq!(parse_time("2000-02-29T00:00:00+00:00"), Some(951_782_400));
    assert_eq!(parse_time("2023-05-30T14:10:41.250Z"), Some(1_685_455_841));
    assert_eq!(parse_time("2106-02-07T06:28:15Z"), Some(4_294_967_295));
    for bad in [
        "",
        "N/A",
        "2023-05-30",
        "2023-05-30T14:10:41+02:00",
        "2023-05-30T14:10:41.Z",
        "2023-02-29T00:00:00Z",
        "2023-13-01T00:00:00Z",
        "2023-00-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2023-05-30T24:00:00Z",
        "2023-05-30X14:10:41Z",
        "２０２３-05-30T14:10:41Z",
    ] {
        assert_eq!(parse_time(bad), None, "{bad}");
    }
}

#[test]
fn error_display() {
    let e = ParseError {
        line: 4,
        column: Some(18),
        reason: "EOF while parsing".into(),
    };
    assert_eq!(e.to_string(), "line 4, column 18: EOF while parsing");
    assert_eq!(
        ParseError::at_line(12, "no recognised header").to_string(),
        "line 12: no recognised header"
    );
}
