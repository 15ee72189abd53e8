//! What the validator takes from the fetcher: frames decoded as
//! [`Fetched`] messages and fed, in order, to a failover group of two
//! upstreams — tables and changes that must apply exactly, HTTP bodies
//! parsed only when complete — choosing between them after each.

#![no_main]

use libfuzzer_sys::fuzz_target;
use privsep::frame::{Header, HEADER_LEN};
use privsep::Frame;
use rovd::config::{Format, Upstream};
use rovd::msg::{self, Fetched};
use rovd::validator::upstream::Group;

fuzz_target!(|data: &[u8]| {
    let urls = [
        Upstream::parse("rtr://192.0.2.1").unwrap(),
        Upstream::parse("https://192.0.2.2/rpki.json").unwrap(),
    ];
    let mut group = Group::new(&urls);
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
        let Ok(m) = frame.decode::<Fetched>(msg::MAX_BODY) else {
            continue;
        };
        let url = m.url().clone();
        if let Some(member) = group.member(&url) {
            let _ = member.take(m, &frame.body, Format::Auto, 1 << 16);
        }
        let _ = group.choose(1_700_000_000, 3600);
    }
});
