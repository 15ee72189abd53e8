//! One HTTP/1.1 GET on a connected stream (RFC 9112): the request, the
//! response head, the body's framing (Content-Length, chunked, or until
//! the connection closes) and its gzip content coding, each bounded by the
//! caller's limits. It runs in the fetcher process, unprivileged, chrooted,
//! with no file system and a seccomp allow-list: the caller connects (TCP,
//! then TLS where the URL is https) and hands over the stream; nothing here
//! resolves a name, opens a file or keeps a connection (every request says
//! `Connection: close`). A body is returned only whole: a truncated,
//! oversized or undecodable download is an error, never a shorter body.
//! Section numbers are RFC 9112's unless marked otherwise.

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::time::Instant;

use flate2::bufread::MultiGzDecoder;

/// The default bound on a response head: its status line and header
/// fields, and those of any interim (1xx) responses before it.
pub const MAX_HEAD: usize = 64 * 1024;

/// Octets asked of the stream per read.
const CHUNK: usize = 16 * 1024;

/// Header fields one response head may have.
const MAX_FIELDS: usize = 100;

/// The longest chunk-size line or trailer field line taken (§7.1).
const MAX_LINE: usize = 4096;

/// How much of a server's text (a reason phrase, a coding) an error keeps.
const MAX_QUOTE: usize = 100;

//------------ Request -------------------------------------------------------

/// One GET: where, the validators of the copy held, and the limits.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The Host field: the URL's host, with `:port` unless the port is the
    /// scheme's default (RFC 9110 §7.2).
    pub host: &'a str,
    /// The path and query, the origin-form request target (§3.2.1): it
    /// starts with `/` and is percent-encoded.
    pub path: &'a str,
    /// The `ETag` of the copy held, sent as If-None-Match.
    pub etag: Option<&'a str>,
    /// The Last-Modified of the copy held, sent as If-Modified-Since.
    pub last_modified: Option<&'a str>,
    /// What the exchange may take.
    pub limits: Limits,
}

/// What one exchange may take.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest body, in octets after decompression; the octets read
    /// are held to it as well.
    pub max_body: u64,
    /// The largest response head, interim responses included.
    pub max_head: usize,
    /// When the whole exchange must be over.
    pub deadline: Instant,
}

impl Limits {
    /// Limits with a head of at most [`MAX_HEAD`].
    pub fn new(max_body: u64, deadline: Instant) -> Limits {
        Limits {
            max_body,
            max_head: MAX_HEAD,
            deadline,
        }
    }
}

//------------ Response ------------------------------------------------------

/// What the server answered, when it answered something usable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// 304: the copy held is current (RFC 9110 §15.4.5).
    NotModified,
    /// 200: the whole body, decompressed, and its validators for the next
    /// conditional request.
    Body {
        /// The payload.
        body: Vec<u8>,
        /// The `ETag` field, if it was printable ASCII.
        etag: Option<String>,
        /// The Last-Modified field, if it was printable ASCII.
        last_modified: Option<String>,
    },
    /// 301, 302, 303, 307 or 308: the payload is elsewhere (RFC 9110
    /// §15.4). The body is not read.
    Redirect {
        /// The status code.
        status: u16,
        /// The Location field, a URI reference that may be relative.
        location: String,
    },
}

//------------ HttpError -----------------------------------------------------

/// How a response body's end is marked (§6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Content-Length: this many octets.
    Length(u64),
    /// Transfer-Encoding: chunked, up to the last chunk and the trailers.
    Chunked,
    /// Neither: the body ends when the connection closes.
    Close,
}

