//! Reader for the JSON payload files of the validators in the field, one
//! lenient reader for all of them. Runs in the validator process,
//! unprivileged: it reads from a stream it is handed and touches no file,
//! socket or privilege.
//!
//! The shapes, by producer (unknown keys are ignored everywhere):
//!
//! - rpki-client (`-j`): `roas` of `{asn, prefix, maxLength, ta, expires}`;
//!   `bgpsec_keys` of `{asn, ski, pubkey, ta, expires}` with the SKI in hex
//!   and the SPKI in base64; `aspas` of `{customer_asid, expires,
//!   providers}`, or in 8.0 to 8.4 `provider_authorizations` holding such
//!   lists under `ipv4` and `ipv6`; `metadata.buildtime` in ISO 8601.
//! - StayRTR and GoRTR: the same `roas` (ASN a number or `"AS…"`),
//!   `bgpsec_keys` and `aspas`; `metadata.generated` and `metadata.valid`
//!   in Unix seconds. The whole file stops being valid at `valid`, so
//!   every item expires then at the latest.
//! - Routinator `json`: `roas` with `"AS…"` ASNs, `routerKeys` of `{asn,
//!   SKI, routerPublicKey}` with the SKI in hex and the SPKI in unpadded
//!   base64url, `aspas` of `{customer, afi, providers}` with `"AS…"`
//!   strings; `metadata.generated` (Unix seconds) and `generatedTime` (ISO
//!   8601). `jsonext` adds `source` lists, which are ignored.
//! - RTRTR: `roas`, and `aspas` with `customer` or `customer_asid` and
//!   numeric providers.
//!
//! Every [`Format`] reads all of these; the names differ only where the
//! shapes are ambiguous. That is the SPKI encoding: `auto` and `rtrtr`
//! decode base64 or base64url, told apart by their distinct characters,
//! with or without padding; `rpki-client` and `stayrtr` insist on padded
//! base64 and `routinator` on unpadded base64url, as those write it. The
//! SKI is hex in every shape (base64 SKIs occur only in SLURM).
//!
//! The file is streamed through serde_json: each element of a known array
//! is judged and pushed as soon as it is read, so memory holds the result
//! and a buffer, never the document. Every field is taken whatever its
//! JSON type, so a record of the wrong shape is counted and named in
//! [`Rejected`] instead of failing the file; a numeric string where a
//! number belongs (`"maxLength": "24"`) is such a wrong shape. Only a file
//! that is not JSON, is truncated, is not an object at the top, has a
//! known array that is not an array, or has none of them (a SLURM file
//! configured as a source, say) is a [`ParseError`].

use std::fmt;
use std::io::Read;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::item::{self, quote, Format, ParseError, Payloads, Rejected, Timed};
use crate::payload::{Aspa, Prefix, RouterKey, Vrp};

/// The most VRPs the metadata may announce for the vector to be sized
/// ahead; a larger count is not believed.
const VRP_HINT_MAX: u64 = 1 << 22;

//------------ read ----------------------------------------------------------

/// Read a JSON payload file from a buffered stream.
pub(super) fn read<R: Read>(reader: R, format: Format) -> Result<(Payloads, Rejected), ParseError> {
    let mut out = Collector::new(format);
    let mut de = serde_json::Deserializer::from_reader(reader);
    TopLevel(&mut out)
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(parse_error)?;
    Ok(out.finish())
}

fn parse_error(err: serde_json::Error) -> ParseError {
    let (line, column) = (err.line(), err.column());
    let text = err.to_string();
    // serde_json appends the position to its message; it is kept apart.
    let suffix = format!(" at line {line} column {column}");
    let reason = text.strip_suffix(&suffix).unwrap_or(&text);
    ParseError {
        line,
        column: (line > 0).then_some(column),
        reason: if err.is_io() {
            format!("read error: {reason}")
        } else {
            reason.to_string()
        },
    }
}

/// How an SPKI is encoded.
#[derive(Clone, Copy)]
enum KeyText {
    Either,
    Base64,
    Base64Url,
}

const EITHER_PADDING: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const BASE64_ANY: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, EITHER_PADDING);
const BASE64URL_ANY: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, EITHER_PADDING);

impl KeyText {
    fn decode(self, text: &str) -> Result<Vec<u8>, base64::DecodeError> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        match self {
            KeyText::Base64 => STANDARD.decode(text),
            KeyText::Base64Url => URL_SAFE_NO_PAD.decode(text),
            KeyText::Either if text.contains(['-', '_']) => BASE64URL_ANY.decode(text),
            KeyText::Either => BASE64_ANY.decode(text),
        }
    }
}

/// Where the items go while the file is read.
struct Collector {
    payloads: Payloads,
    rejected: Rejected,
    keys: KeyText,
    meta: Metadata,
}

/// What the metadata block says that matters here.
#[derive(Default)]
struct Metadata {
    generated: Option<u64>,
    buildtime: Option<u64>,
    generated_time: Option<u64>,
    valid: Option<u64>,
    vrps: Option<u64>,
    unique_vrps: Option<u64>,
}

impl Collector {
    fn new(format: Format) -> Self {
        let keys = match format {
            Format::RpkiClient | Format::Stayrtr => KeyText::Base64,
            Format::Routinator => KeyText::Base64Url,
            Format::Auto | Format::Rtrtr | Format::Csv => KeyText::Either,
        };
        Collector {
            payloads: Payloads::default(),
            rejected: Rejected::default(),
            keys,
            meta: Metadata::default(),
        }
    }

