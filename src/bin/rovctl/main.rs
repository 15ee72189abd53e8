//! rovctl — asks an RTR cache what it serves, as a router would, and
//! prints or compares the table.
//!
//! A plain command-line client run by an operator, with that user's
//! privileges and no sandbox: it connects to one cache at a time, sends a
//! Reset Query and reads the answer with rovd's own codec ([`rovd::pdu`]),
//! and reads payload files with the validator's own reader.
//!
//! - `main.rs` — the command line, `dump` and `diff`
//! - `control.rs` — `status` and `reload`, over rovd's control socket
//! - `fetch.rs` — one connection, with TCP-MD5/TCP-AO, and a Reset Query
//!   read with the shared router side of RTR ([`rovd::client`])
//! - `proxy.rs` — `rovctl proxy`
//!
//! - `rovctl dump CACHE` prints the table as rpki-client JSON (which rovd
//!   reads back as a source) or rpki-client CSV (VRPs only).
//! - `rovctl diff A B` compares two caches, two files, or one of each, and
//!   exits like diff(1): 0 equal, 1 different, 2 trouble.
//! - `rovctl proxy [CACHE]` carries one RTR session between standard
//!   input/output and the cache, for sshd's `rpki-rtr` subsystem.
//! - `rovctl status [--json]` shows what the rovd on this host is doing:
//!   sources, serials, sessions; `rovctl reload` reloads it as SIGHUP
//!   does. Both over the control socket, `-s PATH` for another one.
//!
//! Without `--version` a query starts at version 2 and, if the cache
//! answers Unsupported Protocol Version, is asked once more on a new
//! connection at the version the cache names; a cache that answers at a
//! lower version straight away (StayRTR does) is taken at that version.
//! With `--version` either answer ends the run: `dump` exits 1 naming the
//! version the cache offered.
//!
//! With `--tcp-md5-key` or `--tcp-ao-key` the key is added to the socket
//! (through `privsep::tcpsig`) before it connects, so that a cache that
//! requires TCP-MD5 or TCP-AO from this host accepts the connection.

#![forbid(unsafe_code)]

mod control;
mod fetch;
mod proxy;

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use base64::Engine;
use clap::{Args, Parser, Subcommand, ValueEnum};

use rovd::config::AoAlgorithm;
use rovd::payload::{Delta, Snapshot};
use rovd::pdu::Version;
use rovd::rtr::views::items;
use rovd::validator::input::{self, Format};

use self::fetch::{fetch, Table};

//------------ Command line --------------------------------------------------

#[derive(Parser)]
#[command(
    name = "rovctl",
    version,
    about = "Ask an RTR cache what it serves; control rovd"
)]
struct Cli {
    /// rovd's control socket, for `status` and `reload`.
    #[arg(
        short = 's',
        long = "socket",
        global = true,
        default_value = "/var/run/rovd.sock"
    )]
    socket: std::path::PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch a cache's whole table and print it.
    Dump {
        #[command(flatten)]
        query: Query,
        /// Output format: rpki-client JSON, or rpki-client CSV (VRPs only).
        #[arg(long, value_enum, default_value_t = OutFormat::Json)]
        format: OutFormat,
        /// The cache, HOST[:PORT]; IPv6 addresses in brackets with a port.
        cache: String,
    },
    /// Compare two caches or payload files; exit 0 if equal, 1 if not, 2
    /// on error. An existing path is a file, anything else HOST[:PORT].
    Diff {
        #[command(flatten)]
        query: Query,
        a: String,
        b: String,
    },
    /// Show what the rovd on this host is doing: sources, serials,
    /// sessions, counters.
    Status {
        /// Print the status as JSON, as rovd sends it.
        #[arg(long)]
        json: bool,
    },
    /// Have rovd reload its configuration and sources, as SIGHUP does.
    Reload,
    /// Carry one RTR session between standard input/output and the cache,
    /// as sshd's `rpki-rtr` subsystem; octets pass unchanged.
    Proxy {
        /// Log the session to standard error instead of syslog.
        #[arg(short = 'd')]
        stderr: bool,
        /// The cache, HOST[:PORT]; IPv6 addresses in brackets with a port.
        #[arg(default_value = proxy::DEFAULT_CACHE)]
        cache: String,
    },
}

#[derive(Args)]
pub(crate) struct Query {
    /// RTR version to ask for (0, 1 or 2); default 2, falling back once to
    /// the version the cache offers.
    #[arg(long, value_parser = parse_version)]
    version: Option<Version>,
    /// Seconds to wait for a whole answer.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Seconds to wait for the connection to be established.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    connect_timeout: u64,
    #[command(flatten)]
    auth: TcpAuth,
}

