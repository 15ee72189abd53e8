//! rovd fed by rovd: caches chained over RTR, the way a central validator
//! feeds caches near the routers. A chain of three rovds over RTR-over-TLS
//! must deliver exactly the top's data to real router clients at the leaf
//! (rtrlib's `rtrclient`, BIRD) and to an RTR v2 session, and an update at
//! the top must reach them as a delta — the leaf's routers keep their
//! session and get exactly the net change. An upstream with a TCP-MD5 key
//! from the key file is reached with it, and not without it. A file-only
//! rovd runs three processes, one with a url four.

mod common;

use std::thread;
use std::time::Duration;

use common::bird::{bird, bird_view, Bird};
use common::data::{expected, Data};
use common::rtr::{wait_for_data, RtrClient};
use common::rtrclient::{distance, rtrclient, Rtrclient};
use common::tls::Pki;
use common::{children_of, free_port, Daemon, PORT, WAIT};

/// A cache's `[rtr]` table: notifies at once, long timers, so that every
/// query in a test follows a notify.
fn rtr_table() -> String {
    format!(
        "[rtr]\nlisten = [\"127.0.0.1:{PORT}\"]\nrefresh = 3600\nretry = 600\nexpire = 7200\n\
         notify-interval = 0\nmax-sessions-per-address = 100\n"
    )
}

/// A TLS listener on `port` with `server.pem` and `server.key`.
fn tls_table(port: u16) -> String {
    format!(
        "[tls]\nlisten = [\"127.0.0.1:{port}\"]\ncertificate = \"server.pem\"\nkey = \"server.key\"\n"
    )
}

/// A source fetched from the rovd at `url`, over TLS checked against
/// `ca.pem` if the URL says TLS.
fn upstream_source(url: &str) -> String {
    let mut s = format!("[[source]]\nurl = \"{url}\"\n");
    if url.starts_with("rtr+tls") {
        s.push_str("ca-file = \"ca.pem\"\n");
    }
    s
}

/// The top, the middle and the leaf of a chain over TLS, the top serving
/// `json`; each waits until the one below it has data.
struct Chain {
    top: Daemon,
    middle: Daemon,
    leaf: Daemon,
}

impl Chain {
    fn start(json: &str) -> Chain {
        let pki = Pki::new("chain CA");
        let server = pki.server("cache");
        let certs: [(&str, &[u8]); 3] = [
            ("server.pem", server.cert_pem.as_bytes()),
            ("server.key", server.key_pem.as_bytes()),
            ("ca.pem", pki.ca_pem.as_bytes()),
        ];
        let mut top_files: Vec<(&str, &[u8])> = certs.to_vec();
        top_files.push(("vrps.json", json.as_bytes()));
        let (top_tls, middle_tls) = (free_port(), free_port());
        let top = Daemon::start(
            &format!(
                "{}{}[[source]]\npath = \"vrps.json\"\n",
                rtr_table(),
                tls_table(top_tls)
            ),
            &top_files,
        );
        top.wait_for_data(2);
        // The middle names the top by name, the leaf the middle by
        // address: the certificate carries both.
        let middle = Daemon::start(
            &format!(
                "{}{}{}",
                rtr_table(),
                tls_table(middle_tls),
                upstream_source(&format!("rtr+tls://localhost:{top_tls}"))
            ),
            &certs,
        );
        middle.wait_for_data(2);
        let leaf = Daemon::start(
            &format!(
                "{}{}",
                rtr_table(),
                upstream_source(&format!("rtr+tls://127.0.0.1:{middle_tls}"))
            ),
            &certs,
        );
        leaf.wait_for_data(2);
        Chain { top, middle, leaf }
    }
}

