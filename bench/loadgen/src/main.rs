//! rtrload — a load generator and meter for RPKI-to-Router caches.
//!
//! It plays many routers against one cache (rovd, StayRTR, RTRTR,
//! Routinator, anything that speaks RTR) and measures: how long full
//! resets take (`reset`), what idle sessions cost the cache (`idle`), how
//! fast an update reaches every router (`follow`). Every session checks
//! every PDU with rovd's strict client decoder and ends with a content
//! hash of its table, which `hash` computes for a payload file, so that a
//! benchmark also proves each router got the right data. Runs as any
//! user; it needs no privileges, only file descriptors.
//!
//! - `router.rs` — one session, sans I/O: queries out, PDUs in, hash
//! - `drive.rs` — connecting and driving sessions on worker threads
//! - `hash.rs` — the order-independent content hash
//! - `gen.rs` — the benchmark data sets, as rpki-client JSON and SLURM

#![forbid(unsafe_code)]
// Counts and times as f64 for the report: 52 bits of mantissa are plenty.
#![allow(clippy::cast_precision_loss)]

mod drive;
mod gen;
mod hash;
mod router;

use std::fs::File;
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use clap::{Args, Parser, Subcommand};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::signal::{SigSet, Signal};
use rovd::payload::Snapshot;
use rovd::pdu::{kind, Header, Version};
use rovd::validator::input::{self, Format};
use serde_json::json;

use crate::drive::{Progress, Start, Until};
use crate::hash::ContentHash;
use crate::router::{Phase, Router};

/// Failures printed in full; the rest are counted.
const FAILURES_SHOWN: usize = 10;

/// How often the main thread looks at the workers' progress.
const LOOK: Duration = Duration::from_millis(20);

#[derive(Parser)]
#[command(
    name = "rtrload",
    version,
    about = "Load generator and meter for RTR caches"
)]
struct Cli {
    /// Print results as one JSON object per line.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Full resets: every session sends a Reset Query and reads to End of
    /// Data.
    Reset {
        #[command(flatten)]
        sessions: Sessions,
        /// Runs, each with fresh connections; the median wall time is
        /// printed at the end.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Exit 1 unless every session ends with this content hash.
        #[arg(long, value_name = "HEX")]
        expect_hash: Option<String>,
        /// Check only the PDU framing, not the content: measures the cache
        /// rather than this client's decoder. No hash.
        #[arg(long, conflicts_with = "expect_hash")]
        frame_only: bool,
        /// Sessions still reading at `--timeout` are reported as timed out
        /// instead of failing the run: for caches too slow to finish.
        #[arg(long)]
        partial: bool,
        /// Retry one session until the cache serves a complete table (and
        /// `--expect-hash`), then print how long that took: start-up time.
        #[arg(long, conflicts_with_all = ["partial", "frame_only"])]
        wait_ready: bool,
    },
    /// Record a cache's full answer once, then serve exactly those octets
    /// to every Reset Query with no protocol logic: the floor for `reset`.
    Replay {
        /// The cache to record, as HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        from: String,
        /// Where to serve the recording.
        #[arg(long, value_name = "ADDR:PORT")]
        listen: SocketAddr,
        /// The RTR version to record.
        #[arg(long, default_value = "2", value_parser = parse_version)]
        version: Version,
    },
    /// Synced sessions that stay open and idle, to measure what they cost
    /// the cache.
    Idle {
        #[command(flatten)]
        sessions: Sessions,
        /// Close after this long instead of at SIGINT or SIGTERM.
        #[arg(long, value_name = "SECONDS")]
        hold: Option<u64>,
    },
    /// Synced sessions that wait for a Serial Notify and apply the delta.
    Follow {
        #[command(flatten)]
        sessions: Sessions,
        /// Follow updates until every session's table has this content
        /// hash (a cache may announce serials before the one with the
        /// change); exit 1 if one ends with another.
        #[arg(long, value_name = "HEX")]
        expect_hash: Option<String>,
    },
    /// Write a deterministic data set: rpki-client JSON, optionally the
    /// same as SLURM assertions, and a second version with a percentage
    /// of it changed.
    Gen {
        /// VRPs in the set (22 % IPv6, 10 router keys, 1,000 ASPA).
        #[arg(long, default_value_t = 800_000)]
        vrps: usize,
        /// The generator's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where the rpki-client JSON goes.
        #[arg(value_name = "JSON")]
        out: PathBuf,
        /// Also write the set as a SLURM file of assertions here.
        #[arg(long, value_name = "FILE")]
        slurm: Option<PathBuf>,
        /// Also write a version with this percentage changed, as
        /// `<json>.changed` (and `<slurm>.changed`).
        #[arg(long, value_name = "PERCENT")]
        changed: Option<f64>,
    },
    /// The content hash of a payload file as a cache serves it.
    Hash {
        /// A JSON or CSV payload file (rpki-client, StayRTR, Routinator).
        file: PathBuf,
        /// The protocol version: 0 VRPs, 1 and router keys, 2 and ASPA.
        #[arg(long, default_value = "2", value_parser = parse_version)]
        version: Version,
    },
}

