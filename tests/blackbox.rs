//! Black-box tests: the built `rovd` binary on a loopback port, driven by an
//! independent RTR client, with its data files changed underneath it.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::data::{expected, Data};
use common::rtr::{
    reset_query, serial_query, Answer, Pdu, RtrClient, Synced, Timers, ERR_CORRUPT_DATA,
    ERR_NO_DATA, ERR_UNSUPPORTED_PDU, ERR_UNSUPPORTED_VERSION,
};
use common::{children_of, config, still_exists, Daemon, ROVD, WAIT};
use nix::sys::signal::Signal;

const SHORT: Duration = Duration::from_secs(2);

fn start(max_version: u8, json: &str) -> Daemon {
    Daemon::start(&config(max_version), &[("vrps.json", json.as_bytes())])
}

/// Wait for the Serial Notify of the next serial and follow it.
fn follow_notify(client: &mut RtrClient, state: &mut Synced) {
    let (session, serial) = client.expect_notify(WAIT);
    assert_eq!(
        session, state.session,
        "v{}: Serial Notify with another session",
        state.version
    );
    assert_eq!(
        serial,
        state.serial.wrapping_add(1),
        "v{}: Serial Notify serial",
        state.version
    );
    assert!(
        client.sync_serial(state),
        "v{}: Cache Reset after a Serial Notify",
        state.version
    );
    assert_eq!(
        state.serial, serial,
        "v{}: End of Data serial after Serial Notify",
        state.version
    );
}

#[test]
fn full_sync_at_each_version() {
    let json = Data::generate(1, 3000, 1500).to_json();
    let daemon = start(2, &json);
    let mut sessions = Vec::new();
    for version in 0..=2 {
        let (mut client, state) = daemon.wait_for_data(version);
        state
            .table
            .assert_eq(&expected(&json, version), &format!("full sync v{version}"));
        let timers = Timers {
            refresh: 3600,
            retry: 600,
            expire: 7200,
        };
        assert_eq!(
            state.timers,
            (version > 0).then_some(timers),
            "v{version} End of Data timers"
        );

        // A Serial Query at the current serial: an empty delta (§5.3).
        let mut again = state.clone();
        assert!(
            client.sync_serial(&mut again),
            "v{version}: Cache Reset for the current serial"
        );
        assert_eq!(again.serial, state.serial);
        again
            .table
            .assert_eq(&state.table, &format!("null delta v{version}"));

        // A second router at the same version shares the session.
        let (_, other) = daemon.wait_for_data(version);
        assert_eq!(
            other.session, state.session,
            "v{version}: session differs between routers"
        );
        assert_eq!(other.serial, state.serial);
        sessions.push(state.session);
    }
    // 8210bis-27 §5.1: a session ID per protocol version.
    let distinct: BTreeSet<_> = sessions.iter().collect();
    assert_eq!(
        distinct.len(),
        3,
        "session IDs per version not distinct: {sessions:?}"
    );
}

#[test]
fn updates_follow_serial_notify() {
    let data1 = Data::generate(2, 2000, 1000);
    let (json1, json2) = (data1.to_json(), data1.updated().to_json());
    // Back to the first data set except for a router key and an ASPA, so a
    // query from the first serial sees only the net change.
    let mut data3 = data1.clone();
    data3.keys.remove(2);
    data3.aspas[5].providers = vec![174, 3356];
    let json3 = data3.to_json();

    let daemon = start(2, &json1);
    let mut live: Vec<(RtrClient, Synced)> = (0..=2).map(|v| daemon.wait_for_data(v)).collect();
    let first: Vec<Synced> = live.iter().map(|(_, s)| s.clone()).collect();

    daemon.replace_file("vrps.json", json2.as_bytes());
    for (client, state) in &mut live {
        follow_notify(client, state);
        let v = state.version;
        state.table.assert_eq(
            &expected(&json2, v),
            &format!("v{v} after the first change"),
        );
    }
    let second: Vec<Synced> = live.iter().map(|(_, s)| s.clone()).collect();

    daemon.replace_file("vrps.json", json3.as_bytes());
    for (client, state) in &mut live {
        follow_notify(client, state);
        let v = state.version;
        state.table.assert_eq(
            &expected(&json3, v),
            &format!("v{v} after the second change"),
        );
    }

    // New connections resuming from older serials get incremental answers.
    let last: Vec<u32> = live.iter().map(|(_, s)| s.serial).collect();
    for old in first.iter().chain(&second) {
        let v = old.version;
        let mut state = old.clone();
        let mut client = RtrClient::connect(daemon.port);
        assert!(
            client.sync_serial(&mut state),
            "v{v}: Cache Reset for serial {}",
            old.serial
        );
        assert_eq!(state.serial, last[v as usize], "v{v}: End of Data serial");
        state.table.assert_eq(
            &expected(&json3, v),
            &format!("v{v} from serial {}", old.serial),
        );
    }
}