/// Why a GET gave no usable response.
#[derive(Debug)]
pub enum HttpError {
    /// The request was not sent: a field would not make a valid request
    /// line or header field.
    InvalidRequest(&'static str),
    /// The server answered with a status other than 200, 304 or a
    /// redirect.
    Status {
        /// The status code.
        status: u16,
        /// The reason phrase, printable and shortened.
        reason: String,
    },
    /// The response head does not parse, or its fields contradict each
    /// other.
    MalformedHead(&'static str),
    /// The response head was not complete within this many octets.
    HeadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body is over the limit: by its Content-Length, or by the octets
    /// read or decompressed.
    BodyTooLarge {
        /// The limit.
        limit: u64,
        /// The Content-Length, when that said so before the body was read.
        length: Option<u64>,
    },
    /// The connection ended before the body did.
    Truncated {
        /// Body octets received (chunk data only, when chunked).
        received: u64,
        /// How the end should have been marked.
        framing: Framing,
    },
    /// The chunked framing is broken (§7.1).
    BadChunk(&'static str),
    /// A Transfer-Encoding other than chunked, or a Content-Encoding other
    /// than gzip.
    UnsupportedCoding {
        /// The field's name.
        field: &'static str,
        /// Its value, printable and shortened.
        value: String,
    },
    /// The gzip content does not decode (RFC 1952).
    BadGzip(io::Error),
    /// The deadline passed, or a read or write timed out.
    TimedOut,
    /// Reading or writing the stream failed.
    Io(io::Error),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::InvalidRequest(what) => write!(f, "request not sent: {what}"),
            HttpError::Status { status, reason } if reason.is_empty() => {
                write!(f, "server answered {status}")
            }
            HttpError::Status { status, reason } => write!(f, "server answered {status} {reason}"),
            HttpError::MalformedHead(what) => write!(f, "malformed response head: {what}"),
            HttpError::HeadTooLarge { limit } => {
                write!(f, "response head not complete within {limit} octets")
            }
            HttpError::BodyTooLarge {
                limit,
                length: Some(length),
            } => write!(
                f,
                "response body of {length} octets (Content-Length) is over the limit of {limit}"
            ),
            HttpError::BodyTooLarge {
                limit,
                length: None,
            } => write!(f, "response body is over the limit of {limit} octets"),
            HttpError::Truncated { received, framing } => {
                write!(f, "response body truncated: ")?;
                match framing {
                    Framing::Length(length) => write!(
                        f,
                        "the connection closed after {received} of {length} octets"
                    ),
                    Framing::Chunked => write!(
                        f,
                        "the connection closed after {received} octets, before the last chunk"
                    ),
                    Framing::Close => write!(
                        f,
                        "the connection ended after {received} octets without a clean close \
                         (no TLS close_notify)"
                    ),
                }
            }
            HttpError::BadChunk(what) => write!(f, "bad chunked framing: {what}"),
            HttpError::UnsupportedCoding { field, value } => {
                write!(f, "unsupported {field}: {value}")
            }
            HttpError::BadGzip(err) => write!(f, "gzip content does not decode: {err}"),
            HttpError::TimedOut => write!(f, "timed out before the response was complete"),
            HttpError::Io(err) => write!(f, "connection error: {err}"),
        }
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HttpError::BadGzip(err) | HttpError::Io(err) => Some(err),
            _ => None,
        }
    }
}

//------------ get -----------------------------------------------------------

/// Sends `req` on `stream` and reads the answer.
///
/// The stream is connected, with a read timeout of at most the time left
/// before `req.limits.deadline`; it is not used again (the request asks
/// the server to close). Only the body of a 200 is read, and only whole.
pub fn get<S: Read + Write>(stream: &mut S, req: &Request<'_>) -> Result<Response, HttpError> {
    let request = encode(req)?;
    let mut conn = Conn::new(stream, req.limits.deadline);
    conn.send(&request)?;
    read_response(&mut conn, req.limits)
}

/// Reads the answer to the request sent on `conn`, within `limits`.
fn read_response<S: Read>(conn: &mut Conn<'_, S>, limits: Limits) -> Result<Response, HttpError> {
    let head = read_head(conn, limits.max_head)?;
    match head.status {
        200 => {}
        304 => return Ok(Response::NotModified),
        301 | 302 | 303 | 307 | 308 => {
            let location = head
                .first(Field::Location)
                .ok_or(HttpError::MalformedHead("a redirect without a Location"))?;
            let location = visible(location)
                .ok_or(HttpError::MalformedHead("a Location that is not a URI"))?;
            return Ok(Response::Redirect {
                status: head.status,
                location,
            });
        }
        status => {
            return Err(HttpError::Status {
                status,
                reason: head.reason,
            })
        }
    }
    let framing = head.framing()?;
    let gzip = head.gzip()?;
    if let Framing::Length(length) = framing {
        if length > limits.max_body {
            return Err(HttpError::BodyTooLarge {
                limit: limits.max_body,
                length: Some(length),
            });
        }
    }
    let mut body = Body::new(conn, framing, limits);
    let body = if gzip {
        gunzip(&mut body)?
    } else {
        copy(&mut body)?
    };
    Ok(Response::Body {
        body,
        etag: head.first(Field::Etag).and_then(text),
        last_modified: head.first(Field::LastModified).and_then(text),
    })
}

