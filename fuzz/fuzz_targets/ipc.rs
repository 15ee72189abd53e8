//! The IPC decoders a child or the parent runs on what its peer sent: a
//! sequence of frames, each header checked first, each body decoded as
//! every message type, and the whole fed to the snapshot stream reader.

#![no_main]

use libfuzzer_sys::fuzz_target;
use privsep::frame::{Header, HEADER_LEN};
use privsep::Frame;
use rovd::msg::{self, Fetched, FromValidator, Handover, ToFetcher, ToRtr, ToValidator};
use rovd::stream;

fuzz_target!(|data: &[u8]| {
    let mut reader = stream::Reader::new();
    let mut rest = data;
    while let Some((head, body)) = rest.split_first_chunk::<HEADER_LEN>() {
        let Ok(h) = Header::parse(head, msg::MAX_BODY) else {
            return;
        };
        let Some((body, after)) = body.split_at_checked(h.len as usize) else {
            return;
        };
        rest = after;
        let frame = Frame {
            kind: h.kind,
            body: body.to_vec(),
            fd: None,
        };
        let _ = frame.decode::<Handover>(msg::MAX_BODY);
        let _ = frame.decode::<ToRtr>(msg::MAX_BODY);
        let _ = frame.decode::<ToValidator>(msg::MAX_BODY);
        let _ = frame.decode::<ToFetcher>(msg::MAX_BODY);
        let _ = frame.decode::<FromValidator>(msg::MAX_BODY);
        let _ = frame.decode::<Fetched>(msg::MAX_BODY);
        if reader.take(&frame).is_err() {
            return;
        }
    }
});
