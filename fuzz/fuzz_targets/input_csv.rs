//! The payload file reader on CSV: rpki-client's and Routinator's dialects.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rovd::validator::input::{self, Format};

fuzz_target!(|data: &[u8]| {
    let _ = input::read(data, Format::Csv);
});