//------------ Without blocking ---------------------------------------------

/// The octets of `req`, for a caller that writes them itself: the
/// fetcher's event loop, which never blocks on an upstream.
pub fn request(req: &Request<'_>) -> Result<Vec<u8>, HttpError> {
    encode(req)
}

/// Whether `raw`, the start of a response, is already complete, as
/// [`response`] would read it: its final head has arrived, after any
/// interim (1xx) ones, and it has no body (204, 304), or its body has
/// arrived by its framing: as many octets as its Content-Length, or up to
/// the last chunk and the trailer section's end. A body delimited by the
/// close never is; the caller waits for the server to close, as the
/// request asks it to. A response already known to be malformed is
/// complete: no more octets can mend it. Cheap: chunk data is skipped,
/// not read.
pub fn is_complete(raw: &[u8]) -> bool {
    let mut at = 0;
    let head = loop {
        match parse_head(&raw[at..]) {
            Ok(Some((n, head))) => {
                at += n;
                if !is_interim(head.status) {
                    break head;
                }
            }
            Ok(None) => return false,
            Err(_) => return true,
        }
    };
    if matches!(head.status, 204 | 304) {
        return true;
    }
    let body = &raw[at..];
    match head.framing() {
        Ok(Framing::Length(length)) => body.len() as u64 >= length,
        Ok(Framing::Chunked) => !matches!(chunked_end(body), Ok(None)),
        Ok(Framing::Close) => false,
        Err(_) => true,
    }
}

/// Where the chunked body at the start of `body` ends, after its last
/// chunk and trailer section (§7.1); `None` if it has not yet.
fn chunked_end(body: &[u8]) -> Result<Option<usize>, HttpError> {
    // The next line of the body from `at`, LF included, as `Conn::line`
    // takes it.
    let line = |at: usize| -> Result<Option<&[u8]>, HttpError> {
        let rest = body.get(at..).unwrap_or_default();
        let window = &rest[..rest.len().min(MAX_LINE)];
        match window.iter().position(|&b| b == b'\n') {
            Some(i) => Ok(Some(&rest[..=i])),
            None if rest.len() >= MAX_LINE => Err(HttpError::BadChunk(
                "a chunk-size or trailer line over 4096 octets",
            )),
            None => Ok(None),
        }
    };
    let mut at = 0;
    loop {
        let Some(size_line) = line(at)? else {
            return Ok(None);
        };
        let size = chunk_size(size_line)?;
        at += size_line.len();
        if size == 0 {
            break;
        }
        let Some(end) = usize::try_from(size).ok().and_then(|n| at.checked_add(n)) else {
            return Ok(None);
        };
        let Some(crlf) = body.get(end..end.saturating_add(2)) else {
            return Ok(None);
        };
        if crlf != b"\r\n" {
            return Err(HttpError::BadChunk("chunk data not followed by CRLF"));
        }
        at = end + 2;
    }
    // The trailer section, to its empty line.
    loop {
        let Some(trailer) = line(at)? else {
            return Ok(None);
        };
        at += trailer.len();
        let Some(trailer) = trailer.strip_suffix(b"\r\n") else {
            return Err(HttpError::BadChunk("a trailer line not ended by CRLF"));
        };
        if trailer.iter().any(|&b| is_control(b)) {
            return Err(HttpError::BadChunk("a control character in a trailer line"));
        }
        if trailer.is_empty() {
            return Ok(Some(at));
        }
    }
}

/// The answer in `raw`: everything the server sent before it closed the
/// connection (`clean`: properly; a TLS connection closed without
/// `close_notify` is not), checked within `limits` as [`get`] checks a
/// stream.
pub fn response(raw: &[u8], clean: bool, limits: Limits) -> Result<Response, HttpError> {
    let mut replay = Replay { raw, clean };
    read_response(&mut Conn::new(&mut replay, limits.deadline), limits)
}

/// A stream that has already been read: reads give the octets and then
/// the end the connection had.
struct Replay<'a> {
    raw: &'a [u8],
    clean: bool,
}

