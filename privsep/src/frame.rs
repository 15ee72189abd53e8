//! IPC framing: the fixed header and the body codec, used by all three
//! processes (parent as root until it drops privileges, validator and rtr
//! unprivileged and sandboxed) on every channel between them.
//!
//! A frame is a 12-byte little-endian header followed by `len` bytes of
//! body:
//!
//! ```text
//!  0      2      4       6          8           12
//!  +------+------+-------+----------+-----------+------------
//!  | magic| kind | flags | reserved |    len    | body ...
//!  +------+------+-------+----------+-----------+------------
//! ```
//!
//! The header is checked before anything else is looked at; the body is
//! decoded with an explicit size limit. Everything about the body encoding
//! sits in [`encode_body`] and [`decode_body`].

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;

use bincode::Options;

use crate::Message;

/// Length of the frame header in bytes.
pub const HEADER_LEN: usize = 12;

/// Header flag: a file descriptor travels with this frame.
pub const FLAG_FD: u16 = 1;

/// First two header bytes, "RV" as a little-endian u16 (56 52 on the wire).
const MAGIC: u16 = 0x5256;

//------------ FrameError -----------------------------------------------------

/// What can go wrong with a frame or the channel carrying it.
///
/// Every variant but `Io` means the peer sent something it must not have;
/// the receiving process treats all of them as fatal.
#[derive(Debug)]
pub enum FrameError {
    /// The header does not start with the magic number.
    BadMagic(u16),
    /// The header has flag bits set that are not defined.
    BadFlags(u16),
    /// The reserved header field is not zero.
    BadReserved(u16),
    /// The body is longer than the channel allows.
    TooLong {
        /// Length of the body.
        len: u64,
        /// Largest body the channel accepts.
        max: u32,
    },
    /// The body could not be encoded or decoded.
    Body(String),
    /// The message in the body is not of the kind the header announced.
    KindMismatch {
        /// Kind in the header.
        header: u16,
        /// Kind of the decoded message.
        body: u16,
    },
    /// A frame announced a file descriptor but none arrived with it.
    MissingFd,
    /// A file descriptor arrived that no frame announced.
    UnexpectedFd,
    /// The peer sent more file descriptors at once than fit the buffer.
    TooManyFds,
    /// The peer closed the channel in the middle of a frame.
    Truncated,
    /// The socket failed.
    Io(io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BadMagic(m) => write!(f, "bad frame magic {m:#06x}"),
            FrameError::BadFlags(fl) => write!(f, "undefined frame flags {fl:#06x}"),
            FrameError::BadReserved(r) => write!(f, "reserved frame field is {r:#06x}, not 0"),
            FrameError::TooLong { len, max } => {
                write!(f, "frame body of {len} bytes exceeds limit of {max}")
            }
            FrameError::Body(e) => write!(f, "bad frame body: {e}"),
            FrameError::KindMismatch { header, body } => {
                write!(f, "frame header says kind {header}, body is kind {body}")
            }
            FrameError::MissingFd => f.write_str("frame announces an fd but none arrived"),
            FrameError::UnexpectedFd => f.write_str("fd received without a frame announcing it"),
            FrameError::TooManyFds => f.write_str("too many fds received at once"),
            FrameError::Truncated => f.write_str("channel closed in the middle of a frame"),
            FrameError::Io(e) => write!(f, "channel: {e}"),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

impl From<nix::Error> for FrameError {
    fn from(e: nix::Error) -> Self {
        FrameError::Io(e.into())
    }
}

//------------ Header ---------------------------------------------------------

/// A validated frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Message kind, see [`Message::kind`].
    pub kind: u16,
    /// Flags; only [`FLAG_FD`] is defined.
    pub flags: u16,
    /// Length of the body that follows.
    pub len: u32,
}

impl Header {
    /// Parses and checks a header against a channel's body limit.
    pub fn parse(bytes: &[u8; HEADER_LEN], max_body: u32) -> Result<Header, FrameError> {
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let magic = u16_at(0);
        let kind = u16_at(2);
        let flags = u16_at(4);
        let reserved = u16_at(6);
        let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if magic != MAGIC {
            return Err(FrameError::BadMagic(magic));
        }
        if flags & !FLAG_FD != 0 {
            return Err(FrameError::BadFlags(flags));
        }
        if reserved != 0 {
            return Err(FrameError::BadReserved(reserved));
        }
        if len > max_body {
            return Err(FrameError::TooLong {
                len: len.into(),
                max: max_body,
            });
        }
        Ok(Header { kind, flags, len })
    }

