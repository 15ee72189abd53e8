//! The router's side against rovd's own cache side: what the session and
//! the cache send is what the client must take, and every rule it checks
//! is shown broken once.

use super::*;
use crate::pdu::{self, Timers};
use crate::rtr::cache::Cache;
use crate::rtr::session::{Output, Session};
use crate::testdata::{self, Spec};

const TIMERS: Timers = Timers {
    refresh: 900,
    retry: 60,
    expire: 1800,
};

/// What rovd's session answers `query` with at `version`.
fn answer(cache: &Cache, version: Version, query: &[u8]) -> Vec<u8> {
    let mut session = Session::new(version);
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    session.receive(query, cache, &mut out, &mut notes);
    let mut bytes = Vec::new();
    for o in out {
        match o {
            Output::Pdus { bytes: b, .. } => bytes.extend_from_slice(&b),
            Output::Shared(e) => bytes.extend_from_slice(&e.bytes),
            Output::Close(_) => {}
        }
    }
    bytes
}

/// Feed `octets` to the client in pieces of `step`; the events.
fn feed(client: &mut Client, octets: &[u8], step: usize) -> Vec<Event> {
    let mut events = Vec::new();
    let mut buf = Vec::new();
    for piece in octets.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            let n = client.receive(&buf, &mut events);
            if n == 0 {
                break;
            }
            buf.drain(..n);
        }
    }
    assert!(
        buf.is_empty() || client.is_failed(),
        "{} octets left",
        buf.len()
    );
    events
}

fn snapshot(vrps: usize, seed: u64) -> Snapshot {
    let s = testdata::generate(&Spec {
        vrps,
        ..Spec::small()
    });
    testdata::mutate(&s, 0.0, seed)
}

#[test]
fn a_reset_then_deltas_from_rovd_s_own_cache_give_its_tables() {
    for version in Version::ALL {
        let mut cache = Cache::new(0x1234, TIMERS, 5);
        let mut tables = vec![snapshot(800, 1)];
        for i in 0..4 {
            let next = testdata::mutate(tables.last().unwrap(), 7.0, 10 + i);
            tables.push(next);
        }
        cache.update(tables[0].clone()).unwrap();
        let mut client = Client::new(version);
        let query = client.take_output();
        let events = feed(&mut client, &answer(&cache, version, &query), 37);
        let want = cache_view(&tables[0], version);
        assert!(
            matches!(&events[..], [Event::Synced { full: true, .. }]),
            "{events:?}"
        );
        assert_eq!(client.table(), &want, "v{version} after the reset");
        for t in &tables[1..] {
            cache.update(t.clone()).unwrap();
            client.refresh();
            let query = client.take_output();
            let events = feed(&mut client, &answer(&cache, version, &query), 1000);
            let Some(Event::Synced {
                full,
                changes,
                serial,
                ..
            }) = events.last()
            else {
                panic!("{events:?}")
            };
            assert!(!full);
            assert_eq!(Some(*serial), cache.serial());
            assert_eq!(client.table(), &cache_view(t, version), "v{version}");
            assert!(!changes.is_empty());
        }
        assert_eq!(client.timers(), version.has_timers().then_some(TIMERS));
    }
}

#[test]
fn a_reset_answer_replaces_the_table_with_no_changes_and_the_table_can_be_taken() {
    for version in Version::ALL {
        let mut cache = Cache::new(0x1234, TIMERS, 5);
        let first = snapshot(300, 3);
        cache.update(first.clone()).unwrap();
        let mut client = Client::new(version);
        let query = client.take_output();
        let events = feed(&mut client, &answer(&cache, version, &query), 64);
        let [Event::Synced {
            full: true,
            changes,
            ..
        }] = &events[..]
        else {
            panic!("{events:?}")
        };
        assert!(changes.is_empty(), "{changes:?}");
        let want = cache_view(&first, version);
        assert_eq!(client.table(), &want);
        // Taken out, the table leaves the client empty, and a refresh asks
        // for the whole table again.
        assert_eq!(client.take_table(), want);
        assert!(client.table().is_empty());
        assert_eq!(client.position(), None);
        client.refresh();
        let query = client.take_output();
        let events = feed(&mut client, &answer(&cache, version, &query), 64);
        assert!(matches!(&events[..], [Event::Synced { full: true, .. }]));
        assert_eq!(client.table(), &want);
    }
}

/// What a cache serves of `s` at `version`.
fn cache_view(s: &Snapshot, version: Version) -> Snapshot {
    Snapshot {
        vrps: s.vrps.clone(),
        router_keys: if version.has_router_keys() {
            s.router_keys.clone()
        } else {
            Vec::new()
        },
        aspas: if version.has_aspa() {
            s.aspas.clone()
        } else {
            Vec::new()
        },
    }
}

fn head(v: Version, session: u16) -> Vec<u8> {
    let mut out = Vec::new();
    pdu::cache_response(&mut out, v, SessionId(session));
    out
}

