//! The state views: the control socket that `rovctl` talks to, and the
//! HTTP listener for Prometheus, load balancers, browsers and downstream
//! caches. Served by the rtr worker, which already holds the serials and
//! the sessions; the validator sends it the sources' state.
//!
//! Runs in the rtr worker (unprivileged, sandboxed), in its one event
//! loop, beside the router sessions and never in their way: the parent
//! created the control socket (mode 0660, owner root, group of `user`)
//! and bound the HTTP listeners before it dropped privileges, and handed
//! them over as it hands over the RTR listeners.
//!
//! Every request is bounded: [`MAX_CONNS`] connections at once (more are
//! answered 503 and closed), [`MAX_HEAD`] octets of request head (431) or
//! [`MAX_LINE`] of control command, [`REQUEST_TIME`] to send it (408), one
//! request per connection. A response is rendered on request from the
//! current state (`status`) and written without blocking; the payload
//! exports (`export`) render a bounded piece per turn of the loop, so that
//! fetching the whole table costs the sessions nothing noticeable.
//!
//! - control socket: one line, `status` (the status as JSON) or `reload`
//!   (as SIGHUP: the parent is asked)
//! - HTTP, GET and HEAD only: `/metrics` (`metrics`), `/healthz`,
//!   `/readyz`, `/status` (JSON), `/json` and `/csv` (`export`, with the
//!   per-item writers of `items`), `/` (`page`)
//!
//! What a request asks ([`parse_request`]), what answers it ([`route`])
//! and its octets ([`encode`]) are functions without I/O; the rest of this
//! file moves octets.

pub mod export;
pub mod items;
pub mod metrics;
pub mod page;
pub mod status;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use log::{debug, info};
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry};

use self::export::{Export, Format};
use self::status::{Readiness, SerialRecord, Stats, Status};
use super::net::{Accepted, Accepts, Slots, Target, ACCEPT_BATCH};
use crate::msg::SourceState;

/// View connections at once.
pub const MAX_CONNS: usize = 64;

/// The longest HTTP request head taken.
pub const MAX_HEAD: usize = 8 * 1024;

/// The longest control command taken.
pub const MAX_LINE: usize = 1024;

/// How long a client has to send its whole request.
pub const REQUEST_TIME: Duration = Duration::from_secs(10);

/// Serials kept for the views.
const SERIALS: usize = 20;

/// Octets an export renders per connection per turn of the loop.
const EXPORT_TURN: usize = 256 * 1024;

//------------ Requests and responses -----------------------------------------

/// What a client asked, once it asked completely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A control command.
    Control(String),
    /// An HTTP GET (or HEAD: `head`) of a path.
    Get {
        /// The path, without a query.
        path: String,
        /// HEAD: the head only.
        head: bool,
    },
}

impl Request {
    /// Whether only the head of the answer is asked for (HEAD).
    pub fn head_only(&self) -> bool {
        matches!(self, Request::Get { head: true, .. })
    }
}

/// What to send back.
pub enum Response {
    /// Octets as they are (control socket).
    Raw(Vec<u8>),
    /// An HTTP response with a body in memory.
    Http {
        /// The status code.
        status: u16,
        /// The media type.
        content_type: &'static str,
        /// The body.
        body: Vec<u8>,
    },
    /// An HTTP 200 whose body an export renders as it goes.
    Export(Box<Export>),
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// The head of an HTTP response: one request per connection, closed
/// after; a body without a length ends with the connection.
fn head(status: u16, content_type: &str, length: Option<usize>, extra: &str) -> Vec<u8> {
    let mut h = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nCache-Control: no-store\r\n\
         Connection: close\r\n{extra}",
        reason(status)
    );
    if let Some(n) = length {
        let _ = write!(h, "Content-Length: {n}\r\n");
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// A short plain-text HTTP answer.
pub fn text(status: u16, body: &str) -> Response {
    Response::Http {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.as_bytes().to_vec(),
    }
}

//------------ Connections ----------------------------------------------------

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Unix(s) => s,
            Stream::Tcp(s) => s,
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
}

/// Where a view connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Reading,
    /// Asked; waiting for the event loop to answer.
    Asked,
    Writing,
}

