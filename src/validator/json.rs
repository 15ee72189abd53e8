//! Reader for rpki-client's JSON output (`rpki-client -j`, also the shape
//! StayRTR, GoRTR and Routinator's `json` write): turns the `roas`,
//! `bgpsec_keys` and `aspas` arrays into payload items. Runs in the
//! validator process, unprivileged: it parses bytes already read into
//! memory and touches no file, socket or privilege.
//!
//! serde_json does all of the JSON; the visitors here only decide, field by
//! field, what an item means. Every value of an item is taken whatever its
//! JSON type, so a record of the wrong shape is counted and named in
//! [`Rejected`] instead of failing the file. Only a file that is not JSON,
//! is truncated, is not an object at the top, or has a known array that is
//! not an array is a [`ParseError`].

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use base64::Engine;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::payload::{Aspa, Prefix, PrefixError, RouterKey, Vrp, SPKI_MAX_LEN};

/// How many rejection reasons [`Rejected`] keeps verbatim.
const FIRST_REASONS: usize = 10;

/// How much of an offending string a reason quotes.
const QUOTE_MAX: usize = 60;

//------------ Payloads, Rejected, ParseError --------------------------------

/// The valid items of one file, in file order. ASPA records are as written:
/// [`crate::payload::Snapshot::build`] merges them per customer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payloads {
    pub vrps: Vec<Vrp>,
    pub router_keys: Vec<RouterKey>,
    pub aspas: Vec<Aspa>,
}

/// Items that were skipped: how many, and the reasons for the first
/// [`FIRST_REASONS`] of them, each naming the record, e.g.
/// `roas[17]: host bits set in 10.0.0.1/24`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejected {
    pub count: usize,
    pub first: Vec<String>,
}

impl Rejected {
    fn record(&mut self, array: &str, index: usize, reason: String) {
        self.count += 1;
        if self.first.len() < FIRST_REASONS {
            self.first.push(format!("{array}[{index}]: {reason}"));
        }
    }
}

/// Why a whole file could not be read, with serde_json's position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

impl From<serde_json::Error> for ParseError {
    fn from(err: serde_json::Error) -> Self {
        let (line, column) = (err.line(), err.column());
        let text = err.to_string();
        // serde_json appends the position to its message; it is kept apart.
        let suffix = format!(" at line {line} column {column}");
        let reason = text.strip_suffix(&suffix).unwrap_or(&text).to_string();
        ParseError {
            line,
            column,
            reason,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.reason
        )
    }
}

impl std::error::Error for ParseError {}

//------------ parse ---------------------------------------------------------

/// Read a whole rpki-client JSON file.
///
/// Invalid items are skipped and counted in [`Rejected`]; unknown keys,
/// at the top and inside items, are ignored; a missing array is empty.
/// Besides `aspas`, the per-AFI `provider_authorizations` of rpki-client
/// 8.x is read, both halves into one list.
pub fn parse(bytes: &[u8]) -> Result<(Payloads, Rejected), ParseError> {
    let mut out = Collector::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    TopLevel(&mut out).deserialize(&mut de)?;
    de.end()?;
    Ok((out.payloads, out.rejected))
}

#[derive(Default)]
struct Collector {
    payloads: Payloads,
    rejected: Rejected,
}

#[derive(Clone, Copy)]
enum Kind {
    Roa,
    RouterKey,
    Aspa,
}

impl Collector {
    fn take(&mut self, kind: Kind, array: &str, index: usize, item: Item<'_>) {
        let fields = match item {
            Item::Object(fields) => fields,
            Item::Not(what) => {
                let reason = format!("item is {what}, not an object");
                return self.rejected.record(array, index, reason);
            }
        };
        let res = match kind {
            Kind::Roa => vrp(&fields).map(|v| self.payloads.vrps.push(v)),
            Kind::RouterKey => router_key(&fields).map(|k| self.payloads.router_keys.push(k)),
            Kind::Aspa => aspa(&fields).map(|a| self.payloads.aspas.push(a)),
        };
        if let Err(reason) = res {
            self.rejected.record(array, index, reason);
        }
    }
}

