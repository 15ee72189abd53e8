//! Watching rovd with the tools operators use: `rovctl status` and
//! `rovctl reload` over the control socket; `curl` against every HTTP
//! path, bad requests included, while an RTR session carries on; a real
//! Prometheus (Debian package `prometheus`) scraping `/metrics`, its own
//! query API asked for rovd's values; the status page rendered by
//! headless Chromium (Debian `chromium`), its screenshot kept in
//! `target/tmp/`; `/json` taken by a second rovd as an HTTP source; and
//! an expired source seen in the log, the metrics, the status and
//! `/readyz`.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::clients::Service;
use common::data::{expected, Data};
use common::rtr::wait_for_data;
use common::{free_port, is_root, on_path, rovctl, skip, text, Daemon, PORT, WAIT};
use serde_json::Value;

/// A daemon serving `json` from `vrps.json`, with HTTP on a port of its
/// own; the port.
fn start(json: &str, extra: &str) -> (Daemon, u16) {
    let http = free_port();
    let config = format!(
        "[rtr]\nlisten = [\"127.0.0.1:{PORT}\"]\nnotify-interval = 0\n\
         max-sessions-per-address = 100\n[http]\nlisten = [\"127.0.0.1:{http}\"]\n\
         [[source]]\npath = \"vrps.json\"\nmax-age = 0\n{extra}"
    );
    let daemon = Daemon::start(&config, &[("vrps.json", json.as_bytes())]);
    (daemon, http)
}

