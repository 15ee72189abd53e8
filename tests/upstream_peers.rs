//! rovd's upstream sources against real third-party caches and servers:
//! Routinator (NLnet Labs) over RTR and over HTTP (`/json`), both on a
//! SLURM file the test writes; RTRTR's `rtr` and `http` (JSON) targets on a
//! JSON file; StayRTR held to RTR version 1; and rpki-client
//! JSON behind nginx over HTTPS, gzip-compressed, with a CA of the test's
//! own. Every server runs on 127.0.0.1 with private files.
//!
//! Each test checks the exact table rovd's routers receive, read with this
//! suite's independent RTR client at every version, against the table the
//! upstream's input file yields; then changes the input and checks that
//! the change reaches the router as a delta: Serial Notify, then a Serial
//! Query answered on the same session. RTR upstreams push the change
//! themselves; HTTP upstreams are fetched again on SIGHUP, and nginx's
//! access log shows the conditional request in between answered 304.
//!
//! What the peers cannot carry shapes the data: Routinator 0.15.2 reads
//! ASPA assertions in SLURM but does not use them, RTRTR 0.3.3's `json`
//! unit reads no router keys, and StayRTR 0.5.1 speaks an old ASPA layout;
//! their inputs leave those out. RTRTR takes one ASPA per customer, so its
//! input has the merged form.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;

use common::data::{expected, AspaObject, Data};
use common::peers::{
    self, rtr_sync, slurm, slurm_table, tool, wait_for_http, wait_for_rtr, Nginx, Routinator,
    RtrtrServer, StayRtr,
};
use common::rtr::{Event, Pdu, RtrClient, Synced, Table};
use common::tls::Pki;
use common::{config, rovctl, text, Daemon, WAIT};

fn routinator() -> Option<PathBuf> {
    tool(
        "routinator",
        "ROVD_ROUTINATOR",
        "cargo install --locked routinator@0.15.2",
    )
}

fn rtrtr() -> Option<PathBuf> {
    tool("rtrtr", "ROVD_RTRTR", "cargo install --locked rtrtr@0.3.3")
}

fn stayrtr() -> Option<PathBuf> {
    tool("stayrtr", "ROVD_STAYRTR", "apt-get install stayrtr")
}

fn nginx() -> Option<PathBuf> {
    // Debian installs it in sbin, which a normal user's PATH may lack.
    let sbin = PathBuf::from("/usr/sbin/nginx");
    if std::env::var_os("ROVD_NGINX").is_none() && sbin.exists() {
        return Some(sbin);
    }
    tool("nginx", "ROVD_NGINX", "apt-get install nginx")
}

/// The standard test configuration with `sources` for its source.
fn rovd_config(sources: &str) -> String {
    let base = config(2);
    let file = "[[source]]\npath = \"vrps.json\"\n";
    assert!(base.contains(file), "the harness's configuration changed");
    base.replace(file, sources)
}

/// `table` as a router at `version` holds it: router keys from version 1,
/// ASPA from version 2.
fn at_version(table: &Table, version: u8) -> Table {
    let mut t = table.clone();
    if version < 2 {
        t.aspas.clear();
    }
    if version < 1 {
        t.keys.clear();
    }
    t
}

/// rovd's first table, read at version 2 as soon as it has one, must be
/// `want`; so must a Reset Query at versions 1 and 0 at the same serial
/// (each version has a session of its own), each with what that version
/// carries. The version 2 session, to follow changes on.
fn first_table(daemon: &Daemon, want: &Table, what: &str) -> (RtrClient, Synced) {
    let (client, state) = daemon.wait_for_data(2);
    state.table.assert_eq(want, &format!("{what}, v2"));
    for version in [1, 0] {
        let got = RtrClient::connect(daemon.port).sync_full(version);
        assert_eq!(
            got.serial, state.serial,
            "{what}: v{version} at another serial"
        );
        got.table
            .assert_eq(&at_version(want, version), &format!("{what}, v{version}"));
    }
    (client, state)
}