#[test]
fn a_chain_of_three_over_tls_delivers_the_top_s_data_and_its_updates_as_deltas() {
    let data = Data::generate(41, 3000, 1000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let chain = Chain::start(&json1);

    // An RTR v2 router at the leaf: everything, ASPA and router keys too.
    let (mut router, mut state) = wait_for_data(chain.leaf.port, 2, WAIT);
    state
        .table
        .assert_eq(&expected(&json1, 2), "v2 at the leaf");
    let session = state.session;

    // Real routers at the leaf.
    let (want1, want2) = (expected(&json1, 1), expected(&json2, 1));
    let rtrclient = rtrclient().map(|bin| {
        let c = Rtrclient::start(&bin, chain.leaf.port);
        let n = c.wait_for(&want1, "full sync at the leaf");
        (c, n)
    });
    let bird = bird().map(|bins| {
        let b = Bird::start(&bins, chain.leaf.port);
        b.wait_for(&bird_view(&want1), "full sync at the leaf");
        b
    });

    // An update at the top travels down as deltas.
    chain.top.replace_file("vrps.json", json2.as_bytes());
    let (s, _) = router.expect_notify(WAIT);
    assert_eq!(s, session, "the leaf's session changed");
    assert!(router.sync_serial(&mut state), "Cache Reset at the leaf");
    state
        .table
        .assert_eq(&expected(&json2, 2), "v2 at the leaf after the update");
    assert_eq!(state.session, session);
    if let Some((c, n1)) = rtrclient {
        let n2 = c.wait_for(&want2, "update at the leaf");
        thread::sleep(Duration::from_secs(1));
        assert_eq!(c.changes().len(), n2, "changes after the update");
        assert_eq!(n2 - n1, distance(&want1, &want2), "not the net change");
    }
    if let Some(b) = &bird {
        b.wait_for(&bird_view(&want2), "update at the leaf");
    }
    // Each tier took the change from upstream incrementally: one full
    // table at start-up, then a delta.
    for (name, d) in [("middle", &chain.middle), ("leaf", &chain.leaf)] {
        let log = d.log();
        assert_eq!(
            log.matches(" items at serial ").count(),
            1,
            "{name} fetched the whole table again:\n{log}"
        );
        assert!(
            log.lines().any(|l| l.starts_with("rtr: serial 1:")),
            "{name} did not move to serial 1:\n{log}"
        );
        assert!(log.contains("(version 2)"), "{name}: not RTR v2 upstream");
    }
}

#[test]
fn a_file_only_rovd_runs_three_processes_and_one_with_a_url_four() {
    let json = Data::generate(42, 100, 50).to_json();
    let top = Daemon::start(
        &format!("{}[[source]]\npath = \"vrps.json\"\n", rtr_table()),
        &[("vrps.json", json.as_bytes())],
    );
    top.wait_for_data(2);
    let leaf = Daemon::start(
        &format!(
            "{}{}",
            rtr_table(),
            upstream_source(&format!("rtr://127.0.0.1:{}", top.port))
        ),
        &[],
    );
    leaf.wait_for_data(2);
    let names = |d: &Daemon| {
        let mut n: Vec<String> = children_of(d.pid()).into_iter().map(|p| p.argv0).collect();
        n.sort();
        n
    };
    assert_eq!(names(&top), ["rovd: rtr", "rovd: validator"]);
    assert_eq!(
        names(&leaf),
        ["rovd: fetcher", "rovd: rtr", "rovd: validator"]
    );
    let log = leaf.log();
    assert!(
        log.contains("fetcher: landlock:"),
        "the fetcher did not lock down:\n{log}"
    );
}

/// TCP-MD5 between tiers: the top listens on 127.0.0.3 with a key for
/// the leaf (whose connections come from 127.0.0.1), the leaf has the key
/// for 127.0.0.3 in its key file. With the key the data flows; with a
/// wrong one the top never sees a connection.
#[test]
fn an_upstream_is_reached_with_its_tcp_md5_key_only() {
    const KEY: &str = "a key for the link between two caches";
    let json = Data::generate(43, 300, 100).to_json();
    let top_keys = format!("[[tcp-md5]]\npeer = \"127.0.0.1\"\nkey = \"{KEY}\"\n");
    let top = Daemon::spawn_with_keys(
        &format!("[rtr]\nlisten = [\"127.0.0.3:{PORT}\"]\n[[source]]\npath = \"vrps.json\"\n"),
        &top_keys,
        &[("vrps.json", json.as_bytes())],
    );
    top.wait_for_log("rtr: serial 0", WAIT);
    let leaf_config = format!(
        "{}[[source]]\nurl = \"rtr://127.0.0.3:{}\"\n\
         connect-timeout = 2\nmin-retry = 1\nmax-retry = 1\n",
        rtr_table(),
        top.port
    );
    let leaf = Daemon::start_with_keys(
        &leaf_config,
        &format!("[[tcp-md5]]\npeer = \"127.0.0.3\"\nkey = \"{KEY}\"\n"),
        &[],
    );
    let (_, state) = wait_for_data(leaf.port, 2, WAIT);
    state
        .table
        .assert_eq(&expected(&json, 2), "through TCP-MD5");
    drop(leaf);

    let opened = top.log_count(" opened");
    let wrong = Daemon::start_with_keys(
        &leaf_config,
        "[[tcp-md5]]\npeer = \"127.0.0.3\"\nkey = \"not the key\"\n",
        &[],
    );
    assert!(
        wrong.log_wait(WAIT, |l| l.contains("no answer in time")),
        "a wrong key connected:\n{}",
        wrong.log()
    );
    assert_eq!(top.log_count(" opened"), opened, "the top saw a session");
}

/// What a router at a leaf sees of a v1 session, through a chain: the
/// same as from the top.
#[test]
fn a_v1_router_at_the_leaf_gets_what_a_v1_router_at_the_top_gets() {
    let json = Data::generate(44, 500, 200).to_json();
    let top = Daemon::start(
        &format!("{}[[source]]\npath = \"vrps.json\"\n", rtr_table()),
        &[("vrps.json", json.as_bytes())],
    );
    top.wait_for_data(2);
    let leaf = Daemon::start(
        &format!(
            "{}{}",
            rtr_table(),
            upstream_source(&format!("rtr://127.0.0.1:{}", top.port))
        ),
        &[],
    );
    leaf.wait_for_data(2);
    let mut at_top = RtrClient::connect(top.port);
    let mut at_leaf = RtrClient::connect(leaf.port);
    at_top
        .sync_full(1)
        .table
        .assert_eq(&at_leaf.sync_full(1).table, "v1, leaf against top");
}

/// `rovd -n` on a configuration in `dir`: its exit code and what it said.
fn check(dir: &std::path::Path, config: &str) -> (Option<i32>, String) {
    let path = dir.join("rovd.conf");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(common::ROVD)
        .args(["-n", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code(),
        format!("{}{}", common::text(&out.stdout), common::text(&out.stderr)),
    )
}

#[test]
fn check_names_what_is_wrong_with_an_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("check CA");
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(dir.path().join("junk.pem"), "not a certificate\n").unwrap();
    let ok = "[[source]]\nurl = [\"rtr+tls://localhost:8324\", \"https://127.0.0.1/x.json\"]\n\
              ca-file = \"ca.pem\"\n";
    assert_eq!(
        check(dir.path(), ok),
        (Some(0), "configuration OK\n".into())
    );
    let (code, said) = check(
        dir.path(),
        "[[source]]\nurl = \"rtr+tls://127.0.0.1\"\nca-file = \"missing.pem\"\n",
    );
    assert_eq!(code, Some(1));
    assert!(said.contains("missing.pem: No such file"), "{said}");
    let (code, said) = check(
        dir.path(),
        "[[source]]\nurl = \"https://127.0.0.1/x\"\nca-file = \"junk.pem\"\n",
    );
    assert_eq!(code, Some(1));
    assert!(
        said.contains("ca-file") && said.contains("junk.pem"),
        "{said}"
    );
    let (code, said) = check(
        dir.path(),
        "[[source]]\n\nurl = \"rtr://127.0.0.1:99999\"\n",
    );
    assert_eq!(code, Some(1));
    assert!(said.contains("rovd.conf:3:"), "{said}");
}

/// What a reload can change for upstreams and what needs a restart: the
/// fetcher itself, a port its sandbox was not given, a name not resolved
/// at start-up.
#[test]
fn a_reload_keeps_the_upstreams_or_says_what_needs_a_restart() {
    use nix::sys::signal::Signal;
    let json = Data::generate(45, 200, 50).to_json();
    let top = Daemon::start(
        &format!("{}[[source]]\npath = \"vrps.json\"\n", rtr_table()),
        &[("vrps.json", json.as_bytes())],
    );
    top.wait_for_data(2);
    let leaf = Daemon::start(
        &format!(
            "{}{}",
            rtr_table(),
            upstream_source(&format!("rtr://127.0.0.1:{}", top.port))
        ),
        &[],
    );
    leaf.wait_for_data(2);
    let base = std::fs::read_to_string(&leaf.config_path).unwrap();
    let reload = |extra: &str, needle: &str| {
        std::fs::write(&leaf.config_path, format!("{base}{extra}")).unwrap();
        let before = leaf.log_count(needle);
        leaf.signal(Signal::SIGHUP);
        assert!(
            leaf.log_wait(WAIT, |l| l.matches(needle).count() > before),
            "no {needle:?} after reloading with {extra:?}:\n{}",
            leaf.log()
        );
    };
    let other = free_port();
    reload(
        &format!("[[source]]\nurl = \"rtr://127.0.0.1:{other}\"\n"),
        &format!("port {other} was not an upstream port at start-up: restart required"),
    );
    reload(
        &format!("[[source]]\nurl = \"rtr://localhost:{}\"\n", top.port),
        "host localhost was not resolved at start-up: restart required",
    );
    // A change the fetcher can take: the connection and table stay, and
    // a SIGHUP queries the upstream at once.
    reload("", "fetching every upstream now");
    assert_eq!(leaf.log_count(" items at serial "), 1, "{}", leaf.log());

    // Without the fetcher, a url cannot come by reload.
    let plain = Daemon::start(
        &format!("{}[[source]]\npath = \"vrps.json\"\n", rtr_table()),
        &[("vrps.json", json.as_bytes())],
    );
    plain.wait_for_data(2);
    let text = std::fs::read_to_string(&plain.config_path).unwrap();
    std::fs::write(
        &plain.config_path,
        format!("{text}[[source]]\nurl = \"rtr://127.0.0.1:{}\"\n", top.port),
    )
    .unwrap();
    plain.signal(Signal::SIGHUP);
    plain.wait_for_log(
        "needs the fetcher, which starts with rovd: restart required",
        WAIT,
    );
}

/// An upstream that requires client certificates serves an edge that
/// presents one from its client CA, and refuses one that presents none.
#[test]
fn an_upstream_that_requires_a_client_certificate_gets_one() {
    let json = Data::generate(46, 300, 100).to_json();
    let pki = Pki::new("central CA");
    let server = pki.server("central");
    let edge = pki.client("edge");
    let tls_port = free_port();
    let top = Daemon::start(
        &format!(
            "{}{}client-ca = \"ca.pem\"\n[[source]]\npath = \"vrps.json\"\n",
            rtr_table(),
            tls_table(tls_port)
        ),
        &[
            ("vrps.json", json.as_bytes()),
            ("server.pem", server.cert_pem.as_bytes()),
            ("server.key", server.key_pem.as_bytes()),
            ("ca.pem", pki.ca_pem.as_bytes()),
        ],
    );
    top.wait_for_data(2);
    let source = format!(
        "{}[[source]]\nurl = \"rtr+tls://127.0.0.1:{tls_port}\"\nca-file = \"ca.pem\"\n\
         min-retry = 1\nmax-retry = 1\n",
        rtr_table()
    );
    let with_cert = Daemon::start(
        &format!("{source}client-certificate = \"edge.pem\"\nclient-key = \"edge.key\"\n"),
        &[
            ("ca.pem", pki.ca_pem.as_bytes()),
            ("edge.pem", edge.cert_pem.as_bytes()),
            ("edge.key", edge.key_pem.as_bytes()),
        ],
    );
    let (_, state) = wait_for_data(with_cert.port, 2, WAIT);
    state
        .table
        .assert_eq(&expected(&json, 2), "with a client certificate");
    let without = Daemon::start(&source, &[("ca.pem", pki.ca_pem.as_bytes())]);
    assert!(
        without.log_wait(WAIT, |l| l.contains("fetcher: rtr+tls://127.0.0.1")
            && l.contains("connection lost")),
        "no failure logged without a certificate:\n{}",
        without.log()
    );
    assert!(!without.log().contains(" items at serial "));
}

/// An upstream that cannot be reached for a while is resumed when it is
/// back: the leaf keeps the position it had through failed connects and
/// asks with a Serial Query; a restarted upstream answers Cache Reset.
#[test]
fn a_leaf_resumes_with_a_serial_query_after_failed_connects() {
    let json = Data::generate(47, 200, 50).to_json();
    let top_config = format!("{}[[source]]\npath = \"vrps.json\"\n", rtr_table());
    let top = Daemon::start(&top_config, &[("vrps.json", json.as_bytes())]);
    top.wait_for_data(2);
    let port = top.port;
    let leaf = Daemon::start(
        &format!(
            "{}[[source]]\nurl = \"rtr://127.0.0.1:{port}\"\nmin-retry = 1\nmax-retry = 1\n\
             connect-timeout = 1\n",
            rtr_table()
        ),
        &[],
    );
    leaf.wait_for_data(2);
    drop(top);
    assert!(
        leaf.log_wait(WAIT, |l| l.matches("cannot connect").count() >= 1
            && l.matches("trying again in 1 s").count() >= 2),
        "no failed connects:\n{}",
        leaf.log()
    );
    let top = Daemon::start_with(
        &top_config,
        &[("vrps.json", json.as_bytes())],
        Some(port),
        &[],
    );
    top.wait_for_data(2);
    leaf.wait_for_log("Cache Reset: asking for all", WAIT);
    leaf.wait_for_log("reachable again", WAIT);
    let (_, state) = wait_for_data(leaf.port, 2, WAIT);
    state
        .table
        .assert_eq(&expected(&json, 2), "after the resumption");
}
