//! Local exceptions: SLURM files (RFC 8416), with the ASPA members of
//! `slurmVersion` 2 (draft-ietf-sidrops-aspa-slurm). Runs in the validator
//! process (unprivileged, chrooted, sandboxed): it parses bytes already
//! read into memory and touches no file, socket or privilege.
//!
//! What a bad entry costs depends on its section:
//!
//! - An invalid assertion (`prefixAssertions`, `bgpsecAssertions`,
//!   `aspaAssertions`) is skipped and named, like an invalid VRP in a
//!   payload file: the file stays in force with the valid entries.
//!   [`Slurm::skipped`] counts them and keeps the first reasons with their
//!   member path, e.g. `locallyAddedAssertions.prefixAssertions[17]: asn
//!   must be a number, not a string ""`. An element that is not even an
//!   object is such an assertion.
//! - Filters fail closed: a filter must never let through what it was
//!   meant to filter. A filter entry with an invalid member is widened:
//!   the invalid member is taken as absent, so the filter matches at least
//!   everything it was meant to (`{"prefix": null, "asn": 64500}` filters
//!   every VRP of AS64500; `{"asn": "x", "SKI": …}` every router key with
//!   that SKI). Each widened filter is named in [`Slurm::widened`] with the
//!   reason. If no valid narrowing member is left (a prefix filter with
//!   neither a valid prefix nor a valid asn, a BGPsec filter with neither
//!   asn nor SKI, an ASPA filter whose customer is invalid, an element
//!   that is not an object), the filter would match everything: the whole
//!   file is refused.
//! - A `comment` that is not a string is ignored and noted in
//!   [`Slurm::bad_comments`], in both sections; it never widens or skips
//!   anything.
//! - Structural errors refuse the whole file: not JSON, a missing or
//!   unknown top-level member (or member of a section), a section or
//!   array of the wrong type, an unsupported `slurmVersion`. So does a
//!   member given twice in one object, anywhere (the file is ambiguous,
//!   and `serde_json` gives its position), and an overlap between files
//!   ([`Slurm::combine`], §4.2).
//!
//! The caller keeps the last good version of a refused file in force,
//! which is RFC 8416 §4.1's atomicity; a skipped assertion departs from
//! it on purpose, so that one broken entry of a registry's export does
//! not withdraw the thousands of good ones.
//!
//! `serde_json` does all of the JSON; this file decides what it means and
//! names the member at fault. Inside an entry, members RFC 8416 does not
//! define (dn42's `source` and `mnt-by`) are ignored and counted in
//! [`Slurm::ignored`], in valid and skipped entries alike.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::input::item::{quote, Rejected};
use crate::payload::{Aspa, Prefix, PrefixError, RouterKey, Vrp, ASPA_MAX_PROVIDERS, SPKI_MAX_LEN};

/// How many distinct unknown entry members [`Slurm::ignored`] names.
const IGNORED_NAMES: usize = 32;

/// RFC 8416 §3.3.2: "the Base64 encoding without trailing '=' (Section 5
/// of [RFC4648])". Trailing padding is tolerated all the same.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

//------------ Slurm ---------------------------------------------------------

/// One parsed, validated SLURM file (RFC 8416 §3), or several combined
/// with [`Slurm::combine`]. Entries keep their file order, so an index
/// here is the index in the file's array.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slurm {
    /// `validationOutputFilters.prefixFilters` (§3.3.1).
    pub prefix_filters: Vec<PrefixFilter>,
    /// `validationOutputFilters.bgpsecFilters` (§3.3.2).
    pub bgpsec_filters: Vec<BgpsecFilter>,
    /// `validationOutputFilters.aspaFilters` (`slurmVersion` 2).
    pub aspa_filters: Vec<AspaFilter>,
    /// `locallyAddedAssertions.prefixAssertions` (§3.4.1);
    /// `maxPrefixLength` defaults to the prefix length.
    pub prefix_assertions: Vec<Vrp>,
    /// `locallyAddedAssertions.bgpsecAssertions` (§3.4.2).
    pub bgpsec_assertions: Vec<RouterKey>,
    /// `locallyAddedAssertions.aspaAssertions` (`slurmVersion` 2).
    /// Providers as written; merging with RPKI data and the AS0 rule happen
    /// in [`crate::payload::Snapshot::build`].
    pub aspa_assertions: Vec<Aspa>,
    /// Unknown members inside entries, by where they sat, e.g.
    /// `locallyAddedAssertions.prefixAssertions[].source` → 3312. At most
    /// [`IGNORED_NAMES`] distinct names are kept.
    pub ignored: BTreeMap<String, usize>,
    /// Assertions skipped as invalid: how many, and the first reasons,
    /// each with its path. For the caller to log per file: not carried
    /// into [`Slurm::combine`].
    pub skipped: Rejected,
    /// Filters widened by an invalid member, each with its path and the
    /// reason: they filter more than written. For the caller to log per
    /// file: not carried into [`Slurm::combine`].
    pub widened: Vec<String>,
    /// `comment` members that are not strings, ignored: how many, and the
    /// first, each with its path. For the caller to log per file: not
    /// carried into [`Slurm::combine`].
    pub bad_comments: Rejected,
}

