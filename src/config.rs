//! The rovd.conf model: parsing, defaults and checks.
//!
//! Read by the parent (as root at start-up, again on SIGHUP) and handed to
//! the children over IPC; the children never open the file themselves.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The default configuration file.
pub const DEFAULT_PATH: &str = "/etc/rovd.conf";

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    #[serde(default)]
    pub rtr: Rtr,
    #[serde(default, rename = "source")]
    pub sources: Vec<Source>,
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

/// One `[[source]]` table: a file of validated payloads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Source {
    /// The file; a relative path is taken relative to the configuration
    /// file's directory.
    pub path: PathBuf,
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
        let base = path.parent().unwrap_or(Path::new("."));
        for source in &mut config.sources {
            if source.path.is_relative() {
                source.path = base.join(&source.path);
            }
        }
        let r = &config.rtr;
        for addr in &r.listen {
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

    /// The listen addresses, already checked by [`Config::parse`].
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.rtr
            .listen
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
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
