//! The children — validator, rtr and, when a source has a url, the
//! fetcher: started by fork+exec of rovd's own executable, handed what
//! they need at start-up, watched until they end, and stopped.
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
use crate::msg::{self, Handover, Reach, ToFetcher, ToRtr, ToValidator};

use super::listen::Listener;

/// How long children get to exit after their channel closes.
const GRACE: Duration = Duration::from_secs(5);

/// The validator, the rtr worker and the fetcher if there is one, with
/// the parent's channel to each.
pub(super) struct Children {
    validator: Child,
    rtr: Child,
    fetcher: Option<Child>,
    /// `None` once closed, which tells the child to exit.
    to_validator: Option<privsep::Channel>,
    to_rtr: Option<privsep::Channel>,
    to_fetcher: Option<privsep::Channel>,
    /// The validator's end of its channel from the fetcher, until it has
    /// been handed over.
    fetcher_end: Option<privsep::Channel>,
    /// What waits for a child that has not taken what it was sent yet.
    for_validator: Outbox<ToValidator>,
    for_rtr: Outbox<ToRtr>,
    for_fetcher: Outbox<ToFetcher>,
    /// The parent's end of the log relay, when it logs to syslog.
    logs: Option<UnixDatagram>,
    /// The children whose end has been logged.
    reported: Vec<&'static str>,
}

/// Messages for a child after start-up, coalesced by kind: a child that
/// stops reading (stopped, wedged) costs the parent one message of each
/// kind at most — the newest configuration, the newest TLS files, one
/// reload — and never a blocking write.
struct Outbox<M> {
    waiting: Vec<M>,
}

impl<M: privsep::Message> Outbox<M> {
    fn new() -> Outbox<M> {
        Outbox {
            waiting: Vec::new(),
        }
    }

    /// Have `msg` sent, in place of one of its kind still waiting.
    fn put(&mut self, msg: M) {
        match self.waiting.iter_mut().find(|w| w.kind() == msg.kind()) {
            Some(older) => *older = msg,
            None => self.waiting.push(msg),
        }
    }

