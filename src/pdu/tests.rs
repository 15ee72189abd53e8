//! Byte-exact vectors for every PDU the cache sends, in every protocol
//! version the PDU exists in, and the decoder for what routers send.

// Octet patterns wrap on purpose; test PDUs are far below 4 GiB.
#![allow(clippy::cast_possible_truncation)]

use super::*;
use crate::payload::{Aspa, Prefix, RouterKey, Vrp};

fn ver(n: u8) -> Version {
    Version::new(n).unwrap()
}

/// Octets from a hex string; whitespace is ignored so that fields can be
/// spaced out.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits in {s:?}");
    digits
        .chunks(2)
        .map(|d| u8::from_str_radix(std::str::from_utf8(d).unwrap(), 16).unwrap())
        .collect()
}

fn encode(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut out);
    out
}

const TIMERS: Timers = Timers {
    refresh: 3600,
    retry: 600,
    expire: 7200,
};

fn v4(addr: &str, len: u8, max: u8, asn: u32) -> Vrp {
    Vrp::new(Prefix::v4(addr.parse().unwrap(), len).unwrap(), max, asn).unwrap()
}

fn v6(addr: &str, len: u8, max: u8, asn: u32) -> Vrp {
    Vrp::new(Prefix::v6(addr.parse().unwrap(), len).unwrap(), max, asn).unwrap()
}

/// SKI 00 01 … 13, AS 65000, a five-octet SPKI.
fn sample_key() -> RouterKey {
    let mut ski = [0u8; 20];
    for (i, b) in ski.iter_mut().enumerate() {
        *b = i as u8;
    }
    RouterKey {
        ski,
        asn: 65000,
        spki: vec![0x30, 0x03, 0x02, 0x01, 0x07].into(),
    }
}

//------------ Serial Notify, Cache Response, Cache Reset --------------------

#[test]
fn serial_notify_all_versions() {
    for (version, expected) in [
        (0, "00 00 1234 0000000c deadbeef"),
        (1, "01 00 1234 0000000c deadbeef"),
        (2, "02 00 1234 0000000c deadbeef"),
    ] {
        // version, type 0, session 0x1234, length 12, serial 0xdeadbeef
        let got =
            encode(|out| serial_notify(out, ver(version), SessionId(0x1234), Serial(0xdead_beef)));
        assert_eq!(got, hex(expected), "v{version}");
    }
}

#[test]
fn cache_response_all_versions() {
    for (version, expected) in [
        (0, "00 03 abcd 00000008"),
        (1, "01 03 abcd 00000008"),
        (2, "02 03 abcd 00000008"),
    ] {
        // version, type 3, session 0xabcd, length 8
        let got = encode(|out| cache_response(out, ver(version), SessionId(0xabcd)));
        assert_eq!(got, hex(expected), "v{version}");
    }
}

#[test]
fn cache_reset_all_versions_has_zero_session_field() {
    for (version, expected) in [
        (0, "00 08 0000 00000008"),
        (1, "01 08 0000 00000008"),
        (2, "02 08 0000 00000008"),
    ] {
        // version, type 8, zero, length 8
        let got = encode(|out| cache_reset(out, ver(version)));
        assert_eq!(got, hex(expected), "v{version}");
    }
}

//------------ End of Data ---------------------------------------------------

#[test]
fn end_of_data_v0_is_12_octets_without_timers() {
    let got = encode(|out| end_of_data(out, Version::V0, SessionId(0x0102), Serial(7), &TIMERS));
    assert_eq!(
        got,
        hex(concat!(
            "00 07 0102 0000000c", // v0, End of Data, session 0x0102, length 12
            "00000007",            // serial 7
        ))
    );
}

#[test]
fn end_of_data_v1_v2_are_24_octets_with_timers() {
    for (version, header) in [(1, "01 07 0102 00000018"), (2, "02 07 0102 00000018")] {
        let got = encode(|out| {
            end_of_data(
                out,
                ver(version),
                SessionId(0x0102),
                Serial(0xffff_ffff),
                &TIMERS,
            );
        });
        let expected = [
            header,     // version, End of Data, session 0x0102, length 24
            "ffffffff", // serial
            "00000e10", // refresh 3600
            "00000258", // retry 600
            "00001c20", // expire 7200
        ]
        .concat();
        assert_eq!(got, hex(&expected), "v{version}");
    }
}

