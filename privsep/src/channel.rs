//! A framed IPC channel over an `AF_UNIX` stream socket, with file
//! descriptors passed as `SCM_RIGHTS`. All three processes use it: the
//! parent (root during start-up, then unprivileged) towards both children,
//! the validator and the rtr worker (both unprivileged and sandboxed) towards
//! the parent and each other.
//!
//! A channel works blocking ([`Channel::recv`], [`Channel::send`]) or
//! non-blocking inside a mio loop ([`Channel::fill`], then
//! [`Channel::next_frame`] until it returns `None`). Sends always block until
//! the whole frame is written, even on a non-blocking socket.
//!
//! An fd is sent with the first byte of its frame, so it arrives in the same
//! read as that byte. Every received fd is remembered together with the
//! stream range of the read that brought it: a frame announcing an fd must
//! start inside that range, and an fd no frame starting in its range claimed
//! is an error.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

use crate::frame::{self, Frame, FrameError, Header, HEADER_LEN};
use crate::Message;

/// Free space offered to each read.
const READ_CHUNK: usize = 64 * 1024;

/// Most fds accepted in one read; a well-behaved peer sends one per frame.
const MAX_FDS: usize = 8;

/// A received fd and the stream offsets of the read that brought it.
struct PendingFd {
    fd: OwnedFd,
    from: u64,
    to: u64,
}

/// One end of a framed IPC channel.
pub struct Channel {
    fd: OwnedFd,
    max_body: u32,
    /// Received bytes live in `inbuf[start..end]`; the rest is free space.
    inbuf: Vec<u8>,
    start: usize,
    end: usize,
    /// Stream offset of `inbuf[start]`.
    offset: u64,
    fds: VecDeque<PendingFd>,
    eof: bool,
    outbuf: Vec<u8>,
    /// Frames queued by [`Channel::queue`], not yet written: `queued[sent..]`.
    queued: Vec<u8>,
    sent: usize,
}

impl Channel {
    /// Wraps a connected stream socket; bodies are limited to `max_body`
    /// bytes in both directions.
    pub fn new(fd: OwnedFd, max_body: u32) -> Channel {
        Channel {
            fd,
            max_body,
            inbuf: Vec::new(),
            start: 0,
            end: 0,
            offset: 0,
            fds: VecDeque::new(),
            eof: false,
            outbuf: Vec::new(),
            queued: Vec::new(),
            sent: 0,
        }
    }

    /// Creates a connected pair of channels (close-on-exec socketpair).
    pub fn pair(max_body: u32) -> io::Result<(Channel, Channel)> {
        let (a, b) = UnixStream::pair()?;
        Ok((
            Channel::new(a.into(), max_body),
            Channel::new(b.into(), max_body),
        ))
    }

    /// The largest body this channel sends or accepts.
    pub fn max_body(&self) -> u32 {
        self.max_body
    }

