//! The benchmark data sets: rovd's deterministic generator written as
//! rpki-client JSON (rovd, StayRTR, RTRTR's json unit read it) and as a
//! SLURM file of assertions (how Routinator serves data without TALs), with
//! a second version of the set in which a given percentage changed.

use std::path::Path;

use base64::Engine;
use rovd::payload::Snapshot;
use rovd::testdata::{self, Spec};
use serde_json::{json, Value};

/// The sizes of a generated set.
pub(crate) struct Sizes {
    pub vrps: usize,
    pub seed: u64,
}

/// Generate the set, and the changed one if `changed` is a percentage.
pub(crate) fn generate(sizes: &Sizes, changed: Option<f64>) -> (Snapshot, Option<Snapshot>) {
    let spec = Spec {
        vrps: sizes.vrps,
        seed: sizes.seed,
        ..Spec::full()
    };
    let first = testdata::generate(&spec);
    let second = changed.map(|p| testdata::mutate(&first, p, sizes.seed ^ 0x5eed));
    (first, second)
}

/// Write `snapshot` as rpki-client JSON.
pub(crate) fn write_json(snapshot: &Snapshot, path: &Path) -> Result<(), String> {
    std::fs::write(path, testdata::to_rpki_client_json(snapshot))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Write `snapshot` as a SLURM file (RFC 8416, slurmVersion 2 for ASPA)
/// that asserts every payload and filters nothing.
pub(crate) fn write_slurm(snapshot: &Snapshot, path: &Path) -> Result<(), String> {
    std::fs::write(path, slurm(snapshot).to_string())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn slurm(s: &Snapshot) -> Value {
    let b64 = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let prefixes: Vec<Value> = s
        .vrps
        .iter()
        .map(
            |v| json!({"asn": v.asn, "prefix": v.prefix.to_string(), "maxPrefixLength": v.max_len}),
        )
        .collect();
    let keys: Vec<Value> = s
        .router_keys
        .iter()
        .map(|k| json!({"asn": k.asn, "SKI": b64.encode(k.ski), "routerPublicKey": b64.encode(&k.spki)}))
        .collect();
    let aspas: Vec<Value> = s
        .aspas
        .iter()
        .map(|a| json!({"customerAsn": a.customer, "providerAsns": a.providers}))
        .collect();
    json!({
        "slurmVersion": 2,
        "validationOutputFilters": {"prefixFilters": [], "bgpsecFilters": [], "aspaFilters": []},
        "locallyAddedAssertions": {
            "prefixAssertions": prefixes,
            "bgpsecAssertions": keys,
            "aspaAssertions": aspas,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_asserts_exactly_the_set() {
        let (s, changed) = generate(
            &Sizes {
                vrps: 2_000,
                seed: 3,
            },
            Some(1.0),
        );
        let changed = changed.unwrap();
        assert_ne!(s, changed);
        let text = slurm(&s).to_string();
        let parsed = rovd::validator::slurm::parse(text.as_bytes()).unwrap();
        let (mut vrps, mut keys, mut aspas) = (Vec::new(), Vec::new(), Vec::new());
        parsed.apply(&mut vrps, &mut keys, &mut aspas);
        assert_eq!(Snapshot::build(vrps, keys, aspas).0, s);
    }
}
