//! The GET against canned responses, delivered whole and in pieces of a
//! few octets, and once over loopback TCP: each framing, gzip, the
//! conditional request, redirects, and every way a download must fail
//! rather than hand the fetcher a short body.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::*;

/// Piece sizes each response is delivered in: every split point of the
/// small ones, a few odd ones, and whole.
const STEPS: [usize; 5] = [1, 2, 7, 100, usize::MAX];

const JSON: &[u8] = br#"{"roas":[{"prefix":"192.0.2.0/24","maxLength":24,"asn":"AS64496"}]}"#;

//------------ Canned --------------------------------------------------------

/// How a canned stream ends once its octets are read.
#[derive(Clone, Copy, Debug)]
enum End {
    /// A clean close: reads return 0.
    Close,
    /// A server that says nothing more: reads time out.
    Stall,
    /// A close without TLS `close_notify`, as rustls reports it.
    Unclean,
}

/// A server's answer, handed out in pieces of `step` octets; what the
/// client wrote is kept.
struct Canned {
    input: Vec<u8>,
    at: usize,
    step: usize,
    end: End,
    /// Slept before each read.
    delay: Duration,
    written: Vec<u8>,
}

impl Canned {
    fn new(input: &[u8], step: usize) -> Canned {
        Canned {
            input: input.to_vec(),
            at: 0,
            step,
            end: End::Close,
            delay: Duration::ZERO,
            written: Vec::new(),
        }
    }
}