    /// Whether a file descriptor travels with the frame.
    pub fn has_fd(&self) -> bool {
        self.flags & FLAG_FD != 0
    }

    fn write(self, out: &mut [u8]) {
        out[0..2].copy_from_slice(&MAGIC.to_le_bytes());
        out[2..4].copy_from_slice(&self.kind.to_le_bytes());
        out[4..6].copy_from_slice(&self.flags.to_le_bytes());
        out[6..8].copy_from_slice(&0u16.to_le_bytes());
        out[8..12].copy_from_slice(&self.len.to_le_bytes());
    }
}

//------------ Body codec -----------------------------------------------------

// bincode 1.3.3 is complete and unmaintained (RUSTSEC-2025-0141); these two
// functions are the only ones that know about it.
fn codec(max_body: u32) -> impl Options {
    bincode::DefaultOptions::new()
        .with_limit(max_body.into())
        .reject_trailing_bytes()
}

/// Appends the encoding of `msg` to `out`, failing if it exceeds `max_body`.
/// On error `out` is left as it was.
pub fn encode_body<M: Message>(
    msg: &M,
    max_body: u32,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let start = out.len();
    codec(max_body).serialize_into(&mut *out, msg).map_err(|e| {
        out.truncate(start);
        match *e {
            bincode::ErrorKind::SizeLimit => FrameError::TooLong {
                len: bincode::DefaultOptions::new()
                    .serialized_size(msg)
                    .unwrap_or(u64::MAX),
                max: max_body,
            },
            e => FrameError::Body(e.to_string()),
        }
    })
}

/// Decodes a whole body into a message, reading at most `max_body` bytes.
pub fn decode_body<M: Message>(body: &[u8], max_body: u32) -> Result<M, FrameError> {
    if body.len() as u64 > u64::from(max_body) {
        return Err(FrameError::TooLong {
            len: body.len() as u64,
            max: max_body,
        });
    }
    codec(max_body)
        .deserialize(body)
        .map_err(|e| FrameError::Body(e.to_string()))
}

//------------ Frames ---------------------------------------------------------

/// Appends the frame for `msg` (header and body) to `out`.
///
/// `with_fd` sets [`FLAG_FD`]; the caller sends the fd along. On error `out`
/// is left as it was.
pub fn encode<M: Message>(
    msg: &M,
    with_fd: bool,
    max_body: u32,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let start = out.len();
    out.resize(start + HEADER_LEN, 0);
    if let Err(e) = encode_body(msg, max_body, out) {
        out.truncate(start);
        return Err(e);
    }
    #[allow(clippy::cast_possible_truncation)] // encode_body kept it within max_body, a u32
    let len = (out.len() - start - HEADER_LEN) as u32;
    let flags = if with_fd { FLAG_FD } else { 0 };
    Header {
        kind: msg.kind(),
        flags,
        len,
    }
    .write(&mut out[start..start + HEADER_LEN]);
    Ok(())
}

/// A received frame whose header has been validated.
#[derive(Debug)]
pub struct Frame {
    /// Message kind from the header.
    pub kind: u16,
    /// The undecoded body.
    pub body: Vec<u8>,
    /// The file descriptor that came with the frame, if it announced one.
    pub fd: Option<OwnedFd>,
}

impl Frame {
    /// Decodes the body as an `M` and checks it is the kind the header said.
    pub fn decode<M: Message>(&self, max_body: u32) -> Result<M, FrameError> {
        let msg: M = decode_body(&self.body, max_body)?;
        if msg.kind() != self.kind {
            return Err(FrameError::KindMismatch {
                header: self.kind,
                body: msg.kind(),
            });
        }
        Ok(msg)
    }
}

//------------ Tests ----------------------------------------------------------

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    pub(crate) enum TestMsg {
        Hello(u32),
        Blob(Vec<u8>),
    }

    impl Message for TestMsg {
        fn kind(&self) -> u16 {
            match self {
                TestMsg::Hello(_) => 1,
                TestMsg::Blob(_) => 2,
            }
        }
    }

    fn header(bytes: &[u8]) -> [u8; HEADER_LEN] {
        bytes[..HEADER_LEN].try_into().unwrap()
    }

    fn frame_of(bytes: &[u8]) -> Frame {
        let h = Header::parse(&header(bytes), u32::MAX).unwrap();
        Frame {
            kind: h.kind,
            body: bytes[HEADER_LEN..].to_vec(),
            fd: None,
        }
    }

