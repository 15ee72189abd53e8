//! `/json` and `/csv`: the payloads being served, in the shapes rovd reads
//! — rpki-client's JSON with router keys and ASPA, and the CSV of VRPs
//! that Routinator writes — so that another rovd, RTRTR or StayRTR can
//! take them as an HTTP upstream.
//!
//! Runs in the rtr worker (unprivileged, sandboxed). The table is not
//! copied or rendered whole: an [`Export`] holds a reference to the
//! cache's encoded table of the serial it started at, decodes its VRP PDUs
//! a batch at a time, and renders only as much text as the connection
//! takes, so a large table costs a response buffer and never a long pause
//! of the router sessions. The trust anchor of an entry is not known after
//! merging: every entry names `rovd`.

use std::fmt::Write as _;

use crate::payload::{Snapshot, Vrp};
use crate::pdu::{Pdu, Serial};
use crate::rtr::cache::Encoded;

use super::items;
use super::status::time_text;

/// The trust anchor every entry names: not known after merging.
const TA: &str = "rovd";

/// The shape of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// rpki-client JSON.
    Json,
    /// CSV of VRPs.
    Csv,
}

/// Where an export is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Head,
    Vrps,
    Keys(usize),
    Aspas(usize),
    Tail,
    Done,
}

/// An export under way.
pub struct Export {
    format: Format,
    serial: Serial,
    table: Encoded,
    /// Where the next VRP PDU starts in `table`, and how many are left.
    pos: usize,
    vrps_left: usize,
    vrps: usize,
    rest: Snapshot,
    /// When the data was made (Unix seconds), for the metadata.
    made: u64,
    phase: Phase,
    /// Whether the current array has had an element.
    first: bool,
}

impl Export {
    /// An export of the table of `serial`: `table`'s first `vrps` PDUs are
    /// its VRPs, `rest` its router keys and ASPAs; made at `made`.
    pub fn new(
        format: Format,
        (serial, table, vrps, rest): (Serial, Encoded, usize, Snapshot),
        made: u64,
    ) -> Export {
        Export {
            format,
            serial,
            table,
            pos: 0,
            vrps_left: vrps,
            vrps,
            rest,
            made,
            phase: Phase::Head,
            first: true,
        }
    }

