//! rovd — an RPKI-to-Router cache daemon, privilege-separated.
//!
//! ```text
//!                               rovd (parent)      binds the listeners, supervises
//!       ┌──────────────────────────┼──────────────────────────┐
//!       │ fd 3                fd 3 │                     fd 3 │
//!  rovd: fetcher ── fd 4 ──▶ rovd: validator ── fd 4 ──▶ rovd: rtr ─── routers
//!  upstreams: RTR,  fetched  reads sources,  snapshots  sessions, deltas,
//!  HTTP(S); only    data     checks fetched             shared pre-encoded
//!  with a url                data, builds               PDU buffers
//!                            snapshots
//! ```
//!
//! One binary, four roles, each a module with its own `main`:
//!
//! - [`parent`] — runs as root only through start-up: binds the
//!   listeners, opens the source directories, reads the TLS files,
//!   resolves the upstreams, starts the children and hands them what it
//!   opened; then supervises,
//!   reloads on SIGHUP and shuts down in order.
//! - [`validator`] — reads the sources and local exceptions (SLURM),
//!   unprivileged and chrooted, and streams sorted snapshots to rtr.
//! - [`rtr`] — keeps the serial, a history of deltas and the shared
//!   encoded tables, and serves the routers' sessions from one event loop;
//!   the same loop answers the control socket (`rovctl status`, `reload`)
//!   and the HTTP listener (metrics, health, status, the data as JSON and
//!   CSV, a status page), since it holds the state they show.
//! - [`fetcher`] — only when a source has a `url`: the one process that
//!   connects out, to upstream caches over RTR and HTTP(S), without a file
//!   system; what it fetches goes to the validator to be checked.
//!
//! What more than one process uses:
//!
//! - [`pdu`] — the RTR wire format, both sides: one bounds-checked codec
//!   for the sessions, the fetcher, `rovctl` and `rtrload`
//! - [`client`] — the router's side of a session, sans I/O: the fetcher's
//!   RTR upstreams and `rovctl`
//! - [`payload`] — VRPs, router keys, ASPA; snapshots and deltas
//! - [`msg`] — the IPC messages; [`stream`] — the snapshot stream's
//!   writer and reader
//! - [`config`] — rovd.conf
//! - [`failed`], [`log`], [`privileges`] — how each process fails, logs
//!   and gives up its privileges
//!
//! Data flows one way: source files, and upstreams through the fetcher →
//! validator (parse, check, merge, SLURM) → snapshot stream → rtr (delta,
//! encode once per version) → routers. Any process that fails ends the
//! whole daemon; the service manager restarts it. DESIGN-level detail is in each module's header.

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
