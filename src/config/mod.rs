//! The rovd.conf model: every table and key with its default, and what
//! the rest of rovd asks of a configuration. The parent builds it from the
//! file ([`Config::load`], in `load.rs`): as root at start-up, unprivileged
//! on SIGHUP. The children receive the parsed `Config` over IPC, without
//! its keys, and never open the file themselves.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod load;

/// The default configuration file.
pub const DEFAULT_PATH: &str = "/etc/rovd.conf";

/// The most listen addresses of each kind (RTR, plain and TLS together;
/// HTTP): the rtr worker's event loop numbers them in ranges of its own.
pub const MAX_LISTENERS: usize = 1000;

/// The most upstream urls a configuration may name, counting every url of
/// a failover group: the fetcher's open-file limit is set for them at
/// start-up, so that a reload adding upstreams stays within it.
pub const MAX_UPSTREAMS: usize = 256;

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Every process runs as this user after start-up.
    #[serde(default = "default_user")]
    pub user: String,
    /// The empty, root-owned directory the children chroot into.
    #[serde(default = "default_chroot")]
    pub chroot: PathBuf,
    /// What a forbidden system call does: kill the process, or only be
    /// logged by the kernel (a debug switch).
    #[serde(default)]
    pub seccomp: SeccompAction,
    /// Whether rovd may start where Landlock cannot confine the validator.
    #[serde(default)]
    pub landlock: LandlockPolicy,
    /// The file of secrets: TCP-MD5 and TCP-AO keys. Read once, by root,
    /// at start-up; a relative path is taken relative to the
    /// configuration file's directory.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The control socket `rovctl` talks to; an empty path for none. A
    /// relative path is taken relative to the configuration file's
    /// directory.
    #[serde(default = "default_control")]
    pub control: PathBuf,
    /// The `[rtr]` table.
    #[serde(default)]
    pub rtr: Rtr,
    /// The `[http]` table: metrics, health, status and the data over HTTP.
    #[serde(default)]
    pub http: Http,
    /// RTR over TLS; no TLS listener without this table.
    #[serde(default)]
    pub tls: Option<Tls>,
    /// The `[[source]]` tables, in the file's order.
    #[serde(default, rename = "source")]
    pub sources: Vec<Source>,
    /// The `[[slurm]]` tables, in the file's order.
    #[serde(default)]
    pub slurm: Vec<Slurm>,
    /// TCP-MD5 keys of router peers (RFC 2385), from the key file: a
    /// `[[tcp-md5]]` table in the configuration itself is refused. Never
    /// serialised: keys do not cross the IPC boundary.
    #[serde(skip)]
    pub tcp_md5: Vec<TcpMd5>,
    /// TCP-AO master key tuples of router peers (RFC 5925), from the key
    /// file; never serialised.
    #[serde(skip)]
    pub tcp_ao: Vec<TcpAo>,
}

/// The `landlock` key: what to do where Landlock cannot confine the
/// validator, whose source directory descriptors reach outside its chroot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LandlockPolicy {
    /// Refuse to start.
    #[default]
    Required,
    /// Start anyway, with a warning: the validator is then confined by its
    /// user, seccomp and resource limits only.
    BestEffort,
}

/// The key file: the TCP-MD5 and TCP-AO keys, kept out of the
/// configuration, which the unprivileged parent must be able to re-read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Keys {
    /// `[[tcp-md5]]` tables.
    #[serde(default)]
    pub tcp_md5: Vec<TcpMd5>,
    /// `[[tcp-ao]]` tables.
    #[serde(default)]
    pub tcp_ao: Vec<TcpAo>,
}

fn default_control() -> PathBuf {
    "/var/run/rovd.sock".into()
}

/// The `[http]` table: an HTTP listener for Prometheus, load balancers,
/// service managers, browsers and caches that take rovd's data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Http {
    /// Addresses to listen on, `ADDR:PORT` (IPv6 in brackets); none, the
    /// default, turns HTTP off.
    #[serde(default, deserialize_with = "load::listen")]
    pub listen: Vec<SocketAddr>,
}

