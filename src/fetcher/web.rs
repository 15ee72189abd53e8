//! An HTTP(S) upstream (`http://`, `https://`): a payload file fetched
//! every `poll-interval`, conditionally (If-None-Match with the last
//! `ETag`, If-Modified-Since with the last `Last-Modified`), gzip
//! accepted, one request per connection.
//!
//! Runs in the fetcher (unprivileged, sandboxed), driven by its event
//! loop; it never blocks. The response is read until the server closes the
//! connection, as the request asks (or, with a Content-Length, until that
//! much has come), within `timeout` for the whole fetch and `max-size` for
//! the octets, then judged whole by [`super::http`]. The body goes to the
//! validator, which parses it; a failed fetch says "failed" and keeps
//! nothing. A redirect (at most [`MAX_REDIRECTS`]) is followed to a host
//! and port rovd knows — those of the configured URLs, since the fetcher
//! can neither resolve a new name nor connect to a new port — and never
//! from `https` to `http`. After a failure the next try comes after
//! [`RETRY`] or the poll interval, whichever is shorter.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, info};
use mio::Interest;
use rustls::ClientConfig;

use crate::config::{Scheme, Source, Upstream};
use crate::msg::Reach;

use super::conn::Conn;
use super::event_loop::Ctx;
use super::http::{self, Limits, Request, Response};
use super::sink::Reported;
use super::tls::server_name;

/// Redirects followed in one fetch, at most.
pub(super) const MAX_REDIRECTS: usize = 5;

/// The longest wait before trying again after a failure.
pub(super) const RETRY: Duration = Duration::from_secs(60);

/// Where the link is.
enum State {
    /// Idle until `next`.
    Waiting,
    /// One fetch, from the first connection to the last octet.
    Fetching(Box<Fetch>),
}

/// A fetch under way.
struct Fetch {
    /// The URL asked, after redirects.
    target: Upstream,
    redirects: usize,
    /// The end of the whole fetch.
    deadline: Instant,
    addrs: Vec<SocketAddr>,
    addr: usize,
    conn: Conn,
    /// Whether TCP is up and the request queued.
    sent: bool,
    /// Given up connecting to this address at.
    connect_by: Instant,
    request: Vec<u8>,
    raw: Vec<u8>,
    /// The connection ended with TLS `close_notify` or without TLS.
    clean: bool,
}

/// One HTTP(S) upstream.
pub(super) struct HttpLink {
    /// The upstream.
    pub(super) url: Upstream,
    /// The source's settings the link was made with.
    pub(super) source: Source,
    tls: Option<Arc<ClientConfig>>,
    etag: Option<String>,
    last_modified: Option<String>,
    state: State,
    next: Instant,
    /// The failure last reported to the validator, not to repeat it.
    reported: Reported,
}

impl HttpLink {
    /// A link to `url`, a member of `source`; TLS with `tls` for https.
    pub(super) fn new(url: Upstream, source: Source, tls: Option<Arc<ClientConfig>>) -> HttpLink {
        HttpLink {
            url,
            source,
            tls,
            etag: None,
            last_modified: None,
            state: State::Waiting,
            next: Instant::now(),
            reported: Reported::default(),
        }
    }

    /// When the link must act at the latest.
    pub(super) fn deadline(&self) -> Instant {
        match &self.state {
            State::Waiting => self.next,
            State::Fetching(f) if !f.sent => f.connect_by.min(f.deadline),
            State::Fetching(f) => f.deadline,
        }
    }

    /// Close the connection, if any.
    pub(super) fn close(&mut self, registry: &mio::Registry) {
        if let State::Fetching(mut f) = std::mem::replace(&mut self.state, State::Waiting) {
            let _ = registry.deregister(f.conn.source());
        }
    }

    /// Fetch now (SIGHUP), unless a fetch is under way.
    pub(super) fn refetch(&mut self) {
        if matches!(self.state, State::Waiting) {
            self.next = Instant::now();
        }
    }

    /// The validator could not use the last body: the next request is
    /// unconditional, so that a 304 does not confirm it.
    pub(super) fn resend(&mut self) {
        self.etag = None;
        self.last_modified = None;
    }

    /// Act on readiness or a deadline.
    pub(super) fn act(&mut self, ctx: &mut Ctx<'_>) -> Result<(), privsep::FrameError> {
        let now = Instant::now();
        if matches!(self.state, State::Waiting) {
            if now < self.next {
                return Ok(());
            }
            let deadline = now + Duration::from_secs(self.source.timeout.into());
            return match self.start(self.url.clone(), 0, deadline, ctx) {
                Ok(()) => self.act_fetching(now, ctx),
                Err(why) => self.fail(why, ctx),
            };
        }
        self.act_fetching(now, ctx)
    }

