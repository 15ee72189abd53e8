//! rovd — an RPKI-to-Router cache daemon, privilege-separated.
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
//! One binary, three roles, each a module with its own `main`:
//!
//! - [`parent`] — runs as root only through start-up: binds the
//!   listeners, opens the source directories, reads the TLS files, starts
//!   the two children and hands them what it opened; then supervises,
//!   reloads on SIGHUP and shuts down in order.
//! - [`validator`] — reads the sources and local exceptions (SLURM),
//!   unprivileged and chrooted, and streams sorted snapshots to rtr.
//! - [`rtr`] — keeps the serial, a history of deltas and the shared
//!   encoded tables, and serves the routers' sessions from one event loop.
//!
//! What more than one process uses:
//!
//! - [`pdu`] — the RTR wire format, both sides: one bounds-checked codec
//!   for the sessions, `rovctl` and `rtrload`
//! - [`payload`] — VRPs, router keys, ASPA; snapshots and deltas
//! - [`msg`] — the IPC messages; [`stream`] — the snapshot stream's
//!   writer and reader
//! - [`config`] — rovd.conf
//! - [`failed`], [`log`], [`privileges`] — how each process fails, logs
//!   and gives up its privileges
//!
//! Data flows one way: source files → validator (parse, check, merge,
//! SLURM) → snapshot stream → rtr (delta, encode once per version) →
//! routers. Any process that fails ends the whole daemon; the service
//! manager restarts it. DESIGN-level detail is in each module's header.

#![forbid(unsafe_code)]

pub mod client;
pub mod config;
pub mod failed;
pub mod fetcher;
pub mod log;
pub mod msg;
pub mod parent;
pub mod payload;
pub mod pdu;
pub mod privileges;
pub mod rtr;
pub mod stream;
#[cfg(any(test, feature = "testdata"))]
#[doc(hidden)]
pub mod testdata;
pub mod validator;