#[test]
fn serial_query_edge_cases() {
    let json = Data::generate(3, 300, 100).to_json();
    let daemon = start(2, &json);
    let (_, state) = daemon.wait_for_data(2);

    // A serial the cache never issued: Cache Reset (§5.3).
    let mut client = RtrClient::connect(daemon.port);
    client.send(&serial_query(
        2,
        state.session,
        state.serial.wrapping_add(1000),
    ));
    assert!(
        matches!(client.read_answer(2), Answer::CacheReset),
        "unknown serial"
    );

    // An unknown session on a fresh connection: Cache Reset (-27 §5.3).
    let mut client = RtrClient::connect(daemon.port);
    client.send(&serial_query(2, state.session ^ 0x5555, state.serial));
    assert!(
        matches!(client.read_answer(2), Answer::CacheReset),
        "unknown session"
    );

    // Another session once one is established: Corrupt Data, close.
    let (mut client, state) = daemon.wait_for_data(1);
    client.send(&serial_query(1, state.session ^ 0x5555, state.serial));
    match client.read_answer(1) {
        Answer::Error {
            version: 1,
            code: ERR_CORRUPT_DATA,
            ..
        } => {}
        other => panic!("session mismatch on an established session: {other:?}"),
    }
    client.expect_close(WAIT);
}

#[test]
fn version_negotiation_and_protocol_errors() {
    let json = Data::generate(4, 300, 100).to_json();
    let daemon = start(2, &json);
    daemon.wait_for_data(2);

    // Version above the cache's: Error Report code 4 at version 2, not
    // fatal; the router retries at 2 on the same connection (§7).
    let mut client = RtrClient::connect(daemon.port);
    client.send(&reset_query(3));
    match client.read_answer(2) {
        Answer::Error {
            version: 2,
            code: ERR_UNSUPPORTED_VERSION,
            ..
        } => {}
        other => panic!("Reset Query v3: {other:?}"),
    }
    let state = client.sync_full(2);
    state
        .table
        .assert_eq(&expected(&json, 2), "v2 after a v3 attempt");

    // Another version once negotiated: Error Report code 8, close (§7).
    let (mut client, _) = daemon.wait_for_data(1);
    client.send(&reset_query(2));
    match client.read_answer(1) {
        Answer::Error {
            version: 1,
            code: 8,
            ..
        } => {}
        other => panic!("v2 query on a v1 session: {other:?}"),
    }
    client.expect_close(WAIT);

    // Unknown PDU type: Error Report code 5 encapsulating it, close (§5.8).
    let mut client = RtrClient::connect(daemon.port);
    let bogus = [2, 12, 0, 0, 0, 0, 0, 8];
    client.send(&bogus);
    match client.expect_pdu(WAIT) {
        Pdu::ErrorReport {
            version: 2,
            code: ERR_UNSUPPORTED_PDU,
            pdu,
            ..
        } => {
            assert_eq!(pdu, bogus, "encapsulated PDU");
        }
        other => panic!("unknown PDU type: {other:?}"),
    }
    client.expect_close(WAIT);
}

#[test]
fn max_version_zero_refuses_v1_with_a_v0_error() {
    let json = Data::generate(5, 300, 100).to_json();
    let daemon = start(0, &json);
    let (_, state) = daemon.wait_for_data(0);
    state
        .table
        .assert_eq(&expected(&json, 0), "v0 with max-version 0");
    let mut client = RtrClient::connect(daemon.port);
    client.send(&reset_query(1));
    match client.read_answer(1) {
        Answer::Error {
            version: 0,
            code: ERR_UNSUPPORTED_VERSION,
            ..
        } => {}
        other => panic!("v1 Reset Query to a v0 cache: {other:?}"),
    }
}

#[test]
fn broken_source_keeps_previous_data() {
    let data = Data::generate(6, 500, 200);
    let json = data.to_json();
    let daemon = start(2, &json);
    let (mut client, mut state) = daemon.wait_for_data(2);

    let failures = |log: &str| {
        log.lines()
            .filter(|l| l.contains("vrps.json") && l.contains("line") && l.contains("column"))
            .count()
    };
    let before = failures(&daemon.log());
    daemon.replace_file("vrps.json", &json.as_bytes()[..json.len() / 2]);
    let logged = daemon.log_wait(WAIT, |log| failures(log) > before);
    assert!(
        logged,
        "no load failure naming vrps.json with line and column"
    );

    // Nothing new is published, the old data is still served.
    client.expect_silence(SHORT);
    let (_, now) = daemon.wait_for_data(2);
    assert_eq!(
        now.serial, state.serial,
        "serial changed after a failed load"
    );
    now.table
        .assert_eq(&expected(&json, 2), "data after a failed load");

    // A good file again is picked up.
    let json2 = data.updated().to_json();
    daemon.replace_file("vrps.json", json2.as_bytes());
    follow_notify(&mut client, &mut state);
    state
        .table
        .assert_eq(&expected(&json2, 2), "data after the source was repaired");
}