fn default_user() -> String {
    "_rovd".into()
}

fn default_chroot() -> PathBuf {
    "/var/empty".into()
}

/// The `seccomp` key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeccompAction {
    /// A forbidden system call kills the process.
    #[default]
    Kill,
    /// A forbidden system call is logged by the kernel and allowed.
    Log,
}

/// The `[rtr]` table: how routers are served.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Rtr {
    /// Addresses to listen on, `ADDR:PORT` in the file (IPv6 in
    /// brackets).
    #[serde(deserialize_with = "load::listen")]
    pub listen: Vec<SocketAddr>,
    /// Highest RTR version offered: 0, 1 or 2.
    pub max_version: u8,
    /// End of Data Refresh Interval, seconds (8210bis-27 §6).
    pub refresh: u32,
    /// End of Data Retry Interval, seconds (8210bis-27 §6).
    pub retry: u32,
    /// End of Data Expire Interval, seconds (8210bis-27 §6).
    pub expire: u32,
    /// Number of serials kept for incremental Serial Query answers.
    pub history: usize,
    /// Minimum seconds between two Serial Notify PDUs to one session.
    pub notify_interval: u32,
    /// Most router sessions served at once.
    pub max_sessions: usize,
    /// Most sessions from one source address: a host cannot take the
    /// whole table.
    pub max_sessions_per_address: usize,
    /// Seconds a new connection has to send its first query, TLS
    /// handshake included.
    pub query_timeout: u32,
}

impl Default for Rtr {
    fn default() -> Self {
        Rtr {
            listen: vec![
                SocketAddr::from((Ipv6Addr::UNSPECIFIED, 323)),
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, 323)),
            ],
            max_version: 2,
            refresh: 3600,
            retry: 600,
            expire: 7200,
            history: 10,
            notify_interval: 60,
            max_sessions: 10_000,
            max_sessions_per_address: 32,
            query_timeout: 30,
        }
    }
}

/// The `[tls]` table: RTR over TLS (RFC 8210 §9, 8210bis-27 §9).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Tls {
    /// Addresses to listen on for TLS, `ADDR:PORT` in the file (IPv6 in
    /// brackets).
    #[serde(default = "default_tls_listen", deserialize_with = "load::listen")]
    pub listen: Vec<SocketAddr>,
    /// The server's certificate chain, PEM, end-entity certificate first.
    pub certificate: PathBuf,
    /// The certificate's private key, PEM (PKCS#8, RSA or SEC1).
    pub key: PathBuf,
    /// Certificate authorities, PEM: when set, routers must present a
    /// certificate issued under one of them.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// With `client-ca`: whether a router's certificate must name the
    /// address it connects from as an iPAddress subjectAltName
    /// (8210bis-27 §9.2).
    #[serde(default = "default_check_client_address")]
    pub check_client_address: bool,
}

fn default_check_client_address() -> bool {
    true
}

fn default_tls_listen() -> Vec<SocketAddr> {
    vec![
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 324)),
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 324)),
    ]
}

impl Tls {
    /// The files named by the table, each once, in order: certificate,
    /// key, client CA.
    pub fn files(&self) -> Vec<&Path> {
        let mut files = vec![self.certificate.as_path(), self.key.as_path()];
        files.extend(self.client_ca.as_deref());
        files
    }

    /// Read the certificate, key and client CA files. An error names the
    /// file.
    pub fn read_files(&self) -> Result<TlsFiles, ConfigError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| ConfigError {
                file: path.into(),
                line: None,
                reason: e.to_string(),
            })
        };
        Ok(TlsFiles {
            certificate: read(&self.certificate)?,
            key: read(&self.key)?,
            client_ca: self.client_ca.as_deref().map(read).transpose()?,
            check_client_address: self.check_client_address,
        })
    }
}