/// A validated ROA prefix filter (§3.3.1): at least one of the two.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixFilter {
    /// `prefix`: VRPs of this prefix or a more specific one.
    pub prefix: Option<Prefix>,
    /// `asn`: VRPs of this origin AS.
    pub asn: Option<u32>,
    /// `comment`.
    pub comment: Option<String>,
}

/// A BGPsec filter (§3.3.2): at least one of the two.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpsecFilter {
    /// `asn`: router keys of this AS.
    pub asn: Option<u32>,
    /// `SKI`: router keys with this Subject Key Identifier.
    pub ski: Option<[u8; 20]>,
    /// `comment`.
    pub comment: Option<String>,
}

/// An ASPA filter: all ASPA payload of the customer goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AspaFilter {
    /// `customerAsn` (or `customerAsid`): the Customer AS.
    pub customer: u32,
    /// `comment`.
    pub comment: Option<String>,
}

impl PrefixFilter {
    /// §3.3.1: a VRP matches if its prefix is equal to or more specific
    /// than the filter's, and/or its ASN is the filter's; with both
    /// members, both must match.
    pub fn matches(&self, v: &Vrp) -> bool {
        (self.prefix.is_some() || self.asn.is_some())
            && self.prefix.is_none_or(|p| covers(&p, &v.prefix))
            && self.asn.is_none_or(|a| a == v.asn)
    }
}

impl BgpsecFilter {
    /// §3.3.2: by ASN and/or SKI; with both members, both must match.
    pub fn matches(&self, k: &RouterKey) -> bool {
        (self.asn.is_some() || self.ski.is_some())
            && self.asn.is_none_or(|a| a == k.asn)
            && self.ski.is_none_or(|s| s == k.ski)
    }
}

impl Slurm {
    /// Combine several files (RFC 8416 §4.2): the result is the union of
    /// their filters and assertions, provided no two files overlap.
    ///
    /// §4.2 calls it a possible conflict if an address is covered by a
    /// prefix in the `prefixFilters` or `prefixAssertions` of two distinct
    /// files, or an ASN is used in the `bgpsecFilters` or
    /// `bgpsecAssertions` of two distinct files; the RP must make sure
    /// there is none. The same rule is applied to the customer ASN of
    /// `aspaFilters` and `aspaAssertions`. On an overlap the error names
    /// both entries and no file is used.
    ///
    /// The assertions each file skipped, its widened filters and its bad
    /// comments are left out: the caller logs them per file, with the
    /// file's name.
    pub fn combine(files: Vec<(String, Slurm)>) -> Result<Slurm, String> {
        check_overlaps(&files)?;
        let mut out = Slurm::default();
        for (_, s) in files {
            out.prefix_filters.extend(s.prefix_filters);
            out.bgpsec_filters.extend(s.bgpsec_filters);
            out.aspa_filters.extend(s.aspa_filters);
            out.prefix_assertions.extend(s.prefix_assertions);
            out.bgpsec_assertions.extend(s.bgpsec_assertions);
            out.aspa_assertions.extend(s.aspa_assertions);
            for (name, n) in s.ignored {
                note_ignored(&mut out.ignored, name, n);
            }
        }
        Ok(out)
    }

    /// Whether a VRP is to be dropped (§3.3.1).
    pub fn filters_vrp(&self, v: &Vrp) -> bool {
        // XXX a linear scan per VRP: fine for the few filters operators
        // write; index by prefix length if files with thousands appear.
        self.prefix_filters.iter().any(|f| f.matches(v))
    }

    /// Whether a router key is to be dropped (§3.3.2).
    pub fn filters_router_key(&self, k: &RouterKey) -> bool {
        self.bgpsec_filters.iter().any(|f| f.matches(k))
    }

    /// Whether the ASPA payload of a customer is to be dropped.
    pub fn filters_aspa(&self, customer: u32) -> bool {
        self.aspa_filters.iter().any(|f| f.customer == customer)
    }