//------------ Top level -----------------------------------------------------

struct TopLevel<'a>(&'a mut Collector);

impl<'de> DeserializeSeed<'de> for TopLevel<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with roas, bgpsec_keys and aspas")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = [false; 4];
        while let Some(key) = map.next_key::<TopKey>()? {
            let (slot, name) = match key {
                TopKey::Roas => (0, "roas"),
                TopKey::BgpsecKeys => (1, "bgpsec_keys"),
                TopKey::Aspas => (2, "aspas"),
                TopKey::ProviderAuthorizations => (3, "provider_authorizations"),
                TopKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if seen[slot] {
                return Err(de::Error::duplicate_field(name));
            }
            seen[slot] = true;
            let out = &mut *self.0;
            match key {
                TopKey::Roas => map.next_value_seed(Array {
                    kind: Kind::Roa,
                    name,
                    out,
                })?,
                TopKey::BgpsecKeys => map.next_value_seed(Array {
                    kind: Kind::RouterKey,
                    name,
                    out,
                })?,
                TopKey::Aspas => map.next_value_seed(Array {
                    kind: Kind::Aspa,
                    name,
                    out,
                })?,
                _ => map.next_value_seed(PerAfi(out))?,
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum TopKey {
    Roas,
    BgpsecKeys,
    Aspas,
    ProviderAuthorizations,
    Other,
}

impl<'de> Deserialize<'de> for TopKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TopKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<TopKey, E> {
                Ok(match s {
                    "roas" => TopKey::Roas,
                    "bgpsec_keys" => TopKey::BgpsecKeys,
                    "aspas" => TopKey::Aspas,
                    "provider_authorizations" => TopKey::ProviderAuthorizations,
                    _ => TopKey::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// rpki-client 8.x: `"provider_authorizations": { "ipv4": [...], "ipv6": [...] }`.
struct PerAfi<'a>(&'a mut Collector);

impl<'de> DeserializeSeed<'de> for PerAfi<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PerAfi<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with ipv4 and ipv6 arrays")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let name = match &*key {
                "ipv4" => "provider_authorizations.ipv4",
                "ipv6" => "provider_authorizations.ipv6",
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            map.next_value_seed(Array {
                kind: Kind::Aspa,
                name,
                out: &mut *self.0,
            })?;
        }
        Ok(())
    }
}

/// One known array: every element is judged and collected as it is read.
struct Array<'a> {
    kind: Kind,
    name: &'static str,
    out: &'a mut Collector,
}

impl<'de> DeserializeSeed<'de> for Array<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Array<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array for {}", self.name)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(item) = seq.next_element::<Item>()? {
            self.out.take(self.kind, self.name, index, item);
            index += 1;
        }
        Ok(())
    }
}

//------------ Items and lenient values --------------------------------------

/// One array element: an object's known fields, or what it was instead.
// Lives on the stack for one element at a time; boxing would cost an
// allocation per item.
#[allow(clippy::large_enum_variant)]
enum Item<'de> {
    Object(Fields<'de>),
    Not(&'static str),
}

/// The fields any of the three item kinds may use; each kind reads its own.
#[derive(Default)]
struct Fields<'de> {
    asn: Value<'de>,
    prefix: Value<'de>,
    max_length: Value<'de>,
    ski: Value<'de>,
    pubkey: Value<'de>,
    customer_asid: Value<'de>,
    customer: Value<'de>,
    providers: Value<'de>,
}

