//! What the routers of a rovd that fetches from upstreams see when those
//! upstreams fail: an upstream rovd that dies (its data is served until the
//! upstream's Expire Interval has passed, then dropped or stopped as the
//! source says), a failover group that switches and switches back (nothing
//! for routers when the upstreams agree, exactly their difference when
//! not), an upstream that restarts with a new session (Cache Reset, a full
//! fetch, and the routers' own session untouched), an RTR upstream that
//! answers with junk, HTTP upstreams that answer 500, cut the body short or
//! stall, and an RTR upstream that goes silent. In every case the router of
//! the downstream ("leaf") rovd holds its table across the fault, follows
//! each Serial Notify with a Serial Query, and the test checks each answer:
//! no change where the leaf must keep its data, one minimal delta where
//! its data must change. End to end on the built binary, loopback only.

mod common;

use std::time::Duration;

use common::data::{expected, Data};
use common::rtr::{reset_query, Answer, RtrClient, Table, ERR_CORRUPT_DATA, ERR_NO_DATA};

/// Error code 4 (8210bis-27 §12).
const ERR_UNSUPPORTED_VERSION: u16 = 4;
use common::upstream::{
    delta_size, split_pdus, wait_until, FakeHttp, FakeRtr, HttpMode, Relay, Router, RtrMode,
    ERROR_REPORT, SERIAL_QUERY,
};
use common::{config, Daemon, WAIT};
use nix::sys::signal::Signal;

/// How long a router watches for a change that must not come.
const QUIET: Duration = Duration::from_secs(2);

/// RTR source keys that make the leaf refresh and retry every second.
const FAST: &str = "min-refresh = 1\nmax-refresh = 1\nmin-retry = 1\nmax-retry = 1\n";

//------------ Set-up ---------------------------------------------------------

/// The configuration of an upstream rovd: the common one, its file never
/// stale (the test data's `generated` time is fixed).
fn upstream_config() -> String {
    config(2).replace(
        "path = \"vrps.json\"\n",
        "path = \"vrps.json\"\nmax-age = 0\n",
    )
}

/// An upstream rovd serving `json`, on `port` if given, once it has
/// its data (it answers No Data until then).
fn upstream(json: &str, port: Option<u16>) -> Daemon {
    let d = Daemon::start_with(
        &upstream_config(),
        &[("vrps.json", json.as_bytes())],
        port,
        &[],
    );
    d.wait_for_data(2);
    d
}

/// The leaf rovd: the common `[rtr]` settings and these `[[source]]`
/// tables, with `files` beside its configuration.
fn leaf(sources: &str, files: &[(&str, &[u8])]) -> Daemon {
    let base = config(2);
    let head = base.split("[[source]]").next().unwrap();
    Daemon::start(&format!("{head}{sources}"), files)
}

/// `rtr://127.0.0.1:port`, as rovd names it.
fn rtr_url(port: u16) -> String {
    format!("rtr://127.0.0.1:{port}")
}

/// Wait for a log line holding every one of `parts`; the line.
fn wait_line(d: &Daemon, parts: &[&str]) -> String {
    let found = |log: &str| {
        log.lines()
            .find(|l| parts.iter().all(|p| l.contains(p)))
            .map(str::to_string)
    };
    assert!(
        d.log_wait(WAIT, |log| found(log).is_some()),
        "no log line with all of {parts:?} within {WAIT:?}"
    );
    found(&d.log()).unwrap()
}

/// Lines of the log holding every one of `parts`.
fn count_lines(d: &Daemon, parts: &[&str]) -> usize {
    d.log()
        .lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .count()
}

/// Wait until the log has more than `n` lines holding every one of `parts`.
fn wait_more_lines(d: &Daemon, parts: &[&str], n: usize) {
    assert!(
        d.log_wait(WAIT, |log| log
            .lines()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .count()
            > n),
        "no new log line with all of {parts:?} within {WAIT:?}"
    );
}

/// The VRPs of `json` alone: what a fake cache that speaks only prefixes
/// serves.
fn vrps_only(json: &str) -> Table {
    Table {
        vrps: expected(json, 2).vrps,
        ..Table::default()
    }
}