    /// Apply to the union of the sources (RFC 8416 §4): the filters remove
    /// what they match from the validated data, then the assertions are
    /// added, unfiltered. Duplicates and per-customer ASPA merging are left
    /// to [`crate::payload::Snapshot::build`].
    pub fn apply(&self, vrps: &mut Vec<Vrp>, keys: &mut Vec<RouterKey>, aspas: &mut Vec<Aspa>) {
        if !self.prefix_filters.is_empty() {
            vrps.retain(|v| !self.filters_vrp(v));
        }
        if !self.bgpsec_filters.is_empty() {
            keys.retain(|k| !self.filters_router_key(k));
        }
        if !self.aspa_filters.is_empty() {
            aspas.retain(|a| !self.filters_aspa(a.customer));
        }
        vrps.extend_from_slice(&self.prefix_assertions);
        keys.extend_from_slice(&self.bgpsec_assertions);
        aspas.extend_from_slice(&self.aspa_assertions);
    }
}

/// Whether `outer` is equal to or less specific than `inner`.
fn covers(outer: &Prefix, inner: &Prefix) -> bool {
    if outer.is_v6() != inner.is_v6() || outer.len() > inner.len() {
        return false;
    }
    let (a, b) = (outer.octets(), inner.octets());
    let len = usize::from(outer.len());
    let (whole, bits) = (len / 8, len % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    bits == 0 || {
        let mask = 0xffu8 << (8 - bits);
        a[whole] & mask == b[whole] & mask
    }
}

fn note_ignored(ignored: &mut BTreeMap<String, usize>, name: String, n: usize) {
    if let Some(count) = ignored.get_mut(&name) {
        *count += n;
    } else if ignored.len() < IGNORED_NAMES {
        ignored.insert(name, n);
    }
}

//------------ Overlaps between files (§4.2) ---------------------------------

const PREFIX_FILTERS: &str = "validationOutputFilters.prefixFilters";
const BGPSEC_FILTERS: &str = "validationOutputFilters.bgpsecFilters";
const ASPA_FILTERS: &str = "validationOutputFilters.aspaFilters";
const PREFIX_ASSERTIONS: &str = "locallyAddedAssertions.prefixAssertions";
const BGPSEC_ASSERTIONS: &str = "locallyAddedAssertions.bgpsecAssertions";
const ASPA_ASSERTIONS: &str = "locallyAddedAssertions.aspaAssertions";

/// One entry that claims a prefix or an ASN: file, array, index.
#[derive(Clone, Copy)]
struct Claim {
    file: usize,
    array: &'static str,
    index: usize,
}

fn check_overlaps(files: &[(String, Slurm)]) -> Result<(), String> {
    let name = |c: Claim| format!("{} {}[{}]", files[c.file].0, c.array, c.index);

    // Rule 1. Prefixes are nested or disjoint, so two overlap exactly when
    // one covers the other. In sorted order every prefix covering the
    // current one is still on the stack.
    let mut prefixes: Vec<(Prefix, Claim)> = Vec::new();
    for (file, (_, s)) in files.iter().enumerate() {
        for (index, f) in s.prefix_filters.iter().enumerate() {
            if let Some(p) = f.prefix {
                let array = PREFIX_FILTERS;
                prefixes.push((p, Claim { file, array, index }));
            }
        }
        for (index, v) in s.prefix_assertions.iter().enumerate() {
            let array = PREFIX_ASSERTIONS;
            prefixes.push((v.prefix, Claim { file, array, index }));
        }
    }
    prefixes.sort_by_key(|(p, c)| (*p, c.file));
    let mut stack: Vec<(Prefix, Claim)> = Vec::new();
    for &(p, c) in &prefixes {
        while stack.last().is_some_and(|(outer, _)| !covers(outer, &p)) {
            stack.pop();
        }
        if let Some(&(outer, o)) = stack.iter().find(|(_, o)| o.file != c.file) {
            return Err(format!(
                "RFC 8416 §4.2: {} ({outer}) overlaps {} ({p})",
                name(o),
                name(c)
            ));
        }
        // Within one file an equal prefix adds nothing; keeping it out
        // bounds the stack by the number of prefix lengths.
        if stack.last().map(|(outer, _)| *outer) != Some(p) {
            stack.push((p, c));
        }
    }

    // Rule 2, and its analogue for the ASPA customer.
    let mut bgpsec: HashMap<u32, Claim> = HashMap::new();
    let mut aspa: HashMap<u32, Claim> = HashMap::new();
    for (file, (_, s)) in files.iter().enumerate() {
        let filters = s.bgpsec_filters.iter().map(|f| f.asn);
        let assertions = s.bgpsec_assertions.iter().map(|k| Some(k.asn));
        let bgpsec_asns = filters
            .enumerate()
            .map(|(i, a)| (a, BGPSEC_FILTERS, i))
            .chain(
                assertions
                    .enumerate()
                    .map(|(i, a)| (a, BGPSEC_ASSERTIONS, i)),
            );
        for (asn, array, index) in bgpsec_asns {
            if let Some(asn) = asn {
                claim(&mut bgpsec, asn, Claim { file, array, index }, "AS", &name)?;
            }
        }
        let filters = s.aspa_filters.iter().map(|f| f.customer);
        let assertions = s.aspa_assertions.iter().map(|a| a.customer);
        let customers = filters
            .enumerate()
            .map(|(i, a)| (a, ASPA_FILTERS, i))
            .chain(assertions.enumerate().map(|(i, a)| (a, ASPA_ASSERTIONS, i)));
        for (asn, array, index) in customers {
            let c = Claim { file, array, index };
            claim(&mut aspa, asn, c, "customer AS", &name)?;
        }
    }
    Ok(())
}

fn claim(
    seen: &mut HashMap<u32, Claim>,
    asn: u32,
    c: Claim,
    what: &str,
    name: &dyn Fn(Claim) -> String,
) -> Result<(), String> {
    match seen.get(&asn) {
        Some(&o) if o.file != c.file => Err(format!(
            "RFC 8416 §4.2: {} and {} both use {what}{asn}",
            name(o),
            name(c)
        )),
        Some(_) => Ok(()),
        None => {
            seen.insert(asn, c);
            Ok(())
        }
    }
}

//------------ SlurmError ----------------------------------------------------

/// Why a SLURM file was rejected.
///
/// A file that is not JSON carries `serde_json`'s `line` and `column` (both
/// 1-based); a file that is JSON but not valid SLURM carries the `path` of
/// the member at fault and line 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlurmError {
    /// The line, from 1; 0 for a file that is JSON.
    pub line: usize,
    /// The column, from 1; 0 for a file that is JSON.
    pub column: usize,
    /// The member at fault, e.g. `locallyAddedAssertions.prefixAssertions[3]`;
    /// empty for a file that is not JSON.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl SlurmError {
    fn at(path: &str, reason: impl Into<String>) -> Self {
        SlurmError {
            line: 0,
            column: 0,
            path: path.to_string(),
            reason: reason.into(),
        }
    }
}