// The fields are the command-line options (`--sessions`, ...).
#[allow(clippy::struct_field_names)]
#[derive(Args)]
struct Sessions {
    /// The cache, as HOST:PORT.
    target: String,
    /// The RTR version to ask for.
    #[arg(long, default_value = "2", value_parser = parse_version)]
    version: Version,
    /// Concurrent sessions.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    sessions: u64,
    /// Worker threads reading the sessions (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
    /// Connects in flight at once.
    #[arg(long, default_value_t = 64)]
    connect_window: usize,
    /// Give up after this many seconds (for `idle`: to establish).
    #[arg(long, value_name = "S", default_value_t = 300)]
    timeout: u64,
    /// (`idle`, `follow`) Fetch the full table on one session only; every
    /// other session joins with a Serial Query for that serial (§5.3), as
    /// routers reconnecting to a cache they know do.
    #[arg(long)]
    join: bool,
    /// Speak RTR over TLS, trusting the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Present this client certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key", requires = "tls_ca")]
    tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The name the cache's certificate must carry (default: the host of
    /// the target).
    #[arg(long, value_name = "NAME", requires = "tls_ca")]
    tls_name: Option<String>,
}

impl Sessions {
    #[allow(clippy::cast_possible_truncation)] // no machine holds 2^32 sessions
    fn count(&self) -> usize {
        self.sessions as usize
    }

    fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| thread::available_parallelism().map_or(1, std::num::NonZero::get))
    }

    fn addr(&self) -> Result<SocketAddr, String> {
        self.target
            .to_socket_addrs()
            .map_err(|e| format!("{}: {e}", self.target))?
            .next()
            .ok_or_else(|| format!("{}: no address", self.target))
    }

    fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs(self.timeout)
    }

    /// The TLS client, with `--tls-ca`.
    fn tls(&self) -> Result<Option<Arc<drive::Tls>>, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
        let Some(ca) = &self.tls_ca else {
            return Ok(None);
        };
        let certs = |p: &PathBuf| -> Result<Vec<CertificateDer<'static>>, String> {
            CertificateDer::pem_file_iter(p)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| format!("{}: {e}", p.display()))
        };
        let mut roots = rustls::RootCertStore::empty();
        for c in certs(ca)? {
            roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
        let config = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                let k = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| format!("{}: {e}", key.display()))?;
                builder
                    .with_client_auth_cert(certs(cert)?, k)
                    .map_err(|e| format!("{}: {e}", key.display()))?
            }
            _ => builder.with_no_client_auth(),
        };
        let host = if let Some(n) = &self.tls_name {
            n.clone()
        } else {
            let host = self.target.rsplit_once(':').map_or(&*self.target, |h| h.0);
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string()
        };
        let name =
            ServerName::try_from(host.clone()).map_err(|e| format!("TLS name {host:?}: {e}"))?;
        Ok(Some(Arc::new(drive::Tls {
            config: Arc::new(config),
            name,
        })))
    }
}