struct Conn {
    stream: Stream,
    http: bool,
    peer: String,
    input: Vec<u8>,
    deadline: Instant,
    phase: Phase,
    out: Vec<u8>,
    sent: usize,
    export: Option<Box<Export>>,
}

/// What one look at a connection came to.
pub enum Step {
    /// A complete request: answer it with [`Views::respond`].
    Request(Request),
    /// Nothing more to do until the socket is ready again.
    Wait,
    /// Done, or closed.
    Closed,
}

//------------ Views ---------------------------------------------------------

/// The views' listeners, connections and the state only they keep.
#[derive(Default)]
pub struct Views {
    control: Option<UnixListener>,
    http: Vec<(TcpListener, SocketAddr)>,
    conns: Slots<Conn>,
    /// Counters kept as things happen.
    pub stats: Stats,
    /// The latest serials, newest first.
    pub serials: VecDeque<SerialRecord>,
    /// The sources' state, as the validator last sent it.
    pub sources: Vec<SourceState>,
    /// Why nothing is served, while nothing is.
    pub no_data: Option<String>,
    /// Connections to come back to without waiting for an event.
    pub more: Vec<usize>,
}

impl Views {
    /// Serve the control socket `fd`.
    pub fn control(&mut self, fd: OwnedFd, registry: &Registry) -> io::Result<()> {
        let std = std::os::unix::net::UnixListener::from(fd);
        std.set_nonblocking(true)?;
        let mut l = UnixListener::from_std(std);
        registry.register(&mut l, Target::Control.token(), Interest::READABLE)?;
        info!("control socket ready");
        self.control = Some(l);
        Ok(())
    }

    /// Serve HTTP on the listening socket `fd`.
    pub fn http(&mut self, fd: OwnedFd, addr: SocketAddr, registry: &Registry) -> io::Result<()> {
        let std = std::net::TcpListener::from(fd);
        std.set_nonblocking(true)?;
        let mut l = TcpListener::from_std(std);
        registry.register(
            &mut l,
            Target::Http(self.http.len()).token(),
            Interest::READABLE,
        )?;
        info!("HTTP on {addr}");
        self.http.push((l, addr));
        Ok(())
    }

    /// Record a new serial.
    pub fn serial(&mut self, record: SerialRecord) {
        self.serials.push_front(record);
        self.serials.truncate(SERIALS);
    }

    /// The listeners: the control socket, the HTTP listeners.
    pub fn listeners(&self) -> Vec<Target> {
        let control = self.control.as_ref().map(|_| Target::Control);
        control
            .into_iter()
            .chain((0..self.http.len()).map(Target::Http))
            .collect()
    }

    /// Accept on the listener `target`, a batch at a time (see
    /// [`Accepts`]); the slots of connections that have something to do
    /// now.
    pub fn accept(
        &mut self,
        target: Target,
        accepts: &mut Accepts,
        registry: &Registry,
    ) -> Vec<usize> {
        let mut ready = Vec::new();
        if accepts.paused() {
            return ready;
        }
        for _ in 0..ACCEPT_BATCH {
            let now = Instant::now();
            let accepted = match target {
                Target::Control => {
                    let Some(l) = self.control.as_ref() else {
                        return ready;
                    };
                    let result = l.accept();
                    accepts
                        .check(result, "control socket", now)
                        .map(|(s, _)| (Stream::Unix(s), "control".to_string(), false))
                }
                Target::Http(index) => {
                    let Some((l, addr)) = self.http.get(index) else {
                        return ready;
                    };
                    let result = l.accept();
                    accepts
                        .check(result, format_args!("HTTP {addr}"), now)
                        .map(|(s, peer)| (Stream::Tcp(s), peer.to_string(), true))
                }
                _ => return ready,
            };
            let (mut stream, peer, http) = match accepted {
                Accepted::Take(x) => x,
                Accepted::Again => continue,
                Accepted::Stop => return ready,
            };
            if self.conns.len() >= MAX_CONNS {
                if http {
                    let _ = stream.write(&encode(&text(503, "busy\n"), false));
                }
                Stats::count(&mut self.stats.refused, "views-busy");
                debug!("{peer}: view refused, {MAX_CONNS} connections open");
                continue;
            }
            let mut conn = Conn {
                stream,
                http,
                peer,
                input: Vec::new(),
                deadline: now + REQUEST_TIME,
                phase: Phase::Reading,
                out: Vec::new(),
                sent: 0,
                export: None,
            };
            if registry
                .register(
                    conn.stream.source(),
                    Target::View(self.conns.next_slot()).token(),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                continue;
            }
            ready.push(self.conns.insert(conn));
        }
        // The batch is used up and more may wait.
        accepts.full(target);
        ready
    }

