//! What an HTTP upstream may send the fetcher: any octets, judged as a
//! whole response (closed cleanly or not), and the cheap completeness
//! check the event loop runs on every part of one.

#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use rovd::fetcher::http::{is_complete, response, Limits, Request};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, raw)) = data.split_first() else {
        return;
    };
    let _ = is_complete(raw);
    let req = Request {
        host: "upstream.example.net",
        path: "/rpki.json",
        etag: None,
        last_modified: None,
        limits: Limits::new(1 << 16, Instant::now() + Duration::from_secs(60)),
    };
    let _ = response(raw, flags & 1 == 0, &req);
});