impl Read for Canned {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        thread::sleep(self.delay);
        let left = &self.input[self.at..];
        if left.is_empty() {
            return match self.end {
                End::Close => Ok(0),
                End::Stall => Err(io::ErrorKind::WouldBlock.into()),
                End::Unclean => Err(io::ErrorKind::UnexpectedEof.into()),
            };
        }
        let n = left.len().min(buf.len()).min(self.step);
        buf[..n].copy_from_slice(&left[..n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for Canned {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn request(limits: Limits) -> Request<'static> {
    Request {
        host: "rpki.example.net",
        path: "/rpki.json",
        etag: None,
        last_modified: None,
        limits,
    }
}

fn limits() -> Limits {
    Limits::new(1 << 20, Instant::now() + Duration::from_secs(30))
}

/// `get` on `response` in pieces of `step`, with `req`.
fn get_with(response: &[u8], step: usize, req: &Request<'_>) -> Result<Response, HttpError> {
    get(&mut Canned::new(response, step), req)
}

/// `get` on `response` delivered in each of `STEPS`: every result must be
/// the same; the first.
fn get_all(response: &[u8]) -> Result<Response, HttpError> {
    let results: Vec<_> = STEPS
        .iter()
        .map(|&step| get_with(response, step, &request(limits())))
        .collect();
    let first = format!("{:?}", results[0]);
    for (step, r) in STEPS.iter().zip(&results) {
        assert_eq!(format!("{r:?}"), first, "in pieces of {step}");
    }
    results.into_iter().next().unwrap()
}

fn body(response: Result<Response, HttpError>) -> Vec<u8> {
    match response {
        Ok(Response::Body { body, .. }) => body,
        other => panic!("no body: {other:?}"),
    }
}

fn head(status: &str, fields: &[&str]) -> Vec<u8> {
    let mut h = format!("HTTP/1.1 {status}\r\n");
    for f in fields {
        h.push_str(f);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    h.into_bytes()
}

fn with_body(mut head: Vec<u8>, body: &[u8]) -> Vec<u8> {
    head.extend_from_slice(body);
    head
}

/// `body` in chunks of `size`, with the last chunk and no trailers.
fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

//------------ Requests and answers ------------------------------------------

#[test]
fn a_200_with_content_length_gives_the_body_and_its_validators() {
    let response = with_body(
        head(
            "200 OK",
            &[
                "Content-Type: application/json",
                &format!("Content-Length: {}", JSON.len()),
                "ETag: \"5f3e-1a\"",
                "Last-Modified: Tue, 14 Apr 2026 08:00:00 GMT",
            ],
        ),
        JSON,
    );
    assert_eq!(
        get_all(&response).unwrap(),
        Response::Body {
            body: JSON.to_vec(),
            etag: Some("\"5f3e-1a\"".into()),
            last_modified: Some("Tue, 14 Apr 2026 08:00:00 GMT".into()),
        }
    );
}

#[test]
fn the_request_asks_for_json_csv_and_gzip_and_to_close() {
    let mut stream = Canned::new(&head("200 OK", &["Content-Length: 0"]), usize::MAX);
    let req = Request {
        host: "rpki.example.net:8323",
        path: "/export/rpki.json?v=2",
        ..request(limits())
    };
    let r = get(&mut stream, &req).unwrap();
    assert_eq!(body(Ok(r)), b"");
    let want = format!(
        "GET /export/rpki.json?v=2 HTTP/1.1\r\n\
         Host: rpki.example.net:8323\r\n\
         User-Agent: rovd/{}\r\n\
         Accept: application/json, text/csv, */*;q=0.5\r\n\
         Accept-Encoding: gzip\r\n\
         Connection: close\r\n\
         \r\n",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(String::from_utf8(stream.written).unwrap(), want);
}

#[test]
fn a_304_answers_the_conditional_request_without_a_body() {
    let req = Request {
        etag: Some("W/\"abc\""),
        last_modified: Some("Tue, 14 Apr 2026 08:00:00 GMT"),
        ..request(limits())
    };
    for step in STEPS {
        // A 304 has no body, whatever its fields say (§6.3): none is read.
        let response = head(
            "304 Not Modified",
            &["Content-Length: 9999", "ETag: W/\"abc\""],
        );
        let mut stream = Canned::new(&response, step);
        stream.end = End::Stall;
        assert_eq!(get(&mut stream, &req).unwrap(), Response::NotModified);
        let written = String::from_utf8(stream.written).unwrap();
        let fields: Vec<&str> = written.split("\r\n").collect();
        assert!(fields.contains(&"If-None-Match: W/\"abc\""), "{written}");
        assert!(
            fields.contains(&"If-Modified-Since: Tue, 14 Apr 2026 08:00:00 GMT"),
            "{written}"
        );
        assert!(written.ends_with("Connection: close\r\n\r\n"), "{written}");
    }
}

#[test]
fn fields_that_would_break_the_request_are_refused_before_sending() {
    let bad = [
        Request {
            etag: Some("\"a\"\r\nX-Evil: 1"),
            ..request(limits())
        },
        Request {
            last_modified: Some("Tue\n"),
            ..request(limits())
        },
        Request {
            path: "/a b",
            ..request(limits())
        },
        Request {
            path: "rpki.json",
            ..request(limits())
        },
        Request {
            host: "",
            ..request(limits())
        },
        Request {
            host: "a\r\nb",
            ..request(limits())
        },
    ];
    for req in bad {
        let mut stream = Canned::new(b"", 1);
        let r = get(&mut stream, &req);
        assert!(
            matches!(r, Err(HttpError::InvalidRequest(_))),
            "{req:?}: {r:?}"
        );
        assert!(stream.written.is_empty());
    }
}

#[test]
fn chunked_bodies_with_extensions_and_trailers_are_decoded() {
    let mut b = head(
        "200 OK",
        &["Transfer-Encoding: chunked", "ETag: \"chunky\""],
    );
    b.extend_from_slice(b"1a;name=value;quoted=\"a;b\"\r\n");
    b.extend_from_slice(&JSON[..26]);
    b.extend_from_slice(b"\r\n");
    b.extend_from_slice(b"000A ; ext\r\n");
    b.extend_from_slice(&JSON[26..36]);
    b.extend_from_slice(b"\r\n");
    b.extend_from_slice(format!("{:X}\r\n", JSON.len() - 36).as_bytes());
    b.extend_from_slice(&JSON[36..]);
    b.extend_from_slice(b"\r\n");
    b.extend_from_slice(b"0;last\r\nExpires: never\r\nX-Checksum: 1234\r\n\r\n");
    let r = get_all(&b).unwrap();
    assert_eq!(
        r,
        Response::Body {
            body: JSON.to_vec(),
            etag: Some("\"chunky\"".into()),
            last_modified: None,
        }
    );
    // Octets after the chunked body are not read.
    b.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    assert_eq!(body(get_all(&b)), JSON);
}

#[test]
fn chunked_overrides_a_content_length() {
    let b = with_body(
        head(
            "200 OK",
            &["Content-Length: 3", "Transfer-Encoding: chunked"],
        ),
        &chunked(JSON, 10),
    );
    assert_eq!(body(get_all(&b)), JSON);
}

#[test]
fn a_body_without_framing_ends_at_a_clean_close() {
    let b = with_body(head("200 OK", &[]), JSON);
    assert_eq!(body(get_all(&b)), JSON);
    let b = with_body(head("200 OK", &["Transfer-Encoding: identity"]), JSON);
    let r = get_all(&b);
    assert!(
        matches!(&r, Err(HttpError::UnsupportedCoding { field: "Transfer-Encoding", value }) if value == "identity"),
        "{r:?}"
    );
}

#[test]
fn gzip_content_is_decompressed_in_every_framing() {
    let data = JSON.repeat(500);
    let z = gzip(&data);
    assert!(z.len() < data.len());
    let by_length = with_body(
        head(
            "200 OK",
            &[
                "Content-Encoding: gzip",
                &format!("Content-Length: {}", z.len()),
            ],
        ),
        &z,
    );
    let by_chunks = with_body(
        head(
            "200 OK",
            &["Transfer-Encoding: chunked", "Content-Encoding: x-gzip"],
        ),
        &chunked(&z, 77),
    );
    let by_close = with_body(head("200 OK", &["Content-Encoding: identity, GZIP"]), &z);
    for response in [by_length, by_chunks, by_close] {
        assert_eq!(body(get_all(&response)), data);
    }
    // Two members are one body (RFC 1952 §2.2).
    let mut two = gzip(&data[..1000]);
    two.extend_from_slice(&gzip(&data[1000..]));
    assert_eq!(
        body(get_all(&with_body(
            head("200 OK", &["Content-Encoding: gzip"]),
            &two
        ))),
        data
    );
}

#[test]
fn other_content_codings_are_refused() {
    for coding in ["br", "deflate", "gzip, gzip", "zstd"] {
        let b = with_body(
            head("200 OK", &[&format!("Content-Encoding: {coding}")]),
            JSON,
        );
        let r = get_all(&b);
        assert!(
            matches!(&r, Err(HttpError::UnsupportedCoding { field: "Content-Encoding", value }) if value == coding),
            "{coding}: {r:?}"
        );
    }
}

#[test]
fn redirects_are_handed_back_unread() {
    for status in [301, 302, 303, 307, 308] {
        let b = with_body(
            head(
                &format!("{status} Elsewhere"),
                &[
                    "Location: https://rpki.example.org/rpki.json",
                    "Content-Length: 5",
                ],
            ),
            b"moved",
        );
        assert_eq!(
            get_all(&b).unwrap(),
            Response::Redirect {
                status,
                location: "https://rpki.example.org/rpki.json".into()
            }
        );
    }
    let relative = head("302 Found", &["Location: /v2/rpki.json"]);
    assert!(
        matches!(get_all(&relative), Ok(Response::Redirect { location, .. }) if location == "/v2/rpki.json")
    );
    let r = get_all(&head("301 Moved Permanently", &[]));
    assert!(matches!(r, Err(HttpError::MalformedHead(_))), "{r:?}");
}

#[test]
fn interim_responses_are_skipped() {
    let mut b = head("103 Early Hints", &["Link: </style.css>; rel=preload"]);
    b.extend_from_slice(&head("100 Continue", &[]));
    b.extend_from_slice(&with_body(
        head("200 OK", &[&format!("Content-Length: {}", JSON.len())]),
        JSON,
    ));
    assert_eq!(body(get_all(&b)), JSON);
    let r = get_all(&head("101 Switching Protocols", &["Upgrade: h2c"]));
    assert!(
        matches!(r, Err(HttpError::Status { status: 101, .. })),
        "{r:?}"
    );
}

#[test]
fn other_statuses_are_errors_with_their_reason() {
    let r = get_all(&with_body(
        head("404 Not Found", &["Content-Length: 9"]),
        b"not found",
    ));
    let err = r.unwrap_err();
    assert!(
        matches!(&err, HttpError::Status { status: 404, reason } if reason == "Not Found"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "server answered 404 Not Found");

    let err = get_all(&head("500 Internal Server Error", &[])).unwrap_err();
    assert_eq!(err.to_string(), "server answered 500 Internal Server Error");
    let err = get_all(b"HTTP/1.1 503 \r\n\r\n").unwrap_err();
    assert_eq!(err.to_string(), "server answered 503");
    for status in [
        "204 No Content",
        "206 Partial Content",
        "300 Multiple Choices",
    ] {
        let r = get_all(&head(status, &["Location: /x"]));
        assert!(
            matches!(r, Err(HttpError::Status { .. })),
            "{status}: {r:?}"
        );
    }
}

//------------ Truncation and framing ----------------------------------------

#[test]
fn a_body_shorter_than_its_content_length_is_truncated() {
    let b = with_body(head("200 OK", &["Content-Length: 100"]), &JSON[..40]);
    let err = get_all(&b).unwrap_err();
    assert!(
        matches!(
            err,
            HttpError::Truncated {
                received: 40,
                framing: Framing::Length(100)
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "response body truncated: the connection closed after 40 of 100 octets"
    );
    // Gzip content whose framing is cut short fails the same way.
    let z = gzip(&JSON.repeat(50));
    let b = with_body(
        head(
            "200 OK",
            &[
                "Content-Encoding: gzip",
                &format!("Content-Length: {}", z.len()),
            ],
        ),
        &z[..z.len() - 5],
    );
    let r = get_all(&b);
    assert!(matches!(r, Err(HttpError::Truncated { .. })), "{r:?}");
}

#[test]
fn a_chunked_body_cut_before_its_last_chunk_is_truncated() {
    let whole = chunked(JSON, 16);
    let h = head("200 OK", &["Transfer-Encoding: chunked"]);
    // Cut anywhere before the end: inside a size line, the data, a CRLF,
    // the last chunk, the trailers' empty line.
    for cut in 0..whole.len() {
        let b = with_body(h.clone(), &whole[..cut]);
        for step in [1, usize::MAX] {
            let r = get_with(&b, step, &request(limits()));
            assert!(
                matches!(
                    r,
                    Err(HttpError::Truncated {
                        framing: Framing::Chunked,
                        ..
                    })
                ),
                "cut at {cut}, step {step}: {r:?}"
            );
        }
    }
    let err = get_all(&with_body(h, &whole[..20])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "response body truncated: the connection closed after 16 octets, before the last chunk"
    );
}

#[test]
fn a_close_delimited_body_ended_uncleanly_is_truncated() {
    let b = with_body(head("200 OK", &[]), JSON);
    let mut stream = Canned::new(&b, 7);
    stream.end = End::Unclean;
    let r = get(&mut stream, &request(limits()));
    assert!(
        matches!(r, Err(HttpError::Truncated { framing: Framing::Close, received }) if received == JSON.len() as u64),
        "{r:?}"
    );
    // With a Content-Length the end is known: no clean close is needed.
    let b = with_body(
        head("200 OK", &[&format!("Content-Length: {}", JSON.len())]),
        JSON,
    );
    let mut stream = Canned::new(&b, 7);
    stream.end = End::Unclean;
    assert_eq!(body(get(&mut stream, &request(limits()))), JSON);
}

#[test]
fn bad_chunk_framing_is_an_error() {
    let cases: [&[u8]; 9] = [
        b"g\r\n",                        // not hex
        b"\r\n",                         // no size
        b" 5\r\nhello\r\n0\r\n\r\n",     // space before the size
        b"5\nhello\r\n0\r\n\r\n",        // bare LF
        b"5 x\r\nhello\r\n0\r\n\r\n",    // junk after the size
        b"5\r\nhelloXY0\r\n\r\n",        // no CRLF after the data
        b"10000000000000000\r\n",        // over 64 bits
        b"5;a\rb\r\nhello\r\n0\r\n\r\n", // CR inside an extension
        b"5\r\r\nhello\r\n0\r\n\r\n",    // CR after the size
    ];
    let h = head("200 OK", &["Transfer-Encoding: chunked"]);
    for case in cases {
        let r = get_all(&with_body(h.clone(), case));
        assert!(
            matches!(r, Err(HttpError::BadChunk(_))),
            "{:?}: {r:?}",
            String::from_utf8_lossy(case)
        );
    }
    let long = format!("5;{}\r\nhello\r\n0\r\n\r\n", "x".repeat(5000));
    let r = get_all(&with_body(h.clone(), long.as_bytes()));
    assert!(matches!(r, Err(HttpError::BadChunk(_))), "{r:?}");
    let trailer = with_body(h, b"0\r\nX-Bad: a\nb\r\n\r\n");
    let r = get_all(&trailer);
    assert!(matches!(r, Err(HttpError::BadChunk(_))), "{r:?}");
}

//------------ Limits --------------------------------------------------------

#[test]
fn a_content_length_over_the_limit_fails_before_the_body() {
    let req = request(Limits::new(
        64 << 20,
        Instant::now() + Duration::from_secs(30),
    ));
    let mut stream = Canned::new(&head("200 OK", &["Content-Length: 10000000000"]), 3);
    // Nothing more would come: an answer without reading further.
    stream.end = End::Stall;
    let err = get(&mut stream, &req).unwrap_err();
    assert!(
        matches!(
            err,
            HttpError::BodyTooLarge {
                limit: 67_108_864,
                length: Some(10_000_000_000)
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "response body of 10000000000 octets (Content-Length) is over the limit of 67108864"
    );
}

#[test]
fn a_body_over_the_limit_fails_as_it_arrives() {
    let req = request(Limits::new(100, Instant::now() + Duration::from_secs(30)));
    let exactly = with_body(head("200 OK", &[]), &[b'x'; 100]);
    for step in STEPS {
        assert_eq!(body(get_with(&exactly, step, &req)).len(), 100);
    }
    let close = with_body(head("200 OK", &[]), &[b'x'; 101]);
    let chunks = with_body(
        head("200 OK", &["Transfer-Encoding: chunked"]),
        &chunked(&[b'x'; 101], 30),
    );
    // One chunk's size alone says so.
    let one = with_body(
        head("200 OK", &["Transfer-Encoding: chunked"]),
        b"fffffffff\r\n",
    );
    for response in [close, chunks, one] {
        for step in STEPS {
            let r = get_with(&response, step, &req);
            assert!(
                matches!(
                    r,
                    Err(HttpError::BodyTooLarge {
                        limit: 100,
                        length: None
                    })
                ),
                "step {step}: {r:?}"
            );
        }
    }
}

#[test]
fn a_gzip_bomb_stops_at_the_limit() {
    // 64 members of 1 MiB of zeros: 64 MiB from about 64 KiB.
    let member = gzip(&vec![0; 1 << 20]);
    let bomb = member.repeat(64);
    assert!(bomb.len() < 128 << 10);
    let req = request(Limits::new(
        4 << 20,
        Instant::now() + Duration::from_secs(30),
    ));
    let b = with_body(
        head(
            "200 OK",
            &[
                "Content-Encoding: gzip",
                &format!("Content-Length: {}", bomb.len()),
            ],
        ),
        &bomb,
    );
    let err = get_with(&b, usize::MAX, &req).unwrap_err();
    assert!(
        matches!(
            err,
            HttpError::BodyTooLarge {
                limit: 4_194_304,
                length: None
            }
        ),
        "{err:?}"
    );
    // Four members are exactly the limit.
    let four = member.repeat(4);
    let b = with_body(head("200 OK", &["Content-Encoding: gzip"]), &four);
    assert_eq!(body(get_with(&b, 1000, &req)).len(), 4 << 20);
}

#[test]
fn gzip_is_held_to_the_limit_by_its_raw_octets_too() {
    // A gzip header whose file name never ends: octets in, nothing out.
    let mut endless = vec![0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3];
    endless.extend_from_slice(&[b'a'; 1000]);
    let req = request(Limits::new(100, Instant::now() + Duration::from_secs(30)));
    let b = with_body(head("200 OK", &["Content-Encoding: gzip"]), &endless);
    for step in STEPS {
        let r = get_with(&b, step, &req);
        assert!(
            matches!(
                r,
                Err(HttpError::BodyTooLarge {
                    limit: 100,
                    length: None
                })
            ),
            "step {step}: {r:?}"
        );
    }
}

#[test]
fn a_body_never_allocates_past_its_limit() {
    let mut out = Bounded::new(100_000);
    let piece = [7; 7000];
    let mut taken = 0;
    while out.extend(&piece).is_ok() {
        taken += piece.len();
        assert!(out.buf.capacity() <= 100_000, "{}", out.buf.capacity());
    }
    assert_eq!(taken, 98_000);
    assert_eq!(out.buf.len(), taken);
}

#[test]
fn gzip_that_does_not_decode_is_an_error() {
    let z = gzip(JSON);
    let mut flipped = z.clone();
    let last = flipped.len() - 6;
    flipped[last] ^= 0xff; // the CRC-32
    let mut trailing = z.clone();
    trailing.extend_from_slice(b"garbage");
    for content in [
        b"not gzip at all".to_vec(),
        flipped,
        trailing,
        z[..z.len() - 3].to_vec(),
    ] {
        let b = with_body(head("200 OK", &["Content-Encoding: gzip"]), &content);
        let r = get_all(&b);
        assert!(matches!(r, Err(HttpError::BadGzip(_))), "{r:?}");
    }
}

//------------ The head ------------------------------------------------------

#[test]
fn malformed_heads_are_errors() {
    let cases: [&[u8]; 11] = [
        b"",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ];
    for case in cases {
        let r = get_all(case);
        assert!(
            matches!(r, Err(HttpError::MalformedHead(_))),
            "{:?}: {r:?}",
            String::from_utf8_lossy(case)
        );
    }
    let equal = b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello";
    assert_eq!(body(get_all(equal)), b"hello");
    let err = get_all(b"").unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed response head: the connection closed with no response"
    );
    let many: Vec<String> = (0..101).map(|i| format!("X-{i}: {i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let r = get_all(&head("200 OK", &many));
    assert!(matches!(r, Err(HttpError::MalformedHead(_))), "{r:?}");
}

#[test]
fn a_head_over_max_head_fails_without_reading_past_it() {
    let mut lim = limits();
    lim.max_head = 1000;
    let req = request(lim);
    let big = "x".repeat(990);
    let response = with_body(
        head(
            "200 OK",
            &[&format!("X-Padding: {big}"), "Content-Length: 4"],
        ),
        b"body",
    );
    for step in STEPS {
        let mut stream = Canned::new(&response, step);
        let err = get(&mut stream, &req).unwrap_err();
        assert!(
            matches!(err, HttpError::HeadTooLarge { limit: 1000 }),
            "{err:?}"
        );
        assert!(stream.at <= 1000, "read {} octets", stream.at);
    }
    // Interim heads count towards it.
    let hints = head("103 Early Hints", &[&format!("Link: {}", "y".repeat(600))]);
    let fits = with_body(head("200 OK", &["Content-Length: 4"]), b"body");
    assert_eq!(
        body(get_with(&with_body(hints.clone(), &fits), 5, &req)),
        b"body"
    );
    let twice = with_body(with_body(hints.clone(), &hints), &fits);
    let r = get_with(&twice, 5, &req);
    assert!(matches!(r, Err(HttpError::HeadTooLarge { .. })), "{r:?}");
}

#[test]
fn unprintable_reasons_and_validators_are_not_passed_on() {
    let err = get_all(b"HTTP/1.1 418 I'm a \x7fteapot\r\n\r\n").unwrap_err();
    assert!(!err.to_string().contains('\x7f'), "{err}");
    let long = format!("HTTP/1.1 500 {}\r\n\r\n", "e".repeat(1000));
    assert!(get_all(long.as_bytes()).unwrap_err().to_string().len() < 150);
    let b = b"HTTP/1.1 200 OK\r\nETag: \"\xff\"\r\nLast-Modified:  \r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        get_all(b).unwrap(),
        Response::Body {
            body: Vec::new(),
            etag: None,
            last_modified: None
        }
    );
}

//------------ Time ----------------------------------------------------------

#[test]
fn a_stalled_server_times_out() {
    let b = with_body(head("200 OK", &["Content-Length: 100"]), &JSON[..10]);
    let mut stream = Canned::new(&b, 5);
    stream.end = End::Stall;
    let err = get(&mut stream, &request(limits())).unwrap_err();
    assert!(matches!(err, HttpError::TimedOut), "{err:?}");
    assert_eq!(
        err.to_string(),
        "timed out before the response was complete"
    );
    let mut stream = Canned::new(b"HTTP/1.1 200", 5);
    stream.end = End::Stall;
    let r = get(&mut stream, &request(limits()));
    assert!(matches!(r, Err(HttpError::TimedOut)), "{r:?}");
}

#[test]
fn a_server_that_trickles_past_the_deadline_times_out() {
    // Every read succeeds, one octet at a time, each before a socket
    // timeout would fire: only the deadline ends it.
    let b = with_body(head("200 OK", &["Content-Length: 1000"]), &[b'x'; 1000]);
    let mut stream = Canned::new(&b, 1);
    stream.delay = Duration::from_millis(2);
    let req = request(Limits::new(
        1 << 20,
        Instant::now() + Duration::from_millis(100),
    ));
    let started = Instant::now();
    let r = get(&mut stream, &req);
    assert!(matches!(r, Err(HttpError::TimedOut)), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(stream.at < b.len());
    // A deadline already passed sends nothing.
    let mut stream = Canned::new(&b, 1);
    let req = request(Limits::new(1 << 20, Instant::now()));
    assert!(matches!(get(&mut stream, &req), Err(HttpError::TimedOut)));
    assert!(stream.written.is_empty());
}

//------------ Loopback ------------------------------------------------------

/// A server on loopback that reads one request, hands it back, and answers
/// with `pieces`, pausing between them; then waits for `done` before it
/// closes.
fn serve(pieces: Vec<Vec<u8>>, done: mpsc::Receiver<()>) -> (u16, thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            let n = conn.read(&mut buf).unwrap();
            assert_ne!(n, 0, "the request ended early");
            request.extend_from_slice(&buf[..n]);
        }
        for piece in pieces {
            conn.write_all(&piece).unwrap();
            conn.flush().unwrap();
            thread::sleep(Duration::from_millis(5));
        }
        let _ = done.recv();
        request
    });
    (port, server)
}

#[test]
fn a_gzip_chunked_body_over_loopback_tcp() {
    let data = JSON.repeat(2000);
    let framed = with_body(
        head(
            "200 OK",
            &[
                "Transfer-Encoding: chunked",
                "Content-Encoding: gzip",
                "ETag: \"tcp\"",
            ],
        ),
        &chunked(&gzip(&data), 1000),
    );
    let pieces = framed.chunks(333).map(<[u8]>::to_vec).collect();
    let (done, closed) = mpsc::channel();
    let (port, server) = serve(pieces, closed);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let host = format!("127.0.0.1:{port}");
    let req = Request {
        host: &host,
        etag: Some("\"old\""),
        ..request(limits())
    };
    let r = get(&mut stream, &req).unwrap();
    drop(done);
    assert_eq!(
        r,
        Response::Body {
            body: data,
            etag: Some("\"tcp\"".into()),
            last_modified: None
        }
    );
    let seen = String::from_utf8(server.join().unwrap()).unwrap();
    assert!(seen.starts_with(&format!("GET /rpki.json HTTP/1.1\r\nHost: {host}\r\n")));
    assert!(seen.contains("\r\nIf-None-Match: \"old\"\r\n"), "{seen}");
}

#[test]
fn a_stalled_server_over_loopback_tcp_times_out() {
    let first = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"roas\":[".to_vec();
    let (done, closed) = mpsc::channel();
    let (port, server) = serve(vec![first], closed);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = Instant::now();
    let r = get(&mut stream, &request(limits()));
    assert!(matches!(r, Err(HttpError::TimedOut)), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    done.send(()).unwrap();
    server.join().unwrap();
}

//------------ Messages ------------------------------------------------------

#[test]
fn every_error_is_one_line() {
    let errors = [
        HttpError::InvalidRequest("the host is not visible ASCII"),
        HttpError::Status {
            status: 404,
            reason: "Not Found".into(),
        },
        HttpError::MalformedHead("an invalid header field name"),
        HttpError::HeadTooLarge { limit: 65536 },
        HttpError::BodyTooLarge {
            limit: 10,
            length: None,
        },
        HttpError::Truncated {
            received: 3,
            framing: Framing::Close,
        },
        HttpError::BadChunk("a chunk size over 64 bits"),
        HttpError::UnsupportedCoding {
            field: "Content-Encoding",
            value: "br".into(),
        },
        HttpError::BadGzip(io::Error::new(
            io::ErrorKind::InvalidInput,
            "invalid gzip header",
        )),
        HttpError::TimedOut,
        HttpError::Io(io::ErrorKind::ConnectionReset.into()),
    ];
    for err in errors {
        let line = err.to_string();
        assert!(!line.is_empty() && !line.contains('\n'), "{line:?}");
    }
}

//------------ Without blocking ---------------------------------------------

#[test]
fn a_response_read_whole_is_judged_as_a_stream_is() {
    let req = request(limits());
    let length = format!("Content-Length: {}", JSON.len());
    let whole = with_body(head("200 OK", &[&length]), JSON);
    // Complete as soon as its Content-Length is in; not a moment before.
    assert!(is_complete(&whole));
    assert!(!is_complete(&whole[..whole.len() - 1]));
    assert!(!is_complete(&whole[..20]));
    assert_eq!(body(response(&whole, true, req.limits)), JSON);
    // Without a body, complete at the end of the head.
    assert!(is_complete(&head("304 Not Modified", &[])));
    // A chunked one is complete at its last chunk and the trailer
    // section's end, not before; a close-delimited one only ends when
    // the server closes.
    let ch = with_body(
        head("200 OK", &["Transfer-Encoding: chunked"]),
        &chunked(JSON, 10),
    );
    assert!(is_complete(&ch));
    let body_at = head("200 OK", &["Transfer-Encoding: chunked"]).len();
    for cut in body_at..ch.len() {
        assert!(!is_complete(&ch[..cut]), "{cut} of {}", ch.len());
    }
    assert_eq!(body(response(&ch, true, req.limits)), JSON);
    let close = with_body(head("200 OK", &[]), JSON);
    assert!(!is_complete(&close));
    assert_eq!(body(response(&close, true, req.limits)), JSON);
    // Closed uncleanly (TLS without close_notify): a close-delimited body
    // is not taken; one cut short by its length is not either.
    assert!(matches!(
        response(&close, false, req.limits),
        Err(HttpError::Truncated { .. })
    ));
    assert!(matches!(
        response(&whole[..whole.len() - 5], true, req.limits),
        Err(HttpError::Truncated { .. })
    ));
    // The request is the one `get` sends.
    let octets = super::request(&req).unwrap();
    assert!(octets.starts_with(b"GET /"));
    assert!(octets.ends_with(b"Connection: close\r\n\r\n"));
}

#[test]
fn completeness_follows_the_head_and_framing_a_response_is_read_by() {
    let req = request(limits());
    // Every prefix of `whole` is incomplete, and `whole` is complete and
    // read as `want`.
    let ends_at = |whole: &[u8], want: &[u8]| {
        assert!(is_complete(whole), "{}", String::from_utf8_lossy(whole));
        for cut in 0..whole.len() {
            assert!(!is_complete(&whole[..cut]), "{cut} of {}", whole.len());
        }
        assert_eq!(body(response(whole, true, req.limits)), want);
    };
    let length = format!("Content-Length: {}", JSON.len());
    // After an interim response.
    let mut interim = head("100 Continue", &[]);
    interim.extend(with_body(head("200 OK", &[&length]), JSON));
    ends_at(&interim, JSON);
    // A list of equal lengths is one length.
    let list = format!("Content-Length: {0}, {0}", JSON.len());
    ends_at(&with_body(head("200 OK", &[&list]), JSON), JSON);
    // Transfer-Encoding overrides Content-Length; extensions and
    // trailers are taken as `get` takes them.
    let ch = with_body(
        head(
            "200 OK",
            &["Transfer-Encoding: chunked", "Content-Length: 3"],
        ),
        b"4;ext=1\r\n[{}]\r\n0\r\nX-Trailer: yes\r\n\r\n",
    );
    ends_at(&ch, b"[{}]");
    // A 204 has no body.
    assert!(is_complete(&head("204 No Content", &[])));
    // Answers known to be malformed need no more octets: `response` says
    // what is wrong with them as they are.
    for bad in [
        with_body(head("200 OK", &["Content-Length: 3, 4"]), b"abc"),
        with_body(head("200 OK", &["Transfer-Encoding: gzip"]), b"abc"),
        with_body(head("200 OK", &["Transfer-Encoding: chunked"]), b"zz\r\n"),
        with_body(
            head("200 OK", &["Transfer-Encoding: chunked"]),
            b"3\r\nabcXY",
        ),
        b"HTTP/1.1 2x0 OK\r\n\r\n".to_vec(),
    ] {
        assert!(is_complete(&bad), "{}", String::from_utf8_lossy(&bad));
        assert!(response(&bad, true, req.limits).is_err());
    }
}