    /// The socket's descriptor number.
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Switches the socket between blocking and non-blocking mode.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let raw = self.fd.as_raw_fd();
        let mut flags = OFlag::from_bits_retain(fcntl(raw, FcntlArg::F_GETFL)?);
        flags.set(OFlag::O_NONBLOCK, nonblocking);
        fcntl(raw, FcntlArg::F_SETFL(flags))?;
        Ok(())
    }

    //--- Sending

    /// Sends `msg`, blocking until the whole frame is written.
    pub fn send<M: Message>(&mut self, msg: &M) -> Result<(), FrameError> {
        self.send_frame(msg, None)
    }

    /// Sends `msg` with `fd` attached, blocking until the whole frame is
    /// written. The receiver gets its own copy of the descriptor.
    pub fn send_with_fd<M: Message>(&mut self, msg: &M, fd: BorrowedFd) -> Result<(), FrameError> {
        self.send_frame(msg, Some(fd))
    }

    /// Queues `msg` (without an fd) for [`flush`](Self::flush), which
    /// writes without blocking: for a sender that must never wait on its
    /// peer. Frames go out whole and in order.
    pub fn queue<M: Message>(&mut self, msg: &M) -> Result<(), FrameError> {
        frame::encode(msg, false, self.max_body, &mut self.queued)
    }

    /// Whether queued frames wait to be written.
    pub fn has_queued(&self) -> bool {
        self.sent < self.queued.len()
    }

    /// Writes queued frames until the socket would block: `true` once all
    /// are written. Call it again when the socket turns writable.
    pub fn flush(&mut self) -> io::Result<bool> {
        while self.sent < self.queued.len() {
            let iov = [IoSlice::new(&self.queued[self.sent..])];
            let flags = os::SEND_FLAGS | MsgFlags::MSG_DONTWAIT;
            match sendmsg::<()>(self.fd.as_raw_fd(), &iov, &[], flags, None) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
        self.queued.clear();
        self.sent = 0;
        Ok(true)
    }

    /// Sends frames encoded with [`frame::encode`] (without fds), blocking
    /// until all bytes are written.
    pub fn send_encoded(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes, None)
    }

    fn send_frame<M: Message>(
        &mut self,
        msg: &M,
        fd: Option<BorrowedFd>,
    ) -> Result<(), FrameError> {
        let mut buf = std::mem::take(&mut self.outbuf);
        buf.clear();
        let res = frame::encode(msg, fd.is_some(), self.max_body, &mut buf)
            .and_then(|()| self.write_all(&buf, fd).map_err(FrameError::Io));
        self.outbuf = buf;
        res
    }

    /// Writes all of `bytes`, `fd` (if any) with the first of them.
    fn write_all(&mut self, bytes: &[u8], mut fd: Option<BorrowedFd>) -> io::Result<()> {
        let mut sent = 0;
        while sent < bytes.len() {
            let iov = [IoSlice::new(&bytes[sent..])];
            let rights = fd.map(|fd| [fd.as_raw_fd()]);
            let cmsgs: &[ControlMessage] = match &rights {
                Some(r) => &[ControlMessage::ScmRights(r)],
                None => &[],
            };
            match sendmsg::<()>(self.fd.as_raw_fd(), &iov, cmsgs, os::SEND_FLAGS, None) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    sent += n;
                    fd = None;
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => self.wait(PollFlags::POLLOUT)?,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn wait(&self, events: PollFlags) -> io::Result<()> {
        loop {
            let mut pfd = [PollFd::new(self.fd.as_fd(), events)];
            match poll(&mut pfd, PollTimeout::NONE) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    //--- Receiving

    /// Receives the next frame, blocking until it is complete.
    ///
    /// Returns `None` when the peer closed the channel between frames.
    pub fn recv(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            if let Some(frame) = self.next_frame()? {
                return Ok(Some(frame));
            }
            if self.eof {
                return Ok(None);
            }
            if !self.read()? {
                self.wait(PollFlags::POLLIN)?;
            }
        }
    }

    /// Reads everything the socket has to offer, until it would block.
    ///
    /// For non-blocking channels. Returns `false` once the peer has closed
    /// the channel; frames received before may still be waiting in
    /// [`next_frame`](Self::next_frame).
    pub fn fill(&mut self) -> Result<bool, FrameError> {
        while !self.eof {
            if !self.read()? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Reads what the socket has to offer until it would block or at
    /// least `budget` bytes wait unclaimed, whichever comes first: a
    /// non-blocking reader that must not spend a whole burst in one go.
    ///
    /// Returns whether the peer may have more to read now: `false` once it
    /// would block or the peer has closed (then see [`is_closed`]). With
    /// `true` the caller must come back without waiting for readiness,
    /// since an edge-triggered poll will not report what is already there.
    ///
    /// [`is_closed`]: Self::is_closed
    pub fn fill_some(&mut self, budget: usize) -> Result<bool, FrameError> {
        while !self.eof {
            if self.end - self.start >= budget {
                return Ok(true);
            }
            if !self.read()? {
                return Ok(false);
            }
        }
        Ok(false)
    }

    /// Whether the peer has closed the channel. Frames received before may
    /// still be waiting in [`next_frame`](Self::next_frame).
    pub fn is_closed(&self) -> bool {
        self.eof
    }

    /// Takes the next complete frame out of what [`fill`](Self::fill) read.
    ///
    /// The header is validated as soon as it is complete, before the body
    /// has arrived. After end of file, a partial frame or an unclaimed fd
    /// is an error.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let avail = &self.inbuf[self.start..self.end];
        let Some(header) = avail.first_chunk::<HEADER_LEN>() else {
            return self.none_left(avail.len());
        };
        let header = Header::parse(header, self.max_body)?;
        let total = HEADER_LEN + header.len as usize;
        if avail.len() < total {
            return self.none_left(avail.len());
        }
        let fd = self.claim_fd(header.has_fd())?;
        let frame = Frame {
            kind: header.kind,
            body: self.inbuf[self.start + HEADER_LEN..self.start + total].to_vec(),
            fd,
        };
        self.start += total;
        self.offset += total as u64;
        Ok(Some(frame))
    }

    fn none_left(&self, buffered: usize) -> Result<Option<Frame>, FrameError> {
        if self.eof && buffered > 0 {
            Err(FrameError::Truncated)
        } else if self.eof && !self.fds.is_empty() {
            Err(FrameError::UnexpectedFd)
        } else {
            Ok(None)
        }
    }

    /// Matches received fds to the frame starting at `self.offset`.
    fn claim_fd(&mut self, wanted: bool) -> Result<Option<OwnedFd>, FrameError> {
        let frame_start = self.offset;
        match self.fds.front() {
            Some(p) if p.to <= frame_start => Err(FrameError::UnexpectedFd),
            Some(p) if wanted && p.from <= frame_start => Ok(self.fds.pop_front().map(|p| p.fd)),
            _ if wanted => Err(FrameError::MissingFd),
            _ => Ok(None),
        }
    }

    /// Does one read into the buffer. Returns `false` if it would block.
    fn read(&mut self) -> Result<bool, FrameError> {
        self.make_room();
        let from = self.offset + (self.end - self.start) as u64;
        let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS]);
        let mut fds = Vec::new();
        let n = loop {
            let mut iov = [IoSliceMut::new(&mut self.inbuf[self.end..])];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                os::RECV_FLAGS,
            ) {
                Ok(msg) => {
                    if msg.flags.contains(MsgFlags::MSG_CTRUNC) {
                        return Err(FrameError::TooManyFds);
                    }
                    for c in msg.cmsgs()? {
                        if let ControlMessageOwned::ScmRights(raw) = c {
                            // SAFETY: the kernel has just installed these
                            // descriptors in our table; nothing else owns them.
                            fds.extend(raw.into_iter().map(|r| unsafe { OwnedFd::from_raw_fd(r) }));
                        }
                    }
                    break msg.bytes;
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        };
        self.end += n;
        self.eof = n == 0;
        let to = from + n as u64;
        for fd in fds {
            set_cloexec(&fd)?;
            self.fds.push_back(PendingFd { fd, from, to });
        }
        Ok(true)
    }

    /// Ensures `READ_CHUNK` bytes of free space after `end`, moving unread
    /// bytes to the front only when the tail runs short. An empty buffer
    /// that grew for a burst is given back.
    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.inbuf.capacity() > 4 * READ_CHUNK {
                self.inbuf = Vec::new();
            }
        }
        if self.inbuf.len() - self.end >= READ_CHUNK {
            return;
        }
        if self.start > 0 {
            self.inbuf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.inbuf.len() - self.end < READ_CHUNK {
            self.inbuf.resize(self.end + READ_CHUNK, 0);
        }
    }
}

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

// The buffers and descriptors are summarised, not shown.
#[allow(clippy::missing_fields_in_debug)]
impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("fd", &self.fd.as_raw_fd())
            .field("buffered", &(self.end - self.start))
            .field("fds", &self.fds.len())
            .field("eof", &self.eof)
            .finish()
    }
}