/// The rpki-client JSON of `a` and `b` together: what a router is served
/// from two sources with this data.
fn combined(a: &Data, b: &Data) -> String {
    let mut both = a.clone();
    both.roas.extend(b.roas.iter().cloned());
    both.keys.extend(b.keys.iter().cloned());
    both.aspas.extend(b.aspas.iter().cloned());
    both.to_json()
}

/// Whether the cache on `port` serves data now (rather than No Data).
fn served(port: u16) -> bool {
    let mut client = RtrClient::connect(port);
    client.send(&reset_query(2));
    match client.read_answer(2) {
        Answer::Data { .. } => true,
        Answer::Error {
            code: ERR_NO_DATA, ..
        } => false,
        other => panic!("Reset Query: {other:?}"),
    }
}

/// A router of the cache on `port` once it serves `want` (a leaf with two
/// sources may serve one alone first).
fn router_when(port: u16, want: &Table) -> Router {
    let mut last = None;
    assert!(
        wait_until(WAIT, || {
            let router = Router::connect(port);
            let done = router.table() == want;
            last = Some(router);
            done
        }),
        "the leaf never served all its sources"
    );
    last.unwrap()
}

/// `a` and `b` together, where at most one of them has router keys and
/// ASPA records (a fake cache's table is VRPs only).
fn union(a: &Table, b: &Table) -> Table {
    let mut t = a.clone();
    t.vrps.extend(b.vrps.iter().copied());
    t.keys.extend(b.keys.iter().cloned());
    t.aspas.extend(b.aspas.iter().map(|(c, p)| (*c, p.clone())));
    t
}

/// The router follows one Serial Notify; the answer must be exactly the
/// minimal delta from `old` to `new`, at the next serial, leaving `new`.
fn expect_delta(router: &mut Router, old: &Table, new: &Table, context: &str) {
    let from = router.state.serial;
    let change = router.follow(WAIT);
    router.table().assert_eq(new, context);
    let (announced, withdrawn) = delta_size(old, new);
    assert_eq!(
        (change.from, change.to, change.announced, change.withdrawn),
        (from, from.wrapping_add(1), announced, withdrawn),
        "{context}: not one minimal delta at the next serial"
    );
}

//------------ 1. An upstream dies --------------------------------------------

/// Right after the upstream's failure is known, before the data is stale,
/// a router's query finds nothing changed. Whether the data has turned
/// stale by the time of the answer is read from the log after it, so the
/// check holds however slow the machine; true if it had.
fn unchanged_while_fresh(router: &mut Router, leaf: &Daemon, stale_line: &str) -> bool {
    let early = router.query();
    if leaf.log().contains(stale_line) {
        return !early.is_nothing();
    }
    assert!(
        early.is_nothing(),
        "the upstream's data changed for routers before it expired: {early:?}"
    );
    false
}