impl Read for Replay<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.raw.is_empty() && !self.clean {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let n = buf.len().min(self.raw.len());
        buf[..n].copy_from_slice(&self.raw[..n]);
        self.raw = &self.raw[n..];
        Ok(n)
    }
}

/// The request's octets (§3, RFC 9110 §13.1), refused if a field would
/// break the request line or a header field.
fn encode(req: &Request<'_>) -> Result<Vec<u8>, HttpError> {
    if !req.path.starts_with('/') || !req.path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HttpError::InvalidRequest(
            "the path is not an origin-form target of visible ASCII",
        ));
    }
    if req.host.is_empty() || !req.host.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HttpError::InvalidRequest("the host is not visible ASCII"));
    }
    let field_value =
        |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if !req.etag.is_none_or(field_value) {
        return Err(HttpError::InvalidRequest(
            "the ETag is empty or not printable ASCII",
        ));
    }
    if !req.last_modified.is_none_or(field_value) {
        return Err(HttpError::InvalidRequest(
            "the Last-Modified date is empty or not printable ASCII",
        ));
    }
    let mut out = format!(
        "GET {} HTTP/1.1\r\n\
         Host: {}\r\n\
         User-Agent: rovd/{}\r\n\
         Accept: application/json, text/csv, */*;q=0.5\r\n\
         Accept-Encoding: gzip\r\n",
        req.path,
        req.host,
        env!("CARGO_PKG_VERSION"),
    );
    for (name, value) in [
        ("If-None-Match", req.etag),
        ("If-Modified-Since", req.last_modified),
    ] {
        if let Some(value) = value {
            out.extend([name, ": ", value, "\r\n"]);
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    Ok(out.into_bytes())
}

//------------ Conn ----------------------------------------------------------

/// The stream, the octets received and not yet taken, and the deadline
/// every read and write is held to.
struct Conn<'s, S> {
    stream: &'s mut S,
    deadline: Instant,
    buf: Vec<u8>,
    /// Where the octets not yet taken start in `buf`.
    at: usize,
    /// The stream ended with an error saying the peer did not close it
    /// cleanly: a TLS connection without `close_notify`.
    unclean: bool,
}

impl<S> Conn<'_, S> {
    fn check_deadline(&self) -> Result<(), HttpError> {
        if Instant::now() >= self.deadline {
            return Err(HttpError::TimedOut);
        }
        Ok(())
    }
}

impl<S: Write> Conn<'_, S> {
    fn send(&mut self, octets: &[u8]) -> Result<(), HttpError> {
        self.check_deadline()?;
        self.stream
            .write_all(octets)
            .and_then(|()| self.stream.flush())
            .map_err(stream_error)
    }
}

impl<'s, S: Read> Conn<'s, S> {
    fn new(stream: &'s mut S, deadline: Instant) -> Self {
        Conn {
            stream,
            deadline,
            buf: Vec::new(),
            at: 0,
            unclean: false,
        }
    }

    /// The octets received and not yet taken.
    fn buffered(&self) -> &[u8] {
        &self.buf[self.at..]
    }

    fn consume(&mut self, n: usize) {
        self.at += n;
        debug_assert!(self.at <= self.buf.len());
    }

    /// Reads at most `max` more octets after those buffered; `Ok(0)` when
    /// the stream has ended.
    fn read_more(&mut self, max: usize) -> Result<usize, HttpError> {
        self.buf.drain(..self.at);
        self.at = 0;
        let old = self.buf.len();
        self.buf.resize(old + max, 0);
        let read = loop {
            if let Err(err) = self.check_deadline() {
                break Err(err);
            }
            match self.stream.read(&mut self.buf[old..]) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
                    self.unclean = true;
                    break Ok(0);
                }
                other => break other.map_err(stream_error),
            }
        };
        self.buf.truncate(old + *read.as_ref().unwrap_or(&0));
        read
    }

    /// The length of the next line, LF included, reading until it is
    /// complete; `None` if the stream ends first.
    fn line(&mut self) -> Result<Option<usize>, HttpError> {
        loop {
            let buffered = self.buffered();
            let window = &buffered[..buffered.len().min(MAX_LINE)];
            if let Some(i) = window.iter().position(|&b| b == b'\n') {
                return Ok(Some(i + 1));
            }
            if buffered.len() >= MAX_LINE {
                return Err(HttpError::BadChunk(
                    "a chunk-size or trailer line over 4096 octets",
                ));
            }
            if self.read_more(CHUNK)? == 0 {
                return Ok(None);
            }
        }
    }
}

