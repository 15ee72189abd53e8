//! Inputs end to end: what a router receives from the built `rovd` when
//! its sources expire, go stale, shrink suddenly, are several, or come
//! with local exceptions (SLURM) — and that broken input is reported and
//! loses nothing.

mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::data::{expected, Data};
use common::rtr::{reset_query, Answer, RtrClient, Synced, Table};
use common::{Daemon, PORT, WAIT};
use nix::sys::signal::Signal;
use serde_json::{json, Value};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A configuration with the given extra text after the `[rtr]` table.
fn config(tables: &str) -> String {
    format!("[rtr]\nlisten = [\"127.0.0.1:{PORT}\"]\nnotify-interval = 0\n\n{tables}")
}

/// rpki-client JSON made at `buildtime` (Unix seconds) from `data`, with
/// `edit` applied to the document.
fn json_at(data: &Data, buildtime: u64, edit: impl FnOnce(&mut Value)) -> String {
    let mut doc: Value = serde_json::from_str(&data.to_json()).unwrap();
    let t = time_iso(buildtime);
    doc["metadata"]["buildtime"] = json!(t);
    doc["metadata"]["generated"] = json!(buildtime);
    edit(&mut doc);
    serde_json::to_string(&doc).unwrap()
}

/// Unix seconds as ISO 8601 in UTC, as rpki-client writes its buildtime.
fn time_iso(t: u64) -> String {
    let days = i64::try_from(t / 86_400).unwrap();
    let secs = t % 86_400;
    // Civil from days (proleptic Gregorian), for the test's own use.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The union of several rpki-client JSON texts, as a router at `version`
/// should see it.
fn union(texts: &[&str], version: u8) -> Table {
    let mut all: Value = json!({"roas": [], "bgpsec_keys": [], "aspas": []});
    for t in texts {
        let doc: Value = serde_json::from_str(t).unwrap();
        for key in ["roas", "bgpsec_keys", "aspas"] {
            if let Some(items) = doc.get(key).and_then(Value::as_array) {
                all[key]
                    .as_array_mut()
                    .unwrap()
                    .extend(items.iter().cloned());
            }
        }
    }
    expected(&all.to_string(), version)
}

/// Follow Serial Notifies until the table equals `want`, or fail after
/// `WAIT`.
fn converge(client: &mut RtrClient, state: &mut Synced, want: &Table, what: &str) {
    let deadline = Instant::now() + WAIT;
    while state.table != *want {
        assert!(
            Instant::now() < deadline,
            "{what}: {}",
            state.table.diff(want)
        );
        client.expect_notify(deadline.saturating_duration_since(Instant::now()));
        client.sync_serial(state);
    }
}

#[test]
fn items_disappear_when_they_expire_without_a_new_file() {
    let data = Data::generate(51, 200, 50);
    let soon = now() + 4;
    let text = json_at(&data, now(), |doc| {
        for i in 0..3 {
            doc["roas"][i]["expires"] = json!(soon);
        }
        doc["aspas"][0]["expires"] = json!(soon);
    });
    let daemon = Daemon::start(
        &config("[[source]]\npath = \"vrps.json\"\n"),
        &[("vrps.json", text.as_bytes())],
    );
    let (mut client, mut state) = daemon.wait_for_data(2);
    let before = state.serial;
    let first = state.table.clone();
    assert!(now() < soon, "the test machine is too slow for this test");
    // The file does not change; the table must shrink by itself.
    let deadline = Instant::now() + WAIT;
    client.expect_notify(WAIT);
    client.sync_serial(&mut state);
    assert!(Instant::now() < deadline);
    assert!(now() >= soon);
    assert_ne!(state.serial, before, "expiry made no new serial");
    state
        .table
        .assert_eq(&expected(&text, 2), "after the expiry");
    // The log says how many of each went, and when the newest of them did.
    let at = httpdate_of(soon);
    let gone = first.vrps.len() - state.table.vrps.len();
    assert!(gone > 0);
    daemon.wait_for_log(
        &format!(
            "vrps.json: {gone} VRPs, 0 router keys, 1 ASPAs expired (the newest expired {at}), \
             not served"
        ),
        WAIT,
    );
}

/// Unix seconds as an HTTP date, as rovd's log writes expiry times.
fn httpdate_of(t: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let iso = time_iso(t);
    let (y, m, d) = (&iso[0..4], &iso[5..7], &iso[8..10]);
    let weekday = DAYS[usize::try_from(t / 86_400 % 7).unwrap()];
    let month = MONTHS[m.parse::<usize>().unwrap() - 1];
    format!("{weekday}, {d} {month} {y} {} GMT", &iso[11..19])
}

/// A file whose every payload has expired, as a file from an old run of
/// a validator is: nothing is served, and the log says why, with a
/// warning, instead of a bare "0 VRPs".
#[test]
fn a_file_with_everything_expired_says_so() {
    let data = Data::generate(52, 100, 20);
    let past = now() - 86_400 * 400;
    let text = json_at(&data, past, |doc| {
        for key in ["roas", "bgpsec_keys", "aspas"] {
            for item in doc[key].as_array_mut().unwrap() {
                item["expires"] = json!(past + 3600);
            }
        }
    });
    let daemon = Daemon::start(
        &config(
            "[[source]]
path = \"vrps.json\"\nmax-age = 0\n",
        ),
        &[("vrps.json", text.as_bytes())],
    );
    let (_, state) = daemon.wait_for_data(2);
    assert!(state.table.vrps.is_empty(), "expired VRPs served");
    // Every item the file has, counted once.
    let all = expected(&json_at(&data, now(), |_| ()), 2);
    let doc: Value = serde_json::from_str(&text).unwrap();
    daemon.wait_for_log(
        &format!(
            "vrps.json: every payload has expired (the newest expired {}): \
             {} VRPs, {} router keys, {} ASPAs, none served",
            httpdate_of(past + 3600),
            all.vrps.len(),
            all.keys.len(),
            doc["aspas"].as_array().unwrap().len()
        ),
        WAIT,
    );
}

#[test]
fn several_sources_are_merged_and_a_broken_one_keeps_its_data() {
    let (a, b) = (Data::generate(52, 300, 80), Data::generate(53, 300, 80));
    let (ta, tb) = (json_at(&a, now(), |_| {}), json_at(&b, now(), |_| {}));
    let daemon = Daemon::start(
        &config("[[source]]\npath = \"a.json\"\n\n[[source]]\npath = \"b.json\"\n"),
        &[("a.json", ta.as_bytes()), ("b.json", tb.as_bytes())],
    );
    let (mut client, mut state) = daemon.wait_for_data(2);
    state
        .table
        .assert_eq(&union(&[&ta, &tb], 2), "union of two sources");

    // b breaks: its last good data stays, a's change goes through.
    daemon.replace_file("b.json", &tb.as_bytes()[..tb.len() / 2]);
    daemon.wait_for_log("b.json: line", WAIT);
    let ta2 = json_at(&a.updated(), now(), |_| {});
    daemon.replace_file("a.json", ta2.as_bytes());
    converge(
        &mut client,
        &mut state,
        &union(&[&ta2, &tb], 2),
        "a changed, b broken",
    );
}

#[test]
fn invalid_entries_are_skipped_and_named() {
    let data = Data::generate(54, 100, 20);
    let text = json_at(&data, now(), |doc| {
        doc["roas"][3]["prefix"] = Value::Null;
        doc["roas"][5]["maxLength"] = json!(7);
        doc["roas"][7]["prefix"] = json!("10.0.0.1/8");
        doc["roas"][9]["asn"] = json!(4_294_967_296u64);
        doc["roas"][11]["prefix"] = json!("10.0.0.0/33");
        doc["roas"][13]["maxLength"] = json!("24");
        doc["bgpsec_keys"][0]["pubkey"] = json!("not*base64!");
        // A duplicate is no error: it is served once.
        let dup = doc["roas"][0].clone();
        doc["roas"].as_array_mut().unwrap().push(dup);
    });
    let daemon = Daemon::start(
        &config("[[source]]\npath = \"vrps.json\"\n"),
        &[("vrps.json", text.as_bytes())],
    );
    let (_, state) = daemon.wait_for_data(2);
    daemon.wait_for_log("7 invalid entries skipped", WAIT);
    for needle in [
        "roas[3]",
        "roas[5]",
        "roas[7]",
        "roas[9]",
        "roas[11]",
        "roas[13]",
        "bgpsec_keys[0]",
        "host bits",
    ] {
        assert!(
            daemon.log().contains(needle),
            "no {needle} in the log:\n{}",
            daemon.log()
        );
    }
    // Everything else is served.
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    let roas = doc["roas"].as_array_mut().unwrap();
    for i in [13, 11, 9, 7, 5, 3] {
        roas.remove(i);
    }
    doc["bgpsec_keys"].as_array_mut().unwrap().remove(0);
    state
        .table
        .assert_eq(&expected(&doc.to_string(), 2), "valid entries");
}

#[test]
fn broken_files_are_reported_and_lose_nothing() {
    let data = Data::generate(55, 100, 20);
    let good = json_at(&data, now(), |_| {});
    let daemon = Daemon::start(
        &config("[[source]]\npath = \"vrps.json\"\n"),
        &[("vrps.json", good.as_bytes())],
    );
    let (mut client, state) = daemon.wait_for_data(2);
    let broken: [(&str, &[u8]); 5] = [
        ("truncated", &good.as_bytes()[..good.len() - 20]),
        ("empty", b""),
        ("garbage", &[0xff, 0xfe, 0x00, 0x13, 0x37, 0x42]),
        ("array", b"[1, 2, 3]"),
        ("wrong type", br#"{"roas": {"asn": 1}}"#),
    ];
    for (what, bytes) in broken {
        let n = daemon.log_count("keeping the previous data");
        daemon.replace_file("vrps.json", bytes);
        let deadline = Instant::now() + WAIT;
        while daemon.log_count("keeping the previous data") == n {
            assert!(
                Instant::now() < deadline,
                "{what}: not reported:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        client.send(&reset_query(2));
        match client.read_answer(2) {
            Answer::Data { serial, .. } => assert_eq!(serial, state.serial, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    assert!(
        daemon.log().contains("vrps.json: line 1, column"),
        "{}",
        daemon.log()
    );
}

#[test]
fn a_large_drop_is_held_back_until_sighup() {
    let data = Data::generate(56, 400, 100);
    let full = json_at(&data, now(), |_| {});
    let small = json_at(&data, now(), |doc| {
        doc["roas"].as_array_mut().unwrap().truncate(20);
    });
    let daemon = Daemon::start(
        &config("[[source]]\npath = \"vrps.json\"\nmax-drop = 50\n"),
        &[("vrps.json", full.as_bytes())],
    );
    let (mut client, mut state) = daemon.wait_for_data(2);
    daemon.replace_file("vrps.json", small.as_bytes());
    daemon.wait_for_log("update held back", WAIT);
    client.expect_silence(Duration::from_secs(2));
    assert!(client.sync_serial(&mut state));
    state.table.assert_eq(&expected(&full, 2), "held back");

    // An empty file is held back too.
    let empty = json_at(&data, now(), |doc| {
        doc["roas"] = json!([]);
        doc["bgpsec_keys"] = json!([]);
        doc["aspas"] = json!([]);
    });
    daemon.replace_file("vrps.json", empty.as_bytes());
    daemon.wait_for_log("update held back: it would remove all", WAIT);

    // Confirmed by the operator.
    daemon.replace_file("vrps.json", small.as_bytes());
    std::thread::sleep(Duration::from_secs(2));
    daemon.signal(Signal::SIGHUP);
    converge(
        &mut client,
        &mut state,
        &expected(&small, 2),
        "after SIGHUP",
    );
}

#[test]
fn stale_sources_follow_their_policy() {
    let (a, b) = (Data::generate(57, 100, 30), Data::generate(58, 100, 30));
    let fresh = json_at(&a, now(), |_| {});
    let old = json_at(&b, now() - 10_000, |_| {});
    for policy in ["keep", "drop", "stop"] {
        let daemon = Daemon::start(
            &config(&format!(
                "[[source]]\npath = \"a.json\"\n\n\
                 [[source]]\npath = \"b.json\"\nmax-age = 3600\nstale = \"{policy}\"\n"
            )),
            &[("a.json", fresh.as_bytes()), ("b.json", old.as_bytes())],
        );
        match policy {
            "keep" => {
                let (_, state) = daemon.wait_for_data(2);
                state.table.assert_eq(&union(&[&fresh, &old], 2), "keep");
                daemon.wait_for_log("served anyway", WAIT);
            }
            "drop" => {
                let (_, state) = daemon.wait_for_data(2);
                state.table.assert_eq(&union(&[&fresh], 2), "drop");
                daemon.wait_for_log("not served", WAIT);
            }
            _ => {
                daemon.wait_for_log("serving no data", WAIT);
                let mut client = RtrClient::connect(daemon.port);
                client.send(&reset_query(2));
                match client.read_answer(2) {
                    Answer::Error { code: 2, .. } => {}
                    other => panic!("stop: {other:?}"),
                }
                // Fresh again: served again.
                daemon.replace_file("b.json", json_at(&b, now(), |_| {}).as_bytes());
                let (_, state) = daemon.wait_for_data(2);
                let both = union(&[&fresh, &json_at(&b, now(), |_| {})], 2);
                state.table.assert_eq(&both, "stop, then fresh");
            }
        }
    }
}

/// RFC 8416 local exceptions from a file and a directory: filters, then
/// assertions; a broken SLURM file leaves the last good one in force.
#[test]
fn slurm_filters_and_assertions_apply() {
    let data = Data::generate(59, 200, 50);
    let text = json_at(&data, now(), |_| {});
    let victim = data.roas.iter().find(|r| r.asn != 0).unwrap().asn;
    let slurm = json!({
        "slurmVersion": 1,
        "validationOutputFilters": {
            "prefixFilters": [{"asn": victim, "comment": "all of it"}],
            "bgpsecFilters": []
        },
        "locallyAddedAssertions": {
            "prefixAssertions": [
                {"asn": 64_511, "prefix": "198.51.100.0/24", "maxPrefixLength": 25},
                {"asn": 64_511, "prefix": "2001:db8:f00::/48"}
            ],
            "bgpsecAssertions": []
        }
    })
    .to_string();
    let daemon = Daemon::start(
        &config("[[source]]\npath = \"vrps.json\"\n\n[[slurm]]\npath = \"local.slurm.json\"\n"),
        &[
            ("vrps.json", text.as_bytes()),
            ("local.slurm.json", slurm.as_bytes()),
        ],
    );
    let (mut client, mut state) = daemon.wait_for_data(2);
    let mut want = expected(&text, 2);
    want.vrps.retain(|v| v.asn != victim);
    let extra = json!({"roas": [
        {"asn": 64_511, "prefix": "198.51.100.0/24", "maxLength": 25},
        {"asn": 64_511, "prefix": "2001:db8:f00::/48", "maxLength": 48},
    ]})
    .to_string();
    want.vrps.extend(expected(&extra, 2).vrps);
    state.table.assert_eq(&want, "with SLURM");

    // A broken SLURM file: reported, the last good version stays.
    daemon.replace_file("local.slurm.json", &slurm.as_bytes()[..slurm.len() / 2]);
    daemon.wait_for_log("local.slurm.json: line", WAIT);
    client.expect_silence(Duration::from_secs(2));

    // Fixed, without the filter: the victim comes back.
    let relaxed = slurm.replace(
        &format!("{{\"asn\":{victim},\"comment\":\"all of it\"}}"),
        "",
    );
    assert_ne!(relaxed, slurm, "test SLURM text not as expected");
    daemon.replace_file("local.slurm.json", relaxed.as_bytes());
    let mut want = expected(&text, 2);
    want.vrps.extend(expected(&extra, 2).vrps);
    converge(&mut client, &mut state, &want, "SLURM without the filter");
}

/// dn42's SLURM export as published: its three broken assertions are
/// skipped and named with the file, and every other one is served.
#[test]
fn a_slurm_file_with_broken_assertions_serves_the_rest() {
    let export = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/slurm/dn42-export-2022-01-29.json"
    ))
    .unwrap();
    let empty = json_at(&Data::generate(60, 1, 1), now(), |doc| {
        for key in ["roas", "bgpsec_keys", "aspas"] {
            doc[key] = json!([]);
        }
    });
    let daemon = Daemon::start(
        &config("[[source]]\npath = \"vrps.json\"\n\n[[slurm]]\npath = \"dn42.slurm.json\"\n"),
        &[
            ("vrps.json", empty.as_bytes()),
            ("dn42.slurm.json", &export),
        ],
    );

    // What the file asserts, read here on its own: the entries with a
    // numeric asn and a string prefix.
    let doc: Value = serde_json::from_slice(&export).unwrap();
    let roas: Vec<Value> = doc["locallyAddedAssertions"]["prefixAssertions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["asn"].is_u64() && a["prefix"].is_string())
        .map(|a| {
            let mut roa = json!({"asn": a["asn"], "prefix": a["prefix"]});
            if let Some(max) = a.get("maxPrefixLength") {
                roa["maxLength"] = max.clone();
            }
            roa
        })
        .collect();
    assert_eq!(roas.len(), 3309);
    let want = expected(&json!({ "roas": roas }).to_string(), 2);

    let (mut client, mut state) = daemon.wait_for_data(2);
    converge(&mut client, &mut state, &want, "dn42's assertions");
    assert_eq!(state.table.vrps.len(), want.vrps.len());
    assert!(state.table.keys.is_empty() && state.table.aspas.is_empty());

    daemon.wait_for_log("dn42.slurm.json: SLURM file in force", WAIT);
    for line in [
        "dn42.slurm.json: 3 invalid assertions skipped",
        "dn42.slurm.json: locallyAddedAssertions.prefixAssertions[123]: \
         prefix must be a string, not null",
        "dn42.slurm.json: locallyAddedAssertions.prefixAssertions[1560]: \
         asn must be a number, not a string \"\"",
        "dn42.slurm.json: locallyAddedAssertions.prefixAssertions[3311]: \
         asn must be a number, not a string \"\"",
        "locallyAddedAssertions.prefixAssertions[].source (3312)",
    ] {
        assert_eq!(
            daemon.log_count(line),
            1,
            "{line:?} not logged once:\n{}",
            daemon.log()
        );
    }
}

/// The same payloads written in every shape rovd reads — four JSON
/// dialects and four CSV ones — each served exactly, at every version.
#[test]
#[allow(clippy::too_many_lines, clippy::format_collect)] // one fixture per format, a row per ROA
fn every_format_is_read_end_to_end() {
    use common::data::base64;
    use common::rtr::hex;
    let key = Data::generate(60, 1, 1).keys.remove(0);
    let (ski, spki) = (hex(&key.ski), key.spki.clone());
    let b64 = base64(&spki);
    let b64url = b64
        .replace('+', "-")
        .replace('/', "_")
        .trim_end_matches('=')
        .to_string();
    let t = now();
    let later = t + 86_400;
    let roas = [
        ("192.0.2.0/24", 24, 64496u32),
        ("2001:db8::/32", 48, 64497),
        ("198.51.100.0/24", 24, 0),
    ];
    let json_roas = |asn: &dyn Fn(u32) -> Value| -> Value {
        roas.iter()
            .map(|(p, m, a)| json!({"prefix": p, "maxLength": m, "asn": asn(*a), "ta": "ripe"}))
            .collect()
    };
    let num = |a: u32| json!(a);
    let text = |a: u32| json!(format!("AS{a}"));
    let formats: Vec<(&str, String, bool)> = vec![
        (
            "rpki-client",
            json!({
                "metadata": {"buildtime": time_iso(t)},
                "roas": json_roas(&num),
                "bgpsec_keys": [{"asn": key.asn, "ski": ski, "pubkey": b64, "ta": "ripe", "expires": later}],
                "aspas": [{"customer_asid": 64496, "expires": later, "providers": [64497, 64498]}],
            })
            .to_string(),
            true,
        ),
        (
            "stayrtr",
            json!({
                "metadata": {"generated": t, "valid": later},
                "roas": json_roas(&text),
                "bgpsec_keys": [{"asn": key.asn, "ski": ski, "pubkey": b64}],
                "aspas": [{"customer_asid": 64496, "providers": [64497, 64498]}],
            })
            .to_string(),
            true,
        ),
        (
            "routinator",
            json!({
                "metadata": {"generated": t, "generatedTime": time_iso(t)},
                "roas": json_roas(&text),
                "routerKeys": [{"asn": format!("AS{}", key.asn), "SKI": ski.to_uppercase(), "routerPublicKey": b64url, "ta": "ripe"}],
                "aspas": [{"customer": "AS64496", "providers": ["AS64497", "AS64498"], "ta": "ripe"}],
            })
            .to_string(),
            true,
        ),
        (
            "rtrtr",
            json!({
                "roas": json_roas(&text),
                "routerKeys": [{"asn": format!("AS{}", key.asn), "SKI": ski, "routerPublicKey": b64url}],
                "aspas": [{"customer": 64496, "providers": [64497, 64498]}],
            })
            .to_string(),
            true,
        ),
        (
            "rpki-client csv",
            format!(
                "ASN,IP Prefix,Max Length,Trust Anchor,Expires\n{}",
                roas.iter()
                    .map(|(p, m, a)| format!("AS{a},{p},{m},ripe,{later}\n"))
                    .collect::<String>()
            ),
            false,
        ),
        (
            "routinator csv",
            format!(
                "ASN,IP Prefix,Max Length,Trust Anchor\n{}",
                roas.iter().map(|(p, m, a)| format!("AS{a},{p},{m},ripe\n")).collect::<String>()
            ),
            false,
        ),
        (
            "routinator csvcompat",
            format!(
                "\"ASN\",\"IP Prefix\",\"Max Length\",\"Trust Anchor\"\n{}",
                roas.iter()
                    .map(|(p, m, a)| format!("\"{a}\",\"{p}\",\"{m}\",\"ripe\"\n"))
                    .collect::<String>()
            ),
            false,
        ),
        (
            "ripe validator csv",
            format!(
                "URI,ASN,IP Prefix,Max Length,Not Before,Not After\n{}",
                roas.iter()
                    .map(|(p, m, a)| {
                        format!("rsync://rpki.example.net/repo/{a}.roa,AS{a},{p},{m},2020-01-01 00:00:00,2099-01-01 00:00:00\n")
                    })
                    .collect::<String>()
            ),
            false,
        ),
    ];
    let mut want_json = json!({
        "roas": json_roas(&num),
        "bgpsec_keys": [{"asn": key.asn, "ski": ski, "pubkey": b64}],
        "aspas": [{"customer_asid": 64496, "providers": [64497, 64498]}],
    });
    let daemon = Daemon::start(
        &config("[[source]]\npath = \"vrps.data\"\nmax-age = 0\n"),
        &[("vrps.data", formats[0].1.as_bytes())],
    );
    daemon.wait_for_data(2);
    for (name, file, full) in &formats {
        daemon.replace_file("vrps.data", file.as_bytes());
        if !full {
            want_json["bgpsec_keys"] = json!([]);
            want_json["aspas"] = json!([]);
        }
        for v in 0..=2 {
            let want = expected(&want_json.to_string(), v);
            let deadline = Instant::now() + WAIT;
            loop {
                let mut c = RtrClient::connect(daemon.port);
                let got = c.sync_full(v).table;
                if got == want {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{name} v{v}: {}",
                    got.diff(&want)
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    assert!(
        !daemon.log().contains("invalid entries"),
        "{}",
        daemon.log()
    );
}

/// A file written in place in two steps is not read half-way: routers get
/// the complete new table as one change, never the shorter one.
#[test]
fn a_file_written_in_place_is_not_read_half_way() {
    use std::io::Write;
    let rows = |n: usize| -> String {
        let mut s = String::from("ASN,IP Prefix,Max Length,Trust Anchor\n");
        for i in 0..n {
            let _ = writeln!(
                s,
                "AS{},10.{}.{}.0/24,24,ripe",
                64_496 + i % 7,
                i / 256,
                i % 256
            );
        }
        s
    };
    let (before, after) = (rows(10), rows(500));
    let daemon = Daemon::start(
        &config("[[source]]\npath = \"vrps.csv\"\nmax-age = 0\nmax-drop = 100\n"),
        &[("vrps.csv", before.as_bytes())],
    );
    let (mut client, mut state) = daemon.wait_for_data(1);
    let path = daemon.path("vrps.csv");
    let mut f = std::fs::File::options()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    let cut = after.len() / 2;
    let cut = after[..cut].rfind('\n').unwrap() + 1; // a clean line boundary
    f.write_all(&after.as_bytes()[..cut]).unwrap();
    f.flush().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    f.write_all(&after.as_bytes()[cut..]).unwrap();
    drop(f);
    client.expect_notify(WAIT);
    client.sync_serial(&mut state);
    let want_text = {
        let roas: Vec<Value> = after
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                json!({"asn": f[0][2..].parse::<u32>().unwrap(), "prefix": f[1], "maxLength": 24})
            })
            .collect();
        json!({ "roas": roas }).to_string()
    };
    state.table.assert_eq(
        &expected(&want_text, 1),
        "the first change after the in-place write",
    );
}

/// The demo data must not age out of the README's first command.
#[test]
fn demo_data_is_current() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/etc/demo/rpki-client.json"
    ))
    .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let soon = now() + 5 * 365 * 86_400;
    for key in ["roas", "bgpsec_keys", "aspas"] {
        for item in doc[key].as_array().unwrap() {
            assert!(item["expires"].as_u64().unwrap() > soon, "{key}: {item}");
        }
    }
    assert!(expected(&text, 2).vrps.len() >= 40);
}