/// The contents of the `[tls]` files, as read by the parent and handed to
/// the rtr worker, which never opens a file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFiles {
    /// The `certificate` file: the chain, PEM.
    pub certificate: Vec<u8>,
    /// The `key` file: the private key, PEM.
    pub key: Vec<u8>,
    /// The `client-ca` file, if set: the authorities of router
    /// certificates, PEM.
    pub client_ca: Option<Vec<u8>>,
    /// See [`Tls::check_client_address`].
    pub check_client_address: bool,
}

impl fmt::Debug for TlsFiles {
    // Never a private key in a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TlsFiles {{ certificate: {} octets, key: (hidden), client_ca: {:?}, \
             check_client_address: {} }}",
            self.certificate.len(),
            self.client_ca.as_ref().map(Vec::len),
            self.check_client_address
        )
    }
}

/// One `[[source]]` table: a file of validated payloads, or upstream
/// caches to fetch them from. Exactly one of `path` and `url` is set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Source {
    /// The file; a relative path is taken relative to the configuration
    /// file's directory.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The upstream: one URL, or a failover group of several, used in
    /// order of preference.
    #[serde(default, deserialize_with = "load::upstreams")]
    pub url: Vec<Upstream>,
    /// The file's format, or `auto` to recognise it (files and HTTP).
    #[serde(default = "default_format")]
    pub format: Format,
    /// Seconds after which the data counts as stale (from the time the
    /// producer wrote into the file, else the file's modification time or
    /// the last successful fetch); 0 turns the check off. For RTR
    /// upstreams, the upstream's Expire Interval takes its place.
    #[serde(default = "default_max_age")]
    pub max_age: u64,
    /// What stale data leads to.
    #[serde(default)]
    pub stale: StalePolicy,
    /// Percent of the source's payloads one update may remove before it is
    /// held back until confirmed by SIGHUP; 100 turns the guard off.
    #[serde(default = "default_max_drop")]
    pub max_drop: u8,
    /// HTTP(S): seconds between two fetches.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: u32,
    /// Seconds a connection to an upstream may take to be established
    /// (and its TLS handshake to complete).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: u32,
    /// HTTP(S): seconds one fetch may take in all. RTR: seconds an
    /// upstream may stay silent while an answer is due.
    #[serde(default = "default_fetch_timeout")]
    pub timeout: u32,
    /// HTTP(S): the largest body taken, in octets after decompression.
    #[serde(default = "default_max_size")]
    pub max_size: u64,
    /// TLS: the authorities to verify the upstream's certificate against,
    /// PEM; the system's store when not set.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// TLS: a client certificate chain to present, PEM.
    #[serde(default)]
    pub client_certificate: Option<PathBuf>,
    /// TLS: its private key, PEM.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// RTR: bounds on the upstream's Refresh Interval, seconds.
    #[serde(default = "default_min_refresh")]
    pub min_refresh: u32,
    /// See `min_refresh`.
    #[serde(default = "default_max_refresh")]
    pub max_refresh: u32,
    /// RTR: bounds on the upstream's Retry Interval, seconds.
    #[serde(default = "default_min_retry")]
    pub min_retry: u32,
    /// See `min_retry`.
    #[serde(default = "default_max_retry")]
    pub max_retry: u32,
    /// RTR: bounds on the upstream's Expire Interval, seconds.
    #[serde(default = "default_min_expire")]
    pub min_expire: u32,
    /// See `min_expire`.
    #[serde(default = "default_max_expire")]
    pub max_expire: u32,
}