/// A leaf of one upstream rovd whose data expires 5 s after its last sync,
/// `stale` its policy, and of a file. The upstream dies: routers see no
/// change until its data has expired; then, with `drop`, one delta
/// withdrawing what only the upstream gave (the file's data stays), with
/// `stop`, their sessions end and a new one gets No Data. The upstream
/// comes back on its port, with the same data or (`same` false) changed
/// data: routers are served it again.
fn dies_and_comes_back(stale: &str, same: bool) {
    let data = Data::generate(11, 200, 60);
    let file = Data::generate(12, 60, 20);
    let json = data.to_json();
    let up = upstream(&json, None);
    let (port, url) = (up.port, rtr_url(up.port));
    let leaf = leaf(
        &format!(
            "[[source]]\nurl = \"{url}\"\n{FAST}min-expire = 1\nmax-expire = 5\n\
             stale = \"{stale}\"\n\n[[source]]\npath = \"vrps.json\"\nmax-age = 0\n"
        ),
        &[("vrps.json", file.to_json().as_bytes())],
    );
    let want = expected(&combined(&file, &data), 2);
    let file_only = expected(&file.to_json(), 2);
    let mut router = router_when(leaf.port, &want);
    let s0 = router.state.serial;

    drop(up);
    wait_line(&leaf, &["fetcher: ", &url, "trying again in 1 s"]);
    wait_line(&leaf, &["validator: ", &url, "keeping its data"]);
    let stale_line = if stale == "drop" {
        "older than the upstream's expire interval allows: not served"
    } else {
        "is stale"
    };
    let already = unchanged_while_fresh(&mut router, &leaf, stale_line);
    let mut router = if stale == "drop" {
        // Expired: what only the upstream gave goes, in one delta.
        if !already {
            let change = router.follow(WAIT);
            let (announced, withdrawn) = delta_size(&want, &file_only);
            assert_eq!(
                (change.from, change.to, change.announced, change.withdrawn),
                (s0, s0 + 1, announced, withdrawn),
                "the expiry was not one delta withdrawing the upstream's data"
            );
        }
        assert_eq!(router.state.serial, s0 + 1);
        router
            .table()
            .assert_eq(&file_only, "after the upstream's data expired");
        wait_line(&leaf, &["validator: ", &url, "data is", stale_line]);
        Some(router)
    } else {
        // Expired: the session ends, and a new one gets No Data.
        assert!(!already, "the leaf stopped before the data expired");
        let before_close = router.client.expect_close(WAIT);
        assert!(
            before_close.is_empty(),
            "the router got {before_close:?} before the close"
        );
        wait_line(
            &leaf,
            &[
                "validator: ",
                &url,
                stale_line,
                "serving no data until it is fresh again",
            ],
        );
        let mut again = RtrClient::connect(leaf.port);
        again.send(&reset_query(2));
        match again.read_answer(2) {
            Answer::Error { code, .. } => assert_eq!(code, ERR_NO_DATA),
            other => panic!("a stopped leaf answered {other:?}"),
        }
        None
    };

    // Back on its port.
    let back = if same { data } else { data.updated() };
    let _up = upstream(&back.to_json(), Some(port));
    wait_line(&leaf, &["validator: ", &url, "reachable again"]);
    let want = expected(&combined(&file, &back), 2);
    let never = "the upstream is back and in sync, but the leaf does not serve its data";
    if let Some(router) = router.as_mut() {
        assert!(router.notified(WAIT), "{never}: no Serial Notify");
        expect_delta(router, &file_only, &want, "the upstream is back");
        assert_eq!(router.state.serial, s0 + 2);
    } else {
        assert!(
            wait_until(WAIT, || served(leaf.port)),
            "{never}: still No Data"
        );
        let (_, synced) = leaf.wait_for_data(2);
        synced.table.assert_eq(&want, "the upstream is back");
    }
}

#[test]
fn a_dead_upstream_is_served_until_it_expires_then_dropped_in_one_delta() {
    dies_and_comes_back("drop", false);
}

#[test]
fn a_dead_upstream_with_stale_stop_ends_the_routers_sessions_once_expired() {
    dies_and_comes_back("stop", false);
}

#[test]
fn a_dead_upstream_back_with_its_old_data_is_served_again_after_drop() {
    dies_and_comes_back("drop", true);
}

#[test]
fn a_dead_upstream_back_with_its_old_data_is_served_again_after_stop() {
    dies_and_comes_back("stop", true);
}

//------------ 2. Failover and back -------------------------------------------