/// `curl` on `path`: the status code and the body.
fn curl(port: u16, path: &str, args: &[&str]) -> (u16, String) {
    let url = format!("http://127.0.0.1:{port}{path}");
    let out = Command::new("curl")
        .args([
            "-s",
            "-S",
            "--max-time",
            "30",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
        ])
        .args(args)
        .arg(&url)
        .stdin(Stdio::null())
        .output()
        .expect("curl (Debian package curl)");
    let all = text(&out.stdout);
    let (body, code) = all.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// `rovctl status --json` of `daemon`, parsed.
fn status(daemon: &Daemon) -> Value {
    let socket = daemon.path("rovd.sock");
    let out = rovctl(&["-s", socket.to_str().unwrap(), "status", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

#[test]
fn rovctl_status_shows_sources_serials_and_sessions_and_reload_reloads() {
    let data = Data::generate(61, 400, 100);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let (mut daemon, _) = start(&json1, "");
    let (mut client, mut state) = wait_for_data(daemon.port, 2, WAIT);
    let local = client.local_addr().to_string();

    let s = status(&daemon);
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(s["serial"], 0);
    assert_eq!(s["ready"]["ready"], true, "{s:#}");
    assert_eq!(s["session_ids"].as_array().unwrap().len(), 3);
    let want = expected(&json1, 2);
    let v2 = &s["payloads"][2];
    assert_eq!(v2["vrps"], want.vrps.len());
    assert_eq!(v2["router_keys"], want.keys.len());
    let src = &s["sources"][0];
    assert!(src["name"].as_str().unwrap().ends_with("vrps.json"));
    assert_eq!(src["kind"], "file");
    assert_eq!(src["vrps"], want.vrps.len());
    assert!(src["last_success"].as_u64().is_some());
    let me = s["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["peer"] == local.as_str())
        .unwrap_or_else(|| panic!("session {local} not in {s:#}"));
    assert_eq!(me["version"], 2);
    assert_eq!(me["transport"], "tcp");
    assert_eq!(me["last_query_kind"], "reset");
    assert_eq!(me["serial"], 0);
    assert!(me["octets_sent"].as_u64().unwrap() > 0);

    // A change: a new serial with its counts; the session's serial moves.
    daemon.replace_file("vrps.json", json2.as_bytes());
    client.expect_notify(WAIT);
    assert!(client.sync_serial(&mut state));
    let s = status(&daemon);
    assert_eq!(s["serial"], 1);
    let serials = s["serials"].as_array().unwrap();
    assert_eq!(serials.len(), 2);
    assert_eq!(serials[0]["serial"], 1);
    assert!(
        serials[0]["announced"].as_u64().unwrap() + serials[0]["withdrawn"].as_u64().unwrap() > 0
    );
    let me = s["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["peer"] == local.as_str())
        .unwrap();
    assert_eq!(me["last_query_kind"], "serial");
    assert_eq!(me["serial"], 1);
    assert_eq!(s["counters"]["serial_queries"], 1);
    assert!(s["counters"]["notifies"].as_u64().unwrap() >= 1);

    // The same as text.
    let socket = daemon.path("rovd.sock");
    let out = rovctl(&["-s", socket.to_str().unwrap(), "status"]);
    let shown = text(&out.stdout);
    for needle in [
        "ready\n",
        "serial 1, ",
        "sources (1):",
        &local,
        "version 2",
        "+",
    ] {
        assert!(shown.contains(needle), "no {needle:?} in\n{shown}");
    }

    // The socket: root's and the daemon's group only.
    let meta = fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    if is_root() {
        let group = nix::unistd::User::from_name("_rovd").unwrap().unwrap().gid;
        assert_eq!((meta.uid(), meta.gid()), (0, group.as_raw()));
    }

    // Reload, as SIGHUP.
    let out = rovctl(&["-s", socket.to_str().unwrap(), "reload"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    daemon.wait_for_log("rovctl reload: reloading", WAIT);
    daemon.wait_for_log("validator: reloading all sources", WAIT);
    // Nothing else is a command.
    let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    s.write_all(b"shutdown\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("error: unknown command"), "{answer}");
    daemon.assert_running();
}

/// A raw HTTP exchange: what the server said before it closed.
fn raw(port: u16, request: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn every_path_answers_and_bad_requests_get_a_clear_status_while_rtr_carries_on() {
    let data = Data::generate(62, 300, 100);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let (mut daemon, http) = start(&json1, "");
    let (mut client, mut state) = wait_for_data(daemon.port, 2, WAIT);

    assert_eq!(curl(http, "/healthz", &[]), (200, "ok\n".into()));
    assert_eq!(curl(http, "/readyz", &[]), (200, "ready\n".into()));
    let (code, body) = curl(http, "/status", &[]);
    assert_eq!(code, 200);
    let s: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(s["serial"], 0);
    let (code, metrics) = curl(http, "/metrics", &[]);
    assert_eq!(code, 200);
    for line in ["rovd_serial 0", "rovd_ready 1", "# EOF"] {
        assert!(metrics.lines().any(|l| l == line), "no {line:?}");
    }
    let (code, page) = curl(http, "/", &[]);
    assert_eq!(code, 200);
    assert!(page.contains("<!DOCTYPE html>") && page.contains("Ready"));
    let (code, json) = curl(http, "/json", &[]);
    assert_eq!(code, 200);
    expected(&json, 2).assert_eq(&expected(&json1, 2), "/json");
    let (code, csv) = curl(http, "/csv", &[]);
    assert_eq!(code, 200);
    assert_eq!(
        csv.lines().count() - 1,
        expected(&json1, 0).vrps.len(),
        "/csv: a line per VRP"
    );

    // HEAD: the head only.
    let head = raw(
        http,
        b"HEAD /status HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "a body after HEAD: {head}");
    // Unknown paths, other methods, oversized heads, garbage.
    assert_eq!(curl(http, "/nope", &[]).0, 404);
    let post = raw(
        http,
        b"POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
    assert!(post.contains("Allow: GET, HEAD\r\n"), "{post}");
    let big = format!("X-Big: {}", "a".repeat(9000));
    assert_eq!(curl(http, "/status", &["-H", &big]).0, 431);
    let garbage = raw(
        http,
        b"\x16\x03\x01\x02\x00garbage\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
    // A head that never ends: 408 after the request time.
    let started = Instant::now();
    let slow = raw(http, b"GET /status HTTP/1.1\r\nHost:", WAIT);
    assert!(slow.starts_with("HTTP/1.1 408 "), "{slow}");
    assert!(started.elapsed() < WAIT);
    // More connections than the views take: the excess is told so.
    let held: Vec<TcpStream> = (0..70)
        .map(|_| TcpStream::connect(("127.0.0.1", http)).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(300));
    let (code, _) = curl(http, "/healthz", &[]);
    assert_eq!(code, 503, "a view connection beyond the limit");
    drop(held);

    // The router's session was never disturbed: it still follows.
    daemon.replace_file("vrps.json", json2.as_bytes());
    client.expect_notify(WAIT);
    assert!(client.sync_serial(&mut state));
    state
        .table
        .assert_eq(&expected(&json2, 2), "the router after all that");
    assert_eq!(curl(http, "/healthz", &[]).0, 200);
    daemon.assert_running();
}

/// Unix seconds now.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn an_expired_source_is_logged_counted_shown_and_not_ready() {
    let data = Data::generate(63, 100, 20);
    let mut doc: Value = serde_json::from_str(&data.to_json()).unwrap();
    let past = now() - 400 * 86_400;
    for key in ["roas", "bgpsec_keys", "aspas"] {
        for item in doc[key].as_array_mut().unwrap() {
            item["expires"] = past.into();
        }
    }
    let (daemon, http) = start(&doc.to_string(), "");
    daemon.wait_for_log("every payload has expired", WAIT);
    let (code, body) = curl(http, "/readyz", &[]);
    assert_eq!(code, 503);
    assert!(body.contains("every payload has expired"), "{body}");
    let (_, metrics) = curl(http, "/metrics", &[]);
    let line = metrics
        .lines()
        .find(|l| l.starts_with("rovd_source_all_expired{"))
        .unwrap_or_else(|| panic!("no rovd_source_all_expired in\n{metrics}"));
    assert!(line.ends_with(" 1"), "{line}");
    assert!(metrics
        .lines()
        .any(|l| l.starts_with("rovd_source_expired_payloads{") && l.contains("type=\"vrp\"")));
    let s = status(&daemon);
    assert_eq!(s["sources"][0]["all_expired"], true);
    assert_eq!(s["ready"]["ready"], false);
    assert_eq!(s["sources"][0]["expired_newest"], past);
}

#[test]
fn json_feeds_a_second_rovd_as_an_http_source() {
    let data = Data::generate(64, 2000, 500);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let (a, http) = start(&json1, "");
    a.wait_for_data(2);
    let b = Daemon::start(
        &format!(
            "[rtr]\nlisten = [\"127.0.0.1:{PORT}\"]\nnotify-interval = 0\n\
             [[source]]\nurl = \"http://127.0.0.1:{http}/json\"\nmax-drop = 100\n"
        ),
        &[],
    );
    let (mut client, mut state) = wait_for_data(b.port, 2, WAIT);
    state
        .table
        .assert_eq(&expected(&json1, 2), "b from a's /json");
    a.replace_file("vrps.json", json2.as_bytes());
    a.wait_for_log("rtr: serial 1:", WAIT);
    b.signal(nix::sys::signal::Signal::SIGHUP);
    client.expect_notify(WAIT);
    assert!(client.sync_serial(&mut state));
    state
        .table
        .assert_eq(&expected(&json2, 2), "b after a changed");
}

//------------ Prometheus -----------------------------------------------------

/// Ask Prometheus' query API for `query`: the first sample's value, which
/// every query here has whole.
fn prometheus_value(port: u16, query: &str) -> Option<u64> {
    let (code, body) = curl(
        port,
        "/api/v1/query",
        &["-G", "--data-urlencode", &format!("query={query}")],
    );
    if code != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_rovd_and_finds_its_values() {
    let Some(bin) = on_path("prometheus") else {
        skip("prometheus not installed");
        return;
    };
    let json = Data::generate(65, 500, 100).to_json();
    let (daemon, http) = start(&json, "");
    let (_client, state) = wait_for_data(daemon.port, 2, WAIT);
    let dir = tempfile::tempdir().unwrap();
    let web = free_port();
    fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: rovd\n    static_configs:\n      \
             - targets: [\"127.0.0.1:{http}\"]\n"
        ),
    )
    .unwrap();
    let _prometheus = Service::spawn(
        "prometheus",
        Command::new(bin)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{web}")),
    );
    let deadline = Instant::now() + WAIT * 2;
    let serial = loop {
        if let Some(v) = prometheus_value(web, "rovd_serial") {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never had rovd_serial"
        );
        thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(serial, u64::from(state.serial));
    assert_eq!(prometheus_value(web, "up{job=\"rovd\"}"), Some(1));
    assert_eq!(prometheus_value(web, "sum(rovd_sessions)"), Some(1));
    let age = prometheus_value(web, "rovd_source_age_seconds").expect("source age");
    let s = status(&daemon);
    let made = s["sources"][0]["made"].as_u64().unwrap();
    let ours = now().saturating_sub(made);
    assert!(age.abs_diff(ours) <= 10, "age {age} against {ours}");
    assert_eq!(
        prometheus_value(web, "rovd_payloads{rtr_version=\"2\",type=\"vrp\"}"),
        Some(u64::try_from(expected(&json, 2).vrps.len()).unwrap())
    );
}

//------------ Chromium -------------------------------------------------------

/// Chromium, if installed.
fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|b| on_path(b))
}

#[test]
fn the_status_page_renders_in_chromium_on_a_phone_sized_screen() {
    let Some(bin) = chromium() else {
        skip("chromium not installed");
        return;
    };
    let json = Data::generate(66, 200, 50).to_json();
    let (daemon, http) = start(&json, "");
    let (client, _) = wait_for_data(daemon.port, 2, WAIT);
    let local = client.local_addr().to_string();
    let url = format!("http://127.0.0.1:{http}/");
    let profile = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--window-size=412,915",
                &format!("--user-data-dir={}", profile.path().display()),
            ])
            .args(args)
            .arg(&url)
            .stdin(Stdio::null())
            .output()
            .expect("run chromium");
        assert!(out.status.success(), "chromium: {}", text(&out.stderr));
        out
    };
    let dom = text(&run(&["--dump-dom"]).stdout);
    for needle in ["Ready", "vrps.json", "Sessions (1)", &local, "Serials"] {
        assert!(
            dom.contains(needle),
            "no {needle:?} in the rendered page:\n{dom}"
        );
    }
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = fs::remove_file(&shot);
    run(&[&format!("--screenshot={}", shot.display())]);
    let png = fs::read(&shot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 10_000, "a nearly empty screenshot");
    println!("screenshot: {}", shot.display());
    drop(client);
}