    /// Start a fetch of `target`, the `redirects`-th.
    fn start(
        &mut self,
        target: Upstream,
        redirects: usize,
        deadline: Instant,
        ctx: &mut Ctx<'_>,
    ) -> Result<(), String> {
        self.close(ctx.registry);
        let addrs = ctx.reach.socket_addrs(&target);
        let Some(&first) = addrs.first() else {
            return Err(format!("{}: no address known for it", target.host));
        };
        let req = Request {
            host: &target.authority(),
            path: &target.path,
            etag: self.etag.as_deref().filter(|_| redirects == 0),
            last_modified: self.last_modified.as_deref().filter(|_| redirects == 0),
            limits: Limits::new(self.source.max_size, deadline),
        };
        let request = http::request(&req).map_err(|e| e.to_string())?;
        let conn = self.open(&target, first, ctx)?;
        let connect_by = Instant::now() + Duration::from_secs(self.source.connect_timeout.into());
        self.state = State::Fetching(Box::new(Fetch {
            target,
            redirects,
            deadline,
            addrs,
            addr: 0,
            conn,
            sent: false,
            connect_by: connect_by.min(deadline),
            request,
            raw: Vec::new(),
            clean: true,
        }));
        Ok(())
    }

    fn open(&self, target: &Upstream, peer: SocketAddr, ctx: &mut Ctx<'_>) -> Result<Conn, String> {
        let tls = match target.scheme {
            Scheme::Https => {
                let config = self
                    .tls
                    .clone()
                    .ok_or_else(|| "no TLS configuration".to_string())?;
                Some((config, server_name(target)?))
            }
            _ => None,
        };
        let mut conn = Conn::start(peer, ctx.reach, tls).map_err(|e| format!("{peer}: {e}"))?;
        ctx.registry
            .register(
                conn.source(),
                ctx.token,
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| format!("{peer}: {e}"))?;
        Ok(conn)
    }

    fn act_fetching(&mut self, now: Instant, ctx: &mut Ctx<'_>) -> Result<(), privsep::FrameError> {
        let State::Fetching(f) = &mut self.state else {
            return Ok(());
        };
        if now >= f.deadline {
            let why = format!(
                "no complete answer within {} s (timeout)",
                self.source.timeout
            );
            return self.fail(why, ctx);
        }
        if !f.sent {
            match self.connect_step(now, ctx) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(why) => return self.fail(why, ctx),
            }
        }
        match self.read_step() {
            Ok(true) => self.finish(ctx),
            Ok(false) => Ok(()),
            Err(why) => self.fail(why, ctx),
        }
    }

    /// Before the request is out: whether the connection is up (and the
    /// request queued); an error once every address failed.
    fn connect_step(&mut self, now: Instant, ctx: &mut Ctx<'_>) -> Result<bool, String> {
        let connect_timeout = Duration::from_secs(self.source.connect_timeout.into());
        let State::Fetching(f) = &mut self.state else {
            return Ok(false);
        };
        let why = match f.conn.check_connected() {
            Ok(true) => {
                f.conn.queue(&f.request).map_err(|e| e.to_string())?;
                f.sent = true;
                debug!("{}: connected to {}", f.target, f.conn.peer);
                return Ok(true);
            }
            Ok(false) if now < f.connect_by => return Ok(false),
            Ok(false) => format!("{}: no answer in time", f.conn.peer),
            Err(e) => format!("{}: {e}", f.conn.peer),
        };
        let _ = ctx.registry.deregister(f.conn.source());
        f.addr += 1;
        let Some(&next) = f.addrs.get(f.addr) else {
            return Err(format!("cannot connect: {why}"));
        };
        let target = f.target.clone();
        let conn = self
            .open(&target, next, ctx)
            .map_err(|e| format!("cannot connect: {e}"))?;
        if let State::Fetching(f) = &mut self.state {
            f.conn = conn;
            f.connect_by = (Instant::now() + connect_timeout).min(f.deadline);
        }
        Ok(false)
    }

    /// The request out, the answer in: whether it is complete.
    fn read_step(&mut self) -> Result<bool, String> {
        let cap = self.source.max_size + http::MAX_HEAD as u64;
        let State::Fetching(f) = &mut self.state else {
            return Ok(false);
        };
        loop {
            f.conn
                .flush()
                .map_err(|e| format!("connection lost: {e}"))?;
            match f.conn.read_some(&mut f.raw) {
                Ok(got) => {
                    if f.raw.len() as u64 > cap {
                        return Err(format!(
                            "the answer is larger than max-size ({} octets)",
                            self.source.max_size
                        ));
                    }
                    if got.closed {
                        return Ok(true);
                    }
                    if !got.more {
                        return Ok(http::is_complete(&f.raw));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    f.clean = false;
                    return Ok(true);
                }
                Err(e) => return Err(format!("connection lost: {e}")),
            }
        }
    }

    /// The answer is in: judge it, and hand on what it holds.
    fn finish(&mut self, ctx: &mut Ctx<'_>) -> Result<(), privsep::FrameError> {
        let State::Fetching(mut f) = std::mem::replace(&mut self.state, State::Waiting) else {
            return Ok(());
        };
        let _ = ctx.registry.deregister(f.conn.source());
        let limits = Limits::new(self.source.max_size, f.deadline);
        match http::response(&f.raw, f.clean, limits) {
            Ok(Response::NotModified) => {
                debug!("{}: not modified", self.url);
                self.succeeded();
                ctx.sink.current(&self.url, None)
            }
            Ok(Response::Body {
                body,
                etag,
                last_modified,
            }) => {
                info!("{}: {} octets", f.target, body.len());
                let modified = last_modified.as_deref().and_then(unix_time);
                self.etag = etag;
                self.last_modified = last_modified;
                self.succeeded();
                ctx.sink.body(&self.url, &body, modified)
            }
            Ok(Response::Redirect { status, location }) => {
                if f.redirects >= MAX_REDIRECTS {
                    let why = format!("more than {MAX_REDIRECTS} redirects");
                    return self.fail(why, ctx);
                }
                let target = match redirect(&f.target, &location, ctx.reach, ctx.ports) {
                    Ok(t) => t,
                    Err(why) => return self.fail(format!("redirect {status}: {why}"), ctx),
                };
                debug!("{}: {status} to {target}", f.target);
                match self.start(target, f.redirects + 1, f.deadline, ctx) {
                    Ok(()) => self.act_fetching(Instant::now(), ctx),
                    Err(why) => self.fail(why, ctx),
                }
            }
            Err(e) => self.fail(e.to_string(), ctx),
        }
    }

    fn succeeded(&mut self) {
        self.reported.clear();
        self.next = Instant::now() + Duration::from_secs(self.source.poll_interval.into());
    }

    /// The fetch failed: say so, and try again later.
    fn fail(&mut self, why: String, ctx: &mut Ctx<'_>) -> Result<(), privsep::FrameError> {
        self.close(ctx.registry);
        let wait = RETRY.min(Duration::from_secs(self.source.poll_interval.into()));
        self.next = Instant::now() + wait;
        if self.reported.report(ctx.sink, &self.url, &why)? {
            info!("{}: {why}; trying again in {} s", self.url, wait.as_secs());
        } else {
            debug!("{}: {why}; trying again in {} s", self.url, wait.as_secs());
        }
        Ok(())
    }
}

