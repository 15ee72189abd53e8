//! The `[tls]` files: the certificate chain, the key and the client CAs,
//! read by the parent and checked before the rtr worker gets them as
//! bytes, since the worker never opens a file.
//!
//! Runs in the parent: as root at start-up and for `rovd -n`, as the
//! unprivileged user (beneath the files' directories only) on SIGHUP.

use log::error;

use crate::config::{self, ConfigError, TlsFiles};
use crate::rtr::tls::{server_config, Part};

/// Read the `[tls]` files and check them as the worker will use them: the
/// PEM parses and the key belongs to the certificate. An error names the
/// file.
pub fn load(tls: &config::Tls) -> Result<TlsFiles, ConfigError> {
    let files = tls.read_files()?;
    if let Err(e) = server_config(&files) {
        let file = match e.part {
            Part::Certificate => &tls.certificate,
            Part::Key => &tls.key,
            Part::ClientCa => tls.client_ca.as_ref().unwrap_or(&tls.certificate),
        };
        return Err(ConfigError {
            file: file.clone(),
            line: None,
            reason: e.reason,
        });
    }
    Ok(files)
}

/// Re-read and check the TLS files on a reload; `None` (logged) if there
/// are none or they cannot be used, and rtr keeps the ones it has.
pub(super) fn reload(config: &config::Config) -> Option<TlsFiles> {
    match load(config.tls.as_ref()?) {
        Ok(files) => Some(files),
        Err(e) => {
            error!("{e}; keeping the current TLS certificate");
            None
        }
    }
}