    /// Read, write, and say what the connection needs.
    pub fn step(&mut self, slot: usize, registry: &Registry) -> Step {
        let Some(conn) = self.conns.get_mut(slot) else {
            return Step::Closed;
        };
        match conn.phase {
            Phase::Reading => match read_request(conn) {
                Ok(Some(req)) => {
                    conn.phase = Phase::Asked;
                    Step::Request(req)
                }
                Ok(None) => Step::Wait,
                Err(answer) => {
                    self.respond(slot, answer, false);
                    self.step(slot, registry)
                }
            },
            Phase::Asked => Step::Wait,
            Phase::Writing => match write(conn) {
                Ok(true) => {
                    self.close(slot, registry);
                    Step::Closed
                }
                Ok(false) => {
                    let more = conn.sent >= conn.out.len()
                        && conn.export.as_ref().is_some_and(|e| !e.is_done());
                    if more {
                        self.more.push(slot);
                    }
                    Step::Wait
                }
                Err(e) => {
                    debug!("{}: view: {e}", conn.peer);
                    self.close(slot, registry);
                    Step::Closed
                }
            },
        }
    }

    /// Send `response` on connection `slot` (`head_only`: the head of
    /// an HTTP response, for HEAD), then close it.
    pub fn respond(&mut self, slot: usize, response: Response, head_only: bool) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.phase = Phase::Writing;
        conn.sent = 0;
        match response {
            // Octets as they are: no copy.
            Response::Raw(bytes) => conn.out = bytes,
            response => {
                conn.out = encode(&response, head_only);
                if let Response::Export(export) = response {
                    if !head_only {
                        conn.export = Some(export);
                    }
                }
            }
        }
    }

    /// Close connection `slot`.
    pub fn close(&mut self, slot: usize, registry: &Registry) {
        if let Some(mut conn) = self.conns.remove(slot) {
            let _ = registry.deregister(conn.stream.source());
        }
    }

    /// Connections whose request is overdue: answered 408 (HTTP) or
    /// closed (control). The slots to look at again.
    pub fn overdue(&mut self, now: Instant, registry: &Registry) -> Vec<usize> {
        let late: Vec<(usize, bool)> = self
            .conns
            .entries()
            .filter(|(_, c)| c.phase == Phase::Reading && now >= c.deadline)
            .map(|(slot, c)| (slot, c.http))
            .collect();
        let mut again = Vec::new();
        for (slot, http) in late {
            if http {
                self.respond(slot, text(408, "request not complete in time\n"), false);
                again.push(slot);
            } else {
                self.close(slot, registry);
            }
        }
        again
    }
}

/// Read what the socket has; a complete request, or an answer for one
/// that cannot be taken.
fn read_request(conn: &mut Conn) -> Result<Option<Request>, Response> {
    let limit = if conn.http { MAX_HEAD } else { MAX_LINE };
    let mut buf = [0u8; 2048];
    let mut eof = false;
    loop {
        match conn.stream.read(&mut buf) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => {
                conn.input.extend_from_slice(&buf[..n]);
                if conn.input.len() > limit {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Response::Raw(Vec::new())),
        }
    }
    parse_request(&conn.input, conn.http, eof)
}

