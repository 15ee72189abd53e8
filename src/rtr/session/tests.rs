//! Session transcripts: router bytes in, the exact PDU stream, notes and
//! close order out, one test per rule of the digest's checklist (§8).

// Test PDUs are far below 4 GiB; the decoder has one arm per PDU type.
#![allow(clippy::cast_possible_truncation, clippy::too_many_lines)]

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::payload::{Aspa, Prefix, RouterKey, Snapshot, Vrp};
use crate::pdu::Timers;

//------------ Helpers -------------------------------------------------------

fn ver(n: u8) -> Version {
    Version::new(n).unwrap()
}

/// The cache's session ID for version `v`, as a number.
fn id_of(cache: &Cache, v: u8) -> u16 {
    cache.session_id(ver(v)).0
}

fn version_of(session: &Session) -> Option<u8> {
    session.version().map(Version::number)
}

const TIMERS: Timers = Timers {
    refresh: 3600,
    retry: 600,
    expire: 7200,
};
const BASE: u16 = 0x1000;

/// Octets from a hex string; whitespace is ignored.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits in {s:?}");
    digits
        .chunks(2)
        .map(|d| u8::from_str_radix(std::str::from_utf8(d).unwrap(), 16).unwrap())
        .collect()
}

fn query_reset(v: u8) -> Vec<u8> {
    vec![v, 2, 0, 0, 0, 0, 0, 8]
}

fn query_serial(v: u8, session: u16, serial: u32) -> Vec<u8> {
    let mut q = vec![v, 1];
    q.extend_from_slice(&session.to_be_bytes());
    q.extend_from_slice(&12u32.to_be_bytes());
    q.extend_from_slice(&serial.to_be_bytes());
    q
}

/// A PDU of any type with `body` after the header and a correct length.
fn raw(v: u8, kind: u8, field: u16, body: &[u8]) -> Vec<u8> {
    let mut p = vec![v, kind];
    p.extend_from_slice(&field.to_be_bytes());
    p.extend_from_slice(&(8 + body.len() as u32).to_be_bytes());
    p.extend_from_slice(body);
    p
}

/// An Error Report as a router would send it.
fn report(v: u8, code: u16, pdu: &[u8], text: &[u8]) -> Vec<u8> {
    let mut body = (pdu.len() as u32).to_be_bytes().to_vec();
    body.extend_from_slice(pdu);
    body.extend_from_slice(&(text.len() as u32).to_be_bytes());
    body.extend_from_slice(text);
    raw(v, kind::ERROR_REPORT, code, &body)
}

/// Split a byte stream into PDUs by their Length fields.
fn split(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut pdus = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 8, "trailing {} octets", bytes.len());
        let len = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
        assert!((8..=pdu::MAX_LEN).contains(&len), "bad length {len}");
        assert!(
            len <= bytes.len(),
            "PDU of {len} octets, {} left",
            bytes.len()
        );
        pdus.push(&bytes[..len]);
        bytes = &bytes[len..];
    }
    pdus
}

/// Concatenate the PDUs of the outputs (checking each PDU count) and
/// return the close reason, which must come last.
fn flatten(outputs: Vec<Output>) -> (Vec<u8>, Option<Reason>) {
    let (mut bytes, mut close) = (Vec::new(), None);
    for o in outputs {
        assert!(close.is_none(), "output after Close: {o:?}");
        match o {
            Output::Pdus { bytes: b, pdus } => {
                assert_eq!(split(&b).len(), pdus as usize);
                bytes.extend_from_slice(&b);
            }
            Output::Shared(e) => {
                assert_eq!(split(&e.bytes).len(), e.pdus as usize);
                bytes.extend_from_slice(&e.bytes);
            }
            Output::Close(r) => close = Some(r),
        }
    }
    (bytes, close)
}

/// Feed `input` until the session consumes nothing more; everything must be
/// consumed unless the session closed.
fn run(session: &mut Session, cache: &Cache, input: &[u8]) -> (Vec<u8>, Vec<Note>, Option<Reason>) {
    let (mut out, mut notes, mut off) = (Vec::new(), Vec::new(), 0);
    loop {
        let n = session.receive(&input[off..], cache, &mut out, &mut notes);
        if n == 0 {
            break;
        }
        off += n;
    }
    let (bytes, close) = flatten(out);
    if close.is_some() {
        assert!(session.is_closed());
    } else if !session.is_closed() {
        assert_eq!(off, input.len(), "input left unconsumed");
    }
    (bytes, notes, close)
}

/// One query on a fresh connection.
fn ask(max_version: u8, cache: &Cache, input: &[u8]) -> (Vec<u8>, Vec<Note>, Option<Reason>) {
    run(&mut Session::new(ver(max_version)), cache, input)
}

fn v4(addr: &str, plen: u8, mlen: u8, asn: u32) -> Vrp {
    Vrp::new(Prefix::v4(addr.parse().unwrap(), plen).unwrap(), mlen, asn).unwrap()
}

fn v6(addr: &str, plen: u8, mlen: u8, asn: u32) -> Vrp {
    Vrp::new(Prefix::v6(addr.parse().unwrap(), plen).unwrap(), mlen, asn).unwrap()
}

fn key(ski: [u8; 20], asn: u32, spki: &[u8]) -> RouterKey {
    RouterKey {
        ski,
        asn,
        spki: spki.into(),
    }
}

fn aspa(customer: u32, providers: &[u32]) -> Aspa {
    Aspa {
        customer,
        providers: providers.to_vec(),
    }
}

fn snap(vrps: Vec<Vrp>, keys: Vec<RouterKey>, aspas: Vec<Aspa>) -> Snapshot {
    let (s, oversized) = Snapshot::build(vrps, keys, aspas);
    assert!(oversized.is_empty());
    s
}

/// One item of each type.
fn mixed() -> Snapshot {
    snap(
        vec![
            v4("192.0.2.0", 24, 24, 64496),
            v6("2001:db8::", 32, 48, 64497),
        ],
        vec![key([0x11; 20], 64498, &[0x30, 0x00])],
        vec![aspa(64499, &[64500])],
    )
}

/// A cache that went through `snapshots`; the first gets serial 0.
fn cache_with(snapshots: Vec<Snapshot>) -> Cache {
    let mut cache = Cache::new(BASE, TIMERS, 10);
    for s in snapshots {
        cache.update(s).unwrap();
    }
    cache
}

//------------ Decoding the cache's output -----------------------------------

/// A cache-to-router PDU, decoded with every zero field and length checked.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Pdu {
    Notify {
        v: u8,
        session: u16,
        serial: u32,
    },
    Response {
        v: u8,
        session: u16,
    },
    Prefix {
        v: u8,
        announce: bool,
        vrp: Vrp,
    },
    EndOfData {
        v: u8,
        session: u16,
        serial: u32,
    },
    Reset {
        v: u8,
    },
    Key {
        v: u8,
        announce: bool,
        key: RouterKey,
    },
    Aspa {
        v: u8,
        announce: bool,
        aspa: Aspa,
    },
    Error {
        v: u8,
        code: u16,
        pdu: Vec<u8>,
        text: Vec<u8>,
    },
}

use Pdu::{EndOfData, Response};

fn ann(v: u8, vrp: Vrp) -> Pdu {
    Pdu::Prefix {
        v,
        announce: true,
        vrp,
    }
}

fn wd(v: u8, vrp: Vrp) -> Pdu {
    Pdu::Prefix {
        v,
        announce: false,
        vrp,
    }
}

fn ann_key(v: u8, key: RouterKey) -> Pdu {
    Pdu::Key {
        v,
        announce: true,
        key,
    }
}

fn wd_key(v: u8, key: RouterKey) -> Pdu {
    Pdu::Key {
        v,
        announce: false,
        key,
    }
}

fn ann_aspa(v: u8, customer: u32, providers: &[u32]) -> Pdu {
    Pdu::Aspa {
        v,
        announce: true,
        aspa: aspa(customer, providers),
    }
}

fn wd_aspa(v: u8, customer: u32) -> Pdu {
    Pdu::Aspa {
        v,
        announce: false,
        aspa: aspa(customer, &[]),
    }
}

fn err(v: u8, code: ErrorCode, pdu: &[u8]) -> Pdu {
    Pdu::Error {
        v,
        code: code as u16,
        pdu: pdu.to_vec(),
        text: vec![],
    }
}

fn u32_at(p: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(p[at..at + 4].try_into().unwrap())
}

fn flag(p: &[u8], at: usize) -> bool {
    assert!(p[at] <= 1, "reserved flag bits set in {p:02x?}");
    p[at] == 1
}

fn decode(bytes: &[u8]) -> Vec<Pdu> {
    split(bytes).into_iter().map(decode_one).collect()
}

fn decode_one(p: &[u8]) -> Pdu {
    let (v, field, len) = (p[0], u16::from_be_bytes([p[2], p[3]]), p.len());
    assert!(v <= 2, "version {v}");
    match p[1] {
        0 => {
            assert_eq!(len, 12);
            Pdu::Notify {
                v,
                session: field,
                serial: u32_at(p, 8),
            }
        }
        3 => {
            assert_eq!(len, 8);
            Response { v, session: field }
        }
        4 => {
            assert_eq!((len, field, p[11]), (20, 0, 0), "IPv4 Prefix {p:02x?}");
            let addr = Ipv4Addr::from(u32_at(p, 12));
            let prefix = Prefix::v4(addr, p[9]).expect("host bits zero");
            let vrp = Vrp::new(prefix, p[10], u32_at(p, 16)).expect("valid max length");
            Pdu::Prefix {
                v,
                announce: flag(p, 8),
                vrp,
            }
        }
        6 => {
            assert_eq!((len, field, p[11]), (32, 0, 0), "IPv6 Prefix {p:02x?}");
            let addr = Ipv6Addr::from(<[u8; 16]>::try_from(&p[12..28]).unwrap());
            let prefix = Prefix::v6(addr, p[9]).expect("host bits zero");
            let vrp = Vrp::new(prefix, p[10], u32_at(p, 28)).expect("valid max length");
            Pdu::Prefix {
                v,
                announce: flag(p, 8),
                vrp,
            }
        }
        7 => {
            if v == 0 {
                assert_eq!(len, 12, "v0 End of Data");
            } else {
                assert_eq!(len, 24, "v{v} End of Data");
                let t = Timers {
                    refresh: u32_at(p, 12),
                    retry: u32_at(p, 16),
                    expire: u32_at(p, 20),
                };
                assert_eq!(t, TIMERS);
            }
            EndOfData {
                v,
                session: field,
                serial: u32_at(p, 8),
            }
        }
        8 => {
            assert_eq!((len, field), (8, 0), "Cache Reset {p:02x?}");
            Pdu::Reset { v }
        }
        9 => {
            assert!(v >= 1, "Router Key in v0");
            assert!(len >= 32);
            assert_eq!(p[3], 0);
            let ski = p[8..28].try_into().unwrap();
            Pdu::Key {
                v,
                announce: flag(p, 2),
                key: key(ski, u32_at(p, 28), &p[32..]),
            }
        }
        10 => {
            let r = pdu::ErrorReport::parse(p).expect("well-formed Error Report");
            Pdu::Error {
                v,
                code: r.code,
                pdu: r.pdu.to_vec(),
                text: r.text.as_bytes().to_vec(),
            }
        }
        11 => {
            assert_eq!(v, 2, "ASPA outside v2");
            assert_eq!(p[3], 0);
            let announce = flag(p, 2);
            let providers: Vec<u32> = (12..len).step_by(4).map(|at| u32_at(p, at)).collect();
            if announce {
                assert!(!providers.is_empty(), "empty ASPA announcement");
                assert!(
                    providers.windows(2).all(|w| w[0] < w[1]),
                    "providers not increasing"
                );
                assert!(
                    providers.len() == 1 || providers[0] != 0,
                    "AS0 among providers"
                );
            } else {
                assert_eq!(len, 12, "ASPA withdrawal with providers");
            }
            Pdu::Aspa {
                v,
                announce,
                aspa: Aspa {
                    customer: u32_at(p, 8),
                    providers,
                },
            }
        }
        t => panic!("cache sent PDU type {t}"),
    }
}