//------------ IPv4 and IPv6 Prefix ------------------------------------------

#[test]
fn ipv4_prefix_announce_all_versions() {
    let vrp = v4("192.0.2.0", 24, 28, 64496);
    for version in 0..=2u8 {
        let got = encode(|out| super::vrp(out, ver(version), true, &vrp));
        let expected = [
            format!("{version:02x} 04 0000 00000014"), // version, IPv4 Prefix, zero, length 20
            "01 18 1c 00".into(),                      // flags announce, plen 24, maxlen 28, zero
            "c0000200".into(),                         // 192.0.2.0
            "0000fbf0".into(),                         // AS64496
        ]
        .concat();
        assert_eq!(got, hex(&expected), "v{version}");
    }
}

#[test]
fn ipv4_prefix_withdraw_all_versions() {
    let vrp = v4("10.0.0.0", 8, 32, 0);
    for version in 0..=2u8 {
        let got = encode(|out| super::vrp(out, ver(version), false, &vrp));
        let expected = [
            format!("{version:02x} 04 0000 00000014"), // version, IPv4 Prefix, zero, length 20
            "00 08 20 00".into(),                      // flags withdraw, plen 8, maxlen 32, zero
            "0a000000".into(),                         // 10.0.0.0
            "00000000".into(),                         // AS0
        ]
        .concat();
        assert_eq!(got, hex(&expected), "v{version}");
    }
}

#[test]
fn ipv6_prefix_announce_and_withdraw_all_versions() {
    let vrp = v6("2001:db8::", 32, 48, 65536);
    for version in 0..=2u8 {
        for (announce, flags) in [(true, "01"), (false, "00")] {
            let got = encode(|out| super::vrp(out, ver(version), announce, &vrp));
            let expected = [
                format!("{version:02x} 06 0000 00000020"), // version, IPv6 Prefix, zero, length 32
                format!("{flags} 20 30 00"),               // flags, plen 32, maxlen 48, zero
                "20010db8 00000000 00000000 00000000".into(), // 2001:db8::
                "00010000".into(),                         // AS65536
            ]
            .concat();
            assert_eq!(got, hex(&expected), "v{version} announce={announce}");
        }
    }
}

#[test]
fn ipv6_prefix_full_length_and_default_route() {
    let got = encode(|out| {
        super::vrp(out, Version::V2, true, &v6("2001:db8::1", 128, 128, 1));
        super::vrp(out, Version::V2, true, &v6("::", 0, 0, 2));
    });
    assert_eq!(
        got,
        hex(concat!(
            "02 06 0000 00000020",                 // v2, IPv6 Prefix, zero, length 32
            "01 80 80 00",                         // announce, plen 128, maxlen 128, zero
            "20010db8 00000000 00000000 00000001", // 2001:db8::1
            "00000001",                            // AS1
            "02 06 0000 00000020",                 // v2, IPv6 Prefix, zero, length 32
            "01 00 00 00",                         // announce, plen 0, maxlen 0, zero
            "00000000 00000000 00000000 00000000", // ::
            "00000002",                            // AS2
        ))
    );
}

//------------ Router Key ----------------------------------------------------

#[test]
fn router_key_v1_v2_announce_and_withdraw() {
    let key = sample_key();
    for version in 1..=2u8 {
        for (announce, flags) in [(true, "01"), (false, "00")] {
            let got = encode(|out| super::router_key(out, ver(version), announce, &key));
            let expected = [
                format!("{version:02x} 09 {flags} 00 00000025"), // version, Router Key, flags, zero, length 37
                "00010203 04050607 08090a0b 0c0d0e0f 10111213".into(), // SKI
                "0000fde8".into(),                               // AS65000
                "30 03 02 01 07".into(),                         // SPKI
            ]
            .concat();
            assert_eq!(got, hex(&expected), "v{version} announce={announce}");
        }
    }
}