/// What the octets a client sent so far ask for: `Ok(None)` while the
/// request is incomplete (and the client still there, `eof` false), or
/// the answer to a request that cannot be taken. `http` tells an HTTP
/// request head from a control socket's command line.
pub fn parse_request(input: &[u8], http: bool, eof: bool) -> Result<Option<Request>, Response> {
    let limit = if http { MAX_HEAD } else { MAX_LINE };
    if !http {
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            if input.len() > limit {
                return Err(Response::Raw(b"error: command too long\n".to_vec()));
            }
            if eof {
                return Err(Response::Raw(Vec::new()));
            }
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&input[..end]).trim().to_string();
        return Ok(Some(Request::Control(line)));
    }
    match parse_http(input, limit) {
        // Gone before the request was complete: nothing to answer.
        Ok(None) if eof => Err(Response::Raw(Vec::new())),
        other => other,
    }
}

/// What the loop does beyond answering a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Ask the parent to reload, as SIGHUP does.
    Reload,
}

/// What the views show, asked for as a request needs it: a health check
/// costs no status document.
pub trait State {
    /// The whole status document, now.
    fn status(&self) -> Status;
    /// Whether rovd is ready, and why not.
    fn readiness(&self) -> Readiness;
    /// An export of the data served, if any is.
    fn export(&self, format: Format) -> Option<Export>;
}

/// The answer to a request, and what else the loop must do.
pub fn route(req: &Request, state: &impl State) -> (Response, Action) {
    let path = match req {
        Request::Control(cmd) => return control(cmd, state),
        Request::Get { path, .. } => path.as_str(),
    };
    let response = match path {
        "/healthz" => text(200, "ok\n"),
        "/readyz" => {
            let ready = state.readiness();
            if ready.ready {
                text(200, "ready\n")
            } else {
                text(503, &format!("not ready: {}\n", ready.reasons.join("; ")))
            }
        }
        "/status" => Response::Http {
            status: 200,
            content_type: "application/json",
            body: serde_json::to_vec_pretty(&state.status()).unwrap_or_default(),
        },
        "/metrics" => Response::Http {
            status: 200,
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
            body: metrics::render(&state.status()).into_bytes(),
        },
        "/" => Response::Http {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: page::render(&state.status()).into_bytes(),
        },
        "/json" | "/csv" => {
            let format = if path == "/json" {
                Format::Json
            } else {
                Format::Csv
            };
            match state.export(format) {
                Some(export) => Response::Export(Box::new(export)),
                None => text(503, "no data to serve\n"),
            }
        }
        _ => text(
            404,
            "not found; try /, /status, /metrics, /healthz, /readyz, /json or /csv\n",
        ),
    };
    (response, Action::None)
}

/// The answer to a control command.
fn control(cmd: &str, state: &impl State) -> (Response, Action) {
    match cmd {
        "status" => {
            let mut json = serde_json::to_vec(&state.status()).unwrap_or_default();
            json.push(b'\n');
            (Response::Raw(json), Action::None)
        }
        "reload" => (
            Response::Raw(b"reload requested\n".to_vec()),
            Action::Reload,
        ),
        other => (
            Response::Raw(
                format!("error: unknown command {other:?}; status or reload\n").into_bytes(),
            ),
            Action::None,
        ),
    }
}

/// An HTTP request head, once complete.
fn parse_http(input: &[u8], limit: usize) -> Result<Option<Request>, Response> {
    let mut fields = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut fields);
    match req.parse(input) {
        Ok(httparse::Status::Complete(n)) if n > limit => {
            return Err(text(431, "request head too large\n"));
        }
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) if input.len() > limit => {
            return Err(text(431, "request head too large\n"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(text(431, "too many header fields\n"));
        }
        Err(e) => return Err(text(400, &format!("bad request: {e}\n"))),
    }
    let method = req.method.unwrap_or("");
    if method != "GET" && method != "HEAD" {
        return Err(text(405, "only GET and HEAD\n"));
    }
    let path = req.path.unwrap_or("/");
    let path = path.split_once('?').map_or(path, |(p, _)| p).to_string();
    Ok(Some(Request::Get {
        path,
        head: method == "HEAD",
    }))
}