/// Cache Response, `body`, End of Data: a complete answer.
fn answer(cache: &Cache, v: u8, serial: u32, body: Vec<Pdu>) -> Vec<Pdu> {
    let session = id_of(cache, v);
    let mut all = vec![Response { v, session }];
    all.extend(body);
    all.push(EndOfData { v, session, serial });
    all
}

//------------ B. Reassembly and robustness (C22–C25) ------------------------

#[test]
fn c22_reset_query_one_octet_at_a_time_is_answered_identically() {
    let cache = cache_with(vec![mixed()]);
    let (whole, whole_notes, _) = ask(2, &cache, &query_reset(2));

    let mut session = Session::new(ver(2));
    let (mut out, mut notes, mut buf) = (Vec::new(), Vec::new(), Vec::new());
    for (i, b) in query_reset(2).into_iter().enumerate() {
        buf.push(b);
        let n = session.receive(&buf, &cache, &mut out, &mut notes);
        if i < 7 {
            assert_eq!(n, 0, "consumed after {} octets", i + 1);
            assert!(out.is_empty() && notes.is_empty());
        } else {
            assert_eq!(n, 8);
        }
    }
    let (bytes, close) = flatten(out);
    assert_eq!(close, None);
    assert_eq!(bytes, whole);
    assert_eq!(notes, whole_notes);
}

#[test]
fn c23_serial_query_split_anywhere_is_answered_identically() {
    let cache = cache_with(vec![
        mixed(),
        snap(vec![v4("10.0.0.0", 8, 8, 1)], vec![], vec![]),
    ]);
    let q = query_serial(2, id_of(&cache, 2), 0);
    let (whole, _, _) = ask(2, &cache, &q);
    assert_eq!(decode(&whole).len(), 2 + 5);
    for cut in 1..q.len() {
        let mut session = Session::new(ver(2));
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        assert_eq!(session.receive(&q[..cut], &cache, &mut out, &mut notes), 0);
        assert!(out.is_empty() && notes.is_empty());
        assert_eq!(session.receive(&q, &cache, &mut out, &mut notes), 12);
        assert_eq!(flatten(out), (whole.clone(), None), "cut at {cut}");
    }
}

#[test]
fn c24_back_to_back_queries_are_processed_one_per_call() {
    let cache = cache_with(vec![mixed()]);
    let sid = id_of(&cache, 2);
    let mut input = query_reset(2);
    input.extend(query_serial(2, sid, 0));

    let mut session = Session::new(ver(2));
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    assert_eq!(session.receive(&input, &cache, &mut out, &mut notes), 8);
    let (first, _) = flatten(std::mem::take(&mut out));
    assert_eq!(
        decode(&first),
        answer(
            &cache,
            2,
            0,
            vec![
                ann(2, v4("192.0.2.0", 24, 24, 64496)),
                ann(2, v6("2001:db8::", 32, 48, 64497)),
                ann_key(2, key([0x11; 20], 64498, &[0x30, 0x00])),
                ann_aspa(2, 64499, &[64500]),
            ]
        )
    );
    assert_eq!(
        session.receive(&input[8..], &cache, &mut out, &mut notes),
        12
    );
    let (second, _) = flatten(out);
    assert_eq!(decode(&second), answer(&cache, 2, 0, vec![]));
    assert_eq!(
        notes,
        [
            Note::Negotiated(ver(2)),
            Note::ResetQuery,
            Note::SerialQuery {
                serial: Serial(0),
                answer: SerialAnswer::Delta
            }
        ]
    );

    let (all, _, close) = ask(2, &cache, &input);
    assert_eq!(all, [first, second].concat());
    assert_eq!(close, None);
}

#[test]
fn c25_nonzero_reserved_octets_in_reset_query_are_ignored() {
    let cache = cache_with(vec![mixed()]);
    let (expected, _, _) = ask(2, &cache, &query_reset(2));
    for reserved in [[0x00, 0x01], [0xff, 0xff], [0x12, 0x34]] {
        let mut q = query_reset(2);
        q[2..4].copy_from_slice(&reserved);
        let (bytes, notes, close) = ask(2, &cache, &q);
        assert_eq!(bytes, expected);
        assert_eq!(notes, [Note::Negotiated(ver(2)), Note::ResetQuery]);
        assert_eq!(close, None);
    }
}

//------------ C. Reset Query (C26–C34) --------------------------------------

#[test]
fn c26_reset_response_is_cache_response_payload_end_of_data_byte_exact() {
    let cache = cache_with(vec![mixed()]);
    let sid = id_of(&cache, 2);
    let (bytes, notes, close) = ask(2, &cache, &query_reset(2));
    let expected = [
        format!("02 03 {sid:04x} 00000008"), // v2 Cache Response, session, length 8
        "02 04 0000 00000014".into(),        // v2 IPv4 Prefix, zero, length 20
        "01 18 18 00 c0000200 0000fbf0".into(), // announce 192.0.2.0/24-24 AS64496
        "02 06 0000 00000020".into(),        // v2 IPv6 Prefix, zero, length 32
        "01 20 30 00".into(),                // announce, plen 32, maxlen 48, zero
        "20010db8 00000000 00000000 00000000 0000fbf1".into(), // 2001:db8:: AS64497
        "02 09 01 00 00000022".into(),       // v2 Router Key, announce, zero, length 34
        "1111111111111111111111111111111111111111".into(), // SKI
        "0000fbf2 3000".into(),              // AS64498, SPKI
        "02 0b 01 00 00000010".into(),       // v2 ASPA, announce, zero, length 16
        "0000fbf3 0000fbf4".into(),          // customer AS64499, provider AS64500
        format!("02 07 {sid:04x} 00000018"), // v2 End of Data, session, length 24
        "00000000".into(),                   // serial 0
        "00000e10 00000258 00001c20".into(), // refresh, retry, expire
    ]
    .concat();
    assert_eq!(bytes, hex(&expected));
    assert_eq!(notes, [Note::Negotiated(ver(2)), Note::ResetQuery]);
    assert_eq!(close, None);
}

#[test]
fn c27_c28_reset_response_announces_only_and_eod_matches_cache_response() {
    let cache = cache_with(vec![
        mixed(),
        snap(vec![v4("10.0.0.0", 8, 8, 1)], vec![], vec![aspa(1, &[2])]),
    ]);
    for v in 0..=2 {
        let (bytes, _, _) = ask(2, &cache, &query_reset(v));
        let pdus = decode(&bytes);
        let (first, last) = (&pdus[0], &pdus[pdus.len() - 1]);
        let session = id_of(&cache, v);
        assert_eq!(*first, Response { v, session });
        assert_eq!(
            *last,
            EndOfData {
                v,
                session,
                serial: 1
            }
        );
        for p in &pdus[1..pdus.len() - 1] {
            match p {
                Pdu::Prefix { announce, .. }
                | Pdu::Key { announce, .. }
                | Pdu::Aspa { announce, .. } => {
                    assert!(announce, "withdrawal in a reset response: {p:?}");
                }
                _ => panic!("unexpected {p:?}"),
            }
        }
    }
}

#[test]
fn c29_eod_serial_is_that_of_the_data_delivered() {
    let mut cache = cache_with(vec![snap(vec![v4("10.0.0.0", 8, 8, 1)], vec![], vec![])]);
    cache
        .update(snap(vec![v4("11.0.0.0", 8, 8, 2)], vec![], vec![]))
        .unwrap();
    let (bytes, _, _) = ask(2, &cache, &query_reset(2));
    assert_eq!(
        decode(&bytes),
        answer(&cache, 2, 1, vec![ann(2, v4("11.0.0.0", 8, 8, 2))])
    );
}

#[test]
fn c30_empty_data_set_is_cache_response_then_end_of_data() {
    let cache = cache_with(vec![Snapshot::default()]);
    for v in 0..=2u8 {
        let sid = id_of(&cache, v);
        let (bytes, notes, close) = ask(2, &cache, &query_reset(v));
        let eod = if v == 0 {
            format!("00 07 {sid:04x} 0000000c 00000000") // v0 End of Data, length 12, serial 0
        } else {
            // End of Data, length 24, serial 0, refresh, retry, expire
            format!("{v:02x} 07 {sid:04x} 00000018 00000000 00000e10 00000258 00001c20")
        };
        // Cache Response, session, length 8; then End of Data.
        let expected = format!("{v:02x} 03 {sid:04x} 00000008 {eod}");
        assert_eq!(bytes, hex(&expected), "v{v}");
        assert_eq!(notes, [Note::Negotiated(ver(v)), Note::ResetQuery]);
        assert_eq!(close, None);
    }
}

#[test]
fn c31_identical_vrps_from_different_roas_are_one_pdu() {
    let a = v4("192.0.2.0", 24, 24, 1);
    let b = v4("192.0.2.0", 24, 24, 2);
    let cache = cache_with(vec![snap(vec![a, b, a, a], vec![], vec![])]);
    let (bytes, _, _) = ask(2, &cache, &query_reset(2));
    assert_eq!(
        decode(&bytes),
        answer(&cache, 2, 0, vec![ann(2, b), ann(2, a)])
    );
}