    /// The media type.
    pub fn content_type(&self) -> &'static str {
        match self.format {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    /// Whether everything has been rendered.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Render into `out` until it holds `budget` octets or the export is
    /// done.
    pub fn fill(&mut self, out: &mut Vec<u8>, budget: usize) {
        let mut text = String::new();
        while out.len() + text.len() < budget && self.phase != Phase::Done {
            self.step(&mut text);
        }
        out.extend_from_slice(text.as_bytes());
    }

    /// Render the next piece: the head, a batch of VRPs, a key, an ASPA.
    fn step(&mut self, t: &mut String) {
        match self.phase {
            Phase::Head => {
                match self.format {
                    Format::Json => {
                        let _ = write!(
                            t,
                            "{{\"metadata\":{{\"buildmachine\":\"rovd\",\"buildtime\":\"{}\",\
                             \"generated\":{},\"serial\":{},\"vrps\":{},\"routerkeys\":{},\
                             \"aspas\":{}}},\n\"roas\":[",
                            time_text(self.made).replace(' ', "T"),
                            self.made,
                            self.serial,
                            self.vrps,
                            self.rest.router_keys.len(),
                            self.rest.aspas.len()
                        );
                    }
                    Format::Csv => t.push_str("ASN,IP Prefix,Max Length,Trust Anchor\n"),
                }
                self.phase = Phase::Vrps;
            }
            Phase::Vrps => {
                for _ in 0..512 {
                    let Some(v) = self.next_vrp() else {
                        self.end_array(t);
                        break;
                    };
                    match self.format {
                        Format::Json => {
                            separator(&mut self.first, t);
                            items::json_vrp(t, &v, TA);
                        }
                        Format::Csv => {
                            items::csv_vrp(t, &v, TA);
                            t.push('\n');
                        }
                    }
                }
            }
            Phase::Keys(i) => match self.rest.router_keys.get(i) {
                Some(k) => {
                    separator(&mut self.first, t);
                    items::json_router_key(t, k, TA);
                    self.phase = Phase::Keys(i + 1);
                }
                None => self.end_array(t),
            },
            Phase::Aspas(i) => match self.rest.aspas.get(i) {
                Some(a) => {
                    separator(&mut self.first, t);
                    items::json_aspa(t, a);
                    self.phase = Phase::Aspas(i + 1);
                }
                None => self.end_array(t),
            },
            Phase::Tail => {
                if self.format == Format::Json {
                    t.push_str("]}\n");
                }
                self.phase = Phase::Done;
            }
            Phase::Done => {}
        }
    }

    /// The next VRP of the encoded table, if any is left. The cache's own
    /// encoding; one that does not decode ends the list.
    fn next_vrp(&mut self) -> Option<Vrp> {
        if self.vrps_left == 0 {
            return None;
        }
        let rest = self.table.bytes.get(self.pos..)?;
        if let Ok(Some((_, Pdu::Prefix { vrp, .. }, len))) = Pdu::decode(rest) {
            self.pos += len;
            self.vrps_left -= 1;
            return Some(vrp);
        }
        self.vrps_left = 0;
        None
    }

    /// Close the current list and move to the next phase.
    fn end_array(&mut self, t: &mut String) {
        let json = self.format == Format::Json;
        self.phase = match self.phase {
            Phase::Vrps if json => {
                t.push_str("],\n\"bgpsec_keys\":[");
                Phase::Keys(0)
            }
            Phase::Keys(_) if json => {
                t.push_str("],\n\"aspas\":[");
                Phase::Aspas(0)
            }
            _ => Phase::Tail,
        };
        self.first = true;
    }
}

/// The separator before an array's element, unless it is the `first`.
fn separator(first: &mut bool, t: &mut String) {
    if !*first {
        t.push_str(",\n");
    }
    *first = false;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{Aspa, RouterKey};
    use crate::pdu::Timers;
    use crate::rtr::cache::Cache;
    use crate::testdata::{self, Spec};
    use crate::validator::input::{self, Format as InputFormat};

    fn render(format: Format, s: &Snapshot) -> Vec<u8> {
        let timers = Timers {
            refresh: 3600,
            retry: 600,
            expire: 7200,
        };
        let mut cache = Cache::new(1, timers, 2);
        cache.update(s.clone()).unwrap();
        let mut e = Export::new(format, cache.export().unwrap(), 1_700_000_000);
        let mut out = Vec::new();
        // In small pieces, as a slow connection takes it.
        while !e.is_done() {
            let mut piece = Vec::new();
            e.fill(&mut piece, 100);
            out.extend_from_slice(&piece);
        }
        out
    }

    #[test]
    fn an_export_reads_back_as_what_is_served() {
        let s = testdata::generate(&Spec {
            vrps: 3000,
            ..Spec::small()
        });
        let json = render(Format::Json, &s);
        let (p, rejected) = input::read(&json[..], InputFormat::Auto).unwrap();
        assert_eq!(rejected.count, 0, "{rejected:?}");
        assert_eq!(p.generated, Some(1_700_000_000));
        let mut back: Vec<Vrp> = p.vrps.iter().map(|t| t.item).collect();
        back.sort_unstable();
        assert_eq!(back, s.vrps);
        let mut keys: Vec<RouterKey> = p.router_keys.iter().map(|t| t.item.clone()).collect();
        keys.sort_unstable();
        assert_eq!(keys, s.router_keys);
        let aspas: Vec<Aspa> = p.aspas.iter().map(|t| t.item.clone()).collect();
        assert_eq!(aspas, s.aspas);
        let csv = render(Format::Csv, &s);
        let (p, rejected) = input::read(&csv[..], InputFormat::Csv).unwrap();
        assert_eq!(rejected.count, 0);
        let mut back: Vec<Vrp> = p.vrps.iter().map(|t| t.item).collect();
        back.sort_unstable();
        assert_eq!(back, s.vrps);
        // Nothing to serve yet, nothing to render: an empty table.
        let empty = render(Format::Json, &Snapshot::default());
        let (p, _) = input::read(&empty[..], InputFormat::Auto).unwrap();
        assert!(p.vrps.is_empty());
    }
}
