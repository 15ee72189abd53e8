//! The RTR PDU decoder, both ways a peer's octets reach it: as a stream
//! split by Length fields, decoded for either side. Whatever decodes must
//! encode back to the same octets (a Reset Query's reserved field aside,
//! which the decoder ignores as receivers must).

#![no_main]

use libfuzzer_sys::fuzz_target;
use rovd::pdu::{self, Pdu};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    loop {
        let _ = Pdu::decode_from_cache(rest);
        match Pdu::decode(rest) {
            Ok(Some((version, decoded, len))) => {
                let mut out = Vec::new();
                decoded.write(version, &mut out);
                if decoded != Pdu::ResetQuery {
                    assert_eq!(out, rest[..len], "{decoded:?} does not round-trip");
                }
                rest = &rest[len..];
            }
            Ok(None) | Err(_) => break,
        }
    }
    // The server's way: split by the header, then read.
    if let Ok(Some((h, octets))) = pdu::split(data) {
        let _ = Pdu::read(h, octets);
    }
});