#[test]
fn c32_several_aspas_of_a_customer_are_one_sorted_union() {
    let cache = cache_with(vec![snap(
        vec![],
        vec![],
        vec![
            aspa(7, &[9]),
            aspa(5, &[30, 10]),
            aspa(5, &[20, 10]),
            aspa(5, &[40]),
        ],
    )]);
    let (bytes, _, _) = ask(2, &cache, &query_reset(2));
    assert_eq!(
        decode(&bytes),
        answer(
            &cache,
            2,
            0,
            vec![ann_aspa(2, 5, &[10, 20, 30, 40]), ann_aspa(2, 7, &[9])]
        )
    );
}

#[test]
fn c33_as0_is_dropped_from_a_union_with_other_providers() {
    let cache = cache_with(vec![snap(
        vec![],
        vec![],
        vec![
            aspa(5, &[0]),
            aspa(5, &[7, 3]),
            aspa(6, &[0]),
            aspa(6, &[0]),
        ],
    )]);
    let (bytes, _, _) = ask(2, &cache, &query_reset(2));
    assert_eq!(
        decode(&bytes),
        answer(
            &cache,
            2,
            0,
            vec![ann_aspa(2, 5, &[3, 7]), ann_aspa(2, 6, &[0])]
        )
    );
}

#[test]
fn c34_router_keys_with_one_ski_and_different_spkis_are_all_sent() {
    let k1 = key([1; 20], 65000, &[0x30, 0x01]);
    let k2 = key([1; 20], 65000, &[0x30, 0x02]);
    let k3 = key([1; 20], 65001, &[0x30, 0x01]);
    let cache = cache_with(vec![snap(
        vec![],
        vec![k3.clone(), k2.clone(), k1.clone(), k1.clone()],
        vec![],
    )]);
    let (bytes, _, _) = ask(2, &cache, &query_reset(1));
    assert_eq!(
        decode(&bytes),
        answer(
            &cache,
            1,
            0,
            vec![ann_key(1, k1), ann_key(1, k3), ann_key(1, k2)]
        )
    );
}

//------------ D. Serial Query (C35–C48) -------------------------------------

#[test]
fn c35_serial_query_at_current_serial_is_cache_response_then_end_of_data() {
    let cache = cache_with(vec![mixed(), Snapshot::default()]);
    let sid = id_of(&cache, 1);
    let (bytes, notes, close) = ask(2, &cache, &query_serial(1, sid, 1));
    let expected = [
        format!("01 03 {sid:04x} 00000008"), // v1 Cache Response, session, length 8
        format!("01 07 {sid:04x} 00000018"), // v1 End of Data, session, length 24
        "00000001".into(),                   // serial 1
        "00000e10 00000258 00001c20".into(), // refresh, retry, expire
    ]
    .concat();
    assert_eq!(bytes, hex(&expected));
    assert_eq!(
        notes,
        [
            Note::Negotiated(ver(1)),
            Note::SerialQuery {
                serial: Serial(1),
                answer: SerialAnswer::Delta
            }
        ]
    );
    assert_eq!(close, None);
}

#[test]
fn c36_serial_query_for_a_retained_serial_gets_the_minimal_delta() {
    let a = v4("10.0.0.0", 8, 8, 1);
    let b = v4("11.0.0.0", 8, 8, 1);
    let c = v4("12.0.0.0", 8, 8, 1);
    let cache = cache_with(vec![
        snap(vec![a], vec![], vec![]),
        snap(vec![a, b], vec![], vec![]),
        snap(vec![b, c], vec![], vec![]),
    ]);
    let sid = id_of(&cache, 2);
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, sid, 0));
    assert_eq!(
        decode(&bytes),
        answer(&cache, 2, 2, vec![ann(2, c), ann(2, b), wd(2, a)])
    );
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, sid, 1));
    assert_eq!(
        decode(&bytes),
        answer(&cache, 2, 2, vec![ann(2, c), wd(2, a)])
    );
    // Byte-exact for the single-step delta.
    let expected = [
        format!("02 03 {sid:04x} 00000008"), // v2 Cache Response, session, length 8
        "02 04 0000 00000014".into(),        // v2 IPv4 Prefix, length 20
        "01 08 08 00 0c000000 00000001".into(), // announce 12.0.0.0/8-8 AS1
        "02 04 0000 00000014".into(),        // v2 IPv4 Prefix, length 20
        "00 08 08 00 0a000000 00000001".into(), // withdraw 10.0.0.0/8-8 AS1
        format!("02 07 {sid:04x} 00000018"), // v2 End of Data, session, length 24
        "00000002 00000e10 00000258 00001c20".into(), // serial 2, timers
    ]
    .concat();
    assert_eq!(bytes, hex(&expected));
}

#[test]
fn c37_changes_that_cancel_out_are_not_mentioned() {
    let x = v4("10.0.0.0", 8, 8, 1);
    let y = v4("11.0.0.0", 8, 8, 1);
    let cache = cache_with(vec![
        snap(vec![x], vec![], vec![aspa(1, &[2])]),
        snap(vec![], vec![], vec![aspa(1, &[2, 3])]),
        snap(vec![x, y], vec![], vec![aspa(1, &[2])]),
    ]);
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, id_of(&cache, 2), 0));
    assert_eq!(decode(&bytes), answer(&cache, 2, 2, vec![ann(2, y)]));
}

#[test]
fn c38_each_key_is_mentioned_at_most_once_per_direction() {
    let x = v4("10.0.0.0", 8, 8, 1);
    let k = key([5; 20], 1, &[1]);
    let on = snap(vec![x], vec![k.clone()], vec![aspa(9, &[1])]);
    let off = Snapshot::default();
    let cache = cache_with(vec![off.clone(), on.clone(), off.clone(), on, off]);
    let sid = id_of(&cache, 2);
    // From 0 (absent) to 4 (absent): nothing.
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, sid, 0));
    assert_eq!(decode(&bytes), answer(&cache, 2, 4, vec![]));
    // From 1 (present) to 4 (absent): one withdrawal each.
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, sid, 1));
    assert_eq!(
        decode(&bytes),
        answer(&cache, 2, 4, vec![wd(2, x), wd_key(2, k), wd_aspa(2, 9)])
    );
}

#[test]
fn c39_maxlen_or_asn_change_is_announce_new_then_withdraw_old() {
    let old = v4("10.0.0.0", 8, 8, 1);
    let longer = v4("10.0.0.0", 8, 16, 1);
    let other_as = v6("2001:db8::", 32, 32, 2);
    let cache = cache_with(vec![
        snap(vec![old, v6("2001:db8::", 32, 32, 1)], vec![], vec![]),
        snap(vec![longer, other_as], vec![], vec![]),
    ]);
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, id_of(&cache, 2), 0));
    assert_eq!(
        decode(&bytes),
        answer(
            &cache,
            2,
            1,
            vec![
                ann(2, longer),
                wd(2, old),
                ann(2, other_as),
                wd(2, v6("2001:db8::", 32, 32, 1))
            ]
        )
    );
}

#[test]
fn c40_aspa_provider_change_is_one_replacing_announcement() {
    let cache = cache_with(vec![
        snap(vec![], vec![], vec![aspa(1, &[2]), aspa(5, &[6, 7])]),
        snap(vec![], vec![], vec![aspa(1, &[2, 3]), aspa(5, &[7])]),
        snap(vec![], vec![], vec![aspa(1, &[2, 3, 4]), aspa(5, &[7])]),
    ]);
    let sid = id_of(&cache, 2);
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, sid, 1));
    assert_eq!(
        decode(&bytes),
        answer(&cache, 2, 2, vec![ann_aspa(2, 1, &[2, 3, 4])])
    );
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, sid, 0));
    assert_eq!(
        decode(&bytes),
        answer(
            &cache,
            2,
            2,
            vec![ann_aspa(2, 1, &[2, 3, 4]), ann_aspa(2, 5, &[7])]
        )
    );
}

#[test]
fn c41_aspa_removal_is_a_12_octet_withdrawal_and_addition_an_announcement() {
    let cache = cache_with(vec![
        snap(vec![], vec![], vec![aspa(64496, &[1])]),
        snap(vec![], vec![], vec![aspa(64497, &[0])]),
    ]);
    let sid = id_of(&cache, 2);
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, sid, 0));
    let expected = [
        format!("02 03 {sid:04x} 00000008"), // v2 Cache Response
        "02 0b 01 00 00000010 0000fbf1 00000000".into(), // announce AS64497 => [AS0]
        "02 0b 00 00 0000000c 0000fbf0".into(), // withdraw AS64496, length 12
        format!("02 07 {sid:04x} 00000018"), // v2 End of Data
        "00000001 00000e10 00000258 00001c20".into(), // serial 1, timers
    ]
    .concat();
    assert_eq!(bytes, hex(&expected));
}

#[test]
fn c42_serial_older_than_the_history_gets_cache_reset() {
    let mut cache = Cache::new(BASE, TIMERS, 2);
    for i in 0..4u32 {
        cache
            .update(snap(vec![v4("10.0.0.0", 8, 8, i)], vec![], vec![]))
            .unwrap();
    }
    assert_eq!(
        cache.retained_serials().collect::<Vec<_>>(),
        [Serial(1), Serial(2)]
    );
    let sid = id_of(&cache, 2);
    let (bytes, notes, close) = ask(2, &cache, &query_serial(2, sid, 0));
    assert_eq!(bytes, hex("02 08 0000 00000008")); // v2 Cache Reset, zero, length 8
    assert_eq!(
        notes,
        [
            Note::Negotiated(ver(2)),
            Note::SerialQuery {
                serial: Serial(0),
                answer: SerialAnswer::CacheReset
            }
        ]
    );
    assert_eq!(close, None);
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, sid, 1));
    assert_eq!(decode(&bytes)[0], Response { v: 2, session: sid });
}

#[test]
fn c43_newer_or_never_issued_serial_gets_cache_reset() {
    let cache = cache_with(vec![mixed(), Snapshot::default(), mixed()]);
    for v in 0..=2u8 {
        let sid = id_of(&cache, v);
        for serial in [3, 4, 12_345, 0x8000_0000, u32::MAX] {
            let (bytes, _, close) = ask(2, &cache, &query_serial(v, sid, serial));
            assert_eq!(decode(&bytes), [Pdu::Reset { v }], "v{v} serial {serial}");
            assert_eq!(close, None);
        }
    }
}

