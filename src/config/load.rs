//! Reading rovd.conf: the file's permissions, the TOML text deserialised
//! into the model, and the rules no single type expresses. Runs in the
//! parent only: as root at start-up (and for `rovd -n`), unprivileged on
//! SIGHUP.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::{Config, ConfigError, Peer};

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
