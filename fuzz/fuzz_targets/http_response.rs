//! What an HTTP upstream may send the fetcher: any octets, judged as a
//! whole response (closed cleanly or not), and the cheap completeness
//! check the event loop runs on every part of one.

#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use rovd::fetcher::http::{is_complete, response, Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, raw)) = data.split_first() else {
        return;
    };
    let complete = is_complete(raw);
    let limits = Limits::new(1 << 16, Instant::now() + Duration::from_secs(60));
    let whole = response(raw, flags & 1 == 0, limits);
    // A response complete and good is the same whether the server closes
    // then or sends more: nothing after its end is read.
    if let (true, Ok(whole)) = (complete, whole) {
        let mut more = raw.to_vec();
        more.extend_from_slice(b"HTTP/1.1 200 OK\r\n\r\nmore");
        let longer = response(&more, flags & 1 == 0, limits);
        assert_eq!(Some(whole), longer.ok());
    }
});