#[test]
fn c44_history_across_the_wrap_gives_a_delta_not_a_reset() {
    let a = v4("10.0.0.0", 8, 8, 1);
    let b = v4("11.0.0.0", 8, 8, 1);
    let c = v4("12.0.0.0", 8, 8, 1);
    let mut cache = Cache::with_first_serial(BASE, TIMERS, 10, Serial(u32::MAX));
    cache.update(snap(vec![a], vec![], vec![])).unwrap(); // serial 0xffffffff
    cache.update(snap(vec![a, b], vec![], vec![])).unwrap(); // serial 0
    cache.update(snap(vec![b, c], vec![], vec![])).unwrap(); // serial 1
    assert_eq!(cache.serial(), Some(Serial(1)));
    let sid = id_of(&cache, 2);
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, sid, u32::MAX));
    assert_eq!(
        decode(&bytes),
        answer(&cache, 2, 1, vec![ann(2, c), ann(2, b), wd(2, a)])
    );
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, sid, 0));
    assert_eq!(
        decode(&bytes),
        answer(&cache, 2, 1, vec![ann(2, c), wd(2, a)])
    );
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, sid, 1));
    assert_eq!(decode(&bytes), answer(&cache, 2, 1, vec![]));
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, sid, u32::MAX - 1));
    assert_eq!(decode(&bytes), [Pdu::Reset { v: 2 }]);
}

#[test]
fn c45_query_for_zero_while_zero_is_current_is_an_empty_delta() {
    let mut cache = Cache::with_first_serial(BASE, TIMERS, 10, Serial(u32::MAX));
    cache
        .update(snap(vec![v4("10.0.0.0", 8, 8, 1)], vec![], vec![]))
        .unwrap();
    cache
        .update(snap(vec![v4("10.0.0.0", 8, 8, 2)], vec![], vec![]))
        .unwrap();
    assert_eq!(cache.serial(), Some(Serial(0)));
    let sid = id_of(&cache, 0);
    let (bytes, notes, _) = ask(2, &cache, &query_serial(0, sid, 0));
    // v0 Cache Response; v0 End of Data, length 12, serial 0.
    assert_eq!(
        bytes,
        hex(&format!(
            "00 03 {sid:04x} 00000008 00 07 {sid:04x} 0000000c 00000000"
        ))
    );
    assert_eq!(
        notes[1],
        Note::SerialQuery {
            serial: Serial(0),
            answer: SerialAnswer::Delta
        }
    );
}

#[test]
fn c46_wrong_session_on_an_established_session_is_error_0_and_close() {
    let cache = cache_with(vec![mixed()]);
    let sid = id_of(&cache, 2);
    let mut session = Session::new(ver(2));
    run(&mut session, &cache, &query_reset(2));
    assert!(session.is_established());
    let bad = query_serial(2, sid.wrapping_add(1), 0);
    let (bytes, _, close) = run(&mut session, &cache, &bad);
    let expected = [
        "02 0a 0000 0000001c", // v2 Error Report, code 0, length 28
        "0000000c",            // encapsulated length 12
    ]
    .concat();
    assert_eq!(bytes, [hex(&expected), bad, hex("00000000")].concat()); // the query, text length 0
    assert_eq!(close, Some(Reason::SentError(ErrorCode::CorruptData)));
    assert!(session.is_closed());
    // Nothing more is processed.
    let (bytes, notes, _) = run(&mut session, &cache, &query_reset(2));
    assert!(bytes.is_empty() && notes.is_empty());
}

#[test]
fn c46_wrong_session_after_a_serial_query_answer_is_also_error_0() {
    let cache = cache_with(vec![mixed()]);
    let sid = id_of(&cache, 1);
    let mut session = Session::new(ver(2));
    run(&mut session, &cache, &query_serial(1, sid, 0));
    let bad = query_serial(1, id_of(&cache, 2), 0);
    let (bytes, _, close) = run(&mut session, &cache, &bad);
    assert_eq!(decode(&bytes), [err(1, ErrorCode::CorruptData, &bad)]);
    assert_eq!(close, Some(Reason::SentError(ErrorCode::CorruptData)));
}

#[test]
fn c47_unknown_session_on_a_new_connection_gets_cache_reset() {
    let cache = cache_with(vec![mixed()]);
    let mut session = Session::new(ver(2));
    let stale = id_of(&cache, 2).wrapping_add(7);
    let (bytes, notes, close) = run(&mut session, &cache, &query_serial(2, stale, 0));
    assert_eq!(bytes, hex("02 08 0000 00000008")); // v2 Cache Reset
    assert_eq!(
        notes,
        [
            Note::Negotiated(ver(2)),
            Note::SerialQuery {
                serial: Serial(0),
                answer: SerialAnswer::CacheReset
            }
        ]
    );
    assert_eq!(close, None);
    assert!(!session.is_established());
    assert!(session.notify(&cache).is_none());
    // The router follows up with a Reset Query.
    let (bytes, _, close) = run(&mut session, &cache, &query_reset(2));
    assert_eq!(decode(&bytes).len(), 6);
    assert_eq!(close, None);
}

#[test]
fn c48_resumption_on_a_new_connection_gets_the_delta() {
    let a = v4("10.0.0.0", 8, 8, 1);
    let b = v4("11.0.0.0", 8, 8, 1);
    let mut cache = cache_with(vec![snap(vec![a], vec![], vec![])]);
    let (first, _, _) = ask(2, &cache, &query_reset(1));
    assert_eq!(decode(&first), answer(&cache, 1, 0, vec![ann(1, a)]));
    cache.update(snap(vec![b], vec![], vec![])).unwrap();
    // A new connection resumes with the session ID and serial it was given.
    let (bytes, notes, close) = ask(2, &cache, &query_serial(1, id_of(&cache, 1), 0));
    assert_eq!(
        decode(&bytes),
        answer(&cache, 1, 1, vec![ann(1, b), wd(1, a)])
    );
    assert_eq!(
        notes[1],
        Note::SerialQuery {
            serial: Serial(0),
            answer: SerialAnswer::Delta
        }
    );
    assert_eq!(close, None);
}

//------------ E. Ordering (C49–C55) -----------------------------------------

/// The IPv4 announcements of §5.2's worked example, in wire order.
fn worked_example() -> Vec<Vrp> {
    [
        ("96.64.64.64", 28, 30, 16),
        ("64.96.64.64", 28, 30, 16),
        ("64.64.96.64", 28, 30, 16),
        ("64.64.64.96", 28, 30, 16),
        ("64.64.64.64", 28, 31, 16),
        ("64.64.64.64", 29, 30, 16),
        ("64.64.64.64", 28, 30, 17),
        ("64.64.64.64", 28, 30, 15),
        ("64.64.64.64", 27, 30, 16),
        ("64.64.64.64", 28, 29, 16),
        ("64.64.64.32", 28, 30, 16),
        ("64.64.32.64", 28, 30, 16),
        ("64.32.64.64", 28, 30, 16),
        ("32.64.64.64", 28, 30, 16),
    ]
    .into_iter()
    .map(|(a, plen, mlen, asn)| v4(a, plen, mlen, asn))
    .collect()
}

/// The same shape around 32.32.32.32, in wire order.
fn worked_example_32() -> Vec<Vrp> {
    [
        ("48.32.32.32", 28, 30, 16),
        ("32.48.32.32", 28, 30, 16),
        ("32.32.48.32", 28, 30, 16),
        ("32.32.32.48", 28, 30, 16),
        ("32.32.32.32", 28, 31, 16),
        ("32.32.32.32", 29, 30, 16),
        ("32.32.32.32", 28, 30, 17),
        ("32.32.32.32", 28, 30, 15),
        ("32.32.32.32", 27, 30, 16),
        ("32.32.32.32", 28, 29, 16),
        ("32.32.32.16", 28, 30, 16),
        ("32.32.16.32", 28, 30, 16),
        ("32.16.32.32", 28, 30, 16),
        ("16.32.32.32", 28, 30, 16),
    ]
    .into_iter()
    .map(|(a, plen, mlen, asn)| v4(a, plen, mlen, asn))
    .collect()
}

/// A few IPv6 VRPs in announcement wire order.
fn v6_example() -> Vec<Vrp> {
    let base = "4040:4040:4040:4040:4040:4040:4040:4040";
    vec![
        v6("6040:4040:4040:4040:4040:4040:4040:4040", 124, 126, 16),
        v6("4040:4040:4040:4040:4040:4040:4040:4060", 124, 126, 16),
        v6(base, 124, 127, 16),
        v6(base, 125, 126, 16),
        v6(base, 124, 126, 17),
        v6(base, 124, 126, 15),
        v6(base, 123, 126, 16),
        v6(base, 124, 125, 16),
        v6("4040:4040:4040:4040:4040:4040:4040:4020", 124, 126, 16),
        v6("2040:4040:4040:4040:4040:4040:4040:4040", 124, 126, 16),
    ]
}

/// Shuffled deterministically, so input order cannot leak into the output.
fn shuffled<T: Clone>(items: &[T]) -> Vec<T> {
    let mut out = items.to_vec();
    let n = out.len();
    for i in 0..n {
        out.swap(i, (i * 7 + 3) % n);
    }
    out
}

#[test]
fn c51_c52_worked_example_announce_descending_withdraw_ascending() {
    let old = worked_example();
    let new = worked_example_32();
    let mut cache = cache_with(vec![snap(shuffled(&old), vec![], vec![])]);
    let (bytes, _, _) = ask(2, &cache, &query_reset(2));
    assert_eq!(
        decode(&bytes),
        answer(&cache, 2, 0, old.iter().map(|&x| ann(2, x)).collect())
    );

    cache.update(snap(shuffled(&new), vec![], vec![])).unwrap();
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, id_of(&cache, 2), 0));
    let mut body: Vec<Pdu> = new.iter().map(|&x| ann(2, x)).collect();
    body.extend(old.iter().rev().map(|&x| wd(2, x)));
    assert_eq!(decode(&bytes), answer(&cache, 2, 1, body));
}

#[test]
fn c51_c52_ipv6_ordering() {
    let vrps = v6_example();
    let mut cache = cache_with(vec![snap(shuffled(&vrps), vec![], vec![])]);
    let (bytes, _, _) = ask(2, &cache, &query_reset(2));
    assert_eq!(
        decode(&bytes),
        answer(&cache, 2, 0, vrps.iter().map(|&x| ann(2, x)).collect())
    );
    cache.update(Snapshot::default()).unwrap();
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, id_of(&cache, 2), 0));
    assert_eq!(
        decode(&bytes),
        answer(&cache, 2, 1, vrps.iter().rev().map(|&x| wd(2, x)).collect())
    );
}