//------------ ASPA ----------------------------------------------------------

#[test]
fn aspa_announce_one_provider() {
    let got = encode(|out| {
        aspa_announce(
            out,
            Version::V2,
            &Aspa {
                customer: 64496,
                providers: vec![64497],
            },
        );
    });
    assert_eq!(
        got,
        hex(concat!(
            "02 0b 01 00 00000010", // v2, ASPA, flags announce, zero, length 16
            "0000fbf0",             // customer AS64496
            "0000fbf1",             // provider AS64497
        ))
    );
}

#[test]
fn aspa_announce_several_providers() {
    let aspa = Aspa {
        customer: 64496,
        providers: vec![1, 64497, 4_200_000_000],
    };
    let got = encode(|out| aspa_announce(out, Version::V2, &aspa));
    assert_eq!(
        got,
        hex(concat!(
            "02 0b 01 00 00000018", // v2, ASPA, flags announce, zero, length 24
            "0000fbf0",             // customer AS64496
            "00000001",             // provider AS1
            "0000fbf1",             // provider AS64497
            "fa56ea00",             // provider AS4200000000
        ))
    );
}

#[test]
fn aspa_announce_single_as0_means_no_providers() {
    let got = encode(|out| {
        aspa_announce(
            out,
            Version::V2,
            &Aspa {
                customer: 64496,
                providers: vec![0],
            },
        );
    });
    assert_eq!(
        got,
        hex(concat!(
            "02 0b 01 00 00000010", // v2, ASPA, flags announce, zero, length 16
            "0000fbf0",             // customer AS64496
            "00000000",             // provider AS0
        ))
    );
}

#[test]
fn aspa_withdraw_is_12_octets() {
    let got = encode(|out| aspa_withdraw(out, Version::V2, 64496));
    assert_eq!(
        got,
        hex(concat!(
            "02 0b 00 00 0000000c", // v2, ASPA, flags withdraw, zero, length 12
            "0000fbf0",             // customer AS64496
        ))
    );
}

//------------ Error Report --------------------------------------------------

#[test]
fn error_report_empty_all_versions() {
    for version in 0..=2u8 {
        let got =
            encode(|out| error_report(out, ver(version), ErrorCode::NoDataAvailable, &[], ""));
        let expected = [
            format!("{version:02x} 0a 0002 00000010"), // version, Error Report, code 2, length 16
            "00000000".into(),                         // encapsulated PDU length 0
            "00000000".into(),                         // text length 0
        ]
        .concat();
        assert_eq!(got, hex(&expected), "v{version}");
    }
}

#[test]
fn error_report_with_encapsulated_pdu_is_24_octets_for_an_8_octet_pdu() {
    let offending = hex("02 0c 0000 00000008");
    let got = encode(|out| {
        error_report(
            out,
            Version::V2,
            ErrorCode::UnsupportedPduType,
            &offending,
            "",
        );
    });
    assert_eq!(
        got,
        hex(concat!(
            "02 0a 0005 00000018", // v2, Error Report, code 5, length 24
            "00000008",            // encapsulated PDU length 8
            "02 0c 0000 00000008", // the PDU: v2, type 12, zero, length 8
            "00000000",            // text length 0
        ))
    );
}

#[test]
fn error_report_with_text() {
    let got = encode(|out| error_report(out, Version::V1, ErrorCode::InternalError, &[], "oops"));
    assert_eq!(
        got,
        hex(concat!(
            "01 0a 0001 00000014", // v1, Error Report, code 1, length 20
            "00000000",            // encapsulated PDU length 0
            "00000004",            // text length 4
            "6f6f7073",            // "oops"
        ))
    );
}

#[test]
fn error_report_with_pdu_and_text() {
    let offending = hex("00 01 1234 0000000c 00000005");
    let got = encode(|out| error_report(out, Version::V0, ErrorCode::CorruptData, &offending, "é"));
    assert_eq!(
        got,
        hex(concat!(
            "00 0a 0000 0000001e",          // v0, Error Report, code 0, length 30
            "0000000c",                     // encapsulated PDU length 12
            "00 01 1234 0000000c 00000005", // the PDU: v0 Serial Query
            "00000002",                     // text length 2
            "c3a9",                         // "é" in UTF-8
        ))
    );
}