/// An RTR version on the command line: 0, 1 or 2.
fn parse_version(s: &str) -> Result<Version, String> {
    s.parse::<u8>()
        .ok()
        .and_then(Version::new)
        .ok_or_else(|| format!("{s:?} is not an RTR version (0, 1 or 2)"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match &cli.mode {
        Mode::Reset {
            sessions,
            wait_ready: true,
            expect_hash,
            ..
        } => ready(sessions, expect_hash.as_deref(), cli.json),
        Mode::Reset {
            sessions,
            repeat,
            expect_hash,
            frame_only,
            partial,
            ..
        } => reset(
            sessions,
            *repeat,
            expect_hash.as_deref(),
            *frame_only,
            *partial,
            cli.json,
        ),
        Mode::Replay {
            from,
            listen,
            version,
        } => replay(from, *listen, *version),
        Mode::Idle { sessions, hold } => idle(sessions, *hold, cli.json),
        Mode::Follow {
            sessions,
            expect_hash,
        } => follow(sessions, expect_hash.as_deref(), cli.json),
        Mode::Hash { file, version } => file_hash(file, version.number(), cli.json),
        Mode::Gen {
            vrps,
            seed,
            out,
            slurm,
            changed,
        } => generate(*vrps, *seed, out, slurm.as_deref(), *changed),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("rtrload: {why}");
            ExitCode::FAILURE
        }
    }
}

//------------ gen -----------------------------------------------------------

fn generate(
    vrps: usize,
    seed: u64,
    json_path: &std::path::Path,
    slurm_path: Option<&std::path::Path>,
    changed: Option<f64>,
) -> Result<(), String> {
    let (first, second) = gen::generate(&gen::Sizes { vrps, seed }, changed);
    let with_suffix = |p: &std::path::Path| {
        let mut s = p.as_os_str().to_owned();
        s.push(".changed");
        PathBuf::from(s)
    };
    gen::write_json(&first, json_path)?;
    if let Some(p) = slurm_path {
        gen::write_slurm(&first, p)?;
    }
    if let Some(second) = &second {
        gen::write_json(second, &with_suffix(json_path))?;
        if let Some(p) = slurm_path {
            gen::write_slurm(second, &with_suffix(p))?;
        }
    }
    println!(
        "{} VRPs, {} router keys, {} ASPAs{}",
        first.vrps.len(),
        first.router_keys.len(),
        first.aspas.len(),
        if second.is_some() {
            "; changed version written"
        } else {
            ""
        }
    );
    Ok(())
}

//------------ reset ---------------------------------------------------------

/// One run of `reset`.
struct ResetRun {
    wall: Duration,
    /// Per-session times, sorted.
    per_session: Vec<Duration>,
    octets: u64,
    pdus: u64,
    version: u8,
    serial: Option<u32>,
    hash: ContentHash,
    /// Sessions that reached End of Data (all, unless `--partial`).
    completed: usize,
    /// Octets received by all sessions, the timed-out ones too.
    octets_all: u64,
}

#[allow(clippy::too_many_lines)] // one measurement, from connecting to the report
fn reset(
    s: &Sessions,
    repeat: usize,
    expect: Option<&str>,
    frame_only: bool,
    partial: bool,
    json: bool,
) -> Result<(), String> {
    let addr = s.addr()?;
    let tls = s.tls()?;
    raise_fd_limit(s.count());
    let start = Start::reset(s.version).frame_only(frame_only);
    let mut runs = Vec::new();
    for run in 1..=repeat.max(1) {
        let deadline = s.deadline();
        let streams = drive::connect(addr, s.count(), s.connect_window, deadline)?;
        let progress = Arc::new(Progress::default());
        let mut routers = drive::run(
            streams,
            tls.clone(),
            &start,
            Until::Synced,
            s.threads(),
            deadline,
            &progress,
        );
        let timed_out = routers.iter().filter(|r| r.timed_out).count();
        // What every session received, finished or not.
        let octets_all: u64 = routers.iter().map(|r| r.octets).sum();
        if partial {
            routers.retain(|r| !r.timed_out);
            if routers.is_empty() {
                report_none(s, octets_all, json);
                return Ok(());
            }
        }
        failures(&routers)?;
        let hash = agreed(&routers, expect)?;
        let first = routers.iter().filter_map(|r| r.queried_at).min();
        let last = if timed_out > 0 {
            Some(deadline)
        } else {
            routers.iter().filter_map(|r| r.synced_at).max()
        };
        let mut per_session: Vec<Duration> = routers
            .iter()
            .filter_map(|r| Some(r.synced_at? - r.queried_at?))
            .collect();
        per_session.sort_unstable();
        let r = ResetRun {
            wall: last.zip(first).map_or(Duration::ZERO, |(l, f)| l - f),
            per_session,
            octets: routers.iter().map(|r| r.octets).sum(),
            pdus: routers.iter().map(|r| r.pdus).sum(),
            version: routers[0].version(),
            serial: routers[0].serial,
            hash,
            completed: routers.len(),
            octets_all,
        };
        if !json {
            if timed_out > 0 {
                println!("run {run}: {timed_out} sessions timed out; the rest:");
            }
            println!(
                "run {run}: {} sessions at v{}, wall {:.3?}, per session min {:.3?} median {:.3?} \
                 max {:.3?}, {} octets, {} PDUs, serial {}, hash {} ({} items)",
                r.completed,
                r.version,
                r.wall,
                r.per_session[0],
                median(&r.per_session),
                r.per_session[r.per_session.len() - 1],
                r.octets,
                r.pdus,
                r.serial.unwrap_or(0),
                r.hash.hex(),
                r.hash.items(),
            );
        }
        runs.push(r);
    }
    let mut walls: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
    walls.sort_unstable();
    if json {
        let runs: Vec<_> = runs
            .iter()
            .map(|r| {
                json!({
                    "wall_s": r.wall.as_secs_f64(),
                    "session_min_s": r.per_session[0].as_secs_f64(),
                    "session_median_s": median(&r.per_session).as_secs_f64(),
                    "session_max_s": r.per_session[r.per_session.len() - 1].as_secs_f64(),
                    "octets": r.octets,
                    "pdus": r.pdus,
                    "version": r.version,
                    "serial": r.serial,
                    "hash": r.hash.hex(),
                    "items": r.hash.items(),
                    "completed": r.completed,
                    "octets_all": r.octets_all,
                })
            })
            .collect();
        emit(json!({
            "mode": "reset",
            "target": s.target,
            "sessions": s.count(),
            "runs": runs,
            "median_wall_s": median(&walls).as_secs_f64(),
        }));
    } else if walls.len() > 1 {
        println!(
            "median wall over {} runs: {:.3?}",
            walls.len(),
            median(&walls)
        );
    }
    Ok(())
}

//------------ idle ----------------------------------------------------------

fn idle(s: &Sessions, hold: Option<u64>, json: bool) -> Result<(), String> {
    let addr = s.addr()?;
    let tls = s.tls()?;
    raise_fd_limit(s.count());
    let progress = Arc::new(Progress::default());
    // Block the signals before any thread starts, so that every thread
    // inherits the mask and only the waiter below takes them.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals
        .thread_block()
        .map_err(|e| format!("block signals: {e}"))?;
    {
        let progress = progress.clone();
        thread::spawn(move || {
            if signals.wait().is_ok() {
                progress.stop.store(true, Ordering::Relaxed);
            }
        });
    }
    let start = Instant::now();
    let deadline = s.deadline();
    let first = start_for(s, addr, deadline)?;
    let streams = drive::connect(addr, s.count(), s.connect_window, deadline)?;
    // Held sessions run until stopped; the bound is a year without --hold.
    let held = Duration::from_secs(hold.unwrap_or(365 * 86_400));
    let runner = {
        let (progress, threads) = (progress.clone(), s.threads());
        thread::spawn(move || {
            drive::run(
                streams,
                tls,
                &first,
                Until::Stopped,
                threads,
                deadline + held,
                &progress,
            )
        })
    };
    let all = wait_synced(&progress, s.count(), deadline);
    if all {
        let took = start.elapsed();
        if json {
            emit(json!({
                "event": "established",
                "sessions": s.count(),
                "established_s": took.as_secs_f64(),
            }));
        } else {
            println!("established {} sessions in {took:.3?}", s.count());
        }
        let _ = std::io::stdout().flush();
        let until = Instant::now() + held;
        while !progress.stop.load(Ordering::Relaxed)
            && Instant::now() < until
            && progress.failed.load(Ordering::Relaxed) == 0
        {
            thread::sleep(LOOK);
        }
    }
    progress.stop.store(true, Ordering::Relaxed);
    let routers = runner.join().expect("runner thread");
    failures(&routers)?;
    if !all {
        return Err("not every session established in time".into());
    }
    let hash = agreed(&routers, None)?;
    let octets: u64 = routers.iter().map(|r| r.octets).sum();
    if json {
        emit(json!({
            "mode": "idle",
            "target": s.target,
            "sessions": s.count(),
            "held_s": start.elapsed().as_secs_f64(),
            "octets": octets,
            "hash": hash.hex(),
            "items": hash.items(),
        }));
    } else {
        println!(
            "closed {} sessions after {:.3?}; {octets} octets, hash {} ({} items)",
            s.count(),
            start.elapsed(),
            hash.hex(),
            hash.items()
        );
    }
    Ok(())
}

//------------ follow --------------------------------------------------------

fn follow(s: &Sessions, expect: Option<&str>, json: bool) -> Result<(), String> {
    let addr = s.addr()?;
    let tls = s.tls()?;
    raise_fd_limit(s.count());
    let deadline = s.deadline();
    let first = start_for(s, addr, deadline)?.until_hash(expect);
    let streams = drive::connect(addr, s.count(), s.connect_window, deadline)?;
    let progress = Arc::new(Progress::default());
    let runner = {
        let (progress, threads) = (progress.clone(), s.threads());
        thread::spawn(move || {
            drive::run(
                streams,
                tls,
                &first,
                Until::Updated,
                threads,
                deadline,
                &progress,
            )
        })
    };
    if wait_synced(&progress, s.count(), deadline) {
        if json {
            emit(json!({ "event": "synced", "sessions": s.count() }));
        } else {
            println!("synced {} sessions; waiting for Serial Notify", s.count());
        }
        let _ = std::io::stdout().flush();
    }
    let routers = runner.join().expect("runner thread");
    failures(&routers)?;
    let hash = agreed(&routers, expect)?;
    let mut serials: Vec<Option<u32>> = routers.iter().map(|r| r.serial).collect();
    serials.sort_unstable();
    serials.dedup();
    // With a hash to reach, sessions may end at different serials of the
    // same data; without, they all took the one update.
    if serials.len() != 1 && expect.is_none() {
        return Err(format!("sessions ended at different serials: {serials:?}"));
    }
    let updates = routers.iter().map(|r| r.updates).max().unwrap_or(0);
    let first = routers.iter().filter_map(|r| r.notified_at).min();
    let last = routers.iter().filter_map(|r| r.updated_at).max();
    let took = last.zip(first).map_or(Duration::ZERO, |(l, f)| l - f);
    // Wall-clock times, to line up the runs of several rtrload processes
    // (a chain of caches, each followed by its own).
    let (now, wall) = (Instant::now(), std::time::SystemTime::now());
    let unix = |t: Option<Instant>| {
        t.map(|t| {
            let at = wall - now.saturating_duration_since(t);
            at.duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        })
    };
    let from = routers[0].synced_serial.unwrap_or(0);
    let to = serials[serials.len() - 1].unwrap_or(0);
    let octets: u64 = routers.iter().map(|r| r.octets).sum();
    let pdus: u64 = routers.iter().map(|r| r.pdus).sum();
    if json {
        emit(json!({
            "mode": "follow",
            "target": s.target,
            "sessions": s.count(),
            "version": routers[0].version(),
            "from_serial": from,
            "serial": to,
            "update_s": took.as_secs_f64(),
            "first_notify_unix": unix(first),
            "last_update_unix": unix(last),
            "serials_applied": updates,
            "octets": octets,
            "pdus": pdus,
            "hash": hash.hex(),
            "items": hash.items(),
        }));
    } else {
        println!(
            "updated {} sessions from serial {from} to {to} in {took:.3?} (first Serial Notify \
             to last End of Data; at most {updates} serials applied); {octets} octets, {pdus} \
             PDUs in all; hash {} ({} items)",
            s.count(),
            hash.hex(),
            hash.items()
        );
    }
    Ok(())
}

/// `reset --partial` when no session finished: what arrived in the time.
fn report_none(s: &Sessions, octets_all: u64, json: bool) {
    if json {
        emit(json!({
            "mode": "reset",
            "target": s.target,
            "sessions": s.count(),
            "runs": [{"wall_s": s.timeout as f64, "completed": 0, "octets_all": octets_all}],
            "median_wall_s": s.timeout as f64,
        }));
    } else {
        println!(
            "no session finished in {} s; {octets_all} octets received in all",
            s.timeout
        );
    }
}

/// How the sessions of `idle` and `follow` begin: with a full reset each,
/// or, with `--join`, with a Serial Query for the table one primer session
/// fetched first (and closed).
fn start_for(s: &Sessions, addr: SocketAddr, deadline: Instant) -> Result<Start, String> {
    let full = Start::reset(s.version);
    if !s.join {
        return Ok(full);
    }
    let stream = drive::connect(addr, 1, 1, deadline)?;
    let progress = Arc::new(Progress::default());
    let mut primer = drive::run(
        stream,
        s.tls()?,
        &full,
        Until::Synced,
        1,
        deadline,
        &progress,
    );
    failures(&primer).map_err(|e| format!("primer session: {e}"))?;
    Ok(Start::join(primer.remove(0)))
}

//------------ ready ---------------------------------------------------------

/// `reset --wait-ready`: one session, again and again, until the cache
/// serves a complete table; prints the time since rtrload started.
fn ready(s: &Sessions, expect: Option<&str>, json: bool) -> Result<(), String> {
    let began = Instant::now();
    let addr = s.addr()?;
    let deadline = s.deadline();
    let start = Start::reset(s.version);
    let tls = s.tls()?;
    let mut attempts = 0u32;
    let mut last = String::from("no attempt");
    while Instant::now() < deadline {
        attempts += 1;
        match drive::connect(addr, 1, 1, deadline) {
            Err(e) => last = e,
            Ok(streams) => {
                let progress = Arc::new(Progress::default());
                let routers = drive::run(
                    streams,
                    tls.clone(),
                    &start,
                    Until::Synced,
                    1,
                    deadline,
                    &progress,
                );
                match failures_quiet(&routers).and_then(|()| agreed(&routers, expect)) {
                    Ok(hash) => {
                        let took = began.elapsed();
                        if json {
                            emit(json!({
                                "mode": "ready",
                                "target": s.target,
                                "ready_s": took.as_secs_f64(),
                                "attempts": attempts,
                                "hash": hash.hex(),
                                "items": hash.items(),
                            }));
                        } else {
                            println!(
                                "complete table after {took:.3?} ({attempts} attempts), hash {} \
                                 ({} items)",
                                hash.hex(),
                                hash.items()
                            );
                        }
                        return Ok(());
                    }
                    Err(e) => last = e,
                }
            }
        }
        thread::sleep(Duration::from_millis(10));
    }
    Err(format!(
        "no complete table in {} s; last: {last}",
        s.timeout
    ))
}

//------------ replay --------------------------------------------------------

/// Record one full answer from `from`, then replay it on `listen`.
fn replay(from: &str, listen: SocketAddr, version: Version) -> Result<(), String> {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    let mut cache = TcpStream::connect(from).map_err(|e| format!("{from}: {e}"))?;
    let mut router = Router::start(version, false, Instant::now()).frame_only();
    cache
        .write_all(&router.out)
        .map_err(|e| format!("{from}: {e}"))?;
    let mut recording = Vec::new();
    let mut used = 0;
    let mut buf = vec![0u8; 1 << 20];
    while router.phase == Phase::Reset {
        let n = cache.read(&mut buf).map_err(|e| format!("{from}: {e}"))?;
        if n == 0 {
            return Err(format!("{from}: closed before End of Data"));
        }
        recording.extend_from_slice(&buf[..n]);
        used += router.receive(&recording[used..], Instant::now());
        if let Phase::Failed(why) = &router.phase {
            return Err(format!("{from}: {why}"));
        }
    }
    recording.truncate(used);
    drop(cache);
    let recording: Arc<[u8]> = recording.into();
    let listener = TcpListener::bind(listen).map_err(|e| format!("{listen}: {e}"))?;
    emit(json!({
        "event": "replaying",
        "listen": listener.local_addr().map_err(|e| e.to_string())?.to_string(),
        "octets": recording.len(),
        "pdus": router.pdus,
    }));
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let recording = recording.clone();
        thread::spawn(move || {
            let _ = conn.set_nodelay(true);
            let mut query = [0u8; 8];
            while conn.read_exact(&mut query).is_ok() {
                // Anything but a Reset Query is ignored: no protocol logic.
                let reset = Header::parse(&query).is_some_and(|h| h.kind == kind::RESET_QUERY);
                if reset && conn.write_all(&recording).is_err() {
                    break;
                }
            }
        });
    }
    Ok(())
}