impl From<serde_json::Error> for SlurmError {
    fn from(err: serde_json::Error) -> Self {
        let (line, column) = (err.line(), err.column());
        let text = err.to_string();
        // serde_json appends the position to its message; it is kept apart.
        let suffix = format!(" at line {line} column {column}");
        let reason = text.strip_suffix(&suffix).unwrap_or(&text).to_string();
        SlurmError {
            line,
            column,
            path: String::new(),
            reason,
        }
    }
}

impl fmt::Display for SlurmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}, column {}: ", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for SlurmError {}

/// A problem with the file as a whole.
impl From<String> for SlurmError {
    fn from(reason: String) -> Self {
        SlurmError::at("SLURM file", reason)
    }
}

//------------ parse ---------------------------------------------------------

/// Read and validate a whole SLURM file (RFC 8416 §3; `slurmVersion` 2
/// adds `aspaFilters` and `aspaAssertions`). Invalid assertions are
/// skipped and filters widened as the module documentation says; an error
/// refuses the whole file.
pub fn parse(bytes: &[u8]) -> Result<Slurm, SlurmError> {
    let doc: Json = serde_json::from_slice(bytes)?;
    let mut top = Obj::new(doc, "")?;
    let version = match top.required("slurmVersion")? {
        Json::Uint(v @ (1 | 2)) => v,
        Json::Uint(v) => {
            let reason = format!("version {v} is not supported (1 or 2)");
            return Err(SlurmError::at("slurmVersion", reason));
        }
        v => {
            let reason = format!("must be a number, not {}", v.describe());
            return Err(SlurmError::at("slurmVersion", reason));
        }
    };
    let filters = top.required("validationOutputFilters")?;
    let assertions = top.required("locallyAddedAssertions")?;
    top.no_more()?;

    let mut out = Slurm::default();
    let mut filters = Obj::new(filters, "validationOutputFilters")?;
    let list = filters.required_array("prefixFilters")?;
    out.prefix_filters = read_filters(list, &PREFIX_FILTER, &mut out)?;
    let list = filters.required_array("bgpsecFilters")?;
    out.bgpsec_filters = read_filters(list, &BGPSEC_FILTER, &mut out)?;
    if let Some(list) = filters.aspa_array("aspaFilters", version)? {
        out.aspa_filters = read_filters(list, &ASPA_FILTER, &mut out)?;
    }
    filters.no_more()?;

    let mut assertions = Obj::new(assertions, "locallyAddedAssertions")?;
    let list = assertions.required_array("prefixAssertions")?;
    out.prefix_assertions = read_assertions(list, &PREFIX_ASSERTION, &mut out);
    let list = assertions.required_array("bgpsecAssertions")?;
    out.bgpsec_assertions = read_assertions(list, &BGPSEC_ASSERTION, &mut out);
    if let Some(list) = assertions.aspa_array("aspaAssertions", version)? {
        out.aspa_assertions = read_assertions(list, &ASPA_ASSERTION, &mut out);
    }
    assertions.no_more()?;
    Ok(out)
}