impl Source {
    /// The source's file, if it is one.
    pub fn file(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// How the source is named in logs: its path or its first URL.
    pub fn name(&self) -> String {
        match (&self.path, self.url.as_slice()) {
            (Some(path), _) => path.display().to_string(),
            (None, [one]) => one.to_string(),
            (None, [first, rest @ ..]) => format!("{first} (+{} in its group)", rest.len()),
            (None, []) => String::new(),
        }
    }

    /// The Refresh, Retry and Expire Intervals an RTR upstream announced
    /// (none in v0: RFC 6810 §6 suggests an hour), within the bounds.
    pub fn bounded(&self, timers: Option<crate::pdu::Timers>) -> crate::pdu::Timers {
        let t = timers.unwrap_or(crate::pdu::Timers {
            refresh: 3600,
            retry: 600,
            expire: 7200,
        });
        crate::pdu::Timers {
            refresh: t.refresh.clamp(self.min_refresh, self.max_refresh),
            retry: t.retry.clamp(self.min_retry, self.max_retry),
            expire: t.expire.clamp(self.min_expire, self.max_expire),
        }
    }
}

/// One upstream cache: where a source is fetched from. Written, and sent
/// over IPC, as its URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Upstream {
    /// How to talk to it.
    pub scheme: Scheme,
    /// The host name or address, IPv6 without brackets.
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// HTTP: the path and query; `/` for RTR.
    pub path: String,
}

/// The protocol of an upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scheme {
    /// `rtr://`: RTR over TCP, port 323 by default.
    Rtr,
    /// `rtr+tls://`: RTR over TLS, port 324 by default.
    RtrTls,
    /// `http://`: a payload file over HTTP, port 80 by default.
    Http,
    /// `https://`: a payload file over HTTPS, port 443 by default.
    Https,
}

impl Scheme {
    /// The scheme as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Rtr => "rtr",
            Scheme::RtrTls => "rtr+tls",
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port when the URL names none (RFC 6810 §7, 8210bis-27 §9).
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Rtr => 323,
            Scheme::RtrTls => 324,
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// Whether the upstream speaks RTR (else HTTP).
    pub fn is_rtr(self) -> bool {
        matches!(self, Scheme::Rtr | Scheme::RtrTls)
    }

    /// Whether the connection is TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::RtrTls | Scheme::Https)
    }
}

impl Upstream {
    /// Parse `rtr://HOST[:PORT]`, `rtr+tls://…`, `http://HOST[:PORT]/PATH`
    /// or `https://…`.
    pub fn parse(text: &str) -> Result<Upstream, String> {
        let bad = |why: &str| format!("url \"{text}\": {why}");
        let uri: http::Uri = text.parse().map_err(|e| bad(&format!("{e}")))?;
        let scheme = match uri.scheme_str() {
            Some("rtr") => Scheme::Rtr,
            Some("rtr+tls") => Scheme::RtrTls,
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            Some(other) => {
                return Err(bad(&format!(
                    "scheme {other} is not rtr, rtr+tls, http or https"
                )))
            }
            None => return Err(bad("no scheme (rtr://, rtr+tls://, http://, https://)")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user information is not supported"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let path = uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str)
            .to_string();
        if scheme.is_rtr() && path != "/" {
            return Err(bad("an RTR upstream has no path"));
        }
        // `http` takes a port it cannot read for none: read it here.
        let written = authority
            .as_str()
            .rsplit_once(':')
            .filter(|(_, p)| !p.contains(']'))
            .map(|(_, p)| p);
        let port = match written {
            None => scheme.default_port(),
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(bad(&format!("port {p} is not 1 to 65535"))),
            },
        };
        Ok(Upstream {
            scheme,
            host,
            port,
            path,
        })
    }

    /// The host and port as an HTTP `Host` header or a log names them.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl TryFrom<String> for Upstream {
    type Error = String;

    fn try_from(s: String) -> Result<Upstream, String> {
        Upstream::parse(&s)
    }
}

impl From<Upstream> for String {
    fn from(u: Upstream) -> String {
        u.to_string()
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.scheme.is_rtr() { "" } else { &self.path };
        write!(f, "{}://{}{path}", self.scheme.as_str(), self.authority())
    }
}

fn default_poll_interval() -> u32 {
    600
}

fn default_connect_timeout() -> u32 {
    10
}

fn default_fetch_timeout() -> u32 {
    120
}

fn default_max_size() -> u64 {
    512 << 20
}

fn default_min_refresh() -> u32 {
    60
}

fn default_max_refresh() -> u32 {
    3600
}

fn default_min_retry() -> u32 {
    30
}

fn default_max_retry() -> u32 {
    600
}

fn default_min_expire() -> u32 {
    600
}

fn default_max_expire() -> u32 {
    172_800
}

/// One `[[slurm]]` table: local exceptions (RFC 8416).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Slurm {
    /// A SLURM file, or a directory whose `*.json` files are all used; a
    /// relative path is taken relative to the configuration file's
    /// directory.
    pub path: PathBuf,
}

