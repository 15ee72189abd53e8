//! One payload item as rpki-client writes it: a ROA entry (one VRP), a
//! BGPsec key or an ASPA as a JSON object, a VRP as a CSV row. The JSON
//! and CSV exports (`export`) and `rovctl dump` write every item with
//! these, each with its own document around them and its own trust
//! anchor name.
//!
//! Runs in the rtr worker (unprivileged, sandboxed) for the exports, and
//! in `rovctl` with the operator's privileges: pure functions of the item.

use std::fmt::Write as _;

use base64::Engine;

use crate::payload::{Aspa, RouterKey, Vrp};

/// A VRP as a `roas` entry, trust anchor `ta`.
pub fn json_vrp(out: &mut String, v: &Vrp, ta: &str) {
    let _ = write!(
        out,
        "{{\"asn\":{},\"prefix\":\"{}\",\"maxLength\":{},\"ta\":\"{ta}\"}}",
        v.asn, v.prefix, v.max_len
    );
}

/// A router key as a `bgpsec_keys` entry, trust anchor `ta`: its SKI in
/// hex, its SubjectPublicKeyInfo in base64.
pub fn json_router_key(out: &mut String, k: &RouterKey, ta: &str) {
    let spki = base64::engine::general_purpose::STANDARD.encode(&k.spki);
    let _ = write!(
        out,
        "{{\"asn\":{},\"ski\":\"{}\",\"pubkey\":\"{spki}\",\"ta\":\"{ta}\"}}",
        k.asn,
        hex(&k.ski)
    );
}

/// An ASPA as an `aspas` entry.
pub fn json_aspa(out: &mut String, a: &Aspa) {
    let _ = write!(out, "{{\"customer_asid\":{},\"providers\":[", a.customer);
    for (i, p) in a.providers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{p}");
    }
    out.push_str("]}");
}

/// A VRP as the first four columns of a CSV row (ASN, IP Prefix, Max
/// Length, Trust Anchor), without the line's end.
pub fn csv_vrp(out: &mut String, v: &Vrp, ta: &str) {
    let _ = write!(out, "AS{},{},{},{ta}", v.asn, v.prefix, v.max_len);
}

/// Octets in upper-case hex, as rpki-client writes an SKI.
pub fn hex(octets: &[u8]) -> String {
    octets
        .iter()
        .fold(String::with_capacity(2 * octets.len()), |mut s, b| {
            let _ = write!(s, "{b:02X}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_written_as_rpki_client_writes_them() {
        let vrp = Vrp::new("192.0.2.0/24".parse().unwrap(), 24, 64_496).unwrap();
        let mut out = String::new();
        json_vrp(&mut out, &vrp, "rovd");
        assert_eq!(
            out,
            r#"{"asn":64496,"prefix":"192.0.2.0/24","maxLength":24,"ta":"rovd"}"#
        );
        out.clear();
        csv_vrp(&mut out, &vrp, "rtr");
        assert_eq!(out, "AS64496,192.0.2.0/24,24,rtr");
        out.clear();
        let key = RouterKey {
            ski: [0xAB; 20],
            asn: 64_497,
            spki: vec![1, 2, 3].into_boxed_slice(),
        };
        json_router_key(&mut out, &key, "rtr");
        assert_eq!(
            out,
            format!(
                r#"{{"asn":64497,"ski":"{}","pubkey":"AQID","ta":"rtr"}}"#,
                "AB".repeat(20)
            )
        );
        out.clear();
        let aspa = Aspa {
            customer: 64_498,
            providers: vec![64_499, 64_500],
        };
        json_aspa(&mut out, &aspa);
        assert_eq!(out, r#"{"customer_asid":64498,"providers":[64499,64500]}"#);
        assert_eq!(hex(&[0x00, 0x0f, 0xa0]), "000FA0");
    }
}
