//! The two children: started by fork+exec of rovd's own executable, handed
//! what they need at start-up, watched until they end, and stopped.
//!
//! Runs in the parent: spawning and the hand-over as root at start-up,
//! watching and stopping afterwards as the unprivileged user. Dropping
//! [`Children`] stops them, so that no exit path leaves one behind.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use log::{info, warn};
use nix::sys::signal::Signal;

use crate::config::{Config, TlsFiles};
use crate::msg::{self, Handover, ToRtr, ToValidator};

use super::listen::Listener;

/// How long children get to exit after their channel closes.
const GRACE: Duration = Duration::from_secs(5);

/// The validator and the rtr worker, with the parent's channel to each.
pub(super) struct Children {
    validator: Child,
    rtr: Child,
    /// `None` once closed, which tells the child to exit.
    to_validator: Option<privsep::Channel>,
    to_rtr: Option<privsep::Channel>,
    /// What waits for a child that has not taken what it was sent yet.
    for_validator: Outbox,
    for_rtr: Outbox,
    /// The parent's end of the log relay, when it logs to syslog.
    logs: Option<UnixDatagram>,
}

/// Messages for a child after start-up, coalesced: a child that stops
/// reading (stopped, wedged) costs the parent one configuration and one
/// set of TLS files at most, and never a blocking write.
struct Outbox {
    /// Whose: the validator takes configurations and reloads, rtr
    /// configurations and TLS files.
    validator: bool,
    config: Option<Box<Config>>,
    tls: Option<Box<TlsFiles>>,
    reload: bool,
}

impl Outbox {
    /// Queue everything on `channel`, configuration first, if it has
    /// taken what it had; then write what the socket takes.
    fn new(validator: bool) -> Outbox {
        Outbox {
            validator,
            config: None,
            tls: None,
            reload: false,
        }
    }

    fn post(&mut self, channel: &mut privsep::Channel) -> Result<(), privsep::FrameError> {
        if !channel.has_queued() {
            if let Some(config) = self.config.take() {
                if self.validator {
                    channel.queue(&ToValidator::Config(config))?;
                } else {
                    channel.queue(&ToRtr::Config(config))?;
                }
            }
            if let Some(files) = self.tls.take() {
                channel.queue(&ToRtr::Tls(files))?;
            }
            if std::mem::take(&mut self.reload) {
                channel.queue(&ToValidator::Reload)?;
            }
        }
        channel.flush()?;
        Ok(())
    }
}

/// What the children get at start-up, besides the configuration.
pub(super) struct Handed {
    pub(super) listeners: Vec<Listener>,
    pub(super) tls: Option<TlsFiles>,
    pub(super) source_dirs: Vec<(PathBuf, OwnedFd)>,
    pub(super) watch: Option<OwnedFd>,
}

impl Children {
    /// Start validator and rtr with their channels: parent↔validator and
    /// parent↔rtr at fd 3, validator↔rtr at fd 4 of both.
    pub(super) fn spawn(
        exe: &privsep::Executable,
        config: &Config,
        foreground: bool,
        verbose: u8,
        relay_logs: bool,
    ) -> std::io::Result<Children> {
        let (to_validator, validator_end) = privsep::Channel::pair(msg::MAX_BODY)?;
        let (to_rtr, rtr_end) = privsep::Channel::pair(msg::MAX_BODY)?;
        let (snap_v, snap_r) = privsep::Channel::pair(msg::MAX_BODY)?;
        // Both children send their log lines into one end, fd 5.
        let relay = relay_logs.then(UnixDatagram::pair).transpose()?;
        // What a child needs before it reads anything from its channel.
        let mut args = vec![
            "--user".to_string(),
            config.user.clone(),
            "--chroot".to_string(),
            config.chroot.display().to_string(),
        ];
        if foreground {
            args.push("-d".to_string());
        }
        if verbose > 0 {
            args.push(format!("-{}", "v".repeat(verbose.into())));
        }
        if relay.is_some() {
            args.push("--log-relay".to_string());
        }
        let spawn = |role: &str, title: &str, fd3: &privsep::Channel, fd4: &privsep::Channel| {
            let mut a: Vec<&str> = vec!["--role", role];
            a.extend(args.iter().map(String::as_str));
            let mut fds = vec![fd3.as_fd(), fd4.as_fd()];
            fds.extend(relay.as_ref().map(|(_, child)| child.as_fd()));
            privsep::spawn(exe, title, &a, &fds)
        };
        let validator = spawn("validator", "rovd: validator", &validator_end, &snap_v)?;
        let rtr = match spawn("rtr", "rovd: rtr", &rtr_end, &snap_r) {
            Ok(c) => c,
            Err(e) => {
                let mut validator = validator;
                let _ = validator.kill();
                let _ = validator.wait();
                return Err(e);
            }
        };
        Ok(Children {
            validator,
            rtr,
            to_validator: Some(to_validator),
            to_rtr: Some(to_rtr),
            for_validator: Outbox::new(true),
            for_rtr: Outbox::new(false),
            logs: relay
                .map(|(parent, _)| parent.set_nonblocking(true).map(|()| parent))
                .transpose()?,
        })
    }