#[test]
fn no_data_until_the_first_good_load() {
    let json = Data::generate(7, 300, 100).to_json();
    let daemon = start(2, &json[..json.len() - 10]);

    // Error Report "No Data Available" is not fatal: ask again on the same
    // connection until the data is there (§8.4).
    let mut client = RtrClient::connect(daemon.port);
    client.send(&reset_query(2));
    match client.read_answer(2) {
        Answer::Error {
            code: ERR_NO_DATA, ..
        } => {}
        other => panic!("Reset Query before any good load: {other:?}"),
    }
    daemon.replace_file("vrps.json", json.as_bytes());
    let deadline = Instant::now() + WAIT;
    loop {
        client.send(&reset_query(2));
        match client.read_answer(2) {
            Answer::Data { payload, .. } => {
                common::rtr::Table::from_full(&payload)
                    .assert_eq(&expected(&json, 2), "first data");
                break;
            }
            Answer::Error {
                code: ERR_NO_DATA, ..
            } if Instant::now() < deadline => thread::sleep(Duration::from_millis(100)),
            other => panic!("Reset Query after a good load: {other:?}"),
        }
    }
}

#[test]
fn sighup_rereads_sources_and_keeps_sessions() {
    let data = Data::generate(8, 300, 100);
    let json = data.to_json();
    let daemon = start(2, &json);
    let (mut client, mut state) = daemon.wait_for_data(2);

    // A reload re-reads every source and the configuration; the data did
    // not change, so neither does the serial, and the session stays.
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for_log("validator: reloading all sources", WAIT);
    daemon.wait_for_log("rtr: configuration reloaded", WAIT);
    client.expect_silence(Duration::from_secs(2));
    let serial = state.serial;
    assert!(client.sync_serial(&mut state));
    assert_eq!(
        state.serial, serial,
        "a reload of unchanged data made a new serial"
    );

    // The same session then follows a change.
    let mut changed = data.clone();
    changed.aspas[0].providers = vec![64_498, 64_499];
    let json2 = changed.to_json();
    daemon.replace_file("vrps.json", json2.as_bytes());
    follow_notify(&mut client, &mut state);
    state
        .table
        .assert_eq(&expected(&json2, 2), "data after the reload and a change");
}

#[test]
fn reload_that_needs_a_restart_is_refused() {
    let data = Data::generate(9, 200, 50);
    let json = data.to_json();
    let daemon = start(2, &json);
    let (mut client, state) = daemon.wait_for_data(2);

    // New listen addresses cannot be bound by the unprivileged parent.
    let text = fs::read_to_string(&daemon.config_path).unwrap();
    let other = common::free_port();
    let moved = text.replace(
        &format!("127.0.0.1:{}", daemon.port),
        &format!("127.0.0.1:{other}"),
    );
    // And the timers change too, which alone would be applied.
    let moved = moved.replace("refresh = 3600", "refresh = 1800");
    fs::write(&daemon.config_path, moved).unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for_log("listen changed: restart required", WAIT);

    // The session goes on, on the old port, with the old timers.
    client.send(&serial_query(2, state.session, state.serial));
    match client.read_answer(2) {
        Answer::Data { timers, .. } => {
            assert_eq!(
                timers.map(|t| t.refresh),
                Some(3600),
                "refused reload applied"
            );
        }
        other => panic!("answer after the refused reload: {other:?}"),
    }
    state
        .table
        .assert_eq(&expected(&json, 2), "data after the refused reload");
    assert!(std::net::TcpStream::connect(("127.0.0.1", other)).is_err());
}

#[test]
fn config_check() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("vrps.json"),
        Data::generate(9, 10, 10).to_json(),
    )
    .unwrap();
    let good = config(2).replace(common::PORT, "3323");
    let run = |text: &str| {
        let path = dir.path().join("rovd.conf");
        fs::write(&path, text).unwrap();
        let mut child = Command::new(ROVD)
            .arg("-n")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = common::LogBuf::default();
        let threads = [
            out.capture(child.stdout.take().unwrap()),
            out.capture(child.stderr.take().unwrap()),
        ];
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("rovd -n did not exit: {}", out.text());
            }
            thread::sleep(Duration::from_millis(20));
        };
        for t in threads {
            t.join().unwrap();
        }
        (status, out.text())
    };

    let (status, out) = run(&good);
    assert!(
        status.success(),
        "rovd -n on a good config: {status}\n{out}"
    );
    assert!(out.contains("configuration OK"), "rovd -n output: {out}");

    // The shipped demo configuration.
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/etc/demo.conf");
    fs::create_dir(dir.path().join("demo")).unwrap();
    let sample = Data::generate(9, 10, 10).to_json();
    fs::write(dir.path().join("demo/rpki-client.json"), sample).unwrap();
    let (status, out) = run(&fs::read_to_string(demo).unwrap());
    assert!(
        status.success(),
        "rovd -n on etc/demo.conf: {status}\n{out}"
    );

    // Line 3 is the unknown key.
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(2, "bogus-key = 1");
    let (status, out) = run(&lines.join("\n"));
    assert!(!status.success(), "rovd -n accepted an unknown key\n{out}");
    assert!(
        out.contains("rovd.conf:3"),
        "error does not name rovd.conf:3: {out}"
    );
    assert!(
        out.contains("bogus-key"),
        "error does not name the key: {out}"
    );
}

