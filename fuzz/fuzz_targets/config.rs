//! The configuration parser and its checks, with error lines from the
//! TOML parser's spans.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rovd::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(Path::new("/etc/rovd.conf"), text);
    }
});