    fn finish(mut self) -> (Payloads, Rejected) {
        let m = &self.meta;
        self.payloads.generated = m.generated.or(m.buildtime).or(m.generated_time);
        if let Some(valid) = m.valid {
            self.payloads.expire_by(valid);
        }
        self.payloads.shrink_to_fit();
        (self.payloads, self.rejected)
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
        f.write_str("a JSON object with roas, router keys and aspas")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = [false; 6];
        while let Some(key) = map.next_key::<TopKey>()? {
            let (slot, name) = match key {
                TopKey::Roas => (0, "roas"),
                TopKey::BgpsecKeys => (1, "bgpsec_keys"),
                TopKey::RouterKeys => (2, "routerKeys"),
                TopKey::Aspas => (3, "aspas"),
                TopKey::ProviderAuthorizations => (4, "provider_authorizations"),
                TopKey::Metadata => (5, "metadata"),
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
            let kind = match key {
                TopKey::Roas => Kind::Roa,
                TopKey::BgpsecKeys | TopKey::RouterKeys => Kind::RouterKey,
                TopKey::Aspas => Kind::Aspa,
                TopKey::ProviderAuthorizations => {
                    map.next_value_seed(PerAfi(out))?;
                    continue;
                }
                _ => {
                    map.next_value_seed(Seed(MetadataBlock(&mut out.meta)))?;
                    continue;
                }
            };
            map.next_value_seed(Array { kind, name, out })?;
        }
        // Every producer writes at least one of the lists, if empty; a
        // file with none is something else, SLURM for one.
        if seen[..5].iter().all(|s| !s) {
            return Err(de::Error::custom(
                "no roas, bgpsec_keys, routerKeys or aspas: not a payload file",
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum TopKey {
    Roas,
    BgpsecKeys,
    RouterKeys,
    Aspas,
    ProviderAuthorizations,
    Metadata,
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
                    "routerKeys" => TopKey::RouterKeys,
                    "aspas" => TopKey::Aspas,
                    "provider_authorizations" => TopKey::ProviderAuthorizations,
                    "metadata" => TopKey::Metadata,
                    _ => TopKey::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// rpki-client 8.0 to 8.4: `"provider_authorizations": { "ipv4": [...],
/// "ipv6": [...] }`, both read into one list.
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
        while let Some(key) = map.next_key::<AfiKey>()? {
            let name = match key {
                AfiKey::Ipv4 => "provider_authorizations.ipv4",
                AfiKey::Ipv6 => "provider_authorizations.ipv6",
                AfiKey::Other => {
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

enum AfiKey {
    Ipv4,
    Ipv6,
    Other,
}

impl<'de> Deserialize<'de> for AfiKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AfiKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<AfiKey, E> {
                Ok(match s {
                    "ipv4" => AfiKey::Ipv4,
                    "ipv6" => AfiKey::Ipv6,
                    _ => AfiKey::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// The `metadata` object; anything else in its place is ignored.
struct MetadataBlock<'a>(&'a mut Metadata);

impl<'de> Judge<'de> for MetadataBlock<'_> {
    type Out = ();

    fn scalar(self, _: Val<'_>) {}

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let m = self.0;
        while let Some(key) = map.next_key::<MetaKey>()? {
            let slot = match key {
                MetaKey::Generated => &mut m.generated,
                MetaKey::Valid => &mut m.valid,
                MetaKey::Vrps => &mut m.vrps,
                MetaKey::UniqueVrps => &mut m.unique_vrps,
                MetaKey::Buildtime | MetaKey::GeneratedTime => {
                    let t = map.next_value_seed(scalar(|v| match v {
                        Val::Str(s) => item::parse_time(s),
                        _ => None,
                    }))?;
                    match key {
                        MetaKey::Buildtime => m.buildtime = t,
                        _ => m.generated_time = t,
                    }
                    continue;
                }
                MetaKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = map.next_value_seed(scalar(|v| match v {
                Val::Uint(n) => Some(n),
                _ => None,
            }))?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum MetaKey {
    Buildtime,
    Generated,
    GeneratedTime,
    Valid,
    Vrps,
    UniqueVrps,
    Other,
}

impl<'de> Deserialize<'de> for MetaKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MetaKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<MetaKey, E> {
                Ok(match s {
                    "buildtime" => MetaKey::Buildtime,
                    "generated" => MetaKey::Generated,
                    "generatedTime" => MetaKey::GeneratedTime,
                    "valid" => MetaKey::Valid,
                    "vrps" => MetaKey::Vrps,
                    "uniquevrps" => MetaKey::UniqueVrps,
                    _ => MetaKey::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

//------------ Arrays and items ----------------------------------------------

#[derive(Clone, Copy)]
enum Kind {
    Roa,
    RouterKey,
    Aspa,
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
        let out = self.out;
        if let Kind::Roa = self.kind {
            // rpki-client announces the count before the list.
            let hint = out.meta.unique_vrps.or(out.meta.vrps).unwrap_or(0);
            if hint <= VRP_HINT_MAX {
                out.payloads.vrps.reserve(hint as usize);
            }
        }
        let mut index = 0;
        while seq
            .next_element_seed(Seed(Element {
                kind: self.kind,
                at: At(self.name, index),
                out: &mut *out,
            }))?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }
}

/// Where an item is, for reasons: `roas[17]`.
#[derive(Clone, Copy)]
struct At(&'static str, usize);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.0, self.1)
    }
}

/// One array element: an object's fields are read, checked and the item
/// collected; anything else is rejected.
struct Element<'a> {
    kind: Kind,
    at: At,
    out: &'a mut Collector,
}

impl<'de> Judge<'de> for Element<'_> {
    type Out = ();

    fn scalar(self, v: Val<'_>) {
        let reason = format!("item is {}, not an object", v.describe());
        self.out.rejected.record(self.at, reason);
    }

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut f = Fields::default();
        let keys = self.out.keys;
        while let Some(key) = map.next_key::<FieldKey>()? {
            match key {
                FieldKey::Asn => f.asn = Some(map.next_value_seed(scalar(|v| asn(v, "asn")))?),
                FieldKey::Prefix => f.prefix = Some(map.next_value_seed(scalar(prefix))?),
                FieldKey::MaxLength => {
                    f.max_length = Some(map.next_value_seed(scalar(|v| uint(v, "maxLength")))?)
                }
                FieldKey::Expires => {
                    f.expires = Some(map.next_value_seed(scalar(|v| uint(v, "expires")))?)
                }
                FieldKey::Ski(name) => f.ski = Some(map.next_value_seed(scalar(|v| ski(v, name)))?),
                FieldKey::Pubkey(name) => {
                    f.pubkey = Some(map.next_value_seed(scalar(|v| pubkey(v, name, keys)))?)
                }
                FieldKey::CustomerAsid => {
                    f.customer_asid =
                        Some(map.next_value_seed(scalar(|v| asn(v, "customer_asid")))?)
                }
                FieldKey::Customer => {
                    f.customer = Some(map.next_value_seed(scalar(|v| asn(v, "customer")))?)
                }
                FieldKey::Providers => f.providers = Some(map.next_value_seed(Seed(Providers))?),
                FieldKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let p = &mut self.out.payloads;
        let res = match self.kind {
            Kind::Roa => f.vrp().map(|v| p.vrps.push(v)),
            Kind::RouterKey => f.router_key().map(|k| p.router_keys.push(k)),
            Kind::Aspa => f.aspa().map(|a| p.aspas.push(a)),
        };
        if let Err(reason) = res {
            self.out.rejected.record(self.at, reason);
        }
        Ok(())
    }
}

/// A field as read: absent, or its value or why that is no good.
type Got<T> = Option<Result<T, String>>;

/// The fields any of the three item kinds may use; each kind reads its
/// own. A key given twice counts once, the last.
#[derive(Default)]
struct Fields {
    asn: Got<u32>,
    prefix: Got<Prefix>,
    max_length: Got<u64>,
    expires: Got<u64>,
    ski: Got<[u8; 20]>,
    pubkey: Got<Box<[u8]>>,
    customer_asid: Got<u32>,
    customer: Got<u32>,
    providers: Got<Vec<u32>>,
}

fn need<T>(got: Got<T>, what: &str) -> Result<T, String> {
    got.unwrap_or_else(|| Err(format!("{what} is missing")))
}

impl Fields {
    fn vrp(self) -> Result<Timed<Vrp>, String> {
        let asn = need(self.asn, "asn")?;
        let prefix = need(self.prefix, "prefix")?;
        let max_len = need(self.max_length, "maxLength").map_err(|e| format!("{e} in {prefix}"))?;
        let vrp = item::vrp(prefix, max_len, asn, "maxLength")?;
        Ok(Timed::new(vrp, self.expires.transpose()?))
    }

    fn router_key(self) -> Result<Timed<RouterKey>, String> {
        let asn = need(self.asn, "asn")?;
        let ski = need(self.ski, "ski")?;
        let spki = need(self.pubkey, "pubkey")?;
        let key = RouterKey { ski, asn, spki };
        Ok(Timed::new(key, self.expires.transpose()?))
    }

    fn aspa(self) -> Result<Timed<Aspa>, String> {
        let customer = need(self.customer_asid.or(self.customer), "customer")?;
        let providers =
            need(self.providers, "providers").map_err(|e| format!("{e} for AS{customer}"))?;
        let aspa = item::aspa(customer, providers)?;
        Ok(Timed::new(aspa, self.expires.transpose()?))
    }
}

#[derive(Clone, Copy)]
enum FieldKey {
    Asn,
    Prefix,
    MaxLength,
    Expires,
    Ski(&'static str),
    Pubkey(&'static str),
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
                    "expires" => FieldKey::Expires,
                    "ski" => FieldKey::Ski("ski"),
                    "SKI" => FieldKey::Ski("SKI"),
                    "pubkey" => FieldKey::Pubkey("pubkey"),
                    "routerPublicKey" => FieldKey::Pubkey("routerPublicKey"),
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

//------------ Field values --------------------------------------------------

fn asn(v: Val<'_>, what: &str) -> Result<u32, String> {
    match v {
        Val::Uint(n) => item::asn_number(n, what),
        Val::Str(s) => item::asn_text(s, what),
        v => Err(format!("{what} is {}", v.describe())),
    }
}

fn prefix(v: Val<'_>) -> Result<Prefix, String> {
    match v {
        Val::Str(s) => item::parse_prefix(s),
        v => Err(format!("prefix is {}", v.describe())),
    }
}

fn uint(v: Val<'_>, what: &str) -> Result<u64, String> {
    match v {
        Val::Uint(n) => Ok(n),
        v => Err(format!("{what} is {}", v.describe())),
    }
}

fn ski(v: Val<'_>, what: &str) -> Result<[u8; 20], String> {
    match v {
        Val::Str(s) => item::parse_ski(s)
            .ok_or_else(|| format!("{what} is not 20 octets of hex: {}", quote(s))),
        v => Err(format!("{what} is {}", v.describe())),
    }
}

fn pubkey(v: Val<'_>, what: &str, keys: KeyText) -> Result<Box<[u8]>, String> {
    let text = match v {
        Val::Str(s) => s,
        v => return Err(format!("{what} is {}", v.describe())),
    };
    let bytes = keys.decode(text).map_err(|e| {
        let name = match keys {
            KeyText::Either => "base64",
            KeyText::Base64 => "padded base64",
            KeyText::Base64Url => "unpadded base64url",
        };
        format!("{what} is not {name} ({e}): {}", quote(text))
    })?;
    item::spki(bytes, what)
}

/// A list of provider ASNs; the first bad one is named.
struct Providers;

impl<'de> Judge<'de> for Providers {
    type Out = Result<Vec<u32>, String>;

    fn scalar(self, v: Val<'_>) -> Self::Out {
        Err(format!("providers is {}", v.describe()))
    }

    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Out, A::Error> {
        let mut list = Vec::new();
        let mut bad = None;
        let mut i = 0;
        while let Some(r) = seq.next_element_seed(scalar(|v| asn(v, "provider")))? {
            match r {
                Ok(a) => list.push(a),
                Err(e) => {
                    bad.get_or_insert_with(|| format!("providers[{i}]: {e}"));
                }
            }
            i += 1;
        }
        Ok(bad.map_or(Ok(list), Err))
    }
}

//------------ Lenient values ------------------------------------------------

/// A JSON value as far as a judge needs to see it: strings borrowed for
/// the moment, lists and objects already skipped.
#[derive(Clone, Copy)]
enum Val<'a> {
    Null,
    Bool,
    Uint(u64),
    Negative,
    Fraction,
    Str(&'a str),
    List,
    Object,
}

impl Val<'_> {
    fn describe(self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool => "a boolean",
            Val::Uint(_) => "a number",
            Val::Negative => "a negative number",
            Val::Fraction => "not an integer",
            Val::Str(_) => "a string",
            Val::List => "a list",
            Val::Object => "an object",
        }
    }
}

/// Decides what a value of any JSON type means, so that a wrong type
/// rejects the item and not the file. Lists and objects are skipped unless
/// the judge reads them itself.
trait Judge<'de>: Sized {
    type Out;

    fn scalar(self, v: Val<'_>) -> Self::Out;

    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Out, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.scalar(Val::List))
    }

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(self.scalar(Val::Object))
    }
}

/// A judge of single values, from a closure.
struct Scalar<F>(F);

impl<'de, F, R> Judge<'de> for Scalar<F>
where
    F: FnOnce(Val<'_>) -> R,
{
    type Out = R;

    fn scalar(self, v: Val<'_>) -> R {
        (self.0)(v)
    }
}

fn scalar<F, R>(f: F) -> Seed<Scalar<F>>
where
    F: FnOnce(Val<'_>) -> R,
{
    Seed(Scalar(f))
}

/// Runs a judge on the next value of the stream.
struct Seed<J>(J);

impl<'de, J: Judge<'de>> DeserializeSeed<'de> for Seed<J> {
    type Value = J::Out;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<J::Out, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, J: Judge<'de>> Visitor<'de> for Seed<J> {
    type Value = J::Out;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<J::Out, E> {
        Ok(self.0.scalar(Val::Bool))
    }

    fn visit_i64<E>(self, n: i64) -> Result<J::Out, E> {
        Ok(self
            .0
            .scalar(u64::try_from(n).map_or(Val::Negative, Val::Uint)))
    }

    fn visit_u64<E>(self, n: u64) -> Result<J::Out, E> {
        Ok(self.0.scalar(Val::Uint(n)))
    }

    fn visit_f64<E>(self, _: f64) -> Result<J::Out, E> {
        Ok(self.0.scalar(Val::Fraction))
    }

    fn visit_str<E>(self, s: &str) -> Result<J::Out, E> {
        Ok(self.0.scalar(Val::Str(s)))
    }

    fn visit_unit<E>(self) -> Result<J::Out, E> {
        Ok(self.0.scalar(Val::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<J::Out, A::Error> {
        self.0.seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<J::Out, A::Error> {
        self.0.map(map)
    }
}

//------------ parse (old interface) -----------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validator::input::{self, read, FIRST_REASONS};

    macro_rules! fixture {
        ($name:literal) => {
            &include_bytes!(concat!("../../../tests/fixtures/inputs/", $name))[..]
        };
    }

    const SPKI_B64: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QA==";
    const SKI: &str = "5D4250E2D81D4448D8A29EFCE91D29FF075EC9E2";

    /// A P-256 SubjectPublicKeyInfo with the given point coordinates.
    fn spki(point: impl Iterator<Item = u8>) -> Box<[u8]> {
        let mut v = vec![
            0x30, 0x59, // SEQUENCE, 89
            0x30, 0x13, // SEQUENCE, 19
            0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // id-ecPublicKey
            0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, // prime256v1
            0x03, 0x42, 0x00, // BIT STRING, 66, no unused bits
            0x04, // uncompressed point
        ];
        v.extend(point);
        assert_eq!(v.len(), 91);
        v.into_boxed_slice()
    }

    /// The key of `SPKI_B64`: "...PT4/QA==" in base64, "...PT4_QA" in
    /// base64url.
    fn spki_a() -> Box<[u8]> {
        spki(1..=64)
    }

    /// A key whose base64 has both '+' and '/'.
    fn spki_b() -> Box<[u8]> {
        spki((0xbc..=0xfb).rev())
    }

    fn ski(hex: &str) -> [u8; 20] {
        item::parse_ski(hex).unwrap()
    }

    fn v4(s: &str, len: u8, max: u8, asn: u32) -> Vrp {
        Vrp::new(Prefix::v4(s.parse().unwrap(), len).unwrap(), max, asn).unwrap()
    }

    fn v6(s: &str, len: u8, max: u8, asn: u32) -> Vrp {
        Vrp::new(Prefix::v6(s.parse().unwrap(), len).unwrap(), max, asn).unwrap()
    }

    fn until<T>(item: T, t: u64) -> Timed<T> {
        Timed::new(item, Some(t))
    }

    fn always<T>(item: T) -> Timed<T> {
        Timed::new(item, None)
    }

    fn aspa(customer: u32, providers: &[u32]) -> Aspa {
        Aspa {
            customer,
            providers: providers.to_vec(),
        }
    }

    fn read_as(bytes: &[u8], format: Format) -> (input::Payloads, Rejected) {
        read(bytes, format).unwrap_or_else(|e| panic!("{e}"))
    }

    fn read_str(s: &str) -> (input::Payloads, Rejected) {
        read_as(s.as_bytes(), Format::Auto)
    }

    /// The reason for the single rejected item of an array.
    fn one_bad(array: &str, item: &str) -> String {
        let (_, rej) = read_str(&format!("{{\"{array}\": [{item}]}}"));
        assert_eq!(rej.count, 1, "{item}");
        rej.first[0].clone()
    }

    //--- Golden files, one per shape

    #[test]
    fn rpki_client() {
        for format in [Format::Auto, Format::RpkiClient, Format::Stayrtr] {
            let (p, rej) = read_as(fixture!("rpki-client.json"), format);
            assert_eq!(rej, Rejected::default());
            assert_eq!(
                p.vrps,
                [
                    until(v4("1.0.0.0", 24, 24, 13335), 1_735_718_400),
                    until(v4("192.0.2.0", 24, 28, 64496), 1_735_722_000),
                    until(v4("198.51.100.0", 24, 32, 0), 1_735_725_600),
                    until(v6("2001:db8::", 32, 48, 64497), 1_735_729_200),
                    // Duplicates are kept: the snapshot removes them.
                    until(v6("2001:db8::", 32, 48, 64497), 1_735_729_200),
                ]
            );
            let keys = [
                until(
                    RouterKey {
                        ski: ski("5D4250E2D81D4448D8A29EFCE91D29FF075EC9E2"),
                        asn: 64496,
                        spki: spki_a(),
                    },
                    1_735_776_000,
                ),
                until(
                    RouterKey {
                        ski: ski("BE889B55D0B737397D75C49F485B858FA98AD11F"),
                        asn: 64497,
                        spki: spki_b(),
                    },
                    1_735_776_001,
                ),
            ];
            assert_eq!(p.router_keys, keys);
            assert_eq!(
                p.aspas,
                [
                    until(aspa(64496, &[64498, 64499]), 1_735_696_800),
                    until(aspa(64501, &[0]), 1_735_696_801),
                ]
            );
            // 2025-01-01T00:00:00Z
            assert_eq!(p.generated, Some(1_735_689_600));
        }
    }

    #[test]
    fn rpki_client_8_4_provider_authorizations() {
        let (p, rej) = read_as(fixture!("rpki-client-8.4.json"), Format::RpkiClient);
        assert_eq!(rej, Rejected::default());
        assert_eq!(
            p.vrps,
            [
                until(v4("1.178.112.0", 20, 20, 12975), 1_683_277_596),
                until(v6("2001:db8:100::", 40, 48, 702), 1_683_277_597),
            ]
        );
        assert!(p.router_keys.is_empty());
        assert_eq!(
            p.aspas,
            [
                until(aspa(28, &[25377, 41106]), 1_683_277_596),
                until(aspa(28, &[15987]), 1_683_272_548),
            ]
        );
        assert_eq!(p.generated, Some(1_683_211_927));
    }

    #[test]
    fn stayrtr() {
        let (p, rej) = read_as(fixture!("stayrtr.json"), Format::Stayrtr);
        // metadata.valid comes last and still caps every item.
        let valid = 1_643_864_200;
        assert_eq!(
            p.vrps,
            [
                until(v4("10.0.0.0", 8, 24, 4_242_420_916), valid),
                until(v6("fd00:1234::", 32, 64, 4_242_421_171), valid),
                until(v4("172.20.0.0", 14, 28, 64511), 1_643_800_000),
            ]
        );
        assert_eq!(
            p.router_keys,
            [until(
                RouterKey {
                    ski: ski("c0ffee00112233445566778899aabbccddeeff00"),
                    asn: 64496,
                    spki: spki_a(),
                },
                valid
            )]
        );
        assert_eq!(p.aspas, [until(aspa(64497, &[64500]), 1_643_500_000)]);
        assert_eq!(p.generated, Some(1_643_432_200));
        assert_eq!(rej.count, 2);
        assert_eq!(
            rej.first,
            [
                "roas[3]: asn is not an AS number: \"AS\"",
                "aspas[0]: customer AS64496 listed as its own provider",
            ]
        );
    }

    #[test]
    fn routinator() {
        for format in [Format::Auto, Format::Routinator] {
            let (p, rej) = read_as(fixture!("routinator.json"), format);
            assert_eq!(rej, Rejected::default());
            assert_eq!(
                p.vrps,
                [
                    always(v4("93.175.147.0", 24, 24, 196_615)),
                    always(v6("2001:7fb:fd03::", 48, 48, 196_615)),
                ]
            );
            assert_eq!(
                p.router_keys,
                [always(RouterKey {
                    ski: ski("0A1B2C3D4E5F60718293A4B5C6D7E8F901234567"),
                    asn: 211_321,
                    spki: spki_b(),
                })]
            );
            assert_eq!(p.aspas, [always(aspa(64496, &[64499, 64511, 65551]))]);
            assert_eq!(p.generated, Some(1_685_455_841));
        }
    }

    #[test]
    fn routinator_jsonext() {
        let (p, rej) = read_as(fixture!("routinator-jsonext.json"), Format::Routinator);
        assert_eq!(rej, Rejected::default());
        assert_eq!(p.vrps, [always(v4("185.49.142.0", 24, 24, 211_321))]);
        assert_eq!(
            p.router_keys,
            [always(RouterKey {
                ski: ski("0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"),
                asn: 211_321,
                spki: spki_a(),
            })]
        );
        assert_eq!(p.aspas, [always(aspa(64496, &[64499]))]);
        assert_eq!(p.generated, Some(1_658_818_561));
    }

    #[test]
    fn rtrtr() {
        let (p, rej) = read_as(fixture!("rtrtr.json"), Format::Rtrtr);
        assert_eq!(rej, Rejected::default());
        assert_eq!(
            p.vrps,
            [
                always(v6("fd00:1234::", 32, 48, 42)),
                always(v4("192.0.2.0", 24, 24, 4_200_000_000)),
            ]
        );
        assert!(p.router_keys.is_empty());
        assert_eq!(
            p.aspas,
            [always(aspa(42, &[44, 45])), always(aspa(45, &[46]))]
        );
        assert_eq!(p.generated, None);
    }

    #[test]
    fn demo_file_is_clean() {
        let (p, rej) = read_as(
            include_bytes!("../../../etc/demo/rpki-client.json"),
            Format::Auto,
        );
        assert_eq!(rej.count, 0, "{:?}", rej.first);
        assert_eq!(
            (p.vrps.len(), p.router_keys.len(), p.aspas.len()),
            (40, 2, 3)
        );
        assert_eq!(p.vrps.iter().filter(|v| v.item.asn == 0).count(), 1);
        assert!(p.vrps.iter().all(|v| v.expires().is_some()));
        assert!(p.router_keys.iter().all(|k| k.item.spki.len() == 91));
        assert_eq!(p.generated, Some(1_767_268_800));
    }

    #[test]
    fn generated_data_round_trip() {
        use crate::payload::Snapshot;
        use crate::testdata::{generate, to_rpki_client_json, Spec};
        let s = generate(&Spec {
            vrps: 3_000,
            v6_percent: 22,
            asns: 500,
            router_keys: 5,
            aspas: 40,
            seed: 9,
        });
        let text = to_rpki_client_json(&s);
        let (p, rej) = read_as(text.as_bytes(), Format::RpkiClient);
        assert_eq!(rej.count, 0, "{:?}", rej.first);
        assert!(p.vrps.iter().all(|v| v.expires().is_some()));
        let untimed = |p: input::Payloads| {
            Snapshot::build(
                p.vrps.into_iter().map(|t| t.item).collect(),
                p.router_keys.into_iter().map(|t| t.item).collect(),
                p.aspas.into_iter().map(|t| t.item).collect(),
            )
            .0
        };
        assert_eq!(untimed(p), s);

        // The same through a reader that hands over one octet at a time.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(1);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let (p, rej) = read(Trickle(text.as_bytes()), Format::Auto).unwrap();
        assert_eq!(rej.count, 0);
        assert_eq!(untimed(p), s);
    }

    //--- Odd but valid

    #[test]
    fn lenient_shapes() {
        let text = format!(
            r#"{{
	"roas": [
		{{ "asn": "AS64496", "prefix": "192.0.2.0/24", "maxLength": 28, "future": {{ "x": [1, 2] }} }},
		{{ "asn": "as64497", "prefix": "2001:DB8::/32", "maxLength": 48 }},
		{{ "asn": "0", "prefix": "198.51.100.0/24", "maxLength": 32 }},
		{{ "prefix": "0.0.0.0/0", "maxLength": 0, "asn": 4294967295 }},
		{{ "asn": 1, "prefix": "\u0032001:db8:1::/48", "maxLength": 48, "asn": 2 }},
		{{ "asn": 1, "prefix": "10.0.0.0/8", "maxLength": 8, "expires": 0 }}
	],
	"bgpsec_keys": [
		{{ "asn": "AS64497", "ski": "be889b55d0b737397d75c49f485b858fa98ad11f", "pubkey": "{}" }}
	],
	"routerKeys": [
		{{ "asn": 64498, "SKI": "{SKI}", "routerPublicKey": "{SPKI_B64}" }}
	],
	"aspas": [
		{{ "customer": "AS64497", "providers": [ "AS64500", 0, "64500" ] }},
		{{ "customer_asid": 5, "customer": 6, "providers": [ 7 ] }}
	],
	"something_new": [ {{ "a": 1 }} ],
	"metadata": "not an object"
}}"#,
            SPKI_B64.trim_end_matches('=')
        );
        let (p, rej) = read_str(&text);
        assert_eq!(rej, Rejected::default());
        assert_eq!(
            p.vrps,
            [
                always(v4("192.0.2.0", 24, 28, 64496)),
                always(v6("2001:db8::", 32, 48, 64497)),
                always(v4("198.51.100.0", 24, 32, 0)),
                always(v4("0.0.0.0", 0, 0, u32::MAX)),
                always(v6("2001:db8:1::", 48, 48, 2)),
                until(v4("10.0.0.0", 8, 8, 1), 0),
            ]
        );
        let asns: Vec<u32> = p.router_keys.iter().map(|k| k.item.asn).collect();
        assert_eq!(asns, [64497, 64498]);
        assert!(p.router_keys.iter().all(|k| k.item.spki == spki_a()));
        assert_eq!(
            p.aspas,
            [
                always(aspa(64497, &[64500, 0, 64500])),
                always(aspa(5, &[7]))
            ]
        );
        assert_eq!(p.generated, None);
    }

    #[test]
    fn missing_arrays_are_empty() {
        for text in [
            r#"{"roas": []}"#,
            r#"{"metadata": {}, "aspas": []}"#,
            r#"{"routerKeys": []}"#,
            r#"{"provider_authorizations": {}}"#,
        ] {
            let (p, rej) = read_str(text);
            assert_eq!(p, input::Payloads::default());
            assert_eq!(rej.count, 0);
        }
    }

    #[test]
    fn no_arrays_at_all_is_not_a_payload_file() {
        let slurm = r#"{
  "slurmVersion": 1,
  "validationOutputFilters": { "prefixFilters": [], "bgpsecFilters": [] },
  "locallyAddedAssertions": {
    "prefixAssertions": [ { "asn": 64496, "prefix": "198.51.100.0/24" } ],
    "bgpsecAssertions": []
  }
}"#;
        for text in [slurm, "{}", r#"{"metadata": {"vrps": 0}}"#] {
            let e = read(text.as_bytes(), Format::Auto).unwrap_err();
            assert_eq!(
                e.reason,
                "no roas, bgpsec_keys, routerKeys or aspas: not a payload file"
            );
        }
        let e = read(slurm.as_bytes(), Format::Auto).unwrap_err();
        assert_eq!((e.line, e.column), (8, Some(1)));
    }

    #[test]
    fn metadata_times() {
        let generated = |meta: &str| {
            read_str(&format!(r#"{{"metadata": {meta}, "roas": []}}"#))
                .0
                .generated
        };
        assert_eq!(
            generated(r#"{"buildtime": "2021-07-27T18:56:02Z"}"#),
            Some(1_627_412_162)
        );
        assert_eq!(
            generated(r#"{"generatedTime": "2023-05-30T14:10:41Z"}"#),
            Some(1_685_455_841)
        );
        assert_eq!(
            generated(r#"{"generatedTime": "2023-05-30T14:10:41Z", "generated": 7}"#),
            Some(7)
        );
        assert_eq!(generated(r#"{"buildtime": "yesterday"}"#), None);
        assert_eq!(generated(r#"{"generated": "1685455841"}"#), None);
        assert_eq!(generated(r#"{"generated": -1}"#), None);
        // A count too large to believe sizes nothing ahead.
        let (p, _) = read_str(
            r#"{"metadata": {"uniquevrps": 99999999999}, "roas": [{"asn": 1, "prefix": "10.0.0.0/8", "maxLength": 8}]}"#,
        );
        assert_eq!(p.vrps.len(), 1);
        // valid caps the items' own times.
        let (p, _) = read_str(
            r#"{"roas": [{"asn": 1, "prefix": "10.0.0.0/8", "maxLength": 8, "expires": 50},
                         {"asn": 1, "prefix": "11.0.0.0/8", "maxLength": 8, "expires": 500},
                         {"asn": 1, "prefix": "12.0.0.0/8", "maxLength": 8}],
                "metadata": {"valid": 100}}"#,
        );
        let times: Vec<_> = p.vrps.iter().map(|v| v.expires()).collect();
        assert_eq!(times, [Some(50), Some(100), Some(100)]);
    }

    //--- Bad items

    #[test]
    fn bad_roas() {
        let cases = [
            (
                r#"{"asn": 1, "prefix": null, "maxLength": 24}"#,
                "roas[0]: prefix is null",
            ),
            (
                r#"{"asn": 1, "maxLength": 24}"#,
                "roas[0]: prefix is missing",
            ),
            (
                r#"{"asn": 1, "prefix": 17, "maxLength": 24}"#,
                "roas[0]: prefix is a number",
            ),
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
                "roas[0]: maxLength 23 is shorter than the prefix length in 10.0.0.0/24",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 33}"#,
                "roas[0]: maxLength 33 exceeds the address length in 10.0.0.0/24",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 100000}"#,
                "roas[0]: maxLength 100000 exceeds the address length in 10.0.0.0/24",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.1/24", "maxLength": 24}"#,
                "roas[0]: host bits set in 10.0.0.1/24",
            ),
            (
                r#"{"asn": 1, "prefix": "2001:db8::1/64", "maxLength": 64}"#,
                "roas[0]: host bits set in 2001:db8::1/64",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24"}"#,
                "roas[0]: maxLength is missing in 10.0.0.0/24",
            ),
            // A numeric string is not a number.
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": "24"}"#,
                "roas[0]: maxLength is a string in 10.0.0.0/24",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": true}"#,
                "roas[0]: maxLength is a boolean in 10.0.0.0/24",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 24.5}"#,
                "roas[0]: maxLength is not an integer in 10.0.0.0/24",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 24.0}"#,
                "roas[0]: maxLength is not an integer in 10.0.0.0/24",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": -1}"#,
                "roas[0]: maxLength is a negative number in 10.0.0.0/24",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": [24]}"#,
                "roas[0]: maxLength is a list in 10.0.0.0/24",
            ),
            (
                r#"{"asn": 4294967296, "prefix": "10.0.0.0/24", "maxLength": 24}"#,
                "roas[0]: asn 4294967296 out of range",
            ),
            (
                r#"{"asn": "AS4294967296", "prefix": "10.0.0.0/24", "maxLength": 24}"#,
                "roas[0]: asn 4294967296 out of range",
            ),
            (
                r#"{"asn": 1e3, "prefix": "10.0.0.0/24", "maxLength": 24}"#,
                "roas[0]: asn is not an integer",
            ),
            (
                r#"{"asn": "AS", "prefix": "10.0.0.0/24", "maxLength": 24}"#,
                "roas[0]: asn is not an AS number: \"AS\"",
            ),
            (
                r#"{"asn": "AS-1", "prefix": "10.0.0.0/24", "maxLength": 24}"#,
                "roas[0]: asn is not an AS number: \"AS-1\"",
            ),
            (
                r#"{"asn": -5, "prefix": "10.0.0.0/24", "maxLength": 24}"#,
                "roas[0]: asn is a negative number",
            ),
            (
                r#"{"asn": {}, "prefix": "10.0.0.0/24", "maxLength": 24}"#,
                "roas[0]: asn is an object",
            ),
            (
                r#"{"prefix": "10.0.0.0/24", "maxLength": 24}"#,
                "roas[0]: asn is missing",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 24, "expires": -1}"#,
                "roas[0]: expires is a negative number",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 24, "expires": "1700000000"}"#,
                "roas[0]: expires is a string",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 24, "expires": null}"#,
                "roas[0]: expires is null",
            ),
            (
                r#"{"asn": 1, "prefix": "10.0.0.0/24", "maxLength": 24, "expires": 1.5}"#,
                "roas[0]: expires is not an integer",
            ),
            (
                r#""10.0.0.0/24""#,
                "roas[0]: item is a string, not an object",
            ),
            (
                r#"[1, 2, {"a": 3}]"#,
                "roas[0]: item is a list, not an object",
            ),
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
            "fe80::1%eth0/64",
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
        let cases = [
            (
                format!(r#"{{"asn": 1, "ski": "{}", "pubkey": "{SPKI_B64}"}}"#, &SKI[..38]),
                "bgpsec_keys[0]: ski is not 20 octets of hex",
            ),
            (
                format!(r#"{{"asn": 1, "ski": "{SKI}00", "pubkey": "{SPKI_B64}"}}"#),
                "bgpsec_keys[0]: ski is not 20 octets of hex",
            ),
            (
                format!(r#"{{"asn": 1, "ski": "{}XY", "pubkey": "{SPKI_B64}"}}"#, &SKI[..38]),
                "bgpsec_keys[0]: ski is not 20 octets of hex",
            ),
            (
                // base64 of 20 octets, as SLURM writes an SKI.
                format!(r#"{{"asn": 1, "ski": "XUJQ4tgdREjYop786R0p/wdeyeI=", "pubkey": "{SPKI_B64}"}}"#),
                "bgpsec_keys[0]: ski is not 20 octets of hex",
            ),
            (
                format!(r#"{{"asn": 1, "ski": 5, "pubkey": "{SPKI_B64}"}}"#),
                "bgpsec_keys[0]: ski is a number",
            ),
            (
                format!(r#"{{"asn": 1, "ski": "{SKI}", "pubkey": "not base64!"}}"#),
                "bgpsec_keys[0]: pubkey is not base64 (",
            ),
            (
                format!(r#"{{"asn": 1, "ski": "{SKI}", "pubkey": "MFkw="}}"#),
                "bgpsec_keys[0]: pubkey is not base64 (",
            ),
            (
                format!(r#"{{"asn": 1, "ski": "{SKI}", "pubkey": "MFkw+_=="}}"#),
                "bgpsec_keys[0]: pubkey is not base64 (",
            ),
            (
                format!(r#"{{"asn": 1, "ski": "{SKI}", "pubkey": ""}}"#),
                "bgpsec_keys[0]: pubkey is empty",
            ),
            (
                // Three octets 01 02 03.
                format!(r#"{{"asn": 1, "ski": "{SKI}", "pubkey": "AQID"}}"#),
                "bgpsec_keys[0]: pubkey is not a DER SEQUENCE: tag 0x01",
            ),
            (
                // SEQUENCE of 89 octets cut short.
                format!(r#"{{"asn": 1, "ski": "{SKI}", "pubkey": "{}"}}"#, &SPKI_B64[..116]),
                "bgpsec_keys[0]: pubkey is not a DER SEQUENCE: length octets say 89 octets, 85 follow",
            ),
            (
                format!(r#"{{"asn": 1, "ski": "{SKI}"}}"#),
                "bgpsec_keys[0]: pubkey is missing",
            ),
            (
                format!(r#"{{"ski": "{SKI}", "pubkey": "{SPKI_B64}"}}"#),
                "bgpsec_keys[0]: asn is missing",
            ),
            (
                format!(r#"{{"asn": "AS4294967296", "ski": "{SKI}", "pubkey": "{SPKI_B64}"}}"#),
                "bgpsec_keys[0]: asn 4294967296 out of range",
            ),
        ];
        for (item, want) in cases {
            let got = one_bad("bgpsec_keys", &item);
            assert!(got.starts_with(want), "{item}: {got}");
        }
        let got = one_bad(
            "routerKeys",
            &format!(r#"{{"asn": 1, "SKI": "{SKI}", "routerPublicKey": "%%"}}"#),
        );
        assert!(
            got.starts_with("routerKeys[0]: routerPublicKey is not base64 ("),
            "{got}"
        );
    }

    #[test]
    fn named_formats_pin_the_key_encoding() {
        let (p, rej) = read_as(fixture!("rpki-client.json"), Format::Routinator);
        assert!(p.router_keys.is_empty());
        assert_eq!(rej.count, 2);
        assert!(
            rej.first[0].starts_with("bgpsec_keys[0]: pubkey is not unpadded base64url ("),
            "{:?}",
            rej.first
        );
        let (p, rej) = read_as(fixture!("routinator.json"), Format::RpkiClient);
        assert!(p.router_keys.is_empty());
        assert!(
            rej.first[0].starts_with("routerKeys[0]: routerPublicKey is not padded base64 ("),
            "{:?}",
            rej.first
        );
        // Unpadded base64 is fine for auto, not for rpki-client.
        let text = format!(
            r#"{{"bgpsec_keys": [{{"asn": 1, "ski": "{SKI}", "pubkey": "{}"}}]}}"#,
            SPKI_B64.trim_end_matches('=')
        );
        assert_eq!(
            read_as(text.as_bytes(), Format::Auto).0.router_keys.len(),
            1
        );
        assert_eq!(
            read_as(text.as_bytes(), Format::Rtrtr).0.router_keys.len(),
            1
        );
        assert_eq!(read_as(text.as_bytes(), Format::RpkiClient).1.count, 1);
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
                r#"{"customer_asid": 5, "providers": [1, 4294967296, "x"]}"#,
                "aspas[0]: providers[1]: provider 4294967296 out of range for AS5",
            ),
            (
                r#"{"customer_asid": 5, "providers": [{"provider_asid": 7}]}"#,
                "aspas[0]: providers[0]: provider is an object for AS5",
            ),
            (
                r#"{"customer_asid": 5, "providers": [6, 5]}"#,
                "aspas[0]: customer AS5 listed as its own provider",
            ),
            (
                r#"{"customer_asid": 0, "providers": [6]}"#,
                "aspas[0]: customer AS0 is not allowed",
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
            (
                r#"{"customer": 5, "providers": [1], "expires": "soon"}"#,
                "aspas[0]: expires is a string",
            ),
            ("true", "aspas[0]: item is a boolean, not an object"),
        ];
        for (item, want) in cases {
            assert_eq!(one_bad("aspas", item), want, "{item}");
        }
        let (p, rej) = read_str(
            r#"{"provider_authorizations": {
                "ipv4": [ { "customer_asid": 5, "providers": [ 7 ] } ],
                "ipv6": [ { "customer_asid": 5, "providers": [ 0 ] }, { "customer_asid": 6, "providers": [] } ],
                "ipv8": 17
            }}"#,
        );
        assert_eq!(p.aspas, [always(aspa(5, &[7])), always(aspa(5, &[0]))]);
        assert_eq!(
            rej.first,
            ["provider_authorizations.ipv6[1]: empty providers for AS6"]
        );
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
        let (p, rej) = read_str(&format!(r#"{{"roas": [{}]}}"#, roas.join(",")));
        assert_eq!(p.vrps.len(), 30);
        assert_eq!(rej.count, 60);
        assert_eq!(rej.first.len(), FIRST_REASONS);
        assert_eq!(rej.first[0], "roas[1]: host bits set in 10.0.0.1/16");
        assert_eq!(rej.first[1], "roas[2]: item is a string, not an object");
        assert_eq!(rej.first[9], "roas[14]: item is a string, not an object");
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

    //--- Bad files

    #[test]
    fn whole_file_errors() {
        let err = |bytes: &[u8]| read(bytes, Format::Auto).unwrap_err();

        let e = err(b"{\n\t\"roas\": [\n\t\t{ \"asn\": 1, \"prefix\": \"10.0.0.0/8\", \"maxLength\": 8 },\n\t\t{ \"asn\": 2, \"pre");
        assert_eq!((e.line, e.column), (4, Some(18)));
        assert_eq!(
            e.to_string(),
            "line 4, column 18: EOF while parsing a string"
        );

        let e = err(b"{\"roas\": [");
        assert_eq!(e.to_string(), "line 1, column 10: EOF while parsing a list");

        assert_eq!(err(b"").to_string(), "line 1: empty file");

        let e = err(b"{\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe");
        assert_eq!(e.line, 1);
        assert!(e.reason.starts_with("key must be a string"), "{e}");

        let e = err(b"[ { \"asn\": 1 } ]");
        assert_eq!(e.line, 1);
        assert!(
            e.reason
                .starts_with("invalid type: sequence, expected a JSON object"),
            "{e}"
        );

        let e = err(b"{\"metadata\": {},\n \"roas\": {\"asn\": 1}}");
        assert_eq!((e.line, e.column), (2, Some(10)));
        assert_eq!(e.reason, "invalid type: map, expected an array for roas");

        let e = err(b"{\"aspas\": null}");
        assert_eq!(e.reason, "invalid type: null, expected an array for aspas");

        let e = err(b"{\"routerKeys\": \"none\"}");
        assert!(e.reason.contains("an array for routerKeys"), "{e}");

        let e = err(b"{\"provider_authorizations\": []}");
        assert!(
            e.reason.contains("an object with ipv4 and ipv6 arrays"),
            "{e}"
        );

        let e = err(b"{\"provider_authorizations\": {\"ipv6\": {}}}");
        assert!(
            e.reason
                .contains("an array for provider_authorizations.ipv6"),
            "{e}"
        );

        let e = err(b"{\"roas\": [], \"roas\": []}");
        assert_eq!(e.reason, "duplicate field `roas`");

        let e = err(b"{\"roas\": []} {}");
        assert_eq!(e.reason, "trailing characters");

        let e = err(b"{\"roas\": [{\"asn\": 1, \"prefix\": \"10.0.0.0/8\",}]}");
        assert_eq!(e.reason, "trailing comma");

        // Not UTF-8 inside a string.
        let e = err(b"{\"roas\": [{\"asn\": 1, \"prefix\": \"\xff\", \"maxLength\": 8}]}");
        assert_eq!(
            e.to_string(),
            "line 1, column 33: invalid unicode code point"
        );

        // Deep nesting is skipped without recursion.
        let mut deep = b"{\"x\": ".to_vec();
        deep.extend(std::iter::repeat_n(b'[', 100_000));
        let e = err(&deep);
        assert_eq!(e.reason, "EOF while parsing a list");
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let item = format!(r#"{{"asn": {deep}, "prefix": "10.0.0.0/8", "maxLength": 8}}"#);
        assert_eq!(one_bad("roas", &item), "roas[0]: asn is a list");
    }

    #[test]
    fn read_error_mid_file() {
        struct Cut(&'static [u8]);
        impl Read for Cut {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Err(std::io::Error::other("device gone"));
                }
                let n = self.0.len().min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let e = read(Cut(b"{\"roas\": ["), Format::Auto).unwrap_err();
        assert_eq!(e.to_string(), "line 1, column 10: read error: device gone");
        let e = read(Cut(b"ASN,IP Prefix,Max Length\n"), Format::Auto).unwrap_err();
        assert_eq!(
            (e.line, e.to_string().as_str()),
            (0, "read error: device gone")
        );
    }
}