fn tail(out: &mut Vec<u8>, v: Version, session: u16, serial: u32) {
    pdu::end_of_data(out, v, SessionId(session), Serial(serial), &TIMERS);
}

fn synced(v: Version, s: &Snapshot) -> Client {
    let mut client = Client::new(v);
    client.take_output();
    let mut out = head(v, 7);
    crate::rtr::cache::encode_full(&mut out, v, s);
    tail(&mut out, v, 7, 1);
    let events = feed(&mut client, &out, 100);
    assert!(matches!(events[..], [Event::Synced { .. }]), "{events:?}");
    client
}

/// The code of the Error Report the client queued.
fn reported(client: &mut Client) -> u16 {
    let out = client.take_output();
    let (_, pdu, _) = Pdu::decode(&out).unwrap().unwrap();
    match pdu {
        Pdu::ErrorReport(r) => r.code,
        other => panic!("{other:?}"),
    }
}

#[test]
fn records_announced_twice_or_withdrawn_unheld_are_reported() {
    let v = Version::V2;
    let s = snapshot(20, 2);
    let vrp = s.vrps[0];
    // Twice in a Reset Query's answer.
    let mut client = Client::new(v);
    client.take_output();
    let mut out = head(v, 7);
    pdu::vrp(&mut out, v, true, &vrp);
    pdu::vrp(&mut out, v, true, &vrp);
    tail(&mut out, v, 7, 1);
    let events = feed(&mut client, &out, 64);
    assert!(matches!(
        events[..],
        [Event::Failed(Failure::Broken { .. })]
    ));
    assert_eq!(reported(&mut client), 7);
    assert!(client.table().is_empty(), "nothing of a bad answer is kept");
    // A withdrawal in a Reset Query's answer.
    let mut client = Client::new(v);
    client.take_output();
    let mut out = head(v, 7);
    pdu::vrp(&mut out, v, false, &vrp);
    feed(&mut client, &out, 64);
    assert_eq!(reported(&mut client), 0);
    // In a delta: announcing a held record, withdrawing an unheld one.
    for (announce, code) in [(true, 7), (false, 6)] {
        let mut client = synced(v, &s);
        client.refresh();
        client.take_output();
        let other = Vrp::new("203.0.113.0/24".parse().unwrap(), 24, 64_511).unwrap();
        assert!(!s.vrps.contains(&other));
        let mut out = head(v, 7);
        pdu::vrp(&mut out, v, announce, if announce { &vrp } else { &other });
        let events = feed(&mut client, &out, 64);
        assert!(matches!(events[..], [Event::Failed(_)]), "{events:?}");
        assert_eq!(reported(&mut client), code);
        assert_eq!(client.table(), &cache_view(&s, v), "the table stays");
    }
    // An ASPA withdrawal for a customer not held.
    let mut client = synced(v, &s);
    client.refresh();
    client.take_output();
    let mut out = head(v, 7);
    pdu::aspa_withdraw(&mut out, v, 4_199_999_999);
    feed(&mut client, &out, 64);
    assert_eq!(reported(&mut client), 6);
}

#[test]
fn an_aspa_announcement_replaces_and_a_withdrawal_removes() {
    let v = Version::V2;
    let mut s = snapshot(10, 3);
    s.aspas = vec![
        Aspa {
            customer: 10,
            providers: vec![1, 2],
        },
        Aspa {
            customer: 20,
            providers: vec![3],
        },
    ];
    let mut client = synced(v, &s);
    client.refresh();
    client.take_output();
    let mut out = head(v, 7);
    pdu::aspa_announce(
        &mut out,
        v,
        &Aspa {
            customer: 10,
            providers: vec![2, 5],
        },
    );
    pdu::aspa_withdraw(&mut out, v, 20);
    tail(&mut out, v, 7, 2);
    let events = feed(&mut client, &out, 5);
    let Some(Event::Synced { changes, .. }) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(changes.withdraw.aspas.len(), 2);
    assert_eq!(changes.announce.aspas.len(), 1);
    assert_eq!(
        client.table().aspas,
        [Aspa {
            customer: 10,
            providers: vec![2, 5]
        }]
    );
}