#[test]
fn sigterm_stops_all_three_processes() {
    let json = Data::generate(10, 300, 100).to_json();
    let mut daemon = start(2, &json);
    let (mut client, _) = daemon.wait_for_data(2);
    let pid = daemon.pid();

    let deadline = Instant::now() + WAIT;
    let kids = loop {
        let kids = children_of(pid);
        if kids.len() >= 2 || Instant::now() > deadline {
            break kids;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let names: BTreeSet<&str> = kids.iter().map(|p| p.argv0.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["rovd: rtr", "rovd: validator"]),
        "children: {kids:?}"
    );

    daemon.signal(Signal::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status after SIGTERM: {status}");
    for pdu in client.expect_close(Duration::from_secs(5)) {
        // v2 sessions may be told "Cache Restart" or "Cache Shutdown"
        // (-26 §8.5, §8.6).
        assert!(
            matches!(
                pdu,
                Pdu::ErrorReport {
                    version: 2,
                    code: 12 | 13,
                    ..
                }
            ),
            "sent on shutdown: {pdu:?}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while kids.iter().any(still_exists) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = kids.iter().filter(|k| still_exists(k)).collect();
    assert!(left.is_empty(), "processes left after SIGTERM: {left:?}");
    assert!(
        children_of(pid).is_empty(),
        "children of {pid} left after SIGTERM"
    );
}

#[test]
fn a_dying_child_ends_the_daemon_with_one_line_naming_it() {
    for (victim, signal) in [
        ("rovd: rtr", Signal::SIGKILL),
        ("rovd: validator", Signal::SIGTERM),
    ] {
        let json = Data::generate(11, 100, 20).to_json();
        let mut daemon = start(2, &json);
        daemon.wait_for_data(2);
        let pid = daemon.pid();
        let kids = children_of(pid);
        let child = kids
            .iter()
            .find(|p| p.argv0 == victim)
            .unwrap_or_else(|| panic!("no {victim} among {kids:?}"));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(child.pid).unwrap()),
            signal,
        )
        .unwrap();
        let status = daemon.wait_exit(Duration::from_secs(10));
        assert!(
            !status.success(),
            "exit status after losing {victim}: {status}"
        );
        let role = victim.trim_start_matches("rovd: ");
        let line = format!("{role} killed by signal {signal}; shutting down");
        assert_eq!(daemon.log_count(&line), 1, "log:\n{}", daemon.log());
        let deadline = Instant::now() + Duration::from_secs(5);
        while kids.iter().any(still_exists) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        assert!(!kids.iter().any(still_exists), "processes left: {kids:?}");
    }
}

/// A router that stops reading stalls only itself: others are served in
/// full meanwhile, and it gets the rest of its answer when it reads again.
#[test]
fn a_router_that_stops_reading_stalls_only_itself() {
    let data = Data::generate(12, 200_000, 60_000);
    let json = data.to_json();
    let daemon = start(2, &json);
    daemon.wait_for_data(2);
    let want = expected(&json, 2);

    // Several routers ask for the full table and read nothing for now:
    // far more than the socket buffers hold.
    let mut stalled: Vec<RtrClient> = (0..5)
        .map(|_| {
            let mut c = RtrClient::connect(daemon.port);
            c.send(&reset_query(2));
            c
        })
        .collect();
    thread::sleep(Duration::from_millis(500));

    // Meanwhile others are served completely, one after the other.
    for _ in 0..3 {
        let t = Instant::now();
        let mut c = RtrClient::connect(daemon.port);
        c.sync_full(2).table.assert_eq(&want, "while others stall");
        assert!(t.elapsed() < WAIT);
    }

    // The stalled ones get their whole answer once they read.
    for c in &mut stalled {
        match c.read_answer(2) {
            Answer::Data { payload, .. } => {
                common::rtr::Table::from_full(&payload).assert_eq(&want, "after the stall");
            }
            other => panic!("after the stall: {other:?}"),
        }
    }
}