    /// Hand each child its start-up items: the configuration without keys
    /// to both; the source directories and the change notification to the
    /// validator; the TLS files and the listeners to rtr. The parent's
    /// copies of the descriptors close when `handed` is dropped.
    pub(super) fn hand_over(
        &mut self,
        config: &Config,
        handed: Handed,
    ) -> Result<(), privsep::FrameError> {
        let (v, r) = self.channels()?;
        v.send(&Handover::Config(Box::new(config.without_keys())))?;
        for (path, fd) in &handed.source_dirs {
            v.send_with_fd(&Handover::SourceDir { path: path.clone() }, fd.as_fd())?;
        }
        if let Some(fd) = &handed.watch {
            v.send_with_fd(&Handover::Watch, fd.as_fd())?;
        }
        v.send(&Handover::Done)?;
        r.send(&Handover::Config(Box::new(config.without_keys())))?;
        if let Some(files) = handed.tls {
            r.send(&Handover::Tls(Box::new(files)))?;
        }
        for l in &handed.listeners {
            let item = Handover::Listener {
                addr: l.addr,
                tls: l.tls,
            };
            r.send_with_fd(&item, l.socket.as_fd())?;
        }
        r.send(&Handover::Done)
    }

    /// The parent's end of the log relay, if the children log through it.
    pub(super) fn logs(&self) -> Option<&UnixDatagram> {
        self.logs.as_ref()
    }

    /// The children's process ids: the only processes the parent may
    /// signal.
    pub(super) fn pids(&self) -> [i32; 2] {
        [self.validator.id(), self.rtr.id()].map(|id| i32::try_from(id).unwrap_or(0))
    }

    /// Pass a reloaded configuration on, and have the validator re-read
    /// its sources; without waiting for either child.
    pub(super) fn reload(&mut self, config: &Config) -> Result<(), privsep::FrameError> {
        self.for_rtr.config = Some(Box::new(config.without_keys()));
        self.for_validator.config = Some(Box::new(config.without_keys()));
        self.for_validator.reload = true;
        self.post()
    }

    /// Pass re-read TLS files on to rtr, without waiting for it.
    pub(super) fn reload_tls(&mut self, files: TlsFiles) -> Result<(), privsep::FrameError> {
        self.for_rtr.tls = Some(Box::new(files));
        self.post()
    }

    /// Write what waits for the children, as far as their sockets take
    /// it; the rest when they turn writable ([`Children::channel_fds`]).
    pub(super) fn post(&mut self) -> Result<(), privsep::FrameError> {
        let closed =
            || privsep::FrameError::from(std::io::Error::from(std::io::ErrorKind::NotConnected));
        let v = self.to_validator.as_mut().ok_or_else(closed)?;
        self.for_validator.post(v)?;
        let r = self.to_rtr.as_mut().ok_or_else(closed)?;
        self.for_rtr.post(r)
    }

    /// The descriptors of the channels to the children, to wait for them
    /// to turn writable.
    pub(super) fn channel_fds(&self) -> Vec<std::os::fd::RawFd> {
        [&self.to_validator, &self.to_rtr]
            .into_iter()
            .flatten()
            .map(privsep::Channel::as_raw_fd)
            .collect()
    }

    fn channels(
        &mut self,
    ) -> Result<(&mut privsep::Channel, &mut privsep::Channel), privsep::FrameError> {
        match (self.to_validator.as_mut(), self.to_rtr.as_mut()) {
            (Some(v), Some(r)) => Ok((v, r)),
            _ => Err(std::io::Error::from(std::io::ErrorKind::NotConnected).into()),
        }
    }

    /// If a child has ended, say which and how.
    ///
    /// One child's end usually ends the other: its channel closes. So when
    /// one has ended, the other gets a moment to end too, and the line
    /// names the cause — the one killed by a signal, else the one found
    /// first.
    pub(super) fn reap(&mut self) -> Option<String> {
        use std::os::unix::process::ExitStatusExt;

        let mut ended: Vec<(&str, ExitStatus)> = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(200);
        loop {
            for (name, child) in [("validator", &mut self.validator), ("rtr", &mut self.rtr)] {
                if ended.iter().any(|(n, _)| *n == name) {
                    continue;
                }
                match child.try_wait() {
                    Ok(Some(status)) => ended.push((name, status)),
                    Ok(None) => {}
                    Err(e) => return Some(format!("{name}: {e}")),
                }
            }
            if ended.is_empty() || ended.len() == 2 || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let cause = ended
            .iter()
            .find(|(_, s)| s.signal().is_some())
            .or(ended.first())?;
        Some(format!("{} {}", cause.0, describe(cause.1)))
    }
}

impl Drop for Children {
    /// Orderly shutdown: close both channels (children exit on
    /// end-of-file), wait for them, and kill what does not go in time.
    fn drop(&mut self) {
        self.to_validator = None;
        self.to_rtr = None;
        let deadline = Instant::now() + GRACE;
        for (name, child) in [("validator", &mut self.validator), ("rtr", &mut self.rtr)] {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        warn!("{name} did not exit in time; killing it");
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        // The children's last words.
        if let Some(logs) = &self.logs {
            crate::log::relay(logs);
        }
        info!("exiting");
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        format!("exited with status {code}")
    } else if let Some(sig) = status.signal() {
        match Signal::try_from(sig) {
            Ok(s) => format!("killed by signal {s}"),
            Err(_) => format!("killed by signal {sig}"),
        }
    } else {
        format!("ended: {status}")
    }
}
