//! Reader for the JSON payload files of the validators in the field, one
//! lenient reader for all of them. Runs in the validator process
//! (unprivileged, chrooted, sandboxed), and in rovctl, which reads files
//! with it for `rovctl diff`: it reads from a stream it is handed and
//! touches no file, socket or privilege.
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
//! The file is streamed through `serde_json`: each element of a known array
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
        // The vectors grow with what arrives: a count the file announces
        // (rpki-client's metadata has one) sizes nothing.
        let out = self.out;
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
                    f.max_length = Some(map.next_value_seed(scalar(|v| uint(v, "maxLength")))?);
                }
                FieldKey::Expires => {
                    f.expires = Some(map.next_value_seed(scalar(|v| uint(v, "expires")))?);
                }
                FieldKey::Ski(name) => f.ski = Some(map.next_value_seed(scalar(|v| ski(v, name)))?),
                FieldKey::Pubkey(name) => {
                    f.pubkey = Some(map.next_value_seed(scalar(|v| pubkey(v, name, keys)))?);
                }
                FieldKey::CustomerAsid => {
                    f.customer_asid =
                        Some(map.next_value_seed(scalar(|v| asn(v, "customer_asid")))?);
                }
                FieldKey::Customer => {
                    f.customer = Some(map.next_value_seed(scalar(|v| asn(v, "customer")))?);
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

impl<F, R> Judge<'_> for Scalar<F>
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

#[cfg(test)]
mod tests;