/// The `stale` key: what happens to a source whose data is older than
/// `max-age`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StalePolicy {
    /// Keep serving it, with a warning.
    #[default]
    Keep,
    /// Serve the other sources without it.
    Drop,
    /// Serve nothing: routers get No Data Available and turn to another
    /// cache.
    Stop,
}

/// What a source file holds: the configuration key `format`.
///
/// `auto` reads every JSON shape and every CSV dialect. The JSON names
/// read the same shapes but pin the encodings where producers differ (the
/// router key SPKI is base64 for `rpki-client` and `stayrtr`, unpadded
/// base64url for `routinator`); `csv` insists on CSV.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `auto`: JSON or CSV, recognised by the first octet.
    #[default]
    Auto,
    /// `rpki-client`: the JSON of `rpki-client -j`.
    RpkiClient,
    /// `stayrtr`: the `rpki.json` of StayRTR and GoRTR.
    Stayrtr,
    /// `routinator`: Routinator's `json` and `jsonext`.
    Routinator,
    /// `rtrtr`: RTRTR's `json`.
    Rtrtr,
    /// `csv`: the CSV of rpki-client, Routinator or the RIPE NCC
    /// validator, told apart by the header line.
    Csv,
}

//------------ TCP-MD5 and TCP-AO --------------------------------------------

/// One `[[tcp-md5]]` table: the TCP-MD5 key (RFC 2385) of the routers in
/// one address prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TcpMd5 {
    /// The routers this key is for.
    pub peer: Peer,
    /// The shared key.
    pub key: Secret,
}

/// One `[[tcp-ao]]` table: a TCP-AO master key tuple (RFC 5925 §4.1) of
/// the routers in one address prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TcpAo {
    /// The routers this key is for.
    pub peer: Peer,
    /// The master key (RFC 5925 §4.1).
    pub key: Secret,
    /// The KeyID rovd sends, the router's RecvID.
    pub send_id: u8,
    /// The KeyID rovd expects, the router's SendID.
    pub recv_id: u8,
    /// The MAC algorithm (RFC 5925 §4.1, RFC 5926).
    pub algorithm: AoAlgorithm,
}

/// The `algorithm` key of a `[[tcp-ao]]` table, and rovctl's
/// `--tcp-ao-algorithm`: the same names in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum AoAlgorithm {
    /// HMAC-SHA-1-96 (RFC 5926 §3.2.1).
    HmacSha1,
    /// AES-128-CMAC-96 (RFC 5926 §3.2.2).
    CmacAes128,
    /// HMAC-SHA-256 truncated to 96 bits.
    HmacSha256,
}

impl TcpMd5 {
    /// The key as the kernel takes it: for the configured prefix (a
    /// listener), or for one `host` of it (a connection out).
    pub fn kernel_key(&self, host: Option<IpAddr>) -> privsep::tcpsig::Md5Key<'_> {
        let (peer, prefix_len) = self.peer.or_host(host);
        privsep::tcpsig::Md5Key {
            peer,
            prefix_len,
            key: self.key.octets(),
        }
    }
}