/// A failed read or write: a timeout is the deadline's.
fn stream_error(err: io::Error) -> HttpError {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HttpError::TimedOut,
        _ => HttpError::Io(err),
    }
}

//------------ Head ----------------------------------------------------------

/// The header fields read here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    ContentLength,
    TransferEncoding,
    ContentEncoding,
    Location,
    Etag,
    LastModified,
}

impl Field {
    const ALL: [(Field, &'static str); 6] = [
        (Field::ContentLength, "Content-Length"),
        (Field::TransferEncoding, "Transfer-Encoding"),
        (Field::ContentEncoding, "Content-Encoding"),
        (Field::Location, "Location"),
        (Field::Etag, "ETag"),
        (Field::LastModified, "Last-Modified"),
    ];

    fn named(name: &str) -> Option<Field> {
        Field::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|&(field, _)| field)
    }
}

/// A final response's status line and the fields read here, in order.
#[derive(Debug)]
struct Head {
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    version: u8,
    status: u16,
    reason: String,
    fields: Vec<(Field, Vec<u8>)>,
}

/// Reads up to the end of the final response's head, skipping interim
/// responses (RFC 9110 §15.2), never more than `max_head` octets in all.
fn read_head<S: Read>(conn: &mut Conn<'_, S>, max_head: usize) -> Result<Head, HttpError> {
    let mut left = max_head;
    // Where a new end of the head may be: parsing again only after an
    // empty line arrived keeps a head sent an octet at a time linear.
    let mut scanned: usize = 0;
    loop {
        let buffered = conn.buffered();
        if ends_head(&buffered[scanned.saturating_sub(2)..]) {
            if let Some((n, head)) = parse_head(buffered)? {
                conn.consume(n);
                left -= n;
                scanned = 0;
                if is_interim(head.status) {
                    continue;
                }
                return Ok(head);
            }
        }
        scanned = buffered.len();
        if buffered.len() >= left {
            return Err(HttpError::HeadTooLarge { limit: max_head });
        }
        if conn.read_more((left - buffered.len()).min(CHUNK))? == 0 {
            return Err(HttpError::MalformedHead(
                if conn.buffered().is_empty() && left == max_head {
                    "the connection closed with no response"
                } else {
                    "the connection closed inside the head"
                },
            ));
        }
    }
}

/// Whether a head of `status` is an interim response (RFC 9110 §15.2),
/// which a final one follows; 101 (Switching Protocols) is not asked for
/// and so is taken as final.
fn is_interim(status: u16) -> bool {
    (100..200).contains(&status) && status != 101
}

/// Whether `octets` hold an empty line's end, as a head ends with one.
fn ends_head(octets: &[u8]) -> bool {
    octets.windows(2).any(|w| w == b"\n\n") || octets.windows(3).any(|w| w == b"\n\r\n")
}

/// The head at the start of `octets` and its length, or `None` if it is
/// not complete.
fn parse_head(octets: &[u8]) -> Result<Option<(usize, Head)>, HttpError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut response = httparse::Response::new(&mut fields);
    let n = match response.parse(octets) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => return Err(HttpError::MalformedHead(describe(err))),
    };
    let (Some(version), Some(status)) = (response.version, response.code) else {
        return Err(HttpError::MalformedHead("no status line"));
    };
    let fields = response
        .headers
        .iter()
        .filter_map(|h| Some((Field::named(h.name)?, h.value.to_vec())))
        .collect();
    Ok(Some((
        n,
        Head {
            version,
            status,
            reason: quote(response.reason.unwrap_or_default().as_bytes()),
            fields,
        },
    )))
}

fn describe(err: httparse::Error) -> &'static str {
    match err {
        httparse::Error::HeaderName => "an invalid header field name",
        httparse::Error::HeaderValue => "an invalid header field value",
        httparse::Error::NewLine => "an invalid line ending",
        httparse::Error::Status => "an invalid status code",
        httparse::Error::Token => "an invalid token",
        httparse::Error::TooManyHeaders => "more than 100 header fields",
        httparse::Error::Version => "not an HTTP/1.x status line",
    }
}