//------------ Platform bits --------------------------------------------------

// MSG_NOSIGNAL: a vanished peer is EPIPE, not SIGPIPE (elsewhere the process
// must ignore SIGPIPE). MSG_CMSG_CLOEXEC: received fds are close-on-exec
// from the start (elsewhere `set_cloexec` does it after the fact).
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd"
))]
mod os {
    use nix::sys::socket::MsgFlags;
    pub(super) const SEND_FLAGS: MsgFlags = MsgFlags::MSG_NOSIGNAL;
    pub(super) const RECV_FLAGS: MsgFlags = MsgFlags::MSG_CMSG_CLOEXEC;
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd"
)))]
mod os {
    use nix::sys::socket::MsgFlags;
    pub(super) const SEND_FLAGS: MsgFlags = MsgFlags::empty();
    pub(super) const RECV_FLAGS: MsgFlags = MsgFlags::empty();
}

/// Marks a received fd close-on-exec unless `MSG_CMSG_CLOEXEC` already did.
fn set_cloexec(fd: &OwnedFd) -> io::Result<()> {
    if os::RECV_FLAGS.is_empty() {
        fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    }
    Ok(())
}

//------------ Tests ----------------------------------------------------------

#[cfg(test)]
mod tests {
    // Test bodies are octet patterns that wrap on purpose.
    #![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