impl TcpAo {
    /// The key as the kernel takes it: for the configured prefix (a
    /// listener), or for one `host` of it (a connection out).
    pub fn kernel_key(&self, host: Option<IpAddr>) -> privsep::tcpsig::AoKey<'_> {
        let (peer, prefix_len) = self.peer.or_host(host);
        privsep::tcpsig::AoKey {
            peer,
            prefix_len,
            key: self.key.octets(),
            send_id: self.send_id,
            recv_id: self.recv_id,
            algorithm: self.algorithm.into(),
        }
    }
}

impl From<AoAlgorithm> for privsep::tcpsig::AoAlgorithm {
    fn from(a: AoAlgorithm) -> Self {
        match a {
            AoAlgorithm::HmacSha1 => Self::HmacSha1,
            AoAlgorithm::CmacAes128 => Self::CmacAes128,
            AoAlgorithm::HmacSha256 => Self::HmacSha256,
        }
    }
}

/// The routers a key is for: one address, or an address prefix
/// `ADDR/LEN` without host bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Peer {
    /// The address, or the first address of the prefix.
    pub addr: IpAddr,
    /// The prefix length: 32 or 128 for a single address.
    pub len: u8,
}

impl Peer {
    /// The prefix, or `host` alone.
    fn or_host(self, host: Option<IpAddr>) -> (IpAddr, u8) {
        match host {
            Some(h) => (h, Peer::max_len(h)),
            None => (self.addr, self.len),
        }
    }

    fn max_len(addr: IpAddr) -> u8 {
        if addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// Whether `addr` is in this prefix.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let bits = |a: IpAddr| match a {
            IpAddr::V4(a) => (u128::from(u32::from(a))) << 96,
            IpAddr::V6(a) => u128::from(a),
        };
        if self.addr.is_ipv4() != addr.is_ipv4() {
            return false;
        }
        let mask = u128::MAX
            .checked_shl(128 - u32::from(self.len))
            .unwrap_or(0);
        bits(self.addr) & mask == bits(addr) & mask
    }

    /// Whether one of the two prefixes holds the other.
    pub fn overlaps(&self, other: &Peer) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
}

impl TryFrom<String> for Peer {
    type Error = String;

    fn try_from(s: String) -> Result<Peer, String> {
        let bad = |why: &str| format!("peer \"{s}\": {why}");
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s.as_str(), None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| bad("not an address or ADDRESS/LENGTH"))?;
        let max = Peer::max_len(addr);
        let len = match len {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(l) if l <= max => l,
                _ => return Err(bad(&format!("prefix length must be 0 to {max}"))),
            },
        };
        let peer = Peer { addr, len };
        let first = match addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                IpAddr::from((u32::from(a) & mask).to_be_bytes())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                IpAddr::from((u128::from(a) & mask).to_be_bytes())
            }
        };
        if first != addr {
            return Err(bad("host bits set beyond the prefix length"));
        }
        Ok(peer)
    }
}

impl From<Peer> for String {
    fn from(p: Peer) -> String {
        p.to_string()
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len == Peer::max_len(self.addr) {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.len)
        }
    }
}