/// Router keys in §11.2.2 order: SKI, SPKI length, SPKI, ASN.
fn keys_in_order() -> Vec<RouterKey> {
    let mut late_ski = [1u8; 20];
    late_ski[19] = 2;
    vec![
        key([1; 20], 7, &[0x30]),
        key([1; 20], 3, &[0x30, 0x01]),
        key([1; 20], 9, &[0x30, 0x01]),
        key([1; 20], 1, &[0x30, 0x02]),
        key([1; 20], 1, &[0x00, 0x00, 0x00]),
        key(late_ski, 1, &[0x30]),
        key([2; 20], 0, &[0xff]),
    ]
}

#[test]
fn c53_router_keys_by_ski_spki_length_spki_asn() {
    let keys = keys_in_order();
    let mut cache = cache_with(vec![snap(vec![], shuffled(&keys), vec![])]);
    let (bytes, _, _) = ask(2, &cache, &query_reset(2));
    assert_eq!(
        decode(&bytes),
        answer(
            &cache,
            2,
            0,
            keys.iter().map(|k| ann_key(2, k.clone())).collect()
        )
    );

    // Withdraw the odd ones, announce new ones: both groups in the same order.
    let added = vec![key([1; 20], 8, &[0x30]), key([3; 20], 0, &[0x30])];
    let kept: Vec<RouterKey> = keys.iter().step_by(2).cloned().collect();
    let gone: Vec<RouterKey> = keys.iter().skip(1).step_by(2).cloned().collect();
    cache
        .update(snap(vec![], [kept, added.clone()].concat(), vec![]))
        .unwrap();
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, id_of(&cache, 2), 0));
    let mut body: Vec<Pdu> = added.into_iter().map(|k| ann_key(2, k)).collect();
    body.extend(gone.into_iter().map(|k| wd_key(2, k)));
    assert_eq!(decode(&bytes), answer(&cache, 2, 1, body));
}

#[test]
fn c54_aspa_by_customer_ascending() {
    let customers = [1u32, 256, 65536, 16_777_216];
    let mut cache = cache_with(vec![snap(
        vec![],
        vec![],
        shuffled(&customers.map(|c| aspa(c, &[10000]))),
    )]);
    let (bytes, _, _) = ask(2, &cache, &query_reset(2));
    assert_eq!(
        decode(&bytes),
        answer(
            &cache,
            2,
            0,
            customers
                .iter()
                .map(|&c| ann_aspa(2, c, &[10000]))
                .collect()
        )
    );
    cache
        .update(snap(
            vec![],
            vec![],
            customers.map(|c| aspa(c + 1, &[10000])).to_vec(),
        ))
        .unwrap();
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, id_of(&cache, 2), 0));
    let mut body: Vec<Pdu> = customers
        .iter()
        .map(|&c| ann_aspa(2, c + 1, &[10000]))
        .collect();
    body.extend(customers.iter().map(|&c| wd_aspa(2, c)));
    assert_eq!(decode(&bytes), answer(&cache, 2, 1, body));
}

#[test]
fn c49_c50_types_ascending_announcements_before_withdrawals() {
    let (a4, b4) = (v4("10.0.0.0", 8, 8, 1), v4("11.0.0.0", 8, 8, 1));
    let (a6, b6) = (v6("2001:db8::", 32, 32, 1), v6("2001:db9::", 32, 32, 1));
    let (ka, kb) = (key([1; 20], 1, &[1]), key([2; 20], 1, &[1]));
    let mut cache = cache_with(vec![snap(
        vec![b6, a4, a6, b4],
        vec![kb.clone(), ka.clone()],
        vec![aspa(2, &[1]), aspa(1, &[1])],
    )]);
    let (bytes, _, _) = ask(2, &cache, &query_reset(2));
    assert_eq!(
        decode(&bytes),
        answer(
            &cache,
            2,
            0,
            vec![
                ann(2, b4),
                ann(2, a4),
                ann(2, b6),
                ann(2, a6),
                ann_key(2, ka.clone()),
                ann_key(2, kb.clone()),
                ann_aspa(2, 1, &[1]),
                ann_aspa(2, 2, &[1]),
            ]
        )
    );

    let (c4, c6, kc) = (
        v4("12.0.0.0", 8, 8, 1),
        v6("2001:dba::", 32, 32, 1),
        key([3; 20], 1, &[1]),
    );
    cache
        .update(snap(
            vec![b4, c4, b6, c6],
            vec![kb, kc.clone()],
            vec![aspa(2, &[1]), aspa(3, &[1])],
        ))
        .unwrap();
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, id_of(&cache, 2), 0));
    assert_eq!(
        decode(&bytes),
        answer(
            &cache,
            2,
            1,
            vec![
                ann(2, c4),
                wd(2, a4),
                ann(2, c6),
                wd(2, a6),
                ann_key(2, kc),
                wd_key(2, ka),
                ann_aspa(2, 3, &[1]),
                wd_aspa(2, 1),
            ]
        )
    );
}

#[test]
fn c55_v0_and_v1_use_the_same_ordering() {
    let old = worked_example();
    let new = worked_example_32();
    let mut cache = cache_with(vec![snap(
        shuffled(&old),
        shuffled(&keys_in_order()),
        vec![],
    )]);
    cache
        .update(snap(shuffled(&new), keys_in_order(), vec![]))
        .unwrap();
    for v in 0..=1u8 {
        let (bytes, _, _) = ask(2, &cache, &query_reset(v));
        let mut body: Vec<Pdu> = new.iter().map(|&x| ann(v, x)).collect();
        if v == 1 {
            body.extend(keys_in_order().into_iter().map(|k| ann_key(1, k)));
        }
        assert_eq!(decode(&bytes), answer(&cache, v, 1, body), "v{v} reset");

        let (bytes, _, _) = ask(2, &cache, &query_serial(v, id_of(&cache, v), 0));
        let mut body: Vec<Pdu> = new.iter().map(|&x| ann(v, x)).collect();
        body.extend(old.iter().rev().map(|&x| wd(v, x)));
        assert_eq!(decode(&bytes), answer(&cache, v, 1, body), "v{v} serial");
    }
}

//------------ F. Version negotiation (C56–C68) ------------------------------

#[test]
fn c56_first_query_v2_opens_a_v2_session_with_aspa() {
    let cache = cache_with(vec![mixed()]);
    let mut session = Session::new(ver(2));
    let (bytes, notes, _) = run(&mut session, &cache, &query_reset(2));
    assert_eq!(version_of(&session), Some(2));
    assert_eq!(notes[0], Note::Negotiated(ver(2)));
    let pdus = decode(&bytes);
    assert_eq!(pdus.len(), 6);
    assert_eq!(pdus[4], ann_aspa(2, 64499, &[64500]));
}

#[test]
fn c57_first_query_v1_opens_a_v1_session_with_keys_without_aspa() {
    let cache = cache_with(vec![mixed()]);
    let mut session = Session::new(ver(2));
    let (bytes, _, _) = run(&mut session, &cache, &query_reset(1));
    assert_eq!(version_of(&session), Some(1));
    assert_eq!(
        decode(&bytes),
        answer(
            &cache,
            1,
            0,
            vec![
                ann(1, v4("192.0.2.0", 24, 24, 64496)),
                ann(1, v6("2001:db8::", 32, 48, 64497)),
                ann_key(1, key([0x11; 20], 64498, &[0x30, 0x00])),
            ]
        )
    );
    assert_eq!(split(&bytes).last().unwrap().len(), 24);
}

#[test]
fn c58_first_query_v0_opens_a_v0_session_prefixes_only() {
    let cache = cache_with(vec![mixed()]);
    let mut session = Session::new(ver(2));
    let sid = id_of(&cache, 0);
    let (bytes, _, _) = run(&mut session, &cache, &query_reset(0));
    assert_eq!(version_of(&session), Some(0));
    let expected = [
        format!("00 03 {sid:04x} 00000008"), // v0 Cache Response
        "00 04 0000 00000014 01 18 18 00 c0000200 0000fbf0".into(), // v0 IPv4 announce
        "00 06 0000 00000020 01 20 30 00".into(), // v0 IPv6 announce, plen 32, maxlen 48
        "20010db8 00000000 00000000 00000000 0000fbf1".into(), // 2001:db8:: AS64497
        format!("00 07 {sid:04x} 0000000c 00000000"), // v0 End of Data, length 12, serial 0
    ]
    .concat();
    assert_eq!(bytes, hex(&expected));
}

#[test]
fn c59_version_above_ours_gets_error_4_with_our_version() {
    let cache = cache_with(vec![mixed()]);
    for max in 0..=2u8 {
        for v in [max + 1, 3, 11, 255] {
            for q in [query_reset(v), query_serial(v, 1, 1)] {
                let mut session = Session::new(ver(max));
                let (bytes, notes, close) = run(&mut session, &cache, &q);
                let expected = [
                    format!("{max:02x} 0a 0004 {:08x}", 16 + q.len()), // version C, Error Report, code 4, length
                    format!("{:08x}", q.len()),                        // encapsulated length
                ]
                .concat();
                assert_eq!(
                    bytes,
                    [hex(&expected), q, hex("00000000")].concat(),
                    "max {max} v{v}"
                );
                assert_eq!(notes, [Note::VersionTooHigh(v)]);
                assert_eq!(close, None);
                assert_eq!(version_of(&session), None);
            }
        }
    }
}

#[test]
fn c60_after_error_4_a_lower_version_query_is_answered() {
    let cache = cache_with(vec![mixed()]);
    let mut session = Session::new(ver(2));
    let (bytes, _, _) = run(&mut session, &cache, &query_reset(3));
    assert_eq!(
        decode(&bytes),
        [err(2, ErrorCode::UnsupportedVersion, &query_reset(3))]
    );
    assert!(session.notify(&cache).is_none());
    let (bytes, notes, close) = run(&mut session, &cache, &query_reset(2));
    assert_eq!(decode(&bytes).len(), 6);
    assert_eq!(notes, [Note::Negotiated(ver(2)), Note::ResetQuery]);
    assert_eq!(close, None);
}

