//! rovd — an RPKI-to-Router cache daemon, privilege-separated.
//!
//! The library holds every role of the daemon; `main.rs` dispatches to
//! them. See `main.rs` for the process picture.
//!
//! - [`parent`] — start-up, listeners, supervision, signals, reload
//! - [`validator`] — reads sources, builds and streams snapshots
//! - [`rtr`] — serves routers: codec, sessions, cache, event loop
//! - [`payload`] — VRPs, router keys, ASPA; snapshots and deltas
//! - [`msg`] — the IPC messages between the processes
//! - [`config`] — rovd.conf
//! - [`proxy`] — `rovctl proxy`, the SSH subsystem's bridge to the cache
//! - [`testdata`] — deterministic data sets for tests and benchmarks

#![forbid(unsafe_code)]

pub mod config;
pub mod log;
pub mod msg;
pub mod parent;
pub mod payload;
pub mod privileges;
pub mod proxy;
pub mod rtr;
pub mod testdata;
pub mod validator;
