//! Tests of the CSV reader: a golden file of each dialect, columns found
//! by name, rows rejected with their line, and files rejected as a whole.

use std::fmt::Write as _;

use super::*;
use crate::validator::input::{self, read, Format};

macro_rules! fixture {
    ($name:literal) => {
        &include_bytes!(concat!("../../../../tests/fixtures/inputs/", $name))[..]
    };
}

fn vrp(prefix: &str, max: u8, asn: u32) -> Vrp {
    Vrp::new(prefix.parse().unwrap(), max, asn).unwrap()
}

fn read_csv(bytes: &[u8]) -> (Payloads, Rejected) {
    read(bytes, Format::Csv).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn rpki_client() {
    for format in [Format::Auto, Format::Csv, Format::RpkiClient] {
        let (p, rej) = read(fixture!("rpki-client.csv"), format).unwrap();
        assert_eq!(rej, Rejected::default());
        assert_eq!(
            p.vrps,
            [
                Timed::new(vrp("1.0.0.0/24", 24, 13335), Some(1_735_718_400)),
                Timed::new(vrp("2001:db8::/32", 128, 0), Some(1_735_722_000)),
                Timed::new(vrp("192.0.2.0/24", 28, 64496), Some(1_735_725_600)),
            ]
        );
        assert!(p.router_keys.is_empty() && p.aspas.is_empty());
        assert_eq!(p.generated, None);
    }
}

#[test]
fn routinator_csv_and_csvcompat() {
    let want = [
        Timed::new(vrp("2001:7fb:fd03::/48", 48, 196_615), None),
        Timed::new(vrp("2001:7fb:fd04::/48", 48, 196_615), None),
        Timed::new(vrp("93.175.147.0/24", 24, 196_615), None),
    ];
    for bytes in [
        fixture!("routinator.csv"),
        fixture!("routinator-csvcompat.csv"),
    ] {
        let (p, rej) = read_csv(bytes);
        assert_eq!(rej, Rejected::default());
        assert_eq!(p.vrps, want);
    }
}

#[test]
fn routinator_csvext() {
    let (p, rej) = read(fixture!("routinator-csvext.csv"), Format::Auto).unwrap();
    assert_eq!(rej, Rejected::default());
    assert_eq!(
        p.vrps,
        [
            // Not After 2029-07-18 11:40:32
            Timed::new(vrp("2001:43f8::/48", 128, 0), Some(1_879_069_232)),
            // Not After 2022-05-27 11:00:26
            Timed::new(vrp("2c0f:e9a8::/32", 128, 328_732), Some(1_653_649_226)),
            Timed::new(vrp("192.0.2.0/24", 24, 64496), None),
        ]
    );
}

#[test]
fn headers_by_name() {
    // Any order and case, extra columns, CRLF, spaces, a byte order
    // mark, blank lines, duplicates kept.
    let text = "\u{feff}Trust Anchor , max length,ip prefix,Comment,asn\r\n\
                ripe, 24, 192.0.2.0/24,\"a, b\", AS1\r\n\
                \r\n\
                ripe,24,192.0.2.0/24,,as1\r\n\r\n";
    let (p, rej) = read(text.as_bytes(), Format::Auto).unwrap();
    assert_eq!(rej, Rejected::default());
    let v = Timed::new(vrp("192.0.2.0/24", 24, 1), None);
    assert_eq!(p.vrps, [v, v]);
}

#[test]
fn bad_rows() {
    let head = "ASN,IP Prefix,Max Length,Trust Anchor,Expires\n";
    let cases = [
        (
            "AS1,10.0.0.0/24,24,ripe",
            "line 2: 4 fields, the header has 5",
        ),
        (
            "AS1,10.0.0.0/24,24,ripe,1,2",
            "line 2: 6 fields, the header has 5",
        ),
        (
            "AS1,10.0.0.1/24,24,ripe,1",
            "line 2: host bits set in 10.0.0.1/24",
        ),
        (
            "AS1,10.0.0.0/33,33,ripe,1",
            "line 2: prefix length out of range in 10.0.0.0/33",
        ),
        (
            "AS1,10.0.0.0,24,ripe,1",
            "line 2: bad prefix syntax \"10.0.0.0\"",
        ),
        ("AS1,,24,ripe,1", "line 2: bad prefix syntax \"\""),
        (
            "AS1,10.0.0.0/24,23,ripe,1",
            "line 2: Max Length 23 is shorter than the prefix length in 10.0.0.0/24",
        ),
        (
            "AS1,10.0.0.0/24,33,ripe,1",
            "line 2: Max Length 33 exceeds the address length in 10.0.0.0/24",
        ),
        (
            "AS1,10.0.0.0/24,-24,ripe,1",
            "line 2: Max Length is not a number: \"-24\"",
        ),
        (
            "AS1,10.0.0.0/24,,ripe,1",
            "line 2: Max Length is not a number: \"\"",
        ),
        (
            "AS4294967296,10.0.0.0/24,24,ripe,1",
            "line 2: ASN 4294967296 out of range",
        ),
        (
            "ASx,10.0.0.0/24,24,ripe,1",
            "line 2: ASN is not an AS number: \"ASx\"",
        ),
        (
            "AS1,10.0.0.0/24,24,ripe,soon",
            "line 2: Expires is not a Unix time: \"soon\"",
        ),
        (
            "AS1,10.0.0.0/24,24,ripe,-1",
            "line 2: Expires is not a Unix time: \"-1\"",
        ),
        (
            "\"AS\n1\",10.0.0.0/24,24,ripe,1",
            "line 2: ASN is not an AS number: \"AS\\n1\"",
        ),
    ];
    for (row, want) in cases {
        let (p, rej) = read_csv(format!("{head}{row}\n").as_bytes());
        assert!(p.vrps.is_empty(), "{row}");
        assert_eq!(rej.first, [want], "{row}");
    }
    let (_, rej) = read_csv(b"ASN,IP Prefix,Max Length\n\xff\xfe,10.0.0.0/8,8\n");
    assert_eq!(rej.first, ["line 2: ASN is not UTF-8"]);
    let (_, rej) = read_csv(
        b"URI,ASN,IP Prefix,Max Length,Not Before,Not After\n\
          x,AS1,10.0.0.0/8,8,N/A,2029-13-01 00:00:00\n",
    );
    assert_eq!(
        rej.first,
        ["line 2: Not After is not a time: \"2029-13-01 00:00:00\""]
    );
}

#[test]
fn line_numbers() {
    // Blank lines, CRLF, a quoted field over two lines, no final line
    // end: each reason names the line the row starts on.
    let text = "\r\nASN,IP Prefix,Max Length\r\n\r\n  \r\nAS1,10.0.0.1/8,8\r\n\
                \"AS\r\n2\",10.0.0.0/8,8\n\n\nAS3,10.0.0.0/8,7\n\nAS4,10.0.0.0/8";
    let (p, rej) = read(text.as_bytes(), Format::Auto).unwrap();
    assert_eq!(p.vrps.len(), 0);
    assert_eq!(
        rej.first,
        [
            "line 5: host bits set in 10.0.0.1/8",
            "line 6: ASN is not an AS number: \"AS\\r\\n2\"",
            "line 10: Max Length 7 is shorter than the prefix length in 10.0.0.0/8",
            "line 12: 2 fields, the header has 3",
        ]
    );
}

#[test]
fn bad_rows_do_not_spoil_the_rest() {
    let mut text = String::from("ASN,IP Prefix,Max Length,Trust Anchor\n");
    for i in 0..20 {
        let _ = write!(
            text,
            "AS{i},10.{i}.0.0/16,16,ripe\nAS{i},10.{i}.0.1/16,16,ripe\n"
        );
    }
    let (p, rej) = read_csv(text.as_bytes());
    assert_eq!(p.vrps.len(), 20);
    assert_eq!(rej.count, 20);
    assert_eq!(rej.first.len(), input::FIRST_REASONS);
    assert_eq!(rej.first[1], "line 5: host bits set in 10.1.0.1/16");
}

#[test]
fn whole_file_errors() {
    let err = |bytes: &[u8]| read(bytes, Format::Auto).unwrap_err().to_string();
    // A list without a header, as some tools write it.
    assert_eq!(
        err(b"1.0.0.0, 24, 24, 13335\n1.0.4.0, 22, 24, 38803\n"),
        "line 1: no recognised header (ASN, IP Prefix and Max Length columns): \
         \"1.0.0.0,24,24,13335\""
    );
    assert_eq!(
        err(b"\n\nASN,Prefix,Max Length\nAS1,10.0.0.0/8,8\n"),
        "line 3: no recognised header (ASN, IP Prefix and Max Length columns): \
         \"ASN,Prefix,Max Length\""
    );
    assert!(err(b"asn;ip prefix;max length\n").starts_with("line 1: no recognised header"));
    assert!(err(b"\x00\x01\x02").starts_with("line 1: binary data"));
    assert!(err(b"\xff\xd8\xff\xe0 JFIF").starts_with("line 1: no recognised header"));
    assert_eq!(err(b"  \n"), "line 1: empty file");
}