#[test]
fn c62_max_version_1_answers_v2_with_error_4_at_version_1_then_serves_v1() {
    let cache = cache_with(vec![mixed()]);
    let mut session = Session::new(ver(1));
    let (bytes, notes, close) = run(&mut session, &cache, &query_reset(2));
    let expected = [
        "01 0a 0004 00000018", // v1 Error Report, code 4, length 24
        "00000008",            // encapsulated length 8
        "02 02 0000 00000008", // the v2 Reset Query
        "00000000",            // text length 0
    ]
    .concat();
    assert_eq!(bytes, hex(&expected));
    assert_eq!(notes, [Note::VersionTooHigh(2)]);
    assert_eq!(close, None);

    let (bytes, notes, close) = run(&mut session, &cache, &query_reset(1));
    assert_eq!(decode(&bytes).len(), 5);
    assert_eq!(
        decode(&bytes)[0],
        Response {
            v: 1,
            session: id_of(&cache, 1)
        }
    );
    assert_eq!(notes, [Note::Negotiated(ver(1)), Note::ResetQuery]);
    assert_eq!(close, None);
}

#[test]
fn c63_different_version_query_after_negotiation_is_error_8_and_close() {
    let cache = cache_with(vec![mixed()]);
    for (negotiated, other) in [(2u8, 1u8), (2, 0), (1, 0), (1, 2)] {
        for q in [
            query_reset(other),
            query_serial(other, id_of(&cache, other), 0),
        ] {
            let mut s = Session::new(ver(2));
            run(&mut s, &cache, &query_reset(negotiated));
            let (bytes, notes, close) = run(&mut s, &cache, &q);
            assert_eq!(
                decode(&bytes),
                [err(negotiated, ErrorCode::UnexpectedVersion, &q)]
            );
            assert!(notes.is_empty());
            assert_eq!(close, Some(Reason::SentError(ErrorCode::UnexpectedVersion)));
        }
    }
}

#[test]
fn c63_v0_session_gets_error_4_for_a_different_version_since_v0_has_no_code_8() {
    // RFC 6810 defines no code 8 (§12: only codes of the session's version),
    // so a v0 session is told Unsupported Protocol Version instead, and
    // closed all the same.
    let cache = cache_with(vec![mixed()]);
    for other in [1u8, 2] {
        let mut session = Session::new(ver(2));
        run(&mut session, &cache, &query_reset(0));
        let q = query_reset(other);
        let (bytes, _, close) = run(&mut session, &cache, &q);
        let expected = [
            "00 0a 0004 00000018", // v0 Error Report, code 4, length 24
            "00000008",            // encapsulated length 8
        ]
        .concat();
        assert_eq!(bytes, [hex(&expected), q, hex("00000000")].concat());
        assert_eq!(
            close,
            Some(Reason::SentError(ErrorCode::UnsupportedVersion))
        );
    }
}

#[test]
fn c63_even_after_only_a_no_data_answer_the_version_is_fixed() {
    let cache = Cache::new(BASE, TIMERS, 10);
    let mut session = Session::new(ver(2));
    run(&mut session, &cache, &query_reset(1));
    assert_eq!(version_of(&session), Some(1));
    let (bytes, _, close) = run(&mut session, &cache, &query_reset(2));
    assert_eq!(
        decode(&bytes),
        [err(1, ErrorCode::UnexpectedVersion, &query_reset(2))]
    );
    assert_eq!(close, Some(Reason::SentError(ErrorCode::UnexpectedVersion)));
}

#[test]
fn c64_different_version_error_report_after_negotiation_closes_without_reply() {
    let cache = cache_with(vec![mixed()]);
    for (negotiated, other) in [(2u8, 1u8), (1, 2), (0, 2), (2, 3)] {
        let mut session = Session::new(ver(2));
        run(&mut session, &cache, &query_reset(negotiated));
        let (bytes, notes, close) = run(&mut session, &cache, &report(other, 2, &[], b""));
        assert!(bytes.is_empty());
        assert!(notes.is_empty());
        assert_eq!(close, Some(Reason::ErrorReportVersion(other)));
    }
}

#[test]
fn c65_first_pdu_error_report_of_unknown_version_closes_without_reply() {
    let cache = cache_with(vec![mixed()]);
    for (max, v) in [(2u8, 3u8), (2, 255), (1, 2), (0, 1)] {
        let (bytes, notes, close) = ask(max, &cache, &report(v, 4, &query_reset(v), b""));
        assert!(bytes.is_empty());
        assert!(notes.is_empty());
        assert_eq!(close, Some(Reason::ErrorReportVersion(v)));
    }
}

#[test]
fn c65_first_pdu_error_report_at_a_known_version_is_never_answered() {
    let cache = cache_with(vec![mixed()]);
    let (bytes, _, close) = ask(2, &cache, &report(2, 0, &[], b""));
    assert!(bytes.is_empty());
    assert_eq!(close, Some(Reason::ReceivedError(0)));
    let (bytes, notes, close) = ask(2, &cache, &report(1, 2, &[], b""));
    assert!(bytes.is_empty());
    assert_eq!(notes, [Note::ReceivedError(2)]);
    assert_eq!(close, None);
}

#[test]
fn c67_session_ids_differ_per_version_and_match_across_routers() {
    let cache = cache_with(vec![mixed()]);
    let mut ids = Vec::new();
    for v in 0..=2u8 {
        let (a, _, _) = ask(2, &cache, &query_reset(v));
        let (b, _, _) = ask(2, &cache, &query_reset(v));
        let Response { session, .. } = decode(&a)[0] else {
            panic!()
        };
        assert_eq!(decode(&b)[0], Response { v, session });
        assert_eq!(session, id_of(&cache, v));
        ids.push(session);
    }
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:04x?}"
    );
}

/// Every version field of a byte stream.
fn versions(bytes: &[u8]) -> Vec<u8> {
    split(bytes).iter().map(|p| p[0]).collect()
}

#[test]
fn c68_every_pdu_carries_the_negotiated_version() {
    let mut cache = cache_with(vec![mixed()]);
    for v in 0..=2u8 {
        let mut session = Session::new(ver(2));
        let (bytes, _, _) = run(&mut session, &cache, &query_reset(v));
        assert!(versions(&bytes).iter().all(|&x| x == v));
        if v == 0 {
            cache
                .update(snap(vec![v4("10.0.0.0", 8, 8, 1)], vec![], vec![]))
                .unwrap();
        }
        let Some(Output::Pdus { bytes, .. }) = session.notify(&cache) else {
            panic!()
        };
        assert_eq!(versions(&bytes), [v]);
        let sid = id_of(&cache, v);
        let (bytes, _, _) = run(&mut session, &cache, &query_serial(v, sid, 0));
        assert!(versions(&bytes).iter().all(|&x| x == v));
        let (bytes, _, _) = run(&mut session, &cache, &raw(v, 12, 0, &[]));
        assert_eq!(versions(&bytes), [v]);
    }
}

//------------ G. Serial Notify (C66, C69) -----------------------------------

#[test]
fn c66_no_notify_before_the_first_cache_response() {
    let mut cache = Cache::new(BASE, TIMERS, 10);
    let mut session = Session::new(ver(2));
    assert!(session.notify(&cache).is_none());
    // No data yet: error 2, still no notify.
    run(&mut session, &cache, &query_reset(2));
    cache.update(mixed()).unwrap();
    assert!(session.notify(&cache).is_none());
    // Cache Reset: still no Cache Response.
    run(&mut session, &cache, &query_serial(2, 0x4242, 0));
    assert!(session.notify(&cache).is_none());
    // Version too high on another connection: nothing negotiated.
    let mut other = Session::new(ver(2));
    run(&mut other, &cache, &query_reset(3));
    assert!(other.notify(&cache).is_none());
    assert!(!other.is_established());
}

#[test]
fn c69_notify_carries_the_sessions_version_id_and_current_serial() {
    let mut cache = cache_with(vec![mixed()]);
    for v in 0..=2u8 {
        let mut session = Session::new(ver(2));
        run(&mut session, &cache, &query_reset(v));
        assert!(session.is_established());
        let sid = id_of(&cache, v);
        let serial = cache.serial().unwrap().0;
        let Some(Output::Pdus { bytes, pdus }) = session.notify(&cache) else {
            panic!()
        };
        // version, Serial Notify, session, length 12, serial
        assert_eq!(
            bytes,
            hex(&format!("{v:02x} 00 {sid:04x} 0000000c {serial:08x}"))
        );
        assert_eq!(pdus, 1);
        cache
            .update(snap(
                vec![v4("10.0.0.0", 8, 8, u32::from(v))],
                vec![],
                vec![],
            ))
            .unwrap();
        let Some(Output::Pdus { bytes, .. }) = session.notify(&cache) else {
            panic!()
        };
        assert_eq!(
            decode(&bytes),
            [Pdu::Notify {
                v,
                session: sid,
                serial: serial + 1
            }]
        );
    }
}

#[test]
fn c69_no_notify_after_close() {
    let cache = cache_with(vec![mixed()]);
    let mut session = Session::new(ver(2));
    run(&mut session, &cache, &query_reset(2));
    run(&mut session, &cache, &raw(2, 12, 0, &[]));
    assert!(session.is_closed());
    assert!(session.notify(&cache).is_none());
}

/// §8.2 timing: a new serial is told at once, the next not before the
/// interval has passed, several in between as one, never for a serial the
/// router already has.
#[test]
fn c70_notify_timing_is_rate_limited_deferred_and_coalesced() {
    use std::time::{Duration, Instant};
    let interval = Duration::from_secs(60);
    let t0 = Instant::now();
    let mut cache = cache_with(vec![mixed()]);
    let mut session = Session::new(ver(2));
    run(&mut session, &cache, &query_reset(2));
    let serial_of = |out: Option<Output>| match out {
        Some(Output::Pdus { bytes, pdus: 1 }) => {
            assert_eq!(bytes[1], kind::SERIAL_NOTIFY);
            u32::from_be_bytes(bytes[8..12].try_into().unwrap())
        }
        other => panic!("{other:?}"),
    };
    // Nothing new: nothing to tell, even when asked.
    session.new_serial();
    assert!(session.due_notify(t0, interval, &cache).is_none());
    assert!(!session.wants_notify());
    // Serial 1: told at once.
    cache
        .update(snap(vec![v4("10.0.0.0", 8, 8, 1)], vec![], vec![]))
        .unwrap();
    session.new_serial();
    assert_eq!(serial_of(session.due_notify(t0, interval, &cache)), 1);
    // Serials 2 and 3 within the interval: deferred, not dropped.
    for asn in [2, 3] {
        cache
            .update(snap(vec![v4("10.0.0.0", 8, 8, asn)], vec![], vec![]))
            .unwrap();
        session.new_serial();
        let soon = t0 + Duration::from_secs(u64::from(asn) * 10);
        assert!(session.due_notify(soon, interval, &cache).is_none());
        assert!(session.wants_notify());
    }
    // Once the interval has passed: one notify, for the newest serial.
    let later = t0 + interval;
    assert_eq!(serial_of(session.due_notify(later, interval, &cache)), 3);
    assert!(session.due_notify(later, interval, &cache).is_none());
    assert!(!session.wants_notify());
    // A router that fetched the new serial by itself is not told of it.
    cache
        .update(snap(vec![v4("10.0.0.0", 8, 8, 4)], vec![], vec![]))
        .unwrap();
    session.new_serial();
    let q = query_serial(2, id_of(&cache, 2), 3);
    let (bytes, _, _) = run(&mut session, &cache, &q);
    assert!(!bytes.is_empty());
    let much_later = later + interval * 2;
    assert!(session.due_notify(much_later, interval, &cache).is_none());
    assert!(!session.wants_notify());
}