//------------ hash ----------------------------------------------------------

fn file_hash(path: &PathBuf, version: u8, json: bool) -> Result<(), String> {
    fn live<T>(items: Vec<input::Timed<T>>, now: u64) -> Vec<T> {
        items
            .into_iter()
            .filter(|t| !t.is_expired(now))
            .map(|t| t.item)
            .collect()
    }
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (payloads, rejected) =
        input::read(file, Format::Auto).map_err(|e| format!("{}: {e}", path.display()))?;
    if rejected.count > 0 {
        eprintln!(
            "rtrload: {}: {} items rejected, as a cache would; first: {}",
            path.display(),
            rejected.count,
            rejected.first.join("; ")
        );
    }
    // What a cache serves now: no expired items, ASPA merged per customer.
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (snapshot, _oversized) = Snapshot::build(
        live(payloads.vrps, now),
        live(payloads.router_keys, now),
        live(payloads.aspas, now),
    );
    let hash = ContentHash::of_snapshot(&snapshot, version);
    if json {
        emit(json!({
            "mode": "hash",
            "file": path.display().to_string(),
            "version": version,
            "hash": hash.hex(),
            "items": hash.items(),
        }));
    } else {
        println!(
            "hash {} at v{version} ({} items: {} VRPs, {} router keys, {} ASPA)",
            hash.hex(),
            hash.items(),
            snapshot.vrps.len(),
            if version >= 1 {
                snapshot.router_keys.len()
            } else {
                0
            },
            if version >= 2 {
                snapshot.aspas.len()
            } else {
                0
            },
        );
    }
    Ok(())
}

