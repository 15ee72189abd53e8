//! The SLURM reader (RFC 8416 and the ASPA SLURM draft), and combining
//! what it read with itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rovd::validator::slurm::{self, Slurm};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = slurm::parse(data) {
        let _ = Slurm::combine(vec![("a".into(), s.clone()), ("b".into(), s)]);
    }
});
