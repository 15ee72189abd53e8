//! Reading rovd.conf: the file's permissions, the TOML text deserialised
//! into the model, and the rules no single type expresses. An error in
//! the text names the line of the key at fault, from the spans the TOML
//! parser keeps. Runs in the parent only: as root at start-up (and for
//! `rovd -n`), unprivileged on SIGHUP.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use toml_edit::{ImDocument, Item};

use super::{Config, ConfigError, Keys};

/// The most of a configuration or key file read: far more than any needs.
const MAX_TEXT: u64 = 1 << 20;

/// The text of a configuration file, at most [`MAX_TEXT`] octets.
fn read_text(path: &Path) -> Result<String, ConfigError> {
    let err = |reason: String| ConfigError {
        file: path.into(),
        line: None,
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_TEXT), &mut text)
        .map_err(|e| err(e.to_string()))?;
    Ok(text)
}

impl Config {
    /// Read, parse and check a configuration file, and read the TCP keys
    /// from its key file: at start-up, as root, and for `rovd -n`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let path = &std::path::absolute(path).unwrap_or_else(|_| path.into());
        let text = read_text(path)?;
        let mut config = Self::parse(path, &text)?;
        if let Some(key_file) = &config.key_file {
            let keys = Keys::load(key_file)?;
            config.tcp_md5 = keys.tcp_md5;
            config.tcp_ao = keys.tcp_ao;
        }
        Ok(config)
    }

    /// Read, parse and check a configuration file again (SIGHUP, as the
    /// unprivileged user, who cannot read the key file): the keys are the
    /// ones `running` read at start-up, which a reload cannot change.
    pub fn load_again(path: &Path, running: &Config) -> Result<Config, ConfigError> {
        let text = read_text(path)?;
        let mut config = Self::parse(path, &text)?;
        config.tcp_md5.clone_from(&running.tcp_md5);
        config.tcp_ao.clone_from(&running.tcp_ao);
        Ok(config)
    }

    /// Parse and check configuration text that came from `path`. An error
    /// names the line of the key at fault.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let err = |span: Option<Range<usize>>, reason: String| ConfigError {
            file: path.into(),
            line: span.map(|s| line_at(text, s.start)),
            reason,
        };
        // One parse: the model is deserialised from the document, and the
        // rules find the lines of the keys they name in it.
        let doc = ImDocument::parse(text).map_err(|e| err(e.span(), e.message().into()))?;
        for table in ["tcp-md5", "tcp-ao"] {
            if let Some(item) = doc.get(table) {
                let span = item.get(0).and_then(|t| t.get("peer")).and_then(Item::span);
                return Err(err(
                    span.or_else(|| item.span()),
                    format!(
                        "{table}: keys go in the key file (key-file), which only root \
                         can read, not in the configuration"
                    ),
                ));
            }
        }
        let mut config = Config::deserialize(toml_edit::de::Deserializer::from(doc.clone()))
            .map_err(|e| err(e.span(), e.message().into()))?;
        config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        config
            .check(&doc)
            .map_err(|(span, reason)| err(span, reason))?;
        Ok(config)
    }

    /// Take relative paths relative to `base`, the directory of the
    /// configuration file.
    fn resolve_paths(&mut self, base: &Path) {
        let sources = self.sources.iter_mut().flat_map(|s| {
            s.path
                .iter_mut()
                .chain(s.ca_file.iter_mut())
                .chain(s.client_certificate.iter_mut())
                .chain(s.client_key.iter_mut())
        });
        let slurm = self.slurm.iter_mut().map(|s| &mut s.path);
        let tls = self.tls.iter_mut().flat_map(|t| {
            [&mut t.certificate, &mut t.key]
                .into_iter()
                .chain(t.client_ca.as_mut())
        });
        let keys = self.key_file.iter_mut();
        let control = std::iter::once(&mut self.control).filter(|p| !p.as_os_str().is_empty());
        for path in sources.chain(slurm).chain(tls).chain(keys).chain(control) {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    /// The rules for values the types admit but rovd does not; a broken
    /// rule comes with the span in `doc` of the value at fault.
    fn check(&self, doc: &ImDocument<&str>) -> Result<(), (Option<Range<usize>>, String)> {
        let rule = |holds: bool, key: KeyPath, reason: &str| {
            if holds {
                Ok(())
            } else {
                Err((key.span(doc), reason.to_string()))
            }
        };
        rule(
            !self.user.is_empty() && self.user != "root",
            KeyPath::Top("user"),
            "user must name an unprivileged user",
        )?;
        rule(
            self.chroot.is_absolute(),
            KeyPath::Top("chroot"),
            "chroot must be an absolute path",
        )?;
        self.check_sources(doc)?;
        let r = &self.rtr;
        let rtr = |key| KeyPath::In("rtr", key);
        let listeners = self.listen_addrs().len() + self.tls_listen_addrs().len();
        rule(
            listeners <= super::MAX_LISTENERS,
            if r.listen.len() > super::MAX_LISTENERS {
                rtr("listen")
            } else {
                KeyPath::In("tls", "listen")
            },
            &format!("at most {} RTR listen addresses", super::MAX_LISTENERS),
        )?;
        rule(
            self.http.listen.len() <= super::MAX_LISTENERS,
            KeyPath::In("http", "listen"),
            &format!("at most {} HTTP listen addresses", super::MAX_LISTENERS),
        )?;
        rule(
            r.max_version <= 2,
            rtr("max-version"),
            "max-version must be 0, 1 or 2",
        )?;
        // 8210bis-27 §6: ranges, and expire larger than refresh and retry.
        rule(
            (1..=86_400).contains(&r.refresh),
            rtr("refresh"),
            "refresh must be 1 to 86400 seconds",
        )?;
        rule(
            (1..=7_200).contains(&r.retry),
            rtr("retry"),
            "retry must be 1 to 7200 seconds",
        )?;
        rule(
            (600..=172_800).contains(&r.expire),
            rtr("expire"),
            "expire must be 600 to 172800 seconds",
        )?;
        if r.expire <= r.refresh || r.expire <= r.retry {
            // With expire left at its default, the timer that reaches it
            // is the key at fault.
            let reaches = if r.expire <= r.refresh {
                "refresh"
            } else {
                "retry"
            };
            let span = rtr("expire").span(doc).or_else(|| rtr(reaches).span(doc));
            return Err((span, "expire must be larger than refresh and retry".into()));
        }
        rule(
            (1..=1000).contains(&r.history),
            rtr("history"),
            "history must be 1 to 1000",
        )?;
        rule(
            r.max_sessions > 0,
            rtr("max-sessions"),
            "max-sessions must be positive",
        )?;
        rule(
            (1..=r.max_sessions).contains(&r.max_sessions_per_address),
            rtr("max-sessions-per-address"),
            "max-sessions-per-address must be 1 to max-sessions",
        )?;
        rule(
            (1..=3600).contains(&r.query_timeout),
            rtr("query-timeout"),
            "query-timeout must be 1 to 3600 seconds",
        )?;
        Ok(())
    }

    /// The rules across `[[source]]` tables, and each table's own.
    fn check_sources(&self, doc: &ImDocument<&str>) -> Result<(), Broken> {
        let rule = |holds: bool, key: KeyPath, reason: &str| {
            if holds {
                Ok(())
            } else {
                Err((key.span(doc), reason.to_string()))
            }
        };
        for (i, source) in self.sources.iter().enumerate() {
            rule(
                source.max_drop <= 100,
                KeyPath::Nth("source", i, "max-drop"),
                "max-drop must be 0 to 100",
            )?;
            source.check(doc, i)?;
            let upstreams = self.sources[..=i]
                .iter()
                .map(|s| s.url.len())
                .sum::<usize>();
            rule(
                upstreams <= super::MAX_UPSTREAMS,
                KeyPath::Nth("source", i, "url"),
                &format!("at most {} upstream urls", super::MAX_UPSTREAMS),
            )?;
            for u in &source.url {
                let before = self.sources[..i].iter().flat_map(|s| &s.url);
                if before.clone().any(|b| b == u) {
                    return Err((
                        KeyPath::Nth("source", i, "url").span(doc),
                        format!("url {u} is in two sources"),
                    ));
                }
            }
        }
        Ok(())
    }
}

//------------ Sources -------------------------------------------------------

/// A broken rule: the span of the value at fault, and why.
type Broken = (Option<Range<usize>>, String);

impl super::Source {
    /// The rules of one `[[source]]` table, the `i`-th: a file or upstreams,
    /// and only the keys that kind uses.
    fn check(&self, doc: &ImDocument<&str>, i: usize) -> Result<(), Broken> {
        let at = |key| KeyPath::Nth("source", i, key).span(doc);
        let table = doc
            .get("source")
            .and_then(|t| t.get(i))
            .and_then(Item::as_table_like);
        let given = |key: &str| table.is_some_and(|t| t.contains_key(key));
        match (&self.path, self.url.as_slice()) {
            (Some(_), [_, ..]) => Err((at("url"), "a source has a path or a url, not both".into())),
            (None, []) => {
                let span = doc
                    .get("source")
                    .and_then(|t| t.get(i))
                    .and_then(Item::span);
                Err((span, "a source needs a path or a url".into()))
            }
            (Some(path), []) => {
                if path.file_name().is_none() {
                    let path = path.display();
                    return Err((
                        at("path"),
                        format!("source path {path} does not name a file"),
                    ));
                }
                match UPSTREAM_KEYS.into_iter().find(|key| given(key)) {
                    Some(key) => Err((at(key), format!("{key} is for sources with a url"))),
                    None => Ok(()),
                }
            }
            (None, upstreams) => self.check_upstreams(upstreams, &at, &given),
        }
    }

    /// The rules of a source with upstreams: keys for the kinds it has,
    /// values in range.
    fn check_upstreams(
        &self,
        upstreams: &[super::Upstream],
        at: &dyn Fn(&'static str) -> Option<Range<usize>>,
        given: &dyn Fn(&str) -> bool,
    ) -> Result<(), Broken> {
        let rtr = upstreams.iter().any(|u| u.scheme.is_rtr());
        let http = upstreams.iter().any(|u| !u.scheme.is_rtr());
        let tls = upstreams.iter().any(|u| u.scheme.is_tls());
        let kinds = [
            ("poll-interval", http, "http and https"),
            ("max-size", http, "http and https"),
            ("format", http, "http and https"),
            ("ca-file", tls, "rtr+tls and https"),
            ("client-certificate", tls, "rtr+tls and https"),
            ("client-key", tls, "rtr+tls and https"),
            ("min-refresh", rtr, "rtr and rtr+tls"),
            ("max-refresh", rtr, "rtr and rtr+tls"),
            ("min-retry", rtr, "rtr and rtr+tls"),
            ("max-retry", rtr, "rtr and rtr+tls"),
            ("min-expire", rtr, "rtr and rtr+tls"),
            ("max-expire", rtr, "rtr and rtr+tls"),
        ];
        if let Some((key, _, what)) = kinds.iter().find(|(k, applies, _)| given(k) && !applies) {
            return Err((at(key), format!("{key} is for {what} upstreams")));
        }
        if self.client_certificate.is_some() != self.client_key.is_some() {
            let key = if self.client_key.is_none() {
                "client-certificate"
            } else {
                "client-key"
            };
            return Err((
                at(key),
                "client-certificate and client-key go together".into(),
            ));
        }
        let ranges = [
            ("poll-interval", self.poll_interval, 10, 86_400),
            ("connect-timeout", self.connect_timeout, 1, 300),
            ("timeout", self.timeout, 1, 3600),
        ];
        for (key, value, lo, hi) in ranges {
            if !(lo..=hi).contains(&value) {
                return Err((at(key), format!("{key} must be {lo} to {hi} seconds")));
            }
        }
        if self.max_size < 1024 {
            return Err((
                at("max-size"),
                "max-size must be at least 1024 octets".into(),
            ));
        }
        let bounds = [
            (
                "min-refresh",
                "max-refresh",
                self.min_refresh,
                self.max_refresh,
            ),
            ("min-retry", "max-retry", self.min_retry, self.max_retry),
            ("min-expire", "max-expire", self.min_expire, self.max_expire),
        ];
        for (min, max, lo, hi) in bounds {
            if lo == 0 || lo > hi {
                return Err((at(min), format!("{min} must be positive and at most {max}")));
            }
        }
        Ok(())
    }
}

/// The keys only sources with a url have.
const UPSTREAM_KEYS: [&str; 13] = [
    "poll-interval",
    "connect-timeout",
    "timeout",
    "max-size",
    "ca-file",
    "client-certificate",
    "client-key",
    "min-refresh",
    "max-refresh",
    "min-retry",
    "max-retry",
    "min-expire",
    "max-expire",
];

/// Deserialise a source's `url`: in the file a string or an array of
/// strings, each parsed where the TOML parser still has its span; over IPC
/// the list as serde encodes it.
pub(super) fn upstreams<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<super::Upstream>, D::Error> {
    if !d.is_human_readable() {
        return Vec::deserialize(d);
    }
    d.deserialize_any(UpstreamsText)
}

struct UpstreamsText;

impl<'de> Visitor<'de> for UpstreamsText {
    type Value = Vec<super::Upstream>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a URL or an array of URLs")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        super::Upstream::parse(s)
            .map(|u| vec![u])
            .map_err(E::custom)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut all = Vec::new();
        while let Some(UpstreamText(u)) = seq.next_element()? {
            if all.contains(&u) {
                return Err(de::Error::custom(format!("url {u} is in the group twice")));
            }
            all.push(u);
        }
        if all.is_empty() {
            return Err(de::Error::custom("url: an empty group"));
        }
        Ok(all)
    }
}

/// One URL of a group, parsed in its own visitor for its own span.
struct UpstreamText(super::Upstream);

impl<'de> Deserialize<'de> for UpstreamText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct One;
        impl Visitor<'_> for One {
            type Value = UpstreamText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a URL")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<UpstreamText, E> {
                super::Upstream::parse(s)
                    .map(UpstreamText)
                    .map_err(E::custom)
            }
        }
        d.deserialize_str(One)
    }
}