impl Head {
    fn values(&self, field: Field) -> impl Iterator<Item = &[u8]> {
        self.fields
            .iter()
            .filter(move |(f, _)| *f == field)
            .map(|(_, v)| v.as_slice())
    }

    fn first(&self, field: Field) -> Option<&[u8]> {
        self.values(field).next()
    }

    /// The elements of a list-valued field over all its lines, lower case
    /// (RFC 9110 §5.6.1); `None` if the field is absent.
    fn list(&self, field: Field) -> Option<Vec<String>> {
        self.first(field)?;
        Some(
            self.values(field)
                .flat_map(|v| v.split(|&b| b == b','))
                .map(|e| quote(e.trim_ascii()).to_ascii_lowercase())
                .filter(|e| !e.is_empty())
                .collect(),
        )
    }

    /// How the body of this 200 ends (§6.3).
    ///
    /// Transfer-Encoding overrides Content-Length (§6.3 ¶3): with one
    /// request per connection, the mismatch cannot desynchronise a next
    /// response, and the chunked framing is checked to its last chunk.
    fn framing(&self) -> Result<Framing, HttpError> {
        if let Some(codings) = self.list(Field::TransferEncoding) {
            if self.version == 0 {
                // §6.1: faulty framing, whatever else the head says.
                return Err(HttpError::MalformedHead(
                    "Transfer-Encoding in an HTTP/1.0 response",
                ));
            }
            // The request offered no TE, so chunked alone may come (RFC
            // 9110 §10.1.4).
            if codings != ["chunked"] {
                return Err(HttpError::UnsupportedCoding {
                    field: "Transfer-Encoding",
                    value: quote(codings.join(", ").as_bytes()),
                });
            }
            return Ok(Framing::Chunked);
        }
        let mut length = None;
        for v in self.values(Field::ContentLength) {
            // A list of equal values is one length (RFC 9110 §8.6).
            for e in v.split(|&b| b == b',') {
                let n = decimal(e.trim_ascii()).ok_or(HttpError::MalformedHead(
                    "a Content-Length that is not a number",
                ))?;
                if length.is_some_and(|l| l != n) {
                    return Err(HttpError::MalformedHead("Content-Length values differ"));
                }
                length = Some(n);
            }
        }
        Ok(length.map_or(Framing::Close, Framing::Length))
    }

    /// Whether the content is gzip (RFC 9110 §8.4.1.3); any coding other
    /// than gzip or identity is refused.
    fn gzip(&self) -> Result<bool, HttpError> {
        let Some(mut codings) = self.list(Field::ContentEncoding) else {
            return Ok(false);
        };
        codings.retain(|c| c != "identity");
        match codings.as_slice() {
            [] => Ok(false),
            [c] if c == "gzip" || c == "x-gzip" => Ok(true),
            _ => Err(HttpError::UnsupportedCoding {
                field: "Content-Encoding",
                value: quote(codings.join(", ").as_bytes()),
            }),
        }
    }
}

/// A decimal number of one or more digits that fits a u64.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// A field value kept for the caller: printable ASCII, trimmed, not empty.
fn text(value: &[u8]) -> Option<String> {
    let value = value.trim_ascii();
    let printable = value.iter().all(|&b| b.is_ascii_graphic() || b == b' ');
    (printable && !value.is_empty()).then(|| String::from_utf8_lossy(value).into_owned())
}

/// A field value of visible ASCII only, as a URI is.
fn visible(value: &[u8]) -> Option<String> {
    let value = value.trim_ascii();
    let uri = value.iter().all(u8::is_ascii_graphic);
    (uri && !value.is_empty()).then(|| String::from_utf8_lossy(value).into_owned())
}

/// A server's text made fit for a log line: printable, and short.
fn quote(octets: &[u8]) -> String {
    String::from_utf8_lossy(octets)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_QUOTE)
        .collect()
}

//------------ Body ----------------------------------------------------------

/// Where the body's reading is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// Inside content: a Content-Length's, a chunk's, or up to the close.
    Data,
    /// Before a chunk-size line.
    Size,
    /// After a chunk's data, before its CRLF.
    DataEnd,
    /// Past the end.
    Done,
}

