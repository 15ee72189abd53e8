//! Full-reset benchmark: how long the rtr event loop takes to serve a
//! complete table of 800,000 deterministically generated VRPs (plus router
//! keys and ASPA) to 1 router, and to 100 routers at once, over loopback.
//! For scale it also times pushing the same number of octets through a
//! loopback socket with no protocol logic at all.
//!
//! Run with `cargo bench --bench full_reset`. Set `ROVD_BENCH_VRPS` to
//! change the table size and `ROVD_BENCH_CLIENTS` the concurrent count.
//! Medians of several runs are printed; nothing here asserts a time.

// Octet counts as f64 for rates: 52 bits of mantissa are plenty.
#![allow(clippy::cast_precision_loss)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use rovd::config::Config;
use rovd::rtr::net::{Server, Settings};
use rovd::testdata::{self, Spec};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one client received: PDUs before End of Data, and octets.
struct Received {
    pdus: u64,
    octets: u64,
}

/// Send a Reset Query at `version` and read until End of Data.
fn reset(addr: std::net::SocketAddr, version: u8) -> Received {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s.write_all(&[version, 2, 0, 0, 0, 0, 0, 8])
        .expect("send reset query");
    let mut buf = vec![0u8; 1 << 20];
    let (mut have, mut pdus, mut octets) = (0usize, 0u64, 0u64);
    loop {
        let n = s.read(&mut buf[have..]).expect("read");
        assert!(n > 0, "server closed before End of Data");
        have += n;
        let mut pos = 0;
        while have - pos >= 8 {
            let len = u32::from_be_bytes(buf[pos + 4..pos + 8].try_into().unwrap()) as usize;
            if have - pos < len {
                break;
            }
            match buf[pos + 1] {
                7 => {
                    return Received {
                        pdus,
                        octets: octets + (pos + len) as u64,
                    }
                }
                10 => panic!("error report {:?}", &buf[pos..pos + len]),
                3 => {}
                _ => pdus += 1,
            }
            pos += len;
        }
        buf.copy_within(pos..have, 0);
        have -= pos;
        octets += pos as u64;
    }
}

/// Push `octets` through a loopback socket and read them back: the floor
/// any server on this machine is measured against.
fn raw_floor(octets: usize) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let data = vec![0x5a_u8; octets];
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut q = [0u8; 8];
        s.read_exact(&mut q).unwrap();
        s.write_all(&data).unwrap();
    });
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&[2, 2, 0, 0, 0, 0, 0, 8]).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0;
    while got < octets {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got += n;
    }
    let t = start.elapsed();
    server.join().unwrap();
    t
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo test --benches` runs this binary with no arguments but in a
    // test profile; `cargo bench` passes `--bench`. Only measure then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("full_reset: run with `cargo bench --bench full_reset`");
        return;
    }
    let vrps = env_usize("ROVD_BENCH_VRPS", 800_000);
    let clients = env_usize("ROVD_BENCH_CLIENTS", 100);
    let spec = Spec {
        vrps,
        ..Spec::full()
    };
    let t = Instant::now();
    let snapshot = testdata::generate(&spec);
    println!(
        "data: {} VRPs, {} router keys, {} ASPAs (generated in {:.2?})",
        snapshot.vrps.len(),
        snapshot.router_keys.len(),
        snapshot.aspas.len(),
        t.elapsed()
    );
    let expected: [u64; 3] = [
        snapshot.vrps.len() as u64,
        (snapshot.vrps.len() + snapshot.router_keys.len()) as u64,
        snapshot.len() as u64,
    ];

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The defaults, with room for all the clients on one address.
    let config = "[rtr]\nmax-sessions-per-address = 1000\n";
    let settings = Settings::from_config(&Config::parse(Path::new("bench.conf"), config).unwrap());
    let mut server = Server::new(settings, vec![listener], 0x1234).unwrap();
    server.install(snapshot).expect("the table installs");
    // Without a parent channel it serves until the benchmark ends.
    thread::spawn(move || server.run());

    // The first answer per version encodes the table; later ones share it.
    for v in 0..=2u8 {
        let t = Instant::now();
        let r = reset(addr, v);
        assert_eq!(r.pdus, expected[usize::from(v)], "v{v} payload PDUs");
        println!(
            "first reset v{v} (includes encoding): {:.2?}, {} octets",
            t.elapsed(),
            r.octets
        );
    }

    let runs = 9;
    let mut one = Vec::new();
    let mut octets = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let r = reset(addr, 2);
        one.push(t.elapsed());
        assert_eq!(r.pdus, expected[2]);
        octets = r.octets;
    }
    let floor = median(
        (0..runs)
            .map(|_| raw_floor(usize::try_from(octets).unwrap()))
            .collect(),
    );
    let one = median(one);

    let mut many = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let handles: Vec<_> = (0..clients)
            .map(|_| thread::spawn(move || reset(addr, 2)))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap().pdus, expected[2]);
        }
        many.push(t.elapsed());
    }
    let many = median(many);

    let mib = octets as f64 / (1024.0 * 1024.0);
    println!();
    println!("| scenario | median | throughput |");
    println!("|---|---|---|");
    println!(
        "| 1 full reset, v2, {mib:.1} MiB | {one:.2?} | {:.0} MiB/s |",
        mib / one.as_secs_f64()
    );
    println!(
        "| {clients} concurrent full resets | {many:.2?} | {:.0} MiB/s |",
        mib * clients as f64 / many.as_secs_f64()
    );
    println!(
        "| same octets, raw loopback socket | {floor:.2?} | {:.0} MiB/s |",
        mib / floor.as_secs_f64()
    );
    println!(
        "ratio 1 reset / raw socket: {:.2}",
        one.as_secs_f64() / floor.as_secs_f64()
    );
}