#[test]
fn error_report_codes_are_on_the_wire_as_assigned() {
    for value in 0..=13u16 {
        let code = ErrorCode::for_version(value, Version::V2).unwrap();
        let got = encode(|out| error_report(out, Version::V2, code, &[], ""));
        assert_eq!(u16::from_be_bytes([got[2], got[3]]), value);
    }
}

/// Checks the fields of an encoded Error Report and returns (N, M).
fn report_lengths(report: &[u8]) -> (usize, usize) {
    let len = u32::from_be_bytes(report[4..8].try_into().unwrap()) as usize;
    assert_eq!(len, report.len());
    assert!(len <= MAX_LEN, "report of {len} octets");
    let n = u32::from_be_bytes(report[8..12].try_into().unwrap()) as usize;
    let m = u32::from_be_bytes(report[12 + n..16 + n].try_into().unwrap()) as usize;
    assert_eq!(16 + n + m, len);
    (n, m)
}

#[test]
fn error_report_truncates_an_oversized_pdu_to_fit_65535() {
    let offending: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
    let got = encode(|out| error_report(out, Version::V2, ErrorCode::CorruptData, &offending, ""));
    assert_eq!(got.len(), MAX_LEN);
    assert_eq!(&got[..8], hex("02 0a 0000 0000ffff").as_slice()); // v2, code 0, length 65535
    assert_eq!(report_lengths(&got), (65_519, 0));
    assert_eq!(&got[12..12 + 65_519], &offending[..65_519]);
}

#[test]
fn error_report_truncation_leaves_room_for_the_text() {
    let offending = vec![0xaa; 70_000];
    let got = encode(|out| {
        error_report(
            out,
            Version::V1,
            ErrorCode::CorruptData,
            &offending,
            "0123456789",
        );
    });
    assert_eq!(got.len(), MAX_LEN);
    assert_eq!(report_lengths(&got), (65_509, 10));
    assert_eq!(&got[got.len() - 10..], b"0123456789");
}

#[test]
fn error_report_keeps_at_least_four_octets_of_the_pdu_under_a_huge_text() {
    let offending = hex("02 02 0000 00000008");
    let text = "x".repeat(70_000);
    let got =
        encode(|out| error_report(out, Version::V2, ErrorCode::CorruptData, &offending, &text));
    assert!(got.len() <= MAX_LEN);
    let (n, _) = report_lengths(&got);
    assert!(n >= 4, "only {n} octets of the PDU kept");
    assert_eq!(&got[12..12 + n], &offending[..n]);
}

#[test]
fn error_report_at_exactly_65535_is_not_truncated() {
    let fits = vec![0x55; MAX_LEN - 16];
    let got = encode(|out| error_report(out, Version::V2, ErrorCode::CorruptData, &fits, ""));
    assert_eq!(got.len(), MAX_LEN);
    assert_eq!(report_lengths(&got), (MAX_LEN - 16, 0));

    let one_more = vec![0x55; MAX_LEN - 15];
    let got = encode(|out| error_report(out, Version::V2, ErrorCode::CorruptData, &one_more, ""));
    assert_eq!(got.len(), MAX_LEN);
    assert_eq!(report_lengths(&got), (MAX_LEN - 16, 0));
}

#[test]
fn error_report_truncated_text_stays_utf8() {
    // §5.8: the Arbitrary Text is UTF-8. 40,000 two-octet characters do not
    // fit; whatever is kept must still be whole characters.
    let text = "é".repeat(40_000);
    let got = encode(|out| error_report(out, Version::V2, ErrorCode::InternalError, &[], &text));
    let (n, m) = report_lengths(&got);
    assert!(
        std::str::from_utf8(&got[16 + n..16 + n + m]).is_ok(),
        "text of {m} octets"
    );
}

//------------ Header::parse -------------------------------------------------