#[test]
fn a_failover_group_switches_and_back_with_nothing_or_exactly_the_difference() {
    let json = Data::generate(21, 200, 60).to_json();
    let changed = Data::generate(21, 200, 60).updated().to_json();
    let a = upstream(&json, None);
    let b = upstream(&json, None);
    let (url_a, url_b) = (rtr_url(a.port), rtr_url(b.port));
    let port_a = a.port;
    let leaf = leaf(
        &format!("[[source]]\nurl = [\"{url_a}\", \"{url_b}\"]\n{FAST}"),
        &[],
    );
    let mut router = Router::connect(leaf.port);
    let (want, want_changed) = (expected(&json, 2), expected(&changed, 2));
    router.table().assert_eq(&want, "the group serves A");
    let s0 = router.state.serial;
    let to = |url: &str| format!("now served from {url}");
    // A in force: its table taken, and one refresh since.
    wait_line(&leaf, &["validator: ", &url_a, "items:"]);
    let polls = count_lines(&leaf, &["fetcher: ", &url_a, ", 0 changes"]);
    wait_more_lines(&leaf, &["fetcher: ", &url_a, ", 0 changes"], polls);

    // A dies; B has the same data: nothing for routers.
    let switches = |url: &str| count_lines(&leaf, &["validator: ", &to(url)]);
    let (to_a, to_b) = (switches(&url_a), switches(&url_b));
    drop(a);
    wait_more_lines(&leaf, &["validator: ", &to(&url_b)], to_b);
    router.assert_unchanged(QUIET, "A died, B has the same data");
    // A is back: served from A again, still nothing.
    let back = count_lines(&leaf, &["validator: ", &url_a, "reachable again"]);
    let a = upstream(&json, Some(port_a));
    wait_more_lines(&leaf, &["validator: ", &url_a, "reachable again"], back);
    wait_more_lines(&leaf, &["validator: ", &to(&url_a)], to_a);
    router.assert_unchanged(QUIET, "A is back with the same data");

    // B's data changes; A stays in force.
    let synced_b = count_lines(&leaf, &["validator: ", &url_b, "changes:"]);
    b.replace_file("vrps.json", changed.as_bytes());
    wait_more_lines(&leaf, &["validator: ", &url_b, "changes:"], synced_b);
    router.assert_unchanged(QUIET, "B changed while A is in force");

    // A dies: exactly the difference. A is back: exactly the reverse.
    let (to_a, to_b) = (switches(&url_a), switches(&url_b));
    drop(a);
    wait_more_lines(&leaf, &["validator: ", &to(&url_b)], to_b);
    expect_delta(&mut router, &want, &want_changed, "A died, B differs");
    let _a = upstream(&json, Some(port_a));
    wait_more_lines(&leaf, &["validator: ", &to(&url_a)], to_a);
    expect_delta(&mut router, &want_changed, &want, "A is back");
    // Two changes of data, two serials: the switches between equal
    // upstreams made none.
    assert_eq!(router.state.serial, s0 + 2);
}

//------------ 3. Cache Reset -------------------------------------------------

#[test]
fn an_upstream_restarted_with_a_new_session_is_fetched_whole_and_routers_see_only_changes() {
    let json = Data::generate(31, 200, 60).to_json();
    let changed = Data::generate(31, 200, 60).updated().to_json();
    let first = upstream(&json, None);
    let (_, first_synced) = first.wait_for_data(2);
    // The leaf reaches its upstream through a relay, which holds the
    // leaf's reconnection until the restarted upstream listens: the leaf
    // resumes its session with a Serial Query instead of failing to
    // connect.
    let relay = Relay::start(first.port);
    let url = rtr_url(relay.port);
    let leaf = leaf(&format!("[[source]]\nurl = \"{url}\"\n{FAST}"), &[]);
    let mut router = Router::connect(leaf.port);
    let (want, want_changed) = (expected(&json, 2), expected(&changed, 2));
    router
        .table()
        .assert_eq(&want, "the leaf serves its upstream");
    let (s0, session) = (router.state.serial, router.state.session);
    let full = |leaf: &Daemon| count_lines(leaf, &["fetcher: ", &url, "items at serial"]);
    let resets =
        |leaf: &Daemon| count_lines(leaf, &["fetcher: ", &url, "Cache Reset: asking for all"]);

    // Restarted with the same data: a new session, a Cache Reset, the
    // table fetched whole; nothing for routers.
    let (full0, resets0) = (full(&leaf), resets(&leaf));
    relay.set_backend(0);
    drop(first);
    wait_line(&leaf, &["fetcher: ", &url, "trying again in 1 s"]);
    let second = upstream(&json, None);
    relay.set_backend(second.port);
    wait_more_lines(
        &leaf,
        &["fetcher: ", &url, "Cache Reset: asking for all"],
        resets0,
    );
    wait_more_lines(&leaf, &["fetcher: ", &url, "items at serial"], full0);
    // What the leaf asked first on its new connection: a Serial Query for
    // the old upstream's session.
    let sent = relay.sent();
    let (asked, _) = split_pdus(sent.last().unwrap());
    assert_eq!(
        (asked[0].kind, asked[0].field),
        (SERIAL_QUERY, first_synced.session),
        "the leaf did not resume its session: {asked:?}"
    );
    router.assert_unchanged(QUIET, "the upstream restarted with the same data");

    // Restarted with changed data: exactly that change, in the routers'
    // same session.
    let (full1, resets1) = (full(&leaf), resets(&leaf));
    relay.set_backend(0);
    drop(second);
    let third = upstream(&changed, None);
    relay.set_backend(third.port);
    wait_more_lines(
        &leaf,
        &["fetcher: ", &url, "Cache Reset: asking for all"],
        resets1,
    );
    wait_more_lines(&leaf, &["fetcher: ", &url, "items at serial"], full1);
    expect_delta(
        &mut router,
        &want,
        &want_changed,
        "the upstream restarted with changed data",
    );
    assert_eq!(
        (router.state.session, router.state.serial),
        (session, s0 + 1)
    );
}