//------------ Keys ----------------------------------------------------------

impl Keys {
    /// Read and check the key file: it must be a regular file readable by
    /// its owner only, and that owner root or the user reading it.
    pub fn load(path: &Path) -> Result<Keys, ConfigError> {
        use std::os::unix::fs::MetadataExt;

        let err = |reason: String| ConfigError {
            file: path.into(),
            line: None,
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
        let meta = file.metadata().map_err(|e| err(e.to_string()))?;
        let me = nix::unistd::geteuid().as_raw();
        if !meta.is_file() {
            return Err(err("not a regular file".into()));
        }
        if meta.uid() != 0 && meta.uid() != me {
            return Err(err(format!(
                "owned by uid {}; the key file must belong to root",
                meta.uid()
            )));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(err(format!(
                "mode {:04o}: the key file must be readable by its owner only \
                 (chmod 600 {})",
                meta.mode() & 0o7777,
                path.display()
            )));
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_TEXT), &mut text)
            .map_err(|e| err(e.to_string()))?;
        Keys::parse(path, &text)
    }

    /// Parse and check key file text that came from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Keys, ConfigError> {
        let err = |span: Option<Range<usize>>, reason: String| ConfigError {
            file: path.into(),
            line: span.map(|s| line_at(text, s.start)),
            reason,
        };
        let doc = ImDocument::parse(text).map_err(|e| err(e.span(), e.message().into()))?;
        let keys = Keys::deserialize(toml_edit::de::Deserializer::from(doc.clone()))
            .map_err(|e| err(e.span(), e.message().into()))?;
        keys.check()
            .map_err(|(key, reason)| err(key.span(&doc), reason))?;
        Ok(keys)
    }

    /// The rules for `[[tcp-md5]]` and `[[tcp-ao]]`; a failure names the
    /// peer of the table at fault, the later one where two disagree.
    fn check(&self) -> Result<(), (KeyPath, String)> {
        let max = privsep::tcpsig::MAX_KEY_LEN;
        let md5 = |i| KeyPath::Nth("tcp-md5", i, "peer");
        let ao = |i| KeyPath::Nth("tcp-ao", i, "peer");
        let keys = self
            .tcp_md5
            .iter()
            .enumerate()
            .map(|(i, k)| (&k.peer, &k.key, "tcp-md5", md5(i)))
            .chain(
                self.tcp_ao
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (&k.peer, &k.key, "tcp-ao", ao(i))),
            );
        for (peer, key, table, at) in keys {
            if key.octets().is_empty() || key.octets().len() > max {
                return Err((
                    at,
                    format!(
                        "{table} key for {peer} is {} octets; it must be 1 to {max}",
                        key.octets().len()
                    ),
                ));
            }
        }
        // The kernel would silently keep only the last of two keys for one
        // prefix. Different prefixes may nest: the longest match wins.
        for (i, a) in self.tcp_md5.iter().enumerate() {
            if self.tcp_md5[..i].iter().any(|b| b.peer == a.peer) {
                return Err((md5(i), format!("tcp-md5: a second key for peer {}", a.peer)));
            }
        }
        // Several master key tuples for one peer are how TCP-AO changes
        // keys, but a KeyID picks one tuple per direction (RFC 5925 §4.1).
        for (i, a) in self.tcp_ao.iter().enumerate() {
            if let Some(b) = self.tcp_ao[..i]
                .iter()
                .find(|b| b.peer == a.peer && (b.send_id == a.send_id || b.recv_id == a.recv_id))
            {
                let which = if b.send_id == a.send_id {
                    format!("send-id {}", a.send_id)
                } else {
                    format!("recv-id {}", a.recv_id)
                };
                return Err((
                    ao(i),
                    format!("tcp-ao: two keys for peer {} with {which}", a.peer),
                ));
            }
        }
        // A connection uses TCP-AO or TCP-MD5, never both (RFC 5925,
        // Abstract and §9); Linux refuses keys of both kinds for one peer.
        for (i, a) in self.tcp_ao.iter().enumerate() {
            if let Some(md5) = self.tcp_md5.iter().find(|m| m.peer.overlaps(&a.peer)) {
                return Err((
                    ao(i),
                    format!(
                        "peer {} has a tcp-ao key, and tcp-md5 peer {} covers some of \
                         the same addresses: a connection uses one or the other",
                        a.peer, md5.peer
                    ),
                ));
            }
        }
        Ok(())
    }
}