#[test]
fn c70_no_notify_before_establishment_even_when_due() {
    use std::time::{Duration, Instant};
    let cache = cache_with(vec![mixed()]);
    let mut session = Session::new(ver(2));
    session.new_serial();
    assert!(!session.wants_notify());
    assert!(session
        .due_notify(Instant::now(), Duration::ZERO, &cache)
        .is_none());
}

//------------ H. No data, restart (C76–C81) ---------------------------------

#[test]
fn c76_c77_no_data_is_error_2_and_the_connection_stays_open() {
    let cache = Cache::new(BASE, TIMERS, 10);
    for v in 0..=2u8 {
        for q in [query_reset(v), query_serial(v, id_of(&cache, v), 0)] {
            let (bytes, notes, close) = ask(2, &cache, &q);
            // version, Error Report, code 2, length 16, no PDU, no text
            assert_eq!(
                bytes,
                hex(&format!("{v:02x} 0a 0002 00000010 00000000 00000000"))
            );
            assert_eq!(notes, [Note::Negotiated(ver(v)), Note::NoData]);
            assert_eq!(close, None);
        }
    }
}

#[test]
fn c78_once_data_arrives_a_reset_query_gets_the_table() {
    let mut cache = Cache::new(BASE, TIMERS, 10);
    let mut session = Session::new(ver(2));
    let (bytes, _, close) = run(&mut session, &cache, &query_reset(2));
    assert_eq!(decode(&bytes), [err(2, ErrorCode::NoDataAvailable, &[])]);
    assert_eq!(close, None);
    cache.update(mixed()).unwrap();
    let (bytes, notes, close) = run(&mut session, &cache, &query_reset(2));
    assert_eq!(decode(&bytes).len(), 6);
    assert_eq!(
        decode(&bytes)[5],
        EndOfData {
            v: 2,
            session: id_of(&cache, 2),
            serial: 0
        }
    );
    assert_eq!(notes, [Note::ResetQuery]);
    assert_eq!(close, None);
}

/// The error codes in a byte stream.
fn error_codes(bytes: &[u8]) -> Vec<u16> {
    decode(bytes)
        .into_iter()
        .filter_map(|p| match p {
            Pdu::Error { code, .. } => Some(code),
            _ => None,
        })
        .collect()
}

#[test]
fn c81_v0_v1_sessions_never_get_codes_above_their_version() {
    let cache = cache_with(vec![mixed()]);
    for v in 0..=1u8 {
        let other = 1 - v;
        let inputs = [
            query_serial(v, 0x4242, 0), // then wrong session: code 0
            raw(v, 12, 0, &[]),         // unknown type
            raw(v, 11, 0x0100, &[0, 0, 0, 1, 0, 0, 0, 2]), // ASPA
            raw(v, 9, 0, &[0; 24]),     // Router Key
            raw(v, 4, 0, &[0; 12]),     // IPv4 Prefix
            query_reset(other),         // other version
            query_reset(3),             // version too high
            raw(v, 2, 0, &[0; 4]),      // bad length
            hex(&format!("{v:02x} 02 0000 00010000")), // length > 65535
        ];
        for input in inputs {
            let mut session = Session::new(ver(2));
            run(&mut session, &cache, &query_reset(v));
            let (bytes, _, _) = run(&mut session, &cache, &input);
            for code in error_codes(&bytes) {
                assert!(
                    code <= 7 + u16::from(v),
                    "v{v} session got code {code} for {input:02x?}"
                );
            }
            assert!(versions(&bytes).iter().all(|&x| x == v));
        }
        let mut session = Session::new(ver(2));
        run(&mut session, &cache, &query_reset(v));
        assert!(session.restart().is_none(), "v{v} restart");
    }
}

#[test]
fn c79_restart_is_error_12_for_v2_sessions_only() {
    let cache = cache_with(vec![mixed()]);
    let mut session = Session::new(ver(2));
    assert!(session.restart().is_none(), "not negotiated");
    run(&mut session, &cache, &query_reset(2));
    let Some(Output::Pdus { bytes, pdus }) = session.restart() else {
        panic!()
    };
    // v2, Error Report, code 12, length 16, no PDU, no text
    assert_eq!(bytes, hex("02 0a 000c 00000010 00000000 00000000"));
    assert_eq!(pdus, 1);
    run(&mut session, &cache, &raw(2, 12, 0, &[]));
    assert!(session.restart().is_none(), "closed");
}

//------------ I. Malformed and unexpected input (C83–C91) -------------------

#[test]
fn c83_unknown_type_is_error_5_with_the_full_pdu_at_the_pdus_version() {
    let cache = cache_with(vec![mixed()]);
    for v in 0..=2u8 {
        for kind in [5u8, 12, 13, 254, 255] {
            for body in [&[][..], &[1, 2, 3, 4, 5, 6, 7, 8][..]] {
                let pdu = raw(v, kind, 0, body);
                let (bytes, notes, close) = ask(2, &cache, &pdu);
                assert_eq!(
                    decode(&bytes),
                    [err(v, ErrorCode::UnsupportedPduType, &pdu)]
                );
                assert!(notes.is_empty());
                assert_eq!(
                    close,
                    Some(Reason::SentError(ErrorCode::UnsupportedPduType))
                );
            }
        }
    }
}

#[test]
fn c83_unknown_type_is_24_octets_as_rapport_expects() {
    let cache = cache_with(vec![mixed()]);
    let (bytes, _, _) = ask(2, &cache, &hex("02 0c 0000 00000008"));
    assert_eq!(
        bytes,
        hex(concat!(
            "02 0a 0005 00000018", // v2 Error Report, code 5, length 24
            "00000008",            // encapsulated length 8
            "02 0c 0000 00000008", // the PDU
            "00000000",            // text length 0
        ))
    );
    let (bytes, _, _) = ask(2, &cache, &hex("00 0c 0000 00000008"));
    assert_eq!(
        bytes,
        hex("00 0a 0005 00000018 00000008 000c000000000008 00000000")
    );
}

#[test]
fn c83_unknown_type_in_an_established_session_uses_the_session_version() {
    let cache = cache_with(vec![mixed()]);
    let mut session = Session::new(ver(2));
    run(&mut session, &cache, &query_reset(1));
    let pdu = raw(1, 200, 0, &[9; 8]);
    let (bytes, _, close) = run(&mut session, &cache, &pdu);
    assert_eq!(
        decode(&bytes),
        [err(1, ErrorCode::UnsupportedPduType, &pdu)]
    );
    assert_eq!(
        close,
        Some(Reason::SentError(ErrorCode::UnsupportedPduType))
    );
}

#[test]
fn c83_unknown_type_at_an_unsupported_version_is_error_4_at_ours() {
    // The version is checked first (§7); the unknown type is not reached.
    let cache = cache_with(vec![mixed()]);
    let pdu = raw(3, 12, 0, &[]);
    let (bytes, notes, close) = ask(2, &cache, &pdu);
    assert_eq!(
        decode(&bytes),
        [err(2, ErrorCode::UnsupportedVersion, &pdu)]
    );
    assert_eq!(notes, [Note::VersionTooHigh(3)]);
    assert_eq!(close, None);
}

/// A plausible PDU of each cache-to-router type at version `v`.
fn cache_only_pdus(v: u8) -> Vec<Vec<u8>> {
    let mut pdus = vec![
        raw(v, 0, 1, &[0, 0, 0, 1]),                          // Serial Notify
        raw(v, 3, 1, &[]),                                    // Cache Response
        raw(v, 4, 0, &[1, 8, 8, 0, 10, 0, 0, 0, 0, 0, 0, 1]), // IPv4 Prefix
        raw(
            v,
            6,
            0,
            &[
                1, 32, 32, 0, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
            ],
        ), // IPv6 Prefix
        raw(v, 7, 1, &[0; 4]),                                // End of Data (v0 shape)
        raw(v, 7, 1, &[0; 16]),                               // End of Data (v1 shape)
        raw(v, 8, 0, &[]),                                    // Cache Reset
    ];
    if v >= 1 {
        pdus.push(raw(v, 9, 0x0100, &[0; 26])); // Router Key
    }
    if v >= 2 {
        pdus.push(raw(v, 11, 0x0100, &[0, 0, 0, 1, 0, 0, 0, 2])); // ASPA
    }
    pdus
}

#[test]
fn c84_cache_only_types_are_error_3_and_close() {
    let cache = cache_with(vec![mixed()]);
    for v in 0..=2u8 {
        for pdu in cache_only_pdus(v) {
            // Before and after negotiation.
            for negotiate in [false, true] {
                let mut session = Session::new(ver(2));
                if negotiate {
                    run(&mut session, &cache, &query_reset(v));
                }
                let (bytes, _, close) = run(&mut session, &cache, &pdu);
                assert_eq!(
                    decode(&bytes),
                    [err(v, ErrorCode::InvalidRequest, &pdu)],
                    "v{v} type {}",
                    pdu[1]
                );
                assert_eq!(close, Some(Reason::SentError(ErrorCode::InvalidRequest)));
            }
        }
    }
}

#[test]
fn c84_types_reserved_in_the_pdus_version_are_error_5() {
    let cache = cache_with(vec![mixed()]);
    let cases = [
        raw(0, 9, 0x0100, &[0; 26]),                   // Router Key at v0
        raw(0, 11, 0x0100, &[0, 0, 0, 1, 0, 0, 0, 2]), // ASPA at v0
        raw(1, 11, 0x0100, &[0, 0, 0, 1, 0, 0, 0, 2]), // ASPA at v1
    ];
    for pdu in cases {
        let (bytes, _, close) = ask(2, &cache, &pdu);
        assert_eq!(
            decode(&bytes),
            [err(pdu[0], ErrorCode::UnsupportedPduType, &pdu)]
        );
        assert_eq!(
            close,
            Some(Reason::SentError(ErrorCode::UnsupportedPduType))
        );
    }
}

