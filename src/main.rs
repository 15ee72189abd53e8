//! rovd — an RPKI-to-Router cache daemon.
//!
//! ```text
//!                  rovd (parent)         binds the listeners, supervises
//!       ┌────────────────┴───────────────┐
//!       │ fd 3                      fd 3 │
//!  rovd: validator ──── fd 4 ──── rovd: rtr ─── routers (RTR v0/v1/v2)
//!  reads sources,      snapshots   sessions, deltas, shared
//!  builds snapshots                pre-encoded PDU buffers
//! ```
//!
//! One binary, three roles. The parent parses the command line and the
//! configuration, binds every listening socket and starts the two children
//! by fork+exec of this same executable with a hidden `--role` flag. The
//! validator reads the payload files and streams sorted snapshots to the
//! rtr worker over a socketpair; the rtr worker keeps the serial, a short
//! history of deltas, and serves routers from one event loop. Any process
//! that fails ends the whole daemon; the service manager restarts it.
//!
//! This file maps the command line to a role and the outcome to an exit
//! code; each role's `main` lives with the role.

#![forbid(unsafe_code)]

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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Role {
    Validator,
    Rtr,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let target = if args.debug {
        Target::Stderr
    } else {
        Target::Syslog
    };

    match args.role {
        Some(Role::Validator) => {
            privsep::privdrop::close_from(5);
            rlog::init("validator", target, args.verbose);
            ignore_terminal_signals();
            validator::main(&args.user, &args.chroot)
        }
        Some(Role::Rtr) => {
            privsep::privdrop::close_from(5);
            rlog::init("rtr", target, args.verbose);
            ignore_terminal_signals();
            rtr::main(&args.user, &args.chroot)
        }
        None => {
            privsep::privdrop::close_from(3);
            // Absolute, so that a reload finds it after daemon(3) changed
            // the working directory.
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
            if let Some(tls) = &config.tls {
                if let Err(e) = parent::tls::load(tls) {
                    eprintln!("rovd: {e}");
                    return ExitCode::FAILURE;
                }
            }
            if args.check {
                println!("configuration OK");
                return ExitCode::SUCCESS;
            }
            rlog::init("parent", target, args.verbose);
            if target == Target::Syslog {
                rlog::echo_errors();
            }
            parent::main(parent::Options {
                config_path: file,
                config,
                foreground: args.debug,
                verbose: args.verbose,
            })
        }
    }
}

/// Children leave SIGINT (a terminal's ^C reaches the whole process group)
/// and SIGHUP to the parent, which shuts them down or reloads in order.
fn ignore_terminal_signals() {
    use nix::sys::signal::Signal;
    for sig in [Signal::SIGINT, Signal::SIGHUP] {
        let _ = privsep::signals::ignore(sig);
    }
}
