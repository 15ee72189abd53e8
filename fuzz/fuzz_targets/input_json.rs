//! The payload file reader on JSON: every shape rovd reads (rpki-client,
//! StayRTR, Routinator, RTRTR), streamed through serde_json.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rovd::validator::input::{self, Format};

fuzz_target!(|data: &[u8]| {
    for format in [Format::Auto, Format::Routinator, Format::RpkiClient] {
        let _ = input::read(data, format);
    }
});
