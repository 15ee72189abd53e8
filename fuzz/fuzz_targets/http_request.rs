//! What a client of the rtr worker's views may send: any octets, as an
//! HTTP request head or a control socket command, whole or cut short.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rovd::rtr::views::{parse_request, Request};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, raw)) = data.split_first() else {
        return;
    };
    let http = flags & 1 == 0;
    let eof = flags & 2 != 0;
    if let Ok(Some(Request::Get { path, .. })) = parse_request(raw, http, eof) {
        // A taken request names a path without its query.
        assert!(!path.contains('?'));
    }
});