//------------ 4. Junk from an RTR upstream -----------------------------------

/// Junk a broken or misdirected upstream may send, each with what the
/// leaf's log says of it and how the leaf reports it (§12: a version it
/// cannot read is Unsupported Protocol Version, the rest Corrupt Data).
fn junk() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![
        // A Cache Response of version 9.
        (
            "unknown protocol version (version 9, type 3, field 0, length 8)",
            "(reported as Unsupported Protocol Version)",
            vec![9, 3, 0, 0, 0, 0, 0, 8],
        ),
        // A Cache Response of length 3.
        (
            "bad length (version 2, type 3, field 0, length 3)",
            "(reported as Corrupt Data)",
            vec![2, 3, 0, 0, 0, 0, 0, 3],
        ),
        // An HTTP server at the RTR port.
        (
            "unknown protocol version (version 72, type 84",
            "(reported as Unsupported Protocol Version)",
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ),
    ]
}

/// The Error Report code the leaf sends for `junk`.
fn code_for(junk: &[u8]) -> u16 {
    if junk[0] > 2 {
        ERR_UNSUPPORTED_VERSION
    } else {
        ERR_CORRUPT_DATA
    }
}

/// Every Error Report the fake cache got on a connection it sent junk on
/// is the one for that junk, at version 2, quoting the junk's header.
fn assert_reports(fake: &FakeRtr) {
    for (junk, report) in fake.reports_to_junk() {
        let pdu = &report.octets;
        assert_eq!(
            (pdu[0], pdu[1], u16::from_be_bytes([pdu[2], pdu[3]])),
            (2, ERROR_REPORT, code_for(&junk)),
            "not the Error Report for {junk:?} at version 2: {pdu:?}"
        );
        let n = u32::from_be_bytes(pdu[8..12].try_into().unwrap()) as usize;
        assert_eq!(
            &pdu[12..12 + n],
            &junk[..8],
            "the Error Report does not quote the junk's header"
        );
    }
}

#[test]
fn junk_from_an_rtr_upstream_is_reported_to_it_and_its_data_kept() {
    let file = Data::generate(41, 100, 30).to_json();
    let fake_json = Data::generate(42, 150, 40).to_json();
    let fake_changed = Data::generate(42, 150, 40).updated().to_json();
    let fake = FakeRtr::start(RtrMode::Serve, 0x4242, &vrps_only(&fake_json));
    let url = rtr_url(fake.port);
    let leaf = leaf(
        &format!(
            "[[source]]\nurl = \"{url}\"\n{FAST}\n[[source]]\npath = \"vrps.json\"\nmax-age = 0\n"
        ),
        &[("vrps.json", file.as_bytes())],
    );
    let want = union(&expected(&file, 2), &vrps_only(&fake_json));
    let mut router = router_when(leaf.port, &want);
    let s0 = router.state.serial;

    for (what, reported, octets) in junk() {
        fake.set_mode(RtrMode::Junk(octets.clone()));
        assert!(
            wait_until(WAIT, || fake
                .reports_to_junk()
                .iter()
                .any(|(junk, _)| *junk == octets)),
            "{what}: no Error Report came back"
        );
        wait_line(&leaf, &["fetcher: ", &url, what, reported]);
        wait_line(&leaf, &["validator: ", &url, what, "keeping its data"]);
        router.assert_unchanged(QUIET, what);
    }
    assert_reports(&fake);

    // Good again, with new data: exactly that change, one serial on.
    fake.set_vrps(&vrps_only(&fake_changed));
    fake.set_mode(RtrMode::Serve);
    let want_changed = union(&expected(&file, 2), &vrps_only(&fake_changed));
    expect_delta(
        &mut router,
        &want,
        &want_changed,
        "the upstream is good again",
    );
    assert_eq!(router.state.serial, s0 + 1);
}