/// Where a redirect from `from` to `location` leads, if it may be
/// followed: http or https, not from https to http, to a host rovd has
/// addresses for and a port of the configured URLs.
fn redirect(
    from: &Upstream,
    location: &str,
    reach: &Reach,
    ports: &[u16],
) -> Result<Upstream, String> {
    let target = if location.starts_with("//") {
        Upstream::parse(&format!("{}:{location}", from.scheme.as_str()))?
    } else if location.contains("://") {
        Upstream::parse(location)?
    } else {
        let path = if location.starts_with('/') {
            location.to_string()
        } else {
            let dir = from.path.rsplit_once('/').map_or("", |(d, _)| d);
            format!("{dir}/{location}")
        };
        Upstream {
            path,
            ..from.clone()
        }
    };
    if target.scheme.is_rtr() {
        return Err(format!("{target} is not http or https"));
    }
    if from.scheme == Scheme::Https && target.scheme == Scheme::Http {
        return Err(format!("{target}: from https to http is not followed"));
    }
    if reach.socket_addrs(&target).is_empty() {
        return Err(format!(
            "{target}: a host rovd has no addresses for (configure that URL instead)"
        ));
    }
    if !ports.contains(&target.port) {
        return Err(format!(
            "{target}: a port no configured url has (configure that URL instead)"
        ));
    }
    Ok(target)
}

/// An HTTP date as Unix seconds.
fn unix_time(date: &str) -> Option<u64> {
    crate::payload::unix_secs(httpdate::parse_http_date(date).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_where_rovd_may_go() {
        let from = Upstream::parse("https://cache.example.net:8443/out/rpki.json").unwrap();
        let reach = Reach {
            hosts: vec![(
                "cache.example.net".into(),
                vec!["192.0.2.1".parse().unwrap()],
            )],
            ..Reach::default()
        };
        let go = |to: &str| redirect(&from, to, &reach, &[443, 8443]);
        let path = |to: &str| go(to).map(|u| u.to_string());
        assert_eq!(
            path("/new/rpki.json").unwrap(),
            "https://cache.example.net:8443/new/rpki.json"
        );
        assert_eq!(
            path("rpki-2.json").unwrap(),
            "https://cache.example.net:8443/out/rpki-2.json"
        );
        assert_eq!(
            path("https://cache.example.net/x.json").unwrap(),
            "https://cache.example.net/x.json"
        );
        assert_eq!(
            path("//192.0.2.7:8443/x.json").unwrap(),
            "https://192.0.2.7:8443/x.json"
        );
        let refused = |to: &str, why: &str| {
            let e = go(to).unwrap_err();
            assert!(e.contains(why), "{to}: {e}");
        };
        refused("http://cache.example.net:8443/x.json", "from https to http");
        refused("https://elsewhere.example.net/x.json", "no addresses");
        refused(
            "https://cache.example.net:9000/x.json",
            "a port no configured url has",
        );
        refused("rtr://cache.example.net", "not http or https");
        refused("ftp://cache.example.net/x", "scheme ftp");
    }

    #[test]
    fn http_dates_are_read() {
        assert_eq!(
            unix_time("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(unix_time("yesterday"), None);
    }
}