#[test]
fn header_parse_reads_all_fields_big_endian() {
    let h = Header::parse(&hex("02 0a 0102 00010203 ffff")).unwrap();
    assert_eq!(
        h,
        Header {
            version: 2,
            kind: 10,
            field: 0x0102,
            len: 0x0001_0203
        }
    );
    let h = Header::parse(&hex("ff ff ffff ffffffff")).unwrap();
    assert_eq!(
        h,
        Header {
            version: 255,
            kind: 255,
            field: 0xffff,
            len: u32::MAX
        }
    );
}

#[test]
fn header_parse_needs_eight_octets() {
    let full = hex("02 02 0000 00000008");
    for n in 0..HEADER_LEN {
        assert_eq!(Header::parse(&full[..n]), None, "{n} octets");
    }
    assert!(Header::parse(&full).is_some());
}

//------------ ErrorReport::parse --------------------------------------------

#[test]
fn error_report_parse_good() {
    let pdu = hex(concat!(
        "02 0a 0007 0000001e",          // v2, Error Report, code 7, length 30
        "0000000c",                     // encapsulated length 12
        "02 04 0000 00000014 01020304", // 12 octets of a PDU
        "00000002",                     // text length 2
        "6869",                         // "hi"
    ));
    let r = ErrorReport::parse(&pdu).unwrap();
    assert_eq!(r.code, 7);
    assert_eq!(r.pdu, &pdu[12..24]);
    assert_eq!(r.text, "hi");

    let empty = hex("00 0a 0002 00000010 00000000 00000000");
    let r = ErrorReport::parse(&empty).unwrap();
    assert_eq!((r.code, r.pdu, r.text), (2, &[][..], ""));
}

#[test]
fn error_report_parse_round_trips_the_encoder() {
    let offending = hex("01 01 0042 0000000c 00000009");
    let bytes = encode(|out| {
        error_report(
            out,
            Version::V1,
            ErrorCode::UnexpectedVersion,
            &offending,
            "v",
        );
    });
    let r = ErrorReport::parse(&bytes).unwrap();
    assert_eq!((r.code, r.pdu, r.text), (8, offending.as_slice(), "v"));
}

#[test]
fn error_report_parse_rejects_inconsistent_inner_lengths() {
    // Encapsulated length runs past the end.
    let pdu = hex("02 0a 0000 00000014 00000008 02020000 00000000");
    assert_eq!(ErrorReport::parse(&pdu), None);
    // Encapsulated length leaves no room for the text length.
    let pdu = hex("02 0a 0000 00000014 00000006 02020000 00000000");
    assert_eq!(ErrorReport::parse(&pdu), None);
    // Encapsulated length huge.
    let pdu = hex("02 0a 0000 00000010 ffffffff 00000000");
    assert_eq!(ErrorReport::parse(&pdu), None);
}

#[test]
fn error_report_parse_rejects_text_length_mismatch() {
    // Text length says 3, 2 octets follow.
    let pdu = hex("02 0a 0000 00000012 00000000 00000003 6869");
    assert_eq!(ErrorReport::parse(&pdu), None);
    // Text length says 1, 2 octets follow.
    let pdu = hex("02 0a 0000 00000012 00000000 00000001 6869");
    assert_eq!(ErrorReport::parse(&pdu), None);
    // Text length huge.
    let pdu = hex("02 0a 0000 00000010 00000000 ffffffff");
    assert_eq!(ErrorReport::parse(&pdu), None);
}

#[test]
fn error_report_parse_rejects_too_short() {
    // Length 12, consistent with the octets given, but below the minimum 16.
    assert_eq!(
        ErrorReport::parse(&hex("02 0a 0000 0000000c 00000000")),
        None
    );
    assert_eq!(ErrorReport::parse(&hex("02 0a 0000 00000008")), None);
    assert_eq!(ErrorReport::parse(&hex("02 0a 0000")), None);
    assert_eq!(ErrorReport::parse(&[]), None);
}