/// The body's octets as they arrive, framing removed, held to the limit.
///
/// A [`BufRead`] for the gzip decoder: an error is kept in `error`, and
/// the decoder is handed an `io::Error` of kind `Other` (never
/// `WouldBlock`, which it would take for "try again").
struct Body<'c, 's, S> {
    conn: &'c mut Conn<'s, S>,
    framing: Framing,
    part: Part,
    /// Content octets left: of the Content-Length, or of the chunk.
    left: u64,
    /// Content octets taken.
    received: u64,
    /// The limit on content octets.
    limit: u64,
    /// Trailer octets the trailer section may still take.
    trailers_left: usize,
    error: Option<HttpError>,
}

impl<'c, 's, S: Read> Body<'c, 's, S> {
    fn new(conn: &'c mut Conn<'s, S>, framing: Framing, limits: Limits) -> Self {
        let (part, left) = match framing {
            Framing::Length(0) => (Part::Done, 0),
            Framing::Length(n) => (Part::Data, n),
            Framing::Chunked => (Part::Size, 0),
            Framing::Close => (Part::Data, u64::MAX),
        };
        Body {
            conn,
            framing,
            part,
            left,
            received: 0,
            limit: limits.max_body,
            trailers_left: limits.max_head,
            error: None,
        }
    }

    /// Reads until content is buffered or the body has ended; how many of
    /// the buffered octets are content (0 at the end).
    fn ready(&mut self) -> Result<usize, HttpError> {
        loop {
            match self.part {
                Part::Done => return Ok(0),
                Part::Data => {
                    if self.conn.buffered().is_empty() && self.conn.read_more(CHUNK)? == 0 {
                        if self.framing == Framing::Close && !self.conn.unclean {
                            self.part = Part::Done;
                            return Ok(0);
                        }
                        return Err(self.truncated());
                    }
                    let n = self.conn.buffered().len().min(clamp(self.left));
                    if self.received + n as u64 > self.limit {
                        return Err(HttpError::BodyTooLarge {
                            limit: self.limit,
                            length: None,
                        });
                    }
                    return Ok(n);
                }
                Part::DataEnd => {
                    while self.conn.buffered().len() < 2 {
                        if self.conn.read_more(CHUNK)? == 0 {
                            return Err(self.truncated());
                        }
                    }
                    if !self.conn.buffered().starts_with(b"\r\n") {
                        return Err(HttpError::BadChunk("chunk data not followed by CRLF"));
                    }
                    self.conn.consume(2);
                    self.part = Part::Size;
                }
                Part::Size => {
                    let Some(n) = self.conn.line()? else {
                        return Err(self.truncated());
                    };
                    let size = chunk_size(&self.conn.buffered()[..n])?;
                    self.conn.consume(n);
                    if size == 0 {
                        self.trailers()?;
                        self.part = Part::Done;
                    } else if size > self.limit - self.received {
                        return Err(HttpError::BodyTooLarge {
                            limit: self.limit,
                            length: None,
                        });
                    } else {
                        self.left = size;
                        self.part = Part::Data;
                    }
                }
            }
        }
    }

    /// Skips the trailer section and the empty line that ends the chunked
    /// body (§7.1.2): trailer fields are not used here.
    fn trailers(&mut self) -> Result<(), HttpError> {
        loop {
            let Some(n) = self.conn.line()? else {
                return Err(self.truncated());
            };
            let line = &self.conn.buffered()[..n];
            let Some(line) = line.strip_suffix(b"\r\n") else {
                return Err(HttpError::BadChunk("a trailer line not ended by CRLF"));
            };
            if line.iter().any(|&b| is_control(b)) {
                return Err(HttpError::BadChunk("a control character in a trailer line"));
            }
            let end = line.is_empty();
            self.conn.consume(n);
            self.trailers_left = self
                .trailers_left
                .checked_sub(n)
                .ok_or(HttpError::BadChunk("a trailer section over the head limit"))?;
            if end {
                return Ok(());
            }
        }
    }

    fn take(&mut self, n: usize) {
        self.conn.consume(n);
        self.received += n as u64;
        if self.framing != Framing::Close {
            self.left -= n as u64;
            if self.left == 0 {
                self.part = match self.framing {
                    Framing::Chunked => Part::DataEnd,
                    _ => Part::Done,
                };
            }
        }
    }

