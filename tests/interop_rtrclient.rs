//! Interop with rtrlib: its `rtrclient` tool (Debian package rtr-tools,
//! rtrlib 0.8, RTR v1 with fallback to v0) syncs from the built `rovd` and
//! must end up with exactly the input data for its protocol version, then
//! follow a change incrementally via Serial Notify and Serial Query.

mod common;

use std::thread;
use std::time::Duration;

use common::data::{expected, Data};
use common::rtrclient::{distance, rtrclient, Rtrclient};
use common::{config, Daemon};

//------------ Tests ----------------------------------------------------------

/// rtrclient against rovd with `max_version`, speaking `version`: a full
/// sync, then a change followed incrementally.
fn sync_and_follow(max_version: u8, version: u8, seed: u64) {
    let Some(bin) = rtrclient() else { return };
    let data = Data::generate(seed, 2000, 1000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let daemon = Daemon::start(&config(max_version), &[("vrps.json", json1.as_bytes())]);
    daemon.wait_for_data(version);
    let (want1, want2) = (expected(&json1, version), expected(&json2, version));
    assert_ne!(distance(&want1, &want2), 0);
    if version >= 1 {
        assert!(
            !want1.keys.is_empty() && want1.keys != want2.keys,
            "test data without key change"
        );
    }

    let client = Rtrclient::start(&bin, daemon.port);
    let n1 = client.wait_for(&want1, &format!("v{version} full sync"));
    // Nothing more arrives once the table is complete.
    thread::sleep(Duration::from_secs(1));
    assert_eq!(
        client.changes().len(),
        n1,
        "rtrclient printed changes after the full sync"
    );

    daemon.replace_file("vrps.json", json2.as_bytes());
    let n2 = client.wait_for(&want2, &format!("v{version} after the change"));
    thread::sleep(Duration::from_secs(1));
    assert_eq!(
        client.changes().len(),
        n2,
        "rtrclient printed changes after the update"
    );
    // Exactly the net change, not a reset and reload.
    assert_eq!(
        n2 - n1,
        distance(&want1, &want2),
        "rtrclient changes for the update"
    );
    let err = client.err.text();
    if err.contains("RTR Socket") {
        // rtrlib's debug log, when built in, shows the incremental path.
        assert!(
            err.contains("Serial Notify received"),
            "no Serial Notify seen by rtrclient"
        );
    }
}

#[test]
fn rtrclient_v1_with_router_keys() {
    sync_and_follow(2, 1, 21);
}

#[test]
fn rtrclient_falls_back_to_v0() {
    sync_and_follow(0, 0, 22);
}
