//! The server's session state machine on anything a router may send:
//! the first octet picks the highest version offered, the rest is fed as
//! one stream. Every output must be whole PDUs, and a closed session must
//! take nothing more.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rovd::pdu::{self, Timers, Version};
use rovd::rtr::cache::Cache;
use rovd::rtr::session::{Output, Session};
use rovd::testdata::{self, Spec};

thread_local! {
    static CACHE: Cache = {
        let timers = Timers { refresh: 3600, retry: 600, expire: 7200 };
        let mut cache = Cache::new(0x1234, timers, 3);
        let old = testdata::generate(&Spec { vrps: 50, ..Spec::small() });
        let new = testdata::mutate(&old, 20.0, 1);
        cache.update(old).unwrap();
        cache.update(new).unwrap();
        cache
    };
}

fn whole_pdus(mut octets: &[u8]) -> u32 {
    let mut n = 0;
    while !octets.is_empty() {
        let (_, p) = pdu::split(octets).unwrap().expect("a whole PDU");
        octets = &octets[p.len()..];
        n += 1;
    }
    n
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let max = Version::new(first % 3).unwrap();
    CACHE.with(|cache| {
        let mut session = Session::new(max);
        let (mut out, mut notes, mut at) = (Vec::new(), Vec::new(), 0);
        loop {
            let n = session.receive(&input[at..], cache, &mut out, &mut notes);
            if n == 0 {
                break;
            }
            at += n;
            assert!(at <= input.len());
        }
        for o in &out {
            match o {
                Output::Pdus { bytes, pdus } => assert_eq!(whole_pdus(bytes), *pdus),
                Output::Shared(e) => assert_eq!(whole_pdus(&e.bytes), e.pdus),
                Output::Close(_) => {}
            }
        }
        if session.is_closed() {
            assert!(matches!(out.last(), Some(Output::Close(_))));
            assert_eq!(
                session.receive(&input[at..], cache, &mut out, &mut notes),
                0
            );
        }
        session.new_serial();
        let _ = session.notify(cache);
        let _ = session.restart();
    });
});