    use super::*;
    use crate::frame::tests::TestMsg;
    use crate::frame::FLAG_FD;
    use std::fs::File;
    use std::io::{Read, Write};
    use std::os::unix::fs::MetadataExt;

    const MAX: u32 = 256 * 1024;

    fn encoded(msgs: &[TestMsg]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in msgs {
            frame::encode(m, false, MAX, &mut out).unwrap();
        }
        out
    }

    fn decode(f: &Frame) -> TestMsg {
        f.decode(MAX).unwrap()
    }

    /// A channel's read side and a raw socket to feed it.
    fn raw_pair() -> (UnixStream, Channel) {
        let (a, b) = UnixStream::pair().unwrap();
        (a, Channel::new(b.into(), MAX))
    }

    #[test]
    fn blocking_round_trip() {
        let (mut a, mut b) = Channel::pair(MAX).unwrap();
        let msgs = [
            TestMsg::Hello(1),
            TestMsg::Blob(vec![3; 200_000]),
            TestMsg::Hello(2),
        ];
        let writer = std::thread::spawn(move || {
            for m in &msgs {
                a.send(m).unwrap();
            }
        });
        assert_eq!(decode(&b.recv().unwrap().unwrap()), TestMsg::Hello(1));
        assert_eq!(
            decode(&b.recv().unwrap().unwrap()),
            TestMsg::Blob(vec![3; 200_000])
        );
        assert_eq!(decode(&b.recv().unwrap().unwrap()), TestMsg::Hello(2));
        writer.join().unwrap();
        assert!(b.recv().unwrap().is_none());
        assert!(b.recv().unwrap().is_none());
    }

    #[test]
    fn blocking_calls_on_nonblocking_sockets() {
        let (mut a, mut b) = Channel::pair(4 << 20).unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let blob = TestMsg::Blob((0..3 << 20).map(|i| i as u8).collect());
        let writer = std::thread::spawn(move || {
            // Far more than the socket buffer holds: send waits for POLLOUT.
            a.send(&blob).unwrap();
            a.send(&TestMsg::Hello(1)).unwrap();
            blob
        });
        let first = b.recv().unwrap().unwrap();
        assert_eq!(
            b.recv()
                .unwrap()
                .unwrap()
                .decode::<TestMsg>(4 << 20)
                .unwrap(),
            TestMsg::Hello(1)
        );
        assert!(b.recv().unwrap().is_none());
        assert_eq!(
            first.decode::<TestMsg>(4 << 20).unwrap(),
            writer.join().unwrap()
        );
    }