#[test]
fn error_report_parse_rejects_length_field_mismatch_and_other_types() {
    // Length field says 17, 16 octets given.
    assert_eq!(
        ErrorReport::parse(&hex("02 0a 0000 00000011 00000000 00000000")),
        None
    );
    // Length field says 16, 17 octets given.
    assert_eq!(
        ErrorReport::parse(&hex("02 0a 0000 00000010 00000000 00000000 00")),
        None
    );
    // Not type 10.
    assert_eq!(
        ErrorReport::parse(&hex("02 0b 0000 00000010 00000000 00000000")),
        None
    );
}

//------------ Serial Query --------------------------------------------------

#[test]
fn serial_query_reads_session_and_serial() {
    let q = hex("01 01 beef 0000000c fffffffe"); // v1, Serial Query, session, length 12, serial
    assert_eq!(
        Pdu::decode(&q),
        Ok(Some((
            Version::V1,
            Pdu::SerialQuery {
                session: SessionId(0xbeef),
                serial: Serial(0xffff_fffe)
            },
            12
        )))
    );
    assert_eq!(Pdu::decode(&q[..11]), Ok(None));
    assert_eq!(Pdu::decode(&q[..7]), Ok(None));
}

//------------ ErrorCode -----------------------------------------------------

#[test]
fn error_code_for_version_knows_only_that_versions_codes() {
    for (version, highest) in [(0u8, 7u16), (1, 8), (2, 13)] {
        for value in 0..=highest {
            let code = ErrorCode::for_version(value, ver(version))
                .unwrap_or_else(|| panic!("v{version} code {value}"));
            assert_eq!(code as u16, value);
        }
        for value in [highest + 1, 14, 200, 254, 255, 256, u16::MAX] {
            assert_eq!(
                ErrorCode::for_version(value, ver(version)),
                None,
                "v{version} code {value}"
            );
        }
    }
}

#[test]
fn error_code_fatality() {
    let non_fatal = [2u16, 4, 12];
    for value in 0..=13u16 {
        let code = ErrorCode::for_version(value, Version::V2).unwrap();
        assert_eq!(code.is_fatal(), !non_fatal.contains(&value), "code {value}");
    }
}

#[test]
fn error_code_names() {
    assert_eq!(ErrorCode::CorruptData.name(), "Corrupt Data");
    assert_eq!(
        ErrorCode::UnsupportedVersion.name(),
        "Unsupported Protocol Version"
    );
    assert_eq!(ErrorCode::CacheShutdown.name(), "Cache Shutdown");
}

//------------ Pdu::decode ---------------------------------------------------

fn one(bytes: &[u8]) -> Result<Option<(Version, Pdu<'_>, usize)>, DecodeError> {
    Pdu::decode_from_cache(bytes)
}

#[test]
fn prefixes_round_trip() {
    let v4 = v4("192.0.2.0", 24, 28, 64496);
    let v6 = v6("2001:db8::", 32, 48, 0);
    for (vrp, announce) in [(v4, true), (v6, false)] {
        let mut out = Vec::new();
        super::vrp(&mut out, Version::V1, announce, &vrp);
        let (_, pdu, n) = one(&out).unwrap().unwrap();
        assert_eq!(n, out.len());
        assert_eq!(pdu, Pdu::Prefix { announce, vrp });
        // Short of one octet: wait for more.
        assert_eq!(one(&out[..out.len() - 1]), Ok(None));
    }
}