/// Follow rovd on the session of `state` until it serves `want`: wait for
/// a Serial Notify, send a Serial Query, apply the delta — on the same
/// session, never a Cache Reset. The number of deltas it took.
fn follow(client: &mut RtrClient, state: &mut Synced, want: &Table, what: &str) -> usize {
    let (session, start) = (state.session, state.serial);
    let deadline = Instant::now() + WAIT;
    let mut deltas = 0;
    while &state.table != want {
        if client.notifies.is_empty() {
            match client.next_event(deadline.saturating_duration_since(Instant::now())) {
                Event::Pdu(Pdu::SerialNotify {
                    session, serial, ..
                }) => client.notifies.push((session, serial)),
                Event::Timeout => {
                    state.table.assert_eq(
                        want,
                        &format!("{what}: no Serial Notify within {WAIT:?} after {deltas} deltas"),
                    );
                }
                other => panic!("{what}: expected Serial Notify, got {other:?}"),
            }
        }
        let (s, _) = client.notifies.remove(0);
        assert_eq!(s, session, "{what}: Serial Notify for another session");
        assert!(
            client.sync_serial(state),
            "{what}: Serial Query answered with Cache Reset"
        );
        deltas += 1;
    }
    assert_eq!(state.session, session, "{what}: the session changed");
    assert!(state.serial > start, "{what}: the serial did not advance");
    deltas
}

/// The number of times `needle` is in the log, once it is there more than
/// `before` times; panics after `WAIT`.
fn wait_for_more(daemon: &Daemon, needle: &str, before: usize) -> usize {
    assert!(
        daemon.log_wait(WAIT, |t| t.matches(needle).count() > before),
        "no new log line with {needle:?} within {WAIT:?}\n{}",
        daemon.log()
    );
    daemon.log_count(needle)
}

/// `data` with its ASPA as one object per customer, providers sorted, AS0
/// only alone: the form that a cache holding one record per customer
/// serves back unchanged.
fn merged_aspa(data: &Data) -> Data {
    let mut d = data.clone();
    let merged: BTreeMap<u32, Vec<u32>> = expected(&data.to_json(), 2).aspas;
    d.aspas = merged
        .into_iter()
        .map(|(customer, providers)| AspaObject {
            customer,
            providers,
        })
        .collect();
    d
}

//------------ Routinator -----------------------------------------------------