    #[test]
    fn fill_some_stops_at_its_budget_and_says_more_may_wait() {
        let (mut raw, mut b) = raw_pair();
        b.set_nonblocking(true).unwrap();
        let msgs: Vec<TestMsg> = (0..6).map(|_| TestMsg::Blob(vec![7; 20_000])).collect();
        raw.write_all(&encoded(&msgs)).unwrap();
        // One read of at most 64 KiB: more than the budget, fewer than all.
        assert!(b.fill_some(1).unwrap());
        let mut got = 0;
        while b.next_frame().unwrap().is_some() {
            got += 1;
        }
        assert!((1..6).contains(&got), "{got} frames after one read");
        while b.fill_some(1 << 20).unwrap() {}
        while b.next_frame().unwrap().is_some() {
            got += 1;
        }
        assert_eq!(got, 6);
        assert!(!b.is_closed());
        drop(raw);
        assert!(!b.fill_some(1 << 20).unwrap());
        assert!(b.is_closed());
    }

    #[test]
    fn queued_frames_go_out_whole_without_blocking() {
        let (mut a, mut b) = Channel::pair(MAX).unwrap();
        let blob = TestMsg::Blob(vec![5; 200_000]);
        // Far more than the socket buffer holds: flush stops, never waits.
        for _ in 0..8 {
            a.queue(&blob).unwrap();
        }
        a.queue(&TestMsg::Hello(7)).unwrap();
        assert!(!a.flush().unwrap());
        assert!(a.has_queued());
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(f) = b.recv().unwrap() {
                got.push(decode(&f));
            }
            got
        });
        while !a.flush().unwrap() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(!a.has_queued());
        drop(a);
        let got = reader.join().unwrap();
        assert_eq!(got.len(), 9);
        assert_eq!(got[8], TestMsg::Hello(7));
        assert!(got[..8].iter().all(|m| *m == blob));
    }

    #[test]
    fn send_too_long() {
        let (mut a, mut b) = Channel::pair(100).unwrap();
        let err = a.send(&TestMsg::Blob(vec![0; 100])).unwrap_err();
        assert!(matches!(err, FrameError::TooLong { max: 100, .. }), "{err}");
        // Nothing went out.
        a.send(&TestMsg::Hello(9)).unwrap();
        assert_eq!(
            b.recv().unwrap().unwrap().decode::<TestMsg>(100).unwrap(),
            TestMsg::Hello(9)
        );
    }

    #[test]
    fn header_checked_before_body() {
        // byte to change, its new value, the expected error
        let cases = [
            (0, 0x00, "BadMagic(20992)"),
            (4, 0x04, "BadFlags(4)"),
            (6, 0x01, "BadReserved(1)"),
            (11, 0x01, "TooLong { len: 16778220, max: 262144 }"),
        ];
        for (at, val, expected) in cases {
            let (mut raw, mut ch) = raw_pair();
            let mut bytes = encoded(&[TestMsg::Blob(vec![1; 1000])]);
            bytes[at] = val;
            // Only the header is sent and the socket stays open: the error
            // must not wait for the body.
            raw.write_all(&bytes[..HEADER_LEN]).unwrap();
            assert_eq!(format!("{:?}", ch.recv().unwrap_err()), expected);
        }
    }

    #[test]
    fn eof_mid_frame() {
        let bytes = encoded(&[TestMsg::Hello(1), TestMsg::Hello(2)]);
        for cut in [
            bytes.len() / 2 + 3,
            bytes.len() - 1,
            bytes.len() / 2 + HEADER_LEN,
        ] {
            let (mut raw, mut ch) = raw_pair();
            raw.write_all(&bytes[..cut]).unwrap();
            drop(raw);
            assert_eq!(decode(&ch.recv().unwrap().unwrap()), TestMsg::Hello(1));
            assert!(matches!(ch.recv(), Err(FrameError::Truncated)));
        }
    }

    #[test]
    fn nonblocking_split_everywhere() {
        let msgs = [
            TestMsg::Hello(1),
            TestMsg::Blob(vec![5; 300]),
            TestMsg::Hello(3),
        ];
        let bytes = encoded(&msgs);
        for cut in 0..=bytes.len() {
            let (mut raw, mut ch) = raw_pair();
            ch.set_nonblocking(true).unwrap();
            let mut got = Vec::new();
            for part in [&bytes[..cut], &bytes[cut..]] {
                raw.write_all(part).unwrap();
                assert!(ch.fill().unwrap());
                while let Some(f) = ch.next_frame().unwrap() {
                    got.push(decode(&f));
                }
            }
            assert_eq!(got, msgs, "cut at {cut}");
            drop(raw);
            assert!(!ch.fill().unwrap());
            assert!(ch.next_frame().unwrap().is_none());
        }
    }

    #[test]
    fn nonblocking_many_in_one_read() {
        let msgs: Vec<_> = (0..1000).map(TestMsg::Hello).collect();
        let (mut raw, mut ch) = raw_pair();
        ch.set_nonblocking(true).unwrap();
        raw.write_all(&encoded(&msgs)).unwrap();
        assert!(ch.read().unwrap());
        assert!(!ch.read().unwrap());
        let got: Vec<_> = std::iter::from_fn(|| ch.next_frame().unwrap())
            .map(|f| decode(&f))
            .collect();
        assert_eq!(got, msgs);
    }

    #[test]
    fn nonblocking_stream() {
        // Far more than one read's worth, in frames that straddle reads.
        let msgs: Vec<_> = (0..3000u32)
            .map(|i| TestMsg::Blob(vec![i as u8; i as usize % 700]))
            .collect();
        let bytes = encoded(&msgs);
        let total = bytes.len();
        let (mut raw, mut ch) = raw_pair();
        ch.set_nonblocking(true).unwrap();
        let writer = std::thread::spawn(move || raw.write_all(&bytes).unwrap());
        let mut got = Vec::new();
        loop {
            ch.wait(PollFlags::POLLIN).unwrap();
            let open = ch.fill().unwrap();
            while let Some(f) = ch.next_frame().unwrap() {
                got.push(decode(&f));
            }
            if !open {
                break;
            }
        }
        writer.join().unwrap();
        assert_eq!(got, msgs);
        assert!(ch.inbuf.len() <= total + READ_CHUNK);
    }

    #[test]
    fn nonblocking_eof_mid_frame() {
        let bytes = encoded(&[TestMsg::Hello(1)]);
        let (mut raw, mut ch) = raw_pair();
        ch.set_nonblocking(true).unwrap();
        raw.write_all(&bytes[..5]).unwrap();
        drop(raw);
        assert!(!ch.fill().unwrap());
        assert!(matches!(ch.next_frame(), Err(FrameError::Truncated)));
    }

    #[test]
    fn pass_pipe() {
        let (mut a, mut b) = Channel::pair(MAX).unwrap();
        let (rd, wr) = nix::unistd::pipe().unwrap();
        a.send_with_fd(&TestMsg::Hello(17), wr.as_fd()).unwrap();
        drop(wr);
        let f = b.recv().unwrap().unwrap();
        assert_eq!(decode(&f), TestMsg::Hello(17));
        let fd = f.fd.unwrap();
        let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFD).unwrap();
        assert!(FdFlag::from_bits_retain(flags).contains(FdFlag::FD_CLOEXEC));
        File::from(fd).write_all(b"through the fd").unwrap();
        let mut s = String::new();
        File::from(rd).read_to_string(&mut s).unwrap();
        assert_eq!(s, "through the fd");
    }

    #[test]
    fn pass_file() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let file = File::open(path).unwrap();
        let (mut a, mut b) = Channel::pair(MAX).unwrap();
        b.set_nonblocking(true).unwrap();
        // A plain frame and the fd frame may arrive in one read.
        a.send(&TestMsg::Hello(1)).unwrap();
        a.send_with_fd(&TestMsg::Blob(b"file".to_vec()), file.as_fd())
            .unwrap();
        a.send(&TestMsg::Hello(2)).unwrap();
        assert!(b.fill().unwrap());
        let frames: Vec<_> = std::iter::from_fn(|| b.next_frame().unwrap()).collect();
        assert_eq!(frames.len(), 3);
        assert!(frames[0].fd.is_none() && frames[2].fd.is_none());
        let got = File::from(frames[1].fd.as_ref().unwrap().try_clone().unwrap());
        let (m1, m2) = (file.metadata().unwrap(), got.metadata().unwrap());
        assert_eq!((m1.dev(), m1.ino()), (m2.dev(), m2.ino()));
    }

    #[test]
    fn missing_fd() {
        let (mut a, mut b) = Channel::pair(MAX).unwrap();
        let mut bytes = Vec::new();
        frame::encode(&TestMsg::Hello(1), true, MAX, &mut bytes).unwrap();
        a.send_encoded(&bytes).unwrap();
        assert!(matches!(b.recv(), Err(FrameError::MissingFd)));
    }

    #[test]
    fn fd_arriving_after_its_frame() {
        // The header announcing the fd came first, the fd with a later
        // frame's bytes.
        let (mut a, mut b) = Channel::pair(MAX).unwrap();
        let (_rd, wr) = nix::unistd::pipe().unwrap();
        let mut bytes = Vec::new();
        frame::encode(&TestMsg::Hello(1), true, MAX, &mut bytes).unwrap();
        a.send_encoded(&bytes[..HEADER_LEN]).unwrap();
        assert!(b.read().unwrap());
        a.write_all(&bytes[HEADER_LEN..], Some(wr.as_fd())).unwrap();
        assert!(matches!(b.recv(), Err(FrameError::MissingFd)));
    }

    #[test]
    fn unexpected_fd() {
        let (mut a, mut b) = Channel::pair(MAX).unwrap();
        let (_rd, wr) = nix::unistd::pipe().unwrap();
        let first = encoded(&[TestMsg::Hello(1)]);
        a.write_all(&first, Some(wr.as_fd())).unwrap();
        a.send(&TestMsg::Hello(2)).unwrap();
        // The first frame is in the read that brought the fd; it cannot tell
        // yet whether a later frame in that read claims it.
        assert_eq!(decode(&b.recv().unwrap().unwrap()), TestMsg::Hello(1));
        assert!(matches!(b.recv(), Err(FrameError::UnexpectedFd)));

        // Also at end of file.
        let (mut a, mut b) = Channel::pair(MAX).unwrap();
        a.write_all(&first, Some(wr.as_fd())).unwrap();
        drop(a);
        assert_eq!(decode(&b.recv().unwrap().unwrap()), TestMsg::Hello(1));
        assert!(matches!(b.recv(), Err(FrameError::UnexpectedFd)));
    }

    #[test]
    fn flag_fd_in_header() {
        let (mut a, b) = Channel::pair(MAX).unwrap();
        let (_rd, wr) = nix::unistd::pipe().unwrap();
        a.send_with_fd(&TestMsg::Hello(1), wr.as_fd()).unwrap();
        let mut header = [0; HEADER_LEN];
        let mut raw = UnixStream::from(b.fd.try_clone().unwrap());
        raw.read_exact(&mut header).unwrap();
        assert_eq!(u16::from_le_bytes([header[4], header[5]]), FLAG_FD);
    }
}