#[test]
fn strict_lengths_and_fields() {
    // IPv4 Prefix claiming 21 octets.
    let bad = [
        0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x15, // v1, type 4, zero, length 21
    ];
    assert!(matches!(one(&bad), Err(DecodeError::Length(_))));
    // IPv4 Prefix with host bits: 192.0.2.1/24.
    let hostbits = [
        0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, // v1, type 4, zero, length 20
        0x01, 0x18, 0x18, 0x00, // announce, /24, max 24, zero
        0xc0, 0x00, 0x02, 0x01, // 192.0.2.1
        0x00, 0x00, 0xfb, 0xf0, // AS64496
    ];
    assert!(matches!(one(&hostbits), Err(DecodeError::Prefix(..))));
    // A reserved flag bit set.
    let mut flags = hostbits;
    flags[15] = 0;
    flags[8] = 0x03;
    assert!(matches!(one(&flags), Err(DecodeError::Reserved(_))));
    // ASPA at v1, and Router Key at v0.
    let mut out = Vec::new();
    aspa_announce(
        &mut out,
        Version::V2,
        &Aspa {
            customer: 1,
            providers: vec![2],
        },
    );
    out[0] = 1;
    assert!(matches!(one(&out), Err(DecodeError::Type(_))));
    let mut out = Vec::new();
    router_key(&mut out, Version::V1, true, &sample_key());
    out[0] = 0;
    assert!(matches!(one(&out), Err(DecodeError::Type(_))));
    // Reset Query is a router's PDU.
    let mut q = Vec::new();
    reset_query(&mut q, Version::V2);
    assert!(matches!(one(&q), Err(DecodeError::Type(_))));
    // End of Data of v0 length at v1.
    let mut eod = Vec::new();
    end_of_data(&mut eod, Version::V0, SessionId(7), Serial(1), &TIMERS);
    eod[0] = 1;
    assert!(matches!(one(&eod), Err(DecodeError::Length(_))));
    // A version nobody speaks.
    let mut notify = Vec::new();
    serial_notify(&mut notify, Version::V2, SessionId(1), Serial(1));
    notify[0] = 3;
    assert!(matches!(one(&notify), Err(DecodeError::Version(_))));
}

#[test]
fn aspa_withdrawal_without_providers() {
    let mut out = Vec::new();
    aspa_withdraw(&mut out, Version::V2, 64496);
    let (_, pdu, _) = one(&out).unwrap().unwrap();
    assert_eq!(
        pdu,
        Pdu::Aspa {
            announce: false,
            aspa: Aspa {
                customer: 64496,
                providers: vec![]
            }
        }
    );
    // Withdrawal flag with a provider.
    let mut bad = Vec::new();
    aspa_announce(
        &mut bad,
        Version::V2,
        &Aspa {
            customer: 1,
            providers: vec![2],
        },
    );
    bad[2] = 0;
    assert!(matches!(one(&bad), Err(DecodeError::Aspa(_))));
}

/// One of every PDU each version has, as the encoders write them.
fn every_pdu(v: Version) -> Vec<Pdu<'static>> {
    let mut all = vec![
        Pdu::SerialNotify {
            session: SessionId(0x1234),
            serial: Serial(u32::MAX),
        },
        Pdu::SerialQuery {
            session: SessionId(7),
            serial: Serial(9),
        },
        Pdu::ResetQuery,
        Pdu::CacheResponse {
            session: SessionId(0xffff),
        },
        Pdu::Prefix {
            announce: true,
            vrp: v4("192.0.2.0", 24, 32, 64496),
        },
        Pdu::Prefix {
            announce: false,
            vrp: v6("2001:db8::", 32, 128, u32::MAX),
        },
        Pdu::EndOfData {
            session: SessionId(1),
            serial: Serial(2),
            timers: v.has_timers().then_some(TIMERS),
        },
        Pdu::CacheReset,
        Pdu::ErrorReport(ErrorReport {
            code: 3,
            pdu: &[2, 2, 0, 0, 0, 0, 0, 8],
            text: "no",
        }),
    ];
    if v.has_router_keys() {
        for announce in [true, false] {
            all.push(Pdu::RouterKey {
                announce,
                key: sample_key(),
            });
        }
    }
    if v.has_aspa() {
        all.push(Pdu::Aspa {
            announce: true,
            aspa: Aspa {
                customer: 1,
                providers: vec![2, 3],
            },
        });
        all.push(Pdu::Aspa {
            announce: false,
            aspa: Aspa {
                customer: 1,
                providers: vec![],
            },
        });
    }
    all
}

#[test]
fn every_pdu_round_trips_at_every_version() {
    for v in Version::ALL {
        for pdu in every_pdu(v) {
            let mut out = Vec::new();
            pdu.write(v, &mut out);
            assert_eq!(
                Pdu::decode(&out),
                Ok(Some((v, pdu.clone(), out.len()))),
                "v{v} {pdu:?}"
            );
        }
    }
}