/// Read every filter of an array: one with an invalid member is widened
/// and named in `out.widened`; one that cannot be read refuses the file.
fn read_filters<T>(
    list: Vec<Json>,
    kind: &Entries<T>,
    out: &mut Slurm,
) -> Result<Vec<T>, SlurmError> {
    let mut filters = Vec::with_capacity(list.len());
    for (i, item) in list.into_iter().enumerate() {
        let path = format!("{}[{i}]", kind.array);
        let read = kind.entry(item, &path, out);
        let (filter, o) = read.map_err(|reason| SlurmError::at(&path, reason))?;
        for reason in o.widened {
            out.widened.push(format!("{path}: {reason}"));
        }
        for reason in o.bad_comments {
            out.bad_comments.record(&path, reason);
        }
        filters.push(filter);
    }
    Ok(filters)
}

/// Read every assertion of an array: an invalid one is skipped and named
/// in `out.skipped`.
fn read_assertions<T>(list: Vec<Json>, kind: &Entries<T>, out: &mut Slurm) -> Vec<T> {
    let mut assertions = Vec::with_capacity(list.len());
    for (i, item) in list.into_iter().enumerate() {
        let path = format!("{}[{i}]", kind.array);
        match kind.entry(item, &path, out) {
            Ok((assertion, o)) => {
                for reason in o.bad_comments {
                    out.bad_comments.record(&path, reason);
                }
                assertions.push(assertion);
            }
            Err(reason) => out.skipped.record(&path, reason),
        }
    }
    assertions
}

//------------ Entries -------------------------------------------------------

/// One array of entries: where it sits, the members its entries define,
/// and how one entry is read.
struct Entries<T> {
    array: &'static str,
    members: &'static [&'static str],
    read: fn(&mut Obj) -> Result<T, String>,
}

impl<T> Entries<T> {
    /// Read one element at `path`. Members the entry does not define are
    /// counted in `out.ignored` whether or not the entry is valid. The
    /// object is returned for what reading it noted.
    fn entry(&self, item: Json, path: &str, out: &mut Slurm) -> Result<(T, Obj), String> {
        let mut o = Obj::new(item, path).map_err(|e| e.reason)?;
        for name in o.take_unknown(self.members) {
            note_ignored(&mut out.ignored, format!("{}[].{name}", self.array), 1);
        }
        let value = (self.read)(&mut o)?;
        Ok((value, o))
    }
}

const PREFIX_FILTER: Entries<PrefixFilter> = Entries {
    array: PREFIX_FILTERS,
    members: &["prefix", "asn", "comment"],
    read: prefix_filter,
};

const BGPSEC_FILTER: Entries<BgpsecFilter> = Entries {
    array: BGPSEC_FILTERS,
    members: &["asn", "SKI", "comment"],
    read: bgpsec_filter,
};

const ASPA_FILTER: Entries<AspaFilter> = Entries {
    array: ASPA_FILTERS,
    members: &["customerAsn", "customerAsid", "comment"],
    read: aspa_filter,
};

const PREFIX_ASSERTION: Entries<Vrp> = Entries {
    array: PREFIX_ASSERTIONS,
    members: &["asn", "prefix", "maxPrefixLength", "comment"],
    read: prefix_assertion,
};

const BGPSEC_ASSERTION: Entries<RouterKey> = Entries {
    array: BGPSEC_ASSERTIONS,
    members: &["asn", "SKI", "routerPublicKey", "comment"],
    read: bgpsec_assertion,
};

