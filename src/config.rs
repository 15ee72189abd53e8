//! The rovd.conf model: parsing, defaults and checks.
//!
//! Read by the parent (as root at start-up, again on SIGHUP) and handed to
//! the children over IPC; the children never open the file themselves.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::validator::input::Format;

/// The default configuration file.
pub const DEFAULT_PATH: &str = "/etc/rovd.conf";

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
    #[serde(default)]
    pub rtr: Rtr,
    /// RTR over TLS; no TLS listener without this table.
    #[serde(default)]
    pub tls: Option<Tls>,
    #[serde(default, rename = "source")]
    pub sources: Vec<Source>,
    #[serde(default)]
    pub slurm: Vec<Slurm>,
    /// TCP-MD5 keys of router peers (RFC 2385).
    #[serde(default, rename = "tcp-md5")]
    pub tcp_md5: Vec<TcpMd5>,
    /// TCP-AO master key tuples of router peers (RFC 5925).
    #[serde(default, rename = "tcp-ao")]
    pub tcp_ao: Vec<TcpAo>,
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
    /// Addresses to listen on, `ADDR:PORT` (IPv6 in brackets).
    pub listen: Vec<String>,
    /// Highest RTR version offered: 0, 1 or 2.
    pub max_version: u8,
    /// End of Data timers, seconds (8210bis-27 §6).
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    /// Number of serials kept for incremental Serial Query answers.
    pub history: usize,
    /// Minimum seconds between two Serial Notify PDUs to one session.
    pub notify_interval: u32,
    /// Most router sessions served at once.
    pub max_sessions: usize,
}

impl Default for Rtr {
    fn default() -> Self {
        Rtr {
            listen: vec!["[::]:323".into(), "0.0.0.0:323".into()],
            max_version: 2,
            refresh: 3600,
            retry: 600,
            expire: 7200,
            history: 10,
            notify_interval: 60,
            max_sessions: 10_000,
        }
    }
}

/// The `[tls]` table: RTR over TLS (RFC 8210 §9, 8210bis-27 §9).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Tls {
    /// Addresses to listen on for TLS, `ADDR:PORT` (IPv6 in brackets).
    #[serde(default = "default_tls_listen")]
    pub listen: Vec<String>,
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

fn default_tls_listen() -> Vec<String> {
    vec!["[::]:324".into(), "0.0.0.0:324".into()]
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
    pub certificate: Vec<u8>,
    pub key: Vec<u8>,
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

/// One `[[source]]` table: a file of validated payloads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Source {
    /// The file; a relative path is taken relative to the configuration
    /// file's directory.
    pub path: PathBuf,
    /// The file's format, or `auto` to recognise it.
    #[serde(default = "default_format")]
    pub format: Format,
    /// Seconds after which the data counts as stale (from the time the
    /// producer wrote into the file, else the file's modification time);
    /// 0 turns the check off.
    #[serde(default = "default_max_age")]
    pub max_age: u64,
    /// What stale data leads to.
    #[serde(default)]
    pub stale: StalePolicy,
    /// Percent of the source's payloads one update may remove before it is
    /// held back until confirmed by SIGHUP; 100 turns the guard off.
    #[serde(default = "default_max_drop")]
    pub max_drop: u8,
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

//------------ TCP-MD5 and TCP-AO --------------------------------------------

/// One `[[tcp-md5]]` table: the TCP-MD5 key (RFC 2385) of the routers in
/// one address prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TcpMd5 {
    pub peer: Peer,
    pub key: Secret,
}

/// One `[[tcp-ao]]` table: a TCP-AO master key tuple (RFC 5925 §4.1) of
/// the routers in one address prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TcpAo {
    pub peer: Peer,
    pub key: Secret,
    /// The KeyID rovd sends, the router's RecvID.
    pub send_id: u8,
    /// The KeyID rovd expects, the router's SendID.
    pub recv_id: u8,
    pub algorithm: AoAlgorithm,
}

/// The `algorithm` key of a `[[tcp-ao]]` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AoAlgorithm {
    /// HMAC-SHA-1-96 (RFC 5926 §3.2.1).
    HmacSha1,
    /// AES-128-CMAC-96 (RFC 5926 §3.2.2).
    CmacAes128,
    /// HMAC-SHA-256 truncated to 96 bits.
    HmacSha256,
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
    pub addr: IpAddr,
    pub len: u8,
}