/// A key: never shown by `Debug`, so that it stays out of logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The key as the kernel takes it: the string's octets.
    pub fn octets(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

fn default_format() -> Format {
    Format::Auto
}

fn default_max_age() -> u64 {
    86_400
}

fn default_max_drop() -> u8 {
    50
}

/// A configuration that cannot be used, with where and why.
#[derive(Debug)]
pub struct ConfigError {
    /// The configuration file, or the file it names that failed.
    pub file: PathBuf,
    /// The line of the key at fault, when the parser knows it.
    pub line: Option<usize>,
    /// What is wrong, for the operator.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

impl Config {
    /// Whether any TCP-MD5 or TCP-AO key is configured.
    pub fn has_keys(&self) -> bool {
        !self.tcp_md5.is_empty() || !self.tcp_ao.is_empty()
    }

    /// This configuration without its keys, for the children: they never
    /// need them, since the listening sockets carry them.
    #[must_use]
    pub fn without_keys(&self) -> Config {
        Config {
            tcp_md5: Vec::new(),
            tcp_ao: Vec::new(),
            ..self.clone()
        }
    }

    /// What cannot change without a restart: the listeners were bound and
    /// the privileges dropped at start-up. `None` if a reload to `new` is
    /// possible, else the name of the first key that differs.
    pub fn restart_required(&self, new: &Config) -> Option<&'static str> {
        let tls_listen = |c: &Config| c.tls.as_ref().map(|t| t.listen.clone());
        if self.rtr.listen != new.rtr.listen {
            Some("listen")
        } else if tls_listen(self) != tls_listen(new) {
            Some("tls listen")
        } else if self.user != new.user {
            Some("user")
        } else if self.chroot != new.chroot {
            Some("chroot")
        } else if self.seccomp != new.seccomp {
            Some("seccomp")
        } else if self.landlock != new.landlock {
            Some("landlock")
        } else if self.key_file != new.key_file {
            Some("key-file")
        } else if self.control != new.control {
            Some("control")
        } else if self.http.listen != new.http.listen {
            Some("http listen")
        } else {
            None
        }
    }

    /// The directories of the sources, each once, in configuration order,
    /// with each source's file name. Source paths from [`Config::load`]
    /// are absolute.
    ///
    /// SLURM paths count too: a SLURM directory itself, a SLURM file's
    /// directory. Whether a SLURM path is a directory is decided by
    /// `is_dir`, which the parent answers from the filesystem.
    pub fn source_dirs(&self, is_dir: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        let parent = |p: &Path| p.parent().unwrap_or(Path::new("/")).to_path_buf();
        let slurm = self.slurm.iter().map(|s| {
            if is_dir(&s.path) {
                s.path.clone()
            } else {
                parent(&s.path)
            }
        });
        let files = self.sources.iter().filter_map(Source::file).map(parent);
        for dir in files.chain(slurm) {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }

    /// Whether a source has a url: then the fetcher runs.
    pub fn has_upstreams(&self) -> bool {
        self.sources.iter().any(|s| !s.url.is_empty())
    }

    /// Every upstream of every source, in configuration order.
    pub fn upstreams(&self) -> impl Iterator<Item = &Upstream> {
        self.sources.iter().flat_map(|s| &s.url)
    }

    /// The ports of the upstreams, sorted, each once: the only ones the
    /// fetcher may connect to.
    pub fn upstream_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.upstreams().map(|u| u.port).collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The files a TLS upstream needs besides the system's store, each
    /// once: CA files, client certificates and keys.
    pub fn upstream_tls_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = Vec::new();
        for s in &self.sources {
            for f in [&s.ca_file, &s.client_certificate, &s.client_key]
                .into_iter()
                .flatten()
            {
                if !files.contains(f) {
                    files.push(f.clone());
                }
            }
        }
        files
    }

    /// The control socket's path, unless there is none.
    pub fn control_path(&self) -> Option<&Path> {
        (!self.control.as_os_str().is_empty()).then_some(self.control.as_path())
    }

    /// The addresses to listen on for RTR over TCP.
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.rtr.listen
    }

    /// The addresses to listen on for RTR over TLS; none without a `[tls]`
    /// table.
    pub fn tls_listen_addrs(&self) -> &[SocketAddr] {
        self.tls.as_ref().map_or(&[], |t| &t.listen)
    }

    /// The directories of the `[tls]` files, each once: what the parent
    /// must still read after start-up, to reload them.
    pub fn tls_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        let upstream = self.upstream_tls_files();
        let server = self.tls.iter().flat_map(Tls::files);
        for file in server.chain(upstream.iter().map(PathBuf::as_path)) {
            let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }
}

#[cfg(test)]
mod tests;