/// Routinator's RTR server as the upstream: rovd serves exactly the SLURM
/// file's assertions, router keys included, having synced at version 2;
/// a changed file reaches rovd by Serial Query (one full sync from
/// Routinator in all) and rovd's router by a delta on its session.
#[test]
fn routinator_rtr() {
    let Some(bin) = routinator() else { return };
    let data = Data::generate(81, 3000, 1000);
    let (slurm1, slurm2) = (slurm(&data), slurm(&data.updated()));
    let (want1, want2) = (slurm_table(&slurm1, 2), slurm_table(&slurm2, 2));
    assert!(!want1.keys.is_empty() && want1 != want2, "test data");
    let r = Routinator::start(&bin, &slurm1);
    wait_for_rtr(r.rtr, 2, &want1, "Routinator", &r.service.log);

    let url = format!("rtr://127.0.0.1:{}", r.rtr);
    let daemon = Daemon::start(&rovd_config(&format!("[[source]]\nurl = \"{url}\"\n")), &[]);
    let (mut client, mut state) = first_table(&daemon, &want1, "rovd from Routinator's RTR");
    let synced = format!(
        "fetcher: {url}: {} items at serial ",
        want1.vrps.len() + want1.keys.len()
    );
    assert!(
        daemon
            .log()
            .lines()
            .any(|l| l.contains(&synced) && l.ends_with("(version 2)")),
        "no line with {synced:?} … (version 2)\n{}",
        daemon.log()
    );
    // rovd's own client agrees that both caches serve the same.
    let out = rovctl(&[
        "diff",
        &format!("127.0.0.1:{}", r.rtr),
        &format!("127.0.0.1:{}", daemon.port),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "rovctl diff: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    r.set_slurm(&slurm2);
    follow(
        &mut client,
        &mut state,
        &want2,
        "rovd after Routinator's change",
    );
    let log = daemon.log();
    assert_eq!(
        log.matches(" items at serial ").count(),
        1,
        "rovd synced Routinator's table in full more than once\n{log}"
    );
    assert!(!log.contains("Cache Reset"), "{log}");
}

/// Routinator's `/json` as the upstream: rovd serves exactly the SLURM
/// file's assertions; after a change and a SIGHUP, the delta.
#[test]
fn routinator_http_json() {
    let Some(bin) = routinator() else { return };
    let data = Data::generate(82, 3000, 1000);
    let (slurm1, slurm2) = (slurm(&data), slurm(&data.updated()));
    let (want1, want2) = (slurm_table(&slurm1, 2), slurm_table(&slurm2, 2));
    let r = Routinator::start(&bin, &slurm1);
    // Until its first validation run it answers 503.
    wait_for_http(r.http, "/json", "Routinator", &r.service.log);

    let url = format!("http://127.0.0.1:{}/json", r.http);
    let daemon = Daemon::start(
        &rovd_config(&format!(
            "[[source]]\nurl = \"{url}\"\npoll-interval = 3600\n"
        )),
        &[],
    );
    let (mut client, mut state) = first_table(&daemon, &want1, "rovd from Routinator's /json");
    daemon.wait_for_log(&format!("fetcher: {url}: "), WAIT);

    r.set_slurm(&slurm2);
    // Routinator's RTR side shows when its new data set is out.
    wait_for_rtr(
        r.rtr,
        2,
        &want2,
        "Routinator after the change",
        &r.service.log,
    );
    let hups = daemon.log_count("fetching every upstream now");
    daemon.signal(Signal::SIGHUP);
    wait_for_more(&daemon, "fetching every upstream now", hups);
    follow(
        &mut client,
        &mut state,
        &want2,
        "rovd after Routinator's change",
    );
}

//------------ RTRTR ----------------------------------------------------------

/// RTRTR's `rtr` target and its `http` target (JSON at `/json`), both on
/// one JSON file, each the upstream of one rovd: both serve exactly the
/// file's VRPs and ASPA, and follow a change by a delta.
#[test]
fn rtrtr_rtr_and_http_targets() {
    let Some(bin) = rtrtr() else { return };
    let strip = |d: Data| {
        let mut d = merged_aspa(&d);
        d.keys.clear();
        d
    };
    let data = Data::generate(83, 3000, 1000);
    let (json1, json2) = (
        strip(data.clone()).to_json(),
        strip(data.updated()).to_json(),
    );
    let (want1, want2) = (expected(&json1, 2), expected(&json2, 2));
    assert!(!want1.aspas.is_empty() && want1 != want2, "test data");
    let rt = RtrtrServer::start(&bin, &json1);
    wait_for_rtr(rt.rtr, 2, &want1, "RTRTR", &rt.service.log);
    wait_for_http(rt.http, "/json", "RTRTR", &rt.service.log);

    let rtr_url = format!("rtr://127.0.0.1:{}", rt.rtr);
    let http_url = format!("http://127.0.0.1:{}/json", rt.http);
    let over_rtr = Daemon::start(
        &rovd_config(&format!("[[source]]\nurl = \"{rtr_url}\"\n")),
        &[],
    );
    let over_http = Daemon::start(
        &rovd_config(&format!(
            "[[source]]\nurl = \"{http_url}\"\npoll-interval = 3600\n"
        )),
        &[],
    );
    let (mut c1, mut s1) = first_table(&over_rtr, &want1, "rovd from RTRTR's rtr target");
    let (mut c2, mut s2) = first_table(&over_http, &want1, "rovd from RTRTR's http target");
    over_rtr.wait_for_log(&format!("fetcher: {rtr_url}: "), WAIT);
    over_http.wait_for_log(&format!("fetcher: {http_url}: "), WAIT);

    rt.set_json(&json2);
    wait_for_rtr(rt.rtr, 2, &want2, "RTRTR after the change", &rt.service.log);
    follow(&mut c1, &mut s1, &want2, "rovd after RTRTR's change, rtr");
    let hups = over_http.log_count("fetching every upstream now");
    over_http.signal(Signal::SIGHUP);
    wait_for_more(&over_http, "fetching every upstream now", hups);
    follow(&mut c2, &mut s2, &want2, "rovd after RTRTR's change, http");
}

//------------ StayRTR --------------------------------------------------------

/// StayRTR, which answers a version 2 query at version 1: rovd settles on
/// version 1 with it and serves exactly its VRPs and router keys, at
/// version 2 to its own routers; a change arrives as a delta.
#[test]
fn stayrtr_version_1() {
    let Some(bin) = stayrtr() else { return };
    let strip = |mut d: Data| {
        d.aspas.clear();
        d
    };
    let data = Data::generate(84, 3000, 1000);
    let (json1, json2) = (
        strip(data.clone()).to_json(),
        strip(data.updated()).to_json(),
    );
    let (want1, want2) = (expected(&json1, 2), expected(&json2, 2));
    assert!(!want1.keys.is_empty() && want1 != want2, "test data");
    let s = StayRtr::start(&bin, &json1);
    wait_for_rtr(s.port, 1, &want1, "StayRTR", &s.service.log);

    let url = format!("rtr://127.0.0.1:{}", s.port);
    let daemon = Daemon::start(&rovd_config(&format!("[[source]]\nurl = \"{url}\"\n")), &[]);
    let (mut client, mut state) = first_table(&daemon, &want1, "rovd from StayRTR");
    let synced = format!(
        "fetcher: {url}: {} items at serial ",
        want1.vrps.len() + want1.keys.len()
    );
    assert!(
        daemon
            .log()
            .lines()
            .any(|l| l.contains(&synced) && l.ends_with("(version 1)")),
        "no line with {synced:?} … (version 1)\n{}",
        daemon.log()
    );

    s.set_json(&json2);
    wait_for_rtr(
        s.port,
        1,
        &want2,
        "StayRTR after the change",
        &s.service.log,
    );
    follow(
        &mut client,
        &mut state,
        &want2,
        "rovd after StayRTR's change",
    );
    assert_eq!(
        daemon.log().matches(" items at serial ").count(),
        1,
        "rovd synced StayRTR's table in full more than once\n{}",
        daemon.log()
    );
}

/// StayRTR restarted on its port with other data and a new session ID:
/// rovd tries again after the Retry Interval (here bounded to two
/// seconds), loads the new table, and its router gets the change as a
/// delta on its session as before.
#[test]
fn stayrtr_restart() {
    let Some(bin) = stayrtr() else { return };
    let strip = |mut d: Data| {
        d.aspas.clear();
        d
    };
    let data = Data::generate(86, 3000, 1000);
    let (json1, json2) = (
        strip(data.clone()).to_json(),
        strip(data.updated()).to_json(),
    );
    let (want1, want2) = (expected(&json1, 2), expected(&json2, 2));
    let first = StayRtr::start(&bin, &json1);
    wait_for_rtr(first.port, 1, &want1, "StayRTR", &first.service.log);
    let (port, url) = (first.port, format!("rtr://127.0.0.1:{}", first.port));
    let daemon = Daemon::start(
        &rovd_config(&format!(
            "[[source]]\nurl = \"{url}\"\nmin-retry = 1\nmax-retry = 2\n"
        )),
        &[],
    );
    let (mut client, mut state) = first_table(&daemon, &want1, "rovd from StayRTR");

    let old_session = session_of(port);
    drop(first);
    daemon.wait_for_log(
        &format!("fetcher: {url}: connection closed by the cache"),
        WAIT,
    );
    // StayRTR 0.5.1 draws its session ID from the clock's second: started
    // again within the same second it would take the old one with serials
    // from 0 again, which no router can tell from the old serial space.
    // Start it in a later second than the one it was serving in.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    thread::sleep(
        Duration::from_millis(1050).saturating_sub(Duration::from_nanos(now.subsec_nanos().into())),
    );
    let second = StayRtr::start_on(&bin, &json2, port);
    assert_ne!(session_of(port), old_session, "StayRTR kept its session ID");
    follow(
        &mut client,
        &mut state,
        &want2,
        "rovd after StayRTR's restart",
    );
    daemon.wait_for_log(&format!("validator: {url}: reachable again"), WAIT);
    drop(second);
}

/// The session ID at version 1 of the cache on `port`, once it has data.
fn session_of(port: u16) -> u16 {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(s) = rtr_sync(port, 1) {
            return s.session;
        }
        assert!(Instant::now() < deadline, "no data on port {port}");
        thread::sleep(Duration::from_millis(100));
    }
}