//------------ KeyPath -------------------------------------------------------

/// A key a rule names, to find its line in the parsed document.
#[derive(Clone, Copy)]
enum KeyPath {
    /// A top-level key.
    Top(&'static str),
    /// A key of a table: `In("rtr", "expire")`.
    In(&'static str, &'static str),
    /// A key of the n-th table of an array of tables, counted from 0:
    /// `Nth("tcp-md5", 2, "peer")`.
    Nth(&'static str, usize, &'static str),
}

impl KeyPath {
    /// The span of the key's value, if the file sets it.
    fn span(self, doc: &ImDocument<&str>) -> Option<Range<usize>> {
        let item = match self {
            KeyPath::Top(key) => doc.get(key),
            KeyPath::In(table, key) => doc.get(table).and_then(|t| t.get(key)),
            KeyPath::Nth(tables, n, key) => doc
                .get(tables)
                .and_then(|t| t.get(n))
                .and_then(|t| t.get(key)),
        };
        item.and_then(Item::span)
    }
}

/// The line, counted from 1, of the octet at `offset` in `text`.
fn line_at(text: &str, offset: usize) -> usize {
    let before = &text.as_bytes()[..offset.min(text.len())];
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

//------------ Listen addresses ----------------------------------------------

/// Deserialise `[rtr] listen` and `[tls] listen`. In the file each address
/// is an `ADDRESS:PORT` string, and a bad one is an error at its own line;
/// over IPC (bincode, which is not human-readable) they travel as serde
/// encodes a `SocketAddr`.
pub(super) fn listen<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    if !d.is_human_readable() {
        return Vec::deserialize(d);
    }
    let addrs: Vec<ListenAddr> = Vec::deserialize(d)?;
    Ok(addrs.into_iter().map(|a| a.0).collect())
}

/// One address of a `listen` key, as written in the file.
struct ListenAddr(SocketAddr);

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Parsed in the visitor, while the TOML deserializer still holds
        // the string: that gives the error the string's span.
        d.deserialize_str(ListenAddrText)
    }
}

struct ListenAddrText;

impl Visitor<'_> for ListenAddrText {
    type Value = ListenAddr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ADDRESS:PORT")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<ListenAddr, E> {
        s.parse()
            .map(ListenAddr)
            .map_err(|_| E::custom(format!("listen: \"{s}\" is not ADDRESS:PORT")))
    }
}
