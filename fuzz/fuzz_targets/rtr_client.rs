//! The router's side of RTR on anything a cache may send: the first octet
//! picks the version asked for, the rest is fed as one stream, with a
//! Serial Query whenever an answer ends or a Serial Notify comes. What the
//! client queues must be whole PDUs, and its table stays sorted and unique.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rovd::client::{Client, Event};
use rovd::pdu::{self, Version};

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let mut client = Client::new(Version::new(first % 3).unwrap());
    let mut events = Vec::new();
    let mut at = 0;
    loop {
        let mut out = client.take_output();
        while !out.is_empty() {
            let (_, p) = pdu::split(&out).unwrap().expect("a whole PDU");
            out.drain(..p.len());
        }
        let n = client.receive(&input[at..], &mut events);
        if n == 0 {
            break;
        }
        at += n;
        assert!(at <= input.len());
        if events
            .drain(..)
            .any(|e| matches!(e, Event::Synced { .. } | Event::Notified(_)))
        {
            client.refresh();
        }
        let t = client.table();
        assert!(t.vrps.windows(2).all(|w| w[0] < w[1]));
        assert!(t.router_keys.windows(2).all(|w| w[0] < w[1]));
        assert!(t.aspas.windows(2).all(|w| w[0].customer < w[1].customer));
    }
});
