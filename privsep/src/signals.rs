//! Signals into a mio loop through a self-pipe. Only the parent
//! (unprivileged by the time its loop runs) catches signals: SIGTERM,
//! SIGINT, SIGHUP and SIGCHLD. The children ignore SIGINT and SIGHUP,
//! which a terminal sends the whole process group, and end on SIGTERM;
//! they exit in order when the parent closes their channels.
//!
//! The handler writes the signal number as one byte into a non-blocking
//! pipe and does nothing else; the loop sees the read end become readable
//! and drains it. There is one pipe per process, because a signal handler
//! can only find it through a static.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::{pipe2, read};

/// Write end of the process's signal pipe, -1 while there is none.
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let saved = Errno::last_raw();
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // Signal numbers are below NSIG (65), so one octet holds them.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let byte = sig as u8;
        // SAFETY: write(2) is async-signal-safe and reads one byte from our
        // stack. If the pipe is full the byte is dropped, which is fine: the
        // loop has plenty of wake-ups pending.
        unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
    }
    Errno::set_raw(saved);
}

/// The read end of the process's signal self-pipe, registrable with mio.
///
/// Only one may exist per process. When it is dropped the handlers stay
/// installed but do nothing, so the signals are then effectively ignored.
#[derive(Debug)]
pub struct SignalPipe {
    read: OwnedFd,
    _write: OwnedFd,
}

impl SignalPipe {
    /// Creates the pipe and catches `signals` into it (with `SA_RESTART`).
    ///
    /// Fails if the process already has a `SignalPipe`.
    pub fn new(signals: &[Signal]) -> io::Result<SignalPipe> {
        let (read, write) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        if WRITE_FD
            .compare_exchange(-1, write.as_raw_fd(), Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "signal pipe already exists",
            ));
        }
        let pipe = SignalPipe {
            read,
            _write: write,
        };
        // SA_NOCLDSTOP: only a child's exit is worth a SIGCHLD.
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
            SigSet::empty(),
        );
        for &sig in signals {
            // SAFETY: on_signal is async-signal-safe: it loads an atomic,
            // calls write(2) and preserves errno.
            unsafe { sigaction(sig, &action) }?;
        }
        Ok(pipe)
    }

    /// Returns the signals caught since the last call, each once, in the
    /// order they first arrived.
    pub fn drain(&self) -> Vec<Signal> {
        let mut caught = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match read(self.read.as_raw_fd(), &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    for sig in buf[..n]
                        .iter()
                        .filter_map(|&b| Signal::try_from(i32::from(b)).ok())
                    {
                        if !caught.contains(&sig) {
                            caught.push(sig);
                        }
                    }
                }
                Err(Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        caught
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        WRITE_FD.store(-1, Ordering::SeqCst);
    }
}

impl mio::event::Source for SignalPipe {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        mio::unix::SourceFd(&self.read.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        mio::unix::SourceFd(&self.read.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        mio::unix::SourceFd(&self.read.as_raw_fd()).deregister(registry)
    }
}

/// Ignores `sig`. Unlike a caught signal, an ignored one stays ignored
/// across exec.
pub fn ignore(sig: Signal) -> io::Result<()> {
    set_disposition(sig, SigHandler::SigIgn)
}

/// Restores the default action for `sig`.
pub fn reset_default(sig: Signal) -> io::Result<()> {
    set_disposition(sig, SigHandler::SigDfl)
}

fn set_disposition(sig: Signal, handler: SigHandler) -> io::Result<()> {
    let action = SigAction::new(handler, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN and SIG_DFL run no code of ours.
    unsafe { sigaction(sig, &action) }?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Interest, Poll, Token};
    use nix::sys::signal::raise;
    use std::time::Duration;

    #[test]
    fn raise_poll_drain() {
        let mut pipe = SignalPipe::new(&[Signal::SIGUSR1, Signal::SIGUSR2]).unwrap();
        let second = SignalPipe::new(&[Signal::SIGUSR1]).unwrap_err();
        assert_eq!(second.kind(), io::ErrorKind::AlreadyExists);

        let mut poll = Poll::new().unwrap();
        poll.registry()
            .register(&mut pipe, Token(7), Interest::READABLE)
            .unwrap();
        assert!(pipe.drain().is_empty());

        raise(Signal::SIGUSR1).unwrap();
        raise(Signal::SIGUSR2).unwrap();
        raise(Signal::SIGUSR1).unwrap();
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::from_secs(10)))
            .unwrap();
        assert!(events
            .iter()
            .any(|e| e.token() == Token(7) && e.is_readable()));
        assert_eq!(pipe.drain(), [Signal::SIGUSR1, Signal::SIGUSR2]);
        assert!(pipe.drain().is_empty());
    }

    #[test]
    fn ignore_and_reset() {
        ignore(Signal::SIGALRM).unwrap();
        raise(Signal::SIGALRM).unwrap();
        reset_default(Signal::SIGALRM).unwrap();
    }
}
