//! Load and faults, on the built daemon over loopback: ten thousand
//! connections that never ask, a router that reads a few octets a second,
//! a router that sends nothing but Error Reports, each of the three
//! processes stopped with SIGSTOP in turn, and a snapshot cut off on its way
//! from the validator to the rtr worker. What must hold in each: the
//! routers that behave get exactly the table, updates included; the daemon
//! keeps its limits and ends cleanly.
//!
//! Every wait is bounded. The tests take turns (one lock): each loads the
//! machine, and the timeouts they check run on the daemon's clock.

mod common;

use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::ops::{Deref, DerefMut};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::clients::count;
use common::data::{expected, Data};
use common::rtr::{
    reset_query, serial_query, Answer, Event, Pdu, RtrClient, Synced, Table, ERR_NO_DATA,
};
use common::rtrclient::{apply, rtrclient, Rtrclient};
use common::{children_of, is_root, proc_info, still_exists, Daemon, Proc, PORT, WAIT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const VALIDATOR: &str = "rovd: validator";
const RTR: &str = "rovd: rtr";

//------------ Helpers --------------------------------------------------------

/// One test at a time: the flood alone holds ten thousand sockets, and the
/// timeouts the others check must not wait behind it.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The configuration: one source, notifies without delay, and the test's
/// own `[rtr]` lines.
fn config(rtr: &str) -> String {
    format!(
        "[rtr]\n\
         listen = [\"127.0.0.1:{PORT}\"]\n\
         notify-interval = 0\n\
         {rtr}\n\
         \n\
         [[source]]\n\
         path = \"vrps.json\"\n"
    )
}

/// The daemon's resident memory in KiB: `VmRSS` of the parent and its
/// children, summed.
fn rss_kib(pid: u32) -> u64 {
    std::iter::once(pid)
        .chain(children_of(pid).iter().map(|p| p.pid))
        .filter_map(|p| fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|status| {
            let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
            kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
        })
        .sum()
}

/// The highest [`rss_kib`] of a daemon, sampled every 50 ms on a thread of
/// its own until [`PeakRss::stop`] (or drop).
struct PeakRss {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl PeakRss {
    fn start(pid: u32) -> PeakRss {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let thread = thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                thread::sleep(Duration::from_millis(50));
            }
            peak
        });
        PeakRss {
            done,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> u64 {
        self.done.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for PeakRss {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// A TCP connection to 127.0.0.1:`port` from the address `from`. A `slow`
/// one is set up before its handshake as a router that reads little
/// across a real network: the smallest receive buffer the kernel grants,
/// so the window stays small, and an Ethernet MSS, so rovd's kernel does
/// not size the socket's send buffer for loopback's 64 KiB segments and
/// take a whole table into it.
fn connect_from(from: Ipv4Addr, port: u16, slow: bool) -> io::Result<TcpStream> {
    use nix::sys::socket::{
        bind, connect, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    if slow {
        setsockopt(&fd, sockopt::RcvBuf, &1024)?;
        setsockopt(&fd, sockopt::TcpMaxSeg, &1460)?;
    }
    bind(
        fd.as_raw_fd(),
        &SockaddrIn::from(SocketAddrV4::new(from, 0)),
    )?;
    let cache = SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    connect(fd.as_raw_fd(), &cache)?;
    Ok(TcpStream::from(fd))
}

/// Allow this process `need` open files: the soft limit up to the hard
/// one, and as root the hard one up to `need`. An error says why not.
fn allow_open_files(need: u64) -> Result<(), String> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
    if soft >= need {
        return Ok(());
    }
    let hard = if hard < need && is_root() { need } else { hard };
    if hard < need {
        return Err(format!(
            "the hard limit on open files is {hard}, below the {need} this test needs \
             (raise it with ulimit -Hn, or run as root)"
        ));
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
        .map_err(|e| format!("setrlimit RLIMIT_NOFILE {hard}: {e}"))
}

/// The daemon's child named `argv0`, once it runs.
fn child(daemon: &Daemon, argv0: &str) -> Proc {
    let deadline = Instant::now() + WAIT;
    loop {
        let kids = children_of(daemon.pid());
        if let Some(p) = kids.into_iter().find(|p| p.argv0 == argv0) {
            return p;
        }
        assert!(Instant::now() < deadline, "rovd has no child {argv0:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// Send `sig` to `p` if it is still the process seen.
fn signal(p: &Proc, sig: Signal) {
    if still_exists(p) {
        let _ = kill(Pid::from_raw(i32::try_from(p.pid).unwrap()), sig);
    }
}

/// Whether /proc shows `p` stopped by a signal.
fn is_stopped(p: &Proc) -> bool {
    proc_info(p.pid).is_some_and(|now| now.start_time == p.start_time && now.state == 'T')
}

/// Wait until `pred` holds, for at most `timeout`.
fn wait_until(timeout: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if pred() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

//------------ Watched --------------------------------------------------------

/// A daemon whose processes the test stops and continues. Dropping it,
/// also when the test fails, continues every process it stopped, stops the
/// daemon as the harness does (the parent, by pid), and then kills what is
/// left of its two children, by pid: no process of the test outlives it.
struct Watched {
    daemon: Option<Daemon>,
    /// The validator and the rtr worker, as first seen.
    children: Vec<Proc>,
    stopped: Vec<Proc>,
}

impl Watched {
    fn start(config: &str, files: &[(&str, &[u8])], env: &[(&str, &str)]) -> Watched {
        let daemon = Daemon::start_with(config, files, None, env);
        let children = vec![child(&daemon, VALIDATOR), child(&daemon, RTR)];
        Watched {
            daemon: Some(daemon),
            children,
            stopped: Vec::new(),
        }
    }

    fn parent(&self) -> Proc {
        proc_info(self.pid()).expect("rovd's parent process")
    }

    fn child(&self, argv0: &str) -> Proc {
        self.children
            .iter()
            .find(|p| p.argv0 == argv0)
            .cloned()
            .unwrap()
    }

    /// SIGSTOP `p`, and wait until it is stopped.
    fn stop(&mut self, p: &Proc) {
        self.stopped.push(p.clone());
        signal(p, Signal::SIGSTOP);
        assert!(
            wait_until(WAIT, || is_stopped(p)),
            "{} (pid {}) did not stop",
            p.argv0,
            p.pid
        );
    }

    /// SIGCONT `p`, and wait until it runs.
    fn cont(&mut self, p: &Proc) {
        signal(p, Signal::SIGCONT);
        self.stopped.retain(|s| s.pid != p.pid);
        assert!(
            wait_until(WAIT, || !is_stopped(p)),
            "{} (pid {}) did not continue",
            p.argv0,
            p.pid
        );
    }

    /// Wait until none of the daemon's processes exists any more.
    fn assert_all_gone(&self, timeout: Duration) {
        let left = || -> Vec<&Proc> { self.children.iter().filter(|p| still_exists(p)).collect() };
        assert!(
            wait_until(timeout, || left().is_empty()),
            "rovd processes left {timeout:?} after the parent: {:?}",
            left()
        );
    }
}

impl Deref for Watched {
    type Target = Daemon;

    fn deref(&self) -> &Daemon {
        self.daemon.as_ref().unwrap()
    }
}

impl DerefMut for Watched {
    fn deref_mut(&mut self) -> &mut Daemon {
        self.daemon.as_mut().unwrap()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        for p in &self.stopped {
            signal(p, Signal::SIGCONT);
        }
        drop(self.daemon.take());
        for p in &self.children {
            signal(p, Signal::SIGKILL);
        }
    }
}

//------------ Routers --------------------------------------------------------

/// Follow Serial Notifies with Serial Queries until `state` holds `want`.
fn follow(client: &mut RtrClient, state: &mut Synced, want: &Table, what: &str) {
    let deadline = Instant::now() + WAIT;
    while state.table != *want {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.next_event(left) {
            Event::Pdu(Pdu::SerialNotify { session, .. }) => {
                assert_eq!(
                    session, state.session,
                    "{what}: Serial Notify with another session"
                );
                assert!(
                    client.sync_serial(state),
                    "{what}: Cache Reset after a Serial Notify"
                );
            }
            Event::Timeout => state.table.assert_eq(want, what),
            other => panic!("{what}: expected Serial Notify, got {other:?}"),
        }
    }
}

/// The octets of a full answer at version 2 with `table`: Cache Response,
/// the payload PDUs (8210bis-27 §5.6, §5.7, §5.10, §5.12), End of Data.
fn answer_len(table: &Table) -> usize {
    let vrps: usize = table
        .vrps
        .iter()
        .map(|v| if v.addr.is_ipv4() { 20 } else { 32 })
        .sum();
    let keys: usize = table.keys.iter().map(|k| 32 + k.spki.len()).sum();
    let aspas: usize = table.aspas.values().map(|p| 12 + 4 * p.len()).sum();
    8 + vrps + keys + aspas + 24
}

/// An Error Report as a router sends it (8210bis-27 §5.11): `code`, no
/// PDU, no text.
fn error_report(version: u8, code: u16) -> Vec<u8> {
    let mut b = vec![version, 10]; // version, type 10
    b.extend_from_slice(&code.to_be_bytes()); // error code
    b.extend_from_slice(&16u32.to_be_bytes()); // length
    b.extend_from_slice(&0u32.to_be_bytes()); // length of the erroneous PDU
    b.extend_from_slice(&0u32.to_be_bytes()); // length of the text
    b
}

//------------ Silent connections --------------------------------------------

/// The silent connections of the flood test.
const FLOOD: usize = 10_000;

/// Their source addresses, 127.0.1.1 onwards: at most 32 connections from
/// each (the default `max-sessions-per-address`) needs 313 for 10,000.
const FLOOD_ADDRESSES: u32 = 320;

/// `n` connections to `port` that never send anything, spread over
/// [`FLOOD_ADDRESSES`] source addresses; opened by four threads.
fn flood(port: u16, n: usize) -> Vec<TcpStream> {
    const THREADS: usize = 4;
    thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    (t..n)
                        .step_by(THREADS)
                        .map(|i| {
                            let k = u32::try_from(i).unwrap() % FLOOD_ADDRESSES;
                            let from = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 1, 1)) + k);
                            connect_from(from, port, false)
                                .unwrap_or_else(|e| panic!("connection {i} from {from}: {e}"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a flood thread failed"))
            .collect()
    })
}

/// Wait until the cache has closed each of `conns`, at most until
/// `deadline`; returns how many it closed. Panics if one is sent anything.
fn count_closed(conns: &[TcpStream], deadline: Instant) -> usize {
    for c in conns {
        c.set_nonblocking(true).unwrap();
    }
    let mut open: Vec<&TcpStream> = conns.iter().collect();
    let mut byte = [0u8; 1];
    loop {
        open.retain(|&c| match { c }.read(&mut byte) {
            Ok(0) => false,
            Ok(_) => panic!("a connection that never asked was sent data"),
            Err(e) if e.kind() == ErrorKind::WouldBlock => true,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read: {e}"),
        });
        if open.is_empty() || Instant::now() >= deadline {
            return conns.len() - open.len();
        }
        thread::sleep(Duration::from_millis(100));
    }
}

//------------ Tests ----------------------------------------------------------

/// Ten thousand connections that never send a query, from 320 addresses,
/// while routers sync and follow an update; then rovd closes them all at
/// the query timeout.
#[test]
fn ten_thousand_silent_connections() {
    let _turn = turn();
    // The flood, the routers, and what the test and rtrclient hold.
    if let Err(why) = allow_open_files(FLOOD as u64 + 1000) {
        println!("skipped: {why}");
        return;
    }
    let Some(bin) = rtrclient() else { return };
    let data = Data::generate(51, 2000, 500);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let (want1, want2) = (expected(&json1, 2), expected(&json2, 2));
    let (want1_v1, want2_v1) = (expected(&json1, 1), expected(&json2, 1));
    let daemon = Daemon::start(
        &config("max-sessions = 10100\nquery-timeout = 5"),
        &[("vrps.json", json1.as_bytes())],
    );

    // Routers synced before the flood.
    let (mut router, mut state) = daemon.wait_for_data(2);
    state.table.assert_eq(&want1, "router before the flood");
    let real = Rtrclient::start(&bin, daemon.port);
    real.wait_for(&want1_v1, "before the flood");
    thread::sleep(Duration::from_secs(1));
    let rss_before = rss_kib(daemon.pid());
    let peak = PeakRss::start(daemon.pid());

    let started = Instant::now();
    let silent = flood(daemon.port, FLOOD);
    let flooded = Instant::now();
    println!("{FLOOD} connections opened in {:?}", flooded - started);

    // While they are open: a router that connects now gets the table; an
    // update reaches it and those synced before.
    let (mut late, mut late_state) = daemon.wait_for_data(2);
    late_state
        .table
        .assert_eq(&want1, "router connecting during the flood");
    let late_real = Rtrclient::start(&bin, daemon.port);
    late_real.wait_for(&want1_v1, "connecting during the flood");
    daemon.replace_file("vrps.json", json2.as_bytes());
    follow(
        &mut router,
        &mut state,
        &want2,
        "router synced before the flood",
    );
    follow(
        &mut late,
        &mut late_state,
        &want2,
        "router synced during the flood",
    );
    real.wait_for(&want2_v1, "update during the flood");
    late_real.wait_for(&want2_v1, "update, connected during the flood");
    let served = Instant::now();
    let closed_by_then = daemon.log_count("no query within 5 s");
    println!(
        "routers served {:?} after the flood, {closed_by_then} silent connections closed by then",
        served - flooded
    );
    // None may be closed before its query timeout: if all of this took
    // less, rovd held every one while the routers were served.
    if served < started + Duration::from_secs(5) {
        assert_eq!(
            closed_by_then, 0,
            "silent connections closed before the query timeout"
        );
    }

    // Then rovd closes every silent connection at the query timeout.
    let closed = count_closed(&silent, flooded + Duration::from_secs(5 + 15));
    let all_closed = Instant::now();
    let rss_peak = peak.stop();
    println!(
        "all closed {:?} after the last was opened; RSS {rss_before} KiB before, \
         {rss_peak} KiB at the peak",
        all_closed - flooded
    );
    assert_eq!(
        closed, FLOOD,
        "silent connections rovd closed within the query timeout and 15 s"
    );
    assert!(
        daemon.log_wait(WAIT, |log| log
            .lines()
            .filter(|l| l.contains("no query within 5 s"))
            .count()
            == FLOOD),
        "log lines `no query within 5 s`: {}",
        daemon.log_count("no query within 5 s")
    );
    assert_eq!(daemon.log_count("refused"), 0, "a connection was refused");

    // A connection that has not asked costs rovd its socket, a slot and
    // an empty session: a few hundred octets (10,000 took about 3 MiB
    // here, debug build). A buffer of a kilobyte or more per connection,
    // allocated before the router asks, would show as 10 MiB and more.
    let per_connection_kib = 1;
    assert!(
        rss_peak <= rss_before + FLOOD as u64 * per_connection_kib,
        "rovd grew from {rss_before} KiB to {rss_peak} KiB with {FLOOD} silent connections"
    );
}

/// A router that asks for a 50,000-VRP table and then reads four octets a
/// second is closed by the progress rule (16 KiB in 30 s) and logged;
/// meanwhile the other routers sync and follow an update.
#[test]
fn a_router_that_drips_is_closed() {
    let _turn = turn();
    let Some(bin) = rtrclient() else { return };
    let data = Data::generate(52, 40_000, 10_000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let (want1, want2) = (expected(&json1, 2), expected(&json2, 2));
    let daemon = Daemon::start(&config(""), &[("vrps.json", json1.as_bytes())]);
    let (mut router, mut state) = daemon.wait_for_data(2);
    state.table.assert_eq(&want1, "router before the slow one");
    assert!(want1.vrps.len() > 45_000, "{} VRPs", want1.vrps.len());

    let mut slow = connect_from(Ipv4Addr::LOCALHOST, daemon.port, true).unwrap();
    let peer = slow.local_addr().unwrap().to_string();
    slow.write_all(&reset_query(2)).unwrap();
    let asked = Instant::now();
    slow.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let closed = format!("session {peer} closed (router too slow");
    let mut taken = 0;
    let mut updated = false;
    let mut real = None;
    while !daemon.log().contains(&closed) {
        assert!(
            asked.elapsed() < Duration::from_secs(45),
            "the slow router was not closed within 45 s"
        );
        thread::sleep(Duration::from_secs(1));
        let mut few = [0u8; 4];
        match slow.read(&mut few) {
            Ok(n) => taken += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("slow router: {e}"),
        }
        // Meanwhile a real router syncs, and both follow an update.
        if !updated && asked.elapsed() > Duration::from_secs(5) {
            let client = Rtrclient::start(&bin, daemon.port);
            client.wait_for(&expected(&json1, 1), "full sync next to the slow router");
            daemon.replace_file("vrps.json", json2.as_bytes());
            client.wait_for(&expected(&json2, 1), "update next to the slow router");
            follow(
                &mut router,
                &mut state,
                &want2,
                "update next to the slow router",
            );
            real = Some(client);
            updated = true;
        }
    }
    let took = asked.elapsed();
    println!("the slow router was closed {took:?} after its query, having read {taken} octets");
    assert!(updated, "closed before the update: {took:?}");
    assert!(
        took >= Duration::from_secs(29),
        "closed after {took:?}, before a progress window of 30 s had passed"
    );
    assert!(daemon.log_count("router too slow") == 1, "{}", daemon.log());

    // What it was sent ends without End of Data, and then the connection.
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    match slow.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("slow router after the close: {e}"),
    }
    let full = answer_len(&want1);
    assert!(
        taken + rest.len() < full,
        "the slow router got {} octets of a {full}-octet answer",
        taken + rest.len()
    );

    // The other routers are still served.
    let (_, again) = daemon.wait_for_data(2);
    again
        .table
        .assert_eq(&want2, "full sync after the slow router");
    drop(real);
}

/// A router that sends nothing but non-fatal Error Reports is closed at
/// the ninth without a query between, and logged within its share of
/// lines; another router does not notice.
#[test]
fn an_error_report_flood_is_closed() {
    let _turn = turn();
    let Some(bin) = rtrclient() else { return };
    let data = Data::generate(53, 2000, 500);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let daemon = Daemon::start(&config(""), &[("vrps.json", json1.as_bytes())]);
    let (mut other, mut other_state) = daemon.wait_for_data(2);
    let real = Rtrclient::start(&bin, daemon.port);
    real.wait_for(&expected(&json1, 1), "full sync");

    let (mut flooder, mut state) = daemon.wait_for_data(2);
    let peer = flooder.local_addr().to_string();
    let report = error_report(2, ERR_NO_DATA);
    // Eight are tolerated; a query starts the count again.
    for _ in 0..8 {
        flooder.send(&report);
    }
    flooder.expect_silence(Duration::from_secs(1));
    assert!(
        flooder.sync_serial(&mut state),
        "Serial Query after 8 reports"
    );
    for _ in 0..8 {
        flooder.send(&report);
    }
    flooder.expect_silence(Duration::from_secs(1));
    // The ninth without a query closes the session, with no answer.
    flooder.send(&report);
    let said = flooder.expect_close(WAIT);
    assert!(said.is_empty(), "answered Error Reports with {said:?}");

    // Another router reporting in a loop, as fast as it can.
    let (mut looping, _) = daemon.wait_for_data(2);
    let looping_peer = looping.local_addr().to_string();
    let mut sent = 0;
    while sent < 10_000 && looping.try_send(&report).is_ok() {
        sent += 1;
    }
    let closed = |who: &str| format!("session {who} closed (more than 8 Error Reports");
    assert!(
        daemon.log_wait(WAIT, |log| log.contains(&closed(&peer))
            && log.contains(&closed(&looping_peer))),
        "the flooding sessions were not closed"
    );
    println!("the looping router sent {sent} Error Reports before it saw the close");

    let log = daemon.log();
    for who in [&peer, &looping_peer] {
        let logged = count(&log, who, "router reported error");
        assert!(
            (1..=5).contains(&logged),
            "{who}: {logged} lines about its Error Reports"
        );
        assert_eq!(
            count(
                &log,
                who,
                "more router-caused events; not logged for this session"
            ),
            1,
            "{who}: the note that the rest is not logged"
        );
        assert_eq!(count(&log, who, "closed ("), 1);
    }

    // The other router did not notice, and follows an update.
    daemon.replace_file("vrps.json", json2.as_bytes());
    follow(
        &mut other,
        &mut other_state,
        &expected(&json2, 2),
        "the router next to the flood",
    );
    real.wait_for(&expected(&json2, 1), "update next to the flood");
}

/// The validator stopped: the rtr worker serves routers on its own, full
/// and incremental; an update made meanwhile arrives once it continues.
#[test]
fn stopped_validator() {
    let _turn = turn();
    let Some(bin) = rtrclient() else { return };
    let data = Data::generate(54, 3000, 1000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let (want1, want2) = (expected(&json1, 2), expected(&json2, 2));
    let mut w = Watched::start(&config(""), &[("vrps.json", json1.as_bytes())], &[]);
    let (mut router, mut state) = w.wait_for_data(2);
    let validator = w.child(VALIDATOR);
    w.stop(&validator);

    let (_, full) = w.wait_for_data(2);
    full.table
        .assert_eq(&want1, "full sync with the validator stopped");
    let mut from = state.clone();
    assert!(
        RtrClient::connect(w.port).sync_serial(&mut from),
        "Serial Query with the validator stopped"
    );
    from.table
        .assert_eq(&want1, "serial sync with the validator stopped");
    let real = Rtrclient::start(&bin, w.port);
    real.wait_for(&expected(&json1, 1), "full sync with the validator stopped");

    w.replace_file("vrps.json", json2.as_bytes());
    router.expect_silence(Duration::from_secs(2));
    w.cont(&validator);
    follow(&mut router, &mut state, &want2, "update after SIGCONT");
    real.wait_for(&expected(&json2, 1), "update after SIGCONT");
}

/// The rtr worker stopped for a few seconds: a query waits, and after
/// SIGCONT is answered with exactly a table; an update made meanwhile
/// arrives.
#[test]
fn stopped_rtr() {
    let _turn = turn();
    let Some(bin) = rtrclient() else { return };
    let data = Data::generate(55, 3000, 1000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let (want1, want2) = (expected(&json1, 2), expected(&json2, 2));
    let mut w = Watched::start(&config(""), &[("vrps.json", json1.as_bytes())], &[]);
    let (mut router, mut state) = w.wait_for_data(2);
    let real = Rtrclient::start(&bin, w.port);
    real.wait_for(&expected(&json1, 1), "full sync");
    let rtr = w.child(RTR);
    w.stop(&rtr);

    // The kernel completes the handshake; the query waits.
    let mut waiting = RtrClient::connect(w.port);
    waiting.send(&reset_query(2));
    w.replace_file("vrps.json", json2.as_bytes());
    waiting.expect_silence(Duration::from_secs(3));
    router.expect_silence(Duration::from_secs(1));
    w.cont(&rtr);

    // Which table answers depends on whether rtr reads the query or the
    // snapshot first; either is whole, and the update follows.
    let mut answered = match waiting.read_answer(2) {
        Answer::Data {
            session,
            serial,
            timers,
            payload,
        } => Synced {
            version: 2,
            session,
            serial,
            timers,
            table: Table::from_full(&payload),
        },
        other => panic!("query answered after SIGCONT with {other:?}"),
    };
    if answered.table != want2 {
        answered
            .table
            .assert_eq(&want1, "query answered after SIGCONT");
    }
    follow(
        &mut waiting,
        &mut answered,
        &want2,
        "query made while rtr was stopped",
    );
    follow(
        &mut router,
        &mut state,
        &want2,
        "update made while rtr was stopped",
    );
    real.wait_for(&expected(&json2, 1), "update made while rtr was stopped");
}

/// The parent stopped: the children serve and pass updates on without it;
/// continued, it ends everything on SIGTERM within seconds.
#[test]
fn stopped_parent() {
    let _turn = turn();
    let Some(bin) = rtrclient() else { return };
    let data = Data::generate(56, 3000, 1000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let (want1, want2) = (expected(&json1, 2), expected(&json2, 2));
    let mut w = Watched::start(&config(""), &[("vrps.json", json1.as_bytes())], &[]);
    let (mut router, mut state) = w.wait_for_data(2);
    let parent = w.parent();
    w.stop(&parent);

    let (_, full) = w.wait_for_data(2);
    full.table
        .assert_eq(&want1, "full sync with the parent stopped");
    let real = Rtrclient::start(&bin, w.port);
    real.wait_for(&expected(&json1, 1), "full sync with the parent stopped");
    w.replace_file("vrps.json", json2.as_bytes());
    follow(
        &mut router,
        &mut state,
        &want2,
        "update with the parent stopped",
    );
    real.wait_for(&expected(&json2, 1), "update with the parent stopped");
    let (_, full) = w.wait_for_data(2);
    full.table
        .assert_eq(&want2, "full sync after the update, parent stopped");

    w.cont(&parent);
    w.signal(Signal::SIGTERM);
    let status = w.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "rovd after SIGTERM: {status}");
    w.assert_all_gone(Duration::from_secs(5));
}

/// The validator stopped, then 2,000 SIGHUPs and a SIGTERM: the parent
/// never waits on the stopped child, kills it after its grace period and
/// exits, leaving no process behind.
#[test]
fn stopped_validator_then_sighup_storm_and_sigterm() {
    let _turn = turn();
    let data = Data::generate(57, 2000, 500);
    let json = data.to_json();
    let mut w = Watched::start(&config(""), &[("vrps.json", json.as_bytes())], &[]);
    w.wait_for_data(2);
    let validator = w.child(VALIDATOR);
    w.stop(&validator);

    for _ in 0..2000 {
        w.signal(Signal::SIGHUP);
        thread::sleep(Duration::from_millis(2));
    }
    // The reloads reached the rtr worker past the stopped validator.
    assert!(
        w.log_wait(WAIT, |log| log.contains("rtr: configuration reloaded")),
        "no reload reached rtr"
    );
    let (_, full) = w.wait_for_data(2);
    full.table
        .assert_eq(&expected(&json, 2), "full sync after the SIGHUPs");

    let asked = Instant::now();
    w.signal(Signal::SIGTERM);
    let status = w.wait_exit(Duration::from_secs(15));
    println!("rovd exited {:?} after SIGTERM: {status}", asked.elapsed());
    assert!(status.success(), "rovd after SIGTERM: {status}");
    assert_eq!(
        w.log_count("validator did not exit in time; killing it"),
        1,
        "{}",
        w.log()
    );
    w.assert_all_gone(Duration::from_secs(5));
}

/// A snapshot cut off on the channel (the validator dies while sending
/// it) is never installed: routers keep exactly the first table until the
/// daemon exits, non-zero, naming the validator.
#[test]
fn a_truncated_snapshot_is_never_served() {
    if !cfg!(feature = "sandbox-probe") {
        common::skip("built without the sandbox-probe feature");
        return;
    }
    let _turn = turn();
    let Some(bin) = rtrclient() else { return };
    // Several batches of the stream, so the cut falls inside the table.
    let data = Data::generate(58, 15_000, 5_000);
    let (json1, json2) = (data.to_json(), data.updated().to_json());
    let want1 = expected(&json1, 2);
    let mut w = Watched::start(
        &config(""),
        &[("vrps.json", json1.as_bytes())],
        &[("ROVD_SANDBOX_PROBE", "truncate-snapshot")],
    );
    let (mut router, state) = w.wait_for_data(2);
    state.table.assert_eq(&want1, "the first snapshot");
    let real = Rtrclient::start(&bin, w.port);
    let want1_v1 = expected(&json1, 1);
    let printed = real.wait_for(&want1_v1, "the first snapshot");

    w.replace_file("vrps.json", json2.as_bytes());
    // Ask again and again until the daemon goes away: each answer is the
    // empty delta to the first serial.
    let mut queries = 0;
    'session: loop {
        if router
            .try_send(&serial_query(2, state.session, state.serial))
            .is_err()
        {
            break;
        }
        queries += 1;
        loop {
            match router.next_event(WAIT) {
                Event::Pdu(Pdu::CacheResponse { session, .. }) => {
                    assert_eq!(session, state.session, "another session");
                }
                Event::Pdu(Pdu::EndOfData { serial, .. }) => {
                    assert_eq!(serial, state.serial, "a new serial was served");
                    break;
                }
                Event::Closed => break 'session,
                Event::Timeout => panic!("no answer within {WAIT:?}"),
                Event::Pdu(other) => panic!("after the cut snapshot the router got {other:?}"),
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    let status = w.wait_exit(WAIT);
    println!("{queries} Serial Queries answered with the first table; rovd: {status}");
    assert!(!status.success(), "rovd exit status {status}");
    w.assert_all_gone(Duration::from_secs(5));

    let log = w.log();
    assert!(log.contains("sandbox probe: snapshot cut"), "{log}");
    assert!(
        !log.contains("serial 1"),
        "rtr installed the cut snapshot:\n{log}"
    );
    assert_eq!(w.log_count("validator exited with status 3"), 1, "{log}");
    // rtrclient printed nothing more: its table is still the first.
    thread::sleep(Duration::from_secs(1));
    let changes = real.changes();
    apply(&changes).assert_eq(&want1_v1, "rtrclient after the daemon exited");
    assert_eq!(
        changes.len(),
        printed,
        "rtrclient printed changes after the cut"
    );
}