#[test]
fn a_junk_upstream_first_in_a_group_leaves_the_next_in_force() {
    let json = Data::generate(43, 150, 40).to_json();
    let octets = b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec();
    let fake = FakeRtr::start(RtrMode::Junk(octets), 1, &Table::default());
    let good = upstream(&json, None);
    let (url_fake, url_good) = (rtr_url(fake.port), rtr_url(good.port));
    let leaf = leaf(
        &format!("[[source]]\nurl = [\"{url_fake}\", \"{url_good}\"]\n{FAST}"),
        &[],
    );
    let mut router = Router::connect(leaf.port);
    router
        .table()
        .assert_eq(&expected(&json, 2), "served from the second upstream");
    // Junk answered several times over (the leaf retries every second),
    // and the routers never hear of it.
    assert!(
        wait_until(WAIT, || fake.reports_to_junk().len() >= 3),
        "the leaf did not report the junk three times"
    );
    assert_reports(&fake);
    wait_line(
        &leaf,
        &[
            "fetcher: ",
            &url_fake,
            "(reported as Unsupported Protocol Version)",
        ],
    );
    router.assert_unchanged(QUIET, "the first upstream sends junk");
    assert_eq!(
        count_lines(&leaf, &["now served from"]),
        0,
        "the group switched"
    );
}

//------------ 5.–7. HTTP failures, stalls -------------------------------------

/// A leaf of one HTTP upstream (that first serves `json`) whose whole
/// fetch may take `timeout` s; no guard against drops, so that only the
/// fetch's own checks can keep a short body out.
fn http_leaf(json: &str, timeout: u32) -> (FakeHttp, Daemon, String, Router) {
    let server = FakeHttp::start(HttpMode::Serve(json.as_bytes().to_vec()));
    let url = format!("http://127.0.0.1:{}/vrps.json", server.port);
    let leaf = leaf(
        &format!(
            "[[source]]\nurl = \"{url}\"\npoll-interval = 10\ntimeout = {timeout}\n\
             max-age = 0\nmax-drop = 100\n"
        ),
        &[],
    );
    let router = Router::connect(leaf.port);
    router
        .table()
        .assert_eq(&expected(json, 2), "the leaf serves the HTTP upstream");
    (server, leaf, url, router)
}

/// Answer the next fetch in `mode`, make the leaf fetch (SIGHUP), and wait
/// for the failure, logged with `why`, and the router to see nothing.
fn refetch_fails(
    server: &FakeHttp,
    leaf: &Daemon,
    url: &str,
    router: &mut Router,
    mode: HttpMode,
    why: &str,
) {
    let asked = server.requests();
    let failures = count_lines(leaf, &["validator: ", url, why, "keeping its data"]);
    server.set_mode(mode);
    leaf.signal(Signal::SIGHUP);
    assert!(
        wait_until(WAIT, || server.requests() > asked),
        "{why}: the leaf did not fetch on SIGHUP"
    );
    wait_more_lines(
        leaf,
        &["validator: ", url, why, "keeping its data"],
        failures,
    );
    wait_line(leaf, &["fetcher: ", url, why]);
    router.assert_unchanged(QUIET, why);
}

/// Serve `json` again and make the leaf fetch: the router sees exactly the
/// change from `old`, one serial on from `s0`.
fn refetch_serves(
    server: &FakeHttp,
    leaf: &Daemon,
    router: &mut Router,
    json: &str,
    old: &Table,
    s0: u32,
) {
    server.set_mode(HttpMode::Serve(json.as_bytes().to_vec()));
    leaf.signal(Signal::SIGHUP);
    expect_delta(router, old, &expected(json, 2), "good again, with new data");
    assert_eq!(router.state.serial, s0 + 1);
}

