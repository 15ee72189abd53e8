//! TLS towards upstreams (`rtr+tls://`, `https://`): the client
//! configuration of one source, from PEM the parent read — the source's
//! `ca-file` or the system's CA store, and its client certificate and key
//! if it has them. The upstream's certificate must chain to those
//! authorities and name the URL's host (a DNS name or an IP address).
//!
//! Built in the fetcher (unprivileged, sandboxed) from bytes; the parent
//! builds it once too, only to check the files before it starts (and for
//! `rovd -n`). rustls with the ring provider, TLS 1.2 and 1.3.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::config::{Source, Upstream};
use crate::msg::Reach;
use crate::rtr::tls::{pem_certificates, provider, VERSIONS};

/// The TLS client configuration for the TLS upstreams of `source`; `None`
/// if it has none. An error names the file at fault.
pub fn client_config(source: &Source, reach: &Reach) -> Result<Option<Arc<ClientConfig>>, String> {
    if !source.url.iter().any(|u| u.scheme.is_tls()) {
        return Ok(None);
    }
    let (roots_pem, roots_name) = match &source.ca_file {
        Some(path) => (reach.file(path), format!("ca-file {}", path.display())),
        None => (
            reach.system_roots.as_deref(),
            "the system's CA certificates".to_string(),
        ),
    };
    let roots_pem = roots_pem.ok_or_else(|| format!("{roots_name}: not read"))?;
    let mut roots = RootCertStore::empty();
    let mut bad = 0;
    for cert in CertificateDer::pem_slice_iter(roots_pem) {
        match cert {
            Ok(c) => {
                if roots.add(c).is_err() {
                    bad += 1;
                }
            }
            Err(e) => return Err(format!("{roots_name}: not PEM certificates: {e}")),
        }
    }
    if roots.is_empty() {
        return Err(format!("{roots_name}: no usable CA certificate (of {bad})"));
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match (&source.client_certificate, &source.client_key) {
        (Some(cert_path), Some(key_path)) => {
            let cert_name = format!("client-certificate {}", cert_path.display());
            let key_name = format!("client-key {}", key_path.display());
            let pem = reach
                .file(cert_path)
                .ok_or_else(|| format!("{cert_name}: not read"))?;
            let chain = pem_certificates(pem).map_err(|e| format!("{cert_name}: {e}"))?;
            let pem = reach
                .file(key_path)
                .ok_or_else(|| format!("{key_name}: not read"))?;
            let key = PrivateKeyDer::from_pem_slice(pem)
                .map_err(|e| format!("{key_name}: no private key in PEM: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("{key_name}: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Some(Arc::new(config)))
}

/// The name the upstream's certificate must carry: the URL's host.
pub fn server_name(url: &Upstream) -> Result<ServerName<'static>, String> {
    ServerName::try_from(url.host.clone())
        .map_err(|e| format!("{url}: {} is not a host name TLS can check: {e}", url.host))
}