#[test]
fn c85_query_with_the_wrong_length_is_error_0_and_close() {
    let cache = cache_with(vec![mixed()]);
    for v in 0..=2u8 {
        let sid = id_of(&cache, v);
        let cases = [
            raw(v, 2, 0, &[0; 4]),   // Reset Query, length 12
            raw(v, 2, 0, &[0; 8]),   // Reset Query, length 16
            raw(v, 1, sid, &[]),     // Serial Query, length 8
            raw(v, 1, sid, &[0; 8]), // Serial Query, length 16
        ];
        for pdu in cases {
            let (bytes, notes, close) = ask(2, &cache, &pdu);
            assert_eq!(decode(&bytes), [err(v, ErrorCode::CorruptData, &pdu)]);
            assert!(notes.is_empty());
            assert_eq!(close, Some(Reason::SentError(ErrorCode::CorruptData)));
        }
    }
}

#[test]
fn c86_length_above_65535_is_error_0_with_the_header_only_consuming_8_octets() {
    let cache = cache_with(vec![mixed()]);
    for (max, header) in [
        (2u8, "02 02 0000 00010000"), // length 65536
        (2, "01 01 0000 ffffffff"),   // length 4294967295
        (2, "07 02 0000 00010000"),   // unknown version
    ] {
        let mut input = hex(header);
        input.extend_from_slice(&[0xee; 100]);
        let mut session = Session::new(ver(max));
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        assert_eq!(session.receive(&input, &cache, &mut out, &mut notes), 8);
        let (bytes, close) = flatten(out);
        let v = input[0].min(max);
        assert_eq!(
            decode(&bytes),
            [err(v, ErrorCode::CorruptData, &input[..8])]
        );
        assert_eq!(close, Some(Reason::SentError(ErrorCode::CorruptData)));
        assert_eq!(
            session.receive(&input[8..], &cache, &mut Vec::new(), &mut notes),
            0
        );
    }
    // The header alone is enough: the body is never waited for.
    let (bytes, _, close) = ask(2, &cache, &hex("02 02 0000 00010000"));
    assert_eq!(
        bytes,
        hex(concat!(
            "02 0a 0000 00000018", // v2 Error Report, code 0, length 24
            "00000008",            // encapsulated length 8
            "02 02 0000 00010000", // the header
            "00000000",            // text length 0
        ))
    );
    assert!(close.is_some());
}

#[test]
fn c87_length_below_8_is_error_0_and_close() {
    let cache = cache_with(vec![mixed()]);
    for len in 0..8u32 {
        let mut input = vec![2, 2, 0, 0];
        input.extend_from_slice(&len.to_be_bytes());
        let mut session = Session::new(ver(2));
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        assert_eq!(session.receive(&input, &cache, &mut out, &mut notes), 8);
        let (bytes, close) = flatten(out);
        assert_eq!(decode(&bytes), [err(2, ErrorCode::CorruptData, &input)]);
        assert_eq!(close, Some(Reason::SentError(ErrorCode::CorruptData)));
    }
}

#[test]
fn c88_fatal_error_report_from_the_router_closes_without_reply() {
    let cache = cache_with(vec![mixed()]);
    let fatal: [&[u16]; 3] = [
        &[0, 1, 3, 5, 6, 7],
        &[0, 1, 3, 5, 6, 7, 8],
        &[0, 1, 3, 5, 6, 7, 8, 9, 10, 11, 13],
    ];
    for v in 0..=2u8 {
        for &code in fatal[usize::from(v)] {
            let mut session = Session::new(ver(2));
            run(&mut session, &cache, &query_reset(v));
            let r = report(v, code, &query_reset(v), b"bad");
            let (bytes, notes, close) = run(&mut session, &cache, &r);
            assert!(bytes.is_empty(), "v{v} code {code}");
            assert!(notes.is_empty());
            assert_eq!(close, Some(Reason::ReceivedError(code)));
        }
    }
}

#[test]
fn c89_malformed_error_report_closes_without_reply() {
    let cache = cache_with(vec![mixed()]);
    let cases = [
        hex("02 0a 0000 00000008"),                            // length 8
        hex("02 0a 0000 0000000c 00000000"),                   // length 12
        hex("02 0a 0000 00000010 00000004 00000000"),          // encapsulated length past the end
        hex("02 0a 0000 00000014 00000000 00000002 68696869"), // text length 2, 4 octets follow
        hex("02 0a 0002 00000014 00000000 00000008 68696869"), // text length past the end
    ];
    for r in cases {
        for negotiate in [false, true] {
            let mut session = Session::new(ver(2));
            if negotiate {
                run(&mut session, &cache, &query_reset(2));
            }
            let (bytes, notes, close) = run(&mut session, &cache, &r);
            assert!(bytes.is_empty(), "{r:02x?}");
            assert!(notes.is_empty());
            assert_eq!(close, Some(Reason::BadErrorReport));
        }
    }
}

#[test]
fn c90_error_report_with_a_code_not_of_its_version_closes_without_reply() {
    let cache = cache_with(vec![mixed()]);
    for (v, code) in [
        (2u8, 200u16),
        (2, 14),
        (2, 255),
        (1, 9),
        (1, 12),
        (0, 8),
        (0, 200),
    ] {
        let mut session = Session::new(ver(2));
        run(&mut session, &cache, &query_reset(v));
        let (bytes, notes, close) = run(&mut session, &cache, &report(v, code, &[], b""));
        assert!(bytes.is_empty());
        assert!(notes.is_empty());
        assert_eq!(close, Some(Reason::BadErrorReport), "v{v} code {code}");
    }
}

#[test]
fn c91_non_fatal_error_reports_are_noted_and_the_session_continues() {
    let cache = cache_with(vec![mixed()]);
    // Code 4 is fatal in RFC 6810 and RFC 8210, non-fatal in v2 (§7).
    let non_fatal: [&[u16]; 3] = [&[2], &[2], &[2, 4, 12]];
    for v in 0..=2u8 {
        for &code in non_fatal[usize::from(v)] {
            let mut session = Session::new(ver(2));
            run(&mut session, &cache, &query_reset(v));
            let (bytes, notes, close) = run(&mut session, &cache, &report(v, code, &[], b"hm"));
            assert!(bytes.is_empty());
            assert_eq!(notes, [Note::ReceivedError(code)]);
            assert_eq!(close, None);
            let (bytes, _, close) = run(&mut session, &cache, &query_reset(v));
            assert_eq!(
                decode(&bytes)[0],
                Response {
                    v,
                    session: id_of(&cache, v)
                }
            );
            assert_eq!(close, None);
        }
    }
}

#[test]
fn c91_unsupported_version_report_is_fatal_before_v2() {
    let cache = cache_with(vec![mixed()]);
    for v in 0..=1u8 {
        let mut session = Session::new(ver(2));
        run(&mut session, &cache, &query_reset(v));
        let (bytes, _, close) = run(&mut session, &cache, &report(v, 4, &[], b""));
        assert!(bytes.is_empty());
        assert_eq!(close, Some(Reason::ReceivedError(4)));
    }
}

#[test]
fn c89_error_report_with_text_that_is_not_utf8_is_dropped_silently() {
    let cache = cache_with(vec![mixed()]);
    let mut session = Session::new(ver(2));
    run(&mut session, &cache, &query_reset(2));
    let (bytes, _, close) = run(&mut session, &cache, &report(2, 2, &[], &[0xff, 0xfe]));
    assert!(bytes.is_empty());
    assert_eq!(close, Some(Reason::BadErrorReport));
}

//------------ J. Per-version filtering (C94–C96) ----------------------------

/// Every PDU type of a byte stream.
fn kinds(bytes: &[u8]) -> Vec<u8> {
    split(bytes).iter().map(|p| p[1]).collect()
}

#[test]
fn c94_c95_v0_never_sees_keys_or_aspa_and_v1_never_aspa() {
    let k = key([7; 20], 1, &[1, 2]);
    let cache = cache_with(vec![
        mixed(),
        snap(
            vec![v4("10.0.0.0", 8, 8, 1)],
            vec![k.clone()],
            vec![aspa(1, &[2]), aspa(3, &[4])],
        ),
        snap(
            vec![v4("10.0.0.0", 8, 8, 1)],
            vec![],
            vec![aspa(1, &[2, 5])],
        ),
    ]);
    for v in 0..=2u8 {
        let sid = id_of(&cache, v);
        let mut seen = Vec::new();
        for q in [
            query_reset(v),
            query_serial(v, sid, 0),
            query_serial(v, sid, 1),
        ] {
            let (bytes, _, _) = ask(2, &cache, &q);
            seen.extend(kinds(&bytes));
        }
        assert_eq!(seen.contains(&kind::ROUTER_KEY), v >= 1, "v{v}: {seen:?}");
        assert_eq!(seen.contains(&kind::ASPA), v >= 2, "v{v}: {seen:?}");
    }
}

#[test]
fn c96_aspa_only_change_gives_v0_v1_an_empty_delta_with_the_new_serial() {
    let cache = cache_with(vec![mixed(), {
        let mut s = mixed();
        s.aspas = vec![aspa(64499, &[64500, 64501])];
        s
    }]);
    for v in 0..=1u8 {
        let sid = id_of(&cache, v);
        let (bytes, notes, close) = ask(2, &cache, &query_serial(v, sid, 0));
        assert_eq!(decode(&bytes), answer(&cache, v, 1, vec![]));
        assert_eq!(
            notes[1],
            Note::SerialQuery {
                serial: Serial(0),
                answer: SerialAnswer::Delta
            }
        );
        assert_eq!(close, None);
    }
    let (bytes, _, _) = ask(2, &cache, &query_serial(2, id_of(&cache, 2), 0));
    assert_eq!(
        decode(&bytes),
        answer(&cache, 2, 1, vec![ann_aspa(2, 64499, &[64500, 64501])])
    );
}

#[test]
fn c96_router_key_only_change_gives_v0_an_empty_delta() {
    let cache = cache_with(vec![mixed(), {
        let mut s = mixed();
        s.router_keys.clear();
        s
    }]);
    let (bytes, _, _) = ask(2, &cache, &query_serial(0, id_of(&cache, 0), 0));
    assert_eq!(decode(&bytes), answer(&cache, 0, 1, vec![]));
    let (bytes, _, _) = ask(2, &cache, &query_serial(1, id_of(&cache, 1), 0));
    assert_eq!(
        decode(&bytes),
        answer(
            &cache,
            1,
            1,
            vec![wd_key(1, key([0x11; 20], 64498, &[0x30, 0x00]))]
        )
    );
}