    /// Queue what waits on `channel`, if it has taken what it had; then
    /// write what the socket takes.
    fn post(&mut self, channel: &mut privsep::Channel) -> Result<(), privsep::FrameError> {
        if !channel.has_queued() {
            for msg in self.waiting.drain(..) {
                channel.queue(&msg)?;
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
    /// For the fetcher, if there is one.
    pub(super) reach: Option<Reach>,
    /// For rtr: the control socket and the HTTP listeners.
    pub(super) control: Option<OwnedFd>,
    pub(super) http: Vec<(std::net::SocketAddr, OwnedFd)>,
}

impl Children {
    /// Start validator and rtr with their channels: parent↔validator and
    /// parent↔rtr at fd 3, validator↔rtr at fd 4 of both; with `fetch`,
    /// the fetcher too: parent↔fetcher at its fd 3, fetcher→validator at
    /// its fd 4 (the validator's end goes over in the hand-over).
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
        let fetch = config.has_upstreams();
        let fetcher_channels = fetch
            .then(|| {
                let parent = privsep::Channel::pair(msg::MAX_BODY)?;
                let validator = privsep::Channel::pair(msg::MAX_BODY)?;
                Ok::<_, std::io::Error>((parent, validator))
            })
            .transpose()?;
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
        let mut started: Vec<Child> = Vec::new();
        let stop = |started: Vec<Child>, e| {
            for mut c in started {
                let _ = c.kill();
                let _ = c.wait();
            }
            e
        };
        started.push(spawn(
            "validator",
            "rovd: validator",
            &validator_end,
            &snap_v,
        )?);
        match spawn("rtr", "rovd: rtr", &rtr_end, &snap_r) {
            Ok(c) => started.push(c),
            Err(e) => return Err(stop(started, e)),
        }
        let (to_fetcher, fetcher_end) = match fetcher_channels {
            Some(((to_fetcher, fetcher_parent_end), (fetcher_out, validator_in))) => {
                match spawn(
                    "fetcher",
                    "rovd: fetcher",
                    &fetcher_parent_end,
                    &fetcher_out,
                ) {
                    Ok(c) => started.push(c),
                    Err(e) => return Err(stop(started, e)),
                }
                (Some(to_fetcher), Some(validator_in))
            }
            None => (None, None),
        };
        let mut started = started.into_iter();
        let (Some(validator), Some(rtr)) = (started.next(), started.next()) else {
            unreachable!("both were started above")
        };
        // The parent reads what rtr asks without waiting for it.
        to_rtr.set_nonblocking(true)?;
        Ok(Children {
            validator,
            rtr,
            fetcher: started.next(),
            to_validator: Some(to_validator),
            to_rtr: Some(to_rtr),
            to_fetcher,
            fetcher_end,
            for_validator: Outbox::new(),
            for_rtr: Outbox::new(),
            for_fetcher: Outbox::new(),
            logs: relay
                .map(|(parent, _)| parent.set_nonblocking(true).map(|()| parent))
                .transpose()?,
            reported: Vec::new(),
        })
    }

    /// Hand each child its start-up items: the configuration without keys
    /// to all; the source directories, the change notification and the
    /// channel from the fetcher to the validator; the TLS files and the
    /// listeners to rtr; what reaches the upstreams to the fetcher. The
    /// parent's copies of the descriptors close when `handed` is dropped.
    pub(super) fn hand_over(
        &mut self,
        config: &Config,
        mut handed: Handed,
    ) -> Result<(), privsep::FrameError> {
        let fetcher_end = self.fetcher_end.take();
        if let Some(f) = self.to_fetcher.as_mut() {
            f.send(&Handover::Config(Box::new(config.without_keys())))?;
            let reach = handed.reach.take().unwrap_or_default();
            f.send(&Handover::Reach(Box::new(reach)))?;
            f.send(&Handover::Done)?;
        }
        let (v, r) = self.channels()?;
        v.send(&Handover::Config(Box::new(config.without_keys())))?;
        for (path, fd) in &handed.source_dirs {
            v.send_with_fd(&Handover::SourceDir { path: path.clone() }, fd.as_fd())?;
        }
        if let Some(fd) = &handed.watch {
            v.send_with_fd(&Handover::Watch, fd.as_fd())?;
        }
        if let Some(end) = &fetcher_end {
            v.send_with_fd(&Handover::Fetcher, end.as_fd())?;
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
        if let Some(fd) = &handed.control {
            r.send_with_fd(&Handover::Control, fd.as_fd())?;
        }
        for (addr, fd) in &handed.http {
            r.send_with_fd(&Handover::HttpListener { addr: *addr }, fd.as_fd())?;
        }
        r.send(&Handover::Done)
    }

    /// The parent's end of the log relay, if the children log through it.
    pub(super) fn logs(&self) -> Option<&UnixDatagram> {
        self.logs.as_ref()
    }

    /// The children's process ids: the only processes the parent may
    /// signal.
    pub(super) fn pids(&self) -> Vec<i32> {
        [
            Some(&self.validator),
            Some(&self.rtr),
            self.fetcher.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|c| i32::try_from(c.id()).unwrap_or(0))
        .collect()
    }

    /// Whether the fetcher runs.
    pub(super) fn has_fetcher(&self) -> bool {
        self.fetcher.is_some()
    }

    /// Pass a reloaded configuration on, and have the validator re-read
    /// its sources and the fetcher fetch; without waiting for any child.
    pub(super) fn reload(
        &mut self,
        config: &Config,
        reach: Option<Reach>,
    ) -> Result<(), privsep::FrameError> {
        let config = || Box::new(config.without_keys());
        self.for_rtr.put(ToRtr::Config(config()));
        self.for_validator.put(ToValidator::Config(config()));
        self.for_validator.put(ToValidator::Reload);
        if self.fetcher.is_some() {
            let reach = Box::new(reach.unwrap_or_default());
            self.for_fetcher.put(ToFetcher::Config(config(), reach));
            self.for_fetcher.put(ToFetcher::Refetch);
        }
        self.post()
    }

    /// Pass re-read TLS files on to rtr, without waiting for it.
    pub(super) fn reload_tls(&mut self, files: TlsFiles) -> Result<(), privsep::FrameError> {
        self.for_rtr.put(ToRtr::Tls(Box::new(files)));
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
        self.for_rtr.post(r)?;
        if let Some(f) = self.to_fetcher.as_mut() {
            self.for_fetcher.post(f)?;
        }
        Ok(())
    }

    /// What the rtr worker asks of the parent, as far as it has arrived:
    /// whether it asked for a reload. An error if its channel broke.
    pub(super) fn asked_by_rtr(&mut self) -> Result<bool, privsep::FrameError> {
        let Some(r) = self.to_rtr.as_mut() else {
            return Ok(false);
        };
        r.fill()?;
        let mut reload = false;
        while let Some(frame) = r.next_frame()? {
            match frame.decode::<msg::FromRtr>(msg::MAX_BODY)? {
                msg::FromRtr::Reload => reload = true,
            }
        }
        Ok(reload)
    }

    /// The rtr worker's channel, to wait for what it asks.
    pub(super) fn rtr_fd(&self) -> Option<std::os::fd::RawFd> {
        self.to_rtr.as_ref().map(privsep::Channel::as_raw_fd)
    }

    /// The descriptors of the channels to the children, to wait for them
    /// to turn writable.
    pub(super) fn channel_fds(&self) -> Vec<std::os::fd::RawFd> {
        [&self.to_validator, &self.to_rtr, &self.to_fetcher]
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
        let count = 2 + usize::from(self.fetcher.is_some());
        loop {
            let children = [
                Some(("validator", &mut self.validator)),
                Some(("rtr", &mut self.rtr)),
                self.fetcher.as_mut().map(|f| ("fetcher", f)),
            ];
            for (name, child) in children.into_iter().flatten() {
                if ended.iter().any(|(n, _)| *n == name) {
                    continue;
                }
                match child.try_wait() {
                    Ok(Some(status)) => ended.push((name, status)),
                    Ok(None) => {}
                    Err(e) => return Some(format!("{name}: {e}")),
                }
            }
            if ended.is_empty() || ended.len() == count || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let cause = *ended
            .iter()
            .find(|(_, s)| s.signal().is_some())
            .or(ended.first())?;
        // The others are named too, on lines of their own: which one ended
        // first is a race the line above may lose.
        for &(name, status) in &ended {
            if name != cause.0 {
                warn!("{name} {} as well", describe(status));
            }
            self.reported.push(name);
        }
        Some(format!("{} {}", cause.0, describe(cause.1)))
    }
}

impl Drop for Children {
    /// Orderly shutdown: close both channels (children exit on
    /// end-of-file), wait for them, and kill what does not go in time.
    fn drop(&mut self) {
        use std::os::unix::process::ExitStatusExt;

        self.to_fetcher = None;
        self.to_validator = None;
        self.to_rtr = None;
        let deadline = Instant::now() + GRACE;
        let children = [
            Some(("validator", &mut self.validator)),
            Some(("rtr", &mut self.rtr)),
            self.fetcher.as_mut().map(|f| ("fetcher", f)),
        ];
        for (name, child) in children.into_iter().flatten() {
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        // One that failed on its own, after the child
                        // that ended the daemon was named. SIGTERM sent
                        // to the whole process group (by timeout(1), say)
                        // is no failure; the children ignore SIGINT.
                        let stopped = status.signal() == Some(Signal::SIGTERM as i32);
                        if !status.success() && !stopped && !self.reported.contains(&name) {
                            warn!("{name} {}", describe(status));
                        }
                        break;
                    }
                    Err(_) => break,
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

#[cfg(test)]
mod tests {
    use super::*;
    use privsep::Message;
    use std::path::Path;

    fn config(listen: &str) -> Box<Config> {
        let text = format!(
            "[rtr]\nlisten = [\"{listen}\"]\n[[source]]\npath = \"/var/db/rpki-client/json\"\n"
        );
        Box::new(Config::parse(Path::new("rovd.conf"), &text).unwrap())
    }

    #[test]
    fn an_outbox_keeps_the_newest_message_of_each_kind_in_first_order() {
        let mut outbox = Outbox::new();
        outbox.put(ToValidator::Config(config("127.0.0.1:3323")));
        outbox.put(ToValidator::Reload);
        outbox.put(ToValidator::Config(config("127.0.0.1:3324")));
        outbox.put(ToValidator::Reload);
        let kinds: Vec<u16> = outbox.waiting.iter().map(Message::kind).collect();
        assert_eq!(kinds, [16, 17]);
        let ToValidator::Config(newest) = &outbox.waiting[0] else {
            panic!("not a configuration first");
        };
        assert_eq!(newest.rtr.listen[0].port(), 3324);
    }
}