//------------ Helpers -------------------------------------------------------

/// Thousands of sessions need thousands of descriptors: raise the soft
/// limit to the hard one.
fn raise_fd_limit(sessions: usize) {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_err() {
        // An unlimited hard limit is refused on Linux; try the kernel's.
        let _ = setrlimit(Resource::RLIMIT_NOFILE, 1 << 20, hard);
    }
    let soft = getrlimit(Resource::RLIMIT_NOFILE).map_or(soft, |(s, _)| s);
    if (sessions as u64).saturating_add(64) > soft {
        eprintln!("rtrload: warning: {sessions} sessions, but only {soft} file descriptors");
    }
}

/// Wait until every router is synced or one failed; false if not all
/// synced by `deadline`.
fn wait_synced(progress: &Progress, count: usize, deadline: Instant) -> bool {
    loop {
        let synced = progress.synced.load(Ordering::Relaxed);
        if synced >= count {
            return true;
        }
        if progress.failed.load(Ordering::Relaxed) > 0 || Instant::now() >= deadline {
            return false;
        }
        thread::sleep(LOOK);
    }
}

/// Print what failed; an error if anything did.
fn failures(routers: &[Router]) -> Result<(), String> {
    let failed: Vec<(usize, &str)> = routers
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.phase {
            Phase::Failed(why) => Some((i, why.as_str())),
            _ => None,
        })
        .collect();
    for (i, why) in failed.iter().take(FAILURES_SHOWN) {
        eprintln!("rtrload: session {i}: {why}");
    }
    match failed.len() {
        0 => Ok(()),
        n => Err(format!("{n} of {} sessions failed", routers.len())),
    }
}

/// Whether every router succeeded, as `failures` without printing.
fn failures_quiet(routers: &[Router]) -> Result<(), String> {
    match routers.iter().find_map(|r| match &r.phase {
        Phase::Failed(why) => Some(why.clone()),
        _ => None,
    }) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// The hash every router ended with, if they agree and it is `expect`.
fn agreed(routers: &[Router], expect: Option<&str>) -> Result<ContentHash, String> {
    let mut hashes: Vec<String> = routers.iter().map(|r| r.hash.hex()).collect();
    hashes.sort_unstable();
    hashes.dedup();
    if hashes.len() != 1 {
        return Err(format!(
            "sessions disagree: {} distinct content hashes ({})",
            hashes.len(),
            hashes.join(", ")
        ));
    }
    let hash = routers[0].hash;
    if let Some(want) = expect {
        if !want.eq_ignore_ascii_case(&hash.hex()) {
            return Err(format!("content hash {}, expected {want}", hash.hex()));
        }
    }
    Ok(hash)
}

fn median(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}

fn emit(value: serde_json::Value) {
    println!("{value}");
    let _ = std::io::stdout().flush();
}
