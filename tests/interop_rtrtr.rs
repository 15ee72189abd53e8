//! Interop with RTRTR (NLnet Labs, crates.io `rtrtr`), whose `rtr` unit is
//! an RTR client for versions 0 to 2 built on rpki-rs — the one client
//! here that takes ASPA. RTRTR syncs from the built `rovd`; what it
//! received is read back through its own `rtr` target with this suite's
//! independent client and must equal the input exactly, router keys and
//! ASPA included. Updates must arrive by Serial Notify and Serial Query on
//! the same session.
//!
//! Two quirks of RTRTR 0.3.3 shape the test: its `json` output stops after
//! the ROAs when router keys are present (its JSON stream expects ASPA
//! before router keys), so the data is read back over RTR instead; and it
//! keeps a customer's old ASPA record when a new announcement replaces the
//! provider set (8210bis-27 §5.12), so the update here changes which
//! customers have ASPA but no customer's providers.

mod common;

use std::path::PathBuf;

use common::clients::{sessions, SessionLog};
use common::data::{expected, AspaObject, Data};
use common::rtrtr::Rtrtr;
use common::{config, on_path, Daemon};

fn rtrtr() -> Option<PathBuf> {
    let found = std::env::var_os("ROVD_RTRTR")
        .map(PathBuf::from)
        .or_else(|| on_path("rtrtr"));
    if found.is_none() {
        common::skip("rtrtr not installed (cargo install --locked rtrtr)");
    }
    found
}

/// RTRTR against rovd offering `max_version`: it must settle on `version`,
/// hold exactly the data of that version, and follow a change on the same
/// session by Serial Notify and Serial Query.
fn sync_and_follow(max_version: u8, version: u8, seed: u64) {
    let Some(bin) = rtrtr() else { return };
    let data = Data::generate(seed, 20_000, 8_000);
    let mut updated = data.updated();
    // RTRTR 0.3.3 keeps the old record of a customer whose provider set
    // is replaced by a new announcement (8210bis-27 §5.12: an announcement
    // replaces), and then serves two ASPA PDUs for it. Keep provider sets
    // unchanged here; customers still come and go.
    let mut customers: Vec<u32> = data.aspas.iter().map(|a| a.customer).collect();
    customers.sort_unstable();
    customers.dedup();
    let keep = &customers[..=customers.len() / 2];
    let mut aspas: Vec<AspaObject> = data
        .aspas
        .iter()
        .filter(|a| keep.contains(&a.customer))
        .cloned()
        .collect();
    aspas.push(AspaObject {
        customer: 4_200_000_123,
        providers: vec![64_496, 64_497],
    });
    updated.aspas = aspas;
    let (json1, json2) = (data.to_json(), updated.to_json());
    let daemon = Daemon::start(&config(max_version), &[("vrps.json", json1.as_bytes())]);
    daemon.wait_for_data(version);
    let mark = daemon.log().len();
    let rtrtr = Rtrtr::plain(&bin, daemon.port);

    let want1 = expected(&json1, version);
    if version == 2 {
        assert!(
            !want1.keys.is_empty() && !want1.aspas.is_empty(),
            "test data"
        );
    }
    rtrtr.wait_for(version, &want1, &format!("RTRTR at v{version}, full sync"));
    daemon.replace_file("vrps.json", json2.as_bytes());
    let want2 = expected(&json2, version);
    assert_ne!(want1, want2);
    rtrtr.wait_for(
        version,
        &want2,
        &format!("RTRTR at v{version}, after the change"),
    );

    // From rovd's side: the session that holds the data negotiated
    // `version`, was reset once, and followed the change by Serial Query.
    let log = daemon.log();
    let later = sessions(&log[mark..]);
    let serving: Vec<&(String, SessionLog)> = later
        .iter()
        .filter(|(_, s)| s.versions.contains(&version))
        .collect();
    assert_eq!(
        serving.len(),
        1,
        "RTRTR sessions at v{version}: {later:?}\n{log}"
    );
    let (_, s) = serving[0];
    assert_eq!(s.opened, 1, "{log}");
    assert_eq!(s.resets, 1, "{log}");
    assert!(s.serials >= 1, "{log}");
    assert_eq!(s.closed, None, "{log}");
    if max_version < 2 {
        // RTRTR starts at v2 and is told the version to use.
        assert!(
            log[mark..].contains("query at version 2, answered Unsupported Protocol Version"),
            "{log}"
        );
    }
}

#[test]
fn rtrtr_v2_with_router_keys_and_aspa() {
    sync_and_follow(2, 2, 71);
}

#[test]
fn rtrtr_downgrades_to_v1() {
    sync_and_follow(1, 1, 72);
}

#[test]
fn rtrtr_downgrades_to_v0() {
    sync_and_follow(0, 0, 73);
}