/// TCP segment authentication towards the cache.
// The fields are the `--tcp-*` options.
#[allow(clippy::struct_field_names)]
#[derive(Args)]
pub(crate) struct TcpAuth {
    /// Sign the connection with this TCP-MD5 key (RFC 2385).
    #[arg(long, value_name = "KEY", conflicts_with = "tcp_ao_key")]
    tcp_md5_key: Option<String>,
    /// Authenticate the connection with this TCP-AO master key (RFC 5925).
    #[arg(long, value_name = "KEY", requires = "tcp_ao_ids")]
    tcp_ao_key: Option<String>,
    /// The TCP-AO KeyIDs: the one sent (the cache's recv-id) and the one
    /// expected (the cache's send-id).
    #[arg(long, value_name = "SEND:RECV", value_parser = parse_ids, requires = "tcp_ao_key")]
    tcp_ao_ids: Option<(u8, u8)>,
    /// The TCP-AO MAC algorithm.
    #[arg(long, value_name = "ALG", value_enum, default_value_t = AoAlgorithm::HmacSha1)]
    tcp_ao_algorithm: AoAlgorithm,
}

fn parse_version(s: &str) -> Result<Version, String> {
    s.parse::<u8>()
        .ok()
        .and_then(Version::new)
        .ok_or_else(|| format!("{s:?} is not an RTR version (0, 1 or 2)"))
}

fn parse_ids(s: &str) -> Result<(u8, u8), String> {
    let (send, recv) = s.split_once(':').ok_or("not SEND:RECV")?;
    let id = |v: &str| {
        v.parse::<u8>()
            .map_err(|_| format!("{v:?} is not a KeyID (0 to 255)"))
    };
    Ok((id(send)?, id(recv)?))
}

#[derive(Clone, Copy, ValueEnum)]
enum OutFormat {
    Json,
    Csv,
}

/// A failure, already reported on standard error.
pub(crate) enum Failed {
    /// The cache answered with an Error Report.
    Refused,
    /// Anything else: no connection, a timeout, a malformed answer, a file.
    Trouble,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Dump {
            query,
            format,
            cache,
        } => match dump(&query, format, &cache) {
            Ok(()) => ExitCode::SUCCESS,
            Err(Failed::Refused) => ExitCode::from(1),
            Err(Failed::Trouble) => ExitCode::from(2),
        },
        Command::Diff { query, a, b } => match diff(&query, &a, &b) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(_) => ExitCode::from(2),
        },
        Command::Status { json } => match control::status(&cli.socket, json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(2),
        },
        Command::Reload => match control::reload(&cli.socket) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(2),
        },
        Command::Proxy { stderr, cache } => {
            let log_to = if stderr {
                proxy::LogTo::Stderr
            } else {
                proxy::LogTo::Syslog
            };
            match proxy::run(&cache, log_to) {
                Ok(()) => ExitCode::SUCCESS,
                Err(proxy::Failed) => ExitCode::from(1),
            }
        }
    }
}

//------------ dump ----------------------------------------------------------

fn dump(query: &Query, format: OutFormat, cache: &str) -> Result<(), Failed> {
    let table = fetch(cache, query)?;
    let out = match format {
        OutFormat::Json => to_json(&table),
        OutFormat::Csv => {
            let s = &table.snapshot;
            if !s.router_keys.is_empty() || !s.aspas.is_empty() {
                eprintln!(
                    "rovctl: CSV holds VRPs only: {} router keys and {} ASPA records left out",
                    s.router_keys.len(),
                    s.aspas.len()
                );
            }
            to_csv(s)
        }
    };
    let mut stdout = BufWriter::new(io::stdout().lock());
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| {
            eprintln!("rovctl: standard output: {e}");
            Failed::Trouble
        })
}

/// rpki-client JSON (`rpki-client -j`): one line per ROA, key and ASPA.
/// Each VRP is one ROA entry with trust anchor `rtr` and no expiry, which
/// the RTR answer does not carry; the metadata names the session and
/// serial.
fn to_json(table: &Table) -> String {
    let s = &table.snapshot;
    let now = rovd::payload::unix_now();
    let mut out = String::with_capacity(100 * s.vrps.len() + 300 * s.router_keys.len() + 512);
    let _ = write!(
        out,
        "{{\n\t\"metadata\": {{\n\
         \t\t\"buildmachine\": \"rovctl\",\n\
         \t\t\"generated\": {now},\n\
         \t\t\"rtr_version\": {},\n\
         \t\t\"rtr_session\": {},\n\
         \t\t\"rtr_serial\": {},\n\
         \t\t\"vrps\": {},\n\
         \t\t\"bgpsec_pubkeys\": {},\n\
         \t\t\"vaps\": {}\n\
         \t}},\n\t\"roas\": [",
        table.version,
        table.session,
        table.serial,
        s.vrps.len(),
        s.router_keys.len(),
        s.aspas.len(),
    );
    for (i, v) in s.vrps.iter().enumerate() {
        out.push_str(if i == 0 { "\n\t\t" } else { ",\n\t\t" });
        items::json_vrp(&mut out, v, "rtr");
    }
    out.push_str("\n\t],\n\t\"bgpsec_keys\": [");
    for (i, k) in s.router_keys.iter().enumerate() {
        out.push_str(if i == 0 { "\n\t\t" } else { ",\n\t\t" });
        items::json_router_key(&mut out, k, "rtr");
    }
    out.push_str("\n\t],\n\t\"aspas\": [");
    for (i, a) in s.aspas.iter().enumerate() {
        out.push_str(if i == 0 { "\n\t\t" } else { ",\n\t\t" });
        items::json_aspa(&mut out, a);
    }
    out.push_str("\n\t]\n}\n");
    out
}