const ASPA_ASSERTION: Entries<Aspa> = Entries {
    array: ASPA_ASSERTIONS,
    members: &[
        "customerAsn",
        "customerAsid",
        "providerAsns",
        "providers",
        "providerSet",
        "comment",
    ],
    read: aspa_assertion,
};

/// The narrowing members of one filter entry that were invalid: each is
/// taken as absent, which widens the filter.
#[derive(Default)]
struct Widening(Vec<(&'static str, String)>);

impl Widening {
    /// A narrowing member as read: its value if valid; if invalid, none,
    /// and the reason is kept.
    fn check<T>(&mut self, name: &'static str, read: Option<Result<T, String>>) -> Option<T> {
        match read? {
            Ok(value) => Some(value),
            Err(reason) => {
                self.0.push((name, reason));
                None
            }
        }
    }

    /// Keep the filter if a narrowing member is `left`, noting in `o` each
    /// one taken as absent. Else refuse it: with `needs` if none was
    /// written, with the reasons and `everything` if none was valid.
    fn settle(self, o: &mut Obj, left: bool, needs: &str, everything: &str) -> Result<(), String> {
        if !left {
            if self.0.is_empty() {
                return Err(needs.to_string());
            }
            let reasons: Vec<String> = self.0.into_iter().map(|(_, r)| r).collect();
            return Err(format!("{}; {everything}", reasons.join("; ")));
        }
        for (name, reason) in self.0 {
            o.widened.push(format!(
                "{reason}; {name} taken as absent: the filter now filters more than written"
            ));
        }
        Ok(())
    }
}

fn prefix_filter(o: &mut Obj) -> Result<PrefixFilter, String> {
    let mut w = Widening::default();
    let prefix = w.check("prefix", o.take("prefix").map(|v| prefix(v, "prefix")));
    let asn = w.check("asn", o.take("asn").map(|v| asn(v, "asn")));
    let comment = comment(o);
    w.settle(
        o,
        prefix.is_some() || asn.is_some(),
        "a prefix filter needs a prefix, an asn or both",
        "with no valid prefix or asn left the filter would match every VRP",
    )?;
    Ok(PrefixFilter {
        prefix,
        asn,
        comment,
    })
}

fn bgpsec_filter(o: &mut Obj) -> Result<BgpsecFilter, String> {
    let mut w = Widening::default();
    let asn = w.check("asn", o.take("asn").map(|v| asn(v, "asn")));
    let ski = w.check("SKI", o.take("SKI").map(ski));
    let comment = comment(o);
    w.settle(
        o,
        asn.is_some() || ski.is_some(),
        "a BGPsec filter needs an asn, a SKI or both",
        "with no valid asn or SKI left the filter would match every router key",
    )?;
    Ok(BgpsecFilter { asn, ski, comment })
}

fn aspa_filter(o: &mut Obj) -> Result<AspaFilter, String> {
    let customer = match one_of(o, CUSTOMER)? {
        Some((name, v)) => asn(v, name).map_err(|reason| {
            format!("{reason}; without a valid customer the filter would match every ASPA")
        })?,
        None => return Err(MISSING_CUSTOMER.to_string()),
    };
    let comment = comment(o);
    Ok(AspaFilter { customer, comment })
}

fn prefix_assertion(o: &mut Obj) -> Result<Vrp, String> {
    let asn = asn(o.required("asn")?, "asn")?;
    let prefix = prefix(o.required("prefix")?, "prefix")?;
    #[allow(clippy::cast_possible_truncation)] // at most `limit`, checked first
    let max_len = match o.take("maxPrefixLength") {
        None => prefix.len(),
        Some(Json::Uint(n)) => {
            let limit = prefix.max_len_limit();
            if n > u64::from(limit) {
                return Err(format!(
                    "maxPrefixLength {n} exceeds {limit}, the longest {} prefix",
                    if prefix.is_v6() { "IPv6" } else { "IPv4" }
                ));
            }
            if n < u64::from(prefix.len()) {
                return Err(format!(
                    "maxPrefixLength {n} is smaller than the prefix length {}",
                    prefix.len()
                ));
            }
            n as u8
        }
        Some(v) => {
            return Err(format!(
                "maxPrefixLength must be a number, not {}",
                v.describe_text()
            ))
        }
    };
    comment(o);
    Vrp::new(prefix, max_len, asn).map_err(str::to_string)
}

fn bgpsec_assertion(o: &mut Obj) -> Result<RouterKey, String> {
    let asn = asn(o.required("asn")?, "asn")?;
    let ski = ski(o.required("SKI")?)?;
    let text = string(o.required("routerPublicKey")?, "routerPublicKey")?;
    let spki = BASE64URL
        .decode(&text)
        .map_err(|e| format!("routerPublicKey is not base64url ({e}): {}", quote(&text)))?;
    if spki.is_empty() {
        return Err("routerPublicKey is empty".to_string());
    }
    if spki.len() > SPKI_MAX_LEN {
        return Err(format!(
            "routerPublicKey of {} octets is too long",
            spki.len()
        ));
    }
    comment(o);
    Ok(RouterKey {
        ski,
        asn,
        spki: spki.into_boxed_slice(),
    })
}

fn aspa_assertion(o: &mut Obj) -> Result<Aspa, String> {
    let customer = match one_of(o, CUSTOMER)? {
        Some((name, v)) => asn(v, name)?,
        None => return Err(MISSING_CUSTOMER.to_string()),
    };
    // rpki-rs writes providerAsns (earlier providerSet); StayRTR and
    // rpki-client JSON say providers.
    let (name, list) = one_of(o, &["providerAsns", "providers", "providerSet"])?
        .ok_or_else(|| "missing member \"providerAsns\"".to_string())?;
    let list = match list {
        Json::Array(list) => list,
        v => return Err(format!("{name} must be an array, not {}", v.describe())),
    };
    if list.is_empty() {
        return Err(format!("{name} is empty"));
    }
    if list.len() > ASPA_MAX_PROVIDERS {
        return Err(format!(
            "{name} has {} providers, more than the {ASPA_MAX_PROVIDERS} an ASPA PDU can carry",
            list.len()
        ));
    }
    let mut providers = Vec::with_capacity(list.len());
    for (i, v) in list.into_iter().enumerate() {
        let p = asn(v, &format!("{name}[{i}]"))?;
        if p == customer {
            return Err(format!(
                "{name}[{i}]: customer AS{customer} is listed as its own provider"
            ));
        }
        providers.push(p);
    }
    comment(o);
    Ok(Aspa {
        customer,
        providers,
    })
}

/// The customer ASN: rpki-rs writes `customerAsid` in filters and
/// `customerAsn` in assertions; either is taken in both.
const CUSTOMER: &[&str] = &["customerAsn", "customerAsid"];

const MISSING_CUSTOMER: &str = "missing member \"customerAsn\"";

/// The value of whichever of several spellings is present; two present is
/// an error, as the file would be ambiguous.
fn one_of(o: &mut Obj, names: &[&'static str]) -> Result<Option<(&'static str, Json)>, String> {
    let mut found: Option<(&'static str, Json)> = None;
    for &name in names {
        if let Some(v) = o.take(name) {
            if let Some((first, _)) = found {
                return Err(format!("both {first} and {name} are given"));
            }
            found = Some((name, v));
        }
    }
    Ok(found)
}

/// `comment`: a string; anything else is ignored, and noted in `o`.
fn comment(o: &mut Obj) -> Option<String> {
    match string(o.take("comment")?, "comment") {
        Ok(text) => Some(text),
        Err(reason) => {
            o.bad_comments.push(format!("{reason}; ignored"));
            None
        }
    }
}

fn string(v: Json, what: &str) -> Result<String, String> {
    match v {
        Json::Str(s) => Ok(s),
        v => Err(format!("{what} must be a string, not {}", v.describe())),
    }
}

/// An AS number: a JSON number from 0 to 4294967295 (§3.3.1).
fn asn(v: Json, what: &str) -> Result<u32, String> {
    match v {
        Json::Uint(n) => u32::try_from(n).map_err(|_| format!("{what} {n} is out of range")),
        Json::Int(n) => Err(format!("{what} {n} is out of range")),
        v => Err(format!(
            "{what} must be a number, not {}",
            v.describe_text()
        )),
    }
}

/// `a.b.c.d/len` or `v6::/len`, host bits clear (the payload readers
/// reject them too).
fn prefix(v: Json, what: &str) -> Result<Prefix, String> {
    let text = string(v, what)?;
    text.parse().map_err(|e| match e {
        PrefixError::Syntax => format!("{what} is not a prefix: {}", quote(&text)),
        PrefixError::HostBits => format!("host bits set in {what} {text}"),
        PrefixError::Length => format!("{what} length out of range in {text}"),
    })
}

/// A Subject Key Identifier: base64url of exactly 20 octets (§3.3.2).
fn ski(v: Json) -> Result<[u8; 20], String> {
    let text = string(v, "SKI")?;
    let octets = BASE64URL
        .decode(&text)
        .map_err(|e| format!("SKI is not base64url ({e}): {}", quote(&text)))?;
    <[u8; 20]>::try_from(octets.as_slice())
        .map_err(|_| format!("SKI decodes to {} octets, not 20", octets.len()))
}

//------------ Json and Obj --------------------------------------------------

/// A JSON value as `serde_json` reads it, except that an object with a
/// member given twice is an error (with its position) rather than the
/// last one silently winning.
enum Json {
    Null,
    Bool,
    Uint(u64),
    Int(i64),
    Float,
    Str(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

impl Json {
    fn describe(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool => "a boolean",
            Json::Uint(_) | Json::Int(_) => "an integer",
            Json::Float => "a fraction",
            Json::Str(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// As [`Json::describe`], and a string's text: `a string ""`.
    fn describe_text(&self) -> String {
        match self {
            Json::Str(s) => format!("a string {}", quote(s)),
            v => v.describe().to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Json, E> {
                Ok(Json::Bool)
            }
            fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
                Ok(Json::Uint(n))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
                Ok(u64::try_from(n).map_or(Json::Int(n), Json::Uint))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
                Ok(Json::Float)
            }
            fn visit_str<E>(self, s: &str) -> Result<Json, E> {
                Ok(Json::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Json, E> {
                Ok(Json::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = seq.next_element()? {
                    v.push(x);
                }
                Ok(Json::Array(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut members = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value()?;
                    if members.contains_key(&key) {
                        let reason = format!("member {} given twice", quote(&key));
                        return Err(de::Error::custom(reason));
                    }
                    members.insert(key, value);
                }
                Ok(Json::Object(members))
            }
        }
        d.deserialize_any(V)
    }
}

/// An object being taken apart: members are removed as they are read, so
/// what is left at the end is unknown. Reading an entry notes here what
/// it widened or ignored, without the path.
struct Obj {
    path: String,
    members: BTreeMap<String, Json>,
    widened: Vec<String>,
    bad_comments: Vec<String>,
}

impl Obj {
    fn new(v: Json, path: &str) -> Result<Obj, SlurmError> {
        match v {
            Json::Object(members) => Ok(Obj {
                path: path.to_string(),
                members,
                widened: Vec::new(),
                bad_comments: Vec::new(),
            }),
            v => {
                let reason = format!("must be an object, not {}", v.describe());
                let path = if path.is_empty() { "SLURM file" } else { path };
                Err(SlurmError::at(path, reason))
            }
        }
    }

    fn take(&mut self, name: &str) -> Option<Json> {
        self.members.remove(name)
    }

    /// Take out the members not in `known`, and name them.
    fn take_unknown(&mut self, known: &[&str]) -> Vec<String> {
        let mut unknown = Vec::new();
        self.members.retain(|name, _| {
            let keep = known.contains(&name.as_str());
            if !keep {
                unknown.push(name.clone());
            }
            keep
        });
        unknown
    }

    fn member_path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// A member that must be there. For entries the caller adds the path.
    fn required(&mut self, name: &str) -> Result<Json, String> {
        self.take(name)
            .ok_or_else(|| format!("missing member {}", quote(name)))
    }

    fn required_array(&mut self, name: &str) -> Result<Vec<Json>, SlurmError> {
        match self.take(name) {
            Some(Json::Array(list)) => Ok(list),
            Some(v) => Err(SlurmError::at(
                &self.member_path(name),
                format!("must be an array, not {}", v.describe()),
            )),
            None => Err(SlurmError::at(
                &self.path_or_top(),
                format!("missing member {}", quote(name)),
            )),
        }
    }

    /// `aspaFilters` or `aspaAssertions`: optional, and only in version 2.
    fn aspa_array(&mut self, name: &str, version: u64) -> Result<Option<Vec<Json>>, SlurmError> {
        if !self.members.contains_key(name) {
            return Ok(None);
        }
        if version < 2 {
            return Err(SlurmError::at(
                &self.member_path(name),
                format!("not allowed with slurmVersion {version}: ASPA members need version 2"),
            ));
        }
        self.required_array(name).map(Some)
    }

    /// At the structural levels nothing else may be there.
    fn no_more(self) -> Result<(), SlurmError> {
        match self.members.keys().next() {
            None => Ok(()),
            Some(name) => Err(SlurmError::at(
                &self.path_or_top(),
                format!("unknown member {}", quote(name)),
            )),
        }
    }

    fn path_or_top(&self) -> String {
        if self.path.is_empty() {
            "SLURM file".to_string()
        } else {
            self.path.clone()
        }
    }
}

#[cfg(test)]
mod tests;