#[test]
fn notify_cache_reset_no_data_and_downgrade() {
    let v = Version::V2;
    let s = snapshot(10, 4);
    let mut client = synced(v, &s);
    // A notify for the serial held is nothing; for another, an event.
    let mut out = Vec::new();
    pdu::serial_notify(&mut out, v, SessionId(7), Serial(1));
    pdu::serial_notify(&mut out, v, SessionId(7), Serial(2));
    assert_eq!(feed(&mut client, &out, 64), [Event::Notified(Serial(2))]);
    // Cache Reset answers a Serial Query: a Reset Query goes out.
    client.refresh();
    let q = client.take_output();
    assert_eq!(q[1], pdu::kind::SERIAL_QUERY);
    let mut out = Vec::new();
    pdu::cache_reset(&mut out, v);
    assert_eq!(feed(&mut client, &out, 64), [Event::CacheReset]);
    assert_eq!(client.take_output()[1], pdu::kind::RESET_QUERY);
    // No data yet: the query is over.
    let mut out = Vec::new();
    pdu::error_report(&mut out, v, ErrorCode::NoDataAvailable, &[], "");
    assert_eq!(feed(&mut client, &out, 64), [Event::NoData]);
    assert!(!client.is_waiting());
    // A v1 cache answers a v2 query with Unsupported Protocol Version.
    let mut client = Client::new(v);
    client.take_output();
    let mut out = Vec::new();
    pdu::error_report(
        &mut out,
        Version::V1,
        ErrorCode::UnsupportedVersion,
        &[],
        "",
    );
    assert_eq!(
        feed(&mut client, &out, 64),
        [Event::Downgraded(Version::V1)]
    );
    let q = client.take_output();
    assert_eq!((q[0], q[1]), (1, pdu::kind::RESET_QUERY));
    // Or answers in its own version, as StayRTR does.
    let mut client = Client::new(v);
    client.take_output();
    let mut out = head(Version::V1, 9);
    tail(&mut out, Version::V1, 9, 5);
    let events = feed(&mut client, &out, 64);
    assert!(matches!(events[..], [Event::Synced { .. }]), "{events:?}");
    assert_eq!(client.version(), Version::V1);
    // After that, a PDU of another version is an error (8).
    let mut out = Vec::new();
    pdu::serial_notify(&mut out, v, SessionId(9), Serial(6));
    feed(&mut client, &out, 64);
    assert_eq!(reported(&mut client), 8);
}

#[test]
fn a_fatal_report_or_a_broken_pdu_ends_the_session() {
    let v = Version::V1;
    let mut client = Client::new(v);
    client.take_output();
    let mut out = Vec::new();
    pdu::error_report(&mut out, v, ErrorCode::InternalError, &[], "busy");
    let events = feed(&mut client, &out, 64);
    assert_eq!(
        events,
        [Event::Failed(Failure::Refused {
            version: v,
            code: 1,
            text: "busy".into()
        })]
    );
    assert!(client.is_failed());
    assert!(
        client.take_output().is_empty(),
        "never an Error Report for one"
    );
    // A PDU with a bad length: reported as corrupt.
    let mut client = Client::new(v);
    client.take_output();
    feed(&mut client, &[1, 4, 0, 0, 0, 0, 0, 21], 64);
    assert_eq!(reported(&mut client), 0);
    // A Cache Response for another session to a Serial Query.
    let mut client = synced(v, &snapshot(5, 5));
    client.refresh();
    client.take_output();
    feed(&mut client, &head(v, 8), 64);
    assert_eq!(reported(&mut client), 0);
}

#[test]
fn a_refusal_names_the_code_and_the_version() {
    let refused = Failure::Refused {
        version: Version::V1,
        code: 4,
        text: "v1 only".into(),
    };
    assert_eq!(
        refused.to_string(),
        "cache sent Error Report 4 (Unsupported Protocol Version) at version 1: v1 only"
    );
}

#[test]
fn a_new_connection_resumes_with_a_serial_query_or_is_reset() {
    let version = Version::V2;
    let mut cache = Cache::new(0x1234, TIMERS, 5);
    let first = snapshot(300, 2);
    cache.update(first.clone()).unwrap();
    let mut client = Client::new(version);
    let query = client.take_output();
    feed(&mut client, &answer(&cache, version, &query), 64);
    // The cache moves on while the router is away; on the new connection
    // the router asks for the changes since its serial, and gets them.
    let second = testdata::mutate(&first, 5.0, 3);
    cache.update(second.clone()).unwrap();
    client.resume();
    let query = client.take_output();
    assert!(matches!(
        Pdu::decode(&query).unwrap().unwrap().1,
        Pdu::SerialQuery { .. }
    ));
    let events = feed(&mut client, &answer(&cache, version, &query), 64);
    assert!(
        matches!(&events[..], [Event::Synced { full: false, .. }]),
        "{events:?}"
    );
    assert_eq!(client.table(), &cache_view(&second, version));
    // A cache that restarted (a new session) answers Cache Reset: the
    // router asks for everything.
    let mut restarted = Cache::new(0x4321, TIMERS, 5);
    restarted.update(first.clone()).unwrap();
    client.resume();
    let query = client.take_output();
    let events = feed(&mut client, &answer(&restarted, version, &query), 64);
    assert_eq!(events, [Event::CacheReset]);
    let query = client.take_output();
    let events = feed(&mut client, &answer(&restarted, version, &query), 64);
    assert!(matches!(&events[..], [Event::Synced { full: true, .. }]));
    assert_eq!(client.table(), &cache_view(&first, version));
}