impl Peer {
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
    pub file: PathBuf,
    pub line: Option<usize>,
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
    /// Read, parse and check a configuration file. A file that holds keys
    /// must not be readable by others, nor writable by anyone but its
    /// owner.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        use std::io::Read;
        use std::os::unix::fs::PermissionsExt;

        let path = &std::path::absolute(path).unwrap_or_else(|_| path.into());
        let err = |reason: String| ConfigError {
            file: path.into(),
            line: None,
            reason,
        };
        let mut file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
        // The mode of the file read, not of whatever the path names later.
        let mode = file
            .metadata()
            .map_err(|e| err(e.to_string()))?
            .permissions()
            .mode();
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| err(e.to_string()))?;
        let config = Self::parse(path, &text)?;
        if config.has_keys() && mode & 0o026 != 0 {
            return Err(err(format!(
                "holds TCP keys but is {} (mode {:04o}); make it readable by \
                 root and the group {user} only: chown root:{user} {file}; \
                 chmod 640 {file}",
                if mode & 0o004 != 0 {
                    "readable by others"
                } else {
                    "writable by group or others"
                },
                mode & 0o7777,
                user = config.user,
                file = path.display(),
            )));
        }
        Ok(config)
    }

    /// Whether any TCP-MD5 or TCP-AO key is configured.
    pub fn has_keys(&self) -> bool {
        !self.tcp_md5.is_empty() || !self.tcp_ao.is_empty()
    }

    /// This configuration without its keys, for the children: they never
    /// need them, since the listening sockets carry them.
    pub fn without_keys(&self) -> Config {
        Config {
            tcp_md5: Vec::new(),
            tcp_ao: Vec::new(),
            ..self.clone()
        }
    }

    /// Parse and check configuration text that came from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let err = |line, reason: String| ConfigError {
            file: path.into(),
            line,
            reason,
        };
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
            err(line, e.message().to_string())
        })?;
        let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).map(|n| n + 1);
        if config.user.is_empty() || config.user == "root" {
            return Err(err(
                line_of("user"),
                "user must name an unprivileged user".into(),
            ));
        }
        if !config.chroot.is_absolute() {
            return Err(err(
                line_of("chroot"),
                "chroot must be an absolute path".into(),
            ));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        for slurm in &mut config.slurm {
            if slurm.path.is_relative() {
                slurm.path = base.join(&slurm.path);
            }
        }
        for source in &mut config.sources {
            if source.max_drop > 100 {
                return Err(err(line_of("max-drop"), "max-drop must be 0 to 100".into()));
            }
            if source.path.is_relative() {
                source.path = base.join(&source.path);
            }
            if source.path.file_name().is_none() {
                return Err(err(
                    line_of("path"),
                    format!("source path {} does not name a file", source.path.display()),
                ));
            }
        }
        if let Some(tls) = &mut config.tls {
            for path in [&mut tls.certificate, &mut tls.key]
                .into_iter()
                .chain(tls.client_ca.as_mut())
            {
                if path.is_relative() {
                    *path = base.join(&*path);
                }
            }
        }
        let r = &config.rtr;
        let tls_listen = config.tls.iter().flat_map(|t| &t.listen);
        for addr in r.listen.iter().chain(tls_listen) {
            if addr.parse::<SocketAddr>().is_err() {
                return Err(err(
                    line_of(addr),
                    format!("listen: \"{addr}\" is not ADDRESS:PORT"),
                ));
            }
        }
        if r.max_version > 2 {
            return Err(err(
                line_of("max-version"),
                "max-version must be 0, 1 or 2".into(),
            ));
        }
        // 8210bis-27 §6: ranges, and expire larger than refresh and retry.
        if !(1..=86_400).contains(&r.refresh) {
            return Err(err(
                line_of("refresh"),
                "refresh must be 1 to 86400 seconds".into(),
            ));
        }
        if !(1..=7_200).contains(&r.retry) {
            return Err(err(
                line_of("retry"),
                "retry must be 1 to 7200 seconds".into(),
            ));
        }
        if !(600..=172_800).contains(&r.expire) {
            return Err(err(
                line_of("expire"),
                "expire must be 600 to 172800 seconds".into(),
            ));
        }
        if r.expire <= r.refresh || r.expire <= r.retry {
            return Err(err(
                line_of("expire"),
                "expire must be larger than refresh and retry".into(),
            ));
        }
        if r.history == 0 || r.history > 1000 {
            return Err(err(line_of("history"), "history must be 1 to 1000".into()));
        }
        if r.max_sessions == 0 {
            return Err(err(
                line_of("max-sessions"),
                "max-sessions must be positive".into(),
            ));
        }
        config.check_tcp_keys().map_err(|(peer, reason)| {
            // The line of the peer of the table at fault, which is the
            // later one where two disagree.
            let addr = peer.addr.to_string();
            let line = text
                .lines()
                .enumerate()
                .filter(|(_, l)| l.contains("peer") && l.contains(&addr))
                .last()
                .map(|(n, _)| n + 1);
            err(line, reason)
        })?;
        Ok(config)
    }

    /// The rules for `[[tcp-md5]]` and `[[tcp-ao]]`; a failure names the
    /// peer of the table at fault.
    fn check_tcp_keys(&self) -> Result<(), (Peer, String)> {
        let max = privsep::tcpsig::MAX_KEY_LEN;
        let peer_line = |p: &Peer| *p;
        let keys = self
            .tcp_md5
            .iter()
            .map(|k| (&k.peer, &k.key, "tcp-md5"))
            .chain(self.tcp_ao.iter().map(|k| (&k.peer, &k.key, "tcp-ao")));
        for (peer, key, table) in keys {
            if key.octets().is_empty() || key.octets().len() > max {
                return Err((
                    peer_line(peer),
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
                return Err((
                    peer_line(&a.peer),
                    format!("tcp-md5: a second key for peer {}", a.peer),
                ));
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
                    peer_line(&a.peer),
                    format!("tcp-ao: two keys for peer {} with {which}", a.peer),
                ));
            }
        }
        // A connection uses TCP-AO or TCP-MD5, never both (RFC 5925,
        // Abstract and §9); Linux refuses keys of both kinds for one peer.
        for ao in &self.tcp_ao {
            if let Some(md5) = self.tcp_md5.iter().find(|m| m.peer.overlaps(&ao.peer)) {
                return Err((
                    peer_line(&ao.peer),
                    format!(
                        "peer {} has a tcp-ao key, and tcp-md5 peer {} covers some of \
                         the same addresses: a connection uses one or the other",
                        ao.peer, md5.peer
                    ),
                ));
            }
        }
        Ok(())
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
        } else if self.tcp_md5 != new.tcp_md5 {
            Some("tcp-md5")
        } else if self.tcp_ao != new.tcp_ao {
            Some("tcp-ao")
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
        for dir in self.sources.iter().map(|s| parent(&s.path)).chain(slurm) {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }

    /// The listen addresses, already checked by [`Config::parse`].
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.rtr
            .listen
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    /// The TLS listen addresses, already checked by [`Config::parse`];
    /// none without a `[tls]` table.
    pub fn tls_listen_addrs(&self) -> Vec<SocketAddr> {
        self.tls
            .iter()
            .flat_map(|t| &t.listen)
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    /// The directories of the `[tls]` files, each once: what the parent
    /// must still read after start-up, to reload them.
    pub fn tls_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for file in self.tls.iter().flat_map(Tls::files) {
            let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::parse(Path::new("/etc/rovd.conf"), "").unwrap();
        assert_eq!(c.rtr, Rtr::default());
        assert_eq!(c.rtr.listen, ["[::]:323", "0.0.0.0:323"]);
        assert!(c.sources.is_empty());
        assert_eq!(c.user, "_rovd");
        assert_eq!(c.chroot, Path::new("/var/empty"));
        assert_eq!(c.seccomp, SeccompAction::Kill);
    }

    #[test]
    fn sandbox_keys() {
        let c = Config::parse(
            Path::new("/etc/rovd.conf"),
            "user = \"rovd\"\nchroot = \"/var/lib/rovd/empty\"\nseccomp = \"log\"\n",
        )
        .unwrap();
        assert_eq!(c.user, "rovd");
        assert_eq!(c.chroot, Path::new("/var/lib/rovd/empty"));
        assert_eq!(c.seccomp, SeccompAction::Log);
        let e = Config::parse(Path::new("x.conf"), "\nseccomp = \"trap\"\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e = Config::parse(Path::new("x.conf"), "user = \"root\"\n").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
        let e = Config::parse(Path::new("x.conf"), "chroot = \"empty\"\n").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
    }

    #[test]
    fn what_needs_a_restart() {
        let p = Path::new("/etc/rovd.conf");
        let a = Config::parse(p, "[rtr]\nrefresh = 100\n").unwrap();
        assert_eq!(
            a.restart_required(&Config::parse(p, "[rtr]\nrefresh = 200\n").unwrap()),
            None
        );
        let b = Config::parse(p, "[rtr]\nlisten = [\"127.0.0.1:323\"]\n").unwrap();
        assert_eq!(a.restart_required(&b), Some("listen"));
        let c = Config::parse(p, "user = \"x\"\n").unwrap();
        assert_eq!(a.restart_required(&c), Some("user"));
    }

    #[test]
    fn tls_table() {
        let p = Path::new("/etc/rovd/rovd.conf");
        assert_eq!(Config::parse(p, "").unwrap().tls, None);
        let c = Config::parse(
            p,
            "[tls]\ncertificate = \"cert.pem\"\nkey = \"/etc/ssl/key.pem\"\n",
        )
        .unwrap();
        let tls = c.tls.as_ref().unwrap();
        assert_eq!(tls.listen, ["[::]:324", "0.0.0.0:324"]);
        assert_eq!(tls.certificate, Path::new("/etc/rovd/cert.pem"));
        assert_eq!(tls.key, Path::new("/etc/ssl/key.pem"));
        assert_eq!(tls.client_ca, None);
        assert_eq!(c.tls_listen_addrs().len(), 2);
        assert_eq!(
            c.tls_dirs(),
            [Path::new("/etc/rovd"), Path::new("/etc/ssl")]
        );
        let e = Config::parse(p, "[tls]\ncertificate = \"c\"\n").unwrap_err();
        assert!(e.to_string().contains("key"), "{e}");
        let e = Config::parse(
            p,
            "[tls]\ncertificate = \"c\"\nkey = \"k\"\nlisten = [\"x:1\"]\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        let with_ca = Config::parse(
            p,
            "[tls]\ncertificate = \"c\"\nkey = \"k\"\nclient-ca = \"ca.pem\"\n",
        )
        .unwrap();
        assert_eq!(
            with_ca.tls.unwrap().client_ca.as_deref(),
            Some(Path::new("/etc/rovd/ca.pem"))
        );
    }

    #[test]
    fn tls_listen_needs_a_restart() {
        let p = Path::new("/etc/rovd.conf");
        let tls = "[tls]\ncertificate = \"c\"\nkey = \"k\"\n";
        let a = Config::parse(p, "").unwrap();
        let b = Config::parse(p, tls).unwrap();
        assert_eq!(a.restart_required(&b), Some("tls listen"));
        let c = Config::parse(p, &format!("{tls}listen = [\"127.0.0.1:324\"]\n")).unwrap();
        assert_eq!(b.restart_required(&c), Some("tls listen"));
        let d = Config::parse(p, "[tls]\ncertificate = \"c2\"\nkey = \"k2\"\n").unwrap();
        assert_eq!(b.restart_required(&d), None);
    }

    #[test]
    fn source_dirs_are_unique() {
        let c = Config::parse(
            Path::new("/etc/rovd/rovd.conf"),
            "[[source]]\npath = \"a.json\"\n[[source]]\npath = \"b.json\"\n\
             [[source]]\npath = \"/var/db/x.json\"\n",
        )
        .unwrap();
        assert_eq!(
            c.source_dirs(|_| false),
            [Path::new("/etc/rovd"), Path::new("/var/db")]
        );
    }

    #[test]
    fn relative_source_paths_follow_the_file() {
        let c = Config::parse(
            Path::new("/etc/rovd/rovd.conf"),
            "[[source]]\npath = \"vrps.json\"\n[[source]]\npath = \"/var/db/x.json\"\n",
        )
        .unwrap();
        assert_eq!(c.sources[0].path, Path::new("/etc/rovd/vrps.json"));
        assert_eq!(c.sources[1].path, Path::new("/var/db/x.json"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = Config::parse(Path::new("x.conf"), "[rtr]\nrefresh = 10\nbogus = 1\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = Config::parse(Path::new("x.conf"), "[rtr]\n\nexpire = 100\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let e = Config::parse(Path::new("x.conf"), "[rtr]\nlisten = [\"nope\"]\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e = Config::parse(Path::new("x.conf"), "[rtr]\nmax-version = 3\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    const MD5: &str = "[[tcp-md5]]\npeer = \"192.0.2.1\"\nkey = \"one\"\n\
                       [[tcp-md5]]\npeer = \"2001:db8::/32\"\nkey = \"two\"\n";
    const AO: &str = "[[tcp-ao]]\npeer = \"198.51.100.0/24\"\nkey = \"three\"\n\
                      send-id = 1\nrecv-id = 2\nalgorithm = \"hmac-sha1\"\n\
                      [[tcp-ao]]\npeer = \"198.51.100.0/24\"\nkey = \"four\"\n\
                      send-id = 3\nrecv-id = 4\nalgorithm = \"cmac-aes128\"\n";

    #[test]
    fn tcp_keys() {
        let c = Config::parse(Path::new("x.conf"), &format!("{MD5}{AO}")).unwrap();
        assert_eq!(c.tcp_md5.len(), 2);
        assert_eq!(c.tcp_md5[0].peer.to_string(), "192.0.2.1");
        assert_eq!(c.tcp_md5[0].peer.len, 32);
        assert_eq!(c.tcp_md5[0].key.octets(), b"one");
        assert_eq!(c.tcp_md5[1].peer.to_string(), "2001:db8::/32");
        assert_eq!(c.tcp_ao[1].send_id, 3);
        assert_eq!(c.tcp_ao[1].recv_id, 4);
        assert_eq!(c.tcp_ao[1].algorithm, AoAlgorithm::CmacAes128);
        assert!(c.has_keys());
        let bare = c.without_keys();
        assert!(!bare.has_keys());
        assert_eq!(bare.rtr, c.rtr);
        // Keys stay out of anything that prints the configuration.
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("\"one\"") && !shown.contains("three"),
            "{shown}"
        );
        // They travel to nobody, but the model must still encode.
        let round: Config = bincode::deserialize(&bincode::serialize(&c).unwrap()).unwrap();
        assert_eq!(round, c);
    }

    #[test]
    fn tcp_key_errors() {
        let bad = |text: &str, line: usize, what: &str| {
            let e = Config::parse(Path::new("x.conf"), text).unwrap_err();
            assert_eq!(e.line, Some(line), "{e}");
            assert!(e.to_string().contains(what), "{e}");
        };
        let md5 =
            |peer: &str, key: &str| format!("[[tcp-md5]]\npeer = \"{peer}\"\nkey = \"{key}\"\n");
        bad(&md5("router1", "k"), 2, "not an address");
        bad(&md5("10.0.0.1/24", "k"), 2, "host bits");
        bad(&md5("10.0.0.0/33", "k"), 2, "0 to 32");
        bad(&md5("2001:db8::/129", "k"), 2, "0 to 128");
        bad(&md5("10.0.0.1", ""), 2, "0 octets");
        bad(
            &md5("10.0.0.1", &"k".repeat(81)),
            2,
            "81 octets; it must be 1 to 80",
        );
        Config::parse(Path::new("x.conf"), &md5("10.0.0.1", &"k".repeat(80))).unwrap();
        // Two keys for one peer; nested prefixes are fine.
        bad(
            &format!("{}{}", md5("10.0.0.1", "a"), md5("10.0.0.1/32", "b")),
            5,
            "second key",
        );
        Config::parse(
            Path::new("x.conf"),
            &format!("{}{}", md5("10.0.0.0/8", "a"), md5("10.1.0.0/16", "b")),
        )
        .unwrap();
        // TCP-AO KeyIDs per peer and direction.
        let ao = |peer: &str, send: u8, recv: u8| {
            format!(
                "[[tcp-ao]]\npeer = \"{peer}\"\nkey = \"k\"\nsend-id = {send}\n\
                 recv-id = {recv}\nalgorithm = \"hmac-sha256\"\n"
            )
        };
        bad(
            &format!("{}{}", ao("10.0.0.1", 1, 2), ao("10.0.0.1", 1, 3)),
            8,
            "send-id 1",
        );
        bad(
            &format!("{}{}", ao("10.0.0.1", 1, 2), ao("10.0.0.1", 3, 2)),
            8,
            "recv-id 2",
        );
        Config::parse(
            Path::new("x.conf"),
            &format!("{}{}", ao("10.0.0.1", 1, 2), ao("10.0.0.2", 1, 2)),
        )
        .unwrap();
        bad(&ao("10.0.0.1", 1, 2).replace("= 2", "= 256"), 5, "");
        bad(
            &ao("10.0.0.1", 1, 2).replace("hmac-sha256", "md5"),
            6,
            "md5",
        );
        // A peer given both, directly or through a prefix.
        bad(
            &format!("{}{}", md5("10.0.0.0/8", "a"), ao("10.2.3.4", 1, 2)),
            5,
            "one or the other",
        );
        bad(
            &format!("{}{}", ao("10.0.0.0/8", 1, 2), md5("10.2.3.4", "a")),
            2,
            "10.2.3.4",
        );
        Config::parse(
            Path::new("x.conf"),
            &format!("{}{}", md5("10.0.0.0/8", "a"), ao("11.0.0.1", 1, 2)),
        )
        .unwrap();
        bad(
            "[[tcp-md5]]\npeer = \"10.0.0.1\"\nkey = \"k\"\nsend-id = 1\n",
            4,
            "send-id",
        );
    }

    #[test]
    fn prefixes_contain_and_overlap() {
        let p = |s: &str| Peer::try_from(s.to_string()).unwrap();
        assert!(p("10.0.0.0/8").contains("10.255.0.1".parse().unwrap()));
        assert!(!p("10.0.0.0/8").contains("11.0.0.1".parse().unwrap()));
        assert!(p("0.0.0.0/0").contains("192.0.2.1".parse().unwrap()));
        assert!(!p("0.0.0.0/0").contains("::1".parse().unwrap()));
        assert!(p("::/0").contains("2001:db8::1".parse().unwrap()));
        assert!(p("2001:db8::/32").overlaps(&p("2001:db8:1::1")));
        assert!(!p("2001:db8::/32").overlaps(&p("2001:db9::/32")));
        assert!(p("192.0.2.1").overlaps(&p("192.0.2.1")));
    }

    #[test]
    fn key_changes_need_a_restart() {
        let p = Path::new("/etc/rovd.conf");
        let a = Config::parse(p, MD5).unwrap();
        let b = Config::parse(p, &MD5.replace("one", "uno")).unwrap();
        assert_eq!(a.restart_required(&b), Some("tcp-md5"));
        let c = Config::parse(p, &format!("{MD5}{AO}")).unwrap();
        assert_eq!(a.restart_required(&c), Some("tcp-ao"));
        assert_eq!(a.restart_required(&a.clone()), None);
    }

    #[test]
    fn a_file_with_keys_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rovd.conf");
        std::fs::write(&path, MD5).unwrap();
        for (mode, ok) in [
            (0o600, true),
            (0o640, true),
            (0o440, true),
            (0o644, false),
            (0o604, false),
            (0o660, false),
            (0o642, false),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            match Config::load(&path) {
                Ok(_) => assert!(ok, "mode {mode:o} accepted"),
                Err(e) => {
                    assert!(!ok, "mode {mode:o}: {e}");
                    let e = e.to_string();
                    assert!(e.starts_with(&path.display().to_string()), "{e}");
                    assert!(
                        e.contains("chown root:_rovd") && e.contains("chmod 640"),
                        "{e}"
                    );
                }
            }
        }
        // Without keys the file may be world-readable, as it always was.
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Config::load(&path).unwrap();
    }
}