/// The octets of `response`: control socket octets as they are, an HTTP
/// response with its head (and, unless `head_only`, its body; an export's
/// body follows as it is rendered). A 405 names the methods allowed.
pub fn encode(response: &Response, head_only: bool) -> Vec<u8> {
    match response {
        Response::Raw(bytes) => bytes.clone(),
        Response::Http {
            status,
            content_type,
            body,
        } => {
            let extra = if *status == 405 {
                "Allow: GET, HEAD\r\n"
            } else {
                ""
            };
            let mut out = head(*status, content_type, Some(body.len()), extra);
            if !head_only {
                out.extend_from_slice(body);
            }
            out
        }
        Response::Export(export) => head(200, export.content_type(), None, ""),
    }
}

/// Write what waits, rendering more of an export as the socket takes it;
/// `Ok(true)` once everything is out.
fn write(conn: &mut Conn) -> io::Result<bool> {
    let mut rendered = 0;
    loop {
        while conn.sent < conn.out.len() {
            match conn.stream.write(&conn.out[conn.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => conn.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let Some(export) = conn.export.as_mut() else {
            return Ok(true);
        };
        if export.is_done() {
            return Ok(true);
        }
        if rendered >= EXPORT_TURN {
            // Enough for one turn: the loop comes back.
            return Ok(false);
        }
        conn.out.clear();
        conn.sent = 0;
        export.fill(&mut conn.out, 64 * 1024);
        rendered += conn.out.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status of an HTTP answer, or 0 for raw octets.
    fn status(answer: Result<Option<Request>, Response>) -> u16 {
        match answer {
            Err(Response::Http { status, .. }) => status,
            Err(Response::Raw(_)) => 0,
            Err(Response::Export(_)) => 200,
            Ok(r) => panic!("taken: {r:?}"),
        }
    }

    #[test]
    fn get_and_head_are_taken_without_their_query() {
        let got = parse_request(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", true, false);
        assert_eq!(
            got.ok().flatten(),
            Some(Request::Get {
                path: "/metrics".into(),
                head: false
            })
        );
        let got = parse_request(b"HEAD / HTTP/1.0\r\n\r\n", true, true);
        assert_eq!(
            got.ok().flatten(),
            Some(Request::Get {
                path: "/".into(),
                head: true
            })
        );
    }

    #[test]
    fn an_incomplete_head_waits_unless_the_client_left() {
        assert!(matches!(
            parse_request(b"GET / HTTP/1.1\r\nHo", true, false),
            Ok(None)
        ));
        assert_eq!(
            status(parse_request(b"GET / HTTP/1.1\r\nHo", true, true)),
            0
        );
    }

    #[test]
    fn requests_that_cannot_be_taken_get_a_clear_status() {
        assert_eq!(
            status(parse_request(b"POST / HTTP/1.1\r\n\r\n", true, false)),
            405
        );
        assert_eq!(
            status(parse_request(b"\x01\x02 / HTTP/1.1\r\n\r\n", true, false)),
            400
        );
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 10, b'a');
        assert_eq!(status(parse_request(&big, true, false)), 431);
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(status(parse_request(&big, true, false)), 431);
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..40 {
            many.extend_from_slice(format!("X{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(status(parse_request(&many, true, false)), 431);
    }

    /// A state with no data and one reason not to be ready, which counts
    /// the status documents it builds.
    #[derive(Default)]
    struct Fake {
        built: std::cell::Cell<u32>,
    }

    impl State for Fake {
        fn status(&self) -> Status {
            self.built.set(self.built.get() + 1);
            Status::default()
        }

        fn readiness(&self) -> Readiness {
            Readiness {
                ready: false,
                reasons: vec!["no data loaded yet".into()],
            }
        }

        fn export(&self, _: Format) -> Option<Export> {
            None
        }
    }

    fn get(path: &str) -> Request {
        Request::Get {
            path: path.into(),
            head: false,
        }
    }

    /// The status and body of an HTTP answer.
    fn http(answer: (Response, Action)) -> (u16, String) {
        assert_eq!(answer.1, Action::None);
        match answer.0 {
            Response::Http { status, body, .. } => {
                (status, String::from_utf8(body).expect("UTF-8"))
            }
            _ => panic!("not an HTTP answer"),
        }
    }

    #[test]
    fn requests_are_routed_and_health_checks_build_no_status() {
        let state = Fake::default();
        assert_eq!(http(route(&get("/healthz"), &state)), (200, "ok\n".into()));
        assert_eq!(
            http(route(&get("/readyz"), &state)),
            (503, "not ready: no data loaded yet\n".into())
        );
        assert_eq!(state.built.get(), 0);
        assert_eq!(http(route(&get("/json"), &state)).0, 503);
        assert_eq!(http(route(&get("/csv"), &state)).0, 503);
        assert_eq!(http(route(&get("/nothing"), &state)).0, 404);
        for path in ["/status", "/metrics", "/"] {
            assert_eq!(http(route(&get(path), &state)).0, 200, "{path}");
        }
        assert_eq!(state.built.get(), 3);
    }

    #[test]
    fn reload_on_the_control_socket_is_an_action() {
        let state = Fake::default();
        let (response, action) = route(&Request::Control("reload".into()), &state);
        assert_eq!(action, Action::Reload);
        assert!(matches!(response, Response::Raw(r) if r == b"reload requested\n"));
        let (response, action) = route(&Request::Control("status".into()), &state);
        assert_eq!(action, Action::None);
        assert!(matches!(response, Response::Raw(r) if r.ends_with(b"}\n")));
        let (response, action) = route(&Request::Control("stop".into()), &state);
        assert_eq!(action, Action::None);
        assert!(matches!(response, Response::Raw(r) if r.starts_with(b"error: unknown command")));
    }

    #[test]
    fn responses_are_encoded_with_their_head() {
        let ok = text(200, "ok\n");
        let full = String::from_utf8(encode(&ok, false)).unwrap();
        assert_eq!(
            full,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Cache-Control: no-store\r\nConnection: close\r\nContent-Length: 3\r\n\r\nok\n"
        );
        // HEAD: the same head, its length included, and no body.
        let head = String::from_utf8(encode(&ok, true)).unwrap();
        assert_eq!(head, full.strip_suffix("ok\n").unwrap());
        let busy = String::from_utf8(encode(&text(503, "busy\n"), false)).unwrap();
        assert!(busy.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(busy.ends_with("Content-Length: 5\r\n\r\nbusy\n"));
        assert!(!busy.contains("Allow:"));
        let not_allowed = String::from_utf8(encode(&text(405, "x\n"), false)).unwrap();
        assert!(not_allowed.contains("\r\nAllow: GET, HEAD\r\n"));
        assert_eq!(encode(&Response::Raw(b"raw\n".to_vec()), true), b"raw\n");
        assert!(Request::Get {
            path: "/".into(),
            head: true
        }
        .head_only());
        assert!(!get("/").head_only());
        assert!(!Request::Control("status".into()).head_only());
    }

    #[test]
    fn control_commands_are_one_line() {
        assert_eq!(
            parse_request(b" status --json \nrest", false, false)
                .ok()
                .flatten(),
            Some(Request::Control("status --json".into()))
        );
        assert!(matches!(parse_request(b"stat", false, false), Ok(None)));
        assert_eq!(status(parse_request(b"stat", false, true)), 0);
        let long = vec![b'a'; MAX_LINE + 1];
        match parse_request(&long, false, false) {
            Err(Response::Raw(out)) => assert_eq!(out, b"error: command too long\n"),
            _ => panic!("a long command was not refused"),
        }
    }
}