//------------ nginx ----------------------------------------------------------

/// rpki-client JSON from nginx over HTTPS, checked against the test's CA,
/// gzip-compressed: rovd serves exactly the file; fetched again on SIGHUP
/// it sends the entity tag and nginx answers 304, which makes no new
/// serial; with a new file the next fetch gets 200 and the router one
/// delta, one serial on.
#[test]
fn nginx_https_etag() {
    let Some(bin) = nginx() else { return };
    let pki = Pki::new("rovd test CA");
    let cert = pki.server("nginx");
    let ngx = Nginx::start(&bin, &cert.cert_pem, &cert.key_pem);
    let data = Data::generate(85, 3000, 1000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let (want1, want2) = (expected(&json1, 2), expected(&json2, 2));
    assert!(
        !want1.aspas.is_empty() && !want1.keys.is_empty(),
        "test data"
    );
    let file = ngx.www.join("rpki.json");
    peers::replace(&file, json1.as_bytes());

    // The certificate names 127.0.0.1 (and localhost); rovd checks it
    // against the test's CA. Polled hourly: here only SIGHUP fetches.
    let url = format!("https://127.0.0.1:{}/rpki.json", ngx.port);
    let daemon = Daemon::start(
        &rovd_config(&format!(
            "[[source]]\nurl = \"{url}\"\nca-file = \"ca.pem\"\npoll-interval = 3600\n"
        )),
        &[("ca.pem", pki.ca_pem.as_bytes())],
    );
    let (mut client, mut state) = first_table(&daemon, &want1, "rovd from nginx");
    daemon.wait_for_log(&format!("fetcher: {url}: {} octets", json1.len()), WAIT);
    let first = ngx.wait_for_accesses(0);
    assert_eq!(first.len(), 1, "{first:?}");
    let get = &first[0];
    assert_eq!(
        (get.status, get.if_none_match.as_str(), get.request.as_str()),
        (200, "", "GET /rpki.json HTTP/1.1"),
        "{get:?}"
    );
    // rovd accepts gzip, and nginx compressed the body: its entity tag
    // is then weak (W/"…"), which If-None-Match compares all the same.
    assert!(
        get.gzip_ratio.parse::<f64>().is_ok(),
        "not compressed: {get:?}"
    );
    let etag = get.etag.clone();
    assert!(etag.ends_with('"'), "nginx sent no ETag: {get:?}");

    // Fetched again: not modified.
    let hups = daemon.log_count("fetching every upstream now");
    daemon.signal(Signal::SIGHUP);
    wait_for_more(&daemon, "fetching every upstream now", hups);
    let second = ngx.wait_for_accesses(1);
    assert_eq!(second.len(), 2, "{second:?}");
    assert_eq!(
        (second[1].status, &second[1].if_none_match),
        (304, &etag),
        "{second:?}"
    );

    // A new file: 200, and one delta of one serial.
    peers::replace(&file, json2.as_bytes());
    daemon.signal(Signal::SIGHUP);
    wait_for_more(&daemon, "fetching every upstream now", hups + 1);
    let third = ngx.wait_for_accesses(2);
    assert_eq!(third.len(), 3, "{third:?}");
    assert_eq!(
        (third[2].status, &third[2].if_none_match),
        (200, &etag),
        "{third:?}"
    );
    assert_ne!(third[2].etag, etag, "{third:?}");
    assert!(third[2].gzip_ratio.parse::<f64>().is_ok(), "{third:?}");
    let serial = state.serial;
    let deltas = follow(&mut client, &mut state, &want2, "rovd after the new file");
    assert_eq!(
        (deltas, state.serial),
        (1, serial.wrapping_add(1)),
        "one delta, one serial on"
    );
    daemon.wait_for_log(&format!("fetcher: {url}: {} octets", json2.len()), WAIT);
}
