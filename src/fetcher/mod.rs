//! The fetcher process (`rovd: fetcher`), which fetches payload files from
//! upstream caches over HTTP(S), unprivileged, chrooted, with no file system
//! and a seccomp allow-list: its modules live here.

pub mod http;