impl<'de> Deserialize<'de> for Item<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Item<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item<'de>, A::Error> {
                let mut f = Fields::default();
                while let Some(key) = map.next_key::<FieldKey>()? {
                    let slot = match key {
                        FieldKey::Asn => &mut f.asn,
                        FieldKey::Prefix => &mut f.prefix,
                        FieldKey::MaxLength => &mut f.max_length,
                        FieldKey::Ski => &mut f.ski,
                        FieldKey::Pubkey => &mut f.pubkey,
                        FieldKey::CustomerAsid => &mut f.customer_asid,
                        FieldKey::Customer => &mut f.customer,
                        FieldKey::Providers => &mut f.providers,
                        FieldKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = map.next_value()?;
                }
                Ok(Item::Object(f))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Item::Not("a list"))
            }
            fn visit_str<E>(self, _: &str) -> Result<Item<'de>, E> {
                Ok(Item::Not("a string"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Item<'de>, E> {
                Ok(Item::Not("a number"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Item<'de>, E> {
                Ok(Item::Not("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Item<'de>, E> {
                Ok(Item::Not("a number"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Item<'de>, E> {
                Ok(Item::Not("a boolean"))
            }
            fn visit_unit<E>(self) -> Result<Item<'de>, E> {
                Ok(Item::Not("null"))
            }
        }
        d.deserialize_any(V)
    }
}

enum FieldKey {
    Asn,
    Prefix,
    MaxLength,
    Ski,
    Pubkey,
    CustomerAsid,
    Customer,
    Providers,
    Other,
}

impl<'de> Deserialize<'de> for FieldKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FieldKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<FieldKey, E> {
                Ok(match s {
                    "asn" => FieldKey::Asn,
                    "prefix" => FieldKey::Prefix,
                    "maxLength" => FieldKey::MaxLength,
                    "ski" => FieldKey::Ski,
                    "pubkey" => FieldKey::Pubkey,
                    "customer_asid" => FieldKey::CustomerAsid,
                    "customer" => FieldKey::Customer,
                    "providers" => FieldKey::Providers,
                    _ => FieldKey::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// A field value of any JSON type; whether the type fits is decided later,
/// so that a wrong one rejects the item and not the file.
#[derive(Default)]
enum Value<'de> {
    #[default]
    Missing,
    Null,
    Bool,
    Number(u64),
    Negative,
    Fraction,
    Str(Cow<'de, str>),
    List(Vec<Value<'de>>),
    Object,
}

impl Value<'_> {
    fn describe(&self) -> &'static str {
        match self {
            Value::Missing => "missing",
            Value::Null => "null",
            Value::Bool => "a boolean",
            Value::Number(_) => "a number",
            Value::Negative => "a negative number",
            Value::Fraction => "not an integer",
            Value::Str(_) => "a string",
            Value::List(_) => "a list",
            Value::Object => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_u64<E>(self, n: u64) -> Result<Value<'de>, E> {
                Ok(Value::Number(n))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Value<'de>, E> {
                Ok(u64::try_from(n).map_or(Value::Negative, Value::Number))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Value<'de>, E> {
                Ok(Value::Fraction)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Value<'de>, E> {
                Ok(Value::Bool)
            }
            fn visit_unit<E>(self) -> Result<Value<'de>, E> {
                Ok(Value::Null)
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Value<'de>, E> {
                Ok(Value::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Value<'de>, E> {
                Ok(Value::Str(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Value<'de>, E> {
                Ok(Value::Str(Cow::Owned(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(x) = seq.next_element()? {
                    v.push(x);
                }
                Ok(Value::List(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Value::Object)
            }
        }
        d.deserialize_any(V)
    }
}

//------------ Item conversion -----------------------------------------------

fn vrp(f: &Fields<'_>) -> Result<Vrp, String> {
    let asn = asn(&f.asn, "asn")?;
    let text = string(&f.prefix, "prefix")?;
    let prefix = parse_prefix(text)?;
    let max_len = match f.max_length {
        Value::Number(n) => n,
        ref v => return Err(format!("maxLength is {} in {text}", v.describe())),
    };
    if max_len > u64::from(prefix.max_len_limit()) {
        return Err(format!(
            "maxLength {max_len} exceeds the address length in {text}"
        ));
    }
    Vrp::new(prefix, max_len as u8, asn).map_err(|e| format!("{e} in {text} (maxLength {max_len})"))
}

fn router_key(f: &Fields<'_>) -> Result<RouterKey, String> {
    let asn = asn(&f.asn, "asn")?;
    let text = string(&f.ski, "ski")?;
    let ski =
        parse_ski(text).ok_or_else(|| format!("ski is not 20 octets of hex: {}", quote(text)))?;
    let text = string(&f.pubkey, "pubkey")?;
    let spki = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("pubkey is not base64 ({e}): {}", quote(text)))?;
    if spki.is_empty() {
        return Err("pubkey is empty".to_string());
    }
    if spki.len() > SPKI_MAX_LEN {
        return Err(format!("pubkey of {} octets is too long", spki.len()));
    }
    Ok(RouterKey {
        ski,
        asn,
        spki: spki.into_boxed_slice(),
    })
}

fn aspa(f: &Fields<'_>) -> Result<Aspa, String> {
    let customer = match f.customer_asid {
        Value::Missing => asn(&f.customer, "customer")?,
        ref v => asn(v, "customer_asid")?,
    };
    let list = match &f.providers {
        Value::List(list) => list,
        v => return Err(format!("providers is {} for AS{customer}", v.describe())),
    };
    if list.is_empty() {
        return Err(format!("empty providers for AS{customer}"));
    }
    let providers = list
        .iter()
        .enumerate()
        .map(|(i, v)| asn(v, "provider").map_err(|e| format!("providers[{i}]: {e}")))
        .collect::<Result<Vec<u32>, String>>()?;
    Ok(Aspa {
        customer,
        providers,
    })
}

fn string<'a>(v: &'a Value<'_>, what: &str) -> Result<&'a str, String> {
    match v {
        Value::Str(s) => Ok(s),
        v => Err(format!("{what} is {}", v.describe())),
    }
}

/// An AS number: a JSON number, or a string "123", "AS123" or "as123".
fn asn(v: &Value<'_>, what: &str) -> Result<u32, String> {
    let n = match v {
        Value::Number(n) => *n,
        Value::Str(s) => {
            let b = s.as_bytes();
            let digits = if b.len() >= 2 && b[..2].eq_ignore_ascii_case(b"as") {
                &s[2..]
            } else {
                s
            };
            if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|c| c.is_ascii_digit())
            {
                return Err(format!("{what} is not an AS number: {}", quote(s)));
            }
            digits.parse::<u64>().unwrap_or(u64::MAX)
        }
        v => return Err(format!("{what} is {}", v.describe())),
    };
    u32::try_from(n).map_err(|_| format!("{what} {n} out of range"))
}

/// "a.b.c.d/len" or "v6::/len"; the address as std parses it.
fn parse_prefix(text: &str) -> Result<Prefix, String> {
    let bad = || format!("bad prefix syntax {}", quote(text));
    let (addr, len) = text.split_once('/').ok_or_else(bad)?;
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let len: u8 = len.parse().map_err(|_| bad())?;
    let prefix = if addr.contains(':') {
        Prefix::v6(addr.parse::<Ipv6Addr>().map_err(|_| bad())?, len)
    } else {
        Prefix::v4(addr.parse::<Ipv4Addr>().map_err(|_| bad())?, len)
    };
    prefix.map_err(|e| match e {
        PrefixError::HostBits => format!("host bits set in {text}"),
        PrefixError::Length => format!("prefix length out of range in {text}"),
    })
}

/// Exactly 40 hex digits, either case (rpki-client writes upper case).
fn parse_ski(text: &str) -> Option<[u8; 20]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = text.as_bytes();
    if b.len() != 40 {
        return None;
    }
    let mut ski = [0u8; 20];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        ski[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(ski)
}

/// A string for a reason line, cut short so a hostile file cannot flood
/// the log.
fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX) {
        Some((cut, _)) => format!("{:?}...", &s[..cut]),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPKI_B64: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QA==";

    fn v4(s: &str, len: u8, max: u8, asn: u32) -> Vrp {
        Vrp::new(Prefix::v4(s.parse().unwrap(), len).unwrap(), max, asn).unwrap()
    }

    fn v6(s: &str, len: u8, max: u8, asn: u32) -> Vrp {
        Vrp::new(Prefix::v6(s.parse().unwrap(), len).unwrap(), max, asn).unwrap()
    }

    fn parse_str(s: &str) -> (Payloads, Rejected) {
        parse(s.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The reason for the single rejected item of a `roas` array.
    fn one_bad(array: &str, item: &str) -> String {
        let (_, rej) = parse_str(&format!("{{\"{array}\": [{item}]}}"));
        assert_eq!(rej.count, 1, "{item}");
        rej.first[0].clone()
    }

    #[test]
    fn good_file_every_shape() {
        let text = format!(
            r#"{{
	"metadata": {{ "buildmachine": "rpki.example.net", "buildtime": "2025-01-01T00:00:00Z", "vrps": 5 }},
	"roas": [
		{{ "asn": 13335, "prefix": "1.0.0.0/24", "maxLength": 24, "ta": "apnic", "expires": 1735700000 }},
		{{ "asn": "AS64496", "prefix": "192.0.2.0/24", "maxLength": 28, "ta": "ripe" }},
		{{ "asn": "as64497", "prefix": "2001:db8::/32", "maxLength": 48 }},
		{{ "asn": "0", "prefix": "198.51.100.0/24", "maxLength": 32, "future": {{ "x": [1, 2] }} }},
		{{ "prefix": "0.0.0.0/0", "maxLength": 0, "asn": 4294967295 }},
		{{ "asn": 1, "prefix": "\u0032001:db8:1::/48", "maxLength": 48 }}
	],
	"bgpsec_keys": [
		{{ "asn": 64496, "ski": "5D4250E2D81D4448D8A29EFCE91D29FF075EC9E2", "pubkey": "{SPKI_B64}", "ta": "ripe", "expires": 1 }},
		{{ "asn": "AS64497", "ski": "be889b55d0b737397d75c49f485b858fa98ad11f", "pubkey": "{SPKI_B64}" }}
	],
	"nonfunc_cas": [],
	"aspas": [
		{{ "customer_asid": 64496, "expires": 1, "providers": [ 64498, 64499 ] }},
		{{ "customer": "AS64497", "providers": [ "AS64500" ] }},
		{{ "customer_asid": 64501, "providers": [ 0 ] }}
	],
	"something_new": [ {{ "a": 1 }} ]
}}"#
        );
        let (p, rej) = parse_str(&text);
        assert_eq!(rej, Rejected::default());
        assert_eq!(
            p.vrps,
            vec![
                v4("1.0.0.0", 24, 24, 13335),
                v4("192.0.2.0", 24, 28, 64496),
                v6("2001:db8::", 32, 48, 64497),
                v4("198.51.100.0", 24, 32, 0),
                v4("0.0.0.0", 0, 0, u32::MAX),
                v6("2001:db8:1::", 48, 48, 1),
            ]
        );
        assert_eq!(p.router_keys.len(), 2);
        let k = &p.router_keys[0];
        assert_eq!(k.asn, 64496);
        assert_eq!(k.ski[..4], [0x5d, 0x42, 0x50, 0xe2]);
        assert_eq!(k.spki.len(), 91);
        assert_eq!(k.spki[..4], [0x30, 0x59, 0x30, 0x13]);
        assert_eq!(p.router_keys[1].asn, 64497);
        assert_eq!(p.router_keys[1].ski[19], 0x1f);
        assert_eq!(
            p.aspas,
            vec![
                Aspa {
                    customer: 64496,
                    providers: vec![64498, 64499]
                },
                Aspa {
                    customer: 64497,
                    providers: vec![64500]
                },
                Aspa {
                    customer: 64501,
                    providers: vec![0]
                },
            ]
        );
    }

    #[test]
    fn provider_authorizations_per_afi() {
        let (p, rej) = parse_str(
            r#"{"provider_authorizations": {
                "ipv4": [ { "customer_asid": 5, "providers": [ 7 ] } ],
                "ipv6": [ { "customer_asid": 5, "providers": [ 0 ] }, { "customer_asid": 6, "providers": [] } ]
            }}"#,
        );
        assert_eq!(
            p.aspas,
            vec![
                Aspa {
                    customer: 5,
                    providers: vec![7]
                },
                Aspa {
                    customer: 5,
                    providers: vec![0]
                }
            ]
        );
        assert_eq!(
            rej.first,
            ["provider_authorizations.ipv6[1]: empty providers for AS6"]
        );
    }

    #[test]
    fn missing_arrays_are_empty() {
        for text in ["{}", r#"{"metadata": {}}"#, r#"{"roas": []}"#] {
            let (p, rej) = parse_str(text);
            assert_eq!(p, Payloads::default());
            assert_eq!(rej.count, 0);
        }
    }

    #[test]
    fn bad_roas() {
        let cases = [
            (r#"{"asn": 1, "prefix": null, "maxLength": 24}"#, "roas[0]: prefix is null"),
            (r#"{"asn": 1, "maxLength": 24}"#, "roas[0]: prefix is missing"),
            (r#"{"asn": 1, "prefix": 17, "maxLength": 24}"#, "roas[0]: prefix is a number"),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/33", "maxLength": 33}"#,
                "roas[0]: prefix length out of range in 10.0.0.0/33",
            ),
            (
                r#"{"asn": 1, "prefix": "2001:db8::/129", "maxLength": 129}"#,
                "roas[0]: prefix length out of range in 2001:db8::/129",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 23}"#,
                "roas[0]: max length is smaller than the prefix length in 10.0.0.0/24 (maxLength 23)",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 33}"#,
                "roas[0]: maxLength 33 exceeds the address length in 10.0.0.0/24",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 100000}"#,
                "roas[0]: maxLength 100000 exceeds the address length in 10.0.0.0/24",
            ),
            (r#"{"asn": 1, "prefix": "10.0.0.1/24", "maxLength": 24}"#, "roas[0]: host bits set in 10.0.0.1/24"),
            (
                r#"{"asn": 1, "prefix": "2001:db8::1/64", "maxLength": 64}"#,
                "roas[0]: host bits set in 2001:db8::1/64",
            ),
            (r#"{"asn": 1, "prefix": "10.0.0.0/24"}"#, "roas[0]: maxLength is missing in 10.0.0.0/24"),
            (r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": "24"}"#, "roas[0]: maxLength is a string in 10.0.0.0/24"),
            (r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": true}"#, "roas[0]: maxLength is a boolean in 10.0.0.0/24"),
            (r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 24.5}"#, "roas[0]: maxLength is not an integer in 10.0.0.0/24"),
            (r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": -1}"#, "roas[0]: maxLength is a negative number in 10.0.0.0/24"),
            (r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": [24]}"#, "roas[0]: maxLength is a list in 10.0.0.0/24"),
            (r#"{"asn": 4294967296, "prefix": "10.0.0.0/24", "maxLength": 24}"#, "roas[0]: asn 4294967296 out of range"),
            (r#"{"asn": "AS4294967296", "prefix": "10.0.0.0/24", "maxLength": 24}"#, "roas[0]: asn 4294967296 out of range"),
            (r#"{"asn": "AS", "prefix": "10.0.0.0/24", "maxLength": 24}"#, "roas[0]: asn is not an AS number: \"AS\""),
            (r#"{"asn": "AS-1", "prefix": "10.0.0.0/24", "maxLength": 24}"#, "roas[0]: asn is not an AS number: \"AS-1\""),
            (r#"{"asn": -5, "prefix": "10.0.0.0/24", "maxLength": 24}"#, "roas[0]: asn is a negative number"),
            (r#"{"asn": {}, "prefix": "10.0.0.0/24", "maxLength": 24}"#, "roas[0]: asn is an object"),
            (r#"{"prefix": "10.0.0.0/24", "maxLength": 24}"#, "roas[0]: asn is missing"),
            (r#""10.0.0.0/24""#, "roas[0]: item is a string, not an object"),
            (r#"[1, 2, {"a": 3}]"#, "roas[0]: item is a list, not an object"),
            ("null", "roas[0]: item is null, not an object"),
            ("7", "roas[0]: item is a number, not an object"),
        ];
        for (item, want) in cases {
            assert_eq!(one_bad("roas", item), want, "{item}");
        }
        for prefix in [
            "10.0.0.0",
            "10.0.0/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/0008",
            "x::/8",
            "10.0.0.0/8/8",
            " 10.0.0.0/8",
        ] {
            let item = format!(r#"{{"asn": 1, "prefix": "{prefix}", "maxLength": 24}}"#);
            assert!(
                one_bad("roas", &item).starts_with("roas[0]: bad prefix syntax"),
                "{prefix}"
            );
        }
    }

    #[test]
    fn bad_router_keys() {
        let ski = "5D4250E2D81D4448D8A29EFCE91D29FF075EC9E2";
        let cases = [
            (
                format!(
                    r#"{{"asn": 1, "ski": "{}", "pubkey": "{SPKI_B64}"}}"#,
                    &ski[..38]
                ),
                "ski is not 20 octets of hex",
            ),
            (
                format!(r#"{{"asn": 1, "ski": "{ski}00", "pubkey": "{SPKI_B64}"}}"#),
                "ski is not 20 octets of hex",
            ),
            (
                format!(
                    r#"{{"asn": 1, "ski": "{}XY", "pubkey": "{SPKI_B64}"}}"#,
                    &ski[..38]
                ),
                "ski is not 20 octets of hex",
            ),
            (
                format!(r#"{{"asn": 1, "ski": 5, "pubkey": "{SPKI_B64}"}}"#),
                "ski is a number",
            ),
            (
                format!(r#"{{"asn": 1, "ski": "{ski}", "pubkey": "not base64!"}}"#),
                "pubkey is not base64",
            ),
            (
                format!(r#"{{"asn": 1, "ski": "{ski}", "pubkey": "MFkw="}}"#),
                "pubkey is not base64",
            ),
            (
                format!(r#"{{"asn": 1, "ski": "{ski}", "pubkey": ""}}"#),
                "pubkey is empty",
            ),
            (
                format!(r#"{{"asn": 1, "ski": "{ski}"}}"#),
                "pubkey is missing",
            ),
            (
                format!(r#"{{"ski": "{ski}", "pubkey": "{SPKI_B64}"}}"#),
                "asn is missing",
            ),
        ];
        for (item, want) in cases {
            let got = one_bad("bgpsec_keys", &item);
            assert!(
                got.starts_with(&format!("bgpsec_keys[0]: {want}")),
                "{item}: {got}"
            );
        }
    }

    #[test]
    fn bad_aspas() {
        let cases = [
            (
                r#"{"customer_asid": 5, "providers": []}"#,
                "aspas[0]: empty providers for AS5",
            ),
            (
                r#"{"customer_asid": 5}"#,
                "aspas[0]: providers is missing for AS5",
            ),
            (
                r#"{"customer_asid": 5, "providers": 7}"#,
                "aspas[0]: providers is a number for AS5",
            ),
            (
                r#"{"customer_asid": 5, "providers": [1, 4294967296]}"#,
                "aspas[0]: providers[1]: provider 4294967296 out of range",
            ),
            (
                r#"{"customer_asid": 5, "providers": [{"provider_asid": 7}]}"#,
                "aspas[0]: providers[0]: provider is an object",
            ),
            (r#"{"providers": [1]}"#, "aspas[0]: customer is missing"),
            (
                r#"{"customer_asid": "ASx", "providers": [1]}"#,
                "aspas[0]: customer_asid is not an AS number: \"ASx\"",
            ),
            (
                r#"{"customer": 4294967296, "providers": [1]}"#,
                "aspas[0]: customer 4294967296 out of range",
            ),
            ("true", "aspas[0]: item is a boolean, not an object"),
        ];
        for (item, want) in cases {
            assert_eq!(one_bad("aspas", item), want, "{item}");
        }
    }

    #[test]
    fn bad_items_do_not_spoil_the_rest() {
        let mut roas = Vec::new();
        for i in 0..30 {
            roas.push(format!(
                r#"{{"asn": {i}, "prefix": "10.{i}.0.0/16", "maxLength": 16}}"#
            ));
            roas.push(format!(
                r#"{{"asn": {i}, "prefix": "10.{i}.0.1/16", "maxLength": 16}}"#
            ));
            roas.push(r#""junk""#.to_string());
        }
        let (p, rej) = parse_str(&format!(r#"{{"roas": [{}]}}"#, roas.join(",")));
        assert_eq!(p.vrps.len(), 30);
        assert_eq!(rej.count, 60);
        assert_eq!(rej.first.len(), FIRST_REASONS);
        assert_eq!(rej.first[0], "roas[1]: host bits set in 10.0.0.1/16");
        assert_eq!(rej.first[1], "roas[2]: item is a string, not an object");
    }

    #[test]
    fn long_strings_are_cut_in_reasons() {
        let long = "A".repeat(10_000);
        let got = one_bad(
            "roas",
            &format!(r#"{{"asn": "{long}", "prefix": "10.0.0.0/8", "maxLength": 8}}"#),
        );
        assert!(got.len() < 120, "{got}");
        assert!(got.ends_with("..."));
    }

    #[test]
    fn whole_file_errors() {
        let err = |bytes: &[u8]| parse(bytes).unwrap_err();

        let e = err(b"{\n\t\"roas\": [\n\t\t{ \"asn\": 1, \"prefix\": \"10.0.0.0/8\", \"maxLength\": 8 },\n\t\t{ \"asn\": 2, \"pre");
        assert_eq!((e.line, e.column), (4, 18));
        assert!(e.reason.contains("EOF"), "{e}");
        assert_eq!(e.to_string(), format!("line 4, column 18: {}", e.reason));

        let e = err(b"");
        assert_eq!(e.line, 1);
        assert!(e.reason.contains("EOF"), "{e}");

        let e = err(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe");
        assert_eq!(e.line, 1);
        assert!(e.reason.contains("expected value"), "{e}");

        let e = err(b"[ { \"asn\": 1 } ]");
        assert_eq!(e.line, 1);
        assert!(e.reason.starts_with("invalid type: sequence"), "{e}");

        let e = err(b"\"roas\"");
        assert!(e.reason.starts_with("invalid type: string"), "{e}");

        let e = err(b"{\"metadata\": {},\n \"roas\": {\"asn\": 1}}");
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("an array for roas"), "{e}");

        let e = err(b"{\"aspas\": null}");
        assert!(e.reason.contains("an array for aspas"), "{e}");

        let e = err(b"{\"roas\": [], \"roas\": []}");
        assert!(e.reason.contains("duplicate field `roas`"), "{e}");

        let e = err(b"{\"roas\": []} {}");
        assert!(e.reason.contains("trailing characters"), "{e}");

        // Not UTF-8 inside a string.
        let e = err(b"{\"roas\": [{\"asn\": 1, \"prefix\": \"\xff\", \"maxLength\": 8}]}");
        assert_eq!(e.line, 1);
    }

    #[test]
    fn demo_file_is_clean() {
        let (p, rej) = parse(include_bytes!("../../etc/demo/rpki-client.json")).unwrap();
        assert_eq!(rej.count, 0, "{:?}", rej.first);
        assert_eq!(
            (p.vrps.len(), p.router_keys.len(), p.aspas.len()),
            (40, 2, 3)
        );
        assert_eq!(p.vrps.iter().filter(|v| v.asn == 0).count(), 1);
        assert!(p.router_keys.iter().all(|k| k.spki.len() == 91));
    }

    #[test]
    fn real_sample_shape() {
        // Two records cut from a 2021 rpki-client run, string-valued
        // metadata times as it wrote them then.
        let text = r#"{
	"metadata": {
		"buildmachine": "vrp-gen.example",
		"buildtime": "2021-07-27T18:56:02Z",
		"elapsedtime": "301",
		"roas": 87883,
		"talfiles": "/etc/rpki/afrinic.tal /etc/rpki/apnic.tal"
	},

	"roas": [
		{ "asn": 13335, "prefix": "1.0.0.0/24", "maxLength": 24, "ta": "apnic", "expires": 1627568318 },
		{ "asn": 9367, "prefix": "2001:200:136::/48", "maxLength": 48, "ta": "apnic", "expires": 1627575699 }
	]
}
"#;
        let (p, rej) = parse_str(text);
        assert_eq!(rej.count, 0);
        assert_eq!(
            p.vrps,
            vec![
                v4("1.0.0.0", 24, 24, 13335),
                v6("2001:200:136::", 48, 48, 9367)
            ]
        );
    }
}