    #[test]
    fn round_trip() {
        let mut out = Vec::new();
        encode(&TestMsg::Hello(0x0102_0304), false, 1024, &mut out).unwrap();
        assert_eq!(
            out[..HEADER_LEN],
            [
                0x56, 0x52, // magic
                0x01, 0x00, // kind
                0x00, 0x00, // flags
                0x00, 0x00, // reserved
                0x06, 0x00, 0x00, 0x00, // len
            ]
        );
        // variant 0, then a varint u32: 0xfc marker and four LE bytes
        assert_eq!(out[HEADER_LEN..], [0x00, 0xfc, 0x04, 0x03, 0x02, 0x01]);
        let f = frame_of(&out);
        assert_eq!(
            f.decode::<TestMsg>(1024).unwrap(),
            TestMsg::Hello(0x0102_0304)
        );

        let mut out = Vec::new();
        encode(&TestMsg::Blob(vec![7; 100]), true, 1024, &mut out).unwrap();
        let h = Header::parse(&header(&out), 1024).unwrap();
        assert!(h.has_fd());
        assert_eq!(h.len as usize, out.len() - HEADER_LEN);
    }

    #[test]
    fn header_errors() {
        let mut good = Vec::new();
        encode(&TestMsg::Hello(1), false, 1024, &mut good).unwrap();
        let good = header(&good);
        assert!(Header::parse(&good, 1024).is_ok());

        let mut h = good;
        h[0] = b'X';
        assert!(matches!(
            Header::parse(&h, 1024),
            Err(FrameError::BadMagic(0x5258))
        ));
        let mut h = good;
        h[4] = 0x02;
        assert!(matches!(
            Header::parse(&h, 1024),
            Err(FrameError::BadFlags(2))
        ));
        let mut h = good;
        h[5] = 0x80;
        assert!(matches!(
            Header::parse(&h, 1024),
            Err(FrameError::BadFlags(0x8000))
        ));
        let mut h = good;
        h[7] = 1;
        assert!(matches!(
            Header::parse(&h, 1024),
            Err(FrameError::BadReserved(0x100))
        ));
        let mut h = good;
        h[8..12].copy_from_slice(&1025u32.to_le_bytes());
        assert!(matches!(
            Header::parse(&h, 1024),
            Err(FrameError::TooLong {
                len: 1025,
                max: 1024
            })
        ));
        h[8..12].copy_from_slice(&1024u32.to_le_bytes());
        assert!(Header::parse(&h, 1024).is_ok());
    }

    #[test]
    fn encode_limit() {
        let mut out = vec![9];
        let err = encode(&TestMsg::Blob(vec![0; 100]), false, 50, &mut out).unwrap_err();
        assert!(
            matches!(err, FrameError::TooLong { len: 102, max: 50 }),
            "{err}"
        );
        assert_eq!(out, [9]);
        // exactly at the limit is fine
        encode(&TestMsg::Blob(vec![0; 100]), false, 102, &mut out).unwrap();
    }

    #[test]
    fn decode_limit() {
        let mut out = Vec::new();
        encode(&TestMsg::Blob(vec![0; 100]), false, 1024, &mut out).unwrap();
        let f = frame_of(&out);
        assert!(matches!(
            f.decode::<TestMsg>(101),
            Err(FrameError::TooLong { .. })
        ));
        assert!(f.decode::<TestMsg>(102).is_ok());

        // A length prefix promising more than the limit fails without
        // allocating it.
        let f = Frame {
            kind: 2,
            body: vec![0x01, 0xfc, 0xff, 0xff, 0xff, 0x7f],
            fd: None,
        };
        assert!(matches!(
            f.decode::<TestMsg>(1024),
            Err(FrameError::Body(_))
        ));
    }

    #[test]
    fn decode_errors() {
        let mut out = Vec::new();
        encode(&TestMsg::Hello(5), false, 1024, &mut out).unwrap();
        let mut f = frame_of(&out);
        f.kind = 2;
        assert!(matches!(
            f.decode::<TestMsg>(1024),
            Err(FrameError::KindMismatch { header: 2, body: 1 })
        ));

        let mut f = frame_of(&out);
        f.body.push(0);
        assert!(matches!(
            f.decode::<TestMsg>(1024),
            Err(FrameError::Body(_))
        ));
        f.body.truncate(1);
        assert!(matches!(
            f.decode::<TestMsg>(1024),
            Err(FrameError::Body(_))
        ));
        f.body = vec![7];
        assert!(matches!(
            f.decode::<TestMsg>(1024),
            Err(FrameError::Body(_))
        ));
    }
}
