//! The rovd.conf model: parsing, defaults and checks.
//!
//! Read by the parent (as root at start-up, again on SIGHUP) and handed to
//! the children over IPC; the children never open the file themselves.

use std::fmt;
use std::net::SocketAddr;
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
}

impl fmt::Debug for TlsFiles {
    // Never a private key in a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TlsFiles {{ certificate: {} octets, key: (hidden), client_ca: {:?} }}",
            self.certificate.len(),
            self.client_ca.as_ref().map(Vec::len)
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
    /// Read, parse and check a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let path = &std::path::absolute(path).unwrap_or_else(|_| path.into());
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.into(),
            line: None,
            reason: e.to_string(),
        })?;
        Self::parse(path, &text)
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
        Ok(config)
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
}
