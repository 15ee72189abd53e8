//! What the fetcher cannot get for itself, got by the parent: the
//! addresses of the upstream hosts, the PEM files of TLS upstreams, and
//! the key file's keys for upstream addresses ([`Reach`]).
//!
//! Runs in the parent: as root at start-up (and for `rovd -n`), where it
//! may resolve names and read any file; on SIGHUP as the unprivileged user
//! without a resolver, so a reload reuses the addresses resolved at
//! start-up and the system's CA store read then, and re-reads only the
//! `ca-file`, `client-certificate` and `client-key` files, beneath
//! directories it kept open for that.

use std::net::{IpAddr, ToSocketAddrs};

use crate::config::Config;
use crate::fetcher::tls;
use crate::msg::Reach;

/// Where the system's CA certificates are, by system: Debian and its
/// kin, Fedora and its kin, OpenBSD, Alpine.
pub const SYSTEM_ROOTS: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Everything the fetcher needs for `config`, got from scratch: names
/// resolved, files read, TLS configurations checked. An error names the
/// host or the file.
pub fn gather(config: &Config) -> Result<Reach, String> {
    let mut reach = Reach::default();
    for u in config.upstreams() {
        if !reach.socket_addrs(u).is_empty() {
            continue;
        }
        let addrs = resolve(&u.host, u.port)?;
        reach.hosts.push((u.host.clone(), addrs));
    }
    if needs_system_roots(config) {
        reach.system_roots = Some(system_roots()?);
    }
    refresh(config, &mut reach)?;
    Ok(reach)
}

/// For a reload: `running`'s addresses and system store, the files read
/// again, the keys kept. An error if `config` names a host that was not
/// resolved at start-up, or a file cannot be used.
pub fn again(config: &Config, running: &Reach) -> Result<Reach, String> {
    let mut reach = Reach {
        hosts: running.hosts.clone(),
        system_roots: running.system_roots.clone(),
        ..Reach::default()
    };
    for u in config.upstreams() {
        if reach.socket_addrs(u).is_empty() {
            return Err(format!(
                "url {u}: host {} was not resolved at start-up: restart required",
                u.host
            ));
        }
    }
    if needs_system_roots(config) && reach.system_roots.is_none() {
        return Err(
            "a TLS upstream without ca-file needs the system's CA store, \
             read only at start-up: restart required"
                .into(),
        );
    }
    refresh(config, &mut reach)?;
    Ok(reach)
}

/// Read the upstreams' own files and pick the keys; check every TLS
/// configuration as the fetcher will build it.
fn refresh(config: &Config, reach: &mut Reach) -> Result<(), String> {
    reach.files.clear();
    for path in config.upstream_tls_files() {
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        reach.files.push((path, bytes));
    }
    let addrs: Vec<IpAddr> = config
        .upstreams()
        .flat_map(|u| reach.socket_addrs(u))
        .map(|a| a.ip())
        .collect();
    let ours = |peer: &crate::config::Peer| addrs.iter().any(|&a| peer.contains(a));
    reach.tcp_md5 = config
        .tcp_md5
        .iter()
        .filter(|k| ours(&k.peer))
        .cloned()
        .collect();
    reach.tcp_ao = config
        .tcp_ao
        .iter()
        .filter(|k| ours(&k.peer))
        .cloned()
        .collect();
    for s in &config.sources {
        if let Err(reason) = tls::client_config(s, reach) {
            return Err(format!("source {}: {reason}", s.name()));
        }
    }
    Ok(())
}

/// Whether a TLS upstream has no `ca-file`.
fn needs_system_roots(config: &Config) -> bool {
    config
        .sources
        .iter()
        .any(|s| s.ca_file.is_none() && s.url.iter().any(|u| u.scheme.is_tls()))
}

/// The system's CA certificates: the first of [`SYSTEM_ROOTS`] there is.
fn system_roots() -> Result<Vec<u8>, String> {
    for path in SYSTEM_ROOTS {
        if let Ok(pem) = std::fs::read(path) {
            return Ok(pem);
        }
    }
    Err(format!(
        "a TLS upstream without ca-file needs the system's CA certificates, \
         and none of {} can be read",
        SYSTEM_ROOTS.join(", ")
    ))
}

/// The addresses of `host`, through the system's resolver.
fn resolve(host: &str, port: u16) -> Result<Vec<IpAddr>, String> {
    let mut addrs: Vec<IpAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve upstream host {host}: {e}"))?
        .map(|a| a.ip())
        .collect();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(format!("upstream host {host} has no address"));
    }
    Ok(addrs)
}