/// rpki-client CSV (`rpki-client -c`) with trust anchor `rtr` and an
/// empty Expires column.
fn to_csv(s: &Snapshot) -> String {
    let mut out = String::with_capacity(40 * s.vrps.len() + 64);
    out.push_str("ASN,IP Prefix,Max Length,Trust Anchor,Expires\n");
    for v in &s.vrps {
        items::csv_vrp(&mut out, v, "rtr");
        out.push_str(",\n");
    }
    out
}

//------------ diff ----------------------------------------------------------

/// Compare `a` and `b`: `Ok(true)` when they hold the same payload at the
/// version in use. The differences go to standard output.
fn diff(query: &Query, a: &str, b: &str) -> Result<bool, Failed> {
    let load = |arg: &str| -> Result<(Snapshot, Option<Version>), Failed> {
        if Path::new(arg).exists() {
            read_file(arg).map(|s| (s, None))
        } else {
            fetch(arg, query).map(|t| (t.snapshot, Some(t.version)))
        }
    };
    let (mut left, va) = load(a).map_err(|_| Failed::Trouble)?;
    let (mut right, vb) = load(b).map_err(|_| Failed::Trouble)?;
    // Files are cut to what a cache serves at the version actually used;
    // two caches that settled on different versions are compared at the
    // lower one.
    let version = match (va, vb) {
        (Some(x), Some(y)) => {
            if x != y {
                eprintln!(
                    "rovctl: caches answered at versions {x} and {y}; comparing at {}",
                    x.min(y)
                );
            }
            x.min(y)
        }
        (Some(v), None) | (None, Some(v)) => v,
        (None, None) => query.version.unwrap_or(Version::MAX),
    };
    for s in [&mut left, &mut right] {
        if !version.has_router_keys() {
            s.router_keys.clear();
        }
        if !version.has_aspa() {
            s.aspas.clear();
        }
    }
    let delta = Delta::between(&left, &right);
    if delta.is_empty() {
        return Ok(true);
    }
    let mut out = String::new();
    let _ = writeln!(out, "--- {a}\n+++ {b}");
    for (sign, s) in [('-', &delta.withdraw), ('+', &delta.announce)] {
        for v in &s.vrps {
            let _ = writeln!(out, "{sign}vrp {} max {} AS{}", v.prefix, v.max_len, v.asn);
        }
    }
    for (sign, s) in [('-', &delta.withdraw), ('+', &delta.announce)] {
        for k in &s.router_keys {
            let spki = base64::engine::general_purpose::STANDARD.encode(&k.spki);
            let _ = writeln!(
                out,
                "{sign}key AS{} ski {} spki {spki}",
                k.asn,
                items::hex(&k.ski)
            );
        }
    }
    for (sign, s) in [('-', &delta.withdraw), ('+', &delta.announce)] {
        for asp in &s.aspas {
            let providers: Vec<String> = asp.providers.iter().map(|p| format!("AS{p}")).collect();
            let _ = writeln!(
                out,
                "{sign}aspa AS{} providers {}",
                asp.customer,
                providers.join(" ")
            );
        }
    }
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        eprintln!("rovctl: standard output: {e}");
        return Err(Failed::Trouble);
    }
    Ok(false)
}

/// A payload file in any format rovd reads, every item taken whatever its
/// expiry.
fn read_file(path: &str) -> Result<Snapshot, Failed> {
    let file = File::open(path).map_err(|e| {
        eprintln!("rovctl: {path}: {e}");
        Failed::Trouble
    })?;
    let (payloads, rejected) = input::read(file, Format::Auto).map_err(|e| {
        eprintln!("rovctl: {path}: {e}");
        Failed::Trouble
    })?;
    if rejected.count > 0 {
        eprintln!("rovctl: {path}: {} items skipped", rejected.count);
        for reason in &rejected.first {
            eprintln!("rovctl: {path}: {reason}");
        }
    }
    let (snapshot, oversized) = Snapshot::build(
        payloads.vrps.into_iter().map(|t| t.item).collect(),
        payloads.router_keys.into_iter().map(|t| t.item).collect(),
        payloads.aspas.into_iter().map(|t| t.item).collect(),
    );
    for customer in oversized {
        eprintln!("rovctl: {path}: ASPA for AS{customer} has too many providers to serve");
    }
    Ok(snapshot)
}