#[test]
fn every_truncation_and_every_bad_length_is_refused_without_a_panic() {
    for v in Version::ALL {
        for pdu in every_pdu(v) {
            let mut out = Vec::new();
            pdu.write(v, &mut out);
            for n in 0..out.len() {
                assert_eq!(Pdu::decode(&out[..n]), Ok(None), "{pdu:?} cut at {n}");
            }
            // The same octets with a Length field one off either way, and
            // followed by one octet so that the longer one is complete. A
            // Router Key's length only bounds its SPKI: both are keys.
            if matches!(pdu, Pdu::RouterKey { .. }) {
                continue;
            }
            out.push(0);
            for len in [out.len() as u32 - 2, out.len() as u32] {
                let mut bad = out.clone();
                bad[4..8].copy_from_slice(&len.to_be_bytes());
                assert!(
                    !matches!(Pdu::decode(&bad), Ok(Some(_))),
                    "{pdu:?} with length {len}"
                );
            }
        }
    }
}

#[test]
fn impossible_lengths_are_refused_from_the_header_alone() {
    for len in [0u32, 7, 65_536, u32::MAX] {
        let mut h = vec![2, kind::RESET_QUERY, 0, 0];
        h.extend_from_slice(&len.to_be_bytes());
        assert!(matches!(split(&h), Err(DecodeError::Length(_))), "{len}");
    }
}

//------------ Serial --------------------------------------------------------

#[test]
fn serial_order_follows_rfc_1982() {
    use std::cmp::Ordering::*;
    let s = Serial;
    assert_eq!(s(1).partial_cmp(&s(1)), Some(Equal));
    assert_eq!(s(1).partial_cmp(&s(2)), Some(Less));
    assert_eq!(s(2).partial_cmp(&s(1)), Some(Greater));
    // Around the wrap: 2^32 - 1 comes before 0.
    assert!(s(u32::MAX) < s(0));
    assert!(s(0) > s(u32::MAX));
    assert!(s(u32::MAX - 5) < s(10));
    // 2^31 - 1 ahead is still later; 2^31 apart is undefined (§3.2).
    assert!(s(0) < s((1 << 31) - 1));
    assert_eq!(s(0).partial_cmp(&s(1 << 31)), None);
    assert_eq!(s(7).partial_cmp(&s(7 + (1 << 31))), None);
    assert!(s(0) > s((1 << 31) + 1));
}

#[test]
fn serial_addition_wraps_and_distances_are_forward_only() {
    assert_eq!(Serial(u32::MAX).next(), Serial(0));
    assert_eq!(Serial(u32::MAX - 1) + 3, Serial(1));
    assert_eq!(Serial(5) + Serial::MAX_ADD, Serial(5 + Serial::MAX_ADD));
    assert_eq!(Serial(5) + (1 << 31), Serial(5), "taken modulo 2^31");
    assert_eq!(Serial(u32::MAX).distance_to(Serial(2)), Some(3));
    assert_eq!(Serial(2).distance_to(Serial(2)), Some(0));
    assert_eq!(Serial(2).distance_to(Serial(u32::MAX)), None);
    assert_eq!(Serial(0).distance_to(Serial(1 << 31)), None);
}

//------------ Version -------------------------------------------------------

#[test]
fn versions_and_what_they_carry() {
    assert_eq!(Version::new(3), None);
    assert_eq!(Version::ALL.map(Version::number), [0, 1, 2]);
    assert!(!Version::V0.has_router_keys() && Version::V1.has_router_keys());
    assert!(!Version::V1.has_aspa() && Version::V2.has_aspa());
    assert!(kind::exists_in(kind::ROUTER_KEY, Version::V1));
    assert!(!kind::exists_in(kind::ROUTER_KEY, Version::V0));
    assert!(!kind::exists_in(kind::ASPA, Version::V1));
    assert!(!kind::exists_in(5, Version::V2), "type 5 is unassigned");
    assert!(!kind::exists_in(255, Version::V2));
}
