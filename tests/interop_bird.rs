//! Interop with BIRD 2 (Debian package bird2, BIRD 2.0.12): its `rpki`
//! protocol syncs from the built `rovd` into two ROA tables, read back with
//! `birdc`, which must hold exactly the input VRPs; a change must then
//! arrive incrementally, through Serial Notify and Serial Query on the same
//! session. BIRD 2.0 speaks RTR v1 and falls back to v0 when the cache
//! answers Unsupported Protocol Version; it accepts Router Key PDUs at v1
//! and drops them, and knows no ASPA. BIRD runs in the foreground in a
//! temporary directory of its own, with its own configuration, control
//! socket, pid file and log.

mod common;

use std::time::Duration;

use common::bird::{bird, bird_keeps, bird_view, count, Bird, BIRD_VERSION};
use common::clients::{last_serial, sessions, SessionLog};
use common::data::{expected, Data};
use common::{config, Daemon, WAIT};

//------------ Tests ----------------------------------------------------------

#[test]
fn bird_v1_full_sync_and_incremental_update() {
    sync_and_follow(2, 1, 31);
}

#[test]
fn bird_falls_back_to_v0() {
    sync_and_follow(0, 0, 32);
}

/// BIRD against rovd with `max_version`, ending up at `version`: a full
/// sync of some 29,000 VRPs, then a change followed on the same session.
#[allow(clippy::too_many_lines)] // one session's story, start to end
fn sync_and_follow(max_version: u8, version: u8, seed: u64) {
    let Some(bins) = bird() else { return };
    let data = Data::generate(seed, 20_000, 8_000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let (full1, full2) = (expected(&json1, version), expected(&json2, version));
    if version >= 1 {
        // BIRD must take the Router Key PDUs (and a withdrawal) in its stride.
        assert!(
            !full1.keys.is_empty() && full1.keys != full2.keys,
            "test data without key change"
        );
    }
    let (want1, want2) = (bird_view(&full1), bird_view(&full2));
    assert_ne!(want1, want2, "test data without VRP change");
    // Every VRP BIRD drops, it must say it dropped, once.
    let bogus1 = full1.vrps.len() - want1.vrps.len();
    let bogus2 = bogus1
        + full2
            .vrps
            .difference(&full1.vrps)
            .filter(|v| !bird_keeps(v))
            .count();
    assert!(bogus1 > 0, "test data without loopback prefixes");

    let daemon = Daemon::start(&config(max_version), &[("vrps.json", json1.as_bytes())]);
    // Data first, so that BIRD's first query is answered with it.
    daemon.wait_for_log("rtr: serial ", WAIT);
    let bird = Bird::start(&bins, daemon.port);

    bird.wait_for(&want1, &format!("v{version} full sync"));
    assert_eq!(
        count(&bird.log(), "Ignoring bogus route"),
        bogus1,
        "BIRD's warnings for loopback VRPs"
    );
    let status = bird.status();
    assert_eq!(status.version, version, "BIRD's protocol version");
    assert_eq!(status.serial, last_serial(&daemon.log()), "BIRD's serial");

    daemon.replace_file("vrps.json", json2.as_bytes());
    bird.wait_for(&want2, &format!("v{version} after the change"));
    assert_eq!(
        count(&bird.log(), "Ignoring bogus route"),
        bogus2,
        "BIRD's warnings for loopback VRPs after the change"
    );
    let status = bird.status();
    assert_eq!(status.version, version, "BIRD's protocol version");
    assert_eq!(
        status.serial,
        last_serial(&daemon.log()),
        "BIRD's serial after the change"
    );

    // The daemon's view: one session for the data, still open, with one
    // Reset Query and the change fetched by Serial Query.
    assert!(
        daemon.log_wait(Duration::from_secs(5), |t| t
            .contains(": serial query from ")),
        "no Serial Query logged"
    );
    let peer = bird.peer(daemon.port);
    let log = daemon.log();
    let sessions = sessions(&log);
    let queried: Vec<&(String, SessionLog)> =
        sessions.iter().filter(|(_, s)| s.queried()).collect();
    let fallback = max_version < BIRD_VERSION;
    let (now, refused) = match queried.as_slice() {
        [only] if !fallback => (only, None),
        [first, second] if fallback => (second, Some(first)),
        other => panic!("BIRD's sessions: {other:#?}"),
    };
    assert_eq!(now.0, peer.to_string(), "BIRD's session in the log");
    let s = &now.1;
    assert_eq!(s.opened, 1, "{peer}: sessions opened");
    assert_eq!(s.versions, [version], "{peer}: negotiated version");
    assert_eq!(s.resets, 1, "{peer}: Reset Queries");
    assert!(
        s.serials >= 1,
        "{peer}: no Serial Query answered with a delta"
    );
    assert_eq!(
        s.cache_resets, 0,
        "{peer}: Serial Queries answered Cache Reset"
    );
    assert_eq!(s.errors, 0, "{peer}: errors reported by BIRD");
    assert_eq!(s.closed, None, "{peer}: session closed");
    if let Some((first, s)) = refused {
        // v1 first, refused; BIRD reconnects at v0.
        assert_eq!(
            s.version_refused,
            [BIRD_VERSION],
            "{first}: refused versions"
        );
        assert_eq!((s.resets, s.serials), (0, 0), "{first}: answered queries");
        assert!(s.closed.is_some(), "{first}: refused session still open");
    }

    // BIRD's view of the same.
    let blog = bird.log();
    assert!(
        blog.contains("Received Serial Notify packet"),
        "BIRD saw no Serial Notify"
    );
    assert_eq!(
        count(&blog, "Sending Reset Query packet"),
        1 + usize::from(fallback),
        "BIRD's Reset Queries"
    );
    assert!(
        !blog.contains("Sending Error packet"),
        "BIRD sent an Error Report"
    );
    if fallback {
        assert!(
            blog.contains(&format!(
                "Downgrading from protocol version {BIRD_VERSION} to version {version}"
            )),
            "BIRD did not log its downgrade"
        );
    } else {
        // Every router key announced, then the one withdrawn: received,
        // and dropped without complaint.
        assert_eq!(
            count(&blog, "Received Router Key packet (ignored)"),
            full1.keys.len() + full1.keys.symmetric_difference(&full2.keys).count(),
            "Router Key PDUs BIRD received"
        );
        // v1 End of Data carries the cache's timers; BIRD adopts them.
        assert!(
            blog.contains("New interval values: refresh: 3600s, retry: keeps 5s, expire: 7200s"),
            "BIRD did not take the End of Data timers"
        );
    }
}