    fn truncated(&self) -> HttpError {
        HttpError::Truncated {
            received: self.received,
            framing: self.framing,
        }
    }

    /// The error behind an `io::Error` from `read` or `fill_buf`.
    fn failure(&mut self, err: io::Error) -> HttpError {
        self.error.take().unwrap_or(HttpError::BadGzip(err))
    }
}

impl<S: Read> BufRead for Body<'_, '_, S> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self.ready() {
            Ok(n) => Ok(&self.conn.buffered()[..n]),
            Err(err) => {
                self.error = Some(err);
                Err(io::Error::other("response body"))
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.take(n);
    }
}

impl<S: Read> Read for Body<'_, '_, S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let octets = self.fill_buf()?;
            let n = octets.len().min(out.len());
            out[..n].copy_from_slice(&octets[..n]);
            n
        };
        self.take(n);
        Ok(n)
    }
}

/// The size on a chunk-size line (§7.1): hex digits, then extensions,
/// which are ignored (§7.1.1), then CRLF.
fn chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let line = line
        .strip_suffix(b"\r\n")
        .ok_or(HttpError::BadChunk("a chunk-size line not ended by CRLF"))?;
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let (size, rest) = line.split_at(digits);
    // BWS: spaces and tabs only (RFC 9110 §5.6.3).
    let blank = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let rest = &rest[blank..];
    if size.is_empty() || !(rest.is_empty() || rest.starts_with(b";")) {
        return Err(HttpError::BadChunk("a chunk size that is not hexadecimal"));
    }
    if rest.iter().any(|&b| is_control(b)) {
        return Err(HttpError::BadChunk(
            "a control character in a chunk extension",
        ));
    }
    size.iter()
        .try_fold(0u64, |n, &d| {
            let d = char::from(d).to_digit(16)?;
            n.checked_mul(16)?.checked_add(u64::from(d))
        })
        .ok_or(HttpError::BadChunk("a chunk size over 64 bits"))
}

/// A control octet, other than the HTAB allowed in field values.
fn is_control(b: u8) -> bool {
    b.is_ascii_control() && b != b'\t'
}

/// A u64 as a usize, saturated.
fn clamp(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

//------------ Content -------------------------------------------------------

/// The body as it came.
fn copy<S: Read>(body: &mut Body<'_, '_, S>) -> Result<Vec<u8>, HttpError> {
    let mut out = Bounded::new(body.limit);
    loop {
        let n = body.ready()?;
        if n == 0 {
            return Ok(out.buf);
        }
        out.extend(&body.conn.buffered()[..n])?;
        body.take(n);
    }
}

/// The body decompressed, every gzip member of it (RFC 1952 §2.2), held
/// to the limit as it is inflated.
fn gunzip<S: Read>(body: &mut Body<'_, '_, S>) -> Result<Vec<u8>, HttpError> {
    let mut out = Bounded::new(body.limit);
    let mut piece = vec![0; CHUNK];
    let mut decoder = MultiGzDecoder::new(&mut *body);
    loop {
        match decoder.read(&mut piece) {
            // The decoder reads its input to the end, for any next member:
            // the body's framing has been checked to its end as well.
            Ok(0) => return Ok(out.buf),
            Ok(n) => out.extend(&piece[..n])?,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(decoder.get_mut().failure(err)),
        }
    }
}

/// A body growing with what arrives, never allocating past its limit.
struct Bounded {
    buf: Vec<u8>,
    limit: u64,
}

impl Bounded {
    fn new(limit: u64) -> Self {
        Bounded {
            buf: Vec::new(),
            limit,
        }
    }

    fn extend(&mut self, octets: &[u8]) -> Result<(), HttpError> {
        let len = self.buf.len() + octets.len();
        if len as u64 > self.limit {
            return Err(HttpError::BodyTooLarge {
                limit: self.limit,
                length: None,
            });
        }
        if len > self.buf.capacity() {
            // Doubling, but not past the limit, as a Vec's own growth would.
            let capacity = (self.buf.capacity() * 2)
                .max(len)
                .max(CHUNK)
                .min(clamp(self.limit));
            self.buf
                .try_reserve_exact(capacity - self.buf.len())
                .map_err(|_| HttpError::Io(io::ErrorKind::OutOfMemory.into()))?;
        }
        self.buf.extend_from_slice(octets);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
