//! rovd — an RPKI-to-Router cache daemon.
//!
//! ```text
//!                               rovd (parent)      binds the listeners, supervises
//!       ┌──────────────────────────┼──────────────────────────┐
//!       │ fd 3                fd 3 │                     fd 3 │
//!  rovd: fetcher ── fd 4 ──▶ rovd: validator ── fd 4 ──▶ rovd: rtr ─── routers
//!  only for sources          reads sources,  snapshots  sessions, deltas;
//!  with a url                checks fetched             control socket, HTTP
//!                            data
//! ```
//!
//! One binary, four roles. The parent parses the command line and the
//! configuration, binds every listening socket and starts the children by
//! fork+exec of this same executable with a hidden `--role` flag: the
//! validator, the rtr worker, and the fetcher when a source has a url. The
//! validator reads the payload files and what the fetcher fetched and
//! streams sorted snapshots to the rtr worker over a socketpair; the rtr
//! worker keeps the serial, a short history of deltas, and serves routers
//! and the views from one event loop. Any process that fails ends the
//! whole daemon; the service manager restarts it.
//!
//! This file maps the command line to a role and the outcome to an exit
//! code; each role's `main` lives with the role.

#![forbid(unsafe_code)]

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser, ValueEnum};

use rovd::config::{self, Config};
use rovd::log::{self as rlog, Target};
use rovd::{parent, rtr, validator};

/// RPKI-to-Router cache daemon.
#[derive(Debug, Parser)]
#[command(name = "rovd", version, about, disable_help_subcommand = true)]
struct Args {
    /// Do not daemonize; log to standard error.
    #[arg(short = 'd')]
    debug: bool,

    /// Check the configuration file and exit.
    #[arg(short = 'n')]
    check: bool,

    /// Log more; repeat for even more.
    #[arg(short = 'v', action = ArgAction::Count)]
    verbose: u8,

    /// Use this configuration file.
    #[arg(short = 'f', value_name = "file", default_value = config::DEFAULT_PATH)]
    file: PathBuf,

    /// Internal: the role of a child process.
    #[arg(long = "role", hide = true, value_enum)]
    role: Option<Role>,

    /// Internal: the user a child process drops to.
    #[arg(long = "user", hide = true, default_value = "_rovd")]
    user: String,

    /// Internal: the directory a child process chroots to.
    #[arg(long = "chroot", hide = true, default_value = "/var/empty")]
    chroot: PathBuf,

    /// Internal: a child process logs through the parent (fd 5).
    #[arg(long = "log-relay", hide = true)]
    log_relay: bool,

    /// Internal: log to syslog through this socket, also in the
    /// foreground.
    #[arg(long = "syslog", hide = true, value_name = "socket")]
    syslog: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Role {
    Validator,
    Rtr,
    Fetcher,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(role) = args.role {
        child(role, &args)
    } else {
        parent(args)
    }
}

/// A child role, started by the parent.
fn child(role: Role, args: &Args) -> ExitCode {
    // fds 3 and 4: the channels; 5: the log relay, if any.
    let relay = args.log_relay.then(|| privsep::inherit(5));
    privsep::privdrop::close_from(if args.log_relay { 6 } else { 5 });
    let target = match relay {
        Some(Ok(fd)) => Target::Relay(UnixDatagram::from(fd)),
        Some(Err(e)) => {
            eprintln!("rovd: log relay: {e}");
            return ExitCode::FAILURE;
        }
        None => Target::Stderr,
    };
    ignore_terminal_signals();
    match role {
        Role::Validator => {
            rlog::init("validator", target, args.verbose);
            validator::main(&args.user, &args.chroot)
        }
        Role::Rtr => {
            rlog::init("rtr", target, args.verbose);
            rtr::main(&args.user, &args.chroot)
        }
        Role::Fetcher => {
            rlog::init("fetcher", target, args.verbose);
            rovd::fetcher::main(&args.user, &args.chroot)
        }
    }
}

/// The parent: the configuration, `-n`, then the daemon.
fn parent(args: Args) -> ExitCode {
    let target = match (&args.syslog, args.debug) {
        (Some(socket), _) => Target::Syslog(socket.clone()),
        (None, true) => Target::Stderr,
        (None, false) => Target::Syslog(rlog::SYSLOG_SOCKET.into()),
    };
    privsep::privdrop::close_from(3);
    // Absolute, so that a reload finds it after daemon(3) changed the
    // working directory.
    let file = std::path::absolute(&args.file).unwrap_or(args.file);
    let config = match Config::load(&file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rovd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = parent::check_tcp_auth(&config) {
        let keys = config.key_file.as_deref().unwrap_or(&file);
        eprintln!("rovd: {}: {e}", keys.display());
        return ExitCode::FAILURE;
    }
    // Read once, for `-n` and for the daemon alike: the TLS files, and
    // what reaches the upstreams (names resolved, CA and client files).
    let tls = match config.tls.as_ref().map(parent::tls::load).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rovd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let reach = match config
        .has_upstreams()
        .then(|| parent::upstreams::gather(&config))
        .transpose()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rovd: {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    if args.check {
        println!("configuration OK");
        return ExitCode::SUCCESS;
    }
    let relay_logs = matches!(target, Target::Syslog(_));
    rlog::init("parent", target, args.verbose);
    if relay_logs && !args.debug {
        rlog::echo_errors();
    }
    parent::main(parent::Options {
        config_path: file,
        config,
        tls,
        reach,
        foreground: args.debug,
        verbose: args.verbose,
        relay_logs,
    })
}

/// Children leave SIGINT (a terminal's ^C reaches the whole process group)
/// and SIGHUP to the parent, which shuts them down or reloads in order.
fn ignore_terminal_signals() {
    use nix::sys::signal::Signal;
    for sig in [Signal::SIGINT, Signal::SIGHUP] {
        let _ = privsep::signals::ignore(sig);
    }
}