#[test]
fn an_http_upstream_that_answers_500_leaves_its_data_in_force() {
    let data = Data::generate(51, 200, 60);
    let json = data.to_json();
    let (server, leaf, url, mut router) = http_leaf(&json, 30);
    let s0 = router.state.serial;
    refetch_fails(
        &server,
        &leaf,
        &url,
        &mut router,
        HttpMode::Status(500, "Internal Server Error"),
        "server answered 500 Internal Server Error",
    );
    let changed = data.updated().to_json();
    refetch_serves(
        &server,
        &leaf,
        &mut router,
        &changed,
        &expected(&json, 2),
        s0,
    );
}

#[test]
fn an_http_body_cut_short_is_never_taken_for_a_shorter_one() {
    let data = Data::generate(61, 200, 60);
    let json = data.to_json();
    // What is cut short is itself a complete, valid, smaller document: only
    // the framing can tell it is not all.
    let mut smaller = data.clone();
    smaller.roas.truncate(smaller.roas.len() - 40);
    let short = smaller.to_json();
    let (server, leaf, url, mut router) = http_leaf(&json, 30);
    let s0 = router.state.serial;
    refetch_fails(
        &server,
        &leaf,
        &url,
        &mut router,
        HttpMode::ShortLength {
            body: short.clone().into_bytes(),
            extra: 1000,
        },
        &format!(
            "response body truncated: the connection closed after {} of {} octets",
            short.len(),
            short.len() + 1000
        ),
    );
    refetch_fails(
        &server,
        &leaf,
        &url,
        &mut router,
        HttpMode::ChunkedCut(short.clone().into_bytes()),
        &format!(
            "response body truncated: the connection closed after {} octets, \
             before the last chunk",
            short.len()
        ),
    );
    // The smaller document, whole: now it is taken.
    refetch_serves(&server, &leaf, &mut router, &short, &expected(&json, 2), s0);
}

#[test]
fn an_http_upstream_that_stalls_mid_body_times_out_and_its_data_stays() {
    let data = Data::generate(71, 200, 60);
    let json = data.to_json();
    let changed = data.updated().to_json();
    let (server, leaf, url, mut router) = http_leaf(&json, 2);
    let s0 = router.state.serial;
    refetch_fails(
        &server,
        &leaf,
        &url,
        &mut router,
        HttpMode::Stall(changed.clone().into_bytes()),
        "no complete answer within 2 s (timeout)",
    );
    refetch_serves(
        &server,
        &leaf,
        &mut router,
        &changed,
        &expected(&json, 2),
        s0,
    );
}

#[test]
fn an_rtr_upstream_that_goes_silent_times_out_and_its_data_stays() {
    let json = Data::generate(72, 150, 40).to_json();
    let changed = Data::generate(72, 150, 40).updated().to_json();
    let fake = FakeRtr::start(RtrMode::Serve, 7, &vrps_only(&json));
    let url = rtr_url(fake.port);
    let leaf = leaf(
        &format!("[[source]]\nurl = \"{url}\"\n{FAST}timeout = 2\n"),
        &[],
    );
    let mut router = Router::connect(leaf.port);
    router
        .table()
        .assert_eq(&vrps_only(&json), "the leaf serves the fake cache");
    let s0 = router.state.serial;

    // Silent: the leaf's next Serial Query goes unanswered.
    fake.set_mode(RtrMode::Silent);
    wait_line(
        &leaf,
        &[
            "fetcher: ",
            &url,
            "no answer for 2 s (timeout); trying again in 1 s",
        ],
    );
    wait_line(
        &leaf,
        &[
            "validator: ",
            &url,
            "no answer for 2 s (timeout); keeping its data",
        ],
    );
    // It retries, and is silent again; the router hears nothing of it.
    let conns = fake.conns().len();
    assert!(
        wait_until(WAIT, || fake.conns().len() > conns),
        "the leaf did not connect again"
    );
    router.assert_unchanged(QUIET, "the upstream is silent");

    // Answering again, with new data: exactly that change.
    fake.set_vrps(&vrps_only(&changed));
    fake.set_mode(RtrMode::Serve);
    expect_delta(
        &mut router,
        &vrps_only(&json),
        &vrps_only(&changed),
        "the upstream answers again",
    );
    assert_eq!(router.state.serial, s0 + 1);
}
